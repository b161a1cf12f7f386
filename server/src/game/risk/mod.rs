//! The real-time risk engine (docs/RISK.md): each rule is a cheap check of one
//! player's small windows, run on the game thread where the action is applied. The
//! handlers call `check_*` before they change anything, refuse on `deny`, and credit
//! into a hold on `hold`; `flags` keeps the review queue and the held energy.

pub mod checks;
pub mod flags;
pub mod flows;
pub mod log;

pub use flags::{RiskFlags, Verdict};
use log::RemoteRipe;
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
use canopy_shared::model::{BallView, PropKind};
use canopy_shared::risk::{Evidence, GraphFinding};
use canopy_shared::{BallId, PlayerId};
use checks::Trip;
use std::collections::{BTreeMap, BTreeSet};

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
        return Verdict::allow();
    }
    let Ok(entity) = player_entity(world, player) else {
        return Verdict::allow();
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

/// A steal of `ball` by `thief` about to happen, both on this shard, after which the
/// thief may still steal `allowance_left` grams today: `steal_reaction` and
/// `steal_coverage`.
pub fn check_steal(
    world: &mut World,
    thief: PlayerId,
    ball: &Ball,
    allowance_left: u64,
) -> Verdict {
    let seen = StealSeen {
        ball: ball.id,
        owner: ball.owner,
        reaction_ms: reaction_delay(world, ball),
        remote_ripe: None,
        allowance_left,
    };
    judge_steal(world, thief, &seen)
}

/// What the rules need to know of one steal. For a steal from a player of another
/// shard, the owner's shard measures it and the outcome carries it to the thief's.
#[derive(Clone, Copy, Debug)]
pub struct StealSeen {
    /// The ball taken from.
    pub ball: BallId,
    /// Its owner.
    pub owner: PlayerId,
    /// Milliseconds between the ball ripening (or the owner's cover ending, if later)
    /// and the steal.
    pub reaction_ms: u64,
    /// For an owner of another shard: the owner's ripe balls the thief could still
    /// take after this steal (`steal_coverage`'s denominator; this shard cannot see
    /// them). `None` for an owner of this shard, whose balls are counted here.
    pub remote_ripe: Option<usize>,
    /// Grams the thief may still steal today after this steal: none left, no ball is
    /// one the thief chose to leave.
    pub allowance_left: u64,
}

/// How long after `ball` could first be stolen (it ripened, or its owner's protection
/// cover ended later) a steal now comes: `steal_reaction`'s measure.
pub fn reaction_delay(world: &World, ball: &Ball) -> u64 {
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
    now.saturating_sub(cover_end.unwrap_or(ball.ripe_at))
}

/// `steal_reaction` and `steal_coverage` on a steal by `thief`, a player of this
/// shard, from an owner of this shard or (measured there) of another.
pub fn judge_steal(world: &mut World, thief: PlayerId, seen: &StealSeen) -> Verdict {
    let config = config(world);
    if !config.risk.enabled {
        return Verdict::allow();
    }
    let Ok(entity) = player_entity(world, thief) else {
        return Verdict::allow();
    };
    let now = now(world);
    let window_ms = config.risk.steal_coverage.window_secs as u64 * 1000;
    let (reactions, balls, taken, owners, remote_ripe) = {
        let mut log = risk_log(world, entity);
        if log.reactions.len() == log::MAX_REACTIONS {
            log.reactions.pop_front();
        }
        log.reactions.push_back((seen.reaction_ms, seen.ball));
        log.steals.push_back((now, seen.ball, seen.owner));
        log::prune(&mut log.steals, now, window_ms, |steal| steal.0);
        if let Some(ripe) = seen.remote_ripe {
            log.remote_ripe
                .insert(seen.owner, (now, RemoteRipe::Counted(ripe)));
        }
        log.remote_ripe
            .retain(|_, (at, _)| at.saturating_add(window_ms) >= now);
        let (reactions, balls): (Vec<u64>, Vec<BallId>) = log.reactions.iter().copied().unzip();
        let taken: BTreeSet<BallId> = log.steals.iter().map(|steal| steal.1).collect();
        let owners: BTreeSet<PlayerId> = log.steals.iter().map(|steal| steal.2).collect();
        let remote_ripe: usize = log
            .remote_ripe
            .values()
            .map(|(_, ripe)| ripe.untaken(&taken))
            .sum();
        (reactions, balls, taken, owners, remote_ripe)
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
        let untaken = if seen.allowance_left == 0 {
            0
        } else {
            untaken_ripe_balls(world, thief, &taken) + remote_ripe
        };
        let taken: Vec<BallId> = taken.into_iter().collect();
        let owners: Vec<PlayerId> = owners.into_iter().collect();
        trips.extend(checks::steal_coverage(coverage, &taken, untaken, &owners));
    }
    flags::decide(world, thief, trips)
}

/// `viewer`, a player of this shard, was shown `balls` of `owner`, a friend of another
/// shard (a `friend_balls` answer, or a push to a session watching the forest): the
/// ones the viewer could take (their shard measured `stealable` for the viewer) join
/// `steal_coverage`'s denominator, as a friend's ripe balls on this shard do, so a
/// thief sweeping friends of other shards is judged over every ripe ball it saw and
/// not only over the friends it stole from.
pub fn remote_balls_shown(
    world: &mut World,
    viewer: PlayerId,
    owner: PlayerId,
    balls: &[BallView],
) {
    let config = config(world);
    if !config.risk.enabled || !config.risk.steal_coverage.enabled {
        return;
    }
    let Ok(entity) = player_entity(world, viewer) else {
        return;
    };
    let now = now(world);
    let window_ms = config.risk.steal_coverage.window_secs as u64 * 1000;
    let ripe = balls
        .iter()
        .filter(|ball| ball.stealable > 0)
        .map(|ball| ball.ball_id)
        .collect();
    let mut log = risk_log(world, entity);
    log.remote_ripe
        .retain(|_, (at, _)| at.saturating_add(window_ms) >= now);
    log.remote_ripe
        .insert(owner, (now, RemoteRipe::Shown(ripe)));
}

/// Ripe balls of `thief`'s friends on this shard the thief could still take from and
/// has not: the rest of `steal_coverage`'s denominator (friends of other shards are
/// counted from what the thief was shown of them and from the steals' outcomes,
/// [`RemoteRipe`]; none at all once the steal uses up the thief's
/// daily allowance: balls a thief may not take are not balls they chose to leave). Run
/// only when the thief has taken enough balls in the window for the rule to possibly
/// trip.
fn untaken_ripe_balls(world: &World, thief: PlayerId, taken: &BTreeSet<BallId>) -> usize {
    let allowed = hits_allowed(world, thief, now(world));
    let friends: Vec<PlayerId> = world.resource::<Social>().graph.friends(thief).collect();
    friends
        .into_iter()
        .map(|friend| ripe_balls_left(world, thief, allowed, friend, taken))
        .sum()
}

/// Ripe balls of `owner` (a player of this shard) that `thief`, allowed `allowed` hits
/// per ball, could still take from, leaving out `taken`; none under a protection cover.
pub fn ripe_balls_left(
    world: &World,
    thief: PlayerId,
    allowed: u8,
    owner: PlayerId,
    taken: &BTreeSet<BallId>,
) -> usize {
    let (now, config) = (now(world), config(world));
    if is_protected(world, owner, now) {
        return 0;
    }
    let Ok(entity) = player_entity(world, owner) else {
        return 0;
    };
    owned_balls(world, entity)
        .into_iter()
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

/// Whether `player` (of this shard) has a new or empty account: what a flow from them
/// records, and what `water_funnel` counts; a shard judging a watering from another
/// shard's player gets it in the request.
pub fn is_new_or_empty_player(world: &World, player: PlayerId) -> bool {
    player_entity(world, player).is_ok_and(|entity| is_new_or_empty(world, entity))
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

/// Adds a transfer between two players of this shard to the flow window of the graph
/// analysis (when it runs).
pub fn record_transfer(
    world: &World,
    from: PlayerId,
    to: PlayerId,
    kind: flows::FlowKind,
    grams: u64,
) {
    let from_new = is_new_or_empty_player(world, from);
    record_flow_edge(world, (from, from_new), to, kind, grams);
}

/// Adds a transfer to the flow window, with whether the giver's account was new or
/// empty (their shard says so when the giver lives on another). In a cluster the shard
/// that decides a transfer records it, so each flow is in one shard's window only.
pub fn record_flow_edge(
    world: &World,
    (from, from_new): (PlayerId, bool),
    to: PlayerId,
    kind: flows::FlowKind,
    grams: u64,
) {
    let config = config(world);
    if !(config.risk.enabled && config.risk.graph.enabled) {
        return;
    }
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

/// A watering of `receiver` by `giver`, both of this shard, about to happen:
/// `water_funnel`, on the receiver.
pub fn check_water(world: &mut World, giver: PlayerId, receiver: PlayerId) -> Verdict {
    let giver_new = is_new_or_empty_player(world, giver);
    judge_water(world, (giver, giver_new), receiver)
}

/// `water_funnel` on a watering of `receiver` (of this shard) about to happen, by a
/// giver of this shard or of another, with whether the giver's account is new or empty.
pub fn judge_water(
    world: &mut World,
    (giver, suspicious): (PlayerId, bool),
    receiver: PlayerId,
) -> Verdict {
    let config = config(world);
    if !config.risk.enabled {
        return Verdict::allow();
    }
    let Ok(receiver_entity) = player_entity(world, receiver) else {
        return Verdict::allow();
    };
    let now = now(world);
    let rule = &config.risk.water_funnel;
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
