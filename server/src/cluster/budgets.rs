//! Task and campaign budgets across shards: a task's or a campaign's budget is the
//! cluster's, while its players are spread over the shards. Definitions live in a
//! replicated JetStream KV bucket (`task.<id>`, `campaign.<id>`: as their publisher sees
//! them) that every shard adopts into its game; each one's allotment ledger
//! (`ledger.task.<id>`, `ledger.campaign.<id>`) hands the budget out to the shards in
//! chunks, by compare-and-set, so that in every revision
//! `budget = unallotted + Σ allotted[shard]` and no shard ever spends more than it took.
//! One ledger code serves both; only when a shard asks differs (`cluster::campaigns`).
//!
//! A completion is rewarded from the player's shard's allotment in one commit, as on one
//! server. When the allotment cannot cover it the game answers "allotment needed"
//! (`tasks::allotment_needed`, never sent on the wire); [`Budgets::run`] takes a chunk
//! from the ledger, hands the game its new total and sends the call again. The order is
//! compare-and-set first, local record second: a crash in between strands the chunk in
//! `allotted[shard]` without spending it twice, and the next adoption or refill hands
//! the game the absolute total, so the stranded chunk comes back. See docs/PARTNERS.md.

use crate::config::ClusterConfig;
use crate::game::AdminOp;
use crate::game::tasks;
use crate::game_loop::GameHandle;
use anyhow::Context;
use async_nats::jetstream::{self, kv};
use canopy_shared::campaign::{CampaignStatus, CampaignView};
use canopy_shared::task::{TaskStatus, TaskView};
use canopy_shared::{CampaignId, ErrorBody, ErrorCode, TaskId};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

/// The bucket's name.
const BUCKET: &str = "canopy-budgets";
/// How many compare-and-set rounds one change may lose to other shards.
const ATTEMPTS: usize = 32;
/// How many allotments one call may take before it gives up (each covers at least one
/// reward, so only a stream of other shards' refusals could use them all).
const REFILLS_PER_CALL: usize = 16;

/// Where the allotments of one task's budget stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The task's whole budget (grams, or props for a prop reward).
    pub budget: u64,
    /// What one reward costs it: allotments are whole rewards.
    pub unit: u64,
    /// Whether the budget counts props (a prop reward) rather than grams.
    #[serde(default)]
    pub props: bool,
    /// Whether the last allotment is what is left when that is less than a unit (a
    /// campaign, whose last bonus is cut to its budget) rather than never given (a task,
    /// whose rewards are whole).
    #[serde(default)]
    pub cut_last: bool,
    /// Not yet handed to any shard.
    pub unallotted: u64,
    /// Handed to each shard, in all, by shard.
    pub allotted: BTreeMap<u64, u64>,
}

impl Ledger {
    /// A task's ledger before any shard took from it.
    pub fn new(budget: u64, unit: u64, props: bool) -> Self {
        Self {
            budget,
            unit,
            props,
            cut_last: false,
            unallotted: budget,
            allotted: BTreeMap::new(),
        }
    }

    /// The next chunk for one of `shards` shards: half of an even share of what is left
    /// (so a busy shard comes back while idle shards still find budget), never less than
    /// one reward, always whole rewards; 0 when what is left cannot cover a reward (or,
    /// with `cut_last`, the rest when less than a reward is left).
    pub fn chunk(&self, shards: u64) -> u64 {
        let unit = self.unit.max(1);
        let share = self.unallotted / (2 * shards.max(1)) / unit * unit;
        let whole = if self.cut_last {
            self.unallotted
        } else {
            self.unallotted / unit * unit
        };
        share.max(unit).min(whole)
    }

    /// Moves the next chunk to `shard`; returns its new total.
    pub fn allot(&mut self, shard: u64, shards: u64) -> u64 {
        let chunk = self.chunk(shards);
        self.unallotted -= chunk;
        let total = self.allotted.entry(shard).or_insert(0);
        *total += chunk;
        *total
    }

    /// `shard`, closed, keeps only `kept` (what it disbursed): the rest of its allotment
    /// goes back to `unallotted`. Absolute, so doing it again changes nothing; returns
    /// whether it changed the ledger.
    pub fn give_back(&mut self, shard: u64, kept: u64) -> bool {
        let Some(allotted) = self.allotted.get_mut(&shard) else {
            return false;
        };
        if *allotted <= kept {
            return false;
        }
        self.unallotted += *allotted - kept;
        *allotted = kept;
        true
    }

