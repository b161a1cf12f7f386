//! One WebSocket session with Canopy, shared by any number of logical clients: requests
//! carry ids, a reader task hands each reply to its waiter and counts events, a writer
//! task batches frames into the socket.

use crate::events::EventCounts;
use canopy_shared::Request;
use canopy_shared::frame::encode_request;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// How long a request may wait for its reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Read buffer per socket: replies and events are small, and there are 10,000 sockets.
const READ_BUFFER_BYTES: usize = 8 * 1024;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Utf8Bytes>>>>;

/// A session.
pub struct Conn {
    outbox: mpsc::UnboundedSender<Message>,
    waiters: Waiters,
    next_id: AtomicU64,
}

impl Conn {
    /// Connects to Canopy's game socket; events read on it are counted in `events`.
    pub async fn open(url: &str, events: Arc<EventCounts>) -> anyhow::Result<Self> {
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
        let (mut sink, mut stream) = socket.split();
        let (outbox, mut frames) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(frame) = frames.recv().await {
                if sink.feed(frame).await.is_err() {
                    return;
                }
                while let Ok(frame) = frames.try_recv() {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            // The session was dropped: say goodbye so the reader ends too.
            let _ = sink.close().await;
        });
        let waiters: Waiters = Arc::default();
        let reader_waiters = waiters.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if events.count_frame(&text) {
                    continue;
                }
                let waiter = reply_id(&text).and_then(|id| {
                    reader_waiters
                        .lock()
                        .expect("no thread panics holding the waiters")
                        .remove(&id)
                });
                if let Some(waiter) = waiter {
                    let _ = waiter.send(text);
                }
            }
            // The connection ended: every waiter hears it through its dropped sender.
            reader_waiters
                .lock()
                .expect("no thread panics holding the waiters")
                .clear();
        });
        Ok(Self {
            outbox,
            waiters,
            next_id: AtomicU64::new(1),
        })
    }

    /// Sends a request and waits for its reply frame.
    pub async fn call(&self, request: &Request) -> Result<Utf8Bytes, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters
            .lock()
            .expect("no thread panics holding the waiters")
            .insert(id, tx);
        let frame = Message::Text(encode_request(id, request).into());
        if self.outbox.send(frame).is_err() {
            return Err("closed".to_owned());
        }
        match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(_)) => Err("closed".to_owned()),
            Err(_) => {
                self.waiters
                    .lock()
                    .expect("no thread panics holding the waiters")
                    .remove(&id);
                Err("timeout".to_owned())
            }
        }
    }
}

/// The id of a reply frame: Canopy writes it first (`{"id":N,...`); anything else is
/// read with serde.
fn reply_id(text: &str) -> Option<u64> {
    if let Some(rest) = text.strip_prefix("{\"id\":") {
        let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
        return digits.parse().ok();
    }
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<u64>,
    }
    serde_json::from_str::<IdOnly>(text).ok()?.id
}

#[cfg(test)]
mod tests {
    use super::reply_id;

    #[test]
    fn reply_ids_are_read_fast_or_with_serde() {
        assert_eq!(reply_id(r#"{"id":42,"ok":true,"grams":5}"#), Some(42));
        assert_eq!(reply_id(r#"{"ok":true,"id":7}"#), Some(7));
        assert_eq!(reply_id(r#"{"id":null,"ok":false}"#), None);
    }
}
