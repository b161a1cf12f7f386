//! Simulation tests: the game stepped by hand, tick by tick, on a manual clock and an
//! in-memory store. No sockets, no sleeps. Each test states one rule of GAME.md or
//! PROTOCOL.md; `assert_conserved` checks the energy identities wherever energy moved.

mod support;

use canopy_server::config::{Config, Species};
use canopy_server::game::AdminOp;
use canopy_server::store::Store;
use canopy_shared::event::{GoneReason, RipeBall};
use canopy_shared::model::{ActiveProp, PropKind, TreeStage};
use canopy_shared::reply::{
    GramsEnergyResult, HelloResult, LoginResult, MeResult, PingResult, PlantResult, PropsResult,
    RecordActionResult,
};
use canopy_shared::{BallId, ErrorCode, Event, PlayerId, Request};
use proptest::prelude::*;
use std::collections::HashMap;
use support::{
    DAY, HOUR, MINUTE, Player, START, Sim, Tick, code_of, local, partner_op, walk_request,
    without_risk,
};

/// A partner-reported kind, as GAME.md's table gives it.
struct PartnerKind {
    name: &'static str,
    grams: u64,
    daily_cap: Option<u32>,
    monthly_cap: Option<u32>,
}

const fn kind(
    name: &'static str,
    grams: u64,
    daily_cap: Option<u32>,
    monthly_cap: Option<u32>,
) -> PartnerKind {
    PartnerKind {
        name,
        grams,
        daily_cap,
        monthly_cap,
    }
}

const PARTNER_KINDS: [PartnerKind; 9] = [
    kind("offline_payment", 5, Some(10), None),
    kind("metro", 52, Some(5), None),
    kind("bus", 80, Some(5), None),
    kind("e_invoice", 5, Some(5), None),
    kind("etc_toll", 23, Some(5), None),
    kind("utility_bill", 262, None, Some(10)),
    kind("online_ticket", 180, None, Some(10)),
    kind("train_ticket", 136, None, Some(10)),
    kind("hospital_booking", 277, None, Some(5)),
];

/// The walk rule of GAME.md.
const STEPS_PER_GRAM: u64 = 50;
const WALK_CAP_GRAMS: u64 = 296;
const MAX_STEPS: u64 = 100_000;

/// A 100 g walk ball of `player`, with the clock moved to its ripening.
fn ripe_ball(sim: &mut Sim, player: &Player) -> BallId {
    let reference = sim.fresh_ref();
    let made = sim.walk(player, 5_000, &reference).expect("walk accepted");
    let id = made.ball.expect("5,000 steps make a ball").ball_id;
    let ripe_at = sim.ball(id).expect("live").ripe_at;
    sim.advance_to(ripe_at);
    id
}

