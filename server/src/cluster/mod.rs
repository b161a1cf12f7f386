//! Cluster mode: the only part of the server that talks to NATS. It joins the shard map
//! in JetStream KV, follows its changes, routes logins that belong to another shard,
//! relays the game's messages to and from other shards, and answers and gathers the
//! cluster-wide audit and the cluster's risk review queue and graph analysis. The game never sees any of it: ids and tokens come from the pure
//! [`Partition`], messages are records of its batches and deliveries into it.
//! Off by default (`[cluster] enabled = false`); see docs/SCALE-OUT.md.

pub mod audit;
pub mod budgets;
pub mod campaigns;
pub mod forwarding;
pub mod ops_completions;
pub mod partition;
pub mod partners;
pub mod registrations;
pub mod relay;
pub mod risk;
pub mod routing;
pub mod shard_map;
pub mod views;

pub use audit::ClusterAuditor;
pub use budgets::Budgets;
pub use ops_completions::OpsCompletions;
pub use partition::Partition;
pub use partners::PartnerRegistry;
pub use registrations::SharedRegistrations;
pub use risk::ClusterRisk;
pub use routing::Router;
pub use shard_map::{JoinRefused, ShardMap};

use crate::config::ClusterConfig;
use crate::partner_secret::PartnerSecret;
use anyhow::Context;
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long one attempt to connect to a NATS server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a starting shard waits for NATS and JetStream to be available before it
/// refuses to start.
const JETSTREAM_PATIENCE: Duration = Duration::from_secs(60);
/// How many compare-and-set rounds a join may lose to other shards before giving up.
const JOIN_ATTEMPTS: usize = 20;
/// Versions of the map the bucket keeps, for operators reading its history.
const MAP_HISTORY: i64 = 16;

/// A shard's membership in the cluster; dropping it stops following the map, relaying
/// and answering audits.
pub struct Cluster {
    /// Routing by the current shard map.
    pub router: Router,
    /// The `register` allowances every shard shares.
    pub registrations: Arc<SharedRegistrations>,
    client: async_nats::Client,
    config: ClusterConfig,
    /// The task definitions and budget ledgers (`cluster::budgets`).
    budget_bucket: kv::Store,
    /// The partner registry (`cluster::partners`).
    partner_bucket: kv::Store,
    /// What seals the registry's keys, the same on every shard.
    partner_secret: PartnerSecret,
    /// Set by [`Cluster::serve`].
    services: Option<Services>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What the ops side uses of the cluster once the game runs.
#[derive(Clone)]
pub struct Services {
    /// Task and campaign budgets across the shards.
    pub budgets: Arc<Budgets>,
    /// The partner registry and the routing of partner calls.
    pub partners: Arc<PartnerRegistry>,
    /// Ops confirmations of task completions, applied on the player's shard.
    pub completions: Arc<OpsCompletions>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Cluster {
    /// Starts relaying the game's messages (first every message still unconfirmed from
    /// before a restart, then each batch's `dispatches`) and answering other shards'
    /// reads of this shard's players and audit queries.
    pub fn serve(
        &mut self,
        game: crate::game_loop::GameHandle,
        store: std::sync::Arc<dyn crate::store::Store>,
        unconfirmed: Vec<crate::store::outbox::Envelope>,
        dispatches: tokio::sync::mpsc::UnboundedReceiver<crate::game::remote::Dispatch>,
    ) {
        let shard = self.config.shard;
        let relay = relay::run(
            self.client.clone(),
            shard,
            self.config.map_replicas,
            Duration::from_millis(self.config.remote_timeout_ms),
            game.clone(),
            unconfirmed,
            dispatches,
        );
        self.tasks.push(tokio::spawn(relay));
        let views = views::answer(self.client.clone(), shard, game.clone());
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = views.await {
                tracing::error!("view queries are not answered: {err:#}");
            }
        }));
        let changes = views::listen(self.client.clone(), shard, game.clone());
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = changes.await {
                tracing::error!("other shards' changes are not heard: {err:#}");
            }
        }));
        let answers = audit::answer(self.client.clone(), shard, game.clone(), store);
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = answers.await {
                tracing::error!("audit queries are not answered: {err:#}");
            }
        }));
        let budgets = Arc::new(Budgets::new(
            self.budget_bucket.clone(),
            &self.config,
            game.clone(),
        ));
        let partners = Arc::new(PartnerRegistry::new(
            self.partner_bucket.clone(),
            self.client.clone(),
            &self.config,
            self.partner_secret.clone(),
            game.clone(),
            budgets.clone(),
        ));
        self.tasks.push(tokio::spawn(partners::follow(
            self.partner_bucket.clone(),
            game.clone(),
        )));
        self.tasks
            .push(tokio::spawn(budgets::follow(budgets.clone())));
        self.tasks.push(tokio::spawn(campaigns::keep_topped_up(
            budgets.clone(),
            game.clone(),
            shard == 0,
        )));
        let forwarded =
            partners::serve_forwarded(self.client.clone(), shard, game, budgets.clone());
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = forwarded.await {
                tracing::error!("forwarded partner calls are not served: {err:#}");
            }
        }));
        let forwarded = ops_completions::serve(self.client.clone(), shard, budgets.clone());
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = forwarded.await {
                tracing::error!("forwarded ops task completions are not served: {err:#}");
            }
        }));
        let completions = Arc::new(OpsCompletions::new(
            self.client.clone(),
            &self.config,
            budgets.clone(),
        ));
        self.services = Some(Services {
            budgets,
            partners,
            completions,
        });
    }

    /// Task budgets and partner calls across the shards, once [`Cluster::serve`] ran.
    pub fn services(&self) -> Option<Services> {
        self.services.clone()
    }

    /// Answers the other shards' questions to this shard's risk engine: its flags, a
    /// review of one of them, its flow window, a cluster analysis's report.
    pub fn serve_risk(
        &mut self,
        game: crate::game_loop::GameHandle,
        flows: crate::game::risk::flows::FlowSink,
        graph: crate::risk_graph::GraphHandle,
    ) {
        let answerer = risk::Answerer {
            client: self.client.clone(),
            shard: self.config.shard,
            game,
            flows,
            graph,
        };
        self.tasks.push(tokio::spawn(async move {
            if let Err(err) = answerer.run().await {
                tracing::error!("risk queries are not answered: {err:#}");
            }
        }));
    }

    /// The cluster's review queue and graph analysis, from this shard.
    pub fn risk(&self) -> ClusterRisk {
        ClusterRisk::new(self.client.clone(), Partition::from_config(&self.config))
    }

    /// The cluster-wide audit, from this shard.
    pub fn auditor(&self) -> ClusterAuditor {
        ClusterAuditor::new(
            self.client.clone(),
            self.config.shards,
            self.budget_bucket.clone(),
        )
    }
}

