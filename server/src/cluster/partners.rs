//! Partners in cluster mode. The registry is the cluster's: each partner's record (key
//! digest sealed under the partner secret every shard shares, version, status, scopes)
//! lives in a replicated JetStream KV bucket, written by compare-and-set by whichever
//! shard's ops API registers, rotates, suspends or reactivates it, and adopted by every
//! shard's game, so every shard authenticates the partner's calls alike and a rotation
//! or suspension holds everywhere. A shard whose secret is not the cluster's is refused
//! at start ([`check_secret`]).
//!
//! A partner call may reach any shard. The receiving shard checks its signature, window,
//! nonce and rate; a call about a player (an action, a task completion) is then applied
//! by the player's shard — forwarded over NATS request-reply when it is another — where
//! its `ref` receipt and audit entry are written in the same commit as its effect. Calls
//! about no player (publishing a task, changing its status) are applied where they
//! arrive and published (`cluster::budgets`). See docs/PARTNERS.md.

use super::Partition;
use super::budgets::Budgets;
use super::forwarding;
use crate::config::ClusterConfig;
use crate::game::AdminOp;
use crate::game::partners::{PartnerCall, PartnerRequest};
use crate::game_loop::GameHandle;
use crate::partner_secret::PartnerSecret;
use crate::store::PartnerRecord;
use anyhow::Context;
use async_nats::jetstream::{self, kv};
use canopy_shared::partner::PartnerView;
use canopy_shared::{ErrorBody, ErrorCode, PartnerId};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// The bucket's name.
const BUCKET: &str = "canopy-partners";
/// How many compare-and-set rounds one change may lose to another shard's.
const ATTEMPTS: usize = 16;

/// The key of the cluster's partner secret fingerprint: the first shard's, which every
/// shard after it must match.
const SECRET_FINGERPRINT_KEY: &str = "partner-secret-fingerprint";

/// Why a shard with another partner secret is refused.
const NOT_THE_CLUSTERS_SECRET: &str = "this shard's partner secret is not the cluster's: \
     every shard must start with the same partner secret file (store.partner_secret_file \
     or CANOPY_STORE__PARTNER_SECRET_FILE); copy the one the other shards use \
     (docs/SCALE-OUT.md, \"The partner secret\")";

fn key(partner: PartnerId) -> String {
    format!("partner.{}", partner.0)
}

fn calls_subject(shard: u64) -> String {
    format!("canopy.partner-calls.{shard}")
}

/// Opens the bucket, created by the first shard.
pub async fn open_bucket(
    js: &jetstream::Context,
    config: &ClusterConfig,
) -> anyhow::Result<kv::Store> {
    super::open_shared_bucket(js, config, BUCKET, "Canopy's partner registry").await
}