fn ball_ripe_ids(tick: &Tick, player: PlayerId) -> Vec<BallId> {
    tick.events_for(player)
        .into_iter()
        .flat_map(|event| match event {
            Event::BallRipe { balls } => balls.iter().map(|b| b.ball_id).collect(),
            _ => Vec::new(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Batches between ticks: commands do not wait for the tick
// ---------------------------------------------------------------------------------------

#[test]
fn a_batch_between_ticks_answers_with_the_same_rules_and_leaves_time_to_the_tick() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let before = sim.now();
    let made: RecordActionResult = {
        let id = sim.submit(ant.session, walk_request(5_000, "w1"));
        let batch = sim.batch();
        batch.result(id).expect("a walk is credited in a batch")
    };
    let ball = made.ball.expect("5,000 steps make a ball");
    let ripe_at = sim.ball(ball.ball_id).expect("live").ripe_at;

    let again = sim.submit(ant.session, walk_request(5_000, "w1"));
    let collect = sim.submit(
        ant.session,
        Request::Collect {
            ball_id: ball.ball_id,
        },
    );
    let batch = sim.batch();
    let replay: RecordActionResult = batch.result(again).expect("a replayed ref answers");
    assert_eq!(replay.ball.map(|b| b.ball_id), Some(ball.ball_id));
    assert_eq!(batch.code(collect), ErrorCode::NotRipe);
    assert_eq!(sim.now(), before, "the clock moves only in ticks");
    assert!(ripe_at > sim.now());
    sim.assert_conserved();
}

#[test]
fn a_batch_that_moves_the_clock_ripens_what_is_due_before_it_answers() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let ball = sim
        .walk(&ant, 5_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");
    let ripe_at = sim.ball(ball.ball_id).expect("live").ripe_at;
    let moved = sim.submit_admin(AdminOp::AdvanceClock(ripe_at - sim.now()));
    let batch = sim.batch();
    let time: canopy_shared::admin::ClockTime =
        batch.result(moved).expect("the manual clock moves");
    assert_eq!(time.time, ripe_at);
    assert_eq!(ball_ripe_ids(&batch, ant.id), vec![ball.ball_id]);
    assert_eq!(sim.collect(&ant, ball.ball_id).map(|c| c.grams), Ok(100));
}

// ---------------------------------------------------------------------------------------
// Session: register and login
// ---------------------------------------------------------------------------------------

#[test]
fn a_registered_token_logs_in_a_second_session_as_the_same_player() {
    let mut sim = Sim::new();
    let ant = sim.register("ant_forest-01");
    let phone = sim.connect();
    let login: LoginResult = sim
        .call(
            phone,
            Request::Login {
                token: ant.token.clone(),
            },
        )
        .expect("the token from register logs in");
    assert_eq!(
        login,
        LoginResult {
            player_id: ant.id,
            name: "ant_forest-01".into(),
            expires_at: sim.now() + 30 * canopy_server::game::rules::DAY_MS,
        }
    );
    let seen_from_phone: MeResult = sim.call(phone, Request::Me {}).expect("logged in");
    assert_eq!(seen_from_phone.player.id, ant.id);
    assert_eq!(
        seen_from_phone,
        sim.me(&ant),
        "both sessions see one player"
    );

    let bee = sim.register("小蜜蜂");
    assert_ne!(bee.id, ant.id);
    assert_ne!(bee.token, ant.token);
    let stored = format!("{:?}", sim.store.load().expect("load").players);
    assert!(
        !stored.contains(&ant.token),
        "the store keeps a hash, never the token"
    );
}

#[test]
fn an_unknown_token_is_unauthenticated() {
    let mut sim = Sim::new();
    sim.register("ant");
    let stranger = sim.connect();
    let login = sim.call::<LoginResult>(
        stranger,
        Request::Login {
            token: "0".repeat(64),
        },
    );
    assert_eq!(code_of(login), ErrorCode::Unauthenticated);
    assert_eq!(
        code_of(sim.call::<MeResult>(stranger, Request::Me {})),
        ErrorCode::Unauthenticated,
        "a failed login leaves the session logged out"
    );
}

#[test]
fn player_ops_before_login_are_unauthenticated_and_change_nothing() {
    let mut sim = Sim::new();
    let session = sim.connect();
    let refused = [
        Request::Me {},
        support::walk_request(5_000, "early"),
        Request::Collect { ball_id: BallId(1) },
        Request::CollectAll {},
        Request::Plant {
            species: "saxaul".into(),
        },
        Request::UseProp {
            prop: PropKind::TimeAccelerator,
        },
        Request::Species {},
    ];
    let ids: Vec<u64> = refused
        .into_iter()
        .map(|request| sim.submit(session, request))
        .collect();
    let hello = sim.submit(session, Request::Hello { version: 1 });
    let ping = sim.submit(session, Request::Ping {});
    let tick = sim.tick();
    for id in ids {
        assert_eq!(tick.code(id), ErrorCode::Unauthenticated);
    }
    assert_eq!(
        tick.result::<HelloResult>(hello).expect("hello").time,
        START
    );
    assert_eq!(tick.result::<PingResult>(ping).expect("ping").time, START);
    assert_eq!(sim.ledger_len(), 0, "nothing was credited");
    assert!(sim.store.load().expect("load").balls.is_empty());
}

#[test]
fn register_refuses_bad_names_without_creating_a_player() {
    let mut sim = Sim::new();
    let session = sim.connect();
    for name in [
        String::new(),
        "a".repeat(33),
        "a b".into(),
        "<script>".into(),
        "tree🌳".into(),
        "semi;colon".into(),
    ] {
        let result = sim.call::<LoginResult>(session, Request::Register { name: name.clone() });
        assert_eq!(code_of(result), ErrorCode::BadRequest, "name {name:?}");
    }
    assert_eq!(
        code_of(sim.call::<MeResult>(session, Request::Me {})),
        ErrorCode::Unauthenticated
    );
    let first = sim.register(&"树".repeat(32));
    assert_eq!(first.id, PlayerId(1), "refused names used up no player id");
    assert_eq!(sim.store.load().expect("load").players.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Green actions: walk, refs, partner kinds and caps
// ---------------------------------------------------------------------------------------

#[test]
fn cumulative_steps_grow_the_days_one_walk_ball() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let id = sim.submit(ant.session, support::walk_request(2_000, "w1"));
    let tick = sim.tick();
    let first: RecordActionResult = tick.result(id).expect("walk accepted");
    assert_eq!(first.grams, 40, "1 g per 50 steps");
    let ball = first.ball.expect("a ball holds the grams");
    assert_eq!(
        (ball.owner, ball.source.as_str(), ball.amount),
        (ant.id, "walk", 40)
    );
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::BallNew { ball: ball.clone() }]
    );

    sim.advance(3 * HOUR);
    let second = sim.walk(&ant, 5_000, "w2").expect("walk accepted");
    assert_eq!(second.grams, 60, "only the new steps are credited");
    let grown = second.ball.expect("the same ball grew");
    assert_eq!(grown.ball_id, ball.ball_id);
    assert_eq!(grown.amount, 100);
    assert_eq!(grown.ripe_at, ball.ripe_at);
    let me = sim.me(&ant);
    assert_eq!(me.balls.len(), 1, "one walk ball a day");
    assert_eq!(me.balls[0].amount, 100);
    sim.assert_conserved();
}

#[test]
fn a_lower_or_equal_step_report_is_ignored() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let ball = sim
        .walk(&ant, 5_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");
    for (steps, reference) in [(3_000, "w2"), (5_000, "w3"), (5_049, "w4")] {
        let ignored = sim.walk(&ant, steps, reference).expect("accepted");
        assert_eq!(
            ignored,
            RecordActionResult {
                grams: 0,
                ball: None
            },
            "{steps} steps"
        );
    }
    assert_eq!(sim.ball(ball.ball_id).expect("live").full, 100);
    let more = sim.walk(&ant, 5_050, "w5").expect("accepted");
    assert_eq!(
        more.grams, 1,
        "counted from the highest report, not the last"
    );
    sim.assert_conserved();
}

#[test]
fn walk_energy_stops_at_296_grams_a_day() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    assert_eq!(sim.walk(&ant, 10_000, "w1").expect("walk").grams, 200);
    let capped = sim.walk(&ant, 20_000, "w2").expect("walk");
    assert_eq!(capped.grams, 96, "up to the 296 g cap");
    assert_eq!(capped.ball.expect("ball").amount, 296);
    let past_cap = sim.walk(&ant, 40_000, "w3").expect("accepted past the cap");
    assert_eq!(
        past_cap,
        RecordActionResult {
            grams: 0,
            ball: None
        }
    );
    assert_eq!(sim.game.totals().created, 296);
    sim.assert_conserved();
}

#[test]
fn more_than_100000_steps_a_day_is_refused_and_counted_for_risk() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    assert_eq!(
        code_of(sim.walk(&ant, 100_001, "w1")),
        ErrorCode::BadRequest
    );
    assert_eq!(sim.action_log(ant.id).implausible_reports, 1);
    assert!(sim.me(&ant).balls.is_empty(), "nothing credited");
    let missing_steps = Request::RecordAction {
        kind: "walk".into(),
        quantity: None,
        reference: "w2".into(),
    };
    assert_eq!(
        code_of(sim.call::<RecordActionResult>(ant.session, missing_steps)),
        ErrorCode::BadRequest
    );
    let limit = sim
        .walk(&ant, 100_000, "w3")
        .expect("the limit itself is plausible");
    assert_eq!(limit.grams, 296);
    sim.assert_conserved();
}

#[test]
fn a_repeated_ref_replays_the_first_result_and_credits_nothing() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let first = sim.walk(&ant, 1_000, "morning").expect("walk");
    assert_eq!(first.grams, 20);
    let entries = sim.ledger_len();
    let replay = sim.walk(&ant, 9_000, "morning").expect("replayed");
    assert_eq!(replay, first, "the first result, not one for 9,000 steps");
    assert_eq!(sim.ledger_len(), entries, "no ledger entry for a replay");
    let ball = first.ball.expect("ball").ball_id;
    assert_eq!(sim.ball(ball).expect("live").full, 20);
    assert_eq!(
        sim.walk(&ant, 2_000, "noon").expect("walk").grams,
        20,
        "the replay did not record 9,000 steps either"
    );

    let trip = sim.partner(ant.id, "metro", "trip-1").expect("metro");
    assert_eq!(
        sim.partner(ant.id, "metro", "trip-1").expect("replay"),
        trip
    );
    assert_eq!(sim.action_log(ant.id).usage["metro"].today, 1);
    assert_eq!(sim.me(&ant).balls.len(), 2, "one walk ball, one metro ball");
    sim.assert_conserved();
}

#[test]
fn a_ref_repeated_within_one_tick_credits_once() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let walks = [
        sim.submit(ant.session, support::walk_request(3_000, "same")),
        sim.submit(ant.session, support::walk_request(6_000, "same")),
    ];
    let metros = [
        sim.submit_admin(partner_op(ant.id, "metro", "trip")),
        sim.submit_admin(partner_op(ant.id, "metro", "trip")),
    ];
    let tick = sim.tick();
    for pair in [walks, metros] {
        let first: RecordActionResult = tick.result(pair[0]).expect("first");
        assert!(first.grams > 0);
        assert_eq!(
            tick.result::<RecordActionResult>(pair[1]).expect("replay"),
            first
        );
    }
    assert_eq!(sim.game.totals().created, 60 + 52);
    sim.assert_conserved();
}

