//! The ops HTTP surface: health, metrics, the admin token and the admin calls.

mod support;

use anyhow::Result;
use serde_json::json;
use support::{Server, http, player};

#[tokio::test]
async fn health_and_metrics_need_no_token() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (_client, _, _) = player(&server, "alice").await?;
    let (status, body) = http(&server.ops_addr, "GET", "/healthz", None, None)?;
    assert_eq!((status, body.as_str().map(str::trim)), (200, Some("ok")));
    let (status, body) = http(&server.ops_addr, "GET", "/metrics", None, None)?;
    assert_eq!(status, 200);
    let text = body.as_str().unwrap_or_default();
    for name in [
        "canopy_tick_duration_seconds_bucket",
        "canopy_commands_total{op=\"register\",result=\"ok\"} 1",
        "canopy_sessions 1",
        "canopy_store_flush_seconds",
        "canopy_store_batch_records",
        "canopy_ledger_grams",
        "canopy_ledger_grams{flow=\"revived\"} 0",
        "canopy_vitality_points{flow=\"earned\"} 0",
        "canopy_vitality_points{flow=\"spent\"} 0",
        "canopy_outbox_drops_total",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
    Ok(())
}

#[tokio::test]
async fn admin_calls_refuse_missing_wrong_and_player_tokens() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (_client, id, token) = player(&server, "mallory").await?;
    let body = json!({"player_id": id, "kind": "metro", "quantity": 1, "ref": "m"});
    for bearer in [None, Some("wrong-token"), Some(token.as_str())] {
        let (status, answer) = http(
            &server.ops_addr,
            "POST",
            "/admin/actions",
            bearer,
            Some(body.clone()),
        )?;
        assert_eq!(status, 401, "{bearer:?}");
        assert_eq!(answer["error"]["code"], "UNAUTHENTICATED");
    }
    let (status, answer) = server.admin("/admin/actions", body)?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["grams"], 52);
    let (status, _) = http(&server.ops_addr, "GET", "/admin/audit", Some(&token), None)?;
    assert_eq!(status, 401, "the audit is an admin call too");
    let (status, audit) = http(
        &server.ops_addr,
        "GET",
        "/admin/audit",
        Some(support::ADMIN_TOKEN),
        None,
    )?;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["balanced"], true, "{audit}");
    assert_eq!(
        (audit["created"].as_u64(), audit["in_balls"].as_u64()),
        (Some(52), Some(52))
    );
    Ok(())
}

#[tokio::test]
async fn admin_calls_validate_their_input() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (_client, id, _) = player(&server, "olive").await?;
    let (status, answer) = server.admin("/admin/actions", json!({"player_id": id}))?;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );
    let (status, answer) = server.admin(
        "/admin/actions",
        json!({"player_id": 999, "kind": "metro", "quantity": 1, "ref": "m"}),
    )?;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let (status, _) = server.admin(
        "/admin/actions",
        json!({"player_id": id, "kind": "rocket", "quantity": 1, "ref": "m"}),
    )?;
    assert_eq!(status, 400);
    let (status, answer) = server.admin(
        "/admin/props",
        json!({"player_id": id, "prop": "stealth", "count": 3}),
    )?;
    assert_eq!(status, 200);
    assert_eq!(answer["props"]["inventory"]["stealth"], 3);
    let (status, _) = server.admin(
        "/admin/props",
        json!({"player_id": id, "prop": "jetpack", "count": 1}),
    )?;
    assert_eq!(status, 400);
    for hz in [0, 121] {
        let (status, _) = server.admin("/admin/tick-rate", json!({"hz": hz}))?;
        assert_eq!(status, 400, "{hz} Hz");
    }
    let (status, _) = server.admin("/admin/tick-rate", json!({"hz": 40}))?;
    assert_eq!(status, 200);
    // The game thread takes the new rate at its next tick, not before the 200.
    let mut client = server.client().await?;
    until_tick_rate(&mut client, 40, "the tick-rate call").await
}

/// Asks `hello` until it reports `hz`: a control message reaches the game thread at its
/// next tick, which a loaded machine may run late; a change that never lands still fails.
async fn until_tick_rate(client: &mut support::Client, hz: u64, what: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        let seen = client.ok("hello", json!({"version": 1})).await?["tick_rate_hz"].clone();
        if seen == hz {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{what} did not set the tick rate to {hz} Hz within {:?}: still {seen}",
            support::PATIENCE
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_clock_moves_only_in_manual_mode() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let manual = Server::start_manual(dir.path())?;
    assert_eq!(manual.advance(1_000)?, support::START + 1_000);
    drop(manual);
    let wall_dir = tempfile::tempdir()?;
    let wall = Server::start(wall_dir.path(), &[])?;
    let (status, answer) = wall.admin("/admin/clock/advance", json!({"ms": 1_000}))?;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("CONFLICT"))
    );
    Ok(())
}

#[tokio::test]
async fn reload_applies_a_good_file_and_refuses_a_bad_one() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("canopy.toml");
    let default =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/canopy.toml"))?;
    std::fs::write(&config, &default)?;
    let data = dir.path().join("data");
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start(
        &data,
        &[
            "--clock",
            "manual",
            "--clock-start",
            &support::START.to_string(),
            "--config",
            &config_arg,
        ],
    )?;
    std::fs::write(
        &config,
        default.replace("tick_rate_hz = 20", "tick_rate_hz = 0"),
    )?;
    let (status, answer) = server.admin("/admin/reload", json!({}))?;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("server.tick_rate_hz"),
        "{answer}"
    );
    let mut client = server.client().await?;
    assert_eq!(
        client.ok("hello", json!({"version": 1})).await?["tick_rate_hz"],
        20,
        "old config stays"
    );

    std::fs::write(
        &config,
        default.replace("tick_rate_hz = 20", "tick_rate_hz = 25"),
    )?;
    let (status, _) = server.admin("/admin/reload", json!({}))?;
    assert_eq!(status, 200);
    until_tick_rate(&mut client, 25, "the reload").await
}

#[tokio::test]
async fn sighup_reloads_the_config_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("canopy.toml");
    let default =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/canopy.toml"))?;
    std::fs::write(&config, &default)?;
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start(
        &dir.path().join("data"),
        &["--clock", "manual", "--config", &config_arg],
    )?;
    std::fs::write(
        &config,
        default.replace("tick_rate_hz = 20", "tick_rate_hz = 30"),
    )?;
    std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()?;
    let mut client = server.client().await?;
    until_tick_rate(&mut client, 30, "SIGHUP").await
}