/// Refuses a shard whose partner secret is not the cluster's, then seals the keys an
/// older version stored plain. The first shard to start publishes its secret's
/// fingerprint; every shard must match it and open every sealed key in the bucket, else
/// every partner call it took would fail. A plain key is sealed by compare-and-set, so
/// shards starting together seal it once.
pub async fn check_secret(bucket: &kv::Store, secret: &PartnerSecret) -> anyhow::Result<()> {
    let mine = secret.fingerprint();
    let deadline = tokio::time::Instant::now() + super::JETSTREAM_PATIENCE;
    let cluster = loop {
        match cluster_fingerprint(bucket, &mine).await {
            Ok(cluster) => break cluster,
            // A bucket just created elects its leader first.
            Err(err) if tokio::time::Instant::now() < deadline => {
                tracing::info!("waiting for the partner registry: {err:#}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err),
        }
    };
    anyhow::ensure!(cluster == mine, NOT_THE_CLUSTERS_SECRET);
    let keys = loop {
        match partner_keys(bucket).await {
            Ok(keys) => break keys,
            // After NATS nodes come back, JetStream answers 503 until it has its leaders.
            Err(err) if tokio::time::Instant::now() < deadline => {
                tracing::info!("waiting for the partner registry: {err:#}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err),
        }
    };
    for key in keys {
        seal_stored(bucket, &key, secret).await?;
    }
    Ok(())
}

/// The partners' keys in the registry.
async fn partner_keys(bucket: &kv::Store) -> anyhow::Result<Vec<String>> {
    let mut keys = bucket
        .keys()
        .await
        .context("listing the partner registry")?;
    let mut partners = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.context("listing the partner registry")?;
        if key.starts_with("partner.") {
            partners.push(key);
        }
    }
    Ok(partners)
}

/// The cluster's partner secret fingerprint: `mine` if this shard is the first.
async fn cluster_fingerprint(bucket: &kv::Store, mine: &str) -> anyhow::Result<String> {
    match bucket
        .create(SECRET_FINGERPRINT_KEY, mine.to_owned().into())
        .await
    {
        Ok(_) => Ok(mine.to_owned()),
        Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
            let stored = bucket
                .get(SECRET_FINGERPRINT_KEY)
                .await
                .context("reading the partner secret's fingerprint")?
                .unwrap_or_default();
            Ok(String::from_utf8_lossy(&stored).into_owned())
        }
        Err(err) => Err(err).context("publishing the partner secret's fingerprint"),
    }
}

/// Seals the record under `key` if it is plain; refuses one `secret` does not open.
async fn seal_stored(bucket: &kv::Store, key: &str, secret: &PartnerSecret) -> anyhow::Result<()> {
    for _ in 0..ATTEMPTS {
        let Some(entry) = bucket
            .entry(key)
            .await
            .with_context(|| format!("reading {key}"))?
            .filter(|entry| entry.operation == kv::Operation::Put)
        else {
            return Ok(());
        };
        let mut record: PartnerRecord = serde_json::from_slice(&entry.value)
            .with_context(|| format!("{key} is not a partner record"))?;
        match secret.seal_if_plain(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(wrong) => anyhow::bail!("{wrong}: {NOT_THE_CLUSTERS_SECRET}"),
        }
        let value = serde_json::to_vec(&record)?;
        if super::write_if_unchanged(bucket, key, Some(entry.revision), value)
            .await
            .is_ok()
        {
            tracing::info!(key, "sealed a partner key an older version stored plain");
            return Ok(());
        }
    }
    anyhow::bail!("{key} kept changing on other shards while it was being sealed")
}

/// A change the ops API makes to a partner.
pub enum Change {
    /// A new key, by its digest: the version goes up by one.
    Rotate([u8; 32]),
    /// Suspend or reactivate.
    Status(canopy_shared::partner::PartnerStatus),
}

/// One shard's side of the partner registry and of partner calls.
pub struct PartnerRegistry {
    bucket: kv::Store,
    secret: PartnerSecret,
    client: async_nats::Client,
    partition: Partition,
    game: GameHandle,
    budgets: Arc<Budgets>,
    forward_timeout: Duration,
}

fn unreachable_registry(err: &anyhow::Error) -> ErrorBody {
    tracing::warn!("the partner registry cannot be reached: {err:#}");
    ErrorBody::new(
        ErrorCode::ShardTimeout,
        format!("the cluster's partner registry cannot be reached ({err:#}); try again"),
    )
}

impl PartnerRegistry {
    /// This shard's side, over the bucket [`open_bucket`] opened.
    pub fn new(
        bucket: kv::Store,
        client: async_nats::Client,
        config: &ClusterConfig,
        secret: PartnerSecret,
        game: GameHandle,
        budgets: Arc<Budgets>,
    ) -> Self {
        Self {
            bucket,
            secret,
            client,
            partition: Partition::from_config(config),
            game,
            budgets,
            forward_timeout: forwarding::timeout(config),
        }
    }

    /// Publishes a partner this shard registered (create-if-absent).
    pub async fn registered(&self, partner: PartnerId) -> Result<(), ErrorBody> {
        let record = self.local_record(partner).await?;
        let published = async {
            let value = serde_json::to_vec(&record)?;
            match self.bucket.create(key(partner), value.into()).await {
                Ok(_) => Ok(()),
                Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
                Err(err) => Err(anyhow::Error::new(err).context("publishing a partner")),
            }
        };
        published.await.map_err(|err| unreachable_registry(&err))
    }

    async fn local_record(&self, partner: PartnerId) -> Result<PartnerRecord, ErrorBody> {
        let text = self.game.ask(AdminOp::PartnerRecord(partner)).await?;
        serde_json::from_str(&text)
            .map_err(|err| ErrorBody::new(ErrorCode::Internal, format!("a partner record: {err}")))
    }

    /// Changes a partner in the registry by compare-and-set, then adopts it here before
    /// answering, so the change holds on this shard from the answer on and on every
    /// other shard as soon as it sees the bucket change.
    pub async fn change(
        &self,
        partner: PartnerId,
        change: Change,
    ) -> Result<PartnerView, ErrorBody> {
        for _ in 0..ATTEMPTS {
            let entry = self
                .bucket
                .entry(key(partner))
                .await
                .map_err(|err| unreachable_registry(&err.into()))?
                .filter(|entry| entry.operation == kv::Operation::Put);
            let (mut record, revision) = match entry {
                Some(entry) => (
                    serde_json::from_slice::<PartnerRecord>(&entry.value).map_err(|err| {
                        ErrorBody::new(ErrorCode::Internal, format!("a stored partner: {err}"))
                    })?,
                    Some(entry.revision),
                ),
                // Registered here before it could be published: this is its first copy.
                None => (self.local_record(partner).await?, None),
            };
            match change {
                Change::Rotate(digest) => {
                    record.key_version += 1;
                    self.secret.seal(&mut record, digest);
                }
                Change::Status(status) => record.status = status,
            }
            let value = serde_json::to_vec(&record)
                .map_err(|err| ErrorBody::new(ErrorCode::Internal, err.to_string()))?;
            if super::write_if_unchanged(&self.bucket, &key(partner), revision, value)
                .await
                .is_ok()
            {
                let answer = self
                    .game
                    .ask(AdminOp::PartnerAdopt(Box::new(record)))
                    .await?;
                return serde_json::from_str(&answer)
                    .map_err(|err| ErrorBody::new(ErrorCode::Internal, err.to_string()));
            }
        }
        Err(ErrorBody::new(
            ErrorCode::Conflict,
            format!("partner {partner} kept changing on other shards; try again"),
        ))
    }

    /// Applies an authenticated partner call: on the player's shard when it names one
    /// (forwarded there if that is another), else here.
    pub async fn call(&self, call: PartnerCall) -> Result<String, ErrorBody> {
        match call.request.player() {
            Some(player) if !self.partition.owns(player) => {
                self.forward(self.partition.owner(player), &call).await
            }
            _ => apply(&self.game, &self.budgets, call).await,
        }
    }

    async fn forward(&self, shard: u64, call: &PartnerCall) -> Result<String, ErrorBody> {
        let to = forwarding::Destination {
            shard,
            subject: calls_subject(shard),
            timeout: self.forward_timeout,
        };
        forwarding::forward(&self.client, to, call, "retry with the same ref").await
    }
}

/// Applies a call on this shard: a completion takes allotments as it needs them; a task
/// this call publishes or changes is published for the other shards.
pub async fn apply(
    game: &GameHandle,
    budgets: &Budgets,
    call: PartnerCall,
) -> Result<String, ErrorBody> {
    match &call.request {
        PartnerRequest::CompleteTask(task, _) => {
            let task = *task;
            budgets
                .run(AdminOp::PartnerCall(Box::new(call)), task)
                .await
        }
        PartnerRequest::CreateTask(_) => {
            let answer = game.ask(AdminOp::PartnerCall(Box::new(call))).await?;
            budgets.publish(&answer).await?;
            Ok(answer)
        }
        PartnerRequest::SetTaskStatus(task, change) => {
            let (task, status) = (*task, change.status);
            let answer = game.ask(AdminOp::PartnerCall(Box::new(call))).await?;
            budgets.publish_status(task, status).await?;
            Ok(answer)
        }
        PartnerRequest::Action(_) => game.ask(AdminOp::PartnerCall(Box::new(call))).await,
    }
}

/// Applies the partner calls other shards forward to this one, each in its own task.
pub async fn serve_forwarded(
    client: async_nats::Client,
    shard: u64,
    game: GameHandle,
    budgets: Arc<Budgets>,
) -> anyhow::Result<()> {
    forwarding::serve(client, calls_subject(shard), move |call: PartnerCall| {
        let (game, budgets) = (game.clone(), budgets.clone());
        async move { apply(&game, &budgets, call).await }
    })
    .await
}

/// Adopts every partner of the registry into the game as it appears or changes (first
/// all of them, at start).
pub async fn follow(bucket: kv::Store, game: GameHandle) {
    super::follow_puts(bucket, "partner.*", |value| {
        let game = game.clone();
        async move {
            let record: PartnerRecord =
                serde_json::from_slice(&value).context("not a partner record")?;
            game.ask(AdminOp::PartnerAdopt(Box::new(record)))
                .await
                .map(drop)
                .map_err(|error| anyhow::anyhow!("{error}"))
        }
    })
    .await;
}
