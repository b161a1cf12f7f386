//! Ops tokens: the default token refused beyond loopback, roles (401 vs 403), and tokens
//! rotated by a config reload without a restart.

mod support;

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use support::{ADMIN_TOKEN, Server, bin_dir, hash, http, player, tokens_inline};

const VIEWER: &str = "viewer-secret-0001";
const REVIEWER: &str = "reviewer-secret-0002";
const ADMIN: &str = "admin-secret-0003";

/// `[[ops.tokens]]` entries as TOML tables, to append to a config file.
fn tokens_section(tokens: &[(&str, &str, &str)]) -> Result<String> {
    let mut text = String::new();
    for (name, role, secret) in tokens {
        text += &format!(
            "\n[[ops.tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            hash(secret)?
        );
    }
    Ok(text)
}

/// Starts `canopy-server` on the given addresses; `Ok(child, ops port)` once it runs,
/// `Err(stderr)` if it exits first.
fn spawn(
    data_dir: &Path,
    listen: &str,
    ops_listen: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<std::result::Result<(Child, u16), String>> {
    let mut child = Command::new(bin_dir().join("canopy-server"))
        .args(["--listen", listen, "--ops-listen", ops_listen, "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("CANOPY_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("server stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(at) = line.find("ops_addr=") {
            let addr = line[at + "ops_addr=".len()..]
                .split_whitespace()
                .next()
                .unwrap_or_default();
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|port| port.parse().ok())
                .ok_or_else(|| anyhow!("no port in {line}"))?;
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return Ok(Ok((child, port)));
        }
        seen += &line;
        seen.push('\n');
    }
    let status = child.wait()?;
    anyhow::ensure!(!status.success(), "the server exited 0 without running");
    Ok(Err(seen))
}

fn stop(mut child: Child) -> Result<()> {
    child.kill()?;
    child.wait()?;
    Ok(())
}

fn error_code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or_default()
}

#[test]
fn the_default_token_is_refused_on_a_public_address() -> Result<()> {
    for (listen, ops_listen) in [("0.0.0.0:0", "127.0.0.1:0"), ("127.0.0.1:0", "0.0.0.0:0")] {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let stderr = spawn(&data, listen, ops_listen, &[], &[])?
            .err()
            .ok_or_else(|| anyhow!("{listen} {ops_listen}: the default token was served"))?;
        for needed in [
            "server.admin_token",
            "canopy-admin",
            "CANOPY_ADMIN_TOKEN",
            "0.0.0.0",
        ] {
            assert!(stderr.contains(needed), "lacks {needed}: {stderr}");
        }
        assert!(!data.exists(), "a refused start leaves no data dir");
    }
    Ok(())
}

#[test]
fn an_own_token_serves_a_public_address_and_a_reload_cannot_bring_the_default_back() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("canopy.toml");
    let default =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/canopy.toml"))?;
    let own = default.replace(
        &format!("admin_token = \"{ADMIN_TOKEN}\""),
        &format!("admin_token = \"{ADMIN}\""),
    );
    std::fs::write(&config, &own)?;
    let config_arg = config.to_string_lossy().into_owned();
    let (child, port) = spawn(
        &dir.path().join("data"),
        "0.0.0.0:0",
        "0.0.0.0:0",
        &["--config", &config_arg],
        &[],
    )?
    .map_err(|stderr| anyhow!("an own token on a public address must start: {stderr}"))?;
    let ops = format!("127.0.0.1:{port}");
    let (status, _) = http(&ops, "GET", "/admin/audit", Some(ADMIN), None)?;
    assert_eq!(status, 200);
    let (status, _) = http(&ops, "GET", "/admin/audit", Some(ADMIN_TOKEN), None)?;
    assert_eq!(status, 401, "the default token is not a token here");

    std::fs::write(&config, &default)?;
    let (status, answer) = http(&ops, "POST", "/admin/reload", Some(ADMIN), Some(json!({})))?;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("server.admin_token"),
        "{answer}"
    );
    let (status, _) = http(&ops, "GET", "/admin/audit", Some(ADMIN), None)?;
    assert_eq!(status, 200, "the old config stays");
    let (status, _) = http(&ops, "GET", "/healthz", None, None)?;
    assert_eq!(status, 200, "health needs no token");
    stop(child)
}

