//! An in-memory [`Store`] for simulation tests, with a switch that makes commits fail so
//! tests can see how the game behaves when the disk does.

use super::outbox::{MessageKey, OutboxRecord};
use super::{
    AreaRecord, Ball, CampaignRecord, HostBinding, LedgerEntry, Loaded, Meta, PartnerReceipt,
    PartnerRecord, PlayerRecord, RainRecord, RainTotals, RevivalRecord, RevivalTotals,
    SessionToken, SocialWrite, Store, StoreError, TaskBook, TaskRecord, Team, TickBatch, TokenHash,
    VitalityRecord, VitalityTotals,
};
use canopy_shared::admin::OpsCall;
use canopy_shared::model::FeedEntry;
use canopy_shared::partner::PartnerAuditEntry;
use canopy_shared::reply::RecordActionResult;
use canopy_shared::risk::RiskFlag;
use canopy_shared::{BallId, CampaignId, FlagId, Millis, PartnerId, PlayerId, TaskId, TeamId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Contents {
    meta: Option<Meta>,
    players: BTreeMap<PlayerId, PlayerRecord>,
    balls: BTreeMap<BallId, Ball>,
    receipts: HashMap<(PlayerId, String), RecordActionResult>,
    ledger: Vec<LedgerEntry>,
    friendships: BTreeSet<(PlayerId, PlayerId)>,
    requests: BTreeMap<(PlayerId, PlayerId), Millis>,
    blocks: BTreeSet<(PlayerId, PlayerId)>,
    teams: BTreeMap<TeamId, Team>,
    feed: BTreeMap<(PlayerId, u64), FeedEntry>,
    tokens: BTreeMap<TokenHash, SessionToken>,
    host_bindings: BTreeMap<TokenHash, HostBinding>,
    ops_calls: std::collections::VecDeque<OpsCall>,
    partners: BTreeMap<PartnerId, PartnerRecord>,
    partner_receipts: HashMap<(PartnerId, String), PartnerReceipt>,
    partner_audit: BTreeMap<(PartnerId, u64), PartnerAuditEntry>,
    risk_flags: BTreeMap<FlagId, RiskFlag>,
    tasks: BTreeMap<TaskId, TaskRecord>,
    task_books: BTreeMap<PlayerId, TaskBook>,
    campaigns: BTreeMap<CampaignId, CampaignRecord>,
    vitality: BTreeMap<PlayerId, VitalityRecord>,
    vitality_totals: Option<VitalityTotals>,
    revivals: BTreeMap<PlayerId, RevivalRecord>,
    revival_totals: Option<RevivalTotals>,
    areas: BTreeMap<PlayerId, AreaRecord>,
    rain: BTreeMap<PlayerId, RainRecord>,
    rain_totals: Option<RainTotals>,
    outbox: BTreeMap<MessageKey, OutboxRecord>,
    inbox: BTreeSet<MessageKey>,
}

/// A [`Store`] in memory. Clones share the same contents, so a test can keep a handle
/// to inspect what the game committed or to make the next commits fail.
#[derive(Clone, Default)]
pub struct MemoryStore {
    contents: Arc<Mutex<Contents>>,
    failing: Arc<AtomicBool>,
    commits: Arc<AtomicU64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later commit fail (`true`) or succeed again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many commits succeeded.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, Contents> {
        self.contents
            .lock()
            .expect("memory store lock poisoned: a test panicked mid-commit")
    }
}

impl Store for MemoryStore {
    fn visit(&self, visit: &mut dyn FnMut(Loaded)) -> Result<Option<Meta>, StoreError> {
        let contents = self.lock();
        contents
            .players
            .values()
            .for_each(|player| visit(Loaded::Player(player.clone())));
        contents
            .vitality
            .values()
            .for_each(|record| visit(Loaded::Vitality(record.clone())));
        if let Some(totals) = &contents.vitality_totals {
            visit(Loaded::VitalityTotals(totals.clone()));
        }
        contents
            .revivals
            .values()
            .for_each(|record| visit(Loaded::Revival(record.clone())));
        if let Some(totals) = &contents.revival_totals {
            visit(Loaded::RevivalTotals(totals.clone()));
        }
        contents
            .areas
            .values()
            .for_each(|record| visit(Loaded::Areas(record.clone())));
        contents
            .rain
            .values()
            .for_each(|record| visit(Loaded::Rain(record.clone())));
        if let Some(totals) = &contents.rain_totals {
            visit(Loaded::RainTotals(totals.clone()));
        }
        contents
            .balls
            .values()
            .for_each(|ball| visit(Loaded::Ball(ball.clone())));
        for &(a, b) in &contents.friendships {
            visit(Loaded::Friendship(a, b));
        }
        for (&(from, to), &sent) in &contents.requests {
            visit(Loaded::Request(from, to, sent));
        }
        for &(blocker, blocked) in &contents.blocks {
            visit(Loaded::Block(blocker, blocked));
        }
        contents
            .teams
            .values()
            .for_each(|team| visit(Loaded::Team(team.clone())));
        for (&hash, &token) in &contents.tokens {
            visit(Loaded::Token(hash, token));
        }
        contents
            .partners
            .values()
            .for_each(|partner| visit(Loaded::Partner(partner.clone())));
        contents
            .risk_flags
            .values()
            .for_each(|flag| visit(Loaded::RiskFlag(flag.clone())));
        contents
            .tasks
            .values()
            .for_each(|task| visit(Loaded::Task(task.clone())));
        for (&player, book) in &contents.task_books {
            visit(Loaded::TaskBook(player, book.clone()));
        }
        for (&key, binding) in &contents.host_bindings {
            visit(Loaded::HostBinding(key, binding.clone()));
        }
        contents
            .campaigns
            .values()
            .for_each(|campaign| visit(Loaded::Campaign(campaign.clone())));
        contents
            .outbox
            .values()
            .for_each(|record| visit(Loaded::Outbox(record.clone())));
        Ok(contents.meta.clone())
    }

    fn commit(&self, batch: &TickBatch) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend(
                "injected failure: the disk is full".into(),
            ));
        }
        let mut contents = self.lock();
        for player in &batch.players {
            contents.players.insert(player.id, player.clone());
        }
        for ball in &batch.balls {
            contents.balls.insert(ball.id, ball.clone());
        }
        for (_, id) in &batch.removed_balls {
            contents.balls.remove(id);
        }
        for (player, reference, result) in &batch.receipts {
            contents
                .receipts
                .insert((*player, reference.clone()), result.clone());
        }
        contents.ledger.extend(batch.ledger.iter().cloned());
        for write in &batch.social {
            match *write {
                SocialWrite::Friendship(a, b, active) => {
                    let pair = (a.min(b), a.max(b));
                    if active {
                        contents.friendships.insert(pair);
                    } else {
                        contents.friendships.remove(&pair);
                    }
                }
                SocialWrite::Request(from, to, Some(sent)) => {
                    contents.requests.insert((from, to), sent);
                }
                SocialWrite::Request(from, to, None) => {
                    contents.requests.remove(&(from, to));
                }
                SocialWrite::Block(a, b, true) => {
                    contents.blocks.insert((a, b));
                }
                SocialWrite::Block(a, b, false) => {
                    contents.blocks.remove(&(a, b));
                }
            }
        }
        for team in &batch.teams {
            contents.teams.insert(team.id, team.clone());
        }
        for id in &batch.removed_teams {
            contents.teams.remove(id);
        }
        for (player, seq, entry) in &batch.feed {
            contents.feed.insert((*player, *seq), entry.clone());
        }
        for key in &batch.feed_trimmed {
            contents.feed.remove(key);
        }
        for &(hash, token) in &batch.tokens {
            match token {
                Some(token) => contents.tokens.insert(hash, token),
                None => contents.tokens.remove(&hash),
            };
        }
        for partner in &batch.partners {
            contents.partners.insert(partner.id, partner.clone());
        }
        for (partner, reference, receipt) in &batch.partner_receipts {
            contents
                .partner_receipts
                .insert((*partner, reference.clone()), receipt.clone());
        }
        for task in &batch.tasks {
            contents.tasks.insert(task.id, task.clone());
        }
        for (player, book) in &batch.task_books {
            contents.task_books.insert(*player, book.clone());
        }
        for campaign in &batch.campaigns {
            contents.campaigns.insert(campaign.id, campaign.clone());
        }
        for entry in &batch.partner_audit {
            contents
                .partner_audit
                .insert((entry.partner_id, entry.seq), entry.clone());
        }
        for flag in &batch.risk_flags {
            contents.risk_flags.insert(flag.id, flag.clone());
        }
        for (key, binding) in &batch.host_bindings {
            contents.host_bindings.insert(*key, binding.clone());
        }
        for record in &batch.vitality {
            contents.vitality.insert(record.player, record.clone());
        }
        if let Some(totals) = &batch.vitality_totals {
            contents.vitality_totals = Some(totals.clone());
        }
        for record in &batch.revivals {
            contents.revivals.insert(record.player, record.clone());
        }
        if let Some(totals) = &batch.revival_totals {
            contents.revival_totals = Some(totals.clone());
        }
        for record in &batch.areas {
            contents.areas.insert(record.player, record.clone());
        }
        for record in &batch.rain {
            contents.rain.insert(record.player, record.clone());
        }
        if let Some(totals) = &batch.rain_totals {
            contents.rain_totals = Some(totals.clone());
        }
        for (message, record) in &batch.outbox {
            match record {
                Some(record) => contents.outbox.insert(*message, record.clone()),
                None => contents.outbox.remove(message),
            };
        }
        contents.inbox.extend(batch.inbox.iter().copied());
        contents.meta = Some(batch.meta.clone());
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn applied(&self, message: MessageKey) -> Result<bool, StoreError> {
        Ok(self.lock().inbox.contains(&message))
    }

    fn receipt(
        &self,
        player: PlayerId,
        reference: &str,
    ) -> Result<Option<RecordActionResult>, StoreError> {
        Ok(self
            .lock()
            .receipts
            .get(&(player, reference.to_owned()))
            .cloned())
    }

    fn record_ops_call(&self, call: &OpsCall, keep: usize) -> Result<(), StoreError> {
        let mut contents = self.lock();
        contents.ops_calls.push_back(call.clone());
        while contents.ops_calls.len() > keep {
            contents.ops_calls.pop_front();
        }
        Ok(())
    }

    fn ops_calls(&self, limit: usize) -> Result<Vec<OpsCall>, StoreError> {
        Ok(self
            .lock()
            .ops_calls
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    fn partner_receipt(
        &self,
        partner: PartnerId,
        reference: &str,
    ) -> Result<Option<PartnerReceipt>, StoreError> {
        Ok(self
            .lock()
            .partner_receipts
            .get(&(partner, reference.to_owned()))
            .cloned())
    }

    fn partner_audit(
        &self,
        partner: PartnerId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<PartnerAuditEntry>, StoreError> {
        Ok(self
            .lock()
            .partner_audit
            .range((partner, 0)..(partner, before))
            .rev()
            .take(limit)
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    fn ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self.lock().ledger.clone())
    }

    fn feed(
        &self,
        player: PlayerId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, FeedEntry)>, StoreError> {
        Ok(self
            .lock()
            .feed
            .range((player, 0)..(player, before))
            .rev()
            .take(limit)
            .map(|(&(_, seq), entry)| (seq, entry.clone()))
            .collect())
    }
}
