//! The rules as pure functions of a player's recent history and the config: each says
//! whether it trips and, if so, why and on what evidence. `risk::mod` feeds them and
//! applies their decisions; the tests here pin each at its threshold.

use crate::config::risk::{
    PartnerVelocity, RainPrecision, StealCoverage, StealReaction, StepsEarly, StepsRate,
    WaterFunnel,
};
use crate::store::RainRoundTaps;
use canopy_shared::risk::{Decision, Evidence};
use canopy_shared::{BallId, Millis, PlayerId};
use std::collections::BTreeMap;

/// A rule that tripped: what to do, why, and on what evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Trip {
    /// The rule id.
    pub rule: &'static str,
    /// The decision the config gives the rule.
    pub decision: Decision,
    /// Why, in words a player understands.
    pub reason: String,
    /// The numbers and the players/balls involved.
    pub evidence: Evidence,
}

fn numbers(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs
        .iter()
        .map(|&(name, value)| (name.to_owned(), value))
        .collect()
}

/// `steps_rate`: the steps added since the previous report of the day (or since the
/// day began) over the time between, against `max_steps_per_second`.
pub fn steps_rate(
    rule: &StepsRate,
    since: Millis,
    steps_before: u64,
    now: Millis,
    steps: u64,
) -> Option<Trip> {
    let decision = rule.decision()?;
    let added = steps.saturating_sub(steps_before);
    let seconds = now.saturating_sub(since) as f64 / 1000.0;
    let rate = if seconds > 0.0 {
        added as f64 / seconds
    } else if added > 0 {
        f64::INFINITY
    } else {
        0.0
    };
    (rate > rule.max_steps_per_second).then(|| Trip {
        rule: "steps_rate",
        decision,
        reason: format!(
            "{added} steps in {seconds:.0} s is faster than anyone walks (more than {} steps a second)",
            rule.max_steps_per_second
        ),
        evidence: Evidence {
            numbers: numbers(&[
                ("steps_added", added as f64),
                ("seconds", seconds),
                ("steps_per_second", rate.min(f64::MAX)),
                ("limit", rule.max_steps_per_second),
            ]),
            ..Evidence::default()
        },
    })
}

/// `steps_early`: more than `max_steps` reported before `before_hour`:00 local;
/// `local_ms` is the time since local midnight.
pub fn steps_early(rule: &StepsEarly, local_ms: u64, steps: u64) -> Option<Trip> {
    let decision = rule.decision()?;
    let before = rule.before_hour as u64 * 3_600_000;
    let max = rule.max_steps as u64;
    (local_ms < before && steps > max).then(|| Trip {
        rule: "steps_early",
        decision,
        reason: format!(
            "{steps} steps reported before {:02}:00 is more than {max}",
            rule.before_hour
        ),
        evidence: Evidence {
            numbers: numbers(&[
                ("steps", steps as f64),
                ("limit", max as f64),
                ("local_hour", (local_ms / 3_600_000) as f64),
            ]),
            ..Evidence::default()
        },
    })
}

/// `steal_reaction`: the median of the last `last_steals` reaction delays (ms after a
/// ball ripened or a cover ended), once there are that many, under the threshold.
pub fn steal_reaction(rule: &StealReaction, delays: &[u64], balls: &[BallId]) -> Option<Trip> {
    let decision = rule.decision()?;
    let wanted = rule.last_steals as usize;
    if delays.len() < wanted {
        return None;
    }
    let mut last: Vec<u64> = delays[delays.len() - wanted..].to_vec();
    last.sort_unstable();
    let median = if wanted % 2 == 1 {
        last[wanted / 2] as f64
    } else {
        (last[wanted / 2 - 1] + last[wanted / 2]) as f64 / 2.0
    };
    (median < rule.median_below_ms as f64).then(|| Trip {
        rule: "steal_reaction",
        decision,
        reason: format!(
            "your last {wanted} steals came a median {median:.0} ms after the energy ripened: \
             faster than a person reacts"
        ),
        evidence: Evidence {
            numbers: numbers(&[
                ("median_ms", median),
                ("limit_ms", rule.median_below_ms as f64),
                ("steals", wanted as f64),
            ]),
            balls: balls.to_vec(),
            ..Evidence::default()
        },
    })
}

