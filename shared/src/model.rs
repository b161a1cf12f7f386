//! The shapes of game things as they appear inside replies and events.

use crate::ids::{BallId, CertificateId, Millis, PlayerId, TeamId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An energy ball as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallView {
    /// The ball's id.
    pub ball_id: BallId,
    /// Whose tree the ball grows on.
    pub owner: PlayerId,
    /// The action kind that created it (`walk`, `metro`, ...) or `water`.
    pub source: String,
    /// Grams left in the ball.
    pub amount: u64,
    /// When the ball appeared.
    pub created_at: Millis,
    /// When it ripens (or ripened).
    pub ripe_at: Millis,
    /// When it disappears if nobody picks it.
    pub expires_at: Millis,
    /// Grams stolen from it so far.
    pub stolen: u64,
    /// Grams a friend could still take, from the viewer's side (0 for the owner's view
    /// of an unripe ball, a water ball, or a ball down to its kept share).
    pub stealable: u64,
}

/// The four props of GAME.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropKind {
    /// Friends cannot steal from you while it lasts.
    ProtectionCover,
    /// You may hit each friend's ball twice while it lasts.
    DoubleClick,
    /// All your unripe balls ripen now.
    TimeAccelerator,
    /// Your steals show in feeds as "someone" while it lasts.
    Stealth,
}

impl PropKind {
    /// Every prop, in a stable order.
    pub const ALL: [PropKind; 4] = [
        PropKind::ProtectionCover,
        PropKind::DoubleClick,
        PropKind::TimeAccelerator,
        PropKind::Stealth,
    ];

    /// The prop's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProtectionCover => "protection_cover",
            Self::DoubleClick => "double_click",
            Self::TimeAccelerator => "time_accelerator",
            Self::Stealth => "stealth",
        }
    }
}

/// A prop in effect and when it ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveProp {
    /// Which prop.
    pub prop: PropKind,
    /// When its effect ends.
    pub until: Millis,
}

/// A player's props: what is in the inventory and what is in effect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropsView {
    /// Unused props by kind; every kind is listed, with 0 when there are none.
    pub inventory: BTreeMap<PropKind, u32>,
    /// Props whose effect lasts now.
    pub active: Vec<ActiveProp>,
}

/// The virtual tree's growth stage, from the energy balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TreeStage {
    /// Under 1,000 g.
    Seed,
    /// Under 5,000 g.
    Sprout,
    /// Under the cheapest species' grams.
    Sapling,
    /// Enough energy to plant a real tree.
    Tree,
}

/// The promise that a real tree is planted, or a protected area protected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The certificate's id.
    pub id: CertificateId,
    /// The species' catalog id, or the protected area's.
    pub species: String,
    /// Where the tree is planted or the area lies.
    pub region: String,
    /// Grams of energy it took.
    pub grams: u64,
    /// When it was planted.
    pub planted_at: Millis,
    /// The team's name for a co-planted tree, else `null`.
    pub team: Option<String>,
    /// A tree or a protected area; `tree` from servers before areas existed.
    #[serde(default)]
    pub kind: CertificateKind,
    /// Square metres protected, for an `area` certificate; `null` for a tree.
    #[serde(default)]
    pub square_metres: Option<u64>,
}

/// What a certificate certifies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// A real tree planted.
    #[default]
    Tree,
    /// Square metres of a protected area (保护地) protected.
    Area,
}

/// One protected area of the catalog, as the `species` op lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaView {
    /// Catalog id (`sanjiangyuan`, ...).
    pub id: String,
    /// English name.
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// Where it lies.
    pub region: String,
    /// Grams of energy per square metre.
    pub grams_per_m2: u64,
    /// Square metres one `protect_area` may buy at most.
    pub max_square_metres: u64,
}

/// A player's own profile, as `me` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerView {
    /// The player's id.
    pub id: PlayerId,
    /// The display name.
    pub name: String,
    /// Energy balance in grams.
    pub energy: u64,
    /// All energy ever collected (own balls, steals, helped balls).
    pub total_collected: u64,
    /// The virtual tree's stage.
    pub tree: TreeStage,
    /// Certificates earned, oldest first.
    pub certificates: Vec<Certificate>,
    /// Props held and in effect.
    pub props: PropsView,
    /// When the protection cover ends, or `null` when none is active.
    pub protected_until: Option<Millis>,
    /// Grams the risk engine holds from the player until a review (not collectible,
    /// stealable or plantable); 0 when nothing is held.
    #[serde(default)]
    pub held: u64,
    /// What is held and why, one entry per open flag holding energy.
    #[serde(default)]
    pub holds: Vec<crate::risk::HoldView>,
    /// Vitality points: earned by playing, spent in the shop, never stolen.
    #[serde(default)]
    pub vitality: u64,
    /// Trees planted: the player's `tree` certificates (co-planted ones included).
    #[serde(default)]
    pub trees: u64,
    /// Square metres of protected areas: the sum of the `area` certificates.
    #[serde(default)]
    pub protected_m2: u64,
}

