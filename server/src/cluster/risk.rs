//! The risk engine over the whole cluster: one review queue and one graph analysis.
//! Flags live on their player's shard and flag ids are numbered like player ids, so
//! any shard knows which shard holds a flag: it lists every shard's flags by asking
//! each over NATS, and forwards a release or confirm to the flag's shard. A graph
//! analysis started on any shard gathers every shard's flow window (summed per giver
//! → receiver pair) over NATS, runs on the analysing shard, and sends its report to
//! every shard, which keeps it as its latest and raises the flags of its own players.

use super::Partition;
use crate::game::AdminOp;
use crate::game::risk::flows::FlowSink;
use crate::game_loop::{Control, GameHandle};
use crate::risk_graph::{self, GraphHandle, PairFlow};
use anyhow::Context;
use canopy_shared::risk::{FlagList, FlagQuery, FlagStatus, GraphReport, RiskFlag};
use canopy_shared::{ErrorBody, ErrorCode, FlagId};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a shard may take to answer one query (or send one part of an answer).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of items per part of a long answer: well under NATS's 1 MB default payload.
const PART_BYTES: usize = 256 * 1024;

fn subject(shard: u64) -> String {
    format!("canopy.risk.{shard}")
}

/// A question to one shard's risk engine.
#[derive(Serialize, Deserialize)]
enum Query {
    /// Its flags matching the query (answered in parts).
    Flags(FlagQuery),
    /// Release or confirm one of its flags.
    Review(FlagId, FlagStatus),
    /// Its flow window of the last `window_ms`, summed per pair (answered in parts).
    Flows {
        /// The window, from the analysing shard's config.
        window_ms: u64,
    },
    /// A cluster analysis's report: keep it, raise its flags on this shard's players.
    Report(GraphReport),
}

/// One part of a long answer. `count` says how many records the items stand for (the
/// flows behind a window's pairs; the items themselves otherwise).
#[derive(Serialize, Deserialize)]
struct Part<T> {
    index: usize,
    parts: usize,
    count: u64,
    items: Vec<T>,
    error: Option<String>,
}

/// The cluster's risk engine as one shard reaches it.
#[derive(Clone)]
pub struct ClusterRisk {
    client: async_nats::Client,
    partition: Partition,
}

impl ClusterRisk {
    /// The engine of the cluster `partition` belongs to.
    pub fn new(client: async_nats::Client, partition: Partition) -> Self {
        Self { client, partition }
    }

    /// Whether this shard runs the analysis on its schedule: shard 0 only, so a
    /// cluster analyses once per interval (any shard runs one on demand).
    pub fn analyses_on_schedule(&self) -> bool {
        self.partition.shard == 0
    }

    /// The shard that holds a flag.
    pub fn flag_shard(&self, flag: FlagId) -> u64 {
        self.partition.owner(canopy_shared::PlayerId(flag.0))
    }

    /// Whether a flag is this shard's.
    pub fn owns_flag(&self, flag: FlagId) -> bool {
        self.flag_shard(flag) == self.partition.shard
    }

    /// Every shard's flags matching `query`, by id.
    pub async fn flags(&self, query: &FlagQuery) -> anyhow::Result<FlagList> {
        let mut flags: Vec<RiskFlag> = Vec::new();
        for shard in 0..self.partition.shards {
            let (_, part) = self
                .gather::<RiskFlag>(shard, &Query::Flags(query.clone()))
                .await?;
            flags.extend(part);
        }
        flags.sort_by_key(|flag| flag.id);
        Ok(FlagList { flags })
    }

    /// Releases or confirms a flag on its shard; the answer is the shard's.
    pub async fn review(&self, flag: FlagId, to: FlagStatus) -> Result<String, ErrorBody> {
        let shard = self.flag_shard(flag);
        let unreachable = |err: anyhow::Error| {
            ErrorBody::new(
                ErrorCode::ShardTimeout,
                format!(
                    "shard {shard}, which holds flag {flag}, did not answer ({err:#}); \
                     a review is idempotent: ask again"
                ),
            )
        };
        let answer = self
            .ask(shard, &Query::Review(flag, to))
            .await
            .map_err(unreachable)?;
        serde_json::from_slice::<Result<String, ErrorBody>>(&answer)
            .map_err(|err| unreachable(err.into()))?
    }

