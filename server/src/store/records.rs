//! The records the store keeps. They are the game's persistent state, encoded with
//! postcard; the in-memory World is rebuilt from them at start.

use crate::game::rules::KindUsage;
use bevy_ecs::component::Component;
use canopy_shared::campaign::{CampaignStatus, NewCampaign};
use canopy_shared::model::{Certificate, CertificateKind, PropKind};
use canopy_shared::partner::PartnerStatus;
use canopy_shared::task::{Audience, PropReward, TaskStatus};
use canopy_shared::{
    BallId, CampaignId, CertificateId, ErrorBody, Millis, PartnerId, PlayerId, TaskId, TeamId,
};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A player's persistent state, whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerRecord {
    /// The player's id.
    pub id: PlayerId,
    /// Display name.
    pub name: CompactString,
    /// SHA-256 of the login token of a store written before session tokens expired;
    /// moved into a [`SessionToken`] when such a store is loaded, and all zeros since.
    pub legacy_token_hash: [u8; 32],
    /// Registration time.
    pub created_at: Millis,
    /// Energy balance.
    pub energy: u64,
    /// All energy ever collected.
    pub total_collected: u64,
    /// The week `week_collected` counts for (see `rules::week_key`).
    pub week: i64,
    /// Energy collected in `week`.
    pub week_collected: u64,
    /// The game day `usage` counts today for.
    pub usage_day: i64,
    /// The month `usage` counts this month for (see `rules::month_key`).
    pub usage_month: i32,
    /// Per action kind, credited actions and steps.
    pub usage: BTreeMap<String, KindUsage>,
    /// Today's ball of each step kind, which grows as steps are reported.
    pub step_balls: BTreeMap<String, BallId>,
    /// Step reports refused as implausible, for risk scoring.
    pub implausible_reports: u32,
    /// Props held and in effect.
    pub props: PropsState,
    /// Tree certificates, oldest first (area certificates are an [`AreaRecord`]).
    pub certificates: Vec<TreeCertificate>,
    /// Today's steal and watering counts.
    pub limits: DailyLimits,
    /// The sequence number the next feed entry gets.
    pub feed_next: u64,
}

impl PlayerRecord {
    /// A new player with nothing yet: no energy, balls, props or certificates.
    pub fn new(id: PlayerId, name: String, created_at: Millis) -> Self {
        Self {
            id,
            name: name.into(),
            legacy_token_hash: [0; 32],
            created_at,
            energy: 0,
            total_collected: 0,
            week: 0,
            week_collected: 0,
            usage_day: 0,
            usage_month: 0,
            usage: BTreeMap::new(),
            step_balls: BTreeMap::new(),
            implausible_reports: 0,
            props: PropsState::default(),
            certificates: Vec::new(),
            limits: DailyLimits::default(),
            feed_next: 0,
        }
    }
}

/// A tree certificate as the player record keeps it: the layout of the certificate
/// before protected areas existed, so stores written then still load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeCertificate {
    /// The certificate's id.
    pub id: CertificateId,
    /// The species' catalog id.
    pub species: String,
    /// Where the tree is planted.
    pub region: String,
    /// Grams of energy it took.
    pub grams: u64,
    /// When it was planted.
    pub planted_at: Millis,
    /// The team's name for a co-planted tree.
    pub team: Option<String>,
}

impl From<TreeCertificate> for Certificate {
    fn from(tree: TreeCertificate) -> Self {
        Certificate {
            id: tree.id,
            species: tree.species,
            region: tree.region,
            grams: tree.grams,
            planted_at: tree.planted_at,
            team: tree.team,
            kind: CertificateKind::Tree,
            square_metres: None,
        }
    }
}

impl TreeCertificate {
    /// The stored form of a `tree` certificate; `None` for an area's.
    pub fn of(certificate: &Certificate) -> Option<Self> {
        (certificate.kind == CertificateKind::Tree).then(|| TreeCertificate {
            id: certificate.id,
            species: certificate.species.clone(),
            region: certificate.region.clone(),
            grams: certificate.grams,
            planted_at: certificate.planted_at,
            team: certificate.team.clone(),
        })
    }
}

