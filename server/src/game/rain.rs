//! The energy rain (能量雨), server-authoritative: a round's balls come from a seed
//! (`canopy_shared::rain::schedule`), every tap is judged against the server's own
//! simulation of the round and its clock, and the caught grams reach the balance on the
//! tick the round ends, whatever the client does. Rules and numbers: docs/RAIN.md.

use super::components::Rain;
use super::resources::{Directory, Dirty, GameRng, Ledger};
use super::state::{
    config, credit_balance, fail, notify, now, player_entity, record_flow, touch_player,
};
use super::transfers::require_friends;
use super::{risk, rules, vitality};
use crate::store::{Account, Flow, RainRecord, RainRound, RainRoundTaps, RainTap};
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::rain::{
    RainGiftResult, RainRoundView, RainStartResult, RainStatusResult, RainTapResult, schedule,
};
use canopy_shared::{ErrorBody, ErrorCode, Event, Millis, PlayerId};
use rand::RngExt;
use std::collections::BTreeSet;

/// Chances a player may receive from friends per game day.
pub const GIFTS_RECEIVED_PER_DAY: u32 = 1;

/// Settled rounds whose taps a player's record keeps for the `rain_precision` rule.
pub const RECENT_ROUNDS: usize = 10;

/// The rounds in flight by end time, so a tick settles what is due without a scan.
#[derive(Resource, Default)]
pub struct RainRounds {
    due: BTreeSet<(Millis, PlayerId)>,
}

impl RainRounds {
    /// Puts a round ending at `ends_at` on the queue.
    pub fn queue(&mut self, ends_at: Millis, player: PlayerId) {
        self.due.insert((ends_at, player));
    }

    /// Takes the players whose rounds end by `now`.
    fn take_due(&mut self, now: Millis) -> Vec<PlayerId> {
        let rest = self.due.split_off(&(now.saturating_add(1), PlayerId(0)));
        let due = std::mem::replace(&mut self.due, rest);
        due.into_iter().map(|(_, player)| player).collect()
    }
}

/// Rounds the player may still start today.
pub fn rounds_left(record: &RainRecord) -> u32 {
    (1 + record.gifts_received + record.gifts_given).saturating_sub(record.rounds_started)
}

/// Chances the player may still give today: one per round played, within the limit.
pub fn gifts_left(record: &RainRecord, per_day: u32) -> u32 {
    record
        .rounds_started
        .min(per_day)
        .saturating_sub(record.gifts_given)
}

/// Judges a tap of `ball` at `at` in `round`, arriving at `now`: the tap if the ball
/// was on screen then by the server's simulation, else why not. Refusals in order:
/// no such ball (`NOT_FOUND`), `at` further than `tolerance_ms` from `now`
/// (`BAD_TIMING`), the ball already caught (`GONE`), the ball not on screen at `at`
/// (`OFF_SCREEN`).
pub fn judge_tap(
    round: &RainRound,
    ball: u32,
    at: Millis,
    now: Millis,
    tolerance_ms: u64,
) -> Result<RainTap, ErrorBody> {
    let balls = schedule(round.seed, &round.params);
    let Some(target) = balls.get(ball as usize) else {
        return fail(
            ErrorCode::NotFound,
            format!(
                "round {} has balls 0 to {}",
                round.id,
                balls.len().saturating_sub(1)
            ),
        );
    };
    if at > now.saturating_add(tolerance_ms) {
        return fail(
            ErrorCode::BadTiming,
            format!(
                "the tap is {} ms ahead of the server's clock (tolerance {tolerance_ms} ms)",
                at - now
            ),
        );
    }
    if at < now.saturating_sub(tolerance_ms) {
        return fail(
            ErrorCode::BadTiming,
            format!(
                "the tap is {} ms behind the server's clock (tolerance {tolerance_ms} ms)",
                now - at
            ),
        );
    }
    if round.taps.iter().any(|tap| tap.ball == ball) {
        return fail(ErrorCode::Gone, format!("ball {ball} was already caught"));
    }
    let offset = at.checked_sub(round.starts_at);
    match offset.filter(|&offset| target.on_screen(offset)) {
        Some(offset) => Ok(RainTap {
            ball,
            grams: target.grams,
            at_ms: offset,
            reaction_ms: offset - target.appear_ms,
        }),
        None => fail(
            ErrorCode::OffScreen,
            format!(
                "ball {ball} is on screen from {} to {} ms into the round",
                target.appear_ms,
                target.appear_ms + target.fall_ms
            ),
        ),
    }
}

