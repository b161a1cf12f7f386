//! One WebSocket session: read frames, rate-limit and decode them, queue commands for
//! the game thread, write the frames the game thread puts in this session's outbox,
//! and keep the connection alive (or close it when idle, abusive or too slow).

use super::NetContext;
use super::rate_limit::{TokenBucket, Verdict};
use super::registrations::{Refusal, Source};
use super::unread::UnreadBytes;
use crate::cluster::Router;
use crate::game::{Command, HostIdentity, Op, Origin, SessionId};
use crate::game_loop::{Control, SessionLink};
use crate::tls::MaybeTls;
use canopy_shared::frame::decode_request;
use canopy_shared::reply::encode_err;
use canopy_shared::{ErrorBody, ErrorCode};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes, http};

/// How long one frame write may take before the client is dropped.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Bytes of the per-connection read buffer (tungstenite's default is 128 KiB).
const READ_BUFFER_BYTES: usize = 4096;

/// Bytes tungstenite gathers before writing to the socket; every send ends with a flush,
/// so this only lets the frames of one [`Wire::send_queued`] share a write.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Frames taken from the outbox into one write at most.
const FRAMES_PER_WRITE: usize = 64;

/// How long a closing session waits for the client's close answer.
const CLOSE_DEADLINE: Duration = Duration::from_secs(2);
/// How long a `register` waits for the cluster's shared allowance before this shard
/// decides on its own limits alone.
const SHARED_ALLOWANCE_PATIENCE: Duration = Duration::from_secs(2);

type Sink = SplitSink<WebSocketStream<MaybeTls>, Message>;
type Frames = SplitStream<WebSocketStream<MaybeTls>>;

/// Accepts only the game path.
#[allow(clippy::result_large_err)]
fn check_path(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == "/ws" {
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some("the game socket is at /ws".to_owned()));
    *refusal.status_mut() = http::StatusCode::NOT_FOUND;
    Err(refusal)
}

/// The socket of one session: every write is bounded by [`WRITE_DEADLINE`], and a
/// client too slow to take a frame in time counts as a slow-client drop. Game frames are
/// also bounded by the bytes the client has not yet shown it read ([`UnreadBytes`]).
struct Wire {
    sink: Sink,
    frames: Frames,
    metrics: Arc<crate::metrics::Metrics>,
    unread: UnreadBytes,
}

impl Wire {
    /// Writes one frame; `false` means the session is over, also when the client has
    /// left too many bytes unread to be sent this one.
    async fn send(&mut self, message: Message) -> bool {
        if let Message::Text(text) = &message {
            let bytes = text.len() as u64;
            if !self.unread.may_send(bytes) {
                self.metrics.outbox_drops.inc();
                tracing::warn!("disconnecting a client that leaves its frames unread");
                return false;
            }
            if let Some(payload) = self.unread.sent(bytes) {
                let write = self.sink.feed(Message::Ping(payload.to_vec().into()));
                if !Self::within_deadline(write, &self.metrics).await {
                    return false;
                }
            }
        }
        let write = self.sink.send(message);
        Self::within_deadline(write, &self.metrics).await
    }

    /// Writes `first` and the frames already waiting behind it in the outbox, then
    /// flushes once: a tick's reply and events to one client leave in one write. A frame
    /// that would take the client's unread bytes past their limit goes to `held` and
    /// waits for the client to catch up.
    async fn send_queued(
        &mut self,
        first: Utf8Bytes,
        outbox: &mut mpsc::Receiver<Utf8Bytes>,
        held: &mut Option<Utf8Bytes>,
    ) -> bool {
        let (sink, unread) = (&mut self.sink, &mut self.unread);
        let write = async move {
            let mut probe = unread.sent(first.len() as u64);
            sink.feed(Message::Text(first)).await?;
            for _ in 1..FRAMES_PER_WRITE {
                let Ok(text) = outbox.try_recv() else { break };
                if !unread.may_send(text.len() as u64) {
                    *held = Some(text);
                    break;
                }
                probe = probe.or(unread.sent(text.len() as u64));
                sink.feed(Message::Text(text)).await?;
            }
            if let Some(payload) = probe {
                sink.feed(Message::Ping(payload.to_vec().into())).await?;
            }
            sink.flush().await
        };
        Self::within_deadline(write, &self.metrics).await
    }

