#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! The social hot paths: `friends` and `leaderboard` for a player with 500 friends (each
//! with three ripe balls), and one steal, called on the World directly.
//!
//! Run: `cargo bench -p canopy-server --bench social`

use canopy_server::config::Config;
use canopy_server::game::{ClockMode, Game, friends, transfers};
use canopy_server::store::MemoryStore;
use canopy_server::worldgen::{self, WorldShape};
use canopy_shared::model::BoardPeriod;
use canopy_shared::{BallId, PlayerId};
use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: u64 = 1_795_536_000_000;
const DAY: u64 = 86_400_000;
/// Owner/thief pairs for the steal bench; each owner has 4 balls, so 4 steals a pair.
const PAIRS: u64 = 200_000;
const BALLS: u64 = 4;

fn game(shape: &WorldShape) -> Game {
    let store = MemoryStore::new();
    worldgen::generate(&store, shape).expect("generate world");
    let config = Arc::new(Config::default_embedded());
    Game::load(
        config,
        Arc::new(store),
        ClockMode::Manual,
        Some(NOW + 2 * DAY),
        Some(7),
    )
    .expect("load")
}

fn bench_friend_views(c: &mut Criterion) {
    let me = PlayerId(1);
    let shape = WorldShape {
        players: 501,
        balls_per_player: 3,
        grams_per_ball: 100,
        now: NOW,
        friendships: (2..=501).map(|friend| (me, PlayerId(friend))).collect(),
        wave_at: None,
    };
    let game = game(&shape);
    let world = game.world();
    assert_eq!(
        friends::list(world, me).expect("friends").friends.len(),
        500
    );
    let mut group = c.benchmark_group("500_friends");
    group.bench_function("friends", |b| {
        b.iter(|| friends::list(world, me).expect("friends"))
    });
    group.bench_function("leaderboard_total", |b| {
        b.iter(|| friends::leaderboard(world, me, BoardPeriod::Total, Some(200)).expect("board"))
    });
    group.bench_function("leaderboard_week", |b| {
        b.iter(|| friends::leaderboard(world, me, BoardPeriod::Week, Some(200)).expect("board"))
    });
    group.finish();
}

fn bench_steal(c: &mut Criterion) {
    // Owners are 1..=PAIRS, thieves PAIRS+1..=2*PAIRS; owner i's balls are
    // (i-1)*BALLS+1 ..= i*BALLS (thieves' balls come after).
    let shape = WorldShape {
        players: 2 * PAIRS,
        balls_per_player: BALLS,
        grams_per_ball: 1_000,
        now: NOW,
        friendships: (1..=PAIRS)
            .map(|i| (PlayerId(i), PlayerId(PAIRS + i)))
            .collect(),
        wave_at: None,
    };
    let mut game = game(&shape);
    let mut next = 0u64;
    let mut group = c.benchmark_group("steal");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("one_steal", |b| {
        b.iter_custom(|iters| {
            let world = game.world_mut();
            let started = Instant::now();
            for _ in 0..iters {
                let pair = next % PAIRS;
                let round = (next / PAIRS) % BALLS;
                next += 1;
                let owner = PlayerId(pair + 1);
                let ball = BallId(pair * BALLS + round + 1);
                transfers::steal(world, PlayerId(PAIRS + pair + 1), owner, ball).expect("steal");
            }
            started.elapsed()
        })
    });
    group.finish();
    assert!(
        next <= PAIRS * BALLS,
        "the bench ran out of fresh balls: {next}"
    );
}

criterion_group!(benches, bench_friend_views, bench_steal);
criterion_main!(benches);
