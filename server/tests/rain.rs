//! The energy rain (docs/RAIN.md): rounds per day and the gift rules, every tap rule
//! with its code (tolerance edges, double taps, balls not on screen), settlement on the
//! server's tick whatever the client does, durability of a round in flight across a
//! restart (it settles exactly once), and a property test that energy and vitality are
//! conserved with rain in any sequence of ops.

mod support;

use canopy_server::game::AdminOp;
use canopy_server::game::components::Rain;
use canopy_server::game::resources::Directory;
use canopy_shared::admin::AuditReport;
use canopy_shared::rain::{
    RainBall, RainGiftResult, RainStartResult, RainStatusResult, RainTapResult,
};
use canopy_shared::{ErrorBody, ErrorCode, Event, Millis, PlayerId, Request};
use support::{DAY, Player, Sim, code_of, config_with, local};

fn start(sim: &mut Sim, player: &Player) -> Result<RainStartResult, ErrorBody> {
    sim.call(player.session, Request::RainStart {})
}

fn status(sim: &mut Sim, player: &Player) -> RainStatusResult {
    sim.call(player.session, Request::Rain {})
        .expect("rain works when logged in")
}

fn tap(
    sim: &mut Sim,
    player: &Player,
    round_id: u64,
    ball: u32,
    at: Millis,
) -> Result<RainTapResult, ErrorBody> {
    sim.call(player.session, Request::RainTap { round_id, ball, at })
}

fn gift(sim: &mut Sim, giver: &Player, friend: PlayerId) -> Result<RainGiftResult, ErrorBody> {
    sim.call(giver.session, Request::RainGift { friend_id: friend })
}

fn server_audit(sim: &mut Sim) -> AuditReport {
    sim.admin(AdminOp::Audit).expect("the audit runs")
}

/// When `ball` of `round` is half-way down.
fn mid_fall(round: &RainStartResult, ball: &RainBall) -> Millis {
    round.round.starts_at + ball.appear_ms + ball.fall_ms / 2
}

/// Moves the clock to half-way down `ball` and catches it there; returns its grams.
fn catch(sim: &mut Sim, player: &Player, round: &RainStartResult, ball: &RainBall) -> u64 {
    let at = mid_fall(round, ball);
    sim.advance_to(at);
    tap(sim, player, round.round.round_id, ball.ball, at)
        .expect("a ball on screen is caught")
        .grams
}

/// Runs a round for `player`, catching the balls `which` picks; returns the grams.
fn play(sim: &mut Sim, player: &Player, which: impl Fn(u32) -> bool) -> u64 {
    let round = start(sim, player).expect("a round is left");
    let mut balls: Vec<RainBall> = round.round.balls.clone();
    balls.sort_by_key(|ball| ball.appear_ms + ball.fall_ms / 2);
    let caught = balls
        .iter()
        .filter(|ball| which(ball.ball))
        .map(|ball| catch(sim, player, &round, ball))
        .sum();
    sim.advance_to(round.round.ends_at);
    caught
}