/// `rain_precision`: the last `rounds` settled energy rain rounds (oldest first in
/// `recent`), once they hold `min_taps` taps: a catch share of `max_catch_share` or
/// more, or a reaction-time spread (standard deviation) under `min_reaction_spread_ms`.
pub fn rain_precision(rule: &RainPrecision, recent: &[RainRoundTaps]) -> Option<Trip> {
    let decision = rule.decision()?;
    let wanted = rule.rounds as usize;
    if recent.len() < wanted {
        return None;
    }
    let rounds = &recent[recent.len() - wanted..];
    let reactions: Vec<f64> = rounds
        .iter()
        .flat_map(|round| round.taps.iter().map(|tap| tap.reaction_ms as f64))
        .collect();
    let taps = reactions.len();
    if taps < rule.min_taps as usize {
        return None;
    }
    let balls: u64 = rounds.iter().map(|round| u64::from(round.balls)).sum();
    let share = taps as f64 / balls.max(1) as f64;
    let mean = reactions.iter().sum::<f64>() / taps as f64;
    let spread = (reactions.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / taps as f64).sqrt();
    let reason = if share >= rule.max_catch_share {
        format!(
            "you caught {:.0} % of the balls of your last {wanted} energy rain rounds: more \
             than a person catches",
            share * 100.0
        )
    } else if spread < rule.min_reaction_spread_ms {
        format!(
            "your energy rain taps over {wanted} rounds came {mean:.0} ms after each ball \
             appeared, within {spread:.0} ms of each other: more regular than a person taps"
        )
    } else {
        return None;
    };
    Some(Trip {
        rule: "rain_precision",
        decision,
        reason,
        evidence: Evidence {
            numbers: numbers(&[
                ("rounds", wanted as f64),
                ("taps", taps as f64),
                ("catch_share", share),
                ("share_limit", rule.max_catch_share),
                ("reaction_mean_ms", mean),
                ("reaction_spread_ms", spread),
                ("spread_limit_ms", rule.min_reaction_spread_ms),
            ]),
            ..Evidence::default()
        },
    })
}

/// `steal_coverage`: `taken` distinct balls stolen in the window, out of `taken +
/// untaken` ripe balls of the thief's friends, over at least `min_balls`.
pub fn steal_coverage(
    rule: &StealCoverage,
    taken: &[BallId],
    untaken: usize,
    owners: &[PlayerId],
) -> Option<Trip> {
    let decision = rule.decision()?;
    let seen = taken.len() + untaken;
    if seen < rule.min_balls as usize {
        return None;
    }
    let share = taken.len() as f64 / seen as f64;
    (share > rule.max_share).then(|| Trip {
        rule: "steal_coverage",
        decision,
        reason: format!(
            "you took from {} of your friends' {seen} ripe balls within {} minutes",
            taken.len(),
            rule.window_secs / 60
        ),
        evidence: Evidence {
            numbers: numbers(&[
                ("taken", taken.len() as f64),
                ("ripe_balls", seen as f64),
                ("share", share),
                ("limit", rule.max_share),
            ]),
            players: owners.to_vec(),
            balls: taken.to_vec(),
        },
    })
}

/// `partner_velocity`: a partner report of `kind` arriving when `used` of `cap`
/// actions of its cap period are already credited.
pub fn partner_velocity(
    rule: &PartnerVelocity,
    kind: &str,
    used: u32,
    cap: u32,
    period: &str,
) -> Option<Trip> {
    let decision = rule.decision()?;
    (used >= cap).then(|| Trip {
        rule: "partner_velocity",
        decision,
        reason: format!(
            "more `{kind}` actions reported than the {cap} a {period} allows; \
             this looks like a replay or a burst"
        ),
        evidence: Evidence {
            numbers: numbers(&[("reported", f64::from(used) + 1.0), ("cap", f64::from(cap))]),
            ..Evidence::default()
        },
    })
}

