//! Reads of other shards' players and teams (the `friends`, `friend_balls`,
//! `leaderboard` and `teams` views over remote friends and teams, and the reads behind
//! `watch` pushes) as NATS request/reply on `canopy.views.<shard>`, and the news that
//! players changed, for the watching sessions of other shards, on
//! `canopy.changes.<shard>`. Neither changes anything, so neither is a JetStream
//! message: no outbox, no inbox, no retry. The owner's shard answers from its game (a
//! command of its game loop, answered after that batch); the asking shard hands the
//! answer, or `SHARD_TIMEOUT` when none came within `cluster.remote_timeout_ms`, to its
//! own game, which decides what a missing answer means for the client's view.

use crate::game::remote::Delivery;
use crate::game::remote_views::{ViewAnswer, ViewQuery};
use crate::game_loop::{AdminAnswer, Control, GameHandle};
use anyhow::Context;
use canopy_shared::{ErrorBody, ErrorCode, PlayerId};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::oneshot;

/// The subject shard `shard` answers reads on.
fn subject(shard: u64) -> String {
    format!("canopy.views.{shard}")
}

/// The subject shard `shard` hears other shards' changed players on.
fn changes_subject(shard: u64) -> String {
    format!("canopy.changes.{shard}")
}

/// What `canopy.changes.<shard>` carries.
#[derive(Serialize, Deserialize)]
struct Changes {
    stealable: Vec<PlayerId>,
    forests: Vec<PlayerId>,
}

/// Tells `to_shard` that these players of this shard changed, in a task of its own.
pub fn tell(
    client: async_nats::Client,
    to_shard: u64,
    stealable: Vec<PlayerId>,
    forests: Vec<PlayerId>,
) {
    let payload =
        serde_json::to_vec(&Changes { stealable, forests }).expect("player ids serialize");
    tokio::spawn(async move {
        if let Err(err) = client
            .publish(changes_subject(to_shard), payload.into())
            .await
        {
            tracing::debug!(%err, to_shard, "changed players could not be told");
        }
    });
}

/// Hands the game every change of other shards' players it hears, until the connection
/// closes.
pub async fn listen(
    client: async_nats::Client,
    shard: u64,
    game: GameHandle,
) -> anyhow::Result<()> {
    let mut changes = client
        .subscribe(changes_subject(shard))
        .await
        .context("subscribing to other shards' changes")?;
    while let Some(message) = changes.next().await {
        let Ok(Changes { stealable, forests }) = serde_json::from_slice(&message.payload) else {
            tracing::warn!(subject = %message.subject, "dropping changes that are not Canopy's");
            continue;
        };
        let delivery = Delivery::Changed { stealable, forests };
        let (applied, _) = oneshot::channel();
        if game
            .control(Control::Remote(Box::new(delivery), applied))
            .is_err()
        {
            break;
        }
    }
    Ok(())
}

/// Answers other shards' reads of this shard's players until the connection closes.
pub async fn answer(
    client: async_nats::Client,
    shard: u64,
    game: GameHandle,
) -> anyhow::Result<()> {
    let mut queries = client
        .subscribe(subject(shard))
        .await
        .context("subscribing to view queries")?;
    while let Some(query) = queries.next().await {
        let Some(reply) = query.reply else { continue };
        let (client, game) = (client.clone(), game.clone());
        tokio::spawn(async move {
            let answer = match serde_json::from_slice::<ViewQuery>(&query.payload) {
                Ok(view) => read(&game, view).await,
                Err(err) => Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("not a view query: {err}"),
                )),
            };
            if let Err(err) = client.publish(reply, wire(answer).into()).await {
                tracing::warn!(%err, "a view could not be sent back");
            }
        });
    }
    Ok(())
}

/// Has the game read a view; its JSON, or the refusal.
async fn read(game: &GameHandle, view: ViewQuery) -> AdminAnswer {
    let stopping = || ErrorBody::new(ErrorCode::ShuttingDown, "the shard is stopping");
    let (answer, answered) = oneshot::channel();
    game.control(Control::View(Box::new(view), answer))
        .map_err(|_| stopping())?;
    answered.await.map_err(|_| stopping())?
}

/// An answer as it travels: the JSON of `Result<ViewAnswer, ErrorBody>`, built around
/// the view's JSON as the game wrote it.
fn wire(answer: AdminAnswer) -> String {
    match answer {
        Ok(view) => format!("{{\"Ok\":{view}}}"),
        Err(refusal) => {
            serde_json::to_string(&Err::<(), _>(refusal)).expect("an error body serializes to JSON")
        }
    }
}

/// Asks `to_shard` for `view` and hands the game its answer as [`Delivery::Answered`],
/// in a task of its own.
pub fn ask(
    client: async_nats::Client,
    game: GameHandle,
    timeout: Duration,
    (query, to_shard, view): (u64, u64, ViewQuery),
) {
    tokio::spawn(async move {
        let answer = request(&client, timeout, to_shard, &view).await;
        let delivery = Delivery::Answered { query, answer };
        let (applied, _) = oneshot::channel();
        if game
            .control(Control::Remote(Box::new(delivery), applied))
            .is_err()
        {
            tracing::debug!(query, "a view's answer came after the game stopped");
        }
    });
}

async fn request(
    client: &async_nats::Client,
    timeout: Duration,
    to_shard: u64,
    view: &ViewQuery,
) -> Result<ViewAnswer, ErrorBody> {
    let payload = serde_json::to_vec(view).expect("view queries serialize to JSON");
    let unanswered = |why: String| {
        ErrorBody::new(
            ErrorCode::ShardTimeout,
            format!("the friend's shard {to_shard} {why}; try again"),
        )
    };
    let answer = tokio::time::timeout(timeout, client.request(subject(to_shard), payload.into()))
        .await
        .map_err(|_| unanswered(format!("did not answer in {} ms", timeout.as_millis())))?
        .map_err(|err| unanswered(format!("cannot be asked ({err})")))?;
    serde_json::from_slice::<Result<ViewAnswer, ErrorBody>>(&answer.payload).unwrap_or_else(|err| {
        Err(ErrorBody::new(
            ErrorCode::Internal,
            format!("shard {to_shard} answered a view with something else: {err}"),
        ))
    })
}
