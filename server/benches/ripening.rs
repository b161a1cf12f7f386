#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! The time systems: a tick in which N balls ripen and a tick in which N balls expire,
//! for N = 1,000, 10,000, 20,000 (the default `ripen.max_expired_per_tick`), 25,000 (what the
//! 07:00 target needs: a million balls announced within 2 s is 40 ticks of 25,000) and
//! 50,000 (the default `ripen.max_per_tick`). Each world's caps are raised to its N.
//!
//! The world has N / 2 players with 2 balls each, all ripening at the same instant (the
//! 07:00 wave), skewed friendships (mean degree 20, as the world bench) and every 10th
//! player logged in and watching their friends list, so a ripening tick produces
//! `ball_ripe` for every owner and one `friend_stealable` for each (watching session,
//! changed friend). The store is a `MemoryStore`.
//! Each iteration loads a fresh world outside the timing one millisecond before the
//! balls fall due; the timed tick applies `admin_clock_advance(1)` and runs the time
//! systems, the announcements and the commit (the meta record for ripening; the removed
//! balls and their ledger entries for expiry).
//!
//! Run: `cargo bench -p canopy-server --bench ripening`

use canopy_server::config::Config;
use canopy_server::game::rules::DAY_MS;
use canopy_server::game::{AdminOp, ClockMode, Command, Game, Op, Origin, SessionId};
use canopy_server::store::MemoryStore;
use canopy_server::worldgen::{self, WorldShape};
use canopy_shared::{Event, Millis, Request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;

const NOW: u64 = 1_795_536_000_000;
/// When every generated ball ripens.
const WAVE: u64 = NOW + DAY_MS;
/// When every generated ball expires (`ripen.ball_ttl_hours` = 72 after the wave).
const EXPIRY: u64 = WAVE + 3 * DAY_MS;
const BALLS_PER_PLAYER: u64 = 2;
/// One player in this many is online.
const ONLINE_EVERY: u64 = 10;

/// The world for `balls` due balls: its shape, kept so each iteration regenerates it.
fn shape(balls: u64) -> WorldShape {
    let players = balls / BALLS_PER_PLAYER;
    WorldShape {
        players,
        balls_per_player: BALLS_PER_PLAYER,
        grams_per_ball: 100,
        now: NOW,
        friendships: worldgen::skewed_friendships(players, 20.0, 500, 7),
        wave_at: Some(WAVE),
    }
}

/// A freshly generated world loaded at `start`, with every 10th player logged in and
/// the clock advance that makes the balls due queued for the next tick. `max_per_tick`
/// is at least the world's ball count, so one tick handles every due ball.
fn game_before(shape: &WorldShape, start: Millis) -> Game {
    let store = MemoryStore::new();
    worldgen::generate(&store, shape).expect("generate world");
    let mut config = Config::default_embedded();
    let balls = (shape.players * shape.balls_per_player) as usize;
    config.ripen.max_per_tick = config.ripen.max_per_tick.max(balls);
    config.ripen.max_expired_per_tick = config.ripen.max_expired_per_tick.max(balls);
    let mut game = Game::load(
        Arc::new(config),
        Arc::new(store),
        ClockMode::Manual,
        Some(start),
        Some(7),
    )
    .expect("load world");
    for id in (ONLINE_EVERY..=shape.players).step_by(ONLINE_EVERY as usize) {
        let session = SessionId(id);
        game.connect(session);
        game.submit(Command {
            origin: Origin::Session(session),
            request_id: 0,
            op: Op::Client(Request::Login {
                token: worldgen::token_of(id),
            }),
        });
        game.submit(Command {
            origin: Origin::Session(session),
            request_id: 1,
            op: Op::Client(Request::Watch {
                what: canopy_shared::model::WatchTarget::Friends,
                friend_id: None,
            }),
        });
    }
    game.tick();
    game.submit(Command {
        origin: Origin::Admin(1),
        request_id: 1,
        op: Op::Admin(AdminOp::AdvanceClock(1)),
    });
    game
}

/// Counts the events of one tick by name, for the sanity line printed before timing.
fn count_events(events: &[(canopy_server::game::Recipient, Event)]) -> (usize, usize, usize) {
    let count = |wanted: fn(&Event) -> bool| events.iter().filter(|(_, e)| wanted(e)).count();
    (
        count(|e| matches!(e, Event::BallRipe { .. })),
        count(|e| matches!(e, Event::BallGone { .. })),
        count(|e| matches!(e, Event::FriendStealable { .. })),
    )
}

fn bench_time_systems(c: &mut Criterion) {
    let sizes = [1_000u64, 10_000, 20_000, 25_000, 50_000];
    let mut group = c.benchmark_group("time_systems");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for balls in sizes {
        let shape = shape(balls);
        for (name, start) in [("ripen", WAVE - 1), ("expire", EXPIRY - 1)] {
            // Check once, outside the timing, that the tick does what it is named for.
            let mut game = game_before(&shape, start);
            let outcome = game.tick();
            let (ripe, gone, stealable) = count_events(&outcome.events);
            eprintln!(
                "{name} {balls}: {ripe} ball_ripe, {gone} ball_gone, {stealable} \
                 friend_stealable events, {} records committed",
                outcome.batch_records
            );
            match name {
                "ripen" => assert_eq!(ripe as u64, shape.players, "one ball_ripe per owner"),
                _ => assert_eq!(gone as u64, balls, "one ball_gone per ball"),
            }
            assert!(stealable > 0, "watching friends hear of stealable energy");
            group.throughput(Throughput::Elements(balls));
            group.bench_function(format!("{name}_{balls}"), |b| {
                b.iter_batched(
                    || game_before(&shape, start),
                    // The game is returned so that dropping the world is not timed.
                    |mut game| {
                        let outcome = game.tick();
                        (game, outcome)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_time_systems);
criterion_main!(benches);
