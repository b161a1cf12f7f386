//! One player's WebSocket at the gateway: the reader decodes requests and runs them one
//! after the other (a session's commands apply in the order sent, as on Canopy), the
//! writer sends replies and pushes, coalescing the watch pushes of one batch.

use super::{Gateway, Out, SessionHandle, replies};
use canopy_shared::frame::decode_request;
use canopy_shared::model::WatchTarget;
use canopy_shared::reply::{Empty, LoginResult, encode_err, encode_ok};
use canopy_shared::{ErrorBody, ErrorCode, Event, PlayerId, Request};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Read buffer per socket: requests are small, and there are 10,000 sockets.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Canopy's default frame limit (`server.max_frame_bytes`).
const MAX_FRAME_BYTES: usize = 16 * 1024;

/// A logged-in session's state, owned by its reader.
struct LoggedIn {
    player: u64,
    handle: Arc<SessionHandle>,
}

/// Serves one connection until it closes.
pub async fn serve(stream: TcpStream, gateway: Arc<Gateway>) {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_FRAME_BYTES));
    let Ok(socket) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (sink, mut stream) = socket.split();
    let (outbox, queue) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(sink, queue));
    let mut session: Option<LoggedIn> = None;
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                let error = ErrorBody::new(ErrorCode::BadRequest, "binary frames are not read");
                let _ = outbox.send(Out::Frame(encode_err(None, error)));
                continue;
            }
            Message::Close(_) => break,
            _ => continue,
        };
        let reply = match decode_request(&text) {
            Err(bad) => encode_err(bad.id, bad.error),
            Ok((id, request)) => handle(&gateway, &mut session, &outbox, id, request).await,
        };
        if outbox.send(Out::Frame(reply)).is_err() {
            break;
        }
    }
    if let Some(done) = session {
        leave(&gateway, &done).await;
    }
    drop(outbox);
    let _ = writer.await;
}

/// Answers one request.
async fn handle(
    gateway: &Gateway,
    session: &mut Option<LoggedIn>,
    outbox: &mpsc::UnboundedSender<Out>,
    id: u64,
    request: Request,
) -> String {
    let refuse =
        |code: ErrorCode, message: &str| encode_err(Some(id), ErrorBody::new(code, message));
    if let Request::Login { token } = &request {
        if let Some(old) = session.take() {
            leave(gateway, &old).await;
        }
        return match login(gateway, token).await {
            Ok(Some((player, name))) => {
                let handle = Arc::new(SessionHandle {
                    outbox: outbox.clone(),
                    watches_friends: AtomicBool::new(false),
                    watched_forest: AtomicU64::new(0),
                });
                gateway
                    .sessions
                    .lock()
                    .expect("no thread panics holding sessions")
                    .entry(player)
                    .or_default()
                    .push(handle.clone());
                *session = Some(LoggedIn { player, handle });
                encode_ok(
                    id,
                    &LoginResult {
                        player_id: PlayerId(player),
                        name,
                        // The peer's tokens do not expire.
                        expires_at: u64::MAX,
                    },
                )
            }
            Ok(None) => refuse(ErrorCode::Unauthenticated, "unknown token"),
            Err(err) => refuse(ErrorCode::Internal, &err.to_string()),
        };
    }
    let Some(logged_in) = session.as_ref() else {
        return refuse(ErrorCode::Unauthenticated, "log in first");
    };
    match request {
        Request::Watch { what, friend_id } => watch(gateway, logged_in, id, what, friend_id).await,
        Request::Unwatch { what, friend_id } => {
            unwatch(gateway, logged_in, what, friend_id.map(|f| f.0)).await;
            encode_ok(id, &Empty {})
        }
        request => replies::run(gateway, logged_in.player, id, &request).await,
    }
}

/// The world's tokens are `gen-<player id>`; the player must exist.
async fn login(gateway: &Gateway, token: &str) -> redis::RedisResult<Option<(u64, String)>> {
    let Some(player) = token
        .strip_prefix("gen-")
        .and_then(|id| id.parse::<u64>().ok())
    else {
        return Ok(None);
    };
    let mut con = gateway.redis.clone();
    let name: Option<String> = redis::cmd("HGET")
        .arg(format!("p:{player}"))
        .arg("n")
        .query_async(&mut con)
        .await?;
    Ok(name.map(|name| (player, name)))
}

