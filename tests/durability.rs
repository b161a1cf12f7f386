//! Acknowledged means durable: state survives a clean restart and a SIGKILL.

mod support;

use anyhow::Result;
use serde_json::{Value, json};
use support::{HOUR, Server, player};

/// Collects the state a restart must keep: profile, balls, ledger totals.
async fn snapshot(server: &Server, token: &str) -> Result<Value> {
    let mut client = server.client().await?;
    client.ok("login", json!({"token": token})).await?;
    let me = client.ok("me", json!({})).await?;
    Ok(json!({"player": me["player"], "balls": me["balls"]}))
}

fn ledger_lines(server: &Server) -> Result<Vec<String>> {
    let (_, body) = support::http(&server.ops_addr, "GET", "/metrics", None, None)?;
    let text = body.as_str().unwrap_or_default().to_owned();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| line.starts_with("canopy_ledger_grams"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    Ok(lines)
}

#[tokio::test]
async fn everything_survives_a_clean_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut alice, alice_id, token) = player(&server, "alice").await?;
    alice
        .ok(
            "record_action",
            json!({"kind": "walk", "quantity": 12_000, "ref": "steps-1"}),
        )
        .await?;
    for n in 0..3 {
        let (status, _) = server.admin(
            "/admin/actions",
            json!({"player_id": alice_id, "kind": "metro", "quantity": 1, "ref": format!("metro-{n}")}),
        )?;
        assert_eq!(status, 200);
    }
    let (status, _) = server.admin(
        "/admin/props",
        json!({"player_id": alice_id, "prop": "protection_cover", "count": 2}),
    )?;
    assert_eq!(status, 200);
    alice
        .ok("use_prop", json!({"prop": "protection_cover"}))
        .await?;
    server.advance(31 * HOUR)?;
    let collected = alice.ok("collect_all", json!({})).await?;
    assert_eq!(collected["grams"], 240 + 3 * 52);
    let before = snapshot(&server, &token).await?;
    let ledger_before = ledger_lines(&server)?;
    assert!(server.stop()?.success());

    let server = Server::start_manual(dir.path())?;
    assert_eq!(snapshot(&server, &token).await?, before);
    assert_eq!(ledger_lines(&server)?, ledger_before);
    let mut alice = server.client().await?;
    alice.ok("login", json!({"token": token})).await?;
    let replay = alice
        .ok(
            "record_action",
            json!({"kind": "walk", "quantity": 12_000, "ref": "steps-1"}),
        )
        .await?;
    assert_eq!(
        replay["grams"], 240,
        "a replayed ref returns the first result"
    );
    let me = alice.ok("me", json!({})).await?;
    assert_eq!(me["player"]["energy"], 396, "and credits nothing more");
    let ping = alice.ok("ping", json!({})).await?;
    assert!(
        ping["time"].as_u64() >= Some(support::START + 31 * HOUR),
        "clock did not go back"
    );
    Ok(())
}

#[tokio::test]
async fn acknowledged_changes_survive_sigkill() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let mut acked = Vec::new();
    let mut players = Vec::new();
    for n in 0..5 {
        let (mut client, id, token) = player(&server, &format!("p{n}")).await?;
        let reply = client
            .ok(
                "record_action",
                json!({"kind": "walk", "quantity": 1_000 * (n + 1), "ref": "r"}),
            )
            .await?;
        acked.push((
            token.clone(),
            reply["ball"]["ball_id"].clone(),
            reply["grams"].clone(),
        ));
        players.push((client, id));
    }
    server.kill()?;

    let server = Server::start_manual(dir.path())?;
    for (token, ball_id, grams) in acked {
        let state = snapshot(&server, &token).await?;
        let balls = state["balls"].as_array().cloned().unwrap_or_default();
        assert_eq!(balls.len(), 1, "{state}");
        assert_eq!(balls[0]["ball_id"], ball_id);
        assert_eq!(balls[0]["amount"], grams);
    }
    Ok(())
}