#[test]
fn a_ref_replays_after_a_restart() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let walked = sim.walk(&ant, 1_500, "w1").expect("walk");
    let rode = sim.partner(ant.id, "metro", "m1").expect("metro");
    let mut restarted = sim.reload(START);
    let ant = restarted.login(&ant);
    let entries = restarted.ledger_len();
    assert_eq!(restarted.walk(&ant, 9_000, "w1").expect("replay"), walked);
    assert_eq!(
        restarted.partner(ant.id, "metro", "m1").expect("replay"),
        rode
    );
    assert_eq!(restarted.ledger_len(), entries);
    assert_eq!(restarted.game.totals().created, 30 + 52);
    restarted.assert_conserved();
}

#[test]
fn players_may_not_report_partner_kinds_and_unknown_kinds_are_bad_requests() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    for kind in PARTNER_KINDS.iter().map(|k| k.name) {
        let report = Request::RecordAction {
            kind: kind.to_owned(),
            quantity: Some(1),
            reference: format!("self-{kind}"),
        };
        assert_eq!(
            code_of(sim.call::<RecordActionResult>(ant.session, report)),
            ErrorCode::Forbidden,
            "{kind} is partner-only"
        );
    }
    let teleport = Request::RecordAction {
        kind: "teleport".into(),
        quantity: Some(1),
        reference: "t".into(),
    };
    assert_eq!(
        code_of(sim.call::<RecordActionResult>(ant.session, teleport)),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code_of(sim.partner(PlayerId(404), "metro", "m")),
        ErrorCode::NotFound,
        "partners report for existing players only"
    );
    assert_eq!(sim.ledger_len(), 0);
}

#[test]
fn metro_credits_52_grams_five_times_a_day_then_nothing() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    assert_eq!(sim.partner_many(ant.id, "metro", 5), vec![52; 5]);
    let sixth = sim.partner(ant.id, "metro", "sixth").expect("accepted");
    assert_eq!(
        sixth,
        RecordActionResult {
            grams: 0,
            ball: None
        }
    );
    let balls = sim.me(&ant).balls;
    assert_eq!(balls.len(), 5, "each ride is its own ball");
    assert!(balls.iter().all(|b| b.source == "metro" && b.amount == 52));
    sim.assert_conserved();
}

#[test]
fn daily_caps_reset_at_game_local_midnight_not_utc_midnight() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    sim.partner_many(ant.id, "metro", 5);
    let yesterday = sim
        .walk(&ant, 20_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");

    // 08:00 local is 00:00 UTC: not a new game day.
    sim.advance_to(local(0, 8, 0));
    assert_eq!(sim.partner_many(ant.id, "metro", 1), vec![0]);
    assert_eq!(sim.walk(&ant, 30_000, "w2").expect("walk").grams, 0);

    sim.advance_to(local(1, 0, 0) - 1);
    assert_eq!(
        sim.partner_many(ant.id, "metro", 1),
        vec![0],
        "23:59:59.999"
    );

    sim.advance(1);
    assert_eq!(
        sim.partner_many(ant.id, "metro", 6),
        vec![52, 52, 52, 52, 52, 0]
    );
    let today = sim.walk(&ant, 1_000, "w3").expect("walk");
    assert_eq!(today.grams, 20, "today's steps count from zero");
    assert_ne!(
        today.ball.expect("ball").ball_id,
        yesterday.ball_id,
        "a new day has a new walk ball"
    );
    sim.assert_conserved();
}

#[test]
fn monthly_caps_reset_on_the_first_of_the_month() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    assert_eq!(sim.partner_many(ant.id, "utility_bill", 11), {
        let mut expected = vec![262; 10];
        expected.push(0);
        expected
    });
    sim.advance_to(local(1, 9, 0));
    assert_eq!(
        sim.partner_many(ant.id, "utility_bill", 1),
        vec![0],
        "a new day does not reset a monthly cap"
    );
    // 2026-11-30 23:59:59.999 local, then 2026-12-01 00:00.
    sim.advance_to(local(6, 0, 0) - 1);
    assert_eq!(sim.partner_many(ant.id, "utility_bill", 1), vec![0]);
    sim.advance(1);
    assert_eq!(sim.partner_many(ant.id, "utility_bill", 1), vec![262]);
    assert_eq!(sim.action_log(ant.id).usage["utility_bill"].this_month, 1);
    sim.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Ripening, collecting, expiry
// ---------------------------------------------------------------------------------------

#[test]
fn balls_ripen_at_seven_the_next_game_local_morning() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    sim.advance_to(local(0, 1, 0));
    let walk = sim
        .walk(&ant, 5_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");
    sim.advance_to(local(0, 23, 30));
    let metro = sim
        .partner(ant.id, "metro", "m1")
        .expect("metro")
        .ball
        .expect("ball");
    let seven = local(1, 7, 0);
    assert_eq!(walk.ripe_at, seven, "01:00 today ripens at 07:00 tomorrow");
    assert_eq!(metro.ripe_at, seven, "so does 23:30 today");
    assert_eq!(code_of(sim.collect(&ant, walk.ball_id)), ErrorCode::NotRipe);

    let before = sim.advance_to(seven - 1);
    assert!(ball_ripe_ids(&before, ant.id).is_empty());
    assert_eq!(code_of(sim.collect(&ant, walk.ball_id)), ErrorCode::NotRipe);

    let at_seven = sim.advance(1);
    assert_eq!(
        at_seven.events_for(ant.id),
        vec![&Event::BallRipe {
            balls: vec![
                RipeBall {
                    ball_id: walk.ball_id,
                    amount: 100
                },
                RipeBall {
                    ball_id: metro.ball_id,
                    amount: 52
                },
            ]
        }],
        "one ball_ripe event for the owner with both balls"
    );
    let picked = sim.collect(&ant, walk.ball_id).expect("ripe");
    assert_eq!(
        picked,
        GramsEnergyResult {
            grams: 100,
            energy: 100
        }
    );
    let picked = sim.collect(&ant, metro.ball_id).expect("ripe");
    assert_eq!(
        picked,
        GramsEnergyResult {
            grams: 52,
            energy: 152
        }
    );
    assert_eq!(code_of(sim.collect(&ant, walk.ball_id)), ErrorCode::Gone);
    let me = sim.me(&ant);
    assert_eq!((me.player.energy, me.player.total_collected), (152, 152));
    assert!(me.balls.is_empty());
    sim.assert_conserved();
}

#[test]
fn collect_refuses_unknown_ids_and_other_players_balls() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let bee = sim.register("bee");
    let bees_ball = ripe_ball(&mut sim, &bee);
    for unknown in [BallId(0), BallId(999)] {
        assert_eq!(code_of(sim.collect(&ant, unknown)), ErrorCode::NotFound);
    }
    assert_eq!(code_of(sim.collect(&ant, bees_ball)), ErrorCode::NotYours);
    assert_eq!(sim.ball(bees_ball).expect("untouched").left, 100);
    assert_eq!(sim.me(&ant).player.energy, 0);
    sim.assert_conserved();
}

