//! The gateway a team replacing Canopy with Redis would run: it holds the players'
//! WebSockets and speaks Canopy's protocol, turns each request into one `EVALSHA` on a
//! single multiplexed (pipelined) Redis connection, and hands the events the scripts
//! publish on one pub/sub channel to the sessions that should get them.
//!
//! Interest management, as Canopy's (docs/PROTOCOL.md, "Watching"): a session's
//! `watch` is recorded here (per session) and in Redis (per player: `wf`, `fw:<owner>`),
//! so the scripts publish news about other players only to players with a watching
//! session, and the gateway delivers it only to the sessions that watch. A session gets
//! at most one `friend_stealable` per friend per write batch (everything queued for the
//! socket when its writer wakes: the last line about that friend), and only its last
//! `forest_changed` of a batch, as Canopy sends at most one of each per friend and
//! batch.

mod replies;
mod session;

use crate::redis_target;
use crate::scripts::Scripts;
use anyhow::Context;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What a session's writer is handed.
enum Out {
    /// A reply or one of the player's own events: sent as is.
    Frame(String),
    /// What the player could steal from a friend now (the last per friend and batch is
    /// sent).
    Stealable { friend: u64, grams: u64 },
    /// A watched forest after a change (the last of a batch is sent).
    Forest(String),
}

/// The part of a session the push router sees.
struct SessionHandle {
    /// The session's writer queue.
    outbox: mpsc::UnboundedSender<Out>,
    /// Whether it watches its friends list.
    watches_friends: AtomicBool,
    /// The friend whose forest it watches, 0 for none.
    watched_forest: AtomicU64,
}

/// Everything the sessions share.
struct Gateway {
    /// The one command connection (clones share it: the requests of every session are
    /// pipelined on it).
    redis: MultiplexedConnection,
    scripts: Scripts,
    /// Logged-in sessions by player.
    sessions: Mutex<HashMap<u64, Vec<Arc<SessionHandle>>>>,
    /// Sessions per (player, watched): watched is 0 for the friends list, else the
    /// owner of a forest. Redis's sets are written on 0 → 1 and 1 → 0.
    watch_counts: Mutex<HashMap<(u64, u64), u32>>,
}

/// Serves Canopy's protocol on `listen` until the process is stopped.
pub async fn run(listen: &str, redis_url: &str) -> anyhow::Result<()> {
    let mut redis = redis_target::connection(redis_url).await?;
    let scripts = Scripts::load(&mut redis).await?;
    let gateway = Arc::new(Gateway {
        redis,
        scripts,
        sessions: Mutex::default(),
        watch_counts: Mutex::default(),
    });
    let client = redis::Client::open(redis_url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(redis_target::EVENTS_CHANNEL).await?;
    let router = gateway.clone();
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            if let Ok(payload) = std::str::from_utf8(message.get_payload_bytes()) {
                router.route(payload);
            }
        }
        eprintln!("gateway: the pub/sub connection ended");
    });
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    eprintln!("gateway listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        tokio::spawn(async move { session::serve(stream, gateway).await });
    }
}

impl Gateway {
    /// Hands one published event (`<player> <json>`) to the sessions that get it: the
    /// player's own events to every session of the player, `friend_stealable` to those
    /// watching the friends list or that friend's forest, `forest_changed` to those
    /// watching that forest.
    fn route(&self, payload: &str) {
        let Some((player, json)) = payload.split_once(' ') else {
            return;
        };
        let Ok(player) = player.parse::<u64>() else {
            return;
        };
        let sessions = self
            .sessions
            .lock()
            .expect("no thread panics holding sessions");
        let Some(sessions) = sessions.get(&player) else {
            return;
        };
        match classify(json) {
            Push::Stealable { friend, grams } => {
                for session in sessions {
                    if session.watches_friends.load(Ordering::Relaxed)
                        || session.watched_forest.load(Ordering::Relaxed) == friend
                    {
                        let _ = session.outbox.send(Out::Stealable { friend, grams });
                    }
                }
            }
            Push::Forest { owner } => {
                for session in sessions {
                    if session.watched_forest.load(Ordering::Relaxed) == owner {
                        let _ = session.outbox.send(Out::Forest(json.to_owned()));
                    }
                }
            }
            Push::Own => {
                for session in sessions {
                    let _ = session.outbox.send(Out::Frame(json.to_owned()));
                }
            }
            Push::Unreadable => {}
        }
    }