/// A player's rain record with its daily counts rolled to today, for changing; marks
/// it for this tick's batch.
fn rolled(world: &mut World, entity: Entity) -> &mut RainRecord {
    let day = rules::game_day(now(world), config(world).day.utc_offset_minutes);
    world.resource_mut::<Dirty>().rain.insert(entity);
    let rain = world
        .get_mut::<Rain>(entity)
        .expect("every player entity has Rain")
        .into_inner();
    rain.0.roll(day);
    &mut rain.0
}

/// A copy of a player's rain record as it stands today, for reading.
fn as_of_today(world: &World, entity: Entity) -> RainRecord {
    let day = rules::game_day(now(world), config(world).day.utc_offset_minutes);
    let mut record = world
        .get::<Rain>(entity)
        .expect("every player entity has Rain")
        .0
        .clone();
    record.roll(day);
    record
}

/// A round as the protocol shows it.
fn view(round: &RainRound, tolerance_ms: u64) -> RainRoundView {
    RainRoundView {
        round_id: round.id,
        seed: round.seed,
        params: round.params,
        starts_at: round.starts_at,
        ends_at: round.ends_at,
        tolerance_ms,
        balls: schedule(round.seed, &round.params),
        caught: round.taps.iter().map(|tap| tap.ball).collect(),
    }
}

/// `rain`: the caller's rounds and chances today and the round in flight.
pub fn status(world: &World, player: PlayerId) -> Result<RainStatusResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let config = config(world);
    let record = as_of_today(world, entity);
    Ok(RainStatusResult {
        rounds_left: rounds_left(&record),
        gifts_left: gifts_left(&record, config.rain.gifts_per_day),
        gift_received: record.gifts_received > 0,
        round: record
            .round
            .as_ref()
            .map(|round| view(round, config.rain.tap_tolerance_ms)),
    })
}

/// `rain_start`: a new round from a fresh seed, starting after the countdown.
/// `CONFLICT` while a round is in flight, `LIMIT_REACHED` when none is left today.
pub fn start(world: &mut World, player: PlayerId) -> Result<RainStartResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let config = config(world);
    let record = as_of_today(world, entity);
    if let Some(round) = &record.round {
        return fail(
            ErrorCode::Conflict,
            format!("round {} is in flight until {}", round.id, round.ends_at),
        );
    }
    if rounds_left(&record) == 0 {
        return fail(
            ErrorCode::LimitReached,
            "no energy rain round left today: a friend's chance (rain_gift) or giving one \
             unlocks another",
        );
    }
    let seed = world.resource_mut::<GameRng>().0.random::<u64>();
    let id = {
        let mut ledger = world.resource_mut::<Ledger>();
        ledger.rain.next_round += 1;
        ledger.rain.next_round
    };
    let starts_at = now(world) + config.rain.lead_ms;
    let round = RainRound {
        id,
        seed,
        params: config.rain.params(),
        starts_at,
        ends_at: starts_at + config.rain.duration_ms,
        taps: Vec::new(),
    };
    world
        .resource_mut::<RainRounds>()
        .queue(round.ends_at, player);
    let shown = view(&round, config.rain.tap_tolerance_ms);
    let record = rolled(world, entity);
    record.rounds_started += 1;
    record.round = Some(round);
    Ok(RainStartResult {
        round: shown,
        rounds_left: rounds_left(record),
    })
}