/// `water_funnel`: the distinct givers in the window, each with whether their account
/// is new or has collected nothing.
pub fn water_funnel(rule: &WaterFunnel, givers: &BTreeMap<PlayerId, bool>) -> Option<Trip> {
    let decision = rule.decision()?;
    let distinct = givers.len();
    if distinct <= rule.max_givers as usize {
        return None;
    }
    let suspicious = givers.values().filter(|&&s| s).count();
    let share = suspicious as f64 / distinct as f64;
    (share >= rule.suspicious_share).then(|| Trip {
        rule: "water_funnel",
        decision,
        reason: format!(
            "{distinct} players watered you within {} hours, {suspicious} of them new accounts \
             or accounts that never collected energy",
            rule.window_secs / 3600
        ),
        evidence: Evidence {
            numbers: numbers(&[
                ("givers", distinct as f64),
                ("suspicious_givers", suspicious as f64),
                ("share", share),
                ("limit_givers", rule.max_givers as f64),
                ("limit_share", rule.suspicious_share),
            ]),
            players: givers.keys().copied().collect(),
            ..Evidence::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn risk() -> crate::config::RiskConfig {
        Config::default_embedded().risk
    }

    /// A settled round of `balls` balls with a tap per reaction time.
    fn rain_round(balls: u32, reactions: &[u64]) -> RainRoundTaps {
        RainRoundTaps {
            round: 1,
            balls,
            taps: reactions
                .iter()
                .enumerate()
                .map(|(ball, &reaction_ms)| crate::store::RainTap {
                    ball: ball as u32,
                    grams: 4,
                    at_ms: 1_000 + reaction_ms,
                    reaction_ms,
                })
                .collect(),
        }
    }

    /// Reactions spread evenly between 300 and 300 + `width` ms: standard deviation
    /// about `width` / 3.46.
    fn spread(count: usize, width: u64) -> Vec<u64> {
        (0..count as u64)
            .map(|i| 300 + i * width / (count as u64 - 1))
            .collect()
    }

    #[test]
    fn rain_precision_trips_on_catching_97_percent_over_three_rounds() {
        let rule = risk().rain_precision;
        let human = spread(28, 600);
        let caught_29 = spread(29, 600);
        // 28 + 28 + 29 of 90 balls: 94 %; 29 + 29 + 29: 96.7 %; 29 + 29 + 30: 97.8 %.
        let three = |a: &[u64], b: &[u64], c: &[u64]| {
            vec![rain_round(30, a), rain_round(30, b), rain_round(30, c)]
        };
        assert_eq!(
            rain_precision(&rule, &three(&human, &human, &caught_29)),
            None
        );
        assert_eq!(
            rain_precision(&rule, &three(&caught_29, &caught_29, &caught_29)),
            None,
            "96.7 % is under 97 %"
        );
        let trip = rain_precision(&rule, &three(&caught_29, &caught_29, &spread(30, 600)))
            .expect("97.8 % of the balls");
        assert_eq!(
            (trip.rule, trip.decision),
            ("rain_precision", Decision::Review)
        );
        assert!(trip.reason.contains("98 %"), "{}", trip.reason);
        assert_eq!(
            rain_precision(&rule, &three(&caught_29, &caught_29, &spread(30, 600))[1..]),
            None,
            "two rounds are not several"
        );
    }

    #[test]
    fn rain_precision_trips_on_reactions_spread_under_40_ms() {
        let rule = risk().rain_precision;
        // 10 taps a round, evenly spread over `width` ms: sd = width × 0.3191 (n = 10).
        let rounds = |width: u64| vec![rain_round(30, &spread(10, width)); 3];
        let trip = rain_precision(&rule, &rounds(120)).expect("sd 38 ms");
        assert!(trip.evidence.numbers["reaction_spread_ms"] < 40.0);
        assert_eq!(rain_precision(&rule, &rounds(130)), None, "sd 41 ms");
        let few = vec![rain_round(30, &spread(6, 0)); 3];
        assert_eq!(
            rain_precision(&rule, &few),
            None,
            "18 taps are too few to judge"
        );
        let mut off = risk().rain_precision;
        off.enabled = false;
        assert_eq!(rain_precision(&off, &rounds(0)), None);
    }

    #[test]
    fn steps_rate_trips_just_over_five_steps_a_second() {
        let rule = risk().steps_rate;
        // 500 steps in 100 s is 5.0 a second: allowed; 501 is over.
        assert_eq!(steps_rate(&rule, 0, 1_000, 100_000, 1_500), None);
        let trip = steps_rate(&rule, 0, 1_000, 100_000, 1_501).expect("over the rate");
        assert_eq!((trip.rule, trip.decision), ("steps_rate", Decision::Hold));
        assert_eq!(trip.evidence.numbers["steps_added"], 501.0);
        assert!(
            steps_rate(&rule, 5, 0, 5, 10).is_some(),
            "steps with no time between"
        );
        assert_eq!(steps_rate(&rule, 5, 10, 5, 10), None, "nothing added");
    }

    #[test]
    fn steps_early_trips_over_18000_steps_before_six() {
        let rule = risk().steps_early;
        let before_six = 6 * 3_600_000 - 1;
        assert_eq!(steps_early(&rule, before_six, 18_000), None);
        let trip = steps_early(&rule, before_six, 18_001).expect("over before six");
        assert_eq!(trip.decision, Decision::Hold);
        assert_eq!(steps_early(&rule, 6 * 3_600_000, 24_000), None, "after six");
    }

    #[test]
    fn steal_reaction_trips_on_a_median_under_one_second_over_twenty_steals() {
        let rule = risk().steal_reaction;
        let fast = vec![999; 20];
        assert_eq!(steal_reaction(&rule, &fast[..19], &[]), None, "too few");
        let trip = steal_reaction(&rule, &fast, &[]).expect("sniper");
        assert_eq!(trip.decision, Decision::Review);
        let mut human = vec![999; 10];
        human.extend([1_001; 10]);
        assert_eq!(steal_reaction(&rule, &human, &[]), None, "median 1000 ms");
        human[10] = 999;
        assert!(
            steal_reaction(&rule, &human, &[]).is_some(),
            "median 999 ms"
        );
        let mut older = vec![0; 5];
        older.extend([5_000; 20]);
        assert_eq!(
            steal_reaction(&rule, &older, &[]),
            None,
            "only the last 20 count"
        );
    }

    #[test]
    fn steal_coverage_trips_over_eighty_percent_of_at_least_twenty_balls() {
        let rule = risk().steal_coverage;
        let taken: Vec<BallId> = (0..16).map(BallId).collect();
        assert_eq!(steal_coverage(&rule, &taken, 4, &[]), None, "exactly 80 %");
        let taken: Vec<BallId> = (0..17).map(BallId).collect();
        let trip = steal_coverage(&rule, &taken, 3, &[]).expect("85 % of 20");
        assert_eq!(trip.decision, Decision::Review);
        let taken: Vec<BallId> = (0..19).map(BallId).collect();
        assert_eq!(steal_coverage(&rule, &taken, 0, &[]), None, "19 balls");
    }

    #[test]
    fn partner_velocity_denies_past_the_kinds_cap() {
        let rule = risk().partner_velocity;
        assert_eq!(partner_velocity(&rule, "metro", 4, 5, "day"), None);
        let trip = partner_velocity(&rule, "metro", 5, 5, "day").expect("sixth");
        assert_eq!(trip.decision, Decision::Deny);
    }

    #[test]
    fn water_funnel_trips_over_eight_givers_mostly_new() {
        let rule = risk().water_funnel;
        let givers = |n: u64, suspicious: u64| -> BTreeMap<PlayerId, bool> {
            (0..n).map(|i| (PlayerId(i), i < suspicious)).collect()
        };
        assert_eq!(water_funnel(&rule, &givers(8, 8)), None, "eight givers");
        assert_eq!(
            water_funnel(&rule, &givers(12, 8)),
            None,
            "eight of twelve is under 75 %"
        );
        let trip = water_funnel(&rule, &givers(12, 9)).expect("nine of twelve");
        assert_eq!(trip.decision, Decision::Hold);
        assert_eq!(trip.evidence.players.len(), 12);
    }

    #[test]
    fn a_rule_switched_off_never_trips() {
        let mut rule = risk().steps_early;
        rule.enabled = false;
        assert_eq!(steps_early(&rule, 0, 100_000), None);
    }
}
