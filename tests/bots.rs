//! `canopy bots` end to end: the real binary sets up a small world on a real server with
//! a manual clock, runs the mix, and its JSON report must show work done and nothing
//! broken.

mod support;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{ADMIN_TOKEN, Server, bin_dir};

/// Runs `canopy bots` against `server` with `args`; returns the exit code, the JSON
/// report it wrote, and its stdout.
fn bots(server: &Server, report: &std::path::Path, args: &[&str]) -> Result<(i32, Value, String)> {
    let mut child = Command::new(bin_dir().join("canopy"))
        .arg("bots")
        .args(args)
        .args(["--server", &format!("ws://{}/ws", server.game_addr)])
        .args(["--ops", &format!("http://{}", server.ops_addr)])
        .args(["--admin-token", ADMIN_TOKEN])
        .arg("--report")
        .arg(report)
        .env_remove("CANOPY_SERVER")
        .env_remove("CANOPY_PROFILE")
        .env("XDG_CONFIG_HOME", report.with_extension("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning canopy bots")?;
    let started = Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > Duration::from_secs(600) {
            child.kill()?;
            child.wait()?;
            bail!("canopy bots did not finish within 600 s (a hang, not a slow machine)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code().unwrap_or(-1);
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("no report (exit {code}): {stdout}\n{stderr}"))?;
    let report: Value = serde_json::from_str(&text).context("the report is JSON")?;
    Ok((code, report, format!("{stdout}\n{stderr}")))
}

/// Requires a clean run: exit status 0, no violations, no unexpected error codes.
fn assert_clean(code: i32, report: &Value, output: &str) {
    let pretty = serde_json::to_string_pretty(report).unwrap_or_default();
    assert_eq!(code, 0, "a clean run exits 0:\n{output}\n{pretty}");
    assert_eq!(report["violation_count"], 0, "{pretty}");
    assert_eq!(
        report["unexpected_errors"],
        Value::Object(Default::default()),
        "{pretty}"
    );
}

fn count(report: &Value, op: &str) -> u64 {
    report["per_op"][op]["count"].as_u64().unwrap_or(0)
}

fn ok_count(report: &Value, op: &str) -> u64 {
    count(report, op) - report["per_op"][op]["errors"].as_u64().unwrap_or(0)
}

#[test]
fn a_short_bot_run_does_work_and_finds_nothing_wrong() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(&dir.path().join("data"))?;
    let path = dir.path().join("report.json");
    let (code, report, output) = bots(
        &server,
        &path,
        &[
            "--players",
            "20",
            "--friends-per-player",
            "4",
            "--duration",
            "5s",
            "--mix",
            "collect=40,steal=30,water=10,read=20",
            "--seed",
            "7",
        ],
    )?;
    let pretty = serde_json::to_string_pretty(&report)?;
    assert_clean(code, &report, &output);

    // Setup built the world through the protocol and the ops HTTP.
    assert_eq!(report["config"]["players"], 20);
    assert_eq!(report["config"]["seed"], 7);
    assert_eq!(report["setup"]["players"], 20);
    assert_eq!(report["setup"]["friendships"], 40, "{pretty}");
    assert_eq!(report["setup"]["clock"], "manual");
    assert_eq!(report["setup"]["partner_actions"], 100, "5 per player");
    assert!(
        report["setup"]["ripe_balls"].as_u64() >= Some(100),
        "{pretty}"
    );

    // The run did work.
    let ops = report["ops"].as_u64().context("ops")?;
    assert!(ops > 0, "{pretty}");
    assert!(report["ops_per_s"].as_f64() > Some(0.0), "{pretty}");
    assert!(
        ok_count(&report, "steal") >= 1,
        "a steal succeeded: {pretty}"
    );
    assert!(
        ok_count(&report, "collect") + ok_count(&report, "collect_all") >= 1,
        "a collect succeeded: {pretty}"
    );
    for op in ["steal", "collect", "collect_all", "water", "me"] {
        let stats = &report["per_op"][op];
        for key in [
            "count", "errors", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
        ] {
            assert!(stats.get(key).is_some(), "per_op.{op}.{key}: {pretty}");
        }
    }
    let steal = &report["per_op"]["steal"];
    assert!(
        steal["p50_ms"].as_f64() <= steal["max_ms"].as_f64(),
        "{pretty}"
    );

    // And found nothing wrong (besides assert_clean's checks).
    assert_eq!(report["violations"], Value::Array(Vec::new()), "{pretty}");
    assert_eq!(report["transport_errors"], 0, "{pretty}");
    let events = report["events"].as_object().context("events")?;
    assert!(events.contains_key("energy_stolen"), "{pretty}");

    // The human text says the same on stdout.
    assert!(output.contains("ops/s"), "{output}");
    assert!(output.contains("violations: 0"), "{output}");
    Ok(())
}

#[test]
fn a_server_that_breaks_the_rules_is_caught() -> Result<()> {
    // Thieves take 40–60 % a hit and friends may be watered 5 times a day: the bots,
    // which hold the server to GAME.md's defaults, must say so.
    let dir = tempfile::tempdir()?;
    let start = support::START.to_string();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &["--clock", "manual", "--clock-start", &start],
        &[
            ("CANOPY_STEAL__MIN_SHARE", "0.4"),
            ("CANOPY_STEAL__MAX_SHARE", "0.6"),
            ("CANOPY_WATER__PER_FRIEND_PER_DAY", "5"),
        ],
    )?;
    let path = dir.path().join("report.json");
    let (code, report, output) = bots(
        &server,
        &path,
        &[
            "--players",
            "20",
            "--friends-per-player",
            "4",
            "--duration",
            "4s",
            "--seed",
            "5",
            "--quiet",
        ],
    )?;
    let pretty = serde_json::to_string_pretty(&report)?;
    assert_eq!(code, 2, "violations make the exit status 2: {output}");
    let by_check = &report["violations_by_check"];
    assert!(by_check["steal_over_share"].as_u64() > Some(0), "{pretty}");
    let first = &report["violations"][0];
    assert!(first["description"].as_str().is_some(), "{pretty}");
    assert!(first["player"].as_u64().is_some(), "{pretty}");
    assert!(output.contains("steal_over_share"), "{output}");
    Ok(())
}

