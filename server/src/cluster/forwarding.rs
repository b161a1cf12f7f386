//! Calls about a player, applied on the player's shard. Ops ports take calls about any
//! player (a partner's action or task completion, an ops task completion), while a
//! player's state lives on one shard: the receiving shard forwards such a call over NATS
//! request-reply to the player's shard, which applies it as on one server and sends the
//! answer back. The shard map holds game sockets, not ops URLs, and an HTTP client
//! should not have to follow shards, so calls are forwarded rather than redirected.

use crate::config::ClusterConfig;
use anyhow::Context;
use canopy_shared::{ErrorBody, ErrorCode};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// How long a forwarded call may take on the player's shard, refills of a task's
/// allotment included, before the caller is told `SHARD_TIMEOUT`, unless the cluster's
/// `remote_timeout_ms` is longer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(15);

/// How long this shard waits for a forwarded call's answer.
pub fn timeout(config: &ClusterConfig) -> Duration {
    FORWARD_TIMEOUT.max(Duration::from_millis(config.remote_timeout_ms))
}

/// A forwarded call's answer, as the player's shard sends it back.
#[derive(Serialize, Deserialize)]
enum Answer {
    Ok(String),
    Refused(ErrorCode, String),
}

/// Where a call goes and how long its answer is waited for.
pub struct Destination {
    /// The player's shard.
    pub shard: u64,
    /// Its subject for calls of this kind.
    pub subject: String,
    /// See [`timeout`].
    pub timeout: Duration,
}

/// Sends `call` to its destination and returns its answer. When the shard does not
/// answer in time the caller gets `SHARD_TIMEOUT`, its message ending with `retry`
/// (what the caller may do about a call that may still be applied).
pub async fn forward(
    client: &async_nats::Client,
    to: Destination,
    call: &impl Serialize,
    retry: &str,
) -> Result<String, ErrorBody> {
    let Destination {
        shard,
        subject,
        timeout,
    } = to;
    let payload = serde_json::to_vec(call)
        .map_err(|err| ErrorBody::new(ErrorCode::Internal, err.to_string()))?;
    let timed_out = || {
        ErrorBody::new(
            ErrorCode::ShardTimeout,
            format!("shard {shard}, the player's, did not answer; {retry}"),
        )
    };
    let reply = tokio::time::timeout(timeout, client.request(subject, payload.into()))
        .await
        .map_err(|_| timed_out())?
        .map_err(|err| {
            tracing::warn!(%err, shard, "a call could not be forwarded");
            timed_out()
        })?;
    match serde_json::from_slice::<Answer>(&reply.payload) {
        Ok(Answer::Ok(text)) => Ok(text),
        Ok(Answer::Refused(code, message)) => Err(ErrorBody::new(code, message)),
        Err(err) => Err(ErrorBody::new(
            ErrorCode::Internal,
            format!("shard {shard} answered something else: {err}"),
        )),
    }
}

/// Applies every call other shards forward on `subject`, each in its own task, with
/// `apply`, until the connection closes.
pub async fn serve<Call, Apply, Applied>(
    client: async_nats::Client,
    subject: String,
    apply: Apply,
) -> anyhow::Result<()>
where
    Call: DeserializeOwned + Send + 'static,
    Apply: Fn(Call) -> Applied + Clone + Send + 'static,
    Applied: Future<Output = Result<String, ErrorBody>> + Send + 'static,
{
    let mut calls = client
        .subscribe(subject.clone())
        .await
        .with_context(|| format!("subscribing to {subject}"))?;
    while let Some(message) = calls.next().await {
        let Some(reply) = message.reply else { continue };
        let (client, apply) = (client.clone(), apply.clone());
        tokio::spawn(async move {
            let answer = match serde_json::from_slice::<Call>(&message.payload) {
                Ok(call) => apply(call).await,
                Err(err) => Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("not a forwarded call: {err}"),
                )),
            };
            let answer = match answer {
                Ok(text) => Answer::Ok(text),
                Err(error) => Answer::Refused(error.code, error.message),
            };
            let Ok(body) = serde_json::to_vec(&answer) else {
                return;
            };
            if let Err(err) = client.publish(reply, body.into()).await {
                tracing::warn!(%err, "a forwarded call's answer could not be sent");
            }
        });
    }
    Ok(())
}