    /// Every shard's flow window of the last `window_ms`: the pairs, and the flows
    /// they sum.
    pub async fn flows(&self, window_ms: u64) -> anyhow::Result<(u64, Vec<PairFlow>)> {
        let (mut count, mut pairs) = (0, Vec::new());
        for shard in 0..self.partition.shards {
            let (flows, part) = self
                .gather::<PairFlow>(shard, &Query::Flows { window_ms })
                .await?;
            count += flows;
            pairs.extend(part);
        }
        Ok((count, pairs))
    }

    /// Sends a cluster analysis's report to every shard (this one too); a shard that
    /// does not answer is named, the others have it.
    pub async fn publish(&self, report: &GraphReport) -> anyhow::Result<()> {
        let query = Query::Report(report.clone());
        let mut missed = Vec::new();
        for shard in 0..self.partition.shards {
            if let Err(err) = self.ask(shard, &query).await {
                missed.push(format!("shard {shard}: {err:#}"));
            }
        }
        anyhow::ensure!(
            missed.is_empty(),
            "the graph report did not reach {}",
            missed.join("; ")
        );
        Ok(())
    }

    async fn ask(&self, shard: u64, query: &Query) -> anyhow::Result<Vec<u8>> {
        let request = async_nats::Request::new()
            .payload(serde_json::to_vec(query)?.into())
            .timeout(Some(ANSWER_TIMEOUT));
        let answer = self
            .client
            .send_request(subject(shard), request)
            .await
            .with_context(|| format!("shard {shard} did not answer in {ANSWER_TIMEOUT:?}"))?;
        Ok(answer.payload.to_vec())
    }

    /// Asks one shard a question answered in parts and reads every part.
    async fn gather<T: DeserializeOwned>(
        &self,
        shard: u64,
        query: &Query,
    ) -> anyhow::Result<(u64, Vec<T>)> {
        let inbox = self.client.new_inbox();
        let mut answers = self.client.subscribe(inbox.clone()).await?;
        self.client
            .publish_with_reply(subject(shard), inbox, serde_json::to_vec(query)?.into())
            .await?;
        let (mut count, mut items, mut seen) = (0, Vec::new(), 0);
        loop {
            let message = tokio::time::timeout(ANSWER_TIMEOUT, answers.next())
                .await
                .with_context(|| format!("shard {shard} did not answer in time"))?
                .context("the NATS connection closed")?;
            let part: Part<T> = serde_json::from_slice(&message.payload)
                .with_context(|| format!("shard {shard} sent a malformed part"))?;
            if let Some(error) = part.error {
                anyhow::bail!("shard {shard}: {error}");
            }
            anyhow::ensure!(
                part.index == seen,
                "shard {shard} sent part {} where {seen} was due",
                part.index
            );
            seen += 1;
            count += part.count;
            items.extend(part.items);
            if seen == part.parts {
                return Ok((count, items));
            }
        }
    }
}

/// What a shard answers risk queries with.
pub struct Answerer {
    /// The shard's NATS connection.
    pub client: async_nats::Client,
    /// Which shard this is.
    pub shard: u64,
    /// The game thread.
    pub game: GameHandle,
    /// The shard's flow window.
    pub flows: FlowSink,
    /// Where the latest graph report is kept.
    pub graph: GraphHandle,
}