#[test]
fn collect_all_picks_every_ripe_ball_and_leaves_unripe_ones() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    sim.walk(&ant, 5_000, "w1").expect("walk");
    sim.partner(ant.id, "metro", "m1").expect("metro");
    sim.partner(ant.id, "bus", "b1").expect("bus");
    sim.advance_to(local(1, 7, 0));
    let unripe = sim
        .partner(ant.id, "metro", "m2")
        .expect("metro")
        .ball
        .expect("ball");
    let all = sim.collect_all(&ant);
    assert_eq!((all.grams, all.balls, all.energy), (100 + 52 + 80, 3, 232));
    let left: Vec<BallId> = sim.me(&ant).balls.iter().map(|b| b.ball_id).collect();
    assert_eq!(left, vec![unripe.ball_id]);
    let again = sim.collect_all(&ant);
    assert_eq!((again.grams, again.balls, again.energy), (0, 0, 232));
    sim.assert_conserved();
}

#[test]
fn unpicked_balls_expire_72_hours_after_ripening() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let ball = sim
        .walk(&ant, 5_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");
    assert_eq!(ball.expires_at, ball.ripe_at + 72 * HOUR);
    let last_moment = sim.advance_to(ball.expires_at - 1);
    assert_eq!(ball_ripe_ids(&last_moment, ant.id), vec![ball.ball_id]);
    assert!(
        !last_moment
            .events_for(ant.id)
            .iter()
            .any(|event| matches!(event, Event::BallGone { .. })),
        "still there one millisecond before its expiry"
    );
    assert!(sim.ball(ball.ball_id).is_some());

    let gone = sim.advance(1);
    assert_eq!(
        gone.events_for(ant.id),
        vec![&Event::BallGone {
            ball_id: ball.ball_id,
            reason: GoneReason::Expired
        }]
    );
    assert_eq!(sim.game.totals().expired, 100);
    assert_eq!(code_of(sim.collect(&ant, ball.ball_id)), ErrorCode::Gone);
    assert!(sim.me(&ant).balls.is_empty());
    assert!(sim.store.load().expect("load").balls.is_empty());
    sim.assert_conserved();
}

#[test]
fn a_ball_cannot_be_picked_once_its_lifetime_is_over() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let ball = sim
        .walk(&ant, 5_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");
    let other = sim
        .partner(ant.id, "metro", "m1")
        .expect("metro")
        .ball
        .expect("ball");
    sim.advance_to(ball.expires_at - 1);
    // The clock reaches the expiry instant and the owner picks in the same tick, before
    // the expiry system has run: the ball is already gone.
    sim.submit_admin(AdminOp::AdvanceClock(1));
    let collect = sim.submit(
        ant.session,
        Request::Collect {
            ball_id: ball.ball_id,
        },
    );
    let collect_all = sim.submit(ant.session, Request::CollectAll {});
    let tick = sim.tick();
    assert_eq!(tick.code(collect), ErrorCode::Gone);
    let all: canopy_shared::reply::CollectAllResult =
        tick.result(collect_all).expect("collect_all");
    assert_eq!(
        (all.grams, all.balls),
        (0, 0),
        "expired balls are not picked"
    );
    assert_eq!(sim.game.totals().expired, 100 + 52);
    assert!(sim.ball(other.ball_id).is_none());
    sim.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Planting and the tree
// ---------------------------------------------------------------------------------------

/// Reports every partner kind with a daily cap (or, with `monthly`, every kind with a
/// monthly cap) up to its cap, for `player`, in one tick each; returns the grams.
fn earn(sim: &mut Sim, player: PlayerId, monthly: bool) -> u64 {
    let mut grams = 0;
    for kind in &PARTNER_KINDS {
        let cap = if monthly {
            kind.monthly_cap
        } else {
            kind.daily_cap
        };
        if let Some(times) = cap {
            grams += sim
                .partner_many(player, kind.name, times)
                .iter()
                .sum::<u64>();
        }
    }
    grams
}

/// A full day of green actions: 296 g of steps and every daily partner kind to its cap.
fn earn_a_day(sim: &mut Sim, player: &Player) -> u64 {
    let reference = sim.fresh_ref();
    let walked = sim.walk(player, 14_800, &reference).expect("walk").grams;
    walked + earn(sim, player.id, false)
}

/// Moves to 07:00 the next game day and collects everything; returns the balance.
fn next_morning_collect(sim: &mut Sim, player: &Player) -> u64 {
    let day = (sim.now() - START) / DAY;
    sim.advance_to(local(day + 1, 7, 0));
    sim.collect_all(player).energy
}

#[test]
fn plant_refuses_unknown_species_and_short_balances() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    assert_eq!(
        code_of(sim.plant(&ant, "saxaul")),
        ErrorCode::InsufficientEnergy
    );
    earn_a_day(&mut sim, &ant);
    let energy = next_morning_collect(&mut sim, &ant);
    assert_eq!(energy, 1_146);
    assert_eq!(code_of(sim.plant(&ant, "baobab")), ErrorCode::NotFound);
    assert_eq!(
        code_of(sim.plant(&ant, "saxaul")),
        ErrorCode::InsufficientEnergy
    );
    let me = sim.me(&ant);
    assert_eq!(me.player.energy, 1_146, "a refused plant spends nothing");
    assert!(me.player.certificates.is_empty());
    assert_eq!(sim.game.totals().planted, 0);
    sim.assert_conserved();
}

#[test]
fn energy_earned_over_days_grows_the_tree_until_a_saxaul_is_planted() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    assert_eq!(sim.me(&ant).player.tree, TreeStage::Seed);

    // Day 1: daily kinds only. 296 + 50 + 260 + 400 + 25 + 115 = 1,146 g.
    assert_eq!(earn_a_day(&mut sim, &ant), 1_146);
    assert_eq!(next_morning_collect(&mut sim, &ant), 1_146);
    assert_eq!(sim.me(&ant).player.tree, TreeStage::Sprout);

    // Day 2: the monthly kinds too. 2,620 + 1,800 + 1,360 + 1,385 = 7,165 g.
    let day_two = earn_a_day(&mut sim, &ant) + earn(&mut sim, ant.id, true);
    assert_eq!(day_two, 1_146 + 7_165);
    assert_eq!(next_morning_collect(&mut sim, &ant), 9_457);
    assert_eq!(sim.me(&ant).player.tree, TreeStage::Sapling);

    // Days 3–9: a sapling until the cheapest species (caragana, 16,930 g) is affordable.
    let mut energy = 9_457;
    for _ in 3..=9 {
        earn_a_day(&mut sim, &ant);
        energy = next_morning_collect(&mut sim, &ant);
        let expected = if energy < 16_930 {
            TreeStage::Sapling
        } else {
            TreeStage::Tree
        };
        assert_eq!(sim.me(&ant).player.tree, expected, "at {energy} g");
    }
    assert_eq!(energy, 9_457 + 7 * 1_146);
    assert_eq!(
        code_of(sim.plant(&ant, "saxaul")),
        ErrorCode::InsufficientEnergy,
        "17,479 g is a tree but not yet a saxaul (17,900 g)"
    );

    earn_a_day(&mut sim, &ant);
    assert_eq!(next_morning_collect(&mut sim, &ant), 18_625);
    let id = sim.submit(
        ant.session,
        Request::Plant {
            species: "saxaul".into(),
        },
    );
    let tick = sim.tick();
    let planted: PlantResult = tick.result(id).expect("enough energy");
    let certificate = planted.certificate;
    assert_eq!(planted.energy, 18_625 - 17_900);
    assert_eq!(certificate.species, "saxaul");
    assert_eq!(certificate.region, "Alxa, Inner Mongolia");
    assert_eq!(certificate.grams, 17_900);
    assert_eq!(certificate.planted_at, sim.now());
    assert_eq!(certificate.team, None);
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::Certificate {
            certificate: certificate.clone()
        }]
    );
    let me = sim.me(&ant);
    assert_eq!(me.player.certificates, vec![certificate]);
    assert_eq!(me.player.energy, 725);
    assert_eq!(
        me.player.tree,
        TreeStage::Seed,
        "the tree follows the balance"
    );
    assert_eq!(sim.game.totals().planted, 17_900);
    sim.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Props
