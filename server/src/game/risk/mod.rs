//! The real-time risk engine (docs/RISK.md): each rule is a cheap check of one
//! player's small windows, run on the game thread where the action is applied. The
//! handlers call `check_*` before they change anything, refuse on `deny`, and credit
//! into a hold on `hold`; `flags` keeps the review queue and the held energy.

pub mod checks;
pub mod flags;
pub mod flows;
pub mod log;

pub use flags::{RiskFlags, Verdict};
pub use log::RiskLog;

use super::components::{Profile, Props, Wallet};
use super::rules::{self, DAY_MS, KindUsage};
use super::state::{config, now, owned_balls, player_entity};
use super::stealable::{ball_stealable_for, hits_allowed, is_protected};
use crate::config::ActionRule;
use crate::social::Social;
use crate::store::Ball;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::model::PropKind;
use canopy_shared::risk::{Decision, Evidence, GraphFinding};
use canopy_shared::{BallId, PlayerId};
use checks::Trip;
use std::collections::{BTreeMap, BTreeSet};

fn allow() -> Verdict {
    Verdict {
        decision: Decision::Allow,
        flag: None,
        reason: String::new(),
    }
}

fn risk_log(world: &mut World, entity: Entity) -> bevy_ecs::world::Mut<'_, RiskLog> {
    world
        .get_mut::<RiskLog>(entity)
        .expect("every player entity has a RiskLog")
}

/// A green action report about to credit `player`: `partner_velocity` for partner
/// reports of count kinds (whichever door they came through), `steps_rate` and
/// `steps_early` for step reports that add steps. `usage` is the kind's usage before
/// the report.
pub fn check_action(
    world: &mut World,
    player: PlayerId,
    kind: &str,
    rule: &ActionRule,
    usage: &KindUsage,
    partner: bool,
    steps: Option<u64>,
) -> Verdict {
    let config = config(world);
    if !config.risk.enabled {
        return allow();
    }
    let Ok(entity) = player_entity(world, player) else {
        return allow();
    };
    let mut trips: Vec<Trip> = Vec::new();
    if partner && !rule.counts_steps() {
        let cap = match (rule.daily_cap, rule.monthly_cap) {
            (Some(cap), _) => Some((usage.today, cap, "day")),
            (None, Some(cap)) => Some((usage.this_month, cap, "month")),
            (None, None) => None,
        };
        if let Some((used, cap, period)) = cap {
            trips.extend(checks::partner_velocity(
                &config.risk.partner_velocity,
                kind,
                used,
                cap,
                period,
            ));
        }
    }
    if let Some(steps) = steps.filter(|_| rule.counts_steps()) {
        let now = now(world);
        let offset = config.day.utc_offset_minutes;
        let day = rules::game_day(now, offset);
        let midnight = rules::day_start(day, offset);
        let mut log = risk_log(world, entity);
        let (since, before) = match log.last_steps {
            Some((seen_day, at, seen)) if seen_day == day => (at, seen),
            _ => (midnight, 0),
        };
        if steps > before {
            log.last_steps = Some((day, now, steps));
            trips.extend(checks::steps_rate(
                &config.risk.steps_rate,
                since,
                before,
                now,
                steps,
            ));
            trips.extend(checks::steps_early(
                &config.risk.steps_early,
                now - midnight,
                steps,
            ));
        }
    }
    flags::decide(world, player, trips)
}

/// A steal of `ball` by `thief` about to happen, after which the thief may still steal
/// `allowance_left` grams today: `steal_reaction` and `steal_coverage`.
pub fn check_steal(
    world: &mut World,
    thief: PlayerId,
    ball: &Ball,
    allowance_left: u64,
) -> Verdict {
    let config = config(world);
    if !config.risk.enabled {
        return allow();
    }
    let Ok(entity) = player_entity(world, thief) else {
        return allow();
    };
    let now = now(world);
    let cover_end = player_entity(world, ball.owner)
        .ok()
        .and_then(|owner| world.get::<Props>(owner))
        .and_then(|props| {
            props
                .0
                .active_until
                .get(&PropKind::ProtectionCover)
                .copied()
        })
        .filter(|&end| end > ball.ripe_at && end <= now);
    let delay = now.saturating_sub(cover_end.unwrap_or(ball.ripe_at));
    let window_ms = config.risk.steal_coverage.window_secs as u64 * 1000;
    let (reactions, balls, taken, owners) = {
        let mut log = risk_log(world, entity);
        if log.reactions.len() == log::MAX_REACTIONS {
            log.reactions.pop_front();
        }
        log.reactions.push_back((delay, ball.id));
        log.steals.push_back((now, ball.id, ball.owner));
        log::prune(&mut log.steals, now, window_ms, |steal| steal.0);
        let (reactions, balls): (Vec<u64>, Vec<BallId>) = log.reactions.iter().copied().unzip();
        let taken: BTreeSet<BallId> = log.steals.iter().map(|steal| steal.1).collect();
        let owners: BTreeSet<PlayerId> = log.steals.iter().map(|steal| steal.2).collect();
        (reactions, balls, taken, owners)
    };
    let wanted = (config.risk.steal_reaction.last_steals as usize).min(balls.len());
    let mut trips: Vec<Trip> = checks::steal_reaction(
        &config.risk.steal_reaction,
        &reactions,
        &balls[balls.len() - wanted..],
    )
    .into_iter()
    .collect();
    let coverage = &config.risk.steal_coverage;
    if taken.len() as f64 > coverage.max_share * coverage.min_balls as f64 {
        let untaken = untaken_ripe_balls(world, thief, &taken, allowance_left);
        let taken: Vec<BallId> = taken.into_iter().collect();
        let owners: Vec<PlayerId> = owners.into_iter().collect();
        trips.extend(checks::steal_coverage(coverage, &taken, untaken, &owners));
    }
    flags::decide(world, thief, trips)
}