async fn watch(
    gateway: &Gateway,
    session: &LoggedIn,
    id: u64,
    what: WatchTarget,
    friend: Option<PlayerId>,
) -> String {
    let refuse =
        |code: ErrorCode, message: &str| encode_err(Some(id), ErrorBody::new(code, message));
    let player = session.player;
    let result = match what {
        WatchTarget::Friends => {
            if session.handle.watches_friends.swap(true, Ordering::Relaxed) {
                Ok(())
            } else {
                gateway.add_watch(player, 0).await
            }
        }
        WatchTarget::Forest => {
            let Some(PlayerId(friend)) = friend else {
                return refuse(ErrorCode::BadRequest, "`forest` needs a `friend_id`");
            };
            let mut con = gateway.redis.clone();
            let friends: redis::RedisResult<bool> = redis::cmd("SISMEMBER")
                .arg(format!("f:{player}"))
                .arg(friend)
                .query_async(&mut con)
                .await;
            match friends {
                Ok(true) if friend != player => {}
                Ok(_) => return refuse(ErrorCode::NotFriends, "not your friend"),
                Err(err) => return refuse(ErrorCode::Internal, &err.to_string()),
            }
            let before = session
                .handle
                .watched_forest
                .swap(friend, Ordering::Relaxed);
            if before == friend {
                Ok(())
            } else {
                let removed = if before != 0 {
                    gateway.remove_watch(player, before).await
                } else {
                    Ok(())
                };
                match removed {
                    Ok(()) => gateway.add_watch(player, friend).await,
                    err => err,
                }
            }
        }
    };
    match result {
        Ok(()) => encode_ok(id, &Empty {}),
        Err(err) => refuse(ErrorCode::Internal, &err.to_string()),
    }
}

async fn unwatch(gateway: &Gateway, session: &LoggedIn, what: WatchTarget, friend: Option<u64>) {
    let player = session.player;
    let result = match what {
        WatchTarget::Friends => {
            if session
                .handle
                .watches_friends
                .swap(false, Ordering::Relaxed)
            {
                gateway.remove_watch(player, 0).await
            } else {
                Ok(())
            }
        }
        WatchTarget::Forest => {
            let watched = session.handle.watched_forest.load(Ordering::Relaxed);
            if watched != 0 && friend.is_none_or(|f| f == watched) {
                session.handle.watched_forest.store(0, Ordering::Relaxed);
                gateway.remove_watch(player, watched).await
            } else {
                Ok(())
            }
        }
    };
    if let Err(err) = result {
        eprintln!("gateway: unwatch of player {player}: {err}");
    }
}

/// The session ends: its watches and its place in the push routing go.
async fn leave(gateway: &Gateway, session: &LoggedIn) {
    unwatch(gateway, session, WatchTarget::Friends, None).await;
    unwatch(gateway, session, WatchTarget::Forest, None).await;
    let mut sessions = gateway
        .sessions
        .lock()
        .expect("no thread panics holding sessions");
    if let Some(list) = sessions.get_mut(&session.player) {
        list.retain(|s| !Arc::ptr_eq(s, &session.handle));
        if list.is_empty() {
            sessions.remove(&session.player);
        }
    }
}

/// Writes what the session is handed: everything queued when the writer wakes is one
/// batch, written together with one flush; of the batch's `friend_stealable` lines only
/// the last about each friend is sent (in ascending friend id), and only its last
/// `forest_changed`.
async fn write_loop<S>(mut sink: S, mut queue: mpsc::UnboundedReceiver<Out>)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let mut stealable: BTreeMap<u64, u64> = BTreeMap::new();
    let mut forest: Option<String> = None;
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some(out) = next {
            match out {
                Out::Frame(text) => {
                    if sink.feed(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Out::Stealable { friend, grams } => {
                    stealable.insert(friend, grams);
                }
                Out::Forest(json) => forest = Some(json),
            }
            next = queue.try_recv().ok();
        }
        for (friend, grams) in std::mem::take(&mut stealable) {
            let event = Event::FriendStealable {
                friend_id: PlayerId(friend),
                grams,
            };
            let text = serde_json::to_string(&event).expect("events serialize to JSON");
            if sink.feed(Message::text(text)).await.is_err() {
                return;
            }
        }
        if let Some(json) = forest.take()
            && sink.feed(Message::text(json)).await.is_err()
        {
            return;
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
