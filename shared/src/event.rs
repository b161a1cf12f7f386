//! Events the server pushes: `{"event": "<name>", ...fields}`, never with an `id`.

use crate::ids::{BallId, PlayerId};
use crate::model::{BallView, Certificate, PropKind};
use serde::{Deserialize, Serialize};

/// A ball that ripened this tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RipeBall {
    /// The ball.
    pub ball_id: BallId,
    /// Grams in it.
    pub amount: u64,
}

/// Why a ball left the owner's tree without being picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoneReason {
    /// Nobody picked it within its lifetime.
    Expired,
}

/// Every event of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new ball appeared on the owner's tree.
    BallNew {
        /// The ball.
        ball: BallView,
    },
    /// Balls of the owner ripened.
    BallRipe {
        /// Ids and amounts.
        balls: Vec<RipeBall>,
    },
    /// A ball disappeared.
    BallGone {
        /// The ball.
        ball_id: BallId,
        /// Why.
        reason: GoneReason,
    },
    /// A friend stole from the owner's ball.
    EnergyStolen {
        /// The thief, or `null` under stealth.
        by: Option<PlayerId>,
        /// The ball.
        ball_id: BallId,
        /// Grams taken.
        grams: u64,
    },
    /// A friend watered the player.
    Watered {
        /// The friend.
        by: PlayerId,
        /// Grams given.
        grams: u64,
        /// The watered player's energy balance.
        energy: u64,
    },
    /// Someone asked to be friends.
    FriendRequest {
        /// The requester.
        from: PlayerId,
        /// Their name.
        name: String,
    },
    /// A friendship began.
    FriendAdded {
        /// The other side.
        player_id: PlayerId,
    },
    /// A friendship ended.
    FriendRemoved {
        /// The other side.
        player_id: PlayerId,
    },
    /// What the receiver could now steal from a friend may have changed: to each session
    /// watching that friend (its friends list, or the friend's forest), at most one per
    /// friend per batch.
    FriendStealable {
        /// The friend.
        friend_id: PlayerId,
        /// Grams stealable now.
        grams: u64,
    },
    /// A certificate was issued.
    Certificate {
        /// The certificate.
        certificate: Certificate,
    },
    /// A friend collected one of the owner's balls for them.
    HelpCollected {
        /// The friend.
        by: PlayerId,
        /// The ball.
        ball_id: BallId,
        /// Grams credited to the owner.
        grams: u64,
    },
    /// The owner's cover stopped a thief.
    ProtectedBlock {
        /// The would-be thief, or `null` under stealth.
        by: Option<PlayerId>,
    },
    /// To a session watching a friend's forest: that forest after a batch changed it.
    ForestChanged {
        /// The friend whose forest it is.
        owner_id: PlayerId,
        /// What the receiver could steal from them now.
        stealable_grams: u64,
        /// Their balls, as `friend_balls` lists them for the receiver.
        balls: Vec<BallView>,
        /// Their expired balls the receiver may revive, as `friend_balls` lists them.
        #[serde(default)]
        revivable: Vec<crate::model::RevivableBall>,
    },
    /// The risk engine held energy the player's action would have credited.
    RiskHold {
        /// The flag holding it.
        flag_id: crate::ids::FlagId,
        /// Grams held by this action.
        grams: u64,
        /// All grams held from the player now.
        held: u64,
        /// Why, in plain words.
        reason: String,
    },
    /// A task's publisher confirmed the player completed it: the reward is a new ball
    /// (also announced with `ball_new`) or props, already in the inventory.
    TaskCompleted {
        /// The task.
        task_id: crate::ids::TaskId,
        /// Grams rewarded (0 for a prop reward).
        grams: u64,
        /// The reward ball; absent for a prop reward.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ball_id: Option<crate::ids::BallId>,
        /// The props rewarded; absent for a grams reward.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prop: Option<crate::task::PropReward>,
    },
    /// The server is stopping.
    ServerShutdown {
        /// Why.
        reason: String,
    },
    /// A friend gave the player a prop; it is in the inventory now.
    PropGift {
        /// The friend.
        from: PlayerId,
        /// Which prop.
        prop: PropKind,
    },
    /// A friend revived one of the owner's expired balls: its grams are back in a new,
    /// ripe ball (announced by `ball_new` just before).
    EnergyRevived {
        /// The friend.
        by: PlayerId,
        /// The new ball.
        ball_id: BallId,
        /// The expired ball it brings back.
        expired_ball_id: BallId,
        /// Grams revived.
        grams: u64,
    },
    /// The player's energy rain round ended on the server's clock; its caught grams
    /// are in the balance now.
    RainEnded {
        /// The round.
        round_id: u64,
        /// Balls caught.
        caught: u32,
        /// Grams credited.
        grams: u64,
        /// The balance after the credit.
        energy: u64,
        /// Vitality points the round earned.
        vitality: u64,
    },
    /// A friend gave the player one more energy rain round today.
    RainChance {
        /// The friend.
        from: PlayerId,
    },
}

impl Event {
    /// The event's wire name (its `event` field), for counting and logging events
    /// without serializing them.
    pub fn name(&self) -> &'static str {
        match self {
            Event::BallNew { .. } => "ball_new",
            Event::BallRipe { .. } => "ball_ripe",
            Event::BallGone { .. } => "ball_gone",
            Event::EnergyStolen { .. } => "energy_stolen",
            Event::Watered { .. } => "watered",
            Event::FriendRequest { .. } => "friend_request",
            Event::FriendAdded { .. } => "friend_added",
            Event::FriendRemoved { .. } => "friend_removed",
            Event::FriendStealable { .. } => "friend_stealable",
            Event::Certificate { .. } => "certificate",
            Event::HelpCollected { .. } => "help_collected",
            Event::ProtectedBlock { .. } => "protected_block",
            Event::ForestChanged { .. } => "forest_changed",
            Event::RiskHold { .. } => "risk_hold",
            Event::TaskCompleted { .. } => "task_completed",
            Event::ServerShutdown { .. } => "server_shutdown",
            Event::PropGift { .. } => "prop_gift",
            Event::EnergyRevived { .. } => "energy_revived",
            Event::RainEnded { .. } => "rain_ended",
            Event::RainChance { .. } => "rain_chance",
        }
    }
}
