//! Bodies of the ops HTTP admin calls, shared by the server and the CLI.

use crate::error::ErrorBody;
use crate::ids::{Millis, PlayerId};
use crate::model::PropKind;
use serde::{Deserialize, Serialize};

/// `POST /admin/actions`: a trusted partner reports a green action for a player.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerAction {
    /// The player credited.
    pub player_id: PlayerId,
    /// The action kind (`metro`, `offline_payment`, ...).
    pub kind: String,
    /// 1 for every kind but `walk`, where it is the day's cumulative steps.
    #[serde(default)]
    pub quantity: Option<u64>,
    /// The partner's idempotency key.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// `GET /cluster`: which shard answers and where every shard's game socket is, so a
/// client given one shard can reach the others (docs/SCALE-OUT.md). A server alone is
/// shard 0 of 1 with no URLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The shard that answered.
    pub shard: u64,
    /// How many shards the players are partitioned over.
    pub shards: u64,
    /// The shard map's epoch (0 alone).
    pub epoch: u64,
    /// The game socket URL of every shard that has joined, by shard.
    pub urls: std::collections::BTreeMap<u64, String>,
}

/// `POST /admin/props`: grant props to a player.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantProps {
    /// The player.
    pub player_id: PlayerId,
    /// Which prop.
    pub prop: PropKind,
    /// How many (1–1000).
    pub count: u32,
}

/// `POST /admin/clock/advance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockAdvance {
    /// How far to move the manual clock.
    pub ms: u64,
}

/// The answer of `POST /admin/clock/advance`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockTime {
    /// The game clock after the move.
    pub time: Millis,
}

/// `POST /admin/tick-rate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickRate {
    /// Ticks per second, 1–120.
    pub hz: u32,
}

/// `POST /admin/revoke-tokens`: end every session token of a player. The answer is
/// `{"revoked": <tokens>}`, as `logout_all`'s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeTokens {
    /// The player.
    pub player_id: PlayerId,
}

/// One ops call as the audit log keeps it: who (the ops token's name), what (method,
/// path and body), when and with what result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsCall {
    /// Wall-clock time of the call, ms since the Unix epoch.
    pub at: Millis,
    /// The name of the ops token used; `null` when the call carried no known token.
    pub token: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The path, with its query.
    pub path: String,
    /// The request body, cut at 512 bytes (empty for none).
    pub body: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// The answer of `GET /admin/audit-log`: the most recent ops calls, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    /// The calls.
    pub calls: Vec<OpsCall>,
}

/// Any admin error answer: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminError {
    /// What went wrong.
    pub error: ErrorBody,
}

/// The answer of `GET /admin/audit`: the conservation identities of GAME.md, checked
/// over the whole world and the whole ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// Whether every identity holds.
    pub balanced: bool,
    /// Grams ever created by green actions.
    pub created: u64,
    /// Grams in players' balances.
    pub balances: u64,
    /// Grams left in live balls.
    pub in_balls: u64,
    /// Grams in team trees.
    pub in_team_trees: u64,
    /// Grams spent on planted trees.
    pub planted: u64,
    /// Grams lost to expiry.
    pub expired: u64,
    /// Grams the risk engine holds under open flags.
    #[serde(default)]
    pub held: u64,
    /// Held grams forfeited under confirmed flags.
    #[serde(default)]
    pub forfeited: u64,
    /// Players and balls checked.
    pub players: u64,
    /// Live balls checked.
    pub balls: u64,
    /// Ledger entries read.
    pub ledger_entries: u64,
    /// Each identity that failed, in words (empty when balanced).
    pub problems: Vec<String>,
    /// Grams of every grams-reward task's budget (an addition: each task's budget = disbursed +
    /// remaining, and its disbursed grams = its rewards in the ledger).
    #[serde(default)]
    pub task_budgets: u64,
    /// Grams disbursed by tasks, all created as reward balls.
    #[serde(default)]
    pub task_disbursed: u64,
    /// Grams left in task budgets.
    #[serde(default)]
    pub task_remaining: u64,
    /// Props of every prop-reward task's budget (an addition: budget = disbursed +
    /// remaining, and its disbursed props = its prop rewards in the ledger).
    #[serde(default)]
    pub task_prop_budgets: u64,
    /// Props given by tasks, all put in players' inventories.
    #[serde(default)]
    pub task_props_disbursed: u64,
    /// Props left in task budgets.
    #[serde(default)]
    pub task_props_remaining: u64,
    /// Grams of every campaign's budget (an addition, with the same identity as tasks).
    #[serde(default)]
    pub campaign_budgets: u64,
    /// Grams paid as campaign bonuses.
    #[serde(default)]
    pub campaign_disbursed: u64,
    /// Grams left in campaign budgets.
    #[serde(default)]
    pub campaign_remaining: u64,
    /// Vitality points ever earned.
    #[serde(default)]
    pub vitality_earned: u64,
    /// Vitality points spent in the shop.
    #[serde(default)]
    pub vitality_spent: u64,
    /// Vitality points in players' balances (earned − spent when balanced).
    #[serde(default)]
    pub vitality_balances: u64,
    /// Grams friends revived: moved from `expired` back into new balls, so the grams
    /// still lost to expiry are `expired − revived`.
    #[serde(default)]
    pub revived: u64,
    /// Grams of expired balls friends may still revive (part of `expired − revived`).
    #[serde(default)]
    pub revivable: u64,
    /// Grams the energy rain credited to balances (outside `created`).
    #[serde(default)]
    pub rained: u64,
    /// Energy rain rounds settled.
    #[serde(default)]
    pub rain_rounds: u64,
    /// Cluster mode (an addition): grams this shard debited into transfers to other
    /// shards (a steal decided here, a watering given here, a refund sent back).
    #[serde(default)]
    pub sent_to_shards: u64,
    /// Cluster mode (an addition): grams this shard credited from other shards'
    /// transfers. Here, created + arrived = held anywhere on this shard + sent.
    #[serde(default)]
    pub arrived_from_shards: u64,
    /// Cluster mode (an addition): props this shard took from inventories into gifts to
    /// other shards' players (and refused gifts sent back).
    #[serde(default)]
    pub props_sent_to_shards: u64,
    /// Cluster mode (an addition): props this shard put into inventories from other
    /// shards' gifts (and refused gifts come back).
    #[serde(default)]
    pub props_arrived_from_shards: u64,
    /// Cluster mode (an addition): messages carrying grams or props that this shard
    /// sent and the receiver has not confirmed yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_transfers: Vec<OpenTransfer>,
}