/// `rain_tap`: catches one ball of the caller's round in flight, if the server's
/// simulation has it on screen at `at` (see [`judge_tap`]). A round that already ended
/// is `OUTSIDE_WINDOW`; any other round id is `NOT_FOUND`.
pub fn tap(
    world: &mut World,
    player: PlayerId,
    round_id: u64,
    ball: u32,
    at: Millis,
) -> Result<RainTapResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let tolerance = config(world).rain.tap_tolerance_ms;
    let now = now(world);
    let record = &world.get::<Rain>(entity).expect("player has Rain").0;
    let round = match &record.round {
        Some(round) if round.id == round_id => round,
        _ if record.recent.iter().any(|ended| ended.round == round_id) => {
            return fail(
                ErrorCode::OutsideWindow,
                format!("round {round_id} has ended"),
            );
        }
        _ => {
            return fail(
                ErrorCode::NotFound,
                format!("you have no energy rain round {round_id}"),
            );
        }
    };
    let caught = judge_tap(round, ball, at, now, tolerance)?;
    world.resource_mut::<Dirty>().rain.insert(entity);
    let mut rain = world.get_mut::<Rain>(entity).expect("player has Rain");
    let round = rain
        .0
        .round
        .as_mut()
        .expect("the round judged is still in flight");
    round.taps.push(caught);
    Ok(RainTapResult {
        round_id,
        ball,
        grams: caught.grams,
        caught_grams: round.caught_grams(),
    })
}

/// `rain_gift`: gives a friend one more round today, which unlocks one more for the
/// giver. Refusals in order: not friends (`NOT_FRIENDS`), no round played that a chance
/// was not given for yet (`NOT_ELIGIBLE`), the giver's daily limit or a friend who
/// already received a chance today (`LIMIT_REACHED`).
pub fn gift(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
) -> Result<RainGiftResult, ErrorBody> {
    let giver_entity = player_entity(world, giver)?;
    require_friends(world, giver, friend)?;
    player_entity(world, friend)?;
    check_giver(world, giver_entity, 0)?;
    receive_chance(world, giver, friend)?;
    Ok(count_given(world, giver_entity))
}