/// One `area` certificate as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaCertificate {
    /// The certificate's id.
    pub id: CertificateId,
    /// The area's catalog id.
    pub area: String,
    /// Where the area lies.
    pub region: String,
    /// Square metres protected.
    pub square_metres: u64,
    /// Grams of energy it took.
    pub grams: u64,
    /// When it was bought.
    pub planted_at: Millis,
}

impl From<AreaCertificate> for Certificate {
    fn from(area: AreaCertificate) -> Self {
        Certificate {
            id: area.id,
            species: area.area,
            region: area.region,
            grams: area.grams,
            planted_at: area.planted_at,
            team: None,
            kind: CertificateKind::Area,
            square_metres: Some(area.square_metres),
        }
    }
}

impl AreaCertificate {
    /// The stored form of an `area` certificate; `None` for a tree's.
    pub fn of(certificate: &Certificate) -> Option<Self> {
        (certificate.kind == CertificateKind::Area).then(|| AreaCertificate {
            id: certificate.id,
            area: certificate.species.clone(),
            region: certificate.region.clone(),
            square_metres: certificate.square_metres.unwrap_or(0),
            grams: certificate.grams,
            planted_at: certificate.planted_at,
        })
    }
}

/// A player's protected-area certificates, oldest first: a record of its own (key
/// `z<player>`) beside the player record, whose layout predates them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaRecord {
    /// Whose they are.
    pub player: PlayerId,
    /// The certificates.
    pub certificates: Vec<AreaCertificate>,
}

/// A session token, kept under the SHA-256 of the token (never the token itself).
/// A revoked or expired token is kept for a while so a login with it is told why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionToken {
    /// Whose token it is.
    pub player: PlayerId,
    /// When it stops working (game time).
    pub expires_at: Millis,
    /// Whether `logout`, `logout_all` or an operator revoked it.
    pub revoked: bool,
}

/// A host app user bound to a player for good, kept under the SHA-256 of
/// `issuer \n subject`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostBinding {
    /// The player.
    pub player: PlayerId,
    /// The JWT issuer.
    pub issuer: String,
    /// The user at the host.
    pub subject: String,
}

/// Per-day limits of the social ops for one player, reset on a new game day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyLimits {
    /// The game day the counts are for.
    pub day: i64,
    /// Grams stolen today.
    pub stolen: u64,
    /// Waterings of each friend today.
    pub waterings: BTreeMap<PlayerId, u32>,
    /// Grams given to each team's tree today.
    pub team_grams: BTreeMap<TeamId, u64>,
}

impl DailyLimits {
    /// Clears the counts when `day` is a new game day.
    pub fn roll(&mut self, day: i64) {
        if self.day != day {
            *self = Self {
                day,
                ..Self::default()
            };
        }
    }
}

/// A co-planting team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// The team's id.
    pub id: TeamId,
    /// Its name.
    pub name: String,
    /// The species it plants.
    pub species: String,
    /// Members, creator first.
    pub members: Vec<PlayerId>,
    /// Players invited and not yet joined.
    pub invited: Vec<PlayerId>,
    /// Grams in the current team tree.
    pub progress: u64,
}

/// A change to the social graph, as the store writes it (and, in cluster mode, as the
/// other player's shard decided it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocialWrite {
    /// A friendship began (`true`) or ended.
    Friendship(PlayerId, PlayerId, bool),
    /// A request from the first to the second was sent (`Some(time)`) or withdrawn.
    Request(PlayerId, PlayerId, Option<Millis>),
    /// The first blocked (`true`) or unblocked the second.
    Block(PlayerId, PlayerId, bool),
}

/// A player's props: inventory and the end of each timed effect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropsState {
    /// Unused props.
    pub inventory: BTreeMap<PropKind, u32>,
    /// When each timed effect ends (absent or in the past: not active).
    pub active_until: BTreeMap<PropKind, Millis>,
}

