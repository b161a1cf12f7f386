//! The `canopy` CLI end to end: the real binary against a real server with a manual
//! clock, with its profiles in a temporary config directory.

mod support;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{ADMIN_TOKEN, Server, bin_dir};

/// What one run of `canopy` did.
#[derive(Debug)]
struct Run {
    /// The exit status (`None`: killed by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Result<Value> {
        serde_json::from_str(self.stdout.trim())
            .with_context(|| format!("stdout is not one JSON object: {self:?}"))
    }
}

/// Runs `canopy` as a user whose config dir is `home`, against one server.
struct Canopy {
    home: PathBuf,
    game_url: String,
    ops_url: String,
}

impl Canopy {
    fn new(server: &Server, home: &Path) -> Self {
        Self {
            home: home.to_owned(),
            game_url: format!("ws://{}/ws", server.game_addr),
            ops_url: format!("http://{}", server.ops_addr),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin_dir().join("canopy"));
        command
            .args(args)
            .env("XDG_CONFIG_HOME", &self.home)
            .env("HOME", &self.home)
            .env("CANOPY_OPS", &self.ops_url)
            .env("CANOPY_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("CANOPY_SERVER")
            .env_remove("CANOPY_TOKEN")
            .env_remove("CANOPY_PROFILE")
            .env_remove("CANOPY_UTC_OFFSET");
        command
    }

    /// Runs with `input` on stdin (closed after it), killing it after [`support::PATIENCE`].
    fn run_with_input(&self, args: &[&str], input: &str) -> Result<Run> {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning canopy")?;
        let mut stdin = child.stdin.take().context("stdin")?;
        stdin.write_all(input.as_bytes())?;
        drop(stdin);
        let started = Instant::now();
        while child.try_wait()?.is_none() {
            if started.elapsed() > support::PATIENCE {
                child.kill()?;
                child.wait()?;
                bail!(
                    "canopy {args:?} did not finish within {:?}",
                    support::PATIENCE
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output()?;
        Ok(Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    fn run(&self, args: &[&str]) -> Result<Run> {
        self.run_with_input(args, "")
    }

    /// Runs and requires exit status 0; returns stdout.
    fn ok(&self, args: &[&str]) -> Result<String> {
        let run = self.run(args)?;
        if run.code != Some(0) {
            bail!("canopy {args:?} failed: {run:?}");
        }
        Ok(run.stdout)
    }

    /// Runs and requires this exit status; returns the run.
    fn fails(&self, args: &[&str], code: i32) -> Result<Run> {
        let run = self.run(args)?;
        if run.code != Some(code) {
            bail!("canopy {args:?} should exit {code}: {run:?}");
        }
        Ok(run)
    }

    /// Registers a player in `profile` and returns its id.
    fn register(&self, profile: &str, name: &str) -> Result<u64> {
        let run = self.run(&[
            "--server",
            &self.game_url,
            "--profile",
            profile,
            "--json",
            "register",
            name,
        ])?;
        if run.code != Some(0) {
            bail!("register {name} failed: {run:?}");
        }
        run.json()?["player_id"].as_u64().context("player_id")
    }
}

#[test]
fn one_shot_commands_play_a_day() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(&dir.path().join("data"))?;
    let home = dir.path().join("home");
    let canopy = Canopy::new(&server, &home);

    // Register saves the profile (server and token); later commands need no flags.
    let out = canopy.ok(&["--server", &canopy.game_url, "register", "alice"])?;
    assert!(out.contains("Registered alice as player #"), "{out}");
    let profile = std::fs::read_to_string(home.join("canopy/profiles/default.toml"))?;
    assert!(
        profile.contains("token") && profile.contains(&canopy.game_url),
        "{profile}"
    );
    let again = canopy.fails(&["register", "alice"], 1)?;
    assert!(again.stderr.contains("already holds alice"), "{again:?}");

    // 5,000 steps: 100 g in today's walk ball, ripe tomorrow 07:00 game-local.
    let out = canopy.ok(&["walk", "5000"])?;
    assert!(out.contains("+100 g in ball #"), "{out}");
    assert!(out.contains("ripens 2026-11-26 07:00"), "{out}");
    let me = canopy.run(&["--json", "me"])?.json()?;
    let ball = me["balls"][0]["ball_id"].as_u64().context("a walk ball")?;
    let alice = me["player"]["id"].as_u64().context("player id")?;
    let early = canopy.fails(&["collect", &ball.to_string()], 2)?;
    assert!(early.stderr.contains("NOT_RIPE"), "{early:?}");

    // The next morning at 07:00.
    // The advance is answered after the tick that applied it and ripened the ball; `me`
    // is applied after that.
    let out = canopy.ok(&["admin", "advance", "31h"])?;
    assert!(out.contains("2026-11-26 07:00"), "{out}");
    let out = canopy.ok(&["me"])?;
    assert!(out.contains("alice (#"), "{out}");
    assert!(out.contains(&format!("#{ball}")), "{out}");
    assert!(out.contains("ripe, expires"), "{out}");
    let me = canopy.run(&["--json", "me"])?.json()?;
    assert_eq!(me["balls"][0]["amount"], 100, "{me}");

    let out = canopy.ok(&["collect", &format!("#{ball}")])?;
    assert!(
        out.contains("Collected 100 g") && out.contains("Energy: 100 g"),
        "{out}"
    );

    // Errors: a non-zero exit and the code, in words on stderr and as JSON on stdout.
    let missing = canopy.fails(&["collect", "999999"], 2)?;
    assert!(missing.stderr.contains("NOT_FOUND"), "{missing:?}");
    let gone = canopy.fails(&["--json", "collect", &ball.to_string()], 2)?;
    assert_eq!(gone.json()?["error"]["code"], "GONE", "{gone:?}");
    let forbidden = canopy.fails(&["record-action", "metro"], 2)?;
    assert!(forbidden.stderr.contains("FORBIDDEN"), "{forbidden:?}");

    // The partner channel credits what players may not self-report.
    let out = canopy.ok(&[
        "admin",
        "action",
        &alice.to_string(),
        "metro",
        "--ref",
        "metro-1",
    ])?;
    assert!(out.contains("+52 g in ball #"), "{out}");
    let repeat = canopy.run(&[
        "--json",
        "admin",
        "action",
        &alice.to_string(),
        "metro",
        "--ref",
        "metro-1",
    ])?;
    assert_eq!(repeat.code, Some(0), "{repeat:?}");
    assert!(repeat.json()?["ball"]["ball_id"].is_u64(), "{repeat:?}");

    // A second profile keeps a second player.
    let bob = canopy.register("bob", "bob")?;
    assert_ne!(bob, alice);
    let out = canopy.ok(&["--profile", "bob", "me"])?;
    assert!(out.contains(&format!("bob (#{bob})")), "{out}");
    let out = canopy.ok(&["me"])?;
    assert!(out.contains(&format!("alice (#{alice})")), "{out}");

    // Social ops go out in the protocol's shape: whatever the server answers, it is
    // never BAD_REQUEST (a server without them answers INTERNAL "not implemented").
    let (alice_id, bob_id) = (alice.to_string(), bob.to_string());
    for args in [
        &["--profile", "bob", "friend-request", &alice_id][..],
        &["friend-accept", &bob_id],
        &["friends"],
        &["--profile", "bob", "friend-balls", &alice_id],
        &["--profile", "bob", "steal", &alice_id, &ball.to_string()],
        &["water", &bob_id, "10"],
        &["suggestions", "--limit", "5"],
        &["leaderboard", "week"],
        &["feed", "--limit", "10"],
        &["teams"],
    ] {
        let run = canopy.run(args)?;
        let sent_right =
            run.code == Some(0) || (run.code == Some(2) && !run.stderr.contains("BAD_REQUEST"));
        assert!(sent_right, "canopy {args:?}: {run:?}");
    }

    // Usage and connection problems exit 1.
    canopy.fails(&["walk", "many"], 1)?;
    canopy.fails(&["--profile", "nobody", "me"], 1)?;
    let offline = canopy.fails(&["--server", "ws://127.0.0.1:1/ws", "me"], 1)?;
    assert!(offline.stderr.contains("connection error"), "{offline:?}");
    Ok(())
}

#[test]
fn admin_commands_drive_the_ops_http() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(&dir.path().join("data"))?;
    let canopy = Canopy::new(&server, &dir.path().join("home"));
    let alice = canopy.register("default", "alice")?;

    assert_eq!(canopy.ok(&["admin", "health"])?.trim(), "ok");
    let metrics = canopy.ok(&["admin", "metrics", "canopy_sessions"])?;
    assert!(metrics.contains("canopy_sessions"), "{metrics}");

    let out = canopy.ok(&[
        "admin",
        "grant-prop",
        &alice.to_string(),
        "protection_cover",
        "2",
    ])?;
    assert!(out.contains("protection_cover ×2"), "{out}");
    let out = canopy.ok(&["use-prop", "protection_cover"])?;
    assert!(out.contains("active: protection_cover until"), "{out}");

    assert!(canopy.ok(&["admin", "tick-rate", "40"])?.contains("40 Hz"));
    let refused = canopy.fails(&["admin", "tick-rate", "0"], 2)?;
    assert!(refused.stderr.contains("BAD_REQUEST"), "{refused:?}");
    assert!(canopy.ok(&["admin", "reload"])?.contains("reloaded"));
    let clock = canopy.run(&["--json", "admin", "advance", "90m"])?.json()?;
    assert_eq!(clock["time"], support::START + 90 * 60_000);

    // Without the admin token nothing is sent; with a wrong one the server refuses.
    let run = canopy
        .command(&["admin", "advance", "1h"])
        .env_remove("CANOPY_ADMIN_TOKEN")
        .output()?;
    assert_eq!(run.status.code(), Some(1));
    let wrong = canopy.fails(&["--admin-token", "wrong", "admin", "reload"], 2)?;
    assert!(wrong.stderr.contains("UNAUTHENTICATED"), "{wrong:?}");
    canopy.fails(&["admin", "advance", "5000"], 1)?;

    // Who did what, newest first: the refused reload, then the advance before it.
    let log = canopy.ok(&["admin", "audit-log", "--limit", "2"])?;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("(no known token)  POST /admin/reload") && lines[0].ends_with("-> 401"),
        "{log}"
    );
    assert!(
        lines[1].contains("server.admin_token  POST /admin/clock/advance")
            && lines[1].contains(r#"{"ms":5400000}"#)
            && lines[1].ends_with("-> 200"),
        "{log}"
    );
    Ok(())
}

#[test]
fn partners_are_managed_and_signed_for_from_the_terminal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(&dir.path().join("data"))?;
    let canopy = Canopy::new(&server, &dir.path().join("home"));
    let rider = canopy.register("default", "rider")?.to_string();

    let added = canopy
        .run(&[
            "--json",
            "admin",
            "partner",
            "add",
            "Metro Co",
            "--kinds",
            "metro,bus",
            "--rate",
            "60",
        ])?
        .json()?;
    let id = added["partner"]["partner_id"]
        .as_u64()
        .context("partner_id")?
        .to_string();
    let key = added["api_key"].as_str().context("api_key")?.to_owned();
    let as_partner = |key: &str, args: &[&str]| -> Vec<String> {
        ["partner", "--partner-id", &id, "--partner-key", key]
            .iter()
            .chain(args)
            .map(|arg| (*arg).to_owned())
            .collect()
    };
    let args = as_partner(&key, &["action", &rider, "metro", "--ref", "ride-1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = canopy.ok(&args)?;
    assert!(out.contains("g credited (ball #"), "{out}");
    assert_eq!(canopy.ok(&args)?, out, "a retry is answered the same");

    let rotated = canopy
        .run(&["--json", "admin", "partner", "rotate-key", &id])?
        .json()?;
    let new_key = rotated["api_key"].as_str().context("api_key")?.to_owned();
    let refused = canopy.fails(&args, 2)?;
    assert!(refused.stderr.contains("UNAUTHENTICATED"), "{refused:?}");
    let args = as_partner(
        &new_key,
        &["action", &rider, "utility_bill", "--ref", "bill-1"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let refused = canopy.fails(&args, 2)?;
    assert!(
        refused.stderr.contains("FORBIDDEN"),
        "out of scope: {refused:?}"
    );

    assert!(
        canopy
            .ok(&["admin", "partner", "suspend", &id])?
            .contains("Suspended")
    );
    let list = canopy.ok(&["admin", "partner", "list"])?;
    assert!(
        list.contains("Metro Co") && list.contains("key v2"),
        "{list}"
    );
    assert!(!list.contains(&new_key), "keys are never listed");
    let audit = canopy.ok(&["admin", "partner", "audit", &id])?;
    assert!(
        audit.contains("ref=bill-1") && audit.contains("FORBIDDEN"),
        "{audit}"
    );
    assert!(
        audit.contains("ref=ride-1") && audit.contains("-> ok"),
        "{audit}"
    );

    let sign = as_partner(&new_key, &["sign", "/partner/v1/actions", "{}"]);
    let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
    let headers = canopy.ok(&sign)?;
    for header in [
        "x-canopy-partner: ",
        "x-canopy-timestamp: ",
        "x-canopy-nonce: ",
        "x-canopy-signature: ",
    ] {
        assert!(headers.contains(header), "{headers}");
    }
    Ok(())
}

#[test]
fn a_scripted_play_session_prints_events() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(&dir.path().join("data"))?;
    let canopy = Canopy::new(&server, &dir.path().join("home"));
    canopy.register("default", "alice")?;

    let script = "\
        # a day of play\n\
        walk 5000\n\
        admin advance 31h\n\
        wait 1s\n\
        me\n\
        collect-all\n\
        collect 999999\n\
        help\n\
        quit\n\
        me\n";
    let run = canopy.run_with_input(&["play"], script)?;
    let out = &run.stdout;
    assert!(out.contains("as alice (#"), "{run:?}");
    assert!(out.contains("> walk 5000"), "{run:?}");
    assert!(out.contains("+100 g in ball #"), "{run:?}");
    // Events, in words, as they arrive.
    assert!(out.contains("* New ball #"), "{run:?}");
    assert!(out.contains("* Ripe now: ball #"), "{run:?}");
    assert!(out.contains("Collected 1 ball, 100 g"), "{run:?}");
    assert!(out.contains("NOT_FOUND"), "{run:?}");
    for command in [
        "walk",
        "steal",
        "friend-request",
        "team-water",
        "admin",
        "wait",
    ] {
        assert!(
            out.contains(&format!("\n  {command} ")),
            "help lacks {command}: {run:?}"
        );
    }
    // `quit` ends the session: the last line never runs.
    assert_eq!(out.matches("> me").count(), 1, "{run:?}");
    // A script that met an error reply exits 2.
    assert_eq!(run.code, Some(2), "{run:?}");

    // Under --json every result and event is one JSON object per line. The ball_new
    // event follows the record-action reply; `me` is answered after it on the same
    // socket, so the event is in before the script ends, whatever the wait took.
    let run = canopy.run_with_input(
        &["--json", "play"],
        "record-action walk --quantity 6000\nwait 500ms\nme\n",
    )?;
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("not JSON lines: {run:?}"))?;
    assert!(lines.iter().any(|line| line["grams"] == 120), "{run:?}");
    assert!(
        lines.iter().any(|line| line["event"] == "ball_new"),
        "{run:?}"
    );
    Ok(())
}

/// `canopy rain --auto` plays a whole round against a wall-clock server: it catches some
/// balls and misses others, and the balance the server credited at the round's end is
/// what the CLI says it caught.
#[test]
fn rain_auto_plays_a_round_and_the_server_credits_what_it_caught() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&dir.path().join("data"), &[])?;
    let canopy = Canopy::new(&server, dir.path());
    let (mei, lin) = (
        canopy.register("mei", "mei")?,
        canopy.register("lin", "lin")?,
    );
    canopy.ok(&["--profile", "mei", "friend-request", &lin.to_string()])?;
    canopy.ok(&["--profile", "lin", "friend-accept", &mei.to_string()])?;

    let played = canopy.ok(&["--profile", "mei", "rain", "--auto"])?;
    let caught_grams = played
        .split_once(" balls caught, ")
        .and_then(|(_, rest)| rest.split_once(" g"))
        .and_then(|(grams, _)| grams.parse::<u64>().ok())
        .with_context(|| format!("the round's summary names the grams: {played}"))?;
    let caught_balls = played
        .split_once(" over: ")
        .and_then(|(_, rest)| rest.split_once(" of 30"))
        .and_then(|(balls, _)| balls.parse::<u32>().ok())
        .with_context(|| format!("the round's summary names the balls: {played}"))?;
    assert!(
        (1..30).contains(&caught_balls),
        "human-like: some caught, some missed: {played}"
    );
    assert!(
        played.ends_with(&format!("balance {caught_grams} g.\n")),
        "{played}"
    );

    let me: Value = serde_json::from_str(canopy.ok(&["--profile", "mei", "--json", "me"])?.trim())?;
    assert_eq!(me["player"]["energy"].as_u64(), Some(caught_grams));
    let status: Value = serde_json::from_str(
        canopy
            .ok(&["--profile", "mei", "--json", "rain-status"])?
            .trim(),
    )?;
    assert_eq!(
        (
            status["rounds_left"].as_u64(),
            status["gifts_left"].as_u64()
        ),
        (Some(0), Some(1))
    );
    let gift = canopy.ok(&["--profile", "mei", "rain-gift", &lin.to_string()])?;
    assert!(gift.contains("Rounds left: 1"), "{gift}");
    let refused = canopy.fails(&["--profile", "mei", "rain-gift", &lin.to_string()], 2)?;
    assert!(refused.stderr.contains("NOT_ELIGIBLE"), "{refused:?}");

    let audit = server.audit()?;
    assert_eq!(audit["balanced"], Value::Bool(true), "{audit}");
    assert_eq!(audit["rained"].as_u64(), Some(caught_grams));
    Ok(())
}