#[tokio::test]
async fn each_role_reaches_its_calls_and_is_refused_above_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let tokens = tokens_inline(&[
        ("grafana", "viewer", VIEWER),
        ("risk-desk", "reviewer", REVIEWER),
        ("oncall", "admin", ADMIN),
    ])?;
    let server = Server::start_with_env(
        dir.path(),
        &[
            "--clock",
            "manual",
            "--clock-start",
            &support::START.to_string(),
        ],
        &[("CANOPY_OPS__TOKENS", &tokens)],
    )?;
    let (_client, id, _) = player(&server, "alice").await?;
    let ops = server.ops_addr.as_str();
    for token in [VIEWER, REVIEWER, ADMIN, ADMIN_TOKEN] {
        let (status, audit) = http(ops, "GET", "/admin/audit", Some(token), None)?;
        assert_eq!(status, 200, "{token}: {audit}");
        assert_eq!(audit["balanced"], true);
    }
    let admin_calls = [
        (
            "/admin/actions",
            json!({"player_id": id, "kind": "metro", "quantity": 1, "ref": "m1"}),
        ),
        (
            "/admin/props",
            json!({"player_id": id, "prop": "stealth", "count": 1}),
        ),
        ("/admin/clock/advance", json!({"ms": 1_000})),
        ("/admin/tick-rate", json!({"hz": 20})),
        ("/admin/reload", json!({})),
        (
            "/admin/backup",
            json!({"to": "/nonexistent/never-written.backup"}),
        ),
    ];
    for (token, role) in [(VIEWER, "grafana"), (REVIEWER, "risk-desk")] {
        for (path, body) in &admin_calls {
            let (status, answer) = http(ops, "POST", path, Some(token), Some(body.clone()))?;
            assert_eq!(
                (status, error_code(&answer)),
                (403, "FORBIDDEN"),
                "{role} on {path}"
            );
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("`admin` role"), "{message}");
            assert!(message.contains(role), "{message}");
        }
    }
    let (status, answer) = http(
        ops,
        "POST",
        "/admin/actions",
        Some(ADMIN),
        Some(admin_calls[0].1.clone()),
    )?;
    assert_eq!((status, &answer["grams"]), (200, &json!(52)), "{answer}");
    for token in [None, Some("viewer-secret-0009")] {
        let (status, answer) = http(ops, "GET", "/admin/audit", token, None)?;
        assert_eq!(
            (status, error_code(&answer)),
            (401, "UNAUTHENTICATED"),
            "{token:?}"
        );
    }
    let (status, _) = http(ops, "GET", "/metrics", None, None)?;
    assert_eq!(status, 200, "metrics stay open");
    Ok(())
}

#[tokio::test]
async fn a_reload_rotates_ops_tokens_without_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("canopy.toml");
    let default =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/canopy.toml"))?;
    std::fs::write(
        &config,
        default.clone() + &tokens_section(&[("old-viewer", "viewer", VIEWER)])?,
    )?;
    let config_arg = config.to_string_lossy().into_owned();
    let server = Server::start(
        &dir.path().join("data"),
        &["--clock", "manual", "--config", &config_arg],
    )?;
    let ops = server.ops_addr.as_str();
    let (status, _) = http(ops, "GET", "/admin/audit", Some(VIEWER), None)?;
    assert_eq!(status, 200);
    let (status, _) = http(ops, "GET", "/admin/audit", Some(ADMIN), None)?;
    assert_eq!(status, 401, "not configured yet");

    std::fs::write(
        &config,
        default.clone() + "\n[[ops.tokens]]\nname = \"new\"\nrole = \"admin\"\nsha256 = \"abc\"\n",
    )?;
    let (status, answer) = server.admin("/admin/reload", json!({}))?;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ops.tokens[0].sha256"),
        "{answer}"
    );
    let (status, _) = http(ops, "GET", "/admin/audit", Some(VIEWER), None)?;
    assert_eq!(status, 200, "a refused reload keeps the old tokens");

    std::fs::write(
        &config,
        default + &tokens_section(&[("new-admin", "admin", ADMIN)])?,
    )?;
    let (status, answer) = server.admin("/admin/reload", json!({}))?;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = http(
        ops,
        "POST",
        "/admin/tick-rate",
        Some(ADMIN),
        Some(json!({"hz": 20})),
    )?;
    assert_eq!(status, 200, "the added token works at once");
    let (status, _) = http(ops, "GET", "/admin/audit", Some(VIEWER), None)?;
    assert_eq!(status, 401, "the removed token stops working at once");
    Ok(())
}

