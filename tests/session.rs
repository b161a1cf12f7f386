//! The game socket over real sockets: sessions, auth and bad input.

mod support;

use anyhow::Result;
use serde_json::json;
use support::{Server, player};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn hello_register_login_and_auth() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let mut anon = server.client().await?;
    let hello = anon.ok("hello", json!({"version": 1})).await?;
    assert_eq!(hello["version"], 1);
    assert_eq!(hello["time"], support::START);
    assert_eq!(
        anon.error_code("hello", json!({"version": 2})).await?,
        "UNSUPPORTED_VERSION"
    );
    assert_eq!(anon.ok("ping", json!({})).await?["time"], support::START);
    assert_eq!(anon.error_code("me", json!({})).await?, "UNAUTHENTICATED");
    assert_eq!(
        anon.error_code("login", json!({"token": "nope"})).await?,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        anon.error_code("register", json!({"name": ""})).await?,
        "BAD_REQUEST"
    );

    let (_alice, alice_id, token) = player(&server, "alice").await?;
    let login = anon.ok("login", json!({"token": token})).await?;
    assert_eq!(login["player_id"], alice_id);
    assert_eq!(login["name"], "alice");
    let me = anon.ok("me", json!({})).await?;
    assert_eq!(me["player"]["id"], alice_id);
    assert_eq!(me["player"]["tree"], "seed");
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_bad_request_and_keeps_the_connection() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut client, _, _) = player(&server, "bob").await?;

    client.send_text("{not json").await?;
    let reply = client.reply_to(None).await?;
    assert_eq!(reply["error"]["code"], "BAD_REQUEST");

    client.send_text(r#"{"op": "me"}"#).await?;
    assert_eq!(client.reply_to(None).await?["error"]["code"], "BAD_REQUEST");

    client.send_text(r#"{"id": 77, "op": "teleport"}"#).await?;
    assert_eq!(
        client.reply_to(Some(77)).await?["error"]["code"],
        "BAD_REQUEST"
    );

    client
        .send_text(r#"{"id": 78, "op": "collect", "ball_id": "seven"}"#)
        .await?;
    assert_eq!(
        client.reply_to(Some(78)).await?["error"]["code"],
        "BAD_REQUEST"
    );

    client.send_text(r#"{"id": 79, "op": "collect"}"#).await?;
    assert_eq!(
        client.reply_to(Some(79)).await?["error"]["code"],
        "BAD_REQUEST"
    );

    client.send(Message::Binary(vec![1, 2, 3].into())).await?;
    assert_eq!(client.reply_to(None).await?["error"]["code"], "BAD_REQUEST");

    let code = client
        .error_code(
            "record_action",
            json!({"kind": "walk", "quantity": 1, "ref": "x".repeat(65)}),
        )
        .await?;
    assert_eq!(code, "BAD_REQUEST");
    assert_eq!(
        client
            .error_code("collect", json!({"ball_id": 999}))
            .await?,
        "NOT_FOUND"
    );
    assert_eq!(
        client.ok("me", json!({})).await?["player"]["name"],
        "bob",
        "still usable"
    );
    Ok(())
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut client, _, _) = player(&server, "carol").await?;
    let huge = format!(
        r#"{{"id": 1, "op": "register", "name": "{}"}}"#,
        "a".repeat(20_000)
    );
    client.send_text(&huge).await?;
    assert_eq!(client.close_code().await?, 1009);
    Ok(())
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed_with_1008() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let mut client = server.client().await?;
    // All in one write, so the server reads them back to back: sent one by one from a
    // process the scheduler pauses, a token would refill between frames and reset the
    // strikes. 400 frames leave room for a few such refills even so (40 burst + 50
    // strikes close the connection). Once the server has closed, sending may fail: that
    // is the close the test waits for, read below.
    let flood: Vec<Message> = (0..400)
        .map(|id| Message::Text(json!({"id": id, "op": "ping"}).to_string().into()))
        .collect();
    let _ = client.send_all(flood).await;
    let mut limited = 0;
    let code = loop {
        match client.reply_to_any().await? {
            Ok(reply) if reply["error"]["code"] == "RATE_LIMITED" => limited += 1,
            Ok(_) => {}
            Err(code) => break code,
        }
    };
    assert!(limited >= 50, "{limited} requests were rate limited");
    assert_eq!(code, 1008);
    Ok(())
}

#[tokio::test]
async fn the_socket_lives_only_at_ws() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let wrong = support::Client::connect(&format!("ws://{}/other", server.game_addr)).await;
    assert!(wrong.is_err(), "a handshake on another path is refused");
    Ok(())
}

#[tokio::test]
async fn sigterm_tells_clients_and_exits_cleanly() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut client, _, _) = player(&server, "dave").await?;
    let status = server.stop()?;
    assert!(status.success(), "clean exit: {status}");
    let event = client
        .wait_event(|e| matches!(e, canopy_shared::Event::ServerShutdown { .. }))
        .await?;
    assert!(matches!(event, canopy_shared::Event::ServerShutdown { .. }));
    assert_eq!(client.close_code().await?, 1001);
    Ok(())
}