    /// Whether the ledger has nothing more to give.
    pub fn dry(&self) -> bool {
        self.chunk(1) == 0
    }

    /// `budget = unallotted + Σ allotted`.
    pub fn balanced(&self) -> bool {
        u128::from(self.budget)
            == u128::from(self.unallotted)
                + self.allotted.values().map(|&v| u128::from(v)).sum::<u128>()
    }
}

/// What a ledger splits: a task's budget or a campaign's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Budgeted {
    /// A task's budget (grams, or props for a prop reward).
    Task(TaskId),
    /// A campaign's budget of bonus grams.
    Campaign(CampaignId),
}

impl fmt::Display for Budgeted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Task(task) => write!(f, "task {task}"),
            Self::Campaign(campaign) => write!(f, "campaign {campaign}"),
        }
    }
}

impl Budgeted {
    /// Where its definition is published.
    fn definition_key(self) -> String {
        match self {
            Self::Task(task) => format!("task.{}", task.0),
            Self::Campaign(campaign) => format!("campaign.{}", campaign.0),
        }
    }

    /// Where its allotment ledger is.
    fn ledger_key(self) -> String {
        format!("ledger.{}", self.definition_key())
    }

    /// What a ledger key names, if it names a ledger.
    fn of_ledger_key(key: &str) -> Option<Self> {
        let (kind, id) = key.strip_prefix("ledger.")?.split_once('.')?;
        let id = id.parse().ok()?;
        match kind {
            "task" => Some(Self::Task(TaskId(id))),
            "campaign" => Some(Self::Campaign(CampaignId(id))),
            _ => None,
        }
    }

    /// The game op that gives back what this shard holds once it is closed.
    fn give_back_op(self) -> AdminOp {
        match self {
            Self::Task(task) => AdminOp::TaskGiveBack(task),
            Self::Campaign(campaign) => AdminOp::CampaignGiveBack(campaign),
        }
    }

    /// The game op that records this shard's new total allotment.
    fn allot_op(self, total: u64, dry: bool) -> AdminOp {
        match self {
            Self::Task(task) => AdminOp::TaskAllot { task, total, dry },
            Self::Campaign(campaign) => AdminOp::CampaignAllot {
                campaign,
                total,
                dry,
            },
        }
    }
}

/// Opens the bucket, created by the first shard.
pub async fn open_bucket(
    js: &jetstream::Context,
    config: &ClusterConfig,
) -> anyhow::Result<kv::Store> {
    super::open_shared_bucket(
        js,
        config,
        BUCKET,
        "Canopy's task definitions and budget allotments",
    )
    .await
}

/// One shard's side of the cluster's task and campaign budgets.
pub struct Budgets {
    bucket: kv::Store,
    shard: u64,
    shards: u64,
    game: GameHandle,
    /// One refill at a time per task on this shard.
    refills: Mutex<HashMap<TaskId, Arc<tokio::sync::Mutex<()>>>>,
}

/// The refusal of a call that needs the ledger when NATS cannot answer.
fn unreachable_ledger(err: &anyhow::Error) -> ErrorBody {
    tracing::warn!("the budget ledger cannot be reached: {err:#}");
    ErrorBody::new(
        ErrorCode::ShardTimeout,
        format!("the cluster's budget ledger cannot be reached ({err:#}); retry with the same ref"),
    )
}

impl Budgets {
    /// This shard's side, over the bucket [`open_bucket`] opened.
    pub fn new(bucket: kv::Store, config: &ClusterConfig, game: GameHandle) -> Self {
        Self {
            bucket,
            shard: config.shard,
            shards: config.shards,
            game,
            refills: Mutex::default(),
        }
    }

    /// Runs a game call that may reward a completion of `task`, taking allotments from
    /// the ledger for as long as the game asks for them.
    pub async fn run(&self, op: AdminOp, task: TaskId) -> Result<String, ErrorBody> {
        for _ in 0..REFILLS_PER_CALL {
            let answer = self.game.ask(op.clone()).await;
            if !matches!(&answer, Err(error) if tasks::is_allotment_needed(error)) {
                return answer;
            }
            let lock = self.refill_lock(task);
            let _refilling = lock.lock().await;
            // A refill that finished while this call waited may cover it already.
            let answer = self.game.ask(op.clone()).await;
            if !matches!(&answer, Err(error) if tasks::is_allotment_needed(error)) {
                return answer;
            }
            let budgeted = Budgeted::Task(task);
            let refilled = async {
                let (total, dry) = self.refill(budgeted).await?;
                self.record_allotment(budgeted, total, dry).await
            };
            refilled.await.map_err(|err| unreachable_ledger(&err))?;
        }
        Err(ErrorBody::new(
            ErrorCode::ShardTimeout,
            format!("task {task}: other shards kept taking its budget; retry with the same ref"),
        ))
    }

