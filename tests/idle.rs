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
            ("CANOPY_SERVER__IDLE_TIMEOUT_SECS", "2"),
        ],
    )?;
    let report = dir.path().join("idle.json");
    // Held 3 s, past the 2 s idle timeout: only pongs keep the connections open.
    let output = Command::new(bin_dir().join("canopy"))
        .args(["bots", "idle", "--connections", "200", "--hold", "3s"])
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
        pings >= 2 * 200,
        "{pings} pings in a 3 s hold at 1 s intervals"
    );
    Ok(())
}

#[test]
fn a_server_out_of_file_descriptors_pauses_its_accepts() -> Result<()> {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir()?;
    // 64 open files: the server runs out after a few dozen connections.
    let mut server = Command::new("sh")
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
        .context("spawning canopy-server")?;
    let mut lines = BufReader::new(server.stderr.take().context("server stderr")?).lines();
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
    let failures = std::thread::spawn(move || {
        lines
            .map_while(std::result::Result::ok)
            .filter(|line| line.contains("accept failed"))
            .count()
    });
    // The kernel completes these from the backlog, past what the server can accept.
    let sockets: Vec<_> = (0..100)
        .map(|_| std::net::TcpStream::connect(&addr))
        .collect::<std::io::Result<_>>()?;
    std::thread::sleep(std::time::Duration::from_secs(1));
    server.kill()?;
    server.wait()?;
    drop(sockets);
    let failures = failures.join().expect("the log reader does not panic");
    // Paused 100 ms after each failure: about 10 in the second, not a spinning loop's
    // hundreds of thousands.
    assert!(
        (1..=30).contains(&failures),
        "{failures} failed accepts logged in 1 s"
    );
    Ok(())
}
