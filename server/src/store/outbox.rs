//! Cluster mode's messages between shards, as the store keeps them: the transactional
//! outbox (messages written in the same commit as the change that sends them, kept
//! until the receiving shard confirms) and the idempotent inbox (a permanent record of
//! every message applied, written in the same commit as its effect).

use super::records::SocialWrite;
use canopy_shared::model::{PropKind, TeamView};
use canopy_shared::{BallId, ErrorBody, PlayerId, TeamId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A cross-shard operation: the shard that began it and that shard's sequence number,
/// so shards number their operations without asking each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TransferId {
    /// The shard that began it.
    pub shard: u64,
    /// Its number on that shard.
    pub seq: u64,
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.shard, self.seq)
    }
}

/// Which way a message of an operation goes: the request to the shard that decides, or
/// the outcome back to the shard that asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Leg {
    /// From the acting player's shard to the other player's.
    Request,
    /// The decision, back to the acting player's shard.
    Outcome,
}

/// One message of one operation: what the outbox and the inbox are keyed by, and its
/// `Nats-Msg-Id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageKey {
    /// The operation.
    pub transfer: TransferId,
    /// The leg.
    pub leg: Leg,
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let leg = match self.leg {
            Leg::Request => "request",
            Leg::Outcome => "outcome",
        };
        write!(f, "{}-{leg}", self.transfer)
    }
}

impl std::str::FromStr for MessageKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a message id (SHARD-SEQ-request|outcome)");
        let mut parts = text.splitn(3, '-');
        let mut number = || parts.next().and_then(|part| part.parse::<u64>().ok());
        let (shard, seq) = (number().ok_or_else(bad)?, number().ok_or_else(bad)?);
        let leg = match parts.next() {
            Some("request") => Leg::Request,
            Some("outcome") => Leg::Outcome,
            _ => return Err(bad()),
        };
        Ok(Self {
            transfer: TransferId { shard, seq },
            leg,
        })
    }
}

/// A friendship op that the other player's shard decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocialOp {
    /// `friend_request`.
    Request,
    /// `friend_accept`.
    Accept,
    /// `friend_decline`.
    Decline,
    /// `unfriend`.
    Unfriend,
    /// `block`.
    Block,
    /// `unblock`.
    Unblock,
}

/// A team op by a player of the sending shard on a team of the receiving one (the team
/// lives on its founder's shard), with what only the player's shard can check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TeamOp {
    /// `team_invite` of `invitee`.
    Invite {
        /// The player invited.
        invitee: PlayerId,
        /// Whether the inviter and the invitee are friends, as the inviter's shard
        /// found (its refusal is given in the one-node order).
        friendship: Result<(), ErrorBody>,
    },
    /// `team_join`; one of the player's teams (`teams.max_per_player`) is reserved on
    /// the player's shard.
    Join {
        /// Whether the player may be in one more team, as the player's shard found.
        room: Result<(), ErrorBody>,
    },
    /// `team_leave`.
    Leave,
    /// `team_water`: `grams` already debited from the member into the transfer.
    Water {
        /// Grams carried.
        grams: u64,
    },
}