    fn refill_lock(&self, task: TaskId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .refills
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locks.entry(task).or_default().clone()
    }

    /// Takes the next chunk of a budget for this shard by compare-and-set; returns this
    /// shard's new total and whether the ledger is dry after it.
    pub async fn refill(&self, budgeted: Budgeted) -> anyhow::Result<(u64, bool)> {
        for _ in 0..ATTEMPTS {
            let (mut ledger, revision) = self
                .ledger(budgeted)
                .await?
                .with_context(|| format!("{budgeted} has no allotment ledger"))?;
            if ledger.chunk(self.shards) == 0 {
                let total = ledger.allotted.get(&self.shard).copied().unwrap_or(0);
                return Ok((total, true));
            }
            let total = ledger.allot(self.shard, self.shards);
            let value = serde_json::to_vec(&ledger)?;
            let key = budgeted.ledger_key();
            match super::write_if_unchanged(&self.bucket, &key, Some(revision), value).await {
                Ok(()) => return Ok((total, ledger.dry())),
                Err(err) => tracing::debug!(%err, "another shard took from the ledger; again"),
            }
        }
        anyhow::bail!("lost {budgeted}'s ledger to other shards {ATTEMPTS} times")
    }

    /// The ledger and its revision, if there is one.
    pub async fn ledger(&self, budgeted: Budgeted) -> anyhow::Result<Option<(Ledger, u64)>> {
        let entry = self
            .bucket
            .entry(budgeted.ledger_key())
            .await
            .context("reading an allotment ledger")?
            .filter(|entry| entry.operation == kv::Operation::Put);
        entry
            .map(|entry| {
                let ledger = serde_json::from_slice(&entry.value)
                    .context("a stored allotment ledger is not one")?;
                Ok((ledger, entry.revision))
            })
            .transpose()
    }

    /// Adopts one definition (`adoption`), then hands the game what the ledger counts
    /// as allotted here, then gives back what it holds if it is closed.
    async fn adopt(&self, adoption: AdminOp, budgeted: Budgeted) -> anyhow::Result<()> {
        self.game
            .ask(adoption)
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let Some((ledger, _)) = self.ledger(budgeted).await? else {
            return Ok(());
        };
        let total = ledger.allotted.get(&self.shard).copied().unwrap_or(0);
        if total > 0 {
            self.record_allotment(budgeted, total, false).await?;
        }
        Ok(())
    }

    /// Hands the game this shard's new total allotment of a budget; if the task or
    /// campaign closed meanwhile (the game then keeps nothing more), the allotment goes
    /// straight back to the ledger. Returns what the shard holds.
    pub async fn record_allotment(
        &self,
        budgeted: Budgeted,
        total: u64,
        dry: bool,
    ) -> anyhow::Result<u64> {
        let held = self
            .game
            .ask(budgeted.allot_op(total, dry))
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        self.give_back(budgeted).await?;
        Ok(serde_json::from_str(&held)?)
    }

    /// A closed task or campaign gives back what this shard holds of its budget: the
    /// game first (its budget here becomes what it disbursed), then the ledger by
    /// compare-and-set (`allotted[me]` down to that, `unallotted` up by the rest). A
    /// crash in between leaves the rest counted as allotted but not held (`stranded`),
    /// given back at the next adoption: both steps are absolute.
    async fn give_back(&self, budgeted: Budgeted) -> anyhow::Result<()> {
        let answer = self
            .game
            .ask(budgeted.give_back_op())
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let Some(kept) = serde_json::from_str::<Option<u64>>(&answer)? else {
            return Ok(());
        };
        for _ in 0..ATTEMPTS {
            let Some((mut ledger, revision)) = self.ledger(budgeted).await? else {
                return Ok(());
            };
            if !ledger.give_back(self.shard, kept) {
                return Ok(());
            }
            let value = serde_json::to_vec(&ledger)?;
            let key = budgeted.ledger_key();
            match super::write_if_unchanged(&self.bucket, &key, Some(revision), value).await {
                Ok(()) => return Ok(()),
                Err(err) => tracing::debug!(%err, "another shard changed the ledger; again"),
            }
        }
        anyhow::bail!("lost {budgeted}'s ledger to other shards {ATTEMPTS} times")
    }