/// Grams or props that left this shard in a message the receiving shard has not
/// confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTransfer {
    /// The message's id (its `Nats-Msg-Id`): transfer id and leg.
    pub message: String,
    /// The receiving shard.
    pub to_shard: u64,
    /// Grams it carries.
    pub grams: u64,
    /// Props it carries (an addition: a `gift_prop` between shards).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub props: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// `GET /admin/audit?cluster=true`: every shard's audit and the transfers in flight
/// between them, from one consistent cut.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterAuditReport {
    /// Whether every shard balances and the grams in flight are exactly the grams
    /// sent but not yet arrived.
    pub balanced: bool,
    /// Grams ever created (by green actions and the energy rain), over every shard.
    pub created: u64,
    /// Grams held in balances, balls, team trees, planted trees, expiry and risk holds,
    /// over every shard.
    pub accounted: u64,
    /// Grams debited on one shard and not yet credited on another.
    pub in_flight: u64,
    /// Messages carrying those grams or props.
    pub transfers_in_flight: u64,
    /// Props taken from an inventory on one shard and not yet put into one on another
    /// (an addition: `gift_prop` between shards); equal, over a consistent cut, to the
    /// shards' props sent − arrived.
    #[serde(default)]
    pub props_in_flight: u64,
    /// Rounds of reading every shard until one was a consistent cut.
    pub rounds: u32,
    /// Each identity that failed, in words.
    pub problems: Vec<String>,
    /// Every shard's own audit, by shard.
    pub shards: Vec<AuditReport>,
    /// Budgets of grams-reward tasks across the shards (an addition, docs/PARTNERS.md).
    #[serde(default)]
    pub task_grams: BudgetSplit,
    /// Budgets of prop-reward tasks across the shards, in props (an addition).
    #[serde(default)]
    pub task_props: BudgetSplit,
    /// Budgets of campaigns across the shards, in grams (an addition).
    #[serde(default)]
    pub campaign_grams: BudgetSplit,
}

/// Where the cluster's task or campaign budgets are (an addition to the cluster audit):
/// each allotment ledger keeps `budget = unallotted + allotted`, and the shards hold
/// (disbursed + remaining) at most what was allotted to them; the difference is budget
/// stranded by a crash between an allotment and its record, given back at the next
/// refill.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetSplit {
    /// The budgets, summed over their ledgers.
    pub budget: u64,
    /// Not yet allotted to any shard.
    pub unallotted: u64,
    /// Allotted to the shards, as the ledgers count it.
    pub allotted: u64,
    /// What the shards hold of it: their tasks' (or campaigns') disbursed + remaining.
    pub on_shards: u64,
    /// Allotted, not yet recorded by its shard: `allotted − on_shards`.
    pub stranded: u64,
}

/// `POST /admin/backup`: write a consistent copy of the live store to a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRequest {
    /// Where the server writes the backup: an absolute path on the server's machine
    /// that does not exist yet (a relative path would depend on the server's working
    /// directory).
    pub to: String,
}

/// The answer of `POST /admin/backup` (and what `canopy-server backup` prints).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The backup file written.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Records in it: every key scanned plus every write replayed.
    pub records: u64,
    /// The SHA-256 of the file's content before its checksum, in hex, as its trailer
    /// holds it: the operator can compare it after copying the file elsewhere.
    pub sha256: String,
    /// Commits that landed while the store was scanned, replayed at the end of the file
    /// so the backup is the state as of the last of them.
    pub commits_replayed: u64,
}
