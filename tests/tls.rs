//! Built-in TLS with a certificate generated in the test: the game socket speaks
//! `wss://` and the ops port `https://`, a plain client is refused, and a reload picks
//! up a new certificate for new connections while an open session keeps going. The
//! `canopy` CLI, its bots and its admin commands work over TLS when told to trust the
//! certificate (`--ca-cert`), and refuse a server they do not trust.

mod support;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use support::{ADMIN_TOKEN, PATIENCE, START, Server, bin_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// A new self-signed certificate for `localhost`, written as the server's files;
/// returns it for clients to trust.
fn new_certificate(dir: &Path) -> Result<CertificateDer<'static>> {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    std::fs::write(dir.join("cert.pem"), generated.cert.pem())?;
    std::fs::write(dir.join("key.pem"), generated.signing_key.serialize_pem())?;
    Ok(generated.cert.der().clone())
}

/// A server with its data in `dir` serving TLS on both ports with a new certificate
/// (returned, for clients to trust), started with `args` and `env` besides.
fn start_tls(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(Server, CertificateDer<'static>)> {
    let certificate = new_certificate(dir)?;
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let mut tls_env = vec![
        ("CANOPY_TLS__CERT_FILE", cert.as_str()),
        ("CANOPY_TLS__KEY_FILE", key.as_str()),
    ];
    tls_env.extend_from_slice(env);
    let server = Server::start_with_env(&dir.join("data"), args, &tls_env)?;
    Ok((server, certificate))
}

/// A TLS connection to `addr` trusting only `trusted`.
async fn tls_connect(
    addr: &str,
    trusted: &CertificateDer<'static>,
) -> Result<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone())?;
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?)
}

/// A `wss://` session trusting only `trusted`.
async fn wss(
    server: &Server,
    trusted: &CertificateDer<'static>,
) -> Result<WebSocketStream<TlsStream<TcpStream>>> {
    let tls = tls_connect(&server.game_addr, trusted).await?;
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", tls).await?;
    Ok(ws)
}

/// Sends one request and returns its reply.
async fn call(ws: &mut WebSocketStream<TlsStream<TcpStream>>, request: Value) -> Result<Value> {
    ws.send(Message::text(request.to_string())).await?;
    loop {
        let frame = tokio::time::timeout(PATIENCE, ws.next())
            .await?
            .context("closed")??;
        if let Message::Text(text) = frame {
            let reply: Value = serde_json::from_str(&text)?;
            if reply.get("id").is_some() {
                return Ok(reply);
            }
        }
    }
}

/// An HTTPS request on the ops port; returns the whole response text.
async fn https(
    server: &Server,
    trusted: &CertificateDer<'static>,
    request: &str,
) -> Result<String> {
    let mut tls = tls_connect(&server.ops_addr, trusted).await?;
    tls.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(PATIENCE, tls.read_to_string(&mut response)).await??;
    Ok(response)
}

#[tokio::test]
async fn both_ports_speak_tls_and_a_reload_rotates_the_certificate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, first) = start_tls(dir.path(), &[], &[])?;

    let mut ws = wss(&server, &first).await?;
    let registered = call(&mut ws, json!({"id": 1, "op": "register", "name": "ant"})).await?;
    assert_eq!(registered["ok"], true, "{registered}");
    let health = https(
        &server,
        &first,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await?;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let plain = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.game_addr)).await;
    assert!(plain.is_err(), "a plain client is not served");

    let second = new_certificate(dir.path())?;
    let reload = format!(
        "POST /admin/reload HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        support::ADMIN_TOKEN
    );
    let reloaded = https(&server, &first, &reload).await?;
    assert!(reloaded.starts_with("HTTP/1.1 200"), "{reloaded}");
    assert!(
        wss(&server, &first).await.is_err(),
        "new connections get the new certificate"
    );
    let mut fresh = wss(&server, &second).await?;
    let pong = call(&mut fresh, json!({"id": 2, "op": "ping"})).await?;
    assert_eq!(pong["ok"], true);
    let me = call(&mut ws, json!({"id": 3, "op": "me"})).await?;
    assert_eq!(
        me["ok"], true,
        "the session opened before the reload goes on: {me}"
    );
    Ok(())
}

/// Runs the `canopy` CLI with `args`, its profiles under `home`.
fn canopy(home: &Path, args: &[&str]) -> Result<Output> {
    Ok(Command::new(bin_dir().join("canopy"))
        .args(args)
        .env("XDG_CONFIG_HOME", home)
        .env("HOME", home)
        .env_remove("CANOPY_SERVER")
        .env_remove("CANOPY_PROFILE")
        .env_remove("CANOPY_OPS")
        .env_remove("CANOPY_CA_CERT")
        .output()?)
}

