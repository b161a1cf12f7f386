#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! Command apply per op: one tick applying 1,000 `collect`s, 1,000 `steal`s, 1,000
//! `water`s, or 1,000 `collect_all`s (each on a player with 3 ripe balls), reported per
//! command through `Throughput::Elements`. The timed part is submit + tick: apply, the
//! time systems, the pushes to watching sessions, gathering the batch and committing it
//! to a `MemoryStore` (so the numbers show the game logic, not the disk).
//!
//! Every iteration starts from a freshly generated world (built outside the timing), so
//! each command finds the same state: 1,000 owner/friend pairs, every player with 3 ripe
//! 100 g balls and 10,000 g of energy, all 2,000 players logged in.
//!
//! Run: `cargo bench -p canopy-server --bench apply`

use canopy_server::config::Config;
use canopy_server::game::rules::{DAY_MS, HOUR_MS};
use canopy_server::game::{ClockMode, Command, Game, Op, Origin, SessionId};
use canopy_server::store::{MemoryStore, Store, TickBatch};
use canopy_server::worldgen::{self, WorldShape};
use canopy_shared::{BallId, PlayerId, Request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;

const NOW: u64 = 1_795_536_000_000;
/// Owner/friend pairs: owners are 1..=PAIRS, friend `PAIRS + i` befriends owner `i`.
/// One command per pair per tick.
const PAIRS: u64 = 1_000;
const BALLS_PER_PLAYER: u64 = 3;
const GRAMS_PER_BALL: u64 = 100;
/// Every player's balance, enough for a watering.
const ENERGY: u64 = 10_000;

/// A world of 2,000 players with 3 balls each that ripened an hour ago, friends in
/// pairs, everyone holding `ENERGY` and logged in on session `id`.
fn fresh_game() -> Game {
    let store = MemoryStore::new();
    let shape = WorldShape {
        players: 2 * PAIRS,
        balls_per_player: BALLS_PER_PLAYER,
        grams_per_ball: GRAMS_PER_BALL,
        now: NOW - DAY_MS,
        friendships: (1..=PAIRS)
            .map(|i| (PlayerId(i), PlayerId(PAIRS + i)))
            .collect(),
        wave_at: Some(NOW - HOUR_MS),
    };
    let meta = worldgen::generate(&store, &shape).expect("generate world");
    // The generator creates players with no energy; give everyone a balance to water
    // with (straight into the store: the ledger does not matter to this bench).
    let mut players = store.load().expect("load generated world").players;
    for player in &mut players {
        player.energy = ENERGY;
    }
    store
        .commit(&TickBatch {
            players,
            meta,
            ..TickBatch::default()
        })
        .expect("commit balances");
    let config = Arc::new(Config::default_embedded());
    let mut game = Game::load(
        config,
        Arc::new(store),
        ClockMode::Manual,
        Some(NOW),
        Some(7),
    )
    .expect("load world");
    let outcome = worldgen::log_in(&mut game, 1..=2 * PAIRS);
    assert!(
        outcome.results.iter().all(|&(_, code)| code == "ok"),
        "every generated player logs in"
    );
    game
}

/// The first generated ball of `owner`.
fn first_ball(owner: u64) -> BallId {
    BallId((owner - 1) * BALLS_PER_PLAYER + 1)
}

/// One command from player `player` (logged in on the session of the same number).
fn from_player(player: u64, request: Request) -> Command {
    Command {
        origin: Origin::Session(SessionId(player)),
        request_id: player,
        op: Op::Client(request),
    }
}

/// `owner` picks their first ball.
fn collect(owner: u64) -> Command {
    from_player(
        owner,
        Request::Collect {
            ball_id: first_ball(owner),
        },
    )
}

/// `owner`'s friend steals from the owner's first ball.
fn steal(owner: u64) -> Command {
    from_player(
        PAIRS + owner,
        Request::Steal {
            friend_id: PlayerId(owner),
            ball_id: first_ball(owner),
        },
    )
}

/// `owner`'s friend waters the owner with 66 g.
fn water(owner: u64) -> Command {
    from_player(
        PAIRS + owner,
        Request::Water {
            friend_id: PlayerId(owner),
            grams: 66,
        },
    )
}

/// `owner` picks all three ripe balls.
fn collect_all(owner: u64) -> Command {
    from_player(owner, Request::CollectAll {})
}

/// Builds the command of the pair whose owner is the argument.
type CommandOf = fn(u64) -> Command;

/// The benched ops, by name.
const OPS: [(&str, CommandOf); 4] = [
    ("collect", collect),
    ("steal", steal),
    ("water", water),
    ("collect_all", collect_all),
];

/// The 1,000 commands of one op, one per pair.
fn commands(command_of: CommandOf) -> Vec<Command> {
    (1..=PAIRS).map(command_of).collect()
}

/// Submits the commands and runs the tick that applies them.
fn apply(game: &mut Game, commands: Vec<Command>) -> canopy_server::game::TickOutcome {
    for command in commands {
        game.submit(command);
    }
    game.tick()
}

fn bench_apply(c: &mut Criterion) {
    // Check once, outside the timing, that every command succeeds and what it writes.
    for (op, command_of) in OPS {
        let mut game = fresh_game();
        let outcome = apply(&mut game, commands(command_of));
        let failed: Vec<_> = outcome
            .results
            .iter()
            .filter(|&&(_, code)| code != "ok")
            .collect();
        assert!(failed.is_empty(), "{op}: commands failed: {failed:?}");
        eprintln!(
            "{op}: {} commands, {} records committed, {} events",
            outcome.commands,
            outcome.batch_records,
            outcome.events.len()
        );
    }
    let mut group = c.benchmark_group("apply_1000_commands");
    group
        .throughput(Throughput::Elements(PAIRS))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (op, command_of) in OPS {
        group.bench_function(op, |b| {
            b.iter_batched(
                || (fresh_game(), commands(command_of)),
                // The game is returned so that dropping the world is not timed.
                |(mut game, commands)| {
                    let outcome = apply(&mut game, commands);
                    (game, outcome)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_apply);
criterion_main!(benches);
