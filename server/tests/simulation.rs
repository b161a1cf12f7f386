//! Simulation tests: the game stepped by hand, tick by tick, on a manual clock and an
//! in-memory store. No sockets, no sleeps. Each test states one rule of GAME.md or
//! PROTOCOL.md; `assert_conserved` checks the energy identities wherever energy moved.

mod support;

use canopy_server::config::{Config, Species};
use canopy_server::game::AdminOp;
use canopy_shared::event::{GoneReason, RipeBall};
use canopy_shared::model::{ActiveProp, PropKind, TreeStage};
use canopy_shared::reply::{
    GramsEnergyResult, HelloResult, LoginResult, MeResult, PingResult, PlantResult, PropsResult,
    RecordActionResult,
};
use canopy_shared::{BallId, ErrorCode, Event, PlayerId, Request};
use proptest::prelude::*;
use std::collections::HashMap;
use support::{DAY, HOUR, MINUTE, Player, START, Sim, Tick, code_of, local, partner_op};

/// Every kind a partner reports, with its daily or monthly cap of actions.
const DAILY_PARTNER_KINDS: [(&str, u32); 5] = [
    ("offline_payment", 10),
    ("metro", 5),
    ("bus", 5),
    ("e_invoice", 5),
    ("etc_toll", 5),
];
const MONTHLY_PARTNER_KINDS: [(&str, u32); 4] = [
    ("utility_bill", 10),
    ("online_ticket", 10),
    ("train_ticket", 10),
    ("hospital_booking", 5),
];

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
            name: "ant_forest-01".into()
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
    let session = restarted.connect();
    let ant = Player {
        session,
        ..ant.clone()
    };
    restarted
        .call::<LoginResult>(
            session,
            Request::Login {
                token: ant.token.clone(),
            },
        )
        .expect("login");
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
    for (kind, _) in DAILY_PARTNER_KINDS.iter().chain(&MONTHLY_PARTNER_KINDS) {
        let report = Request::RecordAction {
            kind: (*kind).to_owned(),
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
    assert!(last_moment.events_for(ant.id).is_empty());
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

/// Reports everything `kinds` allows for `player` today in one tick; returns the grams.
fn earn(sim: &mut Sim, player: PlayerId, kinds: &[(&str, u32)]) -> u64 {
    kinds
        .iter()
        .map(|&(kind, times)| sim.partner_many(player, kind, times).iter().sum::<u64>())
        .sum()
}

/// A full day of green actions: 296 g of steps and every daily partner kind to its cap.
fn earn_a_day(sim: &mut Sim, player: &Player) -> u64 {
    let reference = sim.fresh_ref();
    let walked = sim.walk(player, 14_800, &reference).expect("walk").grams;
    walked + earn(sim, player.id, &DAILY_PARTNER_KINDS)
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
    let day_two = earn_a_day(&mut sim, &ant) + earn(&mut sim, ant.id, &MONTHLY_PARTNER_KINDS);
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