    /// Sends `text` and the frames waiting behind it, or holds it in `held` until the
    /// client has read enough. A held frame always has a probe in flight, so the
    /// client's next pong can release it.
    async fn send_or_hold(
        &mut self,
        text: Utf8Bytes,
        outbox: &mut mpsc::Receiver<Utf8Bytes>,
        held: &mut Option<Utf8Bytes>,
    ) -> bool {
        if self.unread.may_send(text.len() as u64) {
            if !self.send_queued(text, outbox, held).await {
                return false;
            }
        } else {
            *held = Some(text);
        }
        match held.is_some().then(|| self.unread.probe()).flatten() {
            Some(payload) => {
                let write = self.sink.send(Message::Ping(payload.to_vec().into()));
                Self::within_deadline(write, &self.metrics).await
            }
            None => true,
        }
    }

    /// Runs a write under [`WRITE_DEADLINE`]; `false` means the session is over.
    async fn within_deadline(
        write: impl Future<Output = Result<(), WsError>>,
        metrics: &crate::metrics::Metrics,
    ) -> bool {
        match tokio::time::timeout(WRITE_DEADLINE, write).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                metrics.outbox_drops.inc();
                tracing::warn!("write deadline passed; disconnecting a client that does not read");
                false
            }
        }
    }

    /// Answers a request with an error.
    async fn refuse(&mut self, id: Option<u64>, code: ErrorCode, message: &str) -> bool {
        let text = encode_err(id, ErrorBody::new(code, message));
        self.send(Message::Text(text.into())).await
    }

    /// Sends a close frame, then reads (and drops) what the client still sends until it
    /// answers the close, so the socket is not reset under frames it has not read.
    async fn close(&mut self, code: CloseCode, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        if !self.send(Message::Close(Some(frame))).await {
            return;
        }
        let drain = async {
            while let Some(Ok(frame)) = self.frames.next().await {
                if frame.is_close() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_DEADLINE, drain).await;
    }
}

