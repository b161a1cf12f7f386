//! What the rules remember of each player: small, bounded windows kept on the player's
//! entity (so they partition with the player), never scanned across players. They live
//! in memory only: after a restart the windows fill again from new actions.

use bevy_ecs::component::Component;
use canopy_shared::{BallId, Millis, PlayerId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The longest reaction history kept, whatever `risk.steal_reaction.last_steals` says.
pub const MAX_REACTIONS: usize = 256;

/// One player's recent history, as the rules need it.
#[derive(Component, Clone, Debug, Default)]
pub struct RiskLog {
    /// The previous step report today: (game day, when, cumulative steps).
    pub last_steps: Option<(i64, Millis, u64)>,
    /// Reaction delays of the latest steals (ms after ripening or a cover's end), with
    /// their balls, oldest first.
    pub reactions: VecDeque<(u64, BallId)>,
    /// Steals in the coverage window: (when, ball, owner), oldest first.
    pub steals: VecDeque<(Millis, BallId, PlayerId)>,
    /// Friends of other shards, what the player last learnt of their ripe balls within
    /// the coverage window, and when: `steal_coverage`'s denominator for them.
    pub remote_ripe: BTreeMap<PlayerId, (Millis, RemoteRipe)>,
    /// Waterings received in the funnel window: (when, giver, whether the giver's
    /// account was new or had never collected), oldest first.
    pub waterings: VecDeque<(Millis, PlayerId, bool)>,
}

/// What a player's shard knows of the ripe balls of a friend of another shard that the
/// player could take: their shard sees them, this one only hears of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteRipe {
    /// After a steal from the friend: how many the player could still take (the
    /// friend's shard counted, and the steal's outcome carried it).
    Counted(usize),
    /// The ones the player was shown (a `friend_balls` answer or a forest push): a
    /// friend whose balls a thief saw and left counts before any steal from them.
    Shown(BTreeSet<BallId>),
}

impl RemoteRipe {
    /// How many of these balls the player could still take, leaving out `taken`.
    pub fn untaken(&self, taken: &BTreeSet<BallId>) -> usize {
        match self {
            Self::Counted(count) => *count,
            Self::Shown(balls) => balls.difference(taken).count(),
        }
    }
}

/// Drops entries older than `window_ms` before `now` from the front of a window.
pub fn prune<T>(window: &mut VecDeque<T>, now: Millis, window_ms: u64, at: impl Fn(&T) -> Millis) {
    while window
        .front()
        .is_some_and(|entry| at(entry).saturating_add(window_ms) < now)
    {
        window.pop_front();
    }
}
