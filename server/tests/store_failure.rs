//! Disk trouble while running: when the store stops accepting writes, the server stops
//! acknowledging changes, answers `INTERNAL`, and says so in /healthz and /metrics.

use canopy_server::config::Config;
use canopy_server::game::ClockMode;
use canopy_server::partner_secret::PartnerSecret;
use canopy_server::server::{ServerOptions, serve};
use canopy_server::store::MemoryStore;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

async fn call(
    ws: &mut (
             impl SinkExt<Message>
             + StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
             + Unpin
         ),
    request: Value,
) -> Value {
    assert!(
        ws.send(Message::Text(request.to_string().into()))
            .await
            .is_ok()
    );
    loop {
        // Generous: a loaded 2-core machine is slow, and a hang still fails.
        let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("a reply within 60 s")
            .expect("the connection stays open")
            .expect("a readable frame");
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).expect("JSON frame");
            if value.get("event").is_none() {
                return value;
            }
        }
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("ops connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test]
async fn a_failing_store_stops_acks_and_shows_in_health_and_metrics() {
    let store = MemoryStore::new();
    let game = TcpListener::bind("127.0.0.1:0").await.expect("bind game");
    let ops = TcpListener::bind("127.0.0.1:0").await.expect("bind ops");
    let (game_addr, ops_addr) = (
        game.local_addr().expect("addr"),
        ops.local_addr().expect("addr"),
    );
    let options = ServerOptions {
        config: Config::default_embedded(),
        config_path: None,
        data_dir: "memory".into(),
        clock: ClockMode::Manual,
        clock_start: Some(1_795_536_000_000),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        options,
        Arc::new(store.clone()),
        PartnerSecret::random(),
        game,
        ops,
        async {
            let _ = stop_rx.await;
        },
    ));

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{game_addr}/ws"))
        .await
        .expect("connect");
    let registered = call(&mut ws, json!({"id": 1, "op": "register", "name": "alice"})).await;
    assert_eq!(registered["ok"], true);
    assert!(get(ops_addr, "/healthz").await.starts_with("HTTP/1.1 200"));

    store.set_failing(true);
    let refused = call(
        &mut ws,
        json!({"id": 2, "op": "record_action", "kind": "walk", "quantity": 5000, "ref": "a"}),
    )
    .await;
    assert_eq!(refused["error"]["code"], "INTERNAL", "{refused}");
    store.set_failing(false);
    let still = call(
        &mut ws,
        json!({"id": 3, "op": "record_action", "kind": "walk", "quantity": 6000, "ref": "b"}),
    )
    .await;
    assert_eq!(
        still["error"]["code"], "INTERNAL",
        "nothing is acked until a restart: {still}"
    );

    // The health check reads a gauge the game loop sets as it delivers the tick's replies:
    // ask until it shows, however late the machine runs that.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let health = loop {
        let health = get(ops_addr, "/healthz").await;
        if health.starts_with("HTTP/1.1 503") || std::time::Instant::now() > deadline {
            break health;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    let metrics = get(ops_addr, "/metrics").await;
    assert!(metrics.contains("canopy_store_failed 1"), "{metrics}");
    let _ = stop_tx.send(());
    server.await.expect("server task").expect("clean stop");
}