    /// Publishes a task this shard created (the game's answer to its creation, with the
    /// whole budget): its definition and its ledger, each only if absent, so a retry of
    /// the creation (answered from its `ref`) publishes again harmlessly.
    pub async fn publish(&self, answer: &str) -> Result<(), ErrorBody> {
        let published = async {
            let task: TaskView = serde_json::from_str(answer)?;
            let ledger = match task.reward_prop {
                None => Ledger::new(task.budget_grams, task.reward_grams, false),
                Some(prop) => Ledger::new(task.budget_props, u64::from(prop.count), true),
            };
            self.publish_definition(Budgeted::Task(task.task_id), &task, &ledger)
                .await
        };
        published.await.map_err(|err| unreachable_ledger(&err))
    }

    /// Publishes a campaign as its definer sees it (whole budget): its definition and
    /// its ledger, each only if absent. Its allotments are `unit`s
    /// (`campaigns::bonus_unit`) but for the last, which is what is left: the last bonus
    /// is cut to it, as on one server.
    pub async fn publish_campaign(
        &self,
        campaign: &CampaignView,
        unit: u64,
    ) -> Result<(), ErrorBody> {
        let ledger = Ledger {
            cut_last: true,
            ..Ledger::new(campaign.definition.budget_grams, unit, false)
        };
        let budgeted = Budgeted::Campaign(campaign.campaign_id);
        self.publish_definition(budgeted, campaign, &ledger)
            .await
            .map_err(|err| unreachable_ledger(&err))
    }

    /// The ledger first, then the definition (whose adoption reads the ledger), each
    /// only if absent.
    async fn publish_definition(
        &self,
        budgeted: Budgeted,
        definition: &impl Serialize,
        ledger: &Ledger,
    ) -> anyhow::Result<()> {
        let ledger = serde_json::to_vec(ledger)?;
        create_if_absent(&self.bucket, &budgeted.ledger_key(), ledger).await?;
        let definition = serde_json::to_vec(definition)?;
        create_if_absent(&self.bucket, &budgeted.definition_key(), definition).await
    }

    /// Publishes a task's new status (paused, open, closed) for every shard to adopt.
    pub async fn publish_status(&self, task: TaskId, status: TaskStatus) -> Result<(), ErrorBody> {
        self.change_definition(Budgeted::Task(task), |definition: &mut TaskView| {
            std::mem::replace(&mut definition.status, status) != status
        })
        .await
        .map_err(|err| unreachable_ledger(&err))
    }

    /// Publishes a campaign's new status (closed) for every shard to adopt.
    pub async fn publish_campaign_status(
        &self,
        campaign: CampaignId,
        status: CampaignStatus,
    ) -> Result<(), ErrorBody> {
        let budgeted = Budgeted::Campaign(campaign);
        self.change_definition(budgeted, |definition: &mut CampaignView| {
            std::mem::replace(&mut definition.status, status) != status
        })
        .await
        .map_err(|err| unreachable_ledger(&err))
    }

    /// Changes a published definition by compare-and-set; `change` says whether it
    /// changed anything (nothing is written if not).
    async fn change_definition<T: Serialize + DeserializeOwned>(
        &self,
        budgeted: Budgeted,
        change: impl Fn(&mut T) -> bool,
    ) -> anyhow::Result<()> {
        let key = budgeted.definition_key();
        for _ in 0..ATTEMPTS {
            let entry = self
                .bucket
                .entry(&key)
                .await?
                .with_context(|| format!("{budgeted} is not published"))?;
            let mut definition: T = serde_json::from_slice(&entry.value)?;
            if !change(&mut definition) {
                return Ok(());
            }
            let value = serde_json::to_vec(&definition)?;
            if super::write_if_unchanged(&self.bucket, &key, Some(entry.revision), value)
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        anyhow::bail!("lost {budgeted}'s definition to other shards {ATTEMPTS} times")
    }
}

/// Every task's and campaign's ledger, for the cluster audit.
pub async fn ledgers(bucket: &kv::Store) -> anyhow::Result<BTreeMap<Budgeted, Ledger>> {
    let mut keys = bucket.keys().await.context("listing the budget ledgers")?;
    let mut ledgers = BTreeMap::new();
    while let Some(key) = keys.next().await {
        let key = key.context("listing the budget ledgers")?;
        let Some(budgeted) = Budgeted::of_ledger_key(&key) else {
            continue;
        };
        if let Some(value) = bucket.get(&key).await? {
            ledgers.insert(budgeted, serde_json::from_slice(&value)?);
        }
    }
    Ok(ledgers)
}

async fn create_if_absent(bucket: &kv::Store, key: &str, value: Vec<u8>) -> anyhow::Result<()> {
    match bucket.create(key, value.into()).await {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("publishing {key}")),
    }
}

