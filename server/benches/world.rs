//! The world at scale: generate a world of a given size into sled (skewed friend
//! degrees, live balls that all ripen at 07:00), then, in a fresh process, load it and
//! measure start-up time, memory, idle ticks and the 07:00 ripening wave. Prints one
//! JSON report.
//!
//! Run: `cargo bench -p canopy-server --bench world -- --players 1000000`
//! (defaults: 100,000 players, 20 friends on average, 3 balls each).

use canopy_server::config::Config;
use canopy_server::game::rules::HOUR_MS;
use canopy_server::game::{ClockMode, Command, Game, Op, Origin};
use canopy_server::store::SledStore;
use canopy_server::worldgen::{self, WorldShape};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-25 00:00 game-local.
const NOW: u64 = 1_795_536_000_000;
/// 07:00 game-local the next morning: when every generated ball ripens.
const WAVE: u64 = NOW + 31 * HOUR_MS;
const IDLE_TICKS: usize = 1_000;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[at].as_secs_f64() * 1_000.0
}

fn generate(dir: &std::path::Path, players: u64, balls: u64, degree: u64) -> (u64, f64) {
    let started = Instant::now();
    let friendships = worldgen::skewed_friendships(players, degree as f64, 500, 7);
    let count = friendships.len() as u64;
    let store = SledStore::open(dir, 1024).expect("open store");
    let shape = WorldShape {
        players,
        balls_per_player: balls,
        grams_per_ball: 50,
        now: NOW,
        friendships,
        wave_at: Some(WAVE),
    };
    worldgen::generate(&store, &shape).expect("generate");
    (count, started.elapsed().as_secs_f64())
}

fn measure(dir: &std::path::Path, players: u64) -> serde_json::Value {
    let rss_before = rss_mib();
    let started = Instant::now();
    let config = Arc::new(Config::default_embedded());
    let (tick_rate_hz, max_per_tick) = (config.server.tick_rate_hz, config.ripen.max_per_tick);
    let store = SledStore::open(dir, config.store.cache_capacity_mb).expect("open store");
    let mut game = Game::load(
        config,
        Arc::new(store),
        ClockMode::Manual,
        Some(NOW),
        Some(1),
    )
    .expect("load");
    let load_s = started.elapsed().as_secs_f64();
    let rss_loaded = rss_mib();

    let mut idle: Vec<Duration> = (0..IDLE_TICKS)
        .map(|_| {
            let tick = Instant::now();
            game.tick();
            tick.elapsed()
        })
        .collect();
    idle.sort();

    // Log in 2,000 owners so the wave's ball_ripe events have somewhere to go.
    worldgen::log_in(&mut game, 1..=2_000.min(players));
    game.submit(Command {
        origin: Origin::Admin(1),
        request_id: 0,
        op: Op::Admin(canopy_server::game::AdminOp::AdvanceClock(WAVE - NOW)),
    });
    let wave_started = Instant::now();
    let mut wave: Vec<Duration> = Vec::new();
    let mut events = 0usize;
    loop {
        let tick = Instant::now();
        let outcome = game.tick();
        wave.push(tick.elapsed());
        events += outcome.events.len();
        if game
            .world()
            .resource::<canopy_server::game::resources::Timeline>()
            .ripening
            .is_empty()
        {
            break;
        }
    }
    let wave_s = wave_started.elapsed().as_secs_f64();
    // The game loop starts a tick every interval, or at once when a tick overran it: the
    // last ball_ripe of the wave leaves this long after 07:00.
    let interval = Duration::from_secs_f64(1.0 / f64::from(tick_rate_hz));
    let last_event_s: f64 = wave
        .iter()
        .map(|tick| tick.max(&interval).as_secs_f64())
        .sum();
    wave.sort();
    serde_json::json!({
        "players": players,
        "load_s": load_s,
        "rss_mib_before_load": rss_before,
        "rss_mib_loaded": rss_loaded,
        "rss_mib_after_wave": rss_mib(),
        "idle_tick_ms": {"p50": percentile(&idle, 0.5), "p99": percentile(&idle, 0.99), "max": percentile(&idle, 1.0)},
        "wave": {
            "ticks": wave.len(),
            "seconds_of_tick_work": wave_s,
            "last_ball_ripe_after_s": last_event_s,
            "balls_per_tick": max_per_tick,
            "tick_ms": {"p50": percentile(&wave, 0.5), "p99": percentile(&wave, 0.99), "max": percentile(&wave, 1.0)},
            "events_to_online_owners_and_friends": events,
        },
    })
}

fn main() {
    let dir_arg = std::env::args().skip_while(|a| a != "--load").nth(1);
    if let Some(dir) = dir_arg {
        let report = measure(std::path::Path::new(&dir), arg("--players", 100_000));
        println!("{report}");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let players = arg("--players", 100_000);
    let balls = arg("--balls", 3);
    let degree = arg("--degree", 20);
    let dir = tempfile::tempdir().expect("temp dir");
    let (friendships, generate_s) = generate(dir.path(), players, balls, degree);
    eprintln!(
        "generated {players} players, {} balls, {friendships} friendships in {generate_s:.1} s",
        players * balls
    );
    let exe = std::env::current_exe().expect("bench executable");
    let output = std::process::Command::new(exe)
        .args(["--players", &players.to_string(), "--load"])
        .arg(dir.path())
        .output()
        .expect("run the load phase");
    let measured: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "load phase failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let report = serde_json::json!({
        "machine": "2 cores, 24 GiB",
        "players": players,
        "balls": players * balls,
        "friendships": friendships,
        "generate_s": generate_s,
        "measured": measured,
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
}