// ---------------------------------------------------------------------------------------

#[test]
fn using_a_prop_needs_one_in_the_inventory() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    for prop in PropKind::ALL {
        assert_eq!(code_of(sim.use_prop(&ant, prop)), ErrorCode::NotFound);
    }
    let granted = sim.grant(ant.id, PropKind::Stealth, 1);
    assert_eq!(granted.props.inventory[&PropKind::Stealth], 1);
    sim.use_prop(&ant, PropKind::Stealth).expect("one held");
    assert_eq!(
        code_of(sim.use_prop(&ant, PropKind::Stealth)),
        ErrorCode::NotFound,
        "used up"
    );
    let grant = |player_id, count| {
        AdminOp::GrantProps(canopy_shared::admin::GrantProps {
            player_id,
            prop: PropKind::ProtectionCover,
            count,
        })
    };
    assert_eq!(
        code_of(sim.admin::<PropsResult>(grant(ant.id, 0))),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code_of(sim.admin::<PropsResult>(grant(PlayerId(404), 1))),
        ErrorCode::NotFound
    );
}

#[test]
fn a_protection_cover_lasts_24_hours_and_a_second_one_extends_it() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let granted = sim.grant(ant.id, PropKind::ProtectionCover, 3);
    assert_eq!(granted.props.inventory[&PropKind::ProtectionCover], 3);
    assert_eq!(granted.props.inventory[&PropKind::DoubleClick], 0);
    sim.advance(5 * HOUR);

    let until = sim.now() + 24 * HOUR;
    let used = sim.use_prop(&ant, PropKind::ProtectionCover).expect("held");
    assert_eq!(used.props.inventory[&PropKind::ProtectionCover], 2);
    assert_eq!(
        used.props.active,
        vec![ActiveProp {
            prop: PropKind::ProtectionCover,
            until
        }]
    );
    assert_eq!(sim.me(&ant).player.protected_until, Some(until));

    sim.advance_to(until - 1);
    assert_eq!(sim.me(&ant).player.protected_until, Some(until));
    sim.advance(1);
    let me = sim.me(&ant);
    assert_eq!(me.player.protected_until, None);
    assert!(me.player.props.active.is_empty());

    sim.use_prop(&ant, PropKind::ProtectionCover).expect("held");
    sim.use_prop(&ant, PropKind::ProtectionCover).expect("held");
    assert_eq!(
        sim.me(&ant).player.protected_until,
        Some(sim.now() + 48 * HOUR),
        "a second cover adds 24 h to the active one"
    );
}

#[test]
fn a_time_accelerator_ripens_every_unripe_ball_at_once() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let old = sim
        .partner(ant.id, "bus", "b1")
        .expect("bus")
        .ball
        .expect("ball");
    sim.advance_to(local(1, 9, 0));
    let walk = sim
        .walk(&ant, 5_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");
    let metro = sim
        .partner(ant.id, "metro", "m1")
        .expect("metro")
        .ball
        .expect("ball");
    sim.grant(ant.id, PropKind::TimeAccelerator, 1);
    sim.advance(30 * MINUTE);
    let now = sim.now();

    let id = sim.submit(
        ant.session,
        Request::UseProp {
            prop: PropKind::TimeAccelerator,
        },
    );
    let tick = sim.tick();
    let used: PropsResult = tick.result(id).expect("held");
    assert_eq!(used.props.inventory[&PropKind::TimeAccelerator], 0);
    assert!(
        used.props.active.is_empty(),
        "an instant prop has no duration"
    );
    assert_eq!(
        ball_ripe_ids(&tick, ant.id),
        vec![walk.ball_id, metro.ball_id]
    );
    for id in [walk.ball_id, metro.ball_id] {
        let ball = sim.ball(id).expect("live");
        assert_eq!(ball.ripe_at, now);
        assert_eq!(ball.expires_at, now + 72 * HOUR, "a full lifetime from now");
    }
    assert_eq!(
        sim.ball(old.ball_id).expect("live").ripe_at,
        old.ripe_at,
        "an already ripe ball keeps its times"
    );
    assert_eq!(
        sim.collect(&ant, walk.ball_id).expect("ripe now").grams,
        100
    );
    let rest = sim.collect_all(&ant);
    assert_eq!((rest.grams, rest.energy), (52 + 80, 232));
    sim.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Durability: a reply is sent only for a change the store made durable
// ---------------------------------------------------------------------------------------

#[test]
fn a_failed_commit_answers_internal_and_nothing_more_is_acknowledged() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let ball = ripe_ball(&mut sim, &ant);
    let (commits, now) = (sim.store.commits(), sim.now());

    sim.store.set_failing(true);
    let doomed = [
        sim.submit(ant.session, support::walk_request(8_000, "w-lost")),
        sim.submit_admin(partner_op(ant.id, "metro", "m-lost")),
        sim.submit(ant.session, Request::Collect { ball_id: ball }),
        sim.submit(ant.session, Request::Me {}),
    ];
    let tick = sim.tick();
    assert!(tick.store_error.is_some());
    for id in doomed {
        assert_eq!(tick.code(id), ErrorCode::Internal, "request {id}");
    }
    assert!(
        tick.events.is_empty(),
        "no event for a change that did not happen"
    );
    assert!(sim.game.store_failure().is_some());

    // Even once the disk works again, the game refuses until a restart reloads it.
    sim.store.set_failing(false);
    let newcomer = sim.connect();
    let refused = [
        sim.submit(ant.session, Request::Me {}),
        sim.submit(ant.session, Request::Ping {}),
        sim.submit(newcomer, Request::Register { name: "bee".into() }),
        sim.submit_admin(partner_op(ant.id, "bus", "b1")),
        sim.submit_admin(AdminOp::AdvanceClock(HOUR)),
    ];
    let tick = sim.tick();
    for id in refused {
        assert_eq!(tick.code(id), ErrorCode::Internal, "request {id}");
    }
    assert!(tick.events.is_empty());
    assert_eq!(
        sim.now(),
        now,
        "a refused clock move does not move the clock"
    );
    assert_eq!(
        sim.store.commits(),
        commits,
        "nothing written after the failure"
    );
}

