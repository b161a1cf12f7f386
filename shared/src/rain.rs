//! The energy rain (能量雨): a round's schedule as a pure function of its seed, and the
//! round as the protocol shows it. The server decides every tap by simulating the
//! round with [`schedule`]; a client may regenerate the same balls from `seed` and
//! `params`, or draw the explicit `balls` of the round it was given.

use crate::ids::Millis;
use serde::{Deserialize, Serialize};

/// What shapes a round: fixed when the round starts, so a later config change never
/// changes a round in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainParams {
    /// How long the round lasts.
    pub duration_ms: u64,
    /// Columns the balls fall in.
    pub lanes: u8,
    /// Balls in the round.
    pub balls: u32,
    /// Grams of all the balls together: what a perfect round earns.
    pub total_grams: u64,
    /// The fastest fall, top to bottom.
    pub fall_ms_min: u64,
    /// The slowest fall; below `duration_ms`, so every ball lands within the round.
    pub fall_ms_max: u64,
}

impl RainParams {
    /// Why these parameters cannot make a round, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if self.lanes == 0 || self.balls == 0 {
            Some("a round needs at least one lane and one ball")
        } else if self.fall_ms_min == 0 || self.fall_ms_min > self.fall_ms_max {
            Some("the falls need 0 < fall_ms_min <= fall_ms_max")
        } else if self.fall_ms_max >= self.duration_ms {
            Some("the slowest fall must end within the round (fall_ms_max < duration_ms)")
        } else if self.total_grams < u64::from(self.balls) {
            Some("every ball carries at least 1 g (total_grams >= balls)")
        } else {
            None
        }
    }
}

/// One ball of a round: it enters the top of its lane `appear_ms` after the round
/// starts and reaches the bottom `fall_ms` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainBall {
    /// Its index in the round, what `rain_tap` names.
    pub ball: u32,
    /// The lane, from 0 (left).
    pub lane: u8,
    /// When it appears, after the round's start.
    pub appear_ms: u64,
    /// How long it is on screen.
    pub fall_ms: u64,
    /// Grams it carries.
    pub grams: u64,
}

impl RainBall {
    /// Whether the ball is on screen `offset_ms` after the round's start: from its
    /// appearance to its landing, both included.
    pub fn on_screen(&self, offset_ms: u64) -> bool {
        offset_ms >= self.appear_ms && offset_ms <= self.appear_ms + self.fall_ms
    }
}

/// SplitMix64: tiny, fixed forever, and the same in any language, so a schedule never
/// changes with a dependency's version.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The balls of the round with `seed`, in index order. Balls appear spread over the
/// round (one per equal slot, at a random moment of it), each in a random lane with a
/// random fall; one in ten is big (3 shares of the grams), two in ten medium (2), the
/// rest small (1). The grams add up to exactly `total_grams`. Parameters with a
/// [`RainParams::problem`] give no balls.
pub fn schedule(seed: u64, params: &RainParams) -> Vec<RainBall> {
    if params.problem().is_some() {
        return Vec::new();
    }
    let mut rng = SplitMix(seed);
    let count = u64::from(params.balls);
    let window = params.duration_ms - params.fall_ms_max;
    let fall_spread = params.fall_ms_max - params.fall_ms_min + 1;
    let mut balls: Vec<RainBall> = Vec::with_capacity(params.balls as usize);
    let mut shares = Vec::with_capacity(params.balls as usize);
    for index in 0..count {
        let slot_start = index * window / count;
        let slot_len = ((index + 1) * window / count - slot_start).max(1);
        let appear_ms = (slot_start + rng.below(slot_len)).min(window);
        let lane = rng.below(u64::from(params.lanes)) as u8;
        let fall_ms = params.fall_ms_min + rng.below(fall_spread);
        shares.push(match rng.below(10) {
            0 => 3,
            1 | 2 => 2,
            _ => 1,
        });
        balls.push(RainBall {
            ball: index as u32,
            lane,
            appear_ms,
            fall_ms,
            grams: 0,
        });
    }
    let total_shares: u64 = shares.iter().sum();
    let spare = params.total_grams - count;
    for (ball, share) in balls.iter_mut().zip(&shares) {
        ball.grams = 1 + spare * share / total_shares;
    }
    let handed: u64 = balls.iter().map(|ball| ball.grams).sum();
    for ball in balls
        .iter_mut()
        .take((params.total_grams - handed) as usize)
    {
        ball.grams += 1;
    }
    balls
}

