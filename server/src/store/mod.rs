//! Persistence: the records the game writes, the per-tick batch, and the [`Store`]
//! trait that sled (and, in tests, memory or a failing store) implements.
//!
//! The game thread hands the store one [`TickBatch`] per tick; the store applies it
//! atomically and makes it durable before returning, so a reply sent after `commit`
//! returns describes a change that survives a crash.

pub mod backup;
mod durable;
mod friend_lists;
mod memory;
pub mod outbox;
mod records;
mod sled_store;
mod tap;

pub use memory::MemoryStore;
pub use records::{
    Account, AreaCertificate, AreaRecord, Ball, CampaignRecord, CampaignRecordV1, DailyLimits,
    Flow, HostBinding, LedgerEntry, LedgerTotals, Meta, PartnerAuditEntryV1, PartnerReceipt,
    PartnerRecord, PartnerRecordV1, PlayerRecord, PropsState, RainRecord, RainRound, RainRoundTaps,
    RainTap, RainTotals, Revivable, RevivalRecord, RevivalTotals, SessionToken, SocialWrite,
    TaskBook, TaskProgress, TaskRecord, TaskRecordV1, Team, TreeCertificate, VitalityRecord,
    VitalityTotals,
};

/// The SHA-256 of a session token: the key it is stored under.
pub type TokenHash = [u8; 32];
pub use sled_store::SledStore;

use backup::BackupError;
use canopy_shared::admin::{BackupReport, OpsCall};
use canopy_shared::model::FeedEntry;
use canopy_shared::partner::PartnerAuditEntry;
use canopy_shared::reply::RecordActionResult;
use canopy_shared::risk::RiskFlag;
use canopy_shared::{Millis, PartnerId, PlayerId, TeamId};
use std::path::Path;
use thiserror::Error;

/// A store failure. The game stops acknowledging writes when a commit fails.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The underlying database failed (I/O, corruption, full disk).
    #[error("store: {0}")]
    Backend(String),
    /// A record could not be decoded: the data was written by something else or damaged.
    #[error("store record {key} is corrupt: {reason}")]
    Corrupt {
        /// The key, printed for the operator.
        key: String,
        /// The decoder's message.
        reason: String,
    },
}

/// Everything that changed in one tick, written atomically.
#[derive(Clone, Debug, Default)]
pub struct TickBatch {
    /// Players whose state changed, whole.
    pub players: Vec<PlayerRecord>,
    /// Balls created or changed, whole.
    pub balls: Vec<Ball>,
    /// Balls that ended (collected, emptied, expired), with their owners.
    pub removed_balls: Vec<(PlayerId, canopy_shared::BallId)>,
    /// First results of `record_action` refs, for idempotent replays.
    pub receipts: Vec<(PlayerId, String, RecordActionResult)>,
    /// Ledger entries of the tick.
    pub ledger: Vec<LedgerEntry>,
    /// Friendships, requests and blocks that changed.
    pub social: Vec<SocialWrite>,
    /// Teams created or changed, whole.
    pub teams: Vec<Team>,
    /// Teams whose record is gone (cluster mode: a shard's last member of a team of
    /// another shard left it).
    pub removed_teams: Vec<TeamId>,
    /// New feed entries: (player, sequence number, entry).
    pub feed: Vec<(PlayerId, u64, FeedEntry)>,
    /// Feed entries that fell out of the kept window: (player, sequence number).
    pub feed_trimmed: Vec<(PlayerId, u64)>,
    /// Session tokens issued, revoked (`Some`) or forgotten (`None`), in order.
    pub tokens: Vec<(TokenHash, Option<SessionToken>)>,
    /// Partners registered or changed, whole.
    pub partners: Vec<PartnerRecord>,
    /// First answers to partners' refs, for idempotent replays.
    pub partner_receipts: Vec<(PartnerId, String, PartnerReceipt)>,
    /// New partner audit entries.
    pub partner_audit: Vec<PartnerAuditEntry>,
    /// Risk flags raised or changed, whole.
    pub risk_flags: Vec<RiskFlag>,
    /// Tasks created or changed, whole.
    pub tasks: Vec<TaskRecord>,
    /// Players whose task standing changed, with all of it.
    pub task_books: Vec<(PlayerId, TaskBook)>,
    /// Host subjects bound to players (never unbound).
    pub host_bindings: Vec<(TokenHash, HostBinding)>,
    /// Campaigns defined or changed, whole.
    pub campaigns: Vec<CampaignRecord>,
    /// Players' vitality records that changed, whole.
    pub vitality: Vec<VitalityRecord>,
    /// The vitality totals, when they changed.
    pub vitality_totals: Option<VitalityTotals>,
    /// Players' revival records that changed, whole.
    pub revivals: Vec<RevivalRecord>,
    /// The revival totals, when they changed.
    pub revival_totals: Option<RevivalTotals>,
    /// Players' protected-area certificates that changed, whole.
    pub areas: Vec<AreaRecord>,
    /// Players' energy rain records that changed, whole.
    pub rain: Vec<RainRecord>,
    /// The energy rain totals, when they changed.
    pub rain_totals: Option<RainTotals>,
    /// Cluster mode: messages to other shards written (`Some`) or confirmed (`None`).
    pub outbox: Vec<(outbox::MessageKey, Option<outbox::OutboxRecord>)>,
    /// Cluster mode: messages from other shards applied in this batch, kept for good.
    pub inbox: Vec<outbox::MessageKey>,
    /// Counters and the game clock after the tick.
    pub meta: Meta,
}