impl PropsState {
    /// Whether `prop` is in effect at `now`.
    pub fn is_active(&self, prop: PropKind, now: Millis) -> bool {
        self.active_until
            .get(&prop)
            .is_some_and(|&until| until > now)
    }
}

/// An energy ball: a component of its entity and a record of the store.
#[derive(Component, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ball {
    /// The ball's id.
    pub id: BallId,
    /// Whose tree it grows on.
    pub owner: PlayerId,
    /// The action kind that created it, or `water`.
    pub source: CompactString,
    /// Grams the ball was created with (grows for a step kind's daily ball).
    pub full: u64,
    /// Grams left to pick.
    pub left: u64,
    /// Grams stolen so far.
    pub stolen: u64,
    /// Creation time.
    pub created_at: Millis,
    /// Ripening time.
    pub ripe_at: Millis,
    /// Expiry time.
    pub expires_at: Millis,
    /// Whether friends may steal from it (water balls may not).
    pub stealable: bool,
    /// Hits so far by each thief.
    pub thieves: Vec<(PlayerId, u8)>,
}

/// Where grams sit: every ledger entry moves grams from one account to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Account {
    /// Energy created by a green action.
    Mint,
    /// Grams in a ball.
    Ball(BallId),
    /// A player's balance.
    Balance(PlayerId),
    /// A co-planting team's tree.
    Team(TeamId),
    /// A planted tree.
    Planted(CertificateId),
    /// Grams lost when a ball expired.
    Expired,
    /// Grams the risk engine holds under a flag until it is reviewed.
    Held(canopy_shared::FlagId),
    /// Held grams a reviewer confirmed as fraud.
    Forfeited,
    /// A task's budget, from which its rewards are created.
    TaskBudget(TaskId),
    /// A campaign's budget, from which its bonuses are created.
    CampaignBudget(CampaignId),
    /// Where vitality points come from: playing (the points' own mint).
    VitalityMint,
    /// A player's vitality points.
    Vitality(PlayerId),
    /// Where vitality points go: the shop.
    Shop,
    /// Where energy rain grams come from: the rain's own mint.
    Rain,
    /// A player's inventory of props, where a task's prop rewards go (entries to it
    /// count props, not grams).
    Inventory(PlayerId),
    /// Cluster mode: grams between shards. The sending shard moves grams into it, the
    /// receiving shard out of it, so over all shards it holds what is in flight.
    Transfer(super::outbox::TransferId),
}

/// Why grams moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Flow {
    /// Mint → ball, from a green action.
    Created,
    /// Ball → owner's balance.
    Collected,
    /// Ball → thief's balance.
    Stolen,
    /// Ball → owner's balance, picked by a friend.
    Helped,
    /// Giver's balance → a water ball.
    Watered,
    /// Ball → expired.
    Expired,
    /// Balance or team → planted tree.
    Planted,
    /// Balance → team tree.
    TeamWatered,
    /// Ball → held, when the risk engine holds a steal or a watering.
    Held,
    /// Held → the player's balance, when a reviewer releases the flag.
    Released,
    /// Held → forfeited, when a reviewer confirms the flag.
    Forfeited,
    /// Vitality mint → a player's vitality (points, not grams).
    VitalityEarned,
    /// A player's vitality → the shop (points, not grams).
    VitalitySpent,
    /// Expired → a new ripe ball of the owner: a friend revived expired energy.
    Revived,
    /// Vitality mint → the reviver's vitality (points, not grams).
    ReviveRewarded,
    /// Rain → a player's balance: the grams caught in an energy rain round.
    Rained,
    /// A task's budget → a player's inventory: a prop reward (props, not grams).
    PropsRewarded,
    /// Cluster mode: a transfer from another shard → a balance or a ball here.
    Arrived,
    /// Cluster mode, props not grams: a giver's inventory → a transfer to the friend's
    /// shard (`gift_prop`), and a transfer → the friend's inventory there (or the
    /// giver's again, when the friend's shard refused).
    PropsGifted,
}