/// The giver's side of `rain_gift`, with `pending` chances of theirs still being
/// decided on other shards: `NOT_ELIGIBLE` or `LIMIT_REACHED` (see [`giver_refusal`]).
pub fn check_giver(world: &World, giver: Entity, pending: u32) -> Result<(), ErrorBody> {
    let per_day = config(world).rain.gifts_per_day;
    match giver_refusal(&as_of_today(world, giver), pending, per_day) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// Why a giver with this record and `pending` chances in flight may not give one more:
/// every round played allows one chance (`NOT_ELIGIBLE`), within `per_day`
/// (`LIMIT_REACHED`).
pub fn giver_refusal(record: &RainRecord, pending: u32, per_day: u32) -> Option<ErrorBody> {
    let given = record.gifts_given + pending;
    if given >= record.rounds_started {
        return Some(ErrorBody::new(
            ErrorCode::NotEligible,
            "play a round first: each round played lets you give one chance",
        ));
    }
    if given >= per_day {
        return Some(ErrorBody::new(
            ErrorCode::LimitReached,
            format!("you may give {per_day} chances a day"),
        ));
    }
    None
}

/// The friend's side of `rain_gift` (the giver may live on another shard): one more
/// round for the friend today and a `rain_chance` event, unless they are no longer
/// friends or the friend already received a chance today (`LIMIT_REACHED`).
pub fn receive_chance(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
) -> Result<(), ErrorBody> {
    require_friends(world, giver, friend)?;
    let friend_entity = player_entity(world, friend)?;
    if as_of_today(world, friend_entity).gifts_received >= GIFTS_RECEIVED_PER_DAY {
        return fail(
            ErrorCode::LimitReached,
            format!("player {friend} already received a chance today"),
        );
    }
    rolled(world, friend_entity).gifts_received += 1;
    notify(world, friend, Event::RainChance { from: giver });
    Ok(())
}

/// Counts a chance the friend received: the giver's extra round is unlocked.
pub fn count_given(world: &mut World, giver: Entity) -> RainGiftResult {
    let per_day = config(world).rain.gifts_per_day;
    let record = rolled(world, giver);
    record.gifts_given += 1;
    RainGiftResult {
        rounds_left: rounds_left(record),
        gifts_left: gifts_left(record, per_day),
    }
}

/// Settles every round whose end time has come: its caught grams go to the balance
/// (a `Rained` ledger entry) with the vitality they earn, its taps join the player's
/// recent rounds for the risk rule, and the player hears `rain_ended`. All of it lands
/// in this tick's batch, with the round's removal, so a round settles exactly once.
pub fn settle_due_rounds(world: &mut World) {
    let now = now(world);
    let due = world.resource_mut::<RainRounds>().take_due(now);
    for player in due {
        let Some(&entity) = world.resource::<Directory>().players.get(&player) else {
            continue;
        };
        settle(world, entity, player);
    }
}

fn settle(world: &mut World, entity: Entity, player: PlayerId) {
    world.resource_mut::<Dirty>().rain.insert(entity);
    let mut rain = world.get_mut::<Rain>(entity).expect("player has Rain");
    let Some(round) = rain.0.round.take() else {
        return;
    };
    if rain.0.recent.len() == RECENT_ROUNDS {
        rain.0.recent.remove(0);
    }
    rain.0.recent.push(RainRoundTaps {
        round: round.id,
        balls: round.params.balls,
        taps: round.taps.clone(),
    });
    let grams = round.caught_grams();
    let energy = if grams > 0 {
        record_flow(
            world,
            Flow::Rained,
            grams,
            Account::Rain,
            Account::Balance(player),
        );
        credit_balance(world, entity, grams, false)
    } else {
        touch_player(world, entity);
        world
            .get::<super::components::Wallet>(entity)
            .expect("player has a Wallet")
            .energy
    };
    let points = grams / config(world).rain.grams_per_vitality;
    vitality::earn(world, entity, points);
    world.resource_mut::<Ledger>().rain.rounds += 1;
    notify(
        world,
        player,
        Event::RainEnded {
            round_id: round.id,
            caught: round.taps.len() as u32,
            grams,
            energy,
            vitality: points,
        },
    );
    risk::check_rain(world, player);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round() -> RainRound {
        RainRound {
            id: 9,
            seed: 1234,
            params: crate::config::RainConfig::default().params(),
            starts_at: 100_000,
            ends_at: 115_000,
            taps: Vec::new(),
        }
    }

    fn code(result: Result<RainTap, ErrorBody>) -> Result<RainTap, ErrorCode> {
        result.map_err(|error| error.code)
    }

    #[test]
    fn a_ball_is_caught_from_its_appearance_to_its_landing_and_no_longer() {
        let round = round();
        let ball = schedule(round.seed, &round.params)[5];
        let appear = round.starts_at + ball.appear_ms;
        let land = appear + ball.fall_ms;
        let tap = code(judge_tap(&round, 5, appear, appear, 1_000)).expect("on screen");
        assert_eq!((tap.grams, tap.reaction_ms), (ball.grams, 0));
        assert!(code(judge_tap(&round, 5, land, land, 1_000)).is_ok());
        assert_eq!(
            code(judge_tap(&round, 5, appear - 1, appear, 1_000)),
            Err(ErrorCode::OffScreen)
        );
        assert_eq!(
            code(judge_tap(&round, 5, land + 1, land + 1, 1_000)),
            Err(ErrorCode::OffScreen)
        );
    }

    #[test]
    fn the_tolerance_is_measured_against_the_server_clock_both_ways() {
        let round = round();
        let ball = schedule(round.seed, &round.params)[10];
        let at = round.starts_at + ball.appear_ms + 100;
        assert!(code(judge_tap(&round, 10, at, at + 1_000, 1_000)).is_ok());
        assert_eq!(
            code(judge_tap(&round, 10, at, at + 1_001, 1_000)),
            Err(ErrorCode::BadTiming),
            "older than the tolerance"
        );
        assert!(code(judge_tap(&round, 10, at, at - 1_000, 1_000)).is_ok());
        assert_eq!(
            code(judge_tap(&round, 10, at, at - 1_001, 1_000)),
            Err(ErrorCode::BadTiming),
            "in the future beyond the tolerance"
        );
    }

    #[test]
    fn a_ball_is_caught_once_and_an_unknown_ball_is_not_found() {
        let mut round = round();
        let ball = schedule(round.seed, &round.params)[3];
        let at = round.starts_at + ball.appear_ms + 10;
        let tap = code(judge_tap(&round, 3, at, at, 1_000)).expect("caught");
        round.taps.push(tap);
        assert_eq!(
            code(judge_tap(&round, 3, at, at, 1_000)),
            Err(ErrorCode::Gone)
        );
        assert_eq!(
            code(judge_tap(&round, 30, at, at, 1_000)),
            Err(ErrorCode::NotFound)
        );
    }

    #[test]
    fn a_tap_before_the_round_starts_is_off_screen() {
        let round = round();
        let early = round.starts_at - 1;
        assert_eq!(
            code(judge_tap(&round, 0, early, early, 1_000)),
            Err(ErrorCode::OffScreen)
        );
    }

    #[test]
    fn one_round_a_day_plus_one_per_chance_given_or_received() {
        let mut record = RainRecord::default();
        assert_eq!((rounds_left(&record), gifts_left(&record, 5)), (1, 0));
        record.rounds_started = 1;
        assert_eq!((rounds_left(&record), gifts_left(&record, 5)), (0, 1));
        record.gifts_given = 1;
        assert_eq!((rounds_left(&record), gifts_left(&record, 5)), (1, 0));
        record.gifts_received = 1;
        assert_eq!(rounds_left(&record), 2);
        record.rounds_started = 6;
        record.gifts_given = 5;
        assert_eq!(gifts_left(&record, 5), 0, "the daily limit holds");
        record.roll(record.day + 1);
        assert_eq!((rounds_left(&record), gifts_left(&record, 5)), (1, 0));
    }

    #[test]
    fn a_giver_needs_a_round_per_chance_within_the_limit_counting_those_in_flight() {
        let code = |started, given, pending| {
            let record = RainRecord {
                rounds_started: started,
                gifts_given: given,
                ..RainRecord::default()
            };
            giver_refusal(&record, pending, 2).map(|refusal| refusal.code)
        };
        assert_eq!(code(1, 0, 0), None);
        assert_eq!(code(0, 0, 0), Some(ErrorCode::NotEligible));
        assert_eq!(
            code(1, 0, 1),
            Some(ErrorCode::NotEligible),
            "a chance in flight uses the round up"
        );
        assert_eq!(code(3, 1, 0), None);
        assert_eq!(code(3, 2, 0), Some(ErrorCode::LimitReached));
        assert_eq!(code(3, 1, 1), Some(ErrorCode::LimitReached));
    }

    #[test]
    fn due_rounds_are_taken_by_end_time() {
        let mut rounds = RainRounds::default();
        rounds.queue(200, PlayerId(2));
        rounds.queue(100, PlayerId(1));
        rounds.queue(300, PlayerId(3));
        assert!(rounds.take_due(99).is_empty());
        assert_eq!(rounds.take_due(200), vec![PlayerId(1), PlayerId(2)]);
        assert_eq!(rounds.take_due(1_000), vec![PlayerId(3)]);
    }
}