#[test]
fn open_loop_keeps_the_asked_rate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(&dir.path().join("data"))?;
    let path = dir.path().join("report.json");
    let (code, report, output) = bots(
        &server,
        &path,
        &[
            "--players",
            "20",
            "--friends-per-player",
            "3",
            "--duration",
            "4s",
            "--rate",
            "20",
            "--quiet",
        ],
    )?;
    let pretty = serde_json::to_string_pretty(&report)?;
    assert_eq!(code, 0, "{output}\n{pretty}");
    assert_eq!(report["config"]["mode"], "open");
    // One request per bot per second: a reply may take most of a second on a loaded
    // machine before a bot falls behind. Never above the rate (a closed loop would do
    // hundreds a second), and near it, less the last requests still in flight at the end.
    let rate = report["ops_per_s"].as_f64().context("ops_per_s")?;
    assert!((12.0..=24.0).contains(&rate), "about 20 req/s: {pretty}");
    assert_eq!(report["violation_count"], 0, "{pretty}");
    Ok(())
}

#[test]
fn bots_play_a_generated_world_and_most_writes_succeed() -> Result<()> {
    // A world written by `canopy-server generate` (ripe balls, generated friendships):
    // the bots log in as a sample of its players instead of registering, learn their
    // friends and balls through the protocol, and play the mix in the steady style.
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let generated = Command::new(bin_dir().join("canopy-server"))
        .arg("--data-dir")
        .arg(&data)
        .args(["generate", "--players", "200", "--balls-per-player", "100"])
        .args(["--ripen", "now", "--time", &support::START.to_string()])
        .output()
        .context("running canopy-server generate")?;
    assert!(
        generated.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let server = Server::start(&data, &["--clock", "manual"])?;
    let path = dir.path().join("report.json");
    let (code, report, output) = bots(
        &server,
        &path,
        &[
            "--generated-world",
            "200",
            "--players",
            "50",
            "--duration",
            "5s",
            "--seed",
            "11",
        ],
    )?;
    let pretty = serde_json::to_string_pretty(&report)?;
    assert_clean(code, &report, &output);
    assert_eq!(report["config"]["generated_world"], 200, "{pretty}");
    assert_eq!(report["setup"]["players"], 50, "{pretty}");
    assert_eq!(report["setup"]["clock"], "manual", "{pretty}");
    assert!(
        report["setup"]["friendships"].as_u64() > Some(0),
        "the generated friendships were learned: {pretty}"
    );
    assert_eq!(
        report["setup"]["ripe_balls"], 5_000,
        "100 ripe balls for each of 50 bots: {pretty}"
    );

    // Nothing broken, and the world kept giving: most writes moved energy. The bound
    // is wide so it holds on a loaded machine; a drained world is far below it.
    let writes = &report["writes"];
    let attempted = writes["attempted"].as_u64().context("writes.attempted")?;
    let succeeded = writes["succeeded"].as_u64().context("writes.succeeded")?;
    assert!(attempted >= 20, "{pretty}");
    assert!(
        succeeded * 2 >= attempted,
        "at least half the writes succeeded: {pretty}"
    );
    assert!(ok_count(&report, "collect") >= 1, "{pretty}");
    assert!(ok_count(&report, "steal") >= 1, "{pretty}");
    assert!(output.contains("writes: "), "{output}");
    Ok(())
}

/// The risk scenario (docs/RISK.md): two cheaters of every kind next to honest bots
/// playing at a person's pace. Each kind must be caught by the rule made for it, and no
/// honest bot flagged by any rule.
#[test]
fn every_kind_of_cheater_is_caught_and_no_honest_bot_is_flagged() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let start = support::START.to_string();
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &["--clock", "manual", "--clock-start", &start],
        &[("CANOPY_RISK__ENABLED", "true")],
    )?;
    let path = dir.path().join("report.json");
    let (code, report, output) = bots(
        &server,
        &path,
        &[
            "--players",
            "24",
            "--friends-per-player",
            "6",
            "--duration",
            "3s",
            "--rate",
            "12",
            "--seed",
            "13",
            "--cheaters",
            "2",
            "--cheat",
            "all",
        ],
    )?;
    let pretty = serde_json::to_string_pretty(&report["risk"])?;
    assert_eq!(code, 0, "a clean run exits 0:\n{output}\n{pretty}");
    let risk = &report["risk"];
    assert_eq!(risk["honest_players"], 24, "{pretty}");
    let rules = risk["rules"].as_array().context("rules")?;
    let row = |rule: &str| rules.iter().find(|row| row["rule"] == rule);
    for (rule, cheaters) in [
        ("steps_rate", 2),
        ("steps_early", 2),
        ("steal_reaction", 2),
        ("steal_coverage", 2),
        ("partner_velocity", 2),
        ("water_funnel", 2),
        ("new_account_star", 2 + 2 * 12),
        ("dense_block", 2 + 2 * 12),
        ("ring", 3),
    ] {
        let row = row(rule).with_context(|| format!("no row for {rule}: {pretty}"))?;
        assert_eq!(row["cheaters"], cheaters, "{rule}: {pretty}");
        assert_eq!(row["caught"], cheaters, "{rule} caught them all: {pretty}");
    }
    for row in rules {
        assert_eq!(row["honest_flagged"], 0, "{}: {pretty}", row["rule"]);
    }
    assert_eq!(risk["honest_flagged"], 0, "{pretty}");
    assert!(risk["graph"]["rings"].as_u64() >= Some(1), "{pretty}");
    Ok(())
}

