//! The WebSocket client: sends requests with fresh ids, matches replies by id, and
//! hands pushed events to whoever listens.
//!
//! A reader task owns the receiving half of the socket. Each request registers a
//! one-shot waiter under its id before it is sent; the reader completes the waiter when
//! the reply arrives, so replies may come in any order and events may arrive between a
//! request and its reply.

use crate::error::CliError;
use crate::trust::Trust;
use canopy_shared::frame::{ServerFrame, decode_server_frame, encode_request};
use canopy_shared::{ErrorBody, Event, Request};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A game socket, plain or TLS.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a game socket (`ws://`, or `wss://` trusting `trust`'s roots) with Nagle's
/// algorithm off: requests are small frames, each flushed whole, and waiting for the
/// server's delayed ACK would add up to 40 ms. `Err` says why, in words.
pub async fn connect_without_nagle(url: &str, trust: &Trust) -> Result<Socket, String> {
    let connector = if url.starts_with("wss://") {
        let config = trust.rustls_config().map_err(|err| err.to_string())?;
        Some(tokio_tungstenite::Connector::Rustls(config))
    } else {
        None
    };
    let (socket, _response) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector)
            .await
            .map_err(|err| err.to_string())?;
    Ok(socket)
}

/// A reply's result fields, or the error the server answered.
pub type ReplyOutcome = Result<Map<String, Value>, ErrorBody>;

/// How long to wait for the WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a reply before giving up on the request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Something the server pushed without being asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Pushed {
    /// A protocol event.
    Event(Event),
    /// An event this client does not know (a newer server); kept as raw JSON.
    UnknownEvent(Value),
    /// An error reply with `"id": null`: the server could not read one of our frames.
    StrayError(ErrorBody),
}

/// Waiters for replies, and why the connection ended once it has.
#[derive(Default)]
struct Pending {
    /// Requests sent and not yet answered, by id.
    waiters: HashMap<u64, oneshot::Sender<ReplyOutcome>>,
    /// Set by the reader when the connection ends.
    closed: Option<String>,
}

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    // The map stays consistent even if a holder panicked: every change is one call.
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection to a Canopy game socket.
pub struct Connection {
    /// The sending half; requests from concurrent callers are sent one at a time.
    writer: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    /// Shared with the reader task.
    pending: Arc<Mutex<Pending>>,
    /// The next request id.
    next_id: AtomicU64,
    /// The game socket URL, for messages.
    url: String,
}