    /// Counts a session's new watch; the first one of a player is written to Redis.
    async fn add_watch(&self, player: u64, watched: u64) -> redis::RedisResult<()> {
        let first = {
            let mut counts = self
                .watch_counts
                .lock()
                .expect("no thread panics holding watch counts");
            let count = counts.entry((player, watched)).or_default();
            *count += 1;
            *count == 1
        };
        if first {
            let mut con = self.redis.clone();
            redis::cmd("SADD")
                .arg(watch_key(watched))
                .arg(player)
                .query_async::<()>(&mut con)
                .await?;
        }
        Ok(())
    }

    /// Ends a session's watch; the last one of a player is removed from Redis.
    async fn remove_watch(&self, player: u64, watched: u64) -> redis::RedisResult<()> {
        let last = {
            let mut counts = self
                .watch_counts
                .lock()
                .expect("no thread panics holding watch counts");
            match counts.get_mut(&(player, watched)) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    counts.remove(&(player, watched));
                    true
                }
                None => false,
            }
        };
        if last {
            let mut con = self.redis.clone();
            redis::cmd("SREM")
                .arg(watch_key(watched))
                .arg(player)
                .query_async::<()>(&mut con)
                .await?;
        }
        Ok(())
    }
}

/// What a published event is, for routing.
#[derive(Debug, PartialEq, Eq)]
enum Push {
    /// A `friend_stealable` line: for sessions watching the friends list or that
    /// friend's forest.
    Stealable { friend: u64, grams: u64 },
    /// A `forest_changed`: for sessions watching that owner's forest.
    Forest { owner: u64 },
    /// One of the player's own events: for every session of the player.
    Own,
    /// A watch push the scripts did not write as expected.
    Unreadable,
}

/// Reads the kind of a published event from its first fields, as the scripts write
/// them (`{"event":"<name>","<id field>":N,...`), without parsing the JSON.
fn classify(json: &str) -> Push {
    let numbers = |rest: &str| -> Vec<u64> {
        rest.split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .take(2)
            .filter_map(|s| s.parse().ok())
            .collect()
    };
    if let Some(rest) = json.strip_prefix(r#"{"event":"friend_stealable","friend_id":"#) {
        match numbers(rest)[..] {
            [friend, grams] => Push::Stealable { friend, grams },
            _ => Push::Unreadable,
        }
    } else if let Some(rest) = json.strip_prefix(r#"{"event":"forest_changed","owner_id":"#) {
        match numbers(rest)[..] {
            [owner, ..] if owner != 0 => Push::Forest { owner },
            _ => Push::Unreadable,
        }
    } else {
        Push::Own
    }
}

/// The Redis set of the players watching `watched` (0: the friends list).
fn watch_key(watched: u64) -> String {
    if watched == 0 {
        "wf".to_owned()
    } else {
        format!("fw:{watched}")
    }
}

#[cfg(test)]
mod tests {
    use super::{Push, classify};

    #[test]
    fn published_events_are_routed_by_kind() {
        assert_eq!(
            classify(r#"{"event":"friend_stealable","friend_id":42,"grams":0}"#),
            Push::Stealable {
                friend: 42,
                grams: 0
            }
        );
        assert_eq!(
            classify(r#"{"event":"forest_changed","owner_id":7,"stealable_grams":3,"balls":[]}"#),
            Push::Forest { owner: 7 }
        );
        assert_eq!(
            classify(r#"{"event":"energy_stolen","by":3,"ball_id":9,"grams":5}"#),
            Push::Own
        );
        assert_eq!(
            classify(r#"{"event":"friend_stealable","friend_id":x}"#),
            Push::Unreadable
        );
    }
}