#[test]
fn a_restart_after_a_failed_commit_shows_only_acknowledged_state() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let walk = sim
        .walk(&ant, 5_000, "w1")
        .expect("walk")
        .ball
        .expect("ball");
    let metro = sim
        .partner(ant.id, "metro", "m1")
        .expect("metro")
        .ball
        .expect("ball");
    sim.advance_to(local(1, 7, 0));
    sim.collect(&ant, walk.ball_id).expect("ripe");
    let (acknowledged, totals, time) = (sim.me(&ant), sim.game.totals(), sim.now());

    sim.store.set_failing(true);
    let ghost = sim.connect();
    sim.submit(
        ant.session,
        Request::Collect {
            ball_id: metro.ball_id,
        },
    );
    sim.submit(ant.session, support::walk_request(9_000, "w2"));
    sim.submit_admin(partner_op(ant.id, "bus", "b1"));
    sim.submit_admin(AdminOp::GrantProps(canopy_shared::admin::GrantProps {
        player_id: ant.id,
        prop: PropKind::ProtectionCover,
        count: 1,
    }));
    sim.submit(
        ghost,
        Request::Register {
            name: "ghost".into(),
        },
    );
    sim.submit_admin(AdminOp::AdvanceClock(DAY));
    assert!(sim.tick().store_error.is_some());
    sim.store.set_failing(false);

    let mut restarted = sim.reload(START);
    assert_eq!(
        restarted.now(),
        time,
        "the unacknowledged clock move is gone"
    );
    let ant = restarted.login(&ant);
    assert_eq!(restarted.me(&ant), acknowledged);
    assert_eq!(restarted.game.totals(), totals);
    restarted.assert_conserved();

    let bee = restarted.register("bee");
    assert_eq!(
        bee.id,
        PlayerId(ant.id.0 + 1),
        "the ghost was never created"
    );
    assert_eq!(
        restarted.walk(&ant, 9_000, "w2").expect("walk").grams,
        180,
        "the lost report's ref is unused"
    );
    assert_eq!(
        restarted.partner(ant.id, "bus", "b1").expect("bus").grams,
        80
    );
    let picked = restarted.collect(&ant, metro.ball_id).expect("still there");
    assert_eq!(
        picked,
        GramsEnergyResult {
            grams: 52,
            energy: 152
        }
    );
    restarted.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Restart: the World is rebuilt from the store
// ---------------------------------------------------------------------------------------

/// The default config plus a 120 g species, so tests can plant without days of play.
fn config_with_a_shrub() -> Config {
    let mut config = without_risk(Config::default_embedded());
    config.catalog.insert(
        0,
        Species {
            id: "test_shrub".into(),
            name: "Test shrub".into(),
            name_zh: "测试灌木".into(),
            grams: SHRUB_GRAMS,
            region: "Test plot".into(),
            verified: false,
        },
    );
    config
}

#[test]
fn a_restart_restores_balances_balls_caps_certificates_props_and_totals() {
    let mut sim = Sim::with_config(config_with_a_shrub());
    let ant = sim.register("ant");
    let bee = sim.register("bee");
    sim.walk(&ant, 5_000, "a-w0").expect("walk");
    sim.partner_many(ant.id, "metro", 5);
    sim.partner_many(ant.id, "utility_bill", 10);
    let bees_ball = sim
        .walk(&bee, 3_000, "b-w0")
        .expect("walk")
        .ball
        .expect("ball");

    sim.advance_to(local(1, 7, 0));
    assert_eq!(sim.collect_all(&ant).energy, 100 + 5 * 52 + 10 * 262);
    let certificate = sim
        .plant(&ant, "test_shrub")
        .expect("affordable")
        .certificate;
    sim.grant(ant.id, PropKind::ProtectionCover, 2);
    sim.grant(ant.id, PropKind::TimeAccelerator, 1);
    sim.use_prop(&ant, PropKind::ProtectionCover).expect("held");
    sim.advance(HOUR);
    let todays_walk = sim
        .walk(&ant, 4_000, "a-w1")
        .expect("walk")
        .ball
        .expect("ball");
    sim.partner_many(ant.id, "metro", 5);
    sim.assert_conserved();
    let (ant_before, bee_before) = (sim.me(&ant), sim.me(&bee));
    let (totals, time, entries) = (sim.game.totals(), sim.now(), sim.ledger_len());

    let mut restarted = sim.reload(START);
    assert_eq!(
        restarted.now(),
        time,
        "started with an earlier time, the clock resumes where it was"
    );
    let ant = restarted.login(&ant);
    let bee = restarted.login(&bee);
    let ant_after = restarted.me(&ant);
    assert_eq!(ant_after, ant_before);
    assert_eq!(ant_after.player.certificates, vec![certificate.clone()]);
    assert_eq!(ant_after.player.protected_until, Some(local(2, 7, 0)));
    assert_eq!(
        ant_after.player.props.inventory[&PropKind::TimeAccelerator],
        1
    );
    assert_eq!(restarted.me(&bee), bee_before);
    assert_eq!(restarted.game.totals(), totals);
    assert_eq!(restarted.ledger_len(), entries);
    restarted.assert_conserved();

    // Caps and today's walk ball survive.
    assert_eq!(restarted.partner_many(ant.id, "metro", 1), vec![0]);
    assert_eq!(restarted.partner_many(ant.id, "utility_bill", 1), vec![0]);
    let grown = restarted.walk(&ant, 6_000, "a-w2").expect("walk");
    assert_eq!(grown.grams, 40);
    assert_eq!(grown.ball.expect("ball").ball_id, todays_walk.ball_id);

    // Ids keep counting from where they were.
    let second = restarted.plant(&ant, "test_shrub").expect("affordable");
    assert_eq!(second.certificate.id.0, certificate.id.0 + 1);

    // The ripening and expiry timelines were rebuilt.
    let morning = restarted.advance_to(local(2, 7, 0));
    let ripened = ball_ripe_ids(&morning, ant.id);
    assert_eq!(ripened.len(), 6, "today's walk ball and five metro balls");
    assert!(ripened.contains(&todays_walk.ball_id));
    let expiry = restarted.advance_to(bees_ball.expires_at);
    assert!(expiry.events_for(bee.id).contains(&&Event::BallGone {
        ball_id: bees_ball.ball_id,
        reason: GoneReason::Expired
    }));
    restarted.assert_conserved();
}

#[test]
fn the_game_clock_never_runs_backwards_across_restarts() {
    let mut sim = Sim::new();
    sim.register("ant");
    sim.advance(2 * DAY + 5);
    let persisted = sim.now();
    assert_eq!(sim.reload(START).now(), persisted);
    assert_eq!(sim.reload(persisted - 1).now(), persisted);
    let later = persisted + 3 * HOUR;
    let mut resumed = sim.reload(later);
    assert_eq!(resumed.now(), later, "a later start is honoured");
    resumed.advance(HOUR);
    assert_eq!(resumed.reload(START).now(), later + HOUR);
}

// ---------------------------------------------------------------------------------------
// Conservation under random play
// ---------------------------------------------------------------------------------------

const SHRUB_GRAMS: u64 = 120;

const SPECIES: [(&str, Option<u64>); 3] = [
    ("test_shrub", Some(SHRUB_GRAMS)),
    ("caragana", Some(16_930)),
    ("baobab", None),
];