#[test]
fn the_caught_grams_reach_the_balance_on_the_tick_the_round_ends() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    let round = start(&mut sim, &mei).expect("one round a day");
    assert_eq!(round.rounds_left, 0);
    let config = sim.config.rain.clone();
    assert_eq!(round.round.starts_at, sim.now() + config.lead_ms);
    assert_eq!(
        round.round.ends_at,
        round.round.starts_at + config.duration_ms
    );
    assert_eq!(
        round.round.balls,
        canopy_shared::rain::schedule(round.round.seed, &round.round.params),
        "the schedule is the seed's"
    );
    assert_eq!(
        round.round.balls.iter().map(|b| b.grams).sum::<u64>(),
        config.total_grams,
        "a perfect round is worth the configured grams"
    );

    let mut caught = 0;
    for ball in round.round.balls.iter().filter(|ball| ball.ball % 3 == 0) {
        caught += catch(&mut sim, &mei, &round, ball);
    }
    assert!(caught > 0);
    assert_eq!(
        sim.me(&mei).player.energy,
        0,
        "nothing is credited mid-round"
    );
    let in_flight = status(&mut sim, &mei)
        .round
        .expect("the round is in flight");
    assert_eq!(in_flight.caught.len(), 10);

    let before_end = sim.advance_to(round.round.ends_at - 1);
    assert!(before_end.events_for(mei.id).is_empty());
    let end = sim.advance_to(round.round.ends_at);
    let points = caught / config.grams_per_vitality;
    assert_eq!(
        end.events_for(mei.id),
        vec![&Event::RainEnded {
            round_id: round.round.round_id,
            caught: 10,
            grams: caught,
            energy: caught,
            vitality: points,
        }]
    );
    let me = sim.me(&mei).player;
    assert_eq!((me.energy, me.vitality), (caught, points));
    assert_eq!(me.total_collected, 0, "rain grams are not collected energy");
    assert!(status(&mut sim, &mei).round.is_none());
    sim.assert_conserved();
    let audit = server_audit(&mut sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!((audit.rained, audit.rain_rounds), (caught, 1));
}

#[test]
fn a_round_with_no_catch_settles_with_nothing() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    assert_eq!(play(&mut sim, &mei, |_| false), 0);
    assert_eq!(sim.me(&mei).player.energy, 0);
    let audit = server_audit(&mut sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!((audit.rained, audit.rain_rounds), (0, 1));
}

#[test]
fn one_round_a_day_and_one_at_a_time() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    let round = start(&mut sim, &mei).expect("the day's round");
    assert_eq!(code_of(start(&mut sim, &mei)), ErrorCode::Conflict);
    sim.advance_to(round.round.ends_at);
    assert_eq!(code_of(start(&mut sim, &mei)), ErrorCode::LimitReached);
    assert_eq!(status(&mut sim, &mei).rounds_left, 0);
    sim.advance_to(local(1, 0, 0));
    assert_eq!(
        status(&mut sim, &mei).rounds_left,
        1,
        "a new day, a new round"
    );
    start(&mut sim, &mei).expect("the next day's round");
}

#[test]
fn a_chance_given_unlocks_a_round_for_both_and_each_player_receives_one_a_day() {
    let mut sim = Sim::with_config(config_with(&[("CANOPY_RAIN__GIFTS_PER_DAY", "2")]));
    let (mei, lin, kai, ann) = (
        sim.register("mei"),
        sim.register("lin"),
        sim.register("kai"),
        sim.register("ann"),
    );
    sim.befriend(&mei, &lin);
    sim.befriend(&mei, &kai);
    sim.befriend(&mei, &ann);
    sim.befriend(&lin, &kai);

    assert_eq!(
        code_of(gift(&mut sim, &mei, lin.id)),
        ErrorCode::NotEligible,
        "a chance is given after playing"
    );
    play(&mut sim, &mei, |_| true);
    assert_eq!(status(&mut sim, &mei).gifts_left, 1);
    assert_eq!(code_of(gift(&mut sim, &mei, mei.id)), ErrorCode::NotFriends);
    assert_eq!(code_of(gift(&mut sim, &lin, ann.id)), ErrorCode::NotFriends);

    let id = sim.submit(mei.session, Request::RainGift { friend_id: lin.id });
    let tick = sim.tick();
    let given: RainGiftResult = tick.result(id).expect("a chance for lin");
    assert_eq!((given.rounds_left, given.gifts_left), (1, 0));
    assert_eq!(
        tick.events_for(lin.id),
        vec![&Event::RainChance { from: mei.id }]
    );
    let lin_status = status(&mut sim, &lin);
    assert_eq!(
        (lin_status.rounds_left, lin_status.gift_received),
        (2, true)
    );
    assert_eq!(
        code_of(gift(&mut sim, &mei, kai.id)),
        ErrorCode::NotEligible,
        "one chance per round played"
    );

    play(&mut sim, &mei, |_| false);
    assert_eq!(
        code_of(gift(&mut sim, &mei, lin.id)),
        ErrorCode::LimitReached,
        "lin already received a chance today"
    );
    let given = gift(&mut sim, &mei, kai.id).expect("a chance for kai");
    assert_eq!((given.rounds_left, given.gifts_left), (1, 0));
    play(&mut sim, &mei, |_| false);
    assert_eq!(
        code_of(gift(&mut sim, &mei, ann.id)),
        ErrorCode::LimitReached,
        "mei gave the 2 chances a day the config allows"
    );
    assert_eq!(status(&mut sim, &mei).rounds_left, 0);

    play(&mut sim, &lin, |_| false);
    gift(&mut sim, &lin, mei.id).expect("mei receives a chance from lin");
    assert_eq!(status(&mut sim, &mei).rounds_left, 1);
    play(&mut sim, &kai, |_| false);
    assert_eq!(
        code_of(gift(&mut sim, &kai, mei.id)),
        ErrorCode::LimitReached,
        "one chance received a day"
    );

    sim.advance_to(local(1, 0, 0));
    let next_day = status(&mut sim, &mei);
    assert_eq!(
        (
            next_day.rounds_left,
            next_day.gifts_left,
            next_day.gift_received
        ),
        (1, 0, false),
        "unused chances end with the day"
    );
    sim.assert_conserved();
}