/// Connects to NATS, writes this shard's game socket into the shard map (refused if the
/// map partitions players differently, or if `partner_secret` is not the cluster's), and
/// follows the map from then on.
pub async fn join(
    config: &ClusterConfig,
    partner_secret: &PartnerSecret,
) -> anyhow::Result<Cluster> {
    let partition = Partition::from_config(config);
    let client = async_nats::ConnectOptions::new()
        .name(format!("canopy-shard-{}", partition.shard))
        .connection_timeout(CONNECT_TIMEOUT)
        // NATS nodes starting alongside the shards may not listen yet; the first
        // JetStream call waits for the connection (see `open_bucket`).
        .retry_on_initial_connect()
        .connect(config.nats_urls.as_slice())
        .await
        .with_context(|| format!("connecting to NATS at {:?}", config.nats_urls))?;
    let js = jetstream::new(client.clone());
    let (bucket, map) = enter(&js, config, partition).await?;
    let registrations = SharedRegistrations::open(&js, config).await?;
    let budget_bucket = budgets::open_bucket(&js, config).await?;
    let partner_bucket = partners::open_bucket(&js, config).await?;
    partners::check_secret(&partner_bucket, partner_secret).await?;
    tracing::info!(
        shard = partition.shard,
        shards = partition.shards,
        epoch = map.epoch,
        "joined the cluster"
    );
    let (map_tx, map_rx) = watch::channel(map);
    let follower = tokio::spawn(follow(bucket, map_tx));
    Ok(Cluster {
        router: Router::new(partition, map_rx),
        registrations: Arc::new(registrations),
        client,
        config: config.clone(),
        budget_bucket,
        partner_bucket,
        partner_secret: partner_secret.clone(),
        services: None,
        tasks: vec![follower],
    })
}