#[derive(Clone, Debug)]
enum Step {
    Walk {
        player: usize,
        steps: u64,
        reference: u8,
    },
    Partner {
        player: usize,
        kind: usize,
        reference: u8,
    },
    /// Several reports of one kind with fresh refs, to run into its cap.
    PartnerBurst {
        player: usize,
        kind: usize,
        times: u8,
    },
    Collect {
        player: usize,
        ball: u8,
    },
    CollectAll {
        player: usize,
    },
    Plant {
        player: usize,
        species: usize,
    },
    Grant {
        player: usize,
        prop: usize,
        count: u32,
    },
    UseProp {
        player: usize,
        prop: usize,
    },
    Advance {
        ms: u64,
    },
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    let player = 0..4usize;
    // Few refs, shared by walks and partner reports, so refs repeat.
    let reference = 0..12u8;
    prop_oneof![
        3 => (player.clone(), prop_oneof![0..16_000u64, 0..=110_000u64], reference.clone())
            .prop_map(|(player, steps, reference)| Step::Walk { player, steps, reference }),
        4 => (player.clone(), 0..PARTNER_KINDS.len(), reference)
            .prop_map(|(player, kind, reference)| Step::Partner { player, kind, reference }),
        1 => (player.clone(), 0..PARTNER_KINDS.len(), 1..=11u8)
            .prop_map(|(player, kind, times)| Step::PartnerBurst { player, kind, times }),
        3 => (player.clone(), any::<u8>()).prop_map(|(player, ball)| Step::Collect { player, ball }),
        3 => player.clone().prop_map(|player| Step::CollectAll { player }),
        2 => (player.clone(), 0..SPECIES.len())
            .prop_map(|(player, species)| Step::Plant { player, species }),
        2 => (player.clone(), 0..PropKind::ALL.len(), 1..4u32)
            .prop_map(|(player, prop, count)| Step::Grant { player, prop, count }),
        2 => (player, 0..PropKind::ALL.len()).prop_map(|(player, prop)| Step::UseProp { player, prop }),
        2 => prop_oneof![0..6 * HOUR, 0..=4 * DAY].prop_map(|ms| Step::Advance { ms }),
        3 => Just(Step::Tick),
    ]
}

/// A request sent during the current tick and what to check about its reply.
enum Sent {
    Report {
        player: PlayerId,
        kind: &'static str,
        steps: Option<u64>,
        reference: String,
        at: canopy_shared::Millis,
    },
    Collect {
        at: canopy_shared::Millis,
        /// The ball's expiry when the request was sent (a time accelerator used earlier
        /// in the tick can only move it later).
        expires_at: Option<canopy_shared::Millis>,
    },
    CollectAll,
    Plant {
        grams: Option<u64>,
    },
    Grant,
    UseProp,
    Advance {
        to: canopy_shared::Millis,
    },
}

/// The game-local calendar date of an instant, from the `time` crate (not the server's
/// own day arithmetic).
fn local_date(at: canopy_shared::Millis) -> time::Date {
    let utc = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .expect("test instants are in range");
    let beijing = time::UtcOffset::from_hms(8, 0, 0).expect("UTC+8 is valid");
    utc.to_offset(beijing).date()
}

/// One player's walking on one game-local day.
struct WalkDay {
    date: time::Date,
    highest_steps: u64,
    grams: u64,
}

/// One player's credited reports of one count kind.
struct KindCount {
    date: time::Date,
    today: u32,
    month: (i32, time::Month),
    this_month: u32,
}

/// GAME.md's crediting rules, kept independently of the server: what each report earns.
#[derive(Default)]
struct Rules {
    first_results: HashMap<(PlayerId, String), RecordActionResult>,
    walks: HashMap<PlayerId, WalkDay>,
    counts: HashMap<(PlayerId, &'static str), KindCount>,
}

impl Rules {
    fn walk(
        &mut self,
        player: PlayerId,
        steps: u64,
        at: canopy_shared::Millis,
    ) -> Result<u64, ErrorCode> {
        if steps > MAX_STEPS {
            return Err(ErrorCode::BadRequest);
        }
        let date = local_date(at);
        let fresh = WalkDay {
            date,
            highest_steps: 0,
            grams: 0,
        };
        let day = self.walks.entry(player).or_insert(fresh);
        if day.date != date {
            *day = WalkDay {
                date,
                highest_steps: 0,
                grams: 0,
            };
        }
        if steps <= day.highest_steps {
            return Ok(0);
        }
        day.highest_steps = steps;
        let grams = (steps / STEPS_PER_GRAM).min(WALK_CAP_GRAMS) - day.grams;
        day.grams += grams;
        Ok(grams)
    }

    fn partner(&mut self, player: PlayerId, kind: &PartnerKind, at: canopy_shared::Millis) -> u64 {
        let date = local_date(at);
        let month = (date.year(), date.month());
        let count = self.counts.entry((player, kind.name)).or_insert(KindCount {
            date,
            today: 0,
            month,
            this_month: 0,
        });
        if count.date != date {
            count.date = date;
            count.today = 0;
        }
        if count.month != month {
            count.month = month;
            count.this_month = 0;
        }
        let under = |count: u32, cap: Option<u32>| cap.is_none_or(|cap| count < cap);
        if under(count.today, kind.daily_cap) && under(count.this_month, kind.monthly_cap) {
            count.today += 1;
            count.this_month += 1;
            kind.grams
        } else {
            0
        }
    }