/// Adopts every task and campaign definition into the game as it appears or changes
/// (first all of them, at start), hands the game what the ledger counts as allotted to
/// this shard, so a chunk stranded by a crash comes back, and gives back what a closed
/// one holds here.
pub async fn follow(budgets: Arc<Budgets>) {
    let tasks = super::follow_puts(budgets.bucket.clone(), "task.*", |value| {
        let budgets = budgets.clone();
        async move {
            let definition: TaskView =
                serde_json::from_slice(&value).context("not a task definition")?;
            let budgeted = Budgeted::Task(definition.task_id);
            let op = AdminOp::TaskAdopt(Box::new(definition));
            budgets.adopt(op, budgeted).await
        }
    });
    let campaigns = super::follow_puts(budgets.bucket.clone(), "campaign.*", |value| {
        let budgets = budgets.clone();
        async move {
            let definition: CampaignView =
                serde_json::from_slice(&value).context("not a campaign definition")?;
            let budgeted = Budgeted::Campaign(definition.campaign_id);
            let op = AdminOp::CampaignAdopt(Box::new(definition));
            budgets.adopt(op, budgeted).await
        }
    });
    tokio::join!(tasks, campaigns);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_whole_rewards_and_never_more_than_is_left() {
        let mut ledger = Ledger::new(1_000, 30, false);
        assert_eq!(
            ledger.chunk(3),
            150,
            "1000 / 6 = 166, down to whole rewards"
        );
        let mut taken = 0;
        while ledger.chunk(3) > 0 {
            let before = ledger.allotted.get(&1).copied().unwrap_or(0);
            taken += ledger.allot(1, 3) - before;
            assert!(ledger.balanced());
        }
        assert_eq!(taken, 990, "33 rewards of 30 g");
        assert_eq!(ledger.unallotted, 10);
        assert!(ledger.dry());
    }

    #[test]
    fn a_campaign_ledger_gives_its_rest_as_the_last_chunk() {
        let mut ledger = Ledger {
            cut_last: true,
            ..Ledger::new(130, 52, false)
        };
        assert_eq!(ledger.allot(0, 3), 52, "at least one bonus");
        assert_eq!(ledger.allot(1, 3), 52);
        assert!(!ledger.dry(), "26 g left: less than a bonus, still paid");
        assert_eq!(ledger.allot(1, 3), 78, "the rest, 26 g, to shard 1");
        assert!(ledger.dry() && ledger.balanced());
        assert_eq!(ledger.unallotted, 0);
    }

    #[test]
    fn a_closed_shard_gives_back_all_but_what_it_disbursed_once() {
        let mut ledger = Ledger::new(600, 30, false);
        assert_eq!(ledger.allot(0, 3), 90);
        assert_eq!(ledger.allot(1, 3), 60);
        assert!(
            ledger.give_back(1, 30),
            "shard 1 paid one reward of its 60 g"
        );
        assert_eq!(ledger.allotted[&1], 30);
        assert!(!ledger.give_back(1, 30), "again: nothing changes");
        assert!(!ledger.give_back(2, 0), "shard 2 took nothing");
        assert!(ledger.balanced());
        assert_eq!(ledger.unallotted, 600 - 90 - 30);
    }

    #[test]
    fn a_small_rest_still_goes_out_one_reward_at_a_time() {
        let mut ledger = Ledger::new(60, 30, false);
        assert_eq!(ledger.chunk(3), 30);
        assert_eq!(ledger.allot(0, 3), 30);
        assert_eq!(ledger.allot(2, 3), 30);
        assert_eq!(ledger.chunk(3), 0);
        assert!(ledger.balanced() && ledger.dry());
    }
}