/// One movement of energy, or of vitality points for the vitality flows (their
/// `grams` counts points). The id is globally unique so a transfer applied twice (as a
/// cross-shard credit may be) is recognised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unique, increasing id.
    pub id: u64,
    /// Game time.
    pub time: Millis,
    /// Why.
    pub flow: Flow,
    /// How much.
    pub grams: u64,
    /// From where.
    pub from: Account,
    /// To where.
    pub to: Account,
}

/// Running totals of the ledger, for the conservation identity and metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerTotals {
    /// Grams created by green actions.
    pub created: u64,
    /// Grams collected by owners.
    pub collected: u64,
    /// Grams stolen.
    pub stolen: u64,
    /// Grams picked by helpers for owners.
    pub helped: u64,
    /// Grams given as water.
    pub watered: u64,
    /// Grams lost to expiry.
    pub expired: u64,
    /// Grams spent on planted trees.
    pub planted: u64,
    /// Grams sitting in team trees.
    pub in_team_trees: u64,
}

/// Counters and the clock, written every tick.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The game clock at the end of the tick.
    pub game_time: Millis,
    /// The next player id to hand out.
    pub next_player_id: u64,
    /// The next ball id.
    pub next_ball_id: u64,
    /// The next ledger entry id.
    pub next_ledger_id: u64,
    /// The next certificate id.
    pub next_certificate_id: u64,
    /// The next team id.
    pub next_team_id: u64,
    /// Ledger totals.
    pub totals: LedgerTotals,
}

/// A partner of the partner API, whole. Its key is held only as its SHA-256 digest,
/// sealed under the server's partner secret (`crate::partner_secret`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRecord {
    /// The partner's id.
    pub id: PartnerId,
    /// Display name.
    pub name: String,
    /// The action kinds it may report.
    pub kinds: Vec<String>,
    /// Whether it may publish and complete tasks of its own.
    pub may_publish_tasks: bool,
    /// Requests per minute.
    pub rate_per_minute: u32,
    /// Active or suspended.
    pub status: PartnerStatus,
    /// SHA-256 of its current API key (the HMAC key its requests are signed with),
    /// sealed: XOR the pad of its id and key version. Plain in a record written before
    /// keys were sealed (`key_check` is `None`), until the start seals it.
    #[serde(alias = "key_digest")]
    pub sealed_key: [u8; 32],
    /// 1 at creation, +1 per rotation.
    pub key_version: u32,
    /// Registration time (game clock).
    pub created_at: Millis,
    /// The sequence number its next audit entry gets.
    pub audit_next: u64,
    /// Proves `sealed_key` sealed under this server's secret, so a start with another
    /// secret is refused; `None` in a record written before keys were sealed.
    #[serde(default)]
    pub key_check: Option<[u8; crate::partner_secret::CHECK_LEN]>,
}

/// A partner as stores wrote it before keys were sealed: the same fields without
/// `key_check`, its key the plain digest. Only read, as a fallback, by the sled store.
#[derive(Deserialize)]
pub struct PartnerRecordV1 {
    id: PartnerId,
    name: String,
    kinds: Vec<String>,
    may_publish_tasks: bool,
    rate_per_minute: u32,
    status: PartnerStatus,
    key_digest: [u8; 32],
    key_version: u32,
    created_at: Millis,
    audit_next: u64,
}

impl From<PartnerRecordV1> for PartnerRecord {
    fn from(old: PartnerRecordV1) -> Self {
        Self {
            id: old.id,
            name: old.name,
            kinds: old.kinds,
            may_publish_tasks: old.may_publish_tasks,
            rate_per_minute: old.rate_per_minute,
            status: old.status,
            sealed_key: old.key_digest,
            key_version: old.key_version,
            created_at: old.created_at,
            audit_next: old.audit_next,
            key_check: None,
        }
    }
}