#[test]
fn taps_are_judged_by_the_servers_simulation_and_clock() {
    let mut sim = Sim::new();
    let (mei, lin) = (sim.register("mei"), sim.register("lin"));
    let round = start(&mut sim, &mei).expect("a round");
    let id = round.round.round_id;
    let tolerance = sim.config.rain.tap_tolerance_ms;
    let ball = round.round.balls[4];
    let appear = round.round.starts_at + ball.appear_ms;
    let land = appear + ball.fall_ms;

    sim.advance_to(appear);
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, ball.ball, appear - 1)),
        ErrorCode::OffScreen,
        "not yet on screen"
    );
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, 30, appear)),
        ErrorCode::NotFound,
        "no ball 30 in a round of 30"
    );
    assert_eq!(
        code_of(tap(&mut sim, &lin, id, ball.ball, appear)),
        ErrorCode::NotFound,
        "another player's round"
    );
    assert_eq!(
        code_of(tap(&mut sim, &mei, id + 1, ball.ball, appear)),
        ErrorCode::NotFound
    );
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, ball.ball, appear + tolerance + 1)),
        ErrorCode::BadTiming,
        "further in the future than the tolerance"
    );

    // The ball lands at `land`; a tap of that instant arriving a tolerance later counts.
    sim.advance_to(land + tolerance);
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, ball.ball, land - 1)),
        ErrorCode::BadTiming,
        "older than the tolerance"
    );
    let caught = tap(&mut sim, &mei, id, ball.ball, land).expect("on screen at `at`");
    assert_eq!(
        (caught.grams, caught.caught_grams),
        (ball.grams, ball.grams)
    );
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, ball.ball, land)),
        ErrorCode::Gone,
        "a ball is caught once"
    );
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, ball.ball, land + 1)),
        ErrorCode::Gone
    );
    let other = round
        .round
        .balls
        .iter()
        .find(|b| b.ball != ball.ball && !b.on_screen(land + tolerance - round.round.starts_at))
        .expect("some ball is off screen now");
    let now = sim.now();
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, other.ball, now)),
        ErrorCode::OffScreen
    );

    sim.advance_to(round.round.ends_at);
    let now = sim.now();
    assert_eq!(
        code_of(tap(&mut sim, &mei, id, 29, now)),
        ErrorCode::OutsideWindow,
        "the round is over"
    );
    assert_eq!(sim.me(&mei).player.energy, ball.grams);
    sim.assert_conserved();
}