impl TickBatch {
    /// How many records the batch writes.
    pub fn len(&self) -> usize {
        self.players.len()
            + self.balls.len()
            + self.removed_balls.len()
            + self.receipts.len()
            + self.ledger.len()
            + self.social.len()
            + self.teams.len()
            + self.removed_teams.len()
            + self.feed.len()
            + self.feed_trimmed.len()
            + self.tokens.len()
            + self.partners.len()
            + self.partner_receipts.len()
            + self.partner_audit.len()
            + self.risk_flags.len()
            + self.tasks.len()
            + self.task_books.len()
            + self.host_bindings.len()
            + self.campaigns.len()
            + self.vitality.len()
            + usize::from(self.vitality_totals.is_some())
            + self.revivals.len()
            + usize::from(self.revival_totals.is_some())
            + self.areas.len()
            + self.rain.len()
            + usize::from(self.rain_totals.is_some())
            + self.outbox.len()
            + self.inbox.len()
            + 1
    }

    /// Whether the batch writes nothing but the meta record.
    pub fn is_empty(&self) -> bool {
        self.len() == 1
    }
}

/// What the store holds, for rebuilding the World at start.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// `None` for a new store.
    pub meta: Option<Meta>,
    /// Every player.
    pub players: Vec<PlayerRecord>,
    /// Every live ball.
    pub balls: Vec<Ball>,
    /// Friendships, each once.
    pub friendships: Vec<(PlayerId, PlayerId)>,
    /// Pending requests: (from, to, sent at).
    pub requests: Vec<(PlayerId, PlayerId, Millis)>,
    /// Blocks: (blocker, blocked).
    pub blocks: Vec<(PlayerId, PlayerId)>,
    /// Every team.
    pub teams: Vec<Team>,
    /// Every session token kept.
    pub tokens: Vec<(TokenHash, SessionToken)>,
    /// Every partner.
    pub partners: Vec<PartnerRecord>,
    /// Every risk flag.
    pub risk_flags: Vec<RiskFlag>,
    /// Every task.
    pub tasks: Vec<TaskRecord>,
    /// Every player's task standing.
    pub task_books: Vec<(PlayerId, TaskBook)>,
    /// Every host subject bound to a player.
    pub host_bindings: Vec<(TokenHash, HostBinding)>,
    /// Every campaign.
    pub campaigns: Vec<CampaignRecord>,
    /// Every vitality record.
    pub vitality: Vec<VitalityRecord>,
    /// The vitality totals, `None` before any point was earned.
    pub vitality_totals: Option<VitalityTotals>,
    /// Every revival record.
    pub revivals: Vec<RevivalRecord>,
    /// The revival totals, `None` before any ball was revived.
    pub revival_totals: Option<RevivalTotals>,
    /// Every protected-area record.
    pub areas: Vec<AreaRecord>,
    /// Every energy rain record.
    pub rain: Vec<RainRecord>,
    /// The energy rain totals, `None` before the first round.
    pub rain_totals: Option<RainTotals>,
    /// Cluster mode: messages sent and not yet confirmed.
    pub outbox: Vec<outbox::OutboxRecord>,
}

/// One record of a store, as [`Store::visit`] hands it over.
#[derive(Clone, Debug)]
pub enum Loaded {
    /// A player.
    Player(PlayerRecord),
    /// A live ball; its owner has been visited before it, and each owner's balls come
    /// in id order.
    Ball(Ball),
    /// A friendship, each once.
    Friendship(PlayerId, PlayerId),
    /// A pending request: (from, to, sent at).
    Request(PlayerId, PlayerId, Millis),
    /// A block: (blocker, blocked).
    Block(PlayerId, PlayerId),
    /// A team.
    Team(Team),
    /// A session token; its player has been visited before it.
    Token(TokenHash, SessionToken),
    /// A partner of the partner API.
    Partner(PartnerRecord),
    /// A risk flag.
    RiskFlag(RiskFlag),
    /// A task of the task center.
    Task(TaskRecord),
    /// A player's standing with the tasks they accepted.
    TaskBook(PlayerId, TaskBook),
    /// A host subject bound to a player.
    HostBinding(TokenHash, HostBinding),
    /// A campaign.
    Campaign(CampaignRecord),
    /// A player's vitality record; its player has been visited before it.
    Vitality(VitalityRecord),
    /// The vitality totals.
    VitalityTotals(VitalityTotals),
    /// A player's revival record; its player has been visited before it.
    Revival(RevivalRecord),
    /// The revival totals.
    RevivalTotals(RevivalTotals),
    /// A player's protected-area certificates; its player has been visited before it.
    Areas(AreaRecord),
    /// A player's energy rain record; its player has been visited before it.
    Rain(RainRecord),
    /// The energy rain totals.
    RainTotals(RainTotals),
    /// Cluster mode: a message sent and not yet confirmed.
    Outbox(outbox::OutboxRecord),
}