    fn check_report(
        &mut self,
        sent: &Sent,
        reply: Result<RecordActionResult, canopy_shared::ErrorBody>,
    ) -> Result<(), TestCaseError> {
        let Sent::Report {
            player,
            kind,
            steps,
            reference,
            at,
        } = sent
        else {
            unreachable!("only reports are checked here");
        };
        let key = (*player, reference.clone());
        if let Some(first) = self.first_results.get(&key) {
            prop_assert_eq!(
                reply.as_ref(),
                Ok(first),
                "a repeated ref replays its first result"
            );
            return Ok(());
        }
        let expected = match (kind, steps) {
            (&"walk", Some(steps)) => self.walk(*player, *steps, *at),
            _ => {
                let rule = PARTNER_KINDS
                    .iter()
                    .find(|k| k.name == *kind)
                    .expect("known kind");
                Ok(self.partner(*player, rule, *at))
            }
        };
        match (expected, reply) {
            (Ok(grams), Ok(result)) => {
                prop_assert_eq!(result.grams, grams, "{} at {}", kind, at);
                prop_assert_eq!(result.ball.is_some(), grams > 0);
                self.first_results.insert(key, result);
            }
            (Err(code), Err(error)) => prop_assert_eq!(error.code, code),
            (expected, got) => prop_assert!(false, "{kind}: expected {expected:?}, got {got:?}"),
        }
        Ok(())
    }
}

fn check_reply(rules: &mut Rules, sent: &Sent, tick: &Tick, id: u64) -> Result<(), TestCaseError> {
    let allowed = |codes: &[ErrorCode]| -> Result<(), TestCaseError> {
        match tick.result::<serde_json::Value>(id) {
            Ok(_) => Ok(()),
            Err(error) => {
                prop_assert!(codes.contains(&error.code), "unexpected {error}");
                Ok(())
            }
        }
    };
    match sent {
        Sent::Report { .. } => rules.check_report(sent, tick.result(id))?,
        Sent::Collect { at, expires_at } => {
            allowed(&[
                ErrorCode::NotFound,
                ErrorCode::NotYours,
                ErrorCode::NotRipe,
                ErrorCode::Gone,
            ])?;
            if let Ok(picked) = tick.result::<GramsEnergyResult>(id) {
                prop_assert!(picked.grams > 0 && picked.energy >= picked.grams);
                // A ball unknown when the request was sent was created earlier in the
                // same tick, so it cannot have expired yet.
                if let Some(expires_at) = expires_at {
                    prop_assert!(
                        *at < *expires_at,
                        "picked at {at} a ball gone at {expires_at}"
                    );
                }
            }
        }
        Sent::CollectAll | Sent::Grant => allowed(&[])?,
        Sent::UseProp => allowed(&[ErrorCode::NotFound])?,
        Sent::Plant { grams: None } => prop_assert_eq!(tick.code(id), ErrorCode::NotFound),
        Sent::Plant { grams: Some(grams) } => match tick.result::<PlantResult>(id) {
            Ok(planted) => prop_assert_eq!(planted.certificate.grams, *grams),
            Err(error) => prop_assert_eq!(error.code, ErrorCode::InsufficientEnergy),
        },
        Sent::Advance { to } => {
            let moved: canopy_shared::admin::ClockTime = tick
                .result(id)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(moved.time, *to);
        }
    }
    Ok(())
}

/// No kind's usage ever passes its cap, as the World records it.
fn check_caps(sim: &Sim, players: &[Player]) -> Result<(), TestCaseError> {
    for player in players {
        for (kind, usage) in sim.action_log(player.id).usage {
            if kind == "walk" {
                prop_assert!(usage.grams_today <= WALK_CAP_GRAMS);
                prop_assert!(usage.steps_today <= MAX_STEPS);
                continue;
            }
            let rule = PARTNER_KINDS
                .iter()
                .find(|k| k.name == kind)
                .expect("known kind");
            prop_assert!(
                rule.daily_cap.is_none_or(|cap| usage.today <= cap),
                "{kind} today"
            );
            prop_assert!(
                rule.monthly_cap.is_none_or(|cap| usage.this_month <= cap),
                "{kind} month"
            );
        }
    }
    Ok(())
}

fn audited(sim: &Sim) -> Result<(), TestCaseError> {
    support::audit(&sim.game, &sim.store).map_err(TestCaseError::fail)
}

fn play(player_count: usize, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut sim = Sim::with_config(config_with_a_shrub());
    let players: Vec<Player> = (0..player_count)
        .map(|n| sim.register(&format!("player-{n}")))
        .collect();
    let mut rules = Rules::default();
    let mut sent: Vec<(u64, Sent)> = Vec::new();
    let mut now = sim.now();
    let end = [Step::Tick];
    for step in steps.iter().chain(&end) {
        let who = |index: usize| &players[index % player_count];
        match *step {
            Step::Walk {
                player,
                steps,
                reference,
            } => {
                let (player, reference) = (who(player), format!("r{reference}"));
                let id = sim.submit(player.session, support::walk_request(steps, &reference));
                sent.push((
                    id,
                    Sent::Report {
                        player: player.id,
                        kind: "walk",
                        steps: Some(steps),
                        reference,
                        at: now,
                    },
                ));
            }
            Step::Partner {
                player,
                kind,
                reference,
            } => {
                let (player, reference) = (who(player).id, format!("r{reference}"));
                let kind = PARTNER_KINDS[kind].name;
                let id = sim.submit_admin(partner_op(player, kind, &reference));
                sent.push((
                    id,
                    Sent::Report {
                        player,
                        kind,
                        steps: None,
                        reference,
                        at: now,
                    },
                ));
            }
            Step::PartnerBurst {
                player,
                kind,
                times,
            } => {
                let (player, kind) = (who(player).id, PARTNER_KINDS[kind].name);
                for _ in 0..times {
                    let reference = sim.fresh_ref();
                    let id = sim.submit_admin(partner_op(player, kind, &reference));
                    sent.push((
                        id,
                        Sent::Report {
                            player,
                            kind,
                            steps: None,
                            reference,
                            at: now,
                        },
                    ));
                }
            }
            Step::Collect { player, ball } => {
                let mut live: Vec<BallId> = sim
                    .game
                    .world()
                    .resource::<canopy_server::game::resources::Directory>()
                    .balls
                    .keys()
                    .copied()
                    .collect();
                live.sort();
                // Mostly a live ball (anyone's); sometimes a raw id: ended, unknown or live.
                let ball_id = match live.len() {
                    0 => BallId(u64::from(ball % 64)),
                    n if ball < 192 => live[usize::from(ball) % n],
                    _ => BallId(u64::from(ball - 192)),
                };
                let expires_at = sim.ball(ball_id).map(|ball| ball.expires_at);
                let id = sim.submit(who(player).session, Request::Collect { ball_id });
                sent.push((
                    id,
                    Sent::Collect {
                        at: now,
                        expires_at,
                    },
                ));
            }
            Step::CollectAll { player } => {
                let id = sim.submit(who(player).session, Request::CollectAll {});
                sent.push((id, Sent::CollectAll));
            }
            Step::Plant { player, species } => {
                let (name, grams) = SPECIES[species];
                let id = sim.submit(
                    who(player).session,
                    Request::Plant {
                        species: name.into(),
                    },
                );
                sent.push((id, Sent::Plant { grams }));
            }
            Step::Grant {
                player,
                prop,
                count,
            } => {
                let id = sim.submit_admin(AdminOp::GrantProps(canopy_shared::admin::GrantProps {
                    player_id: who(player).id,
                    prop: PropKind::ALL[prop],
                    count,
                }));
                sent.push((id, Sent::Grant));
            }
            Step::UseProp { player, prop } => {
                let id = sim.submit(
                    who(player).session,
                    Request::UseProp {
                        prop: PropKind::ALL[prop],
                    },
                );
                sent.push((id, Sent::UseProp));
            }
            Step::Advance { ms } => {
                now += ms;
                let id = sim.submit_admin(AdminOp::AdvanceClock(ms));
                sent.push((id, Sent::Advance { to: now }));
            }
            Step::Tick => {
                let tick = sim.tick();
                prop_assert!(tick.store_error.is_none());
                // Commands apply in the order they were sent, so check replies in that order.
                for (id, what) in sent.drain(..) {
                    check_reply(&mut rules, &what, &tick, id)?;
                }
                audited(&sim)?;
                check_caps(&sim, &players)?;
            }
        }
    }
    // What the store holds rebuilds a World with the same energy.
    let restarted = sim.reload(START);
    audited(&restarted)?;
    prop_assert_eq!(restarted.game.totals(), sim.game.totals());
    prop_assert_eq!(restarted.now(), sim.now());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn energy_is_conserved_and_caps_hold_under_random_play(
        player_count in 3..=4usize,
        steps in proptest::collection::vec(step(), 1..100),
    ) {
        play(player_count, &steps)?;
    }
}
