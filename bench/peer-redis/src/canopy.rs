//! The WebSocket side, for Canopy and for the Redis peer's gateway alike (the gateway
//! speaks Canopy's protocol): every online player on its own WebSocket, logged in with
//! its `gen-N` token and watching what the [`WatchPlan`] says; an op goes out on its
//! acting player's session.

use crate::canopy_conn::Conn;
use crate::events::EventCounts;
use crate::ops::{Done, Op, Outcome};
use crate::workload::WatchPlan;
use crate::world::World;
use canopy_shared::model::WatchTarget;
use canopy_shared::{BallId, PlayerId, Request};
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use std::sync::Arc;

/// Sessions connecting at the same time while logging everyone in.
const CONNECTING_AT_ONCE: usize = 200;

/// All players' sessions.
pub struct CanopyTarget {
    sessions: Vec<Conn>,
}

/// The fields of a reply the load generator reads; serde skips the rest.
#[derive(Deserialize)]
struct ReplyLite {
    ok: bool,
    error: Option<ErrorLite>,
    grams: Option<u64>,
    energy: Option<u64>,
    ball_id: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorLite {
    code: String,
}

impl CanopyTarget {
    /// Opens a session per player 1..=players, logs each in and sends its watches.
    pub async fn connect(
        url: &str,
        players: u64,
        world: &World,
        watches: WatchPlan,
        events: Arc<EventCounts>,
    ) -> anyhow::Result<Self> {
        let sessions = futures_util::stream::iter(1..=players)
            .map(|player| {
                let events = events.clone();
                let friends = &world.players[(player - 1) as usize].friends;
                async move {
                    let session = login(url, player, events).await?;
                    if watches.watches_friends(player) {
                        watch(&session, player, WatchTarget::Friends, None).await?;
                    }
                    if let Some(friend) = watches.watched_forest(player, friends) {
                        watch(&session, player, WatchTarget::Forest, Some(friend)).await?;
                    }
                    Ok::<_, anyhow::Error>(session)
                }
            })
            .buffered(CONNECTING_AT_ONCE)
            .try_collect()
            .await?;
        Ok(Self { sessions })
    }

    /// Sends one op and reads its outcome.
    pub async fn call(&self, op: &Op) -> Outcome {
        let session = &self.sessions[(op.actor() - 1) as usize];
        match session.call(&request(op)).await {
            Ok(text) => outcome(&text),
            Err(why) => Outcome::Failed(why),
        }
    }
}

/// A logged-in session of generated player `player`.
pub async fn login(url: &str, player: u64, events: Arc<EventCounts>) -> anyhow::Result<Conn> {
    let session = Conn::open(url, events).await?;
    let token = format!("gen-{player}");
    let reply = session
        .call(&Request::Login { token })
        .await
        .map_err(|why| anyhow::anyhow!("login of player {player}: {why}"))?;
    match outcome(&reply) {
        Outcome::Done(_) => Ok(session),
        other => anyhow::bail!("login of player {player}: {other:?}"),
    }
}

/// Sends one `watch` and checks it was accepted.
async fn watch(
    session: &Conn,
    player: u64,
    what: WatchTarget,
    friend: Option<u64>,
) -> anyhow::Result<()> {
    let request = Request::Watch {
        what,
        friend_id: friend.map(PlayerId),
    };
    let reply = session
        .call(&request)
        .await
        .map_err(|why| anyhow::anyhow!("watch {what:?} of player {player}: {why}"))?;
    match outcome(&reply) {
        Outcome::Done(_) => Ok(()),
        other => anyhow::bail!("watch {what:?} of player {player}: {other:?}"),
    }
}

/// The protocol request of an op.
fn request(op: &Op) -> Request {
    match *op {
        Op::Collect { ball, .. } => Request::Collect {
            ball_id: BallId(ball),
        },
        Op::Steal { owner, ball, .. } => Request::Steal {
            friend_id: PlayerId(owner),
            ball_id: BallId(ball),
        },
        Op::Water { friend, grams, .. } => Request::Water {
            friend_id: PlayerId(friend),
            grams,
        },
        Op::Me { .. } => Request::Me {},
        Op::Friends { .. } => Request::Friends {},
        Op::FriendBalls { friend, .. } => Request::FriendBalls {
            friend_id: PlayerId(friend),
        },
    }
}

/// Reads a reply frame.
fn outcome(text: &str) -> Outcome {
    match serde_json::from_str::<ReplyLite>(text) {
        Ok(reply) if reply.ok => Outcome::Done(Done {
            grams: reply.grams,
            energy: reply.energy,
            ball_id: reply.ball_id,
        }),
        Ok(ReplyLite {
            error: Some(error), ..
        }) => Outcome::Refused(error.code),
        Ok(_) => Outcome::Failed("error reply without a code".to_owned()),
        Err(err) => Outcome::Failed(format!("unreadable reply: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_outcomes() {
        assert_eq!(
            outcome(r#"{"id":1,"ok":true,"grams":12,"energy":40}"#),
            Outcome::Done(Done {
                grams: Some(12),
                energy: Some(40),
                ball_id: None
            })
        );
        assert_eq!(
            outcome(r#"{"id":2,"ok":false,"error":{"code":"GONE","message":"x"}}"#),
            Outcome::Refused("GONE".to_owned())
        );
        assert_eq!(
            outcome(r#"{"id":3,"ok":true,"balls":[{"ball_id":9}]}"#),
            Outcome::Done(Done::default()),
            "nested ids are not the reply's"
        );
    }
}