/// Runs a session until the client leaves, misbehaves or the server stops. `peer` is
/// where the connection comes from, for the limits on `register`.
pub async fn run(stream: TcpStream, peer: SocketAddr, context: NetContext) {
    let config = context.config.borrow().clone();
    let limits = &config.server;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes))
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(4 * limits.max_frame_bytes.max(64 * 1024));
    let deadline = Duration::from_secs(limits.handshake_timeout_secs);
    let stream = match context.tls.accept(stream, deadline).await {
        Ok(stream) => stream,
        Err(err) => return tracing::debug!(%peer, %err, "TLS handshake failed"),
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, check_path, Some(ws_config));
    let ws = match tokio::time::timeout(deadline, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => return tracing::debug!(%err, "handshake failed"),
        Err(_) => return tracing::debug!("handshake timed out"),
    };
    let session = context.next_session_id();
    let (outbox_tx, mut outbox) = mpsc::channel(limits.outbox_capacity);
    let kick = Arc::new(Notify::new());
    let farewell: Arc<OnceLock<&'static str>> = Arc::default();
    let link = SessionLink {
        outbox: outbox_tx,
        kick: kick.clone(),
        farewell: farewell.clone(),
    };
    if context
        .game
        .control(Control::Connect(session, link))
        .is_err()
    {
        return;
    }
    let (sink, frames) = ws.split();
    let mut wire = Wire {
        sink,
        frames,
        metrics: context.metrics.clone(),
        unread: UnreadBytes::new(limits.max_unread_bytes),
    };
    // A frame that must wait until the client has read enough of what it was sent, and
    // how long it may wait.
    let mut held: Option<Utf8Bytes> = None;
    let held_deadline = tokio::time::sleep(WRITE_DEADLINE);
    tokio::pin!(held_deadline);
    let mut bucket = TokenBucket::new(
        limits.rate_limit_per_second,
        limits.rate_limit_burst,
        Instant::now(),
    );
    let mut keepalive = tokio::time::interval(Duration::from_secs(limits.ping_interval_secs));
    let idle_timeout = Duration::from_secs(limits.idle_timeout_secs);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = kick.notified() => {
                wire.close(CloseCode::Policy, "too slow: the client does not read its frames").await;
                break;
            }
            _ = &mut held_deadline, if held.is_some() => {
                context.metrics.outbox_drops.inc();
                tracing::warn!("disconnecting a client that leaves its frames unread");
                wire.close(CloseCode::Policy, "too slow: the client does not read its frames").await;
                break;
            }
            out = outbox.recv(), if held.is_none() => match out {
                Some(text) => {
                    if !wire.send_or_hold(text, &mut outbox, &mut held).await { break }
                    if held.is_some() {
                        held_deadline.as_mut().reset(tokio::time::Instant::now() + WRITE_DEADLINE);
                    }
                }
                None => {
                    match farewell.get() {
                        Some(reason) => wire.close(CloseCode::Policy, reason).await,
                        None => wire.close(CloseCode::Away, "server shutting down").await,
                    }
                    break;
                }
            },
            frame = wire.frames.next() => {
                last_heard = Instant::now();
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        if !wire.refuse(None, ErrorCode::BadRequest, "binary frames are not supported; send JSON text").await { break }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) => {
                        // Send the close reply tungstenite queued, so the client's close
                        // completes cleanly and the server shuts the TCP connection first.
                        let _ = tokio::time::timeout(CLOSE_DEADLINE, wire.sink.flush()).await;
                        break;
                    }
                    None => break,
                    Some(Ok(Message::Pong(payload))) => {
                        // A pong that proves reading may release the held frame; the client
                        // made progress, so a frame still held gets a fresh deadline.
                        if wire.unread.pong(&payload) && let Some(text) = held.take() {
                            if !wire.send_or_hold(text, &mut outbox, &mut held).await { break }
                            if held.is_some() {
                                held_deadline.as_mut().reset(tokio::time::Instant::now() + WRITE_DEADLINE);
                            }
                        }
                        continue;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(WsError::Capacity(err))) => {
                        tracing::debug!(session = session.0, %err, "oversized frame");
                        wire.close(CloseCode::Size, "frame too large").await;
                        break;
                    }
                    Some(Err(err)) => {
                        tracing::debug!(session = session.0, %err, "read failed");
                        break;
                    }
                };
                let decoded = decode_request(&text);
                match bucket.check(Instant::now(), limits.rate_limit_strikes_before_close) {
                    Verdict::Allow => {}
                    verdict => {
                        context.metrics.rate_limited.inc();
                        let id = decoded.as_ref().map_or_else(|err| err.id, |(id, _)| Some(*id));
                        if !wire.refuse(id, ErrorCode::RateLimited, "too many requests; slow down").await { break }
                        if verdict == Verdict::Close {
                            wire.close(CloseCode::Policy, "rate limit exceeded repeatedly").await;
                            break;
                        }
                        continue;
                    }
                }
                let (request_id, request) = match decoded {
                    Ok(decoded) => decoded,
                    Err(err) => {
                        if !wire.send(Message::Text(encode_err(err.id, err.error).into())).await { break }
                        continue;
                    }
                };
                if matches!(request, canopy_shared::Request::Register { .. })
                    && let Err(message) = admit_registration(&context, peer).await
                {
                    if !wire.refuse(Some(request_id), ErrorCode::RateLimited, &message).await { break }
                    continue;
                }
                let op = match request {
                    canopy_shared::Request::HostLogin { jwt } => match verify_host_jwt(&context, &jwt) {
                        Ok(identity) => Op::HostLogin(identity),
                        Err((code, message)) => {
                            if !wire.refuse(Some(request_id), code, &message).await { break }
                            continue;
                        }
                    },
                    request => Op::Client(request),
                };
                if !queue(&context, &mut wire, session, request_id, op).await { break }
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() > idle_timeout {
                    wire.close(CloseCode::Away, "idle timeout").await;
                    break;
                }
                if !wire.send(Message::Ping(Default::default())).await { break }
            }
        }
    }
    // The game thread may be gone during shutdown; then there is nothing to tell it.
    let _ = context.game.control(Control::Disconnect(session));
}