/// The first answer to a partner's `ref`, replayed to a retry with the same body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerReceipt {
    /// SHA-256 of the first request's body: the same `ref` with another body is a
    /// conflict, not a retry.
    pub body_sha256: [u8; 32],
    /// The answer: the result object as JSON text, or the error.
    pub answer: Result<String, ErrorBody>,
}

/// A task of the task center, whole. `budget = disbursed + remaining` always, in the
/// task's unit (grams, or props for a prop reward): a reward moves its units from
/// `remaining` to `disbursed` in the same commit as its ball or props and its ledger
/// entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task's id.
    pub id: TaskId,
    /// The partner that published it, `None` for ops.
    pub partner: Option<PartnerId>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Grams per completion (0 for a prop reward).
    pub reward_grams: u64,
    /// Who may accept it.
    pub audience: Audience,
    /// Window start (game clock).
    pub starts_at: Millis,
    /// Window end, exclusive.
    pub ends_at: Millis,
    /// Completions rewarded per player.
    pub per_player_limit: u32,
    /// Total budget, in the task's unit.
    pub budget: u64,
    /// Units disbursed.
    pub disbursed: u64,
    /// Units left.
    pub remaining: u64,
    /// Completions rewarded.
    pub completions: u64,
    /// Open, paused, closed or exhausted.
    pub status: TaskStatus,
    /// The props each completion gives instead of grams; the budget then counts props.
    pub reward_prop: Option<PropReward>,
}

impl TaskRecord {
    /// What one completion costs the budget: its grams, or its count of props.
    pub fn reward_units(&self) -> u64 {
        self.reward_prop
            .map_or(self.reward_grams, |reward| u64::from(reward.count))
    }
}

/// A task as stores wrote it before prop rewards: the same fields without
/// `reward_prop`. Only read, as a fallback, by the sled store.
#[derive(Deserialize)]
pub struct TaskRecordV1 {
    id: TaskId,
    partner: Option<PartnerId>,
    title: String,
    description: String,
    reward_grams: u64,
    audience: Audience,
    starts_at: Millis,
    ends_at: Millis,
    per_player_limit: u32,
    budget: u64,
    disbursed: u64,
    remaining: u64,
    completions: u64,
    status: TaskStatus,
}

impl From<TaskRecordV1> for TaskRecord {
    fn from(old: TaskRecordV1) -> Self {
        Self {
            id: old.id,
            partner: old.partner,
            title: old.title,
            description: old.description,
            reward_grams: old.reward_grams,
            audience: old.audience,
            starts_at: old.starts_at,
            ends_at: old.ends_at,
            per_player_limit: old.per_player_limit,
            budget: old.budget,
            disbursed: old.disbursed,
            remaining: old.remaining,
            completions: old.completions,
            status: old.status,
            reward_prop: None,
        }
    }
}

/// One player's standing with one task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskProgress {
    /// When the player accepted it.
    pub accepted_at: Millis,
    /// Completions rewarded.
    pub completions: u32,
}

/// A player's standing with every task they accepted: stored per player.
pub type TaskBook = BTreeMap<TaskId, TaskProgress>;

/// A campaign, whole. `budget_grams = disbursed_grams + remaining_grams` always, as
/// for a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecord {
    /// The campaign's id.
    pub id: CampaignId,
    /// What ops defined.
    pub definition: NewCampaign,
    /// Grams paid.
    pub disbursed_grams: u64,
    /// Grams left.
    pub remaining_grams: u64,
    /// Bonus balls paid.
    pub bonuses: u64,
    /// Active, closed or exhausted.
    pub status: CampaignStatus,
    /// The `[campaigns.<key>]` table that defines it, `None` for the admin API's.
    pub config_key: Option<String>,
}

/// A campaign as stores wrote it before campaigns could be defined in the config
/// file: the same fields without `config_key`. Only read, as a fallback, by the sled store.
#[derive(Deserialize)]
pub struct CampaignRecordV1 {
    id: CampaignId,
    definition: NewCampaign,
    disbursed_grams: u64,
    remaining_grams: u64,
    bonuses: u64,
    status: CampaignStatus,
}

