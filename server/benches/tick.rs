#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! The tick at scale: a world of 100,000 players and 300,000 balls loaded from sled,
//! an idle tick, a tick applying 1,000 green actions, and one batch commit + flush.
//!
//! Run: `cargo bench -p canopy-server --bench tick`

use canopy_server::config::Config;
use canopy_server::game::{ClockMode, Command, Game, Op, Origin, SessionId};
use canopy_server::store::{SledStore, Store, TickBatch};
use canopy_server::worldgen::{self, WorldShape};
use canopy_shared::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;

const PLAYERS: u64 = 100_000;
const BALLS_PER_PLAYER: u64 = 3;
const NOW: u64 = 1_795_536_000_000;

fn loaded_game(dir: &std::path::Path) -> Game {
    let store = SledStore::open(dir, 512).expect("open store");
    let shape = WorldShape {
        players: PLAYERS,
        balls_per_player: BALLS_PER_PLAYER,
        grams_per_ball: 50,
        now: NOW,
        friendships: Vec::new(),
        wave_at: None,
    };
    worldgen::generate(&store, &shape).expect("generate world");
    let config = Arc::new(Config::default_embedded());
    let started = std::time::Instant::now();
    let game = Game::load(
        config,
        Arc::new(store),
        ClockMode::Manual,
        Some(NOW),
        Some(7),
    )
    .expect("load world");
    eprintln!(
        "loaded {PLAYERS} players and {} balls in {:?}",
        PLAYERS * BALLS_PER_PLAYER,
        started.elapsed()
    );
    game
}

fn bench_tick(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut game = loaded_game(dir.path());
    worldgen::log_in(&mut game, 1..=1_000);
    let mut group = c.benchmark_group("tick_100k_players_300k_balls");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("idle", |b| b.iter(|| game.tick()));
    let mut round = 0u64;
    group.bench_function("1000_walk_reports", |b| {
        b.iter(|| {
            round += 1;
            for id in 1..=1_000 {
                game.submit(Command {
                    origin: Origin::Session(SessionId(id)),
                    request_id: round,
                    op: Op::Client(Request::RecordAction {
                        kind: "walk".into(),
                        quantity: Some(round * 100),
                        reference: format!("bench-{round}"),
                    }),
                });
            }
            game.tick()
        })
    });
    group.finish();
}

fn bench_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path(), 64).expect("open store");
    let shape = WorldShape {
        players: 500,
        balls_per_player: 3,
        grams_per_ball: 50,
        now: NOW,
        friendships: Vec::new(),
        wave_at: None,
    };
    worldgen::generate(&store, &shape).expect("generate");
    let snapshot = store.load().expect("load");
    let batch = TickBatch {
        players: snapshot.players,
        balls: snapshot.balls,
        meta: snapshot.meta.unwrap_or_default(),
        ..TickBatch::default()
    };
    c.bench_function("commit_2000_records_with_flush", |b| {
        b.iter(|| store.commit(&batch).expect("commit"))
    });
}

criterion_group!(benches, bench_tick, bench_commit);
criterion_main!(benches);