/// One species of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeciesView {
    /// Catalog id (`saxaul`, ...).
    pub id: String,
    /// English name.
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// Grams of energy needed to plant it.
    pub grams: u64,
    /// The planting region.
    pub region: String,
}

/// A friend as the `friends` list shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendView {
    /// The friend's id.
    pub player_id: PlayerId,
    /// The friend's name.
    pub name: String,
    /// Their energy balance.
    pub energy: u64,
    /// All energy they ever collected.
    pub total_collected: u64,
    /// Grams the caller could steal from them right now (the "hand" icon).
    pub stealable_grams: u64,
    /// When their protection cover ends, or `null`.
    pub protected_until: Option<Millis>,
}

/// What a session can watch for pushes about other players.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchTarget {
    /// The friends list: `friend_stealable` for each friend.
    Friends,
    /// One friend's forest: `forest_changed`, and `friend_stealable` for that friend.
    Forest,
}

/// A pending friend request, incoming or outgoing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequestView {
    /// The other player.
    pub player_id: PlayerId,
    /// Their name.
    pub name: String,
    /// When the request was sent.
    pub sent_at: Millis,
}

/// A friend-of-friend suggestion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The suggested player.
    pub player_id: PlayerId,
    /// Their name.
    pub name: String,
    /// How many friends the caller shares with them.
    pub mutual: u32,
}

/// Which energy a leaderboard ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardPeriod {
    /// All energy ever collected.
    Total,
    /// Energy collected since Monday 00:00 game-local time.
    Week,
}

/// One row of a leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEntry {
    /// 1-based rank.
    pub rank: u32,
    /// The player.
    pub player_id: PlayerId,
    /// Their name.
    pub name: String,
    /// Grams for the period.
    pub grams: u64,
    /// Trees the player has planted (all time).
    #[serde(default)]
    pub trees: u64,
    /// Square metres of protected areas the player has protected (all time).
    #[serde(default)]
    pub protected_m2: u64,
}

/// What a feed entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// `actor` stole `grams` from `target`.
    Stolen,
    /// `actor` watered `target` with `grams`.
    Watered,
    /// `actor` collected `grams` for `target`.
    Helped,
    /// `target`'s cover stopped `actor`.
    ProtectedBlock,
    /// `target` earned a certificate.
    Certificate,
}

/// One entry of a player's feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// When it happened.
    pub time: Millis,
    /// What happened.
    pub kind: FeedKind,
    /// Who did it; `null` when hidden by stealth.
    pub actor: Option<PlayerId>,
    /// Who it happened to.
    pub target: Option<PlayerId>,
    /// Grams moved, 0 when none.
    pub grams: u64,
}

/// A co-planting team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamView {
    /// The team's id.
    pub team_id: TeamId,
    /// The team's name.
    pub name: String,
    /// The species the team plants.
    pub species: String,
    /// Grams watered into the current tree so far.
    pub progress: u64,
    /// Grams the species needs.
    pub grams: u64,
    /// Members, creator first.
    pub members: Vec<PlayerId>,
}

/// One item of the props shop, from the buyer's side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopItemView {
    /// The item's id, as `buy` names it.
    pub item: String,
    /// The prop it gives.
    pub prop: PropKind,
    /// How many of the prop one purchase gives.
    pub count: u32,
    /// Its price in vitality points.
    pub price: u64,
    /// Purchases allowed per game day, or `null` for no daily limit.
    pub per_day: Option<u32>,
    /// Purchases allowed per calendar month, or `null` for no monthly limit.
    pub per_month: Option<u32>,
    /// How many more the buyer may buy today under both limits, or `null` when neither
    /// limits it.
    pub left_today: Option<u32>,
}

/// A friend's expired ball that the viewer may revive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevivableBall {
    /// The expired ball.
    pub ball_id: BallId,
    /// Grams it held when it expired.
    pub grams: u64,
    /// When it expired.
    pub expired_at: Millis,
    /// Until when it may be revived.
    pub until: Millis,
}
