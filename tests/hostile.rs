//! Hostile clients: half-open handshakes, slowloris, a client that never reads. The
//! server keeps serving a well-behaved client with bounded latency and bounded memory.

mod support;

use anyhow::Result;
use serde_json::json;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::{Client, Server, http, player};
use tokio::io::AsyncWriteExt;

/// Round-trip latencies of `ping` from a well-behaved client while `attack` runs.
async fn latencies_during(
    client: &mut Client,
    attack: tokio::task::JoinHandle<Result<()>>,
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    while !attack.is_finished() {
        let started = Instant::now();
        client.ok("ping", json!({})).await?;
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    attack.await??;
    latencies.sort();
    Ok(latencies)
}

fn p99(latencies: &[Duration]) -> Duration {
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

fn metric(server: &Server, name: &str) -> Result<f64> {
    let (_, body) = http(&server.ops_addr, "GET", "/metrics", None, None)?;
    let text = body.as_str().unwrap_or_default().to_owned();
    Ok(text
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_half_open_handshakes_do_not_hurt_good_clients() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut good, _, _) = player(&server, "good").await?;
    let rss_before = server.rss_kib()?;
    let addr = server.game_addr.clone();
    let attack = tokio::spawn(async move {
        for _batch in 0..20 {
            let mut sockets = Vec::new();
            for _ in 0..500 {
                let mut socket = tokio::net::TcpStream::connect(&addr).await?;
                socket
                    .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
                    .await?;
                sockets.push(socket);
            }
            drop(sockets);
        }
        Ok(())
    });
    let latencies = latencies_during(&mut good, attack).await?;
    assert!(!latencies.is_empty());
    assert!(
        p99(&latencies) < Duration::from_millis(500),
        "p99 {:?} during the attack",
        p99(&latencies)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = server.rss_kib()?.saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "memory grew by {grown} KiB");
    assert_eq!(good.ok("me", json!({})).await?["player"]["name"], "good");
    Ok(())
}

#[tokio::test]
async fn a_slowloris_handshake_is_cut_off() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_with_env(
        dir.path(),
        &["--clock", "manual"],
        &[("CANOPY_SERVER__HANDSHAKE_TIMEOUT_SECS", "1")],
    )?;
    let addr = server.game_addr.clone();
    let closed_after = tokio::task::spawn_blocking(move || -> Result<Duration> {
        let mut socket = std::net::TcpStream::connect(&addr)?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let started = Instant::now();
        for byte in b"GET /ws HTTP/1.1\r\nHost: slow\r\n".iter().cycle() {
            if socket.write_all(&[*byte]).is_err() {
                break;
            }
            let mut buf = [0u8; 16];
            match socket.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
            if started.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("the slow handshake was never cut off");
            }
        }
        Ok(started.elapsed())
    })
    .await??;
    assert!(
        closed_after < Duration::from_secs(3),
        "cut off after {closed_after:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_with_env(
        dir.path(),
        &["--clock", "manual"],
        &[
            ("CANOPY_SERVER__OUTBOX_CAPACITY", "16"),
            ("CANOPY_SERVER__RATE_LIMIT_PER_SECOND", "2000"),
            ("CANOPY_SERVER__RATE_LIMIT_BURST", "2000"),
            ("CANOPY_SERVER__RATE_LIMIT_STRIKES_BEFORE_CLOSE", "1000000"),
        ],
    )?;
    let (mut good, _, _) = player(&server, "good").await?;
    let (_, _, token) = player(&server, "sloth").await?;
    let rss_before = server.rss_kib()?;
    let url = format!("ws://{}/ws", server.game_addr);
    let attack = tokio::spawn(async move {
        let mut sloth = Client::connect(&url).await?;
        sloth.ok("login", json!({ "token": token })).await?;
        // Ask for large replies and never read them.
        let request = json!({"id": 1, "op": "species"}).to_string();
        for _ in 0..40_000 {
            if sloth.send_text(&request).await.is_err() {
                break;
            }
        }
        Ok(())
    });
    let latencies = latencies_during(&mut good, attack).await?;
    assert!(
        p99(&latencies) < Duration::from_millis(500),
        "p99 {:?}",
        p99(&latencies)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while metric(&server, "canopy_outbox_drops_total")? < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the non-reading client was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grown = server.rss_kib()?.saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "memory grew by {grown} KiB");
    Ok(())
}