#[tokio::test]
async fn a_clients_close_is_answered_with_a_close_frame() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let mut client = server.client().await?;
    let goodbye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    client.send(Message::Close(Some(goodbye))).await?;
    assert_eq!(client.close_code().await?, 1000);
    Ok(())
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_with_env(
        dir.path(),
        &["--clock", "manual"],
        &[
            ("CANOPY_SERVER__PING_INTERVAL_SECS", "1"),
            ("CANOPY_SERVER__IDLE_TIMEOUT_SECS", "2"),
        ],
    )?;
    let (client, _, _) = player(&server, "quiet").await?;
    // Reading answers the server's pings; a client that neither sends nor reads goes
    // silent. So the test reads nothing until the server has dropped the session,
    // however late a loaded machine runs its timers: a fixed sleep would either read (and
    // answer a ping) before the server gave up, or write its pong into a closed socket.
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        let (_, metrics) = support::http(&server.ops_addr, "GET", "/metrics", None, None)?;
        let text = metrics.as_str().unwrap_or_default();
        if text.lines().any(|line| line == "canopy_sessions 0") {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the silent connection was still open after {:?}",
            support::PATIENCE
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // What the server sent after the register reply: its unanswered pings, then a close.
    let mut socket = client.into_socket()?;
    let mut bytes = Vec::new();
    tokio::time::timeout(support::PATIENCE, socket.read_to_end(&mut bytes)).await??;
    assert_eq!(close_code_in(&bytes)?, 1001, "{bytes:?}");
    Ok(())
}

/// The code of the first close frame in raw server-to-client WebSocket bytes.
fn close_code_in(mut bytes: &[u8]) -> Result<u16> {
    use anyhow::Context as _;
    while let [first, second, rest @ ..] = bytes {
        anyhow::ensure!(second & 0x80 == 0, "server frames are not masked");
        let (len, rest) = match second & 0x7f {
            126 => {
                let (len, rest) = rest.split_first_chunk::<2>().context("a cut header")?;
                (usize::from(u16::from_be_bytes(*len)), rest)
            }
            127 => {
                let (len, rest) = rest.split_first_chunk::<8>().context("a cut header")?;
                (usize::try_from(u64::from_be_bytes(*len))?, rest)
            }
            len => (usize::from(len), rest),
        };
        let payload = rest.get(..len).context("a cut frame")?;
        if first & 0x0f == 0x8 {
            let code = payload
                .first_chunk::<2>()
                .context("a close frame without a code")?;
            return Ok(u16::from_be_bytes(*code));
        }
        bytes = &rest[len..];
    }
    anyhow::bail!("no close frame in what the server sent")
}
