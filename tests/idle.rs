//! `canopy bots idle` end to end: idle connections outlive the server's idle timeout
//! because reading the socket answers its pings.

mod support;

use anyhow::{Context as _, Result};
use serde_json::Value;
use std::process::{Command, Stdio};
use support::{Server, bin_dir};

#[test]
fn idle_connections_answer_pings_and_stay_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_with_env(
        dir.path(),
        &["--clock", "manual"],
        &[
            ("CANOPY_SERVER__PING_INTERVAL_SECS", "1"),
            ("CANOPY_SERVER__IDLE_TIMEOUT_SECS", "4"),
        ],
    )?;
    let report = dir.path().join("idle.json");
    // Held 6 s, past the 4 s idle timeout: only pongs keep the connections open. The
    // timeout is 4 pings long so a client starved of CPU for a moment on a loaded machine
    // still answers in time; a client that never answers is closed all the same.
    let output = Command::new(bin_dir().join("canopy"))
        .args(["bots", "idle", "--connections", "200", "--hold", "6s"])
        .args(["--login", "--quiet"])
        .args(["--server", &format!("ws://{}/ws", server.game_addr)])
        .arg("--report")
        .arg(&report)
        .env_remove("CANOPY_PROFILE")
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdin(Stdio::null())
        .output()
        .context("running canopy bots idle")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&report).context("canopy bots idle wrote its report")?,
    )?;
    for (field, expected) in [
        ("opened", 200),
        ("failed", 0),
        ("logged_in", 200),
        ("dropped", 0),
        ("open_at_end", 200),
    ] {
        assert_eq!(report[field], expected, "{field} in {report}");
    }
    let pings = report["pings"].as_u64().context("pings in the report")?;
    assert!(
        pings >= 4 * 200,
        "{pings} pings in a 6 s hold at 1 s intervals"
    );
    Ok(())
}

#[test]
fn a_server_out_of_file_descriptors_pauses_its_accepts() -> Result<()> {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir()?;
    // 64 open files: the server runs out after a few dozen connections.
    let mut server = KillOnDrop(
        Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -n 64 && exec "$0" "$@""#)
            .arg(bin_dir().join("canopy-server"))
            .args(["--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"])
            .args(["--clock", "manual", "--data-dir"])
            .arg(dir.path().join("data"))
            .env("CANOPY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning canopy-server")?,
    );
    let mut lines = BufReader::new(server.0.stderr.take().context("server stderr")?).lines();
    let addr = loop {
        let line = lines
            .next()
            .context("the server exited before it was ready")??;
        if let Some(rest) = line.split("game_addr=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    let (first_failure, failure_seen) = std::sync::mpsc::channel();
    let failures = std::thread::spawn(move || {
        let mut count = 0usize;
        for line in lines.map_while(std::result::Result::ok) {
            if line.contains("accept failed") {
                count += 1;
                let _ = first_failure.send(());
            }
        }
        count
    });
    // Failures can only start once these connect: the window is timed from here.
    let window = std::time::Instant::now();
    // The kernel completes these from the backlog, past what the server can accept.
    let sockets: Vec<_> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr))
        .collect::<std::io::Result<_>>()?;
    // However slow the machine, wait for the server to hit the limit, then let it keep
    // failing for a second.
    let seen = failure_seen.recv_timeout(support::PATIENCE).is_ok();
    std::thread::sleep(std::time::Duration::from_secs(1));
    server.0.kill()?;
    server.0.wait()?;
    let window = window.elapsed();
    drop(sockets);
    let failures = failures.join().expect("the log reader does not panic");
    assert!(seen, "no accept failed within {:?}", support::PATIENCE);
    // Paused 100 ms after each failure: at most about 10 a second (fewer when the machine
    // is slow), not a spinning loop's hundreds of thousands.
    let most = 3 * (window.as_millis() as usize / 100 + 1);
    assert!(
        (1..=most).contains(&failures),
        "{failures} failed accepts logged in {window:?} (at most {most})"
    );
    Ok(())
}

/// A child process killed when the test ends, also when it fails half way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