/// The JSON a successful command printed.
fn json_of(output: &Output) -> Result<Value> {
    anyhow::ensure!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim()).with_context(|| format!("not JSON: {stdout}"))
}

/// `localhost:<port>` of a `127.0.0.1:<port>` address: the name the certificate holds.
fn localhost(addr: &str) -> Result<String> {
    let (_, port) = addr.rsplit_once(':').context("an address with a port")?;
    Ok(format!("localhost:{port}"))
}

#[test]
fn the_cli_its_bots_and_admin_commands_speak_tls_to_a_trusted_server() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let start = START.to_string();
    let (server, _) = start_tls(
        dir.path(),
        &["--clock", "manual", "--clock-start", &start],
        &[],
    )?;
    let ca = dir.path().join("cert.pem").display().to_string();
    let game = format!("wss://{}/ws", localhost(&server.game_addr)?);
    let ops = format!("https://{}", localhost(&server.ops_addr)?);
    let home = dir.path().join("home");

    let untrusted = canopy(&home, &["--server", &game, "register", "eve"])?;
    assert!(!untrusted.status.success(), "an unknown issuer is refused");
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(said.contains("certificate"), "{said}");

    let registered = json_of(&canopy(
        &home,
        &[
            "--server",
            &game,
            "--ca-cert",
            &ca,
            "--json",
            "register",
            "ann",
        ],
    )?)?;
    let ann = registered["player_id"].as_u64().context("player_id")?;
    // The profile keeps the wss:// server: later commands need only the trust.
    let walked = json_of(&canopy(
        &home,
        &["--ca-cert", &ca, "--json", "walk", "5000"],
    )?)?;
    assert_eq!(walked["grams"], json!(100), "{walked}");
    let me = json_of(&canopy(&home, &["--ca-cert", &ca, "--json", "me"])?)?;
    assert_eq!(me["player"]["id"], json!(ann), "{me}");

    let admin = [
        "--ops",
        &ops,
        "--admin-token",
        ADMIN_TOKEN,
        "--json",
        "admin",
    ];
    let untrusted = canopy(&home, &[&admin[..], &["advance", "1000ms"]].concat())?;
    let said = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        !untrusted.status.success() && said.contains("certificate"),
        "{untrusted:?}"
    );
    let advanced = json_of(&canopy(
        &home,
        &[&["--ca-cert", &ca][..], &admin, &["advance", "1000ms"]].concat(),
    )?)?;
    assert_eq!(advanced["time"], json!(START + 1000), "{advanced}");

    let report_path = dir.path().join("bots.json");
    let bots = canopy(
        &home,
        &[
            "bots",
            "--server",
            &game,
            "--ops",
            &ops,
            "--ca-cert",
            &ca,
            "--admin-token",
            ADMIN_TOKEN,
            "--players",
            "6",
            "--friends-per-player",
            "2",
            "--duration",
            "2s",
            "--seed",
            "5",
            "--quiet",
            "--report",
            &report_path.display().to_string(),
        ],
    )?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path)?)
        .with_context(|| format!("no report: {bots:?}"))?;
    assert!(bots.status.success(), "{bots:?}\n{report}");
    assert_eq!(report["setup"]["clock"], json!("manual"), "{report}");
    assert!(
        report["setup"]["partner_actions"].as_u64() > Some(0),
        "{report}"
    );
    assert!(report["ops"].as_u64() > Some(0), "{report}");
    assert_eq!(report["violation_count"], json!(0), "{report}");
    Ok(())
}

#[tokio::test]
async fn a_stalled_handshake_on_the_ops_port_does_not_hold_up_other_clients() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // An hour for a handshake: a server that waits for one before the next would keep
    // the second client waiting far past the test's patience.
    let (server, trusted) = start_tls(
        dir.path(),
        &[],
        &[("CANOPY_SERVER__HANDSHAKE_TIMEOUT_SECS", "3600")],
    )?;
    // Connected, and silent: its ClientHello never comes.
    let stalled = TcpStream::connect(&server.ops_addr).await?;
    let health = tokio::time::timeout(
        PATIENCE,
        https(
            &server,
            &trusted,
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ),
    )
    .await
    .context("the second client waited behind the stalled handshake")??;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    drop(stalled);
    Ok(())
}