#[tokio::test]
async fn every_ops_call_is_in_the_audit_log_with_its_token_and_result() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let tokens = tokens_inline(&[
        ("grafana", "viewer", VIEWER),
        ("risk-desk", "reviewer", REVIEWER),
        ("oncall", "admin", ADMIN),
    ])?;
    let server = Server::start_with_env(
        dir.path(),
        &["--clock", "manual"],
        &[
            ("CANOPY_OPS__TOKENS", &tokens),
            ("CANOPY_OPS__AUDIT_LOG_KEEP", "5"),
        ],
    )?;
    let (_client, id, _) = player(&server, "alice").await?;
    let ops = server.ops_addr.as_str();
    let grant = json!({"player_id": id, "prop": "stealth", "count": 1});
    let calls = [
        ("POST", "/admin/props", Some(ADMIN), Some(grant), 200),
        (
            "POST",
            "/admin/tick-rate",
            Some(REVIEWER),
            Some(json!({"hz": 30})),
            403,
        ),
        ("GET", "/admin/audit", None, None, 401),
        ("GET", "/admin/audit-log", Some(VIEWER), None, 403),
    ];
    for (method, path, token, body, expected) in &calls {
        let (status, answer) = http(ops, method, path, *token, body.clone())?;
        assert_eq!(status, *expected, "{method} {path}: {answer}");
    }
    let (status, log) = http(ops, "GET", "/admin/audit-log", Some(ADMIN), None)?;
    assert_eq!(status, 200, "{log}");
    let seen: Vec<(Value, &str, &str, u64)> = log["calls"]
        .as_array()
        .context("calls")?
        .iter()
        .map(|call| {
            (
                call["token"].clone(),
                call["method"].as_str().unwrap_or_default(),
                call["path"].as_str().unwrap_or_default(),
                call["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!("grafana"), "GET", "/admin/audit-log", 403),
            (Value::Null, "GET", "/admin/audit", 401),
            (json!("risk-desk"), "POST", "/admin/tick-rate", 403),
            (json!("oncall"), "POST", "/admin/props", 200),
        ],
        "newest first, refusals included"
    );
    let props = &log["calls"][3];
    assert!(
        props["body"]
            .as_str()
            .unwrap_or_default()
            .contains("stealth"),
        "{props}"
    );
    assert!(
        props["at"]
            .as_u64()
            .is_some_and(|at| at > 1_700_000_000_000),
        "wall time"
    );

    let (status, log) = http(ops, "GET", "/admin/audit-log?limit=100", Some(ADMIN), None)?;
    assert_eq!(status, 200);
    let kept = log["calls"].as_array().context("calls")?;
    assert_eq!(kept.len(), 5, "only the newest 5 are kept: {log}");
    assert_eq!(
        kept[0]["path"], "/admin/audit-log",
        "the previous read is recorded too"
    );
    let (status, _) = http(ops, "GET", "/admin/audit-log?limit=x", Some(ADMIN), None)?;
    assert_eq!(status, 400);

    let data_dir = server.data_dir.clone();
    server.stop()?;
    let restarted = Server::start(&data_dir, &["--clock", "manual"])?;
    let (status, log) = http(
        &restarted.ops_addr,
        "GET",
        "/admin/audit-log?limit=1",
        Some(ADMIN_TOKEN),
        None,
    )?;
    assert_eq!(status, 200);
    assert_eq!(
        log["calls"][0]["path"], "/admin/audit-log?limit=x",
        "kept in the store"
    );
    Ok(())
}

#[test]
fn an_admin_token_file_named_in_the_environment_rotates_on_reload() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("admin.token");
    std::fs::write(&file, "first-secret-token\n")?;
    let file_arg = file.to_string_lossy().into_owned();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[],
        &[("CANOPY_ADMIN_TOKEN_FILE", &file_arg)],
    )?;
    let ops = server.ops_addr.as_str();
    let tick = |token: &str| {
        http(
            ops,
            "POST",
            "/admin/tick-rate",
            Some(token),
            Some(json!({"hz": 20})),
        )
    };
    assert_eq!(tick("first-secret-token")?.0, 200);
    assert_eq!(
        tick(ADMIN_TOKEN)?.0,
        401,
        "the file replaces the built-in token"
    );

    std::fs::write(&file, "second-secret-token\n")?;
    let (status, answer) = http(
        ops,
        "POST",
        "/admin/reload",
        Some("first-secret-token"),
        Some(json!({})),
    )?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        tick("first-secret-token")?.0,
        401,
        "the old token ends at the reload"
    );
    assert_eq!(
        tick("second-secret-token")?.0,
        200,
        "the new one works without a restart"
    );
    Ok(())
}