/// Opens the shard map's bucket and claims this shard's place in the map. A NATS cluster
/// that has just started elects its JetStream leader first: until it has one, or for as
/// long as it lacks a quorum, this retries (up to [`JETSTREAM_PATIENCE`]); a refusal by
/// the map is final.
async fn enter(
    js: &jetstream::Context,
    config: &ClusterConfig,
    partition: Partition,
) -> anyhow::Result<(kv::Store, ShardMap)> {
    let deadline = tokio::time::Instant::now() + JETSTREAM_PATIENCE;
    loop {
        let attempt = async {
            let bucket = get_or_create_bucket(js, config).await?;
            let map = claim_place(&bucket, partition, &config.advertise_url).await?;
            anyhow::Ok((bucket, map))
        };
        match attempt.await {
            Ok(entered) => return Ok(entered),
            Err(err)
                if err.downcast_ref::<JoinRefused>().is_none()
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::info!("waiting for JetStream: {err:#}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// The shard map's bucket, created (replicated) by whichever shard comes first.
async fn get_or_create_bucket(
    js: &jetstream::Context,
    config: &ClusterConfig,
) -> anyhow::Result<kv::Store> {
    if let Ok(bucket) = js.get_key_value(&config.map_bucket).await {
        return Ok(bucket);
    }
    js.create_key_value(kv::Config {
        bucket: config.map_bucket.clone(),
        description: "Canopy's shard map".to_owned(),
        history: MAP_HISTORY,
        num_replicas: config.map_replicas,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .with_context(|| format!("creating the KV bucket {}", config.map_bucket))
}

/// Writes this shard's URL into the map by compare-and-set, retrying when another shard
/// changed it in between; returns the map as it stands after.
async fn claim_place(
    bucket: &kv::Store,
    partition: Partition,
    url: &str,
) -> anyhow::Result<ShardMap> {
    for _ in 0..JOIN_ATTEMPTS {
        let entry = bucket
            .entry(shard_map::MAP_KEY)
            .await
            .context("reading the shard map")?;
        let stored = match &entry {
            Some(entry) if entry.operation == kv::Operation::Put => Some(
                serde_json::from_slice::<ShardMap>(&entry.value)
                    .context("the stored shard map is not a shard map")?,
            ),
            _ => None,
        };
        let Some(next) = ShardMap::joined(stored.as_ref(), partition, url)? else {
            return Ok(stored.unwrap_or_default());
        };
        let value = serde_json::to_vec(&next)?;
        let revision = entry.as_ref().map(|entry| entry.revision);
        match write_if_unchanged(bucket, shard_map::MAP_KEY, revision, value).await {
            Ok(()) => return Ok(next),
            Err(err) => tracing::debug!(%err, "the shard map changed meanwhile; reading it again"),
        }
    }
    anyhow::bail!("could not write the shard map in {JOIN_ATTEMPTS} attempts")
}

/// Writes `value` under `key` if the key is still at `revision` (still absent when
/// `None`): the compare-and-set every shared record of the cluster is changed by.
async fn write_if_unchanged(
    bucket: &kv::Store,
    key: &str,
    revision: Option<u64>,
    value: Vec<u8>,
) -> anyhow::Result<()> {
    match revision {
        Some(revision) => bucket.update(key, value.into(), revision).await.map(drop)?,
        None => bucket.create(key, value.into()).await.map(drop)?,
    }
    Ok(())
}

/// Opens a bucket of records every shard shares (task budgets, partners), created
/// (replicated like the shard map, one value per key) by the first shard.
async fn open_shared_bucket(
    js: &jetstream::Context,
    config: &ClusterConfig,
    name: &str,
    description: &str,
) -> anyhow::Result<kv::Store> {
    if let Ok(bucket) = js.get_key_value(name).await {
        return Ok(bucket);
    }
    js.create_key_value(kv::Config {
        bucket: name.to_owned(),
        description: description.to_owned(),
        history: 1,
        num_replicas: config.map_replicas,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .with_context(|| format!("creating the KV bucket {name}"))
}

/// Hands `adopt` the value of every put under `keys` (a KV key pattern): first each
/// key's newest value, then every change, for as long as the shard runs (a watch that
/// ends is reopened). A value `adopt` refuses is logged and skipped.
async fn follow_puts<F, Adopted>(bucket: kv::Store, keys: &str, mut adopt: F)
where
    F: FnMut(Vec<u8>) -> Adopted,
    Adopted: Future<Output = anyhow::Result<()>>,
{
    loop {
        match bucket.watch_with_history(keys).await {
            Ok(mut changes) => {
                while let Some(change) = changes.next().await {
                    let Ok(entry) = change else { break };
                    if entry.operation != kv::Operation::Put {
                        continue;
                    }
                    if let Err(err) = adopt(entry.value.to_vec()).await {
                        tracing::error!("{keys} of {}: not adopted: {err:#}", bucket.name);
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "cannot watch {keys} of {}; retrying", bucket.name),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Keeps `map` at the newest version in the bucket (a watch resumes by itself across
/// NATS reconnects; a stream that ends is reopened).
async fn follow(bucket: kv::Store, map: watch::Sender<ShardMap>) {
    loop {
        match bucket.watch_with_history(shard_map::MAP_KEY).await {
            Ok(mut changes) => {
                while let Some(change) = changes.next().await {
                    let Ok(entry) = change else { break };
                    match serde_json::from_slice::<ShardMap>(&entry.value) {
                        Ok(next) if next.epoch > map.borrow().epoch => {
                            tracing::info!(epoch = next.epoch, "the shard map changed");
                            map.send_replace(next);
                        }
                        Ok(_) => {}
                        Err(err) => tracing::error!(%err, "ignoring a malformed shard map"),
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "cannot watch the shard map; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
