//! The risk engine's flags as the ops API shows them (and as the store keeps them),
//! and the decisions a rule can take. See docs/RISK.md.

use crate::ids::{BallId, FlagId, Millis, PlayerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a rule does when it trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing: the rule only measures.
    Allow,
    /// The action goes through and a flag is raised for a reviewer.
    Review,
    /// The energy the action credits is held until a reviewer releases or confirms it.
    Hold,
    /// The action is refused with `RISK_DENIED`.
    Deny,
}

impl Decision {
    /// Every decision, in order of severity.
    pub const ALL: [Decision; 4] = [Self::Allow, Self::Review, Self::Hold, Self::Deny];

    /// The decision's name in config files and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Review => "review",
            Self::Hold => "hold",
            Self::Deny => "deny",
        }
    }

    /// The decision named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a flag stands in the review queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    /// Waiting for a reviewer; held energy stays held.
    Open,
    /// A reviewer cleared it; held energy went to the player's balance.
    Released,
    /// A reviewer confirmed it; held energy was forfeited.
    Confirmed,
}

impl FlagStatus {
    /// The status's name in query strings and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Released => "released",
            Self::Confirmed => "confirmed",
        }
    }

    /// The status named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Open, Self::Released, Self::Confirmed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// What triggered a flag: the numbers the rule compared, and who and what was involved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The measured values and the thresholds, by name (`steps_per_second`, `limit`, ...).
    pub numbers: BTreeMap<String, f64>,
    /// Other players involved (the givers of a funnel, the members of a ring).
    pub players: Vec<PlayerId>,
    /// Balls involved (the steals of a sniper).
    pub balls: Vec<BallId>,
}

/// One flag of the review queue. A flag stays open per player and rule: a rule that
/// trips again adds to the open flag (its evidence is the latest, its `hits` and
/// `held` grow) instead of raising another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskFlag {
    /// The flag's id.
    pub id: FlagId,
    /// The player flagged.
    pub player_id: PlayerId,
    /// The rule or signal id (`steps_rate`, `ring`, ...).
    pub rule: String,
    /// The decision taken.
    pub decision: Decision,
    /// Where it stands.
    pub status: FlagStatus,
    /// Why, in words a player and a reviewer understand.
    pub reason: String,
    /// The numbers and the players/balls behind it (the latest trip's).
    pub evidence: Evidence,
    /// Grams held under this flag (while open), or released or forfeited (after).
    pub held: u64,
    /// How often the rule tripped while the flag was open.
    pub hits: u32,
    /// When it was raised.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// `GET /admin/risk/flags`: the flags, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlagList {
    /// The flags that match the query.
    pub flags: Vec<RiskFlag>,
}

/// `GET /admin/risk/flags` filters: `status` (`open`, `released`, `confirmed`) and
/// `player_id`, both optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagQuery {
    /// Only flags with this status.
    #[serde(default)]
    pub status: Option<FlagStatus>,
    /// Only flags of this player.
    #[serde(default)]
    pub player_id: Option<PlayerId>,
}

/// Energy held from a player, as `me` shows it to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    /// The flag holding it.
    pub flag_id: FlagId,
    /// Grams held.
    pub grams: u64,
    /// Why, in plain words.
    pub reason: String,
}

/// One finding of the graph analysis: the players involved and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphFinding {
    /// `ring`, `dense_block` or `new_account_star`.
    pub rule: String,
    /// Every player involved, by id.
    pub players: Vec<PlayerId>,
    /// The one player fed, for a star or a single-receiver block.
    pub receiver: Option<PlayerId>,
    /// Grams that flowed inside the finding in the window.
    pub grams: u64,
    /// The signal's measure: the new-account share (ring, star) or the density in
    /// grams per node (block).
    pub score: f64,
    /// Why, in words.
    pub reason: String,
}

/// `GET /admin/risk/graph`: the latest graph analysis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphReport {
    /// When it ran (game time: when its flags were raised); 0 before the first run.
    pub ran_at: Millis,
    /// Which run of the server it is (1 for the first after a start); 0 before the
    /// first. Two runs at the same game time (a manual clock) differ here.
    #[serde(default)]
    pub run: u64,
    /// How long it took.
    pub took_ms: u64,
    /// Flows in the window it read.
    pub flows: u64,
    /// Players in those flows.
    pub players: u64,
    /// Watering cycles among mostly new or empty accounts.
    pub rings: Vec<GraphFinding>,
    /// Dense blocks of givers feeding few receivers.
    pub dense_blocks: Vec<GraphFinding>,
    /// Receivers fed by many new or empty accounts.
    pub stars: Vec<GraphFinding>,
}
