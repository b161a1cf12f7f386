//! One bot's game socket. Unlike the interactive client (`connection.rs`), a bot reads
//! its own socket and sees replies and events in exactly the order the server sent them,
//! so what it knows when it judges a reply is what the server had said before it.
//! One request is in flight at a time.

use crate::connection::{ReplyOutcome, connect_without_nagle};
use crate::shard_redirect::GameLink;
use crate::trust::Trust;
use canopy_shared::frame::{ServerFrame, decode_server_frame, encode_request};
use canopy_shared::{Event, Request};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A bot's WebSocket.
pub use crate::connection::Socket;

/// How long to wait for the WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a reply before giving up on the request.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request got no reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// No reply within [`REPLY_TIMEOUT`]; the connection is still open.
    #[error("no reply within {} s", REPLY_TIMEOUT.as_secs())]
    Timeout,
    /// The connection ended.
    #[error("{0}")]
    Closed(String),
}

/// A frame the server pushed.
#[derive(Clone, Debug, PartialEq)]
pub enum Pushed {
    /// A protocol event.
    Event(Event),
    /// An event this client does not know, by name.
    Unknown(String),
}

/// A bot's connection.
pub struct Wire {
    socket: Socket,
    next_id: u64,
    /// The game socket it is connected to.
    url: String,
    /// The certificates trusted over TLS, for a move to another shard.
    trust: Arc<Trust>,
}

impl Wire {
    /// Connects to a game socket URL.
    pub async fn connect(url: &str, trust: &Arc<Trust>) -> Result<Self, String> {
        let socket = tokio::time::timeout(CONNECT_TIMEOUT, connect_without_nagle(url, trust))
            .await
            .map_err(|_| format!("no handshake within {} s", CONNECT_TIMEOUT.as_secs()))??;
        Ok(Self::from_socket(socket, url, trust.clone()))
    }

    /// Wraps a socket that is already open to `url`.
    pub fn from_socket(socket: Socket, url: &str, trust: Arc<Trust>) -> Self {
        Self {
            socket,
            next_id: 1,
            url: url.to_owned(),
            trust,
        }
    }

    /// A new connection to the same game socket, for a bot whose connection ended.
    pub async fn reopen(&self) -> Result<Self, String> {
        Self::connect(&self.url, &self.trust).await
    }

    /// The game socket this wire is connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket, for a caller that reads it on its own from now on.
    pub fn into_socket(self) -> Socket {
        self.socket
    }

    /// Sends a request and reads frames until its reply; events read on the way go to
    /// `on_event` in order.
    pub async fn call(
        &mut self,
        request: &Request,
        mut on_event: impl FnMut(Pushed),
    ) -> Result<ReplyOutcome, WireError> {
        let id = self.next_id;
        self.next_id += 1;
        self.socket
            .send(Message::Text(encode_request(id, request).into()))
            .await
            .map_err(|err| WireError::Closed(format!("cannot send: {err}")))?;
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next_frame())
                .await
                .map_err(|_| WireError::Timeout)??;
            match frame {
                Frame::Reply(reply_id, outcome) if reply_id == Some(id) => return Ok(outcome),
                // A late reply to a request that timed out, or an `id: null` error.
                Frame::Reply(..) => {}
                Frame::Pushed(pushed) => on_event(pushed),
            }
        }
    }

    /// Reads the next pushed frame (waiting as long as it takes); replies that arrive
    /// meanwhile belong to requests that timed out and are dropped. Cancel-safe.
    pub async fn next_pushed(&mut self) -> Result<Pushed, WireError> {
        loop {
            if let Frame::Pushed(pushed) = self.next_frame().await? {
                return Ok(pushed);
            }
        }
    }

    /// Says goodbye with a close frame (best effort).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.socket.close(None)).await;
    }

    async fn next_frame(&mut self) -> Result<Frame, WireError> {
        loop {
            let text = match self.socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    return Err(WireError::Closed(match frame {
                        Some(frame) => format!(
                            "the server closed the connection (code {}{}{})",
                            u16::from(frame.code),
                            if frame.reason.is_empty() { "" } else { ": " },
                            frame.reason
                        ),
                        None => "the server closed the connection".to_owned(),
                    }));
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(WireError::Closed(format!("read failed: {err}"))),
                None => return Err(WireError::Closed("the connection ended".to_owned())),
            };
            return Ok(match decode_server_frame(&text) {
                Ok(ServerFrame::Event(event)) => Frame::Pushed(Pushed::Event(event)),
                Ok(ServerFrame::Reply(reply)) => Frame::Reply(reply.id, reply.outcome),
                Err(_) => {
                    // Most likely an event added after this client was built.
                    let name = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|value| value.get("event")?.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "unreadable_frame".to_owned());
                    Frame::Pushed(Pushed::Unknown(name))
                }
            });
        }
    }
}

impl GameLink for Wire {
    type Error = String;

    async fn call_once(&mut self, request: &Request) -> Result<ReplyOutcome, String> {
        self.call(request, |_| {})
            .await
            .map_err(|err| err.to_string())
    }

    async fn move_to(&mut self, url: &str) -> Result<(), String> {
        let home = Wire::connect(url, &self.trust).await?;
        std::mem::replace(self, home).close().await;
        Ok(())
    }
}

/// One frame, sorted.
enum Frame {
    Reply(Option<u64>, ReplyOutcome),
    Pushed(Pushed),
}