#[test]
fn a_round_in_flight_survives_a_restart_and_settles_exactly_once() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    let round = start(&mut sim, &mei).expect("a round");
    let first = round.round.balls[0];
    let grams = catch(&mut sim, &mei, &round, &first);

    // Down until well after the round's end: the acknowledged tap is in the store.
    let mut sim = sim.reload(round.round.ends_at + 60_000);
    let entity = sim.game.world().resource::<Directory>().players[&mei.id];
    let stored = &sim.game.world().get::<Rain>(entity).expect("Rain").0;
    let in_flight = stored
        .round
        .as_ref()
        .expect("still in flight after the restart");
    assert_eq!(in_flight.taps.len(), 1);
    assert_eq!(in_flight.taps[0].ball, first.ball);
    let settled = sim.tick();
    assert_eq!(
        settled.events_for(mei.id),
        vec![&Event::RainEnded {
            round_id: round.round.round_id,
            caught: 1,
            grams,
            energy: grams,
            vitality: grams / sim.config.rain.grams_per_vitality,
        }],
        "the first tick settles it"
    );
    sim.assert_conserved();

    let mut sim = sim.reload(sim.now() + 1);
    let mei = sim.login(&mei);
    assert!(sim.tick().events_for(mei.id).is_empty(), "settled once");
    assert_eq!(sim.me(&mei).player.energy, grams);
    assert!(status(&mut sim, &mei).round.is_none());
    let audit = server_audit(&mut sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!((audit.rained, audit.rain_rounds), (grams, 1));
}

#[test]
fn a_round_keeps_its_parameters_through_a_reload_of_the_config() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    let round = start(&mut sim, &mei).expect("a round");
    let mut config = (*sim.config).clone();
    config.rain.total_grams = 500;
    sim.game.set_config(std::sync::Arc::new(config));
    let ball = round.round.balls[2];
    assert_eq!(catch(&mut sim, &mei, &round, &ball), ball.grams);
}

/// Plays a round catching every ball exactly `reaction_ms` after it appears.
fn play_precisely(sim: &mut Sim, player: &Player, reaction_ms: u64) -> u64 {
    let round = start(sim, player).expect("a round is left");
    let mut caught = 0;
    for ball in &round.round.balls {
        let at = round.round.starts_at + ball.appear_ms + reaction_ms;
        if at > sim.now() {
            sim.advance_to(at);
        }
        caught += tap(sim, player, round.round.round_id, ball.ball, at)
            .expect("on screen")
            .grams;
    }
    sim.advance_to(round.round.ends_at);
    caught
}

#[test]
fn rounds_played_with_inhuman_precision_are_flagged_for_review_and_still_credited() {
    let mut sim = Sim::with_config(canopy_server::config::Config::default_embedded());
    let bot = sim.register("bot");
    let mut credited = 0;
    for day in 0..3 {
        sim.advance_to(local(day, 9, 0));
        credited += play_precisely(&mut sim, &bot, 120);
        let list: canopy_shared::risk::FlagList = sim
            .admin(AdminOp::RiskFlags(canopy_shared::risk::FlagQuery {
                status: None,
                player_id: Some(bot.id),
            }))
            .expect("flags list");
        let flagged = list.flags.iter().any(|flag| flag.rule == "rain_precision");
        assert_eq!(flagged, day == 2, "judged over three rounds (day {day})");
    }
    assert_eq!(
        sim.me(&bot).player.energy,
        credited,
        "review only: nothing held"
    );
    assert_eq!(credited, 3 * sim.config.rain.total_grams);
    sim.assert_conserved();
}