impl Answerer {
    /// Answers this shard's risk queries until the connection closes.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut queries = self
            .client
            .subscribe(subject(self.shard))
            .await
            .context("subscribing to risk queries")?;
        while let Some(query) = queries.next().await {
            let Some(reply) = query.reply else { continue };
            let parts = match serde_json::from_slice::<Query>(&query.payload) {
                Ok(query) => self.answer(query).await,
                Err(err) => vec![failed(&format!("not a risk query: {err}"))],
            };
            for part in parts {
                if let Err(err) = self.client.publish(reply.clone(), part.into()).await {
                    tracing::warn!(%err, "a risk answer could not be sent");
                }
            }
        }
        Ok(())
    }

    /// The messages that answer one query.
    async fn answer(&self, query: Query) -> Vec<String> {
        match query {
            Query::Flags(query) => match self.admin(AdminOp::RiskFlags(query)).await {
                Ok(text) => match serde_json::from_str::<FlagList>(&text) {
                    Ok(list) => in_parts(list.flags.len() as u64, &list.flags),
                    Err(err) => vec![failed(&err.to_string())],
                },
                Err(error) => vec![failed(&error.message)],
            },
            Query::Review(flag, to) => {
                let reviewed = self.admin(AdminOp::RiskReview(flag, to)).await;
                vec![serde_json::to_string(&reviewed).expect("a review answer encodes")]
            }
            Query::Flows { window_ms } => {
                let flows = self.flows.clone();
                let pairs = tokio::task::spawn_blocking(move || {
                    let (chunks, since) = flows.snapshot(window_ms);
                    risk_graph::window_pairs(&chunks, since)
                })
                .await;
                match pairs {
                    Ok((count, pairs)) => in_parts(count, &pairs),
                    Err(err) => vec![failed(&format!("summing the flow window failed: {err}"))],
                }
            }
            Query::Report(report) => {
                risk_graph::adopt(&self.graph, &self.game, report).await;
                vec!["{}".to_owned()]
            }
        }
    }

    async fn admin(&self, op: AdminOp) -> Result<String, ErrorBody> {
        let stopping = || ErrorBody::new(ErrorCode::Internal, "the shard is stopping");
        let (answer, answered) = oneshot::channel();
        self.game
            .control(Control::Admin(op, answer))
            .map_err(|_| stopping())?;
        answered.await.map_err(|_| stopping())?
    }
}

/// A failed answer, as its one part.
fn failed(error: &str) -> String {
    let part: Part<()> = Part {
        index: 0,
        parts: 1,
        count: 0,
        items: Vec::new(),
        error: Some(error.to_owned()),
    };
    serde_json::to_string(&part).expect("a part encodes")
}

/// `items` as parts of at most about [`PART_BYTES`] each (one part when empty).
fn in_parts<T: Serialize>(count: u64, items: &[T]) -> Vec<String> {
    let encoded: Vec<String> = items
        .iter()
        .map(|item| serde_json::to_string(item).expect("risk records encode"))
        .collect();
    let mut groups: Vec<Vec<&str>> = vec![Vec::new()];
    let mut bytes = 0;
    for item in &encoded {
        let group = groups.last_mut().expect("one group at least");
        if bytes + item.len() > PART_BYTES && !group.is_empty() {
            groups.push(Vec::new());
            bytes = 0;
        }
        groups
            .last_mut()
            .expect("one group at least")
            .push(item.as_str());
        bytes += item.len() + 1;
    }
    let parts = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(index, group)| {
            let count = if index == 0 { count } else { 0 };
            format!(
                r#"{{"index":{index},"parts":{parts},"count":{count},"items":[{}],"error":null}}"#,
                group.join(",")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_split_into_ordered_parts_that_read_back_whole() {
        let items: Vec<String> = (0..2_000).map(|n| format!("{n:0>300}")).collect();
        let parts = in_parts(7, &items);
        assert!(parts.len() > 1, "600 KB of items take several parts");
        let mut read: Vec<String> = Vec::new();
        let mut count = 0;
        for (index, text) in parts.iter().enumerate() {
            assert!(
                text.len() < 2 * PART_BYTES,
                "part {index}: {} bytes",
                text.len()
            );
            let part: Part<String> = serde_json::from_str(text).expect("a part");
            assert_eq!((part.index, part.parts), (index, parts.len()));
            count += part.count;
            read.extend(part.items);
        }
        assert_eq!((count, read), (7, items));
        let empty: Part<String> =
            serde_json::from_str(&in_parts::<String>(0, &[])[0]).expect("a part");
        assert_eq!((empty.parts, empty.items.len()), (1, 0));
    }
}