impl Connection {
    /// Connects to `url` and starts the reader. Pushed events arrive on the returned
    /// channel, which closes when the connection ends. The channel is unbounded so the
    /// reader never stalls a reply behind an event nobody has read yet; the listener
    /// drains it continuously (or drops it to ignore events).
    pub async fn connect(
        url: &str,
        trust: &Trust,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Pushed>), CliError> {
        let cannot = |why: String| CliError::Connection(format!("cannot connect to {url}: {why}"));
        let socket = tokio::time::timeout(CONNECT_TIMEOUT, connect_without_nagle(url, trust))
            .await
            .map_err(|_| cannot(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(cannot)?;
        let (writer, reader) = socket.split();
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(reader, pending.clone(), events_tx));
        Ok((
            Self {
                writer: tokio::sync::Mutex::new(writer),
                pending,
                next_id: AtomicU64::new(1),
                url: url.to_owned(),
            },
            events_rx,
        ))
    }

    /// Sends a request and waits for its reply: the result fields, or the error the
    /// server answered. `Err` only when the connection fails or no reply comes.
    pub async fn call(&self, request: &Request) -> Result<ReplyOutcome, CliError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if let Some(reason) = &pending.closed {
                return Err(CliError::Connection(reason.clone()));
            }
            pending.waiters.insert(id, reply_tx);
        }
        let text = encode_request(id, request);
        let sent = self
            .writer
            .lock()
            .await
            .send(Message::Text(text.into()))
            .await;
        if let Err(err) = sent {
            lock(&self.pending).waiters.remove(&id);
            return Err(CliError::Connection(format!(
                "cannot send `{}` to {}: {err}",
                request.op_name(),
                self.url
            )));
        }
        match tokio::time::timeout(REPLY_TIMEOUT, reply_rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_dropped)) => Err(CliError::Connection(self.closed_reason())),
            Err(_elapsed) => {
                lock(&self.pending).waiters.remove(&id);
                Err(CliError::Connection(format!(
                    "no reply to `{}` within {} s",
                    request.op_name(),
                    REPLY_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Sends a request and returns its result fields; an error reply becomes
    /// [`CliError::Server`].
    pub async fn call_ok(&self, request: &Request) -> Result<Map<String, Value>, CliError> {
        Ok(self.call(request).await??)
    }

    /// Sends a request and types its result as `T`.
    pub async fn call_as<T: DeserializeOwned>(&self, request: &Request) -> Result<T, CliError> {
        let fields = self.call_ok(request).await?;
        typed(fields)
    }

    /// Why the connection ended, or a generic text while it is still open.
    pub fn closed_reason(&self) -> String {
        lock(&self.pending)
            .closed
            .clone()
            .unwrap_or_else(|| format!("the connection to {} ended", self.url))
    }

    /// Says goodbye with a close frame (best effort).
    pub async fn close(&self) {
        let mut writer = self.writer.lock().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.close()).await;
    }
}

/// Types result fields as `T`; a shape mismatch is reported as the server's fault.
pub fn typed<T: DeserializeOwned>(fields: Map<String, Value>) -> Result<T, CliError> {
    serde_json::from_value(Value::Object(fields)).map_err(|err| {
        CliError::Connection(format!(
            "the server's reply does not have the expected shape: {err}"
        ))
    })
}

/// Reads frames until the connection ends: replies go to their waiters, the rest to
/// the events channel. On the way out it records why and fails every waiter.
async fn read_loop(
    mut reader: SplitStream<Socket>,
    pending: Arc<Mutex<Pending>>,
    events: mpsc::UnboundedSender<Pushed>,
) {
    let reason = loop {
        let text = match reader.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => break describe_close(frame.as_ref()),
            Some(Ok(_)) => continue,
            Some(Err(err)) => break format!("the connection failed: {err}"),
            None => break "the server closed the connection".to_owned(),
        };
        match decode_server_frame(&text) {
            Ok(ServerFrame::Event(event)) => {
                // Nobody listening (one-shot commands) is fine.
                let _ = events.send(Pushed::Event(event));
            }
            Ok(ServerFrame::Reply(reply)) => match reply.id {
                Some(id) => {
                    if let Some(waiter) = lock(&pending).waiters.remove(&id) {
                        let _ = waiter.send(reply.outcome);
                    }
                }
                None => {
                    if let Err(error) = reply.outcome {
                        let _ = events.send(Pushed::StrayError(error));
                    }
                }
            },
            Err(_) => {
                // Most likely an event added after this client was built.
                if let Ok(value) = serde_json::from_str::<Value>(&text)
                    && value.get("event").is_some()
                {
                    let _ = events.send(Pushed::UnknownEvent(value));
                }
            }
        }
    };
    let mut pending = lock(&pending);
    pending.closed = Some(reason);
    pending.waiters.clear();
}

fn describe_close(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(frame) => {
            let code = u16::from(frame.code);
            let why = match code {
                1000 => "normal close",
                1001 => "the server is going away",
                1008 => "policy violation: too many requests",
                1009 => "a frame was too large",
                1011 => "server error",
                _ => "closed",
            };
            if frame.reason.is_empty() {
                format!("the server closed the connection (code {code}: {why})")
            } else {
                format!(
                    "the server closed the connection (code {code}: {why}; {})",
                    frame.reason
                )
            }
        }
        None => "the server closed the connection".to_owned(),
    }
}