/// Counts a `register` against the source's allowance (this server's, then in a
/// cluster the one every shard shares), or says why it is refused.
async fn admit_registration(context: &NetContext, peer: SocketAddr) -> Result<(), String> {
    let config = context.config.borrow().clone();
    let refuse = |refusal: Refusal| {
        context.metrics.count_refused_registration(refusal.label());
        refusal.message(&config.accounts)
    };
    context
        .registrations
        .admit(peer.ip(), &config.accounts, Instant::now())
        .map_err(refuse)?;
    let Some(shared) = &context.shared_registrations else {
        return Ok(());
    };
    let source = Source::of(peer.ip());
    match tokio::time::timeout(
        SHARED_ALLOWANCE_PATIENCE,
        shared.admit(source, &config.accounts),
    )
    .await
    {
        Ok(Ok(verdict)) => verdict.map_err(refuse),
        Ok(Err(err)) => {
            tracing::warn!("admitting a registration on this shard's limits alone: {err:#}");
            Ok(())
        }
        Err(_) => {
            tracing::warn!("admitting a registration on this shard's limits alone: NATS is slow");
            Ok(())
        }
    }
}

/// The host user a `host_login` JWT names, or the refusal: `FORBIDDEN` when the server
/// has no host login, `UNAUTHENTICATED` saying which check failed.
fn verify_host_jwt(context: &NetContext, jwt: &str) -> Result<HostIdentity, (ErrorCode, String)> {
    let config = context.config.borrow().clone();
    let Some(host) = &config.accounts.host else {
        return Err((
            ErrorCode::Forbidden,
            "this server has no host login ([accounts.host] is not configured)".to_owned(),
        ));
    };
    super::host_jwt::verify(host, jwt).map_err(|message| (ErrorCode::Unauthenticated, message))
}

/// In a cluster, the redirect for a login whose player lives on another shard.
fn misrouted(router: &Router, op: &Op) -> Option<ErrorBody> {
    match op {
        Op::Client(canopy_shared::Request::Login { token }) => router.misrouted_login(token),
        Op::HostLogin(identity) => router.misrouted_host_login(&identity.issuer, &identity.subject),
        _ => None,
    }
}

/// Hands an op to the game thread, or refuses it when the queue is full or closed.
async fn queue(
    context: &NetContext,
    wire: &mut Wire,
    session: SessionId,
    request_id: u64,
    op: Op,
) -> bool {
    if let Some(router) = &context.router
        && let Some(refusal) = misrouted(router, &op)
    {
        return wire
            .send(Message::Text(encode_err(Some(request_id), refusal).into()))
            .await;
    }
    let command = Command {
        origin: Origin::Session(session),
        request_id,
        op,
    };
    match context.game.submit(command) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            context.metrics.overloaded.inc();
            wire.refuse(
                Some(request_id),
                ErrorCode::Overloaded,
                "the server is busy; retry shortly",
            )
            .await
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            wire.refuse(
                Some(request_id),
                ErrorCode::ShuttingDown,
                "the server is stopping",
            )
            .await
        }
    }
}
