//! `register` limits that hold across shards: each source's allowance (the same token
//! bucket and daily count a server keeps alone, `net::registrations`) lives in a
//! replicated JetStream KV bucket and is updated by compare-and-set, so a farm that
//! spreads its registrations over every shard gets one allowance, not one per shard.
//!
//! A shard still checks its own table first (a flood from one source is refused without
//! a round trip). When NATS cannot answer, the shard admits on its own table alone and
//! says so in its log: registration keeps working through a NATS outage, limited per
//! shard instead of per cluster (docs/SCALE-OUT.md).

use crate::config::{AccountsConfig, ClusterConfig};
use crate::net::registrations::{Allowance, Refusal, Source, millis};
use anyhow::Context;
use async_nats::jetstream::{self, kv};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The bucket's name.
const BUCKET: &str = "canopy-registrations";
/// An allowance untouched this long is forgotten by the bucket: its day is over and its
/// token bucket full again, so forgetting it changes nothing.
const FORGET_AFTER: Duration = Duration::from_secs(25 * 60 * 60);
/// How many compare-and-set rounds one registration may lose to other shards.
const ATTEMPTS: usize = 16;

/// The cluster-wide allowances.
pub struct SharedRegistrations {
    bucket: kv::Store,
}

impl SharedRegistrations {
    /// Opens the bucket, created (replicated like the shard map) by the first shard.
    pub async fn open(js: &jetstream::Context, config: &ClusterConfig) -> anyhow::Result<Self> {
        let bucket = match js.get_key_value(BUCKET).await {
            Ok(bucket) => bucket,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: BUCKET.to_owned(),
                    description: "Canopy's register allowance per source address".to_owned(),
                    history: 1,
                    max_age: FORGET_AFTER,
                    num_replicas: config.map_replicas,
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .with_context(|| format!("creating the KV bucket {BUCKET}"))?,
        };
        Ok(Self { bucket })
    }

    /// Counts a registration from `source` against its cluster-wide allowance, or says
    /// why it is refused; an `Err` means NATS could not decide.
    pub async fn admit(
        &self,
        source: Source,
        config: &AccountsConfig,
    ) -> anyhow::Result<Result<(), Refusal>> {
        if !config.register_limits {
            return Ok(Ok(()));
        }
        let key = source.key();
        for _ in 0..ATTEMPTS {
            let now = unix_millis();
            let entry = self
                .bucket
                .entry(&key)
                .await
                .context("reading an allowance")?
                .filter(|entry| entry.operation == kv::Operation::Put);
            let mut allowance = match &entry {
                Some(entry) => serde_json::from_slice(&entry.value)
                    .context("a stored allowance is not an allowance")?,
                None => Allowance::fresh(config, now),
            };
            if let Err(refusal) = allowance.admit(config, now) {
                return Ok(Err(refusal));
            }
            let value = serde_json::to_vec(&allowance)?;
            let revision = entry.as_ref().map(|entry| entry.revision);
            match super::write_if_unchanged(&self.bucket, &key, revision, value).await {
                Ok(()) => return Ok(Ok(())),
                Err(err) => tracing::debug!(%err, "another shard changed the allowance; again"),
            }
        }
        anyhow::bail!("lost the allowance to other shards {ATTEMPTS} times")
    }
}

/// Milliseconds since the Unix epoch: the timeline every shard shares.
fn unix_millis() -> u64 {
    millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}