impl From<CampaignRecordV1> for CampaignRecord {
    fn from(old: CampaignRecordV1) -> Self {
        Self {
            id: old.id,
            definition: old.definition,
            disbursed_grams: old.disbursed_grams,
            remaining_grams: old.remaining_grams,
            bonuses: old.bonuses,
            status: old.status,
            config_key: None,
        }
    }
}

/// A player's vitality and shop counters: a record of its own (key `v<player>`), so
/// the player record keeps its layout and a player who never earned a point has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VitalityRecord {
    /// Whose it is.
    pub player: PlayerId,
    /// Vitality points held.
    pub points: u64,
    /// Collected grams not yet worth a whole point.
    pub carry_grams: u64,
    /// The game day the daily counts are for.
    pub day: i64,
    /// The month (see `rules::month_key`) the monthly counts are for.
    pub month: i32,
    /// Purchases of each shop item today.
    pub bought_today: BTreeMap<String, u32>,
    /// Purchases of each shop item this month.
    pub bought_this_month: BTreeMap<String, u32>,
    /// Props given to friends today.
    pub gifts_today: u32,
}

impl VitalityRecord {
    /// Clears the daily counts on a new game day and the monthly ones in a new month.
    pub fn roll(&mut self, day: i64, month: i32) {
        if self.day != day {
            self.day = day;
            self.bought_today.clear();
            self.gifts_today = 0;
        }
        if self.month != month {
            self.month = month;
            self.bought_this_month.clear();
        }
    }
}

/// Running totals of vitality points, for the audit's vitality identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VitalityTotals {
    /// Points ever earned.
    pub earned: u64,
    /// Points ever spent.
    pub spent: u64,
}

/// An expired ball of a player, remembered for its revival window and as long again
/// after it (see `game::revive`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revivable {
    /// The expired ball.
    pub ball_id: BallId,
    /// Grams it held when it expired.
    pub grams: u64,
    /// When it expired.
    pub expired_at: Millis,
    /// The friend who revived it, once one has.
    pub revived_by: Option<PlayerId>,
}

/// A player's revival state: their expired balls friends may revive, and how many of
/// their friends' balls they revived today. A record of its own (key `y<player>`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevivalRecord {
    /// Whose it is.
    pub player: PlayerId,
    /// The player's remembered expired balls, oldest first.
    pub expired: Vec<Revivable>,
    /// The game day `revived_today` counts for.
    pub day: i64,
    /// Friends' balls this player revived on `day`.
    pub revived_today: u32,
}

/// Running totals of revivals (key `Y`), beside the ledger totals of the meta record
/// whose layout predates them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevivalTotals {
    /// Grams ever revived: moved from expired back into balls.
    pub revived: u64,
}
/// A player's energy rain: today's rounds and chances, the round in flight and the
/// tap timing of recent rounds. A record of its own (key `w<player>`), written when it
/// changes: every acknowledged tap is in it, so a round survives a crash whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainRecord {
    /// Whose it is.
    pub player: PlayerId,
    /// The game day the counts are for.
    pub day: i64,
    /// Rounds started today.
    pub rounds_started: u32,
    /// Chances given to friends today.
    pub gifts_given: u32,
    /// Chances received from friends today.
    pub gifts_received: u32,
    /// The round in flight, until it is settled.
    pub round: Option<RainRound>,
    /// The taps of the last settled rounds, oldest first, for the `rain_precision` rule.
    pub recent: Vec<RainRoundTaps>,
}

impl RainRecord {
    /// Clears the daily counts on a new game day.
    pub fn roll(&mut self, day: i64) {
        if self.day != day {
            self.day = day;
            self.rounds_started = 0;
            self.gifts_given = 0;
            self.gifts_received = 0;
        }
    }
}

