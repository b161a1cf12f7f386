//! The cluster-wide audit: every shard answers audit queries on its own NATS subject,
//! and any shard can gather them. Each shard's own identity counts the grams it sent to
//! and received from other shards; over the cluster, what was sent and has not arrived
//! must be exactly the grams of the messages still in flight (sent, not yet applied by
//! their receiver), and every gram ever created must be held somewhere or in flight.

use super::budgets::{self, Budgeted, Ledger};
use crate::game::AdminOp;
use crate::game_loop::{Control, GameHandle};
use crate::store::Store;
use crate::store::outbox::MessageKey;
use anyhow::Context;
use async_nats::jetstream::kv;
use canopy_shared::admin::{AuditReport, BudgetSplit, ClusterAuditReport, OpenTransfer};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a shard may take to answer one audit query.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Reads of every shard tried before the audit says no consistent cut was found: a
/// transfer that completes between the reads of its two shards makes a read
/// inconsistent, and the next is taken.
const MAX_ROUNDS: u32 = 20;

/// A question to one shard.
#[derive(Serialize, Deserialize)]
enum Query {
    /// Its own audit.
    Report,
    /// Which of these messages (keys as text) it has applied.
    Applied(Vec<String>),
}

fn subject(shard: u64) -> String {
    format!("canopy.audit.{shard}")
}

/// Answers this shard's audit queries until the connection closes.
pub async fn answer(
    client: async_nats::Client,
    shard: u64,
    game: GameHandle,
    store: Arc<dyn Store>,
) -> anyhow::Result<()> {
    let mut queries = client
        .subscribe(subject(shard))
        .await
        .context("subscribing to audit queries")?;
    while let Some(query) = queries.next().await {
        let Some(reply) = query.reply else { continue };
        let answer = match serde_json::from_slice::<Query>(&query.payload) {
            Ok(Query::Report) => report(&game).await,
            Ok(Query::Applied(keys)) => applied(&store, keys).await,
            Err(err) => Err(anyhow::anyhow!("not an audit query: {err}")),
        };
        let body = match answer {
            Ok(body) => body,
            Err(err) => serde_json::json!({ "error": format!("{err:#}") }).to_string(),
        };
        if let Err(err) = client.publish(reply, body.into()).await {
            tracing::warn!(%err, "an audit answer could not be sent");
        }
    }
    Ok(())
}

async fn report(game: &GameHandle) -> anyhow::Result<String> {
    let (answer, answered) = oneshot::channel();
    game.control(Control::Admin(AdminOp::Audit, answer))
        .map_err(|_| anyhow::anyhow!("the server is stopping"))?;
    answered
        .await
        .context("the server is stopping")?
        .map_err(|error| anyhow::anyhow!("{error}"))
}

async fn applied(store: &Arc<dyn Store>, keys: Vec<String>) -> anyhow::Result<String> {
    let store = store.clone();
    let found = tokio::task::spawn_blocking(move || {
        keys.iter()
            .map(|text| {
                let key: MessageKey = text.parse().map_err(anyhow::Error::msg)?;
                Ok(store.applied(key)?)
            })
            .collect::<anyhow::Result<Vec<bool>>>()
    })
    .await
    .context("the inbox lookup panicked")??;
    Ok(serde_json::to_string(&found)?)
}

/// Gathers every shard's audit into one.
#[derive(Clone)]
pub struct ClusterAuditor {
    client: async_nats::Client,
    shards: u64,
    budgets: kv::Store,
}

impl ClusterAuditor {
    /// An auditor over `shards` shards and the task budgets' ledgers in `budgets`.
    pub fn new(client: async_nats::Client, shards: u64, budgets: kv::Store) -> Self {
        Self {
            client,
            shards,
            budgets,
        }
    }

    async fn ask<T: for<'de> Deserialize<'de>>(
        &self,
        shard: u64,
        query: &Query,
    ) -> anyhow::Result<T> {
        let payload = serde_json::to_vec(query)?;
        let answer = tokio::time::timeout(
            ANSWER_TIMEOUT,
            self.client.request(subject(shard), payload.into()),
        )
        .await
        .with_context(|| format!("shard {shard} did not answer the audit in time"))?
        .with_context(|| format!("shard {shard} cannot be asked (is it running?)"))?;
        let value: serde_json::Value = serde_json::from_slice(&answer.payload)?;
        if let Some(error) = value.get("error") {
            anyhow::bail!("shard {shard}: {error}");
        }
        Ok(serde_json::from_value(value)?)
    }

    /// Reads every shard until one read is a consistent cut (every gram sent and not
    /// arrived is in a message not yet applied), and checks the identities over it.
    pub async fn audit(&self) -> anyhow::Result<ClusterAuditReport> {
        let mut last = None;
        for round in 1..=MAX_ROUNDS {
            let read = self.read().await?;
            if read.consistent() {
                return Ok(read.report(round));
            }
            last = Some(read);
        }
        let read = last.context("no read of the shards")?;
        let problem = format!(
            "no consistent cut in {MAX_ROUNDS} reads: sent − arrived = {} g and {} props but \
             {} g and {} props are in messages not yet applied",
            read.sent_not_arrived(),
            read.props_sent_not_arrived(),
            read.in_flight,
            read.props_in_flight
        );
        let mut report = read.report(MAX_ROUNDS);
        report.balanced = false;
        report.problems.push(problem);
        Ok(report)
    }

