//! Ops in doubt. A cross-shard op answered `SHARD_TIMEOUT` still takes effect when the
//! other shard decides (docs/PROTOCOL.md), and a request whose connection ended (its
//! shard killed) or that got no reply (its shard paused) may or may not have been
//! applied. A bot keeps what each such op may still do, so that its checks stay exact
//! instead of trusting nothing: its balance may exceed what its acknowledged ops left
//! by at most the grams its ops in doubt may still credit, a steal in doubt may have
//! used that ball's one hit and part of the daily cap, and a watering in doubt may
//! count towards the day's three.

use crate::bots::checks::max_hit;
use crate::bots::knowledge::SeenBall;
use canopy_shared::{BallId, PlayerId};
use std::collections::{HashMap, HashSet};

/// What a bot's ops in doubt may still do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InDoubt {
    /// Grams they may still add to the balance: each steal's largest possible hit, each
    /// watering's refund (the friend's shard may refuse it).
    pub credit: u64,
    /// Grams steals in doubt may count against the daily cap.
    pub steal_grams: u64,
    /// A cross-shard steal cut with its connection may still hold the thief's whole
    /// remaining daily allowance reserved on its shard (the reservation is the
    /// allowance, not the hit) until its outcome arrives, which the bot cannot see:
    /// from then on a `LIMIT_REACHED` to a steal is no contradiction that day.
    pub allowance_held: bool,
    /// Balls a steal in doubt may have hit: (owner, ball).
    steals: HashSet<(PlayerId, BallId)>,
    /// Waterings in doubt of each friend: each may or may not count today.
    waterings: HashMap<PlayerId, u32>,
    /// Requests in doubt so far.
    pub ops: u64,
    /// Grams late outcomes credited so far (balances seen above what the acknowledged
    /// ops left).
    pub arrived: u64,
}

impl InDoubt {
    /// A steal of `ball` of `friend` in doubt. `seen` is what `friend_balls` showed of
    /// the ball: the steal may credit at most its largest hit and what was stealable
    /// then; a probe (a ball already hit, or shown with nothing to take) must credit
    /// nothing, so it adds no credit and a late credit from it shows as a mismatch.
    /// `queued`: answered `SHARD_TIMEOUT`, which released its reservation; otherwise
    /// unanswered, and its reservation may still hold.
    pub fn steal(&mut self, friend: PlayerId, ball: BallId, seen: Option<SeenBall>, queued: bool) {
        let most = seen.map_or(0, |seen| max_hit(seen.full).min(seen.stealable));
        self.allowance_held |= !queued;
        self.credit += most;
        self.steal_grams += most;
        self.steals.insert((friend, ball));
        self.ops += 1;
    }

    /// A watering of `friend` with `grams` in doubt: the grams may come back, and it may
    /// or may not count towards the day's waterings of that friend.
    pub fn water(&mut self, friend: PlayerId, grams: u64) {
        self.credit += grams;
        *self.waterings.entry(friend).or_insert(0) += 1;
        self.ops += 1;
    }

    /// Any other request in doubt (it moves no grams late).
    pub fn other(&mut self) {
        self.ops += 1;
    }

    /// Whether a steal in doubt may have used the one hit on `ball` of `friend`.
    pub fn may_have_hit(&self, friend: PlayerId, ball: BallId) -> bool {
        self.steals.contains(&(friend, ball))
    }

    /// Whether steals in doubt may explain a `LIMIT_REACHED` after `stolen` grams today
    /// (`cap` a day).
    pub fn may_fill_cap(&self, stolen: u64, cap: u64) -> bool {
        self.allowance_held || stolen + self.steal_grams >= cap
    }

    /// A new game day: reservations of the last one no longer count.
    pub fn roll_day(&mut self) {
        self.allowance_held = false;
    }

    /// Waterings of `friend` in doubt.
    pub fn waterings_of(&self, friend: PlayerId) -> u32 {
        self.waterings.get(&friend).copied().unwrap_or(0)
    }

    /// A balance was seen `surplus` grams above what the acknowledged ops left: late
    /// outcomes credited that much, so that much less may still come.
    pub fn credited(&mut self, surplus: u64) {
        self.credit = self.credit.saturating_sub(surplus);
        self.arrived += surplus;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRIEND: PlayerId = PlayerId(2);

    fn seen(full: u64, stealable: u64) -> Option<SeenBall> {
        Some(SeenBall {
            friend: FRIEND,
            ball_id: BallId(7),
            full,
            stealable,
        })
    }

    #[test]
    fn a_steal_in_doubt_may_credit_its_largest_hit_and_no_more() {
        let mut doubt = InDoubt::default();
        doubt.steal(FRIEND, BallId(7), seen(100, 50), true);
        assert_eq!(
            doubt.credit, 30,
            "30 % of the ball, under the 50 g stealable"
        );
        doubt.steal(FRIEND, BallId(8), seen(100, 12), true);
        assert_eq!(doubt.credit, 42, "what was stealable bounds it");
        assert_eq!(doubt.steal_grams, 42);
        assert!(doubt.may_have_hit(FRIEND, BallId(7)));
        assert!(!doubt.may_have_hit(FRIEND, BallId(9)));
        doubt.steal(FRIEND, BallId(9), None, true);
        assert_eq!(doubt.credit, 42, "a probe must take nothing, late or not");
        assert!(doubt.may_fill_cap(1_458, 1_500));
        assert!(!doubt.may_fill_cap(1_457, 1_500));
        doubt.credited(40);
        assert_eq!(doubt.credit, 2);
        doubt.credited(2);
        assert_eq!(doubt.credit, 0);
        assert_eq!(doubt.arrived, 42);
        assert_eq!(doubt.ops, 3);
    }

    #[test]
    fn a_steal_cut_with_its_connection_may_hold_the_whole_allowance_until_the_next_day() {
        let mut doubt = InDoubt::default();
        doubt.steal(FRIEND, BallId(7), seen(100, 50), false);
        assert!(
            doubt.may_fill_cap(0, 1_500),
            "its reservation may still hold"
        );
        doubt.roll_day();
        assert!(!doubt.may_fill_cap(0, 1_500));
    }

    #[test]
    fn a_watering_in_doubt_may_come_back_and_may_count() {
        let mut doubt = InDoubt::default();
        doubt.water(FRIEND, 10);
        doubt.water(FRIEND, 10);
        assert_eq!(doubt.credit, 20);
        assert_eq!(doubt.waterings_of(FRIEND), 2);
        assert_eq!(doubt.waterings_of(PlayerId(3)), 0);
        assert_eq!(doubt.steal_grams, 0);
    }
}
