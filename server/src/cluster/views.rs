//! Reads of other shards' players (the `friends` and `friend_balls` views over remote
//! friends) as NATS request/reply on `canopy.views.<shard>`. A read changes nothing, so
//! it is no JetStream message: no outbox, no inbox, no retry. The owner's shard answers
//! from its game (a command of its game loop, answered after that batch); the asking
//! shard hands the answer, or `SHARD_TIMEOUT` when none came within
//! `cluster.remote_timeout_ms`, to its own game.

use crate::game::remote::Delivery;
use crate::game::remote_views::{ViewAnswer, ViewQuery};
use crate::game_loop::{AdminAnswer, Control, GameHandle};
use anyhow::Context;
use canopy_shared::{ErrorBody, ErrorCode};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::oneshot;

/// The subject shard `shard` answers reads on.
fn subject(shard: u64) -> String {
    format!("canopy.views.{shard}")
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