impl Snapshot {
    /// Adds one visited record.
    fn add(&mut self, record: Loaded) {
        match record {
            Loaded::Player(player) => self.players.push(player),
            Loaded::Ball(ball) => self.balls.push(ball),
            Loaded::Friendship(a, b) => self.friendships.push((a, b)),
            Loaded::Request(from, to, sent) => self.requests.push((from, to, sent)),
            Loaded::Block(blocker, blocked) => self.blocks.push((blocker, blocked)),
            Loaded::Team(team) => self.teams.push(team),
            Loaded::Token(hash, token) => self.tokens.push((hash, token)),
            Loaded::Partner(partner) => self.partners.push(partner),
            Loaded::RiskFlag(flag) => self.risk_flags.push(flag),
            Loaded::Task(task) => self.tasks.push(task),
            Loaded::TaskBook(player, book) => self.task_books.push((player, book)),
            Loaded::HostBinding(key, binding) => self.host_bindings.push((key, binding)),
            Loaded::Campaign(campaign) => self.campaigns.push(campaign),
            Loaded::Vitality(record) => self.vitality.push(record),
            Loaded::VitalityTotals(totals) => self.vitality_totals = Some(totals),
            Loaded::Revival(record) => self.revivals.push(record),
            Loaded::RevivalTotals(totals) => self.revival_totals = Some(totals),
            Loaded::Areas(record) => self.areas.push(record),
            Loaded::Rain(record) => self.rain.push(record),
            Loaded::RainTotals(totals) => self.rain_totals = Some(totals),
            Loaded::Outbox(record) => self.outbox.push(record),
        }
    }
}

/// Durable storage for the game. Implementations must make `commit` atomic (all of the
/// batch or none of it) and durable before returning `Ok`.
pub trait Store: Send + Sync {
    /// Hands every record needed to rebuild the World to `visit`, one at a time (so a
    /// big world is never held twice in memory): players first, then their vitality
    /// records and the vitality totals, revival records and totals, protected-area records,
    /// energy rain records and totals, then balls, then the social graph, teams, session
    /// tokens and risk flags. Returns the meta record, `None` for a new store.
    fn visit(&self, visit: &mut dyn FnMut(Loaded)) -> Result<Option<Meta>, StoreError>;
    /// Reads everything needed to rebuild the World into one [`Snapshot`], for tests
    /// and tools that inspect a store.
    fn load(&self) -> Result<Snapshot, StoreError> {
        let mut snapshot = Snapshot::default();
        let meta = self.visit(&mut |record| snapshot.add(record))?;
        snapshot.meta = meta;
        Ok(snapshot)
    }
    /// Applies one tick's batch atomically and flushes it to disk.
    fn commit(&self, batch: &TickBatch) -> Result<(), StoreError>;
    /// Writes a batch into a new store without the atomicity and flush of `commit`: for
    /// filling a store fast (the world generator). A later `commit` makes it durable.
    fn import(&self, batch: &TickBatch) -> Result<(), StoreError> {
        self.commit(batch)
    }
    /// The first result recorded for `(player, reference)`, if any.
    fn receipt(
        &self,
        player: PlayerId,
        reference: &str,
    ) -> Result<Option<RecordActionResult>, StoreError>;
    /// Writes a consistent copy of the whole store to the new file `to` while commits
    /// go on (see `backup.rs`); called off the game thread. Stores that cannot, refuse.
    fn backup(&self, _to: &Path) -> Result<BackupReport, BackupError> {
        Err(BackupError::Unsupported)
    }
    /// Appends one ops call to the audit log durably, keeping only the newest `keep`;
    /// called off the game thread.
    fn record_ops_call(&self, call: &OpsCall, keep: usize) -> Result<(), StoreError>;
    /// The newest `limit` ops calls, newest first.
    fn ops_calls(&self, limit: usize) -> Result<Vec<OpsCall>, StoreError>;
    /// The first answer recorded for a partner's `reference`, if any.
    fn partner_receipt(
        &self,
        partner: PartnerId,
        reference: &str,
    ) -> Result<Option<PartnerReceipt>, StoreError>;
    /// Up to `limit` audit entries of `partner` with sequence numbers below `before`,
    /// newest first.
    fn partner_audit(
        &self,
        partner: PartnerId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<PartnerAuditEntry>, StoreError>;
    /// Cluster mode: whether the message `key` from another shard was applied here.
    fn applied(&self, key: outbox::MessageKey) -> Result<bool, StoreError>;
    /// The whole ledger in id order, for audits.
    fn ledger(&self) -> Result<Vec<LedgerEntry>, StoreError>;
    /// Up to `limit` feed entries of `player` with sequence numbers below `before`,
    /// newest first.
    fn feed(
        &self,
        player: PlayerId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, FeedEntry)>, StoreError>;
}