/// Rain bots play the energy rain on a server whose clock runs (rounds shortened to
/// 4 s): their taps are judged against each round's schedule, every settled round
/// against its accepted taps (grams, balance, vitality), and the rounds against the
/// day's allowance; chances given to friends unlock second rounds; the server's audit
/// (whose identities include the rain's grams) balances afterwards.
#[test]
fn rain_bots_play_rounds_the_server_judges_and_credits_exactly() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &[],
        &[
            ("CANOPY_RAIN__DURATION_MS", "4000"),
            ("CANOPY_RAIN__LEAD_MS", "500"),
            ("CANOPY_RAIN__BALLS", "10"),
            ("CANOPY_RAIN__TOTAL_GRAMS", "40"),
            ("CANOPY_RAIN__FALL_MS_MIN", "1500"),
            ("CANOPY_RAIN__FALL_MS_MAX", "2500"),
        ],
    )?;
    let path = dir.path().join("report.json");
    let (code, report, output) = bots(
        &server,
        &path,
        &[
            "--players",
            "8",
            "--friends-per-player",
            "3",
            "--rain",
            "4",
            "--duration",
            "16s",
            "--seed",
            "11",
        ],
    )?;
    let pretty = serde_json::to_string_pretty(&report)?;
    assert_clean(code, &report, &output);
    assert_eq!(report["config"]["rain"], 4, "{pretty}");
    let rain = &report["rain"];
    assert!(
        rain["rounds"].as_u64() > Some(4),
        "every rain bot settled its first round, and a chance given unlocked more: {pretty}"
    );
    assert!(rain["caught"].as_u64() > Some(0), "{pretty}");
    assert!(
        rain["caught"].as_u64() < rain["balls"].as_u64(),
        "human misses: {pretty}"
    );
    assert!(ok_count(&report, "rain_gift") >= 1, "{pretty}");
    assert!(ok_count(&report, "rain_tap") >= 1, "{pretty}");
    assert!(
        report["events"]["rain_ended"].as_u64() > Some(4),
        "{pretty}"
    );
    assert!(output.contains("rain: 4 bots"), "{output}");
    // A round the bots stopped waiting for at the deadline still settles on the server.
    let audit = server.audit()?;
    assert!(
        audit["rained"].as_u64() >= rain["grams"].as_u64(),
        "{audit}"
    );
    assert!(
        audit["rain_rounds"].as_u64() >= rain["rounds"].as_u64(),
        "{audit}"
    );
    Ok(())
}

