//! The risk engine over real sockets: a deny through the partner door, a hold a player
//! hears of and sees in `me`, the review queue for reviewer tokens (and not viewers),
//! flags and holds through a SIGKILL, and the graph analysis on demand.

mod support;

use anyhow::{Context, Result};
use canopy_shared::Event;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use support::{PATIENCE, Server, http, player, tokens_inline};

const VIEWER: &str = "viewer-secret-0001";
const REVIEWER: &str = "reviewer-secret-0002";

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

fn start(dir: &std::path::Path) -> Result<Server> {
    let tokens = tokens_inline(&[
        ("grafana", "viewer", VIEWER),
        ("risk-desk", "reviewer", REVIEWER),
    ])?;
    Server::start_with_env(
        dir,
        &[
            "--clock",
            "manual",
            "--clock-start",
            &support::START.to_string(),
        ],
        &[
            ("CANOPY_RISK__ENABLED", "true"),
            ("CANOPY_OPS__TOKENS", &tokens),
        ],
    )
}

/// Runs `canopy admin risk ...` with the reviewer token; its stdout.
fn canopy_risk(server: &Server, args: &[&str]) -> Result<String> {
    let output = std::process::Command::new(support::bin_dir().join("canopy"))
        .args(["admin", "risk"])
        .args(args)
        .env("CANOPY_OPS", format!("http://{}", server.ops_addr))
        .env("CANOPY_ADMIN_TOKEN", REVIEWER)
        .output()
        .context("running canopy")?;
    anyhow::ensure!(
        output.status.success(),
        "canopy admin risk {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

fn open_flags(server: &Server) -> Result<Vec<Value>> {
    let (status, list) = as_reviewer(server, "GET", "/admin/risk/flags?status=open")?;
    anyhow::ensure!(status == 200, "listing flags: {status} {list}");
    Ok(list["flags"].as_array().cloned().unwrap_or_default())
}

/// A call with the reviewer token: the status and the JSON body.
fn as_reviewer(server: &Server, method: &str, path: &str) -> Result<(u16, Value)> {
    http(&server.ops_addr, method, path, Some(REVIEWER), None)
}

#[tokio::test]
async fn holds_denials_and_the_review_queue_work_end_to_end_and_survive_sigkill() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path())?;
    let (mut client, id, token) = player(&server, "sprinter").await?;

    // A partner replaying rides past the daily cap is denied.
    for n in 0..5 {
        let ride = json!({"player_id": id, "kind": "metro", "ref": format!("ride-{n}")});
        let (status, answer) = server.admin("/admin/actions", ride)?;
        assert_eq!(status, 200, "{answer}");
    }
    let replay = json!({"player_id": id, "kind": "metro", "ref": "ride-replay"});
    let (status, answer) = server.admin("/admin/actions", replay)?;
    assert_eq!((status, code(&answer)), (422, "RISK_DENIED"), "{answer}");

    // 5,000 steps at 00:00 sharp is faster than anyone walks: held, and the player hears.
    let walk = client
        .ok(
            "record_action",
            json!({"kind": "walk", "quantity": 5_000, "ref": "w1"}),
        )
        .await?;
    assert_eq!(
        (walk["grams"].as_u64(), &walk["ball"]),
        (Some(100), &Value::Null)
    );
    let hold = client
        .wait_event(|event| matches!(event, Event::RiskHold { .. }))
        .await?;
    assert!(
        matches!(
            hold,
            Event::RiskHold {
                grams: 100,
                held: 100,
                ..
            }
        ),
        "{hold:?}"
    );
    let me = client.ok("me", json!({})).await?;
    assert_eq!(me["player"]["held"], 100, "{me}");
    assert_eq!(server.audit()?["held"], 100);

    // Viewers may not read the queue; reviewers may; a bad filter is named.
    let (status, answer) = http(
        &server.ops_addr,
        "GET",
        "/admin/risk/flags",
        Some(VIEWER),
        None,
    )?;
    assert_eq!((status, code(&answer)), (403, "FORBIDDEN"));
    let (status, answer) = as_reviewer(&server, "GET", "/admin/risk/flags?status=shut")?;
    assert_eq!((status, code(&answer)), (400, "BAD_REQUEST"));
    let flags = open_flags(&server)?;
    let rules: Vec<&str> = flags.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(
        rules.contains(&"partner_velocity") && rules.contains(&"steps_rate"),
        "{rules:?}"
    );
    let steps = flags
        .iter()
        .find(|flag| flag["rule"] == "steps_rate")
        .context("the steps flag")?
        .clone();

    // The hold survives a SIGKILL: the flag, `me` and the audit come back alike.
    server.kill()?;
    let server = start(dir.path())?;
    assert_eq!(open_flags(&server)?.len(), 2);
    let mut client = support::login(&server, &token).await?;
    assert_eq!(client.ok("me", json!({})).await?["player"]["held"], 100);
    assert_eq!(server.audit()?["held"], 100);

    // Release: idempotent; confirm after it is a conflict; unknown ids are 404.
    let release = format!("/admin/risk/flags/{}/release", steps["id"]);
    for _ in 0..2 {
        let (status, flag) = as_reviewer(&server, "POST", &release)?;
        assert_eq!(
            (status, &flag["status"]),
            (200, &json!("released")),
            "{flag}"
        );
    }
    let confirm = format!("/admin/risk/flags/{}/confirm", steps["id"]);
    let (status, answer) = as_reviewer(&server, "POST", &confirm)?;
    assert_eq!((status, code(&answer)), (409, "CONFLICT"));
    for path in [
        "/admin/risk/flags/999/release",
        "/admin/risk/flags/abc/confirm",
    ] {
        let (status, answer) = as_reviewer(&server, "POST", path)?;
        assert_eq!((status, code(&answer)), (404, "NOT_FOUND"), "{path}");
    }
    assert_eq!(client.ok("me", json!({})).await?["player"]["energy"], 100);

    // The CLI works the same queue with the reviewer token.
    let partner = flags
        .iter()
        .find(|flag| flag["rule"] == "partner_velocity")
        .context("the partner flag")?;
    let id = partner["id"].to_string();
    let listed = canopy_risk(&server, &["list"])?;
    assert!(listed.contains("partner_velocity (deny)"), "{listed}");
    let shown = canopy_risk(&server, &["show", &id])?;
    assert!(shown.contains("cap: 5"), "{shown}");
    let confirmed = canopy_risk(&server, &["confirm", &id])?;
    assert!(confirmed.contains("is confirmed"), "{confirmed}");
    assert_eq!(canopy_risk(&server, &["list"])?.trim(), "No flags.");
    let report = server.audit()?;
    assert_eq!(
        (&report["held"], &report["forfeited"]),
        (&json!(0), &json!(0))
    );
    Ok(())
}

