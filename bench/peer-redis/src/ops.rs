//! The ops the load generator sends, the same for both servers, and what came back.

/// One request, for either server. Player ids are the acting player's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `collect` one of the player's balls.
    Collect {
        /// The owner.
        player: u64,
        /// The ball.
        ball: u64,
    },
    /// `steal` from a friend's ball.
    Steal {
        /// The thief.
        thief: u64,
        /// The ball's owner.
        owner: u64,
        /// The ball.
        ball: u64,
    },
    /// `water` a friend.
    Water {
        /// Who gives.
        giver: u64,
        /// Who receives the water ball.
        friend: u64,
        /// Grams (10, 18, 33 or 66).
        grams: u64,
    },
    /// `me`.
    Me {
        /// The caller.
        player: u64,
    },
    /// `friends`.
    Friends {
        /// The caller.
        player: u64,
    },
    /// `friend_balls`.
    FriendBalls {
        /// The caller.
        player: u64,
        /// The friend looked at.
        friend: u64,
    },
}

/// Every op name, in the report's order.
pub const OP_NAMES: [&str; 6] = ["collect", "steal", "water", "me", "friends", "friend_balls"];

impl Op {
    /// Index into [`OP_NAMES`].
    pub fn index(&self) -> usize {
        match self {
            Self::Collect { .. } => 0,
            Self::Steal { .. } => 1,
            Self::Water { .. } => 2,
            Self::Me { .. } => 3,
            Self::Friends { .. } => 4,
            Self::FriendBalls { .. } => 5,
        }
    }

    /// The player whose session sends it.
    pub fn actor(&self) -> u64 {
        match *self {
            Self::Collect { player, .. }
            | Self::Me { player }
            | Self::Friends { player }
            | Self::FriendBalls { player, .. } => player,
            Self::Steal { thief, .. } => thief,
            Self::Water { giver, .. } => giver,
        }
    }
}

/// A successful reply's numbers that the load generator learns from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// Grams gained (`collect`, `steal`).
    pub grams: Option<u64>,
    /// The actor's balance after (`collect`, `steal`, `water`).
    pub energy: Option<u64>,
    /// The water ball the friend received (`water`).
    pub ball_id: Option<u64>,
}

/// What came back for one op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success.
    Done(Done),
    /// A refusal by the rules or the server, by protocol error code (`GONE`, ...).
    Refused(String),
    /// No reply: a transport error or a timeout.
    Failed(String),
}

/// Refusals the rules call for in this workload; any other code is unexpected.
pub const RULE_REFUSALS: [&str; 7] = [
    "NOT_RIPE",
    "GONE",
    "ALREADY_STOLEN",
    "NOTHING_LEFT",
    "LIMIT_REACHED",
    "INSUFFICIENT_ENERGY",
    "PROTECTED",
];