mod conservation {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Start {
            player: usize,
        },
        Tap {
            player: usize,
            ball: u32,
            offset_ms: u64,
            skew_ms: i64,
        },
        Gift {
            giver: usize,
            friend: usize,
        },
        Advance {
            ms: u64,
        },
        Ride {
            player: usize,
        },
        CollectAll {
            player: usize,
        },
        Restart,
    }

    fn step() -> impl Strategy<Value = Step> {
        let p = 0..3usize;
        prop_oneof![
            3 => p.clone().prop_map(|player| Step::Start { player }),
            8 => (p.clone(), 0..32u32, 0..17_000u64, -1_500..1_500i64).prop_map(
                |(player, ball, offset_ms, skew_ms)| Step::Tap { player, ball, offset_ms, skew_ms }
            ),
            2 => (p.clone(), p.clone()).prop_map(|(giver, friend)| Step::Gift { giver, friend }),
            3 => (1..20_000u64).prop_map(|ms| Step::Advance { ms }),
            1 => Just(Step::Advance { ms: DAY }),
            1 => p.clone().prop_map(|player| Step::Ride { player }),
            1 => p.clone().prop_map(|player| Step::CollectAll { player }),
            1 => Just(Step::Restart),
        ]
    }

    /// Codes each op may be refused with; anything else is a bug.
    fn allowed(step: &Step, code: ErrorCode) -> bool {
        match step {
            Step::Start { .. } => matches!(code, ErrorCode::Conflict | ErrorCode::LimitReached),
            Step::Tap { .. } => matches!(
                code,
                ErrorCode::NotFound
                    | ErrorCode::OutsideWindow
                    | ErrorCode::BadTiming
                    | ErrorCode::Gone
                    | ErrorCode::OffScreen
            ),
            Step::Gift { .. } => matches!(
                code,
                ErrorCode::NotFriends | ErrorCode::NotEligible | ErrorCode::LimitReached
            ),
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn energy_and_vitality_are_conserved_with_rain_in_any_sequence_of_ops(
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let mut sim = Sim::new();
            let mut players: Vec<Player> =
                ["mei", "lin", "kai"].iter().map(|name| sim.register(name)).collect();
            sim.befriend(&players[0], &players[1]);
            sim.befriend(&players[1], &players[2]);
            let mut rounds: Vec<Option<(u64, Millis)>> = vec![None; 3];
            for step in &steps {
                let request = match *step {
                    Step::Start { player } => Some((player, Request::RainStart {})),
                    Step::Tap { player, ball, offset_ms, skew_ms } => {
                        rounds[player].map(|(round_id, starts_at)| {
                            let at = (starts_at + offset_ms).max(sim.now());
                            if at > sim.now() {
                                sim.advance_to(at);
                            }
                            let at = at.saturating_add_signed(skew_ms);
                            (player, Request::RainTap { round_id, ball, at })
                        })
                    }
                    Step::Gift { giver, friend } => Some((giver, Request::RainGift {
                        friend_id: players[friend].id,
                    })),
                    Step::Advance { ms } => {
                        sim.advance(ms);
                        None
                    }
                    Step::Ride { player } => {
                        sim.partner_many(players[player].id, "metro", 1);
                        None
                    }
                    Step::CollectAll { player } => {
                        sim.collect_all(&players[player]);
                        None
                    }
                    Step::Restart => {
                        sim = sim.reload(sim.now());
                        players = players.iter().map(|player| sim.login(player)).collect();
                        None
                    }
                };
                if let Some((who, request)) = request {
                    let id = sim.submit(players[who].session, request);
                    let answer = sim.tick().result::<serde_json::Value>(id);
                    match answer {
                        Ok(value) => {
                            if let Some(round) = value.get("round") {
                                rounds[who] = Some((
                                    round["round_id"].as_u64().unwrap_or_default(),
                                    round["starts_at"].as_u64().unwrap_or_default(),
                                ));
                            }
                        }
                        Err(error) => prop_assert!(allowed(step, error.code), "{step:?}: {error}"),
                    }
                }
                if let Err(problem) = support::audit(&sim.game, &sim.store) {
                    prop_assert!(false, "after {step:?}: {problem}");
                }
            }
            let audit = server_audit(&mut sim);
            prop_assert!(audit.balanced, "{:?}", audit.problems);
        }
    }
}