#[tokio::test]
async fn the_graph_analysis_runs_on_demand_and_reports() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path())?;
    let (status, report) = as_reviewer(&server, "GET", "/admin/risk/graph")?;
    assert_eq!((status, &report["ran_at"]), (200, &json!(0)), "{report}");
    let (status, _) = as_reviewer(&server, "POST", "/admin/risk/graph/run")?;
    assert_eq!(status, 202);
    let started = Instant::now();
    loop {
        let (_, report) = as_reviewer(&server, "GET", "/admin/risk/graph")?;
        if report["run"] == 1 {
            assert_eq!(
                report["ran_at"],
                json!(support::START),
                "game time (the manual clock has not moved), not the wall clock"
            );
            assert_eq!(report["rings"], json!([]));
            break;
        }
        anyhow::ensure!(
            started.elapsed() < PATIENCE,
            "the analysis never ran: {report}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

/// Kills per run of the crash test below.
const KILLS: usize = 3;

#[tokio::test]
async fn holds_and_releases_in_flight_survive_random_sigkills() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut server = start(dir.path())?;
    for round in 0..KILLS {
        // A fresh player each round walks at 00:00 sharp: every report is held, and a
        // reviewer releases flags while the walks go on; the kill lands mid-stream.
        let (mut client, id, token) = player(&server, &format!("walker{round}")).await?;
        let ops = server.ops_addr.clone();
        let reviewer = tokio::task::spawn_blocking(move || -> Result<Vec<u64>> {
            let mut released = Vec::new();
            while let Ok((200, list)) = http(
                &ops,
                "GET",
                "/admin/risk/flags?status=open",
                Some(REVIEWER),
                None,
            ) {
                for flag in list["flags"].as_array().into_iter().flatten() {
                    let path = format!("/admin/risk/flags/{}/release", flag["id"]);
                    match http(&ops, "POST", &path, Some(REVIEWER), None) {
                        Ok((200, _)) => released.push(flag["id"].as_u64().unwrap_or_default()),
                        _ => return Ok(released),
                    }
                }
            }
            Ok(released)
        });
        let acked = Arc::new(AtomicU64::new(0));
        let walks = Arc::new(AtomicU64::new(0));
        let walker = tokio::spawn({
            let (acked, walks) = (acked.clone(), walks.clone());
            async move {
                for n in 1..=100u64 {
                    let walk = json!({"kind": "walk", "quantity": n * 100, "ref": format!("r{round}-{n}")});
                    let Ok(reply) = client.ok("record_action", walk).await else {
                        return;
                    };
                    acked.fetch_add(reply["grams"].as_u64().unwrap_or(0), Ordering::SeqCst);
                    walks.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        // Kill once a round-dependent number of walks is acknowledged, with more in flight.
        let started = Instant::now();
        while walks.load(Ordering::SeqCst) < 10 + round as u64 * 7 {
            anyhow::ensure!(started.elapsed() < PATIENCE, "the walks stalled");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        server.kill()?;
        let _ = walker.await;
        let acked_grams = acked.load(Ordering::SeqCst);
        let released = reviewer.await??;
        server = start(dir.path())?;

        // Every acknowledged held gram is still held or was released to the balance (a
        // walk in flight at the kill may add more, never less); acknowledged releases
        // stayed released; the audit balances with the held grams in it.
        let mut client = support::login(&server, &token).await?;
        let me = client.ok("me", json!({})).await?;
        let kept = me["player"]["held"].as_u64().unwrap_or(0)
            + me["player"]["energy"].as_u64().unwrap_or(0);
        assert!(
            kept >= acked_grams,
            "round {round}: {kept} g kept of {acked_grams} g acknowledged: {me}"
        );
        let (_, list) = as_reviewer(&server, "GET", &format!("/admin/risk/flags?player_id={id}"))?;
        for flag in list["flags"].as_array().into_iter().flatten() {
            if released.contains(&flag["id"].as_u64().unwrap_or_default()) {
                assert_eq!(flag["status"], "released", "round {round}: {flag}");
            }
        }
        server.audit()?;
    }
    Ok(())
}