/// Ripe balls of `thief`'s friends the thief could still take from and has not:
/// the rest of `steal_coverage`'s denominator (none once the steal uses up the thief's
/// daily allowance: balls a thief may not take are not balls they chose to leave). Run
/// only when the thief has taken enough balls in the window for the rule to possibly
/// trip.
fn untaken_ripe_balls(
    world: &World,
    thief: PlayerId,
    taken: &BTreeSet<BallId>,
    allowance_left: u64,
) -> usize {
    if allowance_left == 0 {
        return 0;
    }
    let (now, config) = (now(world), config(world));
    let allowed = hits_allowed(world, thief, now);
    let friends: Vec<PlayerId> = world.resource::<Social>().graph.friends(thief).collect();
    friends
        .into_iter()
        .filter(|&friend| !is_protected(world, friend, now))
        .filter_map(|friend| player_entity(world, friend).ok())
        .flat_map(|owner| owned_balls(world, owner))
        .filter(|ball| !taken.contains(&ball.id))
        .filter(|ball| ball_stealable_for(ball, thief, allowed, now, &config) > 0)
        .count()
}

/// Whether a player's account is younger than `risk.water_funnel.new_account_days` or
/// has never collected energy: what farms of second accounts look like.
fn is_new_or_empty(world: &World, entity: Entity) -> bool {
    let days = config(world).risk.water_funnel.new_account_days as u64;
    let now = now(world);
    let young = world
        .get::<Profile>(entity)
        .is_some_and(|profile| profile.created_at.saturating_add(days * DAY_MS) > now);
    let empty = world
        .get::<Wallet>(entity)
        .is_some_and(|wallet| wallet.total_collected == 0);
    young || empty
}

/// An energy rain round of `player` was settled: `rain_precision` over their recent
/// rounds. A settled round has nothing to hold or deny: the rule raises a flag for
/// review.
pub fn check_rain(world: &mut World, player: PlayerId) {
    let config = config(world);
    if !config.risk.enabled {
        return;
    }
    let Ok(entity) = player_entity(world, player) else {
        return;
    };
    let recent = &world
        .get::<super::components::Rain>(entity)
        .expect("every player entity has Rain")
        .0
        .recent;
    let trips: Vec<Trip> = checks::rain_precision(&config.risk.rain_precision, recent)
        .into_iter()
        .collect();
    flags::decide(world, player, trips);
}

/// Adds a transfer to the flow window of the graph analysis (when it runs).
pub fn record_transfer(
    world: &World,
    from: PlayerId,
    to: PlayerId,
    kind: flows::FlowKind,
    grams: u64,
) {
    let config = config(world);
    if !(config.risk.enabled && config.risk.graph.enabled) {
        return;
    }
    let from_new = player_entity(world, from).is_ok_and(|entity| is_new_or_empty(world, entity));
    world.resource::<flows::FlowSink>().push(flows::FlowEdge {
        at: now(world),
        from,
        to,
        kind,
        grams,
        from_new,
    });
}

/// Raises a flag on every player each graph finding names (the analysis thread's
/// results, applied on the game thread), and answers how many players were flagged.
pub fn raise_graph_flags(world: &mut World, findings: Vec<GraphFinding>) -> usize {
    let Some(decision) = config(world).risk.graph.decision() else {
        return 0;
    };
    let mut flagged = 0;
    for finding in findings {
        let rule = match finding.rule.as_str() {
            "ring" => "ring",
            "dense_block" => "dense_block",
            _ => "new_account_star",
        };
        for &player in &finding.players {
            if player_entity(world, player).is_err() {
                continue;
            }
            let trip = Trip {
                rule,
                decision,
                reason: finding.reason.clone(),
                evidence: Evidence {
                    numbers: [
                        ("grams".to_owned(), finding.grams as f64),
                        ("score".to_owned(), finding.score),
                        ("players".to_owned(), finding.players.len() as f64),
                    ]
                    .into_iter()
                    .collect(),
                    players: finding.players.clone(),
                    balls: Vec::new(),
                },
            };
            flags::decide(world, player, vec![trip]);
            flagged += 1;
        }
    }
    flagged
}

/// A watering of `receiver` by `giver` about to happen: `water_funnel`, on the
/// receiver.
pub fn check_water(world: &mut World, giver: PlayerId, receiver: PlayerId) -> Verdict {
    let config = config(world);
    if !config.risk.enabled {
        return allow();
    }
    let (Ok(giver_entity), Ok(receiver_entity)) =
        (player_entity(world, giver), player_entity(world, receiver))
    else {
        return allow();
    };
    let now = now(world);
    let rule = &config.risk.water_funnel;
    let suspicious = is_new_or_empty(world, giver_entity);
    let givers: BTreeMap<PlayerId, bool> = {
        let mut log = risk_log(world, receiver_entity);
        log.waterings.push_back((now, giver, suspicious));
        log::prune(
            &mut log.waterings,
            now,
            rule.window_secs as u64 * 1000,
            |watering| watering.0,
        );
        log.waterings
            .iter()
            .map(|&(_, who, suspicious)| (who, suspicious))
            .collect()
    };
    let trips = checks::water_funnel(rule, &givers).into_iter().collect();
    flags::decide(world, receiver, trips)
}