/// A round as `rain_start` and `rain` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainRoundView {
    /// The round's id, what `rain_tap` names.
    pub round_id: u64,
    /// The seed its balls come from.
    pub seed: u64,
    /// The parameters its balls come from.
    pub params: RainParams,
    /// When it starts (server game clock); ball times count from here.
    pub starts_at: Millis,
    /// When it ends and is settled.
    pub ends_at: Millis,
    /// How far a tap's `at` may be from the server's clock when it arrives.
    pub tolerance_ms: u64,
    /// Every ball, in index order: `schedule(seed, params)`.
    pub balls: Vec<RainBall>,
    /// Balls caught so far, in the order they were caught.
    pub caught: Vec<u32>,
}

/// `rain_start`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainStartResult {
    /// The new round.
    pub round: RainRoundView,
    /// Rounds the caller may still start today after this one.
    pub rounds_left: u32,
}

/// `rain_tap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainTapResult {
    /// The round.
    pub round_id: u64,
    /// The ball caught.
    pub ball: u32,
    /// Its grams, credited when the round ends.
    pub grams: u64,
    /// Grams caught in the round so far.
    pub caught_grams: u64,
}

/// `rain_gift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainGiftResult {
    /// Rounds the caller may start today, counting the one the gift unlocked.
    pub rounds_left: u32,
    /// Chances the caller may still give today.
    pub gifts_left: u32,
}

/// `rain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RainStatusResult {
    /// Rounds the caller may start today.
    pub rounds_left: u32,
    /// Chances the caller may give now (one per round played, within the daily limit).
    pub gifts_left: u32,
    /// Whether a friend gave the caller a chance today.
    pub gift_received: bool,
    /// The caller's round in flight, if any.
    pub round: Option<RainRoundView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> RainParams {
        RainParams {
            duration_ms: 15_000,
            lanes: 5,
            balls: 30,
            total_grams: 120,
            fall_ms_min: 1_800,
            fall_ms_max: 3_000,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_balls_and_another_seed_others() {
        assert_eq!(schedule(7, &params()), schedule(7, &params()));
        assert_ne!(schedule(7, &params()), schedule(8, &params()));
    }

    #[test]
    fn a_perfect_round_is_worth_exactly_the_total_and_every_ball_lands_in_time() {
        for seed in 0..200 {
            let p = params();
            let balls = schedule(seed, &p);
            assert_eq!(balls.len(), 30);
            assert_eq!(
                balls.iter().map(|b| b.grams).sum::<u64>(),
                120,
                "seed {seed}"
            );
            for (index, ball) in balls.iter().enumerate() {
                assert_eq!(ball.ball as usize, index);
                assert!(ball.grams >= 1);
                assert!(ball.lane < p.lanes);
                assert!((p.fall_ms_min..=p.fall_ms_max).contains(&ball.fall_ms));
                assert!(
                    ball.appear_ms + ball.fall_ms <= p.duration_ms,
                    "seed {seed}"
                );
            }
        }
    }

    #[test]
    fn balls_are_spread_over_the_round() {
        let balls = schedule(3, &params());
        let window = 15_000 - 3_000;
        assert!(balls[0].appear_ms < window / 30);
        assert!(balls[29].appear_ms >= window * 29 / 30);
        assert!(balls.windows(2).all(|w| w[0].appear_ms <= w[1].appear_ms));
    }

    #[test]
    fn a_ball_is_on_screen_from_its_appearance_to_its_landing() {
        let ball = RainBall {
            ball: 0,
            lane: 0,
            appear_ms: 1_000,
            fall_ms: 2_000,
            grams: 4,
        };
        assert!(!ball.on_screen(999));
        assert!(ball.on_screen(1_000));
        assert!(ball.on_screen(3_000));
        assert!(!ball.on_screen(3_001));
    }

    #[test]
    fn impossible_parameters_are_named_and_give_no_balls() {
        let slow = RainParams {
            fall_ms_max: 15_000,
            ..params()
        };
        assert!(slow.problem().is_some());
        assert!(schedule(1, &slow).is_empty());
        let poor = RainParams {
            total_grams: 10,
            ..params()
        };
        assert!(poor.problem().is_some());
        assert_eq!(params().problem(), None);
    }
}