/// The props loop in the mix: setup leaves every player a day of expired balls that
/// friends may revive; bots revive them, earn vitality by collecting, buy props in the
/// shop and give them to friends, every reply judged (props and vitality adding up,
/// daily limits, revived grams as listed), and the audit balances afterwards.
#[test]
fn the_props_loop_plays_in_the_mix_and_adds_up() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(&dir.path().join("data"))?;
    let path = dir.path().join("report.json");
    let (code, report, output) = bots(
        &server,
        &path,
        &[
            "--players",
            "20",
            "--friends-per-player",
            "4",
            "--duration",
            "6s",
            "--mix",
            "collect=30,steal=15,water=5,read=5,revive=20,shop=15,gift=10",
            "--seed",
            "5",
        ],
    )?;
    let pretty = serde_json::to_string_pretty(&report)?;
    assert_clean(code, &report, &output);
    assert_eq!(
        report["setup"]["partner_actions"], 200,
        "two days of 5: {pretty}"
    );
    for op in ["revive", "buy", "gift_prop"] {
        assert!(ok_count(&report, op) >= 1, "an {op} succeeded: {pretty}");
    }
    for event in ["energy_revived", "prop_gift"] {
        assert!(
            report["events"][event].as_u64() >= Some(1),
            "{event}: {pretty}"
        );
    }
    server.audit()?;
    Ok(())
}