/// What travels between shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A friendship op by `actor` (of the sending shard) on `target` (of the receiving
    /// one), with what the receiving shard cannot know about the actor.
    Social {
        /// Which op.
        op: SocialOp,
        /// Who acts.
        actor: PlayerId,
        /// On whom.
        target: PlayerId,
        /// The actor's friend count, for the friend limit.
        actor_friends: u32,
        /// The actor's name, for the `friend_request` event.
        actor_name: String,
    },
    /// The decision on a `Social` request: the graph changes both shards make, or why not.
    SocialDecided(Result<Vec<SocialWrite>, ErrorBody>),
    /// `steal` by a thief of the sending shard; the thief's daily cap allowance is
    /// reserved there.
    Steal {
        /// The thief.
        thief: PlayerId,
        /// The ball's owner.
        owner: PlayerId,
        /// The ball.
        ball: BallId,
        /// Grams the thief may still steal today (reserved on the thief's shard).
        allowance: u64,
        /// Hits per ball the thief's props allow.
        hits_allowed: u8,
        /// Whether the owner may see who stole (no stealth card).
        visible: bool,
    },
    /// The decision on a `Steal`: grams debited from the ball into the transfer and what
    /// the thief's shard needs to judge the steal, or why not.
    StealDecided(Result<Stolen, ErrorBody>),
    /// `help_collect` by a helper of the sending shard.
    HelpCollect {
        /// The helper.
        helper: PlayerId,
        /// The ball's owner.
        owner: PlayerId,
        /// The ball.
        ball: BallId,
        /// Whether the helper's account is new or empty, for the flow window.
        helper_new: bool,
    },
    /// The decision on a `HelpCollect`: grams collected for the owner, or why not.
    HelpDecided(Result<u64, ErrorBody>),
    /// `water`: `grams` already debited from the giver into the transfer.
    Water {
        /// The giver.
        giver: PlayerId,
        /// The friend watered.
        friend: PlayerId,
        /// Grams carried.
        grams: u64,
        /// Whether the giver's account is new or empty, for `water_funnel` and the flow
        /// window on the friend's shard.
        giver_new: bool,
    },
    /// The decision on a `Water`: the new water ball, or why not (the grams come back).
    WaterDecided(Result<BallId, ErrorBody>),
    /// `gift_prop`: one `prop`, already taken from the giver's inventory (and counted
    /// against the giver's daily gift limit) into the transfer.
    PropGift {
        /// The giver.
        giver: PlayerId,
        /// The friend it goes to.
        friend: PlayerId,
        /// Which prop.
        prop: PropKind,
    },
    /// The decision on a `PropGift`: credited, or why not (the prop comes back).
    PropGiftDecided(Result<(), ErrorBody>),
    /// `revive` of the owner's expired ball by a reviver of the sending shard.
    Revive {
        /// The reviver.
        reviver: PlayerId,
        /// The ball's owner.
        owner: PlayerId,
        /// The expired ball.
        ball: BallId,
        /// Whether the reviver has a revival left today (one is reserved there).
        may_revive: bool,
    },
    /// The decision on a `Revive`: the owner's new ripe ball and its grams, or why not.
    ReviveDecided(Result<(BallId, u64), ErrorBody>),
    /// `rain_gift`: one energy rain chance, reserved on the giver's shard.
    RainGift {
        /// The giver.
        giver: PlayerId,
        /// The friend who receives the chance.
        friend: PlayerId,
    },
    /// The decision on a `RainGift`: received (the giver's extra round is unlocked on
    /// the giver's shard), or why not.
    RainGiftDecided(Result<(), ErrorBody>),
    /// A team op by a player of the sending shard on a team of the receiving one.
    Team {
        /// The team.
        team: TeamId,
        /// The acting player.
        player: PlayerId,
        /// Which op.
        op: TeamOp,
    },
    /// The decision on a `Team` op: the team as it is now, or why not (the grams of a
    /// watering that did not go into the tree come back with it).
    TeamDecided(Result<TeamView, ErrorBody>),
    /// The team tree of `team` was planted: its `members` of the receiving shard each
    /// get a certificate there.
    TeamCertify {
        /// The team.
        team: TeamId,
        /// Its name, on the certificates.
        name: String,
        /// The species planted.
        species: String,
        /// The members of the receiving shard.
        members: Vec<PlayerId>,
    },
    /// The certificates of a `TeamCertify` were issued.
    TeamCertified,
}

impl Message {
    /// Props the message carries (a gift, or a refused gift going back), for the audit
    /// of props in flight.
    pub fn props(&self) -> u64 {
        match self {
            Self::PropGift { .. } | Self::PropGiftDecided(Err(_)) => 1,
            _ => 0,
        }
    }
}

/// A steal the owner's shard made for a thief of another shard: the grams, and what
/// the thief's shard judges it by (`steal_reaction`, `steal_coverage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stolen {
    /// Grams taken, carried by the outcome.
    pub grams: u64,
    /// Milliseconds between the ball becoming stealable (ripe, or the owner's cover
    /// ended) and the steal.
    pub reaction_ms: u64,
    /// The owner's ripe balls the thief could still take after this steal.
    pub ripe_left: u32,
}

/// A message on its way: the outbox's record and what JetStream carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The operation and leg.
    pub key: MessageKey,
    /// The sending shard.
    pub from_shard: u64,
    /// The receiving shard.
    pub to_shard: u64,
    /// Grams carried: debited on the sending shard into the transfer, credited on the
    /// receiving one when it applies the message (a steal's outcome, a watering, the
    /// grams of a refused watering going back).
    pub grams: u64,
    /// What it says.
    pub message: Message,
}

/// Part of a player's daily allowance held by an op still being decided elsewhere: the
/// thief's steal cap in grams, or one of the reviver's revivals, or one of the giver's
/// rain chances (which, follows from the op's message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The player whose allowance it is.
    pub player: PlayerId,
    /// The game day it counts for.
    pub day: i64,
    /// How much is held: grams of a steal cap, else a count.
    pub amount: u64,
    /// Whether it was released because no outcome came in time.
    pub released: bool,
}

/// An outbox record: a message sent and not yet confirmed by its receiver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The message.
    pub envelope: Envelope,
    /// The allowance reserved for it (a steal, a revival, a rain chance).
    pub reservation: Option<Reservation>,
}