/// A round of the energy rain in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainRound {
    /// The round's id.
    pub id: u64,
    /// The seed of its balls.
    pub seed: u64,
    /// The parameters of its balls, as they were when it started.
    pub params: canopy_shared::rain::RainParams,
    /// When it starts.
    pub starts_at: Millis,
    /// When it ends and is settled.
    pub ends_at: Millis,
    /// The taps accepted, in order.
    pub taps: Vec<RainTap>,
}

impl RainRound {
    /// Grams of the balls caught so far.
    pub fn caught_grams(&self) -> u64 {
        self.taps.iter().map(|tap| tap.grams).sum()
    }
}

/// One accepted tap: the ball, its grams, and when it was tapped and received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainTap {
    /// The ball's index.
    pub ball: u32,
    /// Its grams.
    pub grams: u64,
    /// When the player says they tapped it, after the round's start.
    pub at_ms: u64,
    /// How long after its appearance that was.
    pub reaction_ms: u64,
}

/// The taps of one settled round, for judging precision over several rounds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainRoundTaps {
    /// The round's id.
    pub round: u64,
    /// Balls in the round.
    pub balls: u32,
    /// The taps accepted, in order.
    pub taps: Vec<RainTap>,
}

/// Running totals of the energy rain, and the next round id (key `W`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainTotals {
    /// The id the next round gets.
    pub next_round: u64,
    /// Rounds settled.
    pub rounds: u64,
    /// Grams credited by settled rounds.
    pub grams: u64,
}

#[cfg(test)]
mod tests {
    use canopy_shared::{ErrorBody, ErrorCode};

    #[test]
    fn a_partner_published_before_keys_were_sealed_reads_as_plain() {
        let record = super::PartnerRecord {
            id: canopy_shared::PartnerId(3),
            name: "Metro Co".to_owned(),
            kinds: vec!["metro".to_owned()],
            may_publish_tasks: false,
            rate_per_minute: 60,
            status: canopy_shared::partner::PartnerStatus::Active,
            sealed_key: [7; 32],
            key_version: 2,
            created_at: 5,
            audit_next: 1,
            key_check: None,
        };
        let mut json = serde_json::to_value(&record).expect("a record is JSON");
        let fields = json.as_object_mut().expect("an object");
        let digest = fields.remove("sealed_key").expect("the key");
        fields.insert("key_digest".to_owned(), digest);
        fields.remove("key_check");
        let read: super::PartnerRecord =
            serde_json::from_value(json).expect("the older shape reads");
        assert_eq!(read, record, "its digest, not sealed yet");
    }

    #[test]
    fn a_stored_error_is_code_and_message_as_before_redirects_existed() {
        let redirect = ErrorBody::redirect("on shard 1", "ws://b/ws");
        let stored = postcard::to_stdvec(&redirect).expect("encodes");
        let before = postcard::to_stdvec(&(ErrorCode::WrongShard, "on shard 1")).expect("encodes");
        assert_eq!(stored, before, "no redirect in the store");
        let read: ErrorBody = postcard::from_bytes(&before).expect("an old record decodes");
        assert_eq!(read, ErrorBody::new(ErrorCode::WrongShard, "on shard 1"));
    }
}

/// A partner audit entry as stores wrote it before prop rewards were logged: the same
/// fields without `prop`. Only read, as a fallback, by the sled store.
#[derive(Deserialize)]
pub struct PartnerAuditEntryV1 {
    seq: u64,
    partner_id: PartnerId,
    time: Millis,
    call: String,
    reference: String,
    player_id: Option<PlayerId>,
    result: String,
    grams: u64,
}

impl From<PartnerAuditEntryV1> for canopy_shared::partner::PartnerAuditEntry {
    fn from(old: PartnerAuditEntryV1) -> Self {
        Self {
            seq: old.seq,
            partner_id: old.partner_id,
            time: old.time,
            call: old.call,
            reference: old.reference,
            player_id: old.player_id,
            result: old.result,
            grams: old.grams,
            prop: None,
        }
    }
}