    /// Every shard's audit, then, for the messages carrying grams that are open, whether
    /// their receivers applied them, then the task budgets' ledgers (after the shards:
    /// an allotment taken in between only looks stranded, never overspent).
    async fn read(&self) -> anyhow::Result<Read> {
        let mut shards = Vec::new();
        for shard in 0..self.shards {
            shards.push(self.ask::<AuditReport>(shard, &Query::Report).await?);
        }
        let mut by_receiver: BTreeMap<u64, Vec<&OpenTransfer>> = BTreeMap::new();
        for open in shards.iter().flat_map(|report| &report.open_transfers) {
            by_receiver.entry(open.to_shard).or_default().push(open);
        }
        let (mut in_flight, mut props_in_flight, mut messages) = (0u64, 0u64, 0u64);
        for (receiver, open) in by_receiver {
            let keys = open.iter().map(|open| open.message.clone()).collect();
            let applied: Vec<bool> = self.ask(receiver, &Query::Applied(keys)).await?;
            for (open, applied) in open.iter().zip(applied) {
                if !applied {
                    in_flight += open.grams;
                    props_in_flight += open.props;
                    messages += 1;
                }
            }
        }
        let ledgers = budgets::ledgers(&self.budgets).await?;
        Ok(Read {
            shards,
            in_flight,
            props_in_flight,
            messages,
            ledgers,
        })
    }
}

/// One read of every shard.
struct Read {
    shards: Vec<AuditReport>,
    in_flight: u64,
    props_in_flight: u64,
    messages: u64,
    ledgers: BTreeMap<Budgeted, Ledger>,
}

impl Read {
    fn sent_not_arrived(&self) -> i128 {
        self.shards
            .iter()
            .map(|shard| i128::from(shard.sent_to_shards) - i128::from(shard.arrived_from_shards))
            .sum()
    }

    fn props_sent_not_arrived(&self) -> i128 {
        self.shards
            .iter()
            .map(|shard| {
                i128::from(shard.props_sent_to_shards) - i128::from(shard.props_arrived_from_shards)
            })
            .sum()
    }

    /// Whether every gram and every prop sent and not arrived is in a message not yet
    /// applied.
    fn consistent(&self) -> bool {
        self.sent_not_arrived() == i128::from(self.in_flight)
            && self.props_sent_not_arrived() == i128::from(self.props_in_flight)
    }

    fn report(self, rounds: u32) -> ClusterAuditReport {
        let created = self
            .shards
            .iter()
            .map(|shard| shard.created + shard.rained)
            .sum::<u64>();
        let accounted = self
            .shards
            .iter()
            .map(|shard| {
                shard.balances
                    + shard.in_balls
                    + shard.in_team_trees
                    + shard.planted
                    + shard.expired.saturating_sub(shard.revived)
                    + shard.held
                    + shard.forfeited
            })
            .sum::<u64>();
        let mut problems: Vec<String> = self
            .shards
            .iter()
            .enumerate()
            .flat_map(|(index, shard)| {
                shard
                    .problems
                    .iter()
                    .map(move |problem| format!("shard {index}: {problem}"))
            })
            .collect();
        for (budgeted, ledger) in &self.ledgers {
            if !ledger.balanced() {
                problems.push(format!(
                    "{budgeted}'s ledger: budget {} ≠ unallotted {} + allotted {}",
                    ledger.budget,
                    ledger.unallotted,
                    ledger.allotted.values().sum::<u64>()
                ));
            }
        }
        let task_grams = self.split(
            |budgeted, ledger| matches!(budgeted, Budgeted::Task(_)) && !ledger.props,
            |shard| shard.task_budgets,
        );
        let task_props = self.split(
            |budgeted, ledger| matches!(budgeted, Budgeted::Task(_)) && ledger.props,
            |shard| shard.task_prop_budgets,
        );
        let campaign_grams = self.split(
            |budgeted, _| matches!(budgeted, Budgeted::Campaign(_)),
            |shard| shard.campaign_budgets,
        );
        for (split, what) in [
            (&task_grams, "g of task budgets"),
            (&task_props, "props of task budgets"),
            (&campaign_grams, "g of campaign budgets"),
        ] {
            if split.on_shards > split.allotted {
                problems.push(format!(
                    "the shards hold {} {what}, more than the {} allotted to them",
                    split.on_shards, split.allotted
                ));
            }
        }
        if created != accounted + self.in_flight {
            problems.push(format!(
                "created {created} g ≠ held on the shards {accounted} g + in flight {} g",
                self.in_flight
            ));
        }
        ClusterAuditReport {
            balanced: problems.is_empty(),
            created,
            accounted,
            in_flight: self.in_flight,
            transfers_in_flight: self.messages,
            props_in_flight: self.props_in_flight,
            rounds,
            problems,
            shards: self.shards,
            task_grams,
            task_props,
            campaign_grams,
        }
    }

    /// The ledgers of one kind and unit against what the shards hold of them.
    fn split(
        &self,
        of_kind: impl Fn(&Budgeted, &Ledger) -> bool,
        held: impl Fn(&AuditReport) -> u64,
    ) -> BudgetSplit {
        let ledgers = self
            .ledgers
            .iter()
            .filter(|(budgeted, ledger)| of_kind(budgeted, ledger))
            .map(|(_, ledger)| ledger);
        let (mut budget, mut unallotted, mut allotted) = (0, 0, 0);
        for ledger in ledgers {
            budget += ledger.budget;
            unallotted += ledger.unallotted;
            allotted += ledger.allotted.values().sum::<u64>();
        }
        let on_shards = self.shards.iter().map(held).sum::<u64>();
        BudgetSplit {
            budget,
            unallotted,
            allotted,
            on_shards,
            stranded: allotted.saturating_sub(on_shards),
        }
    }
}
