//! The risk graph analysis at scale: a day of energy flows over a world of `--players`
//! players and about 10 friendships per player (mean degree 20), with planted cheats
//! (watering rings of new accounts, farms feeding one receiver), analysed once on this
//! thread. Prints one JSON report: how long the analysis took (wall time, and the CPU
//! time it used, which a shared machine does not inflate), and whether every
//! planted cheat was found. The target is 60 s at 1M players / 10M friendships
//! on one core.
//!
//! With `--ticks N` it then measures whether a run lengthens ticks: a world of 100,000
//! players loaded from sled (1,000 of them online) ticks N times, each tick applying
//! 1,000 walk reports and committing, first alone, then while the same analysis runs
//! on another thread over the same flows (read from the game's own flow window, as
//! the server's scheduled analysis does: in the idle scheduling class), then alone
//! again; it prints the tick durations of the three, so that a change in the machine's
//! load during the run shows as a difference between the two runs alone.
//!
//! Run: `cargo bench -p canopy-server --bench risk_graph -- --players 1000000`
//! (defaults: 100,000 players; `--flows-per-player 8`; `--ticks 0`).

use canopy_server::config::Config;
use canopy_server::config::risk::GraphSettings;
use canopy_server::game::risk::flows::{FlowEdge, FlowKind};
use canopy_server::game::{ClockMode, Command, Game, Op, Origin, SessionId};
use canopy_server::risk_graph::{analyze, spawn_analysis};
use canopy_server::store::SledStore;
use canopy_server::worldgen::{self, WorldShape};
use canopy_shared::{PlayerId, Request};
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flows happen over one day from here.
const DAY_START: u64 = 1_795_536_000_000;
const DAY_MS: u64 = 86_400_000;
/// Planted cheats of each kind.
const CHEATS: u64 = 20;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn edge(at: u64, from: u64, to: u64, kind: FlowKind, grams: u64, from_new: bool) -> FlowEdge {
    FlowEdge {
        at,
        from: PlayerId(from),
        to: PlayerId(to),
        kind,
        grams,
        from_new,
    }
}

fn main() {
    let players = arg("--players", 100_000);
    let per_player = arg("--flows-per-player", 8);
    let started = Instant::now();
    let friendships = worldgen::skewed_friendships(players, 20.0, 500, 11);
    let mut friends: Vec<Vec<u64>> = vec![Vec::new(); players as usize + 1];
    for &(a, b) in &friendships {
        friends[a.0 as usize].push(b.0);
        friends[b.0 as usize].push(a.0);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    // One account in a hundred is new (younger than a week, or yet to collect).
    let new_account: Vec<bool> = (0..=players)
        .map(|_| rng.random_range(0..100) == 0)
        .collect();
    let mut flows: Vec<FlowEdge> = Vec::with_capacity((players * per_player) as usize);
    // Honest play: players water, steal from and help random friends.
    for player in 1..=players {
        let list = &friends[player as usize];
        if list.is_empty() {
            continue;
        }
        for _ in 0..per_player {
            let friend = list[rng.random_range(0..list.len())];
            let at = DAY_START + rng.random_range(0..DAY_MS);
            let (from, to, kind, grams) = match rng.random_range(0..10) {
                0..=2 => (
                    player,
                    friend,
                    FlowKind::Water,
                    [10, 18, 33, 66][rng.random_range(0..4)],
                ),
                3..=8 => (friend, player, FlowKind::Steal, rng.random_range(1..60)),
                _ => (player, friend, FlowKind::Help, rng.random_range(5..300)),
            };
            flows.push(edge(at, from, to, kind, grams, new_account[from as usize]));
        }
    }
    // Planted cheats, on ids above the honest players: rings of 5 new accounts watering
    // each other, and farms of 25 new accounts watering and feeding one receiver.
    let mut next = players + 1;
    let (mut rings, mut farms) = (Vec::new(), Vec::new());
    for _ in 0..CHEATS {
        let ring: Vec<u64> = (next..next + 5).collect();
        next += 5;
        for (i, &member) in ring.iter().enumerate() {
            let to = ring[(i + 1) % ring.len()];
            flows.push(edge(
                DAY_START + 1_000,
                member,
                to,
                FlowKind::Water,
                66,
                true,
            ));
        }
        rings.push(ring);
        let receiver = next;
        let farm: Vec<u64> = (next + 1..next + 26).collect();
        next += 26;
        for &alt in &farm {
            for hour in 0..3 {
                flows.push(edge(
                    DAY_START + hour * 3_600_000,
                    alt,
                    receiver,
                    FlowKind::Water,
                    66,
                    true,
                ));
            }
            flows.push(edge(
                DAY_START + 7 * 3_600_000,
                alt,
                receiver,
                FlowKind::Steal,
                120,
                true,
            ));
        }
        farms.push(receiver);
    }
    flows.sort_unstable_by_key(|flow| flow.at);
    let flow_count = flows.len();
    let generated = started.elapsed().as_secs_f64();
    let chunks: Vec<Arc<[FlowEdge]>> = flows.chunks(16_384).map(Arc::from).collect();
    drop(flows);
    let settings = Config::default_embedded().risk.graph;
    let cpu_before = cpu_time();
    let report = analyze(&chunks, DAY_START, &settings);
    let analysis_cpu = cpu_time().saturating_sub(cpu_before);
    let rings_found = rings
        .iter()
        .filter(|ring| {
            report.rings.iter().any(|found| {
                ring.iter()
                    .all(|member| found.players.contains(&PlayerId(*member)))
            })
        })
        .count();
    let stars_found = farms
        .iter()
        .filter(|&&receiver| {
            report
                .stars
                .iter()
                .any(|found| found.receiver == Some(PlayerId(receiver)))
        })
        .count();
    let blocks_found = farms
        .iter()
        .filter(|&&receiver| {
            report
                .dense_blocks
                .iter()
                .any(|found| found.players.contains(&PlayerId(receiver)))
        })
        .count();
    let ticks = arg("--ticks", 0);
    let ticks = (ticks > 0).then(|| tick_lengths(&chunks, &settings, ticks as usize));
    println!(
        "{}",
        serde_json::json!({
            "ticks": ticks,
            "players": players,
            "friendships": friendships.len(),
            "flows": flow_count,
            "generate_s": generated,
            "analysis_ms": report.took_ms,
            "analysis_cpu_ms": analysis_cpu.as_millis() as u64,
            "rings": {"planted": CHEATS, "found": rings_found, "reported": report.rings.len()},
            "stars": {"planted": CHEATS, "found": stars_found, "reported": report.stars.len()},
            "dense_blocks": {
                "planted": CHEATS,
                "found": blocks_found,
                "reported": report.dense_blocks.len(),
                "max_blocks": settings.max_blocks,
            },
        })
    );
}

/// CPU time this process has used (user and system, every thread): around the
/// analysis, what it cost, however many other processes share the cores.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage of this process");
    let micros = |time: nix::sys::time::TimeVal| {
        Duration::from_secs(time.tv_sec() as u64) + Duration::from_micros(time.tv_usec() as u64)
    };
    micros(usage.user_time()) + micros(usage.system_time())
}

/// Players of the world that ticks, and how many of them send a walk report each tick.
const TICK_PLAYERS: u64 = 100_000;
const ONLINE: u64 = 1_000;

/// Ticks `count` times alone, then as often as it can while an analysis of `chunks`
/// runs on another thread (at least `count` times, the analysis started again if it
/// ends first), then `count` times alone again; answers the three sets of tick
/// durations, and the analyses' time.
fn tick_lengths(
    chunks: &[Arc<[FlowEdge]>],
    settings: &GraphSettings,
    count: usize,
) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path(), 512).expect("open store");
    let shape = WorldShape {
        players: TICK_PLAYERS,
        balls_per_player: 3,
        grams_per_ball: 50,
        now: DAY_START,
        friendships: Vec::new(),
        wave_at: None,
    };
    worldgen::generate(&store, &shape).expect("generate world");
    let mut game = Game::load(
        Arc::new(Config::default_embedded()),
        Arc::new(store),
        ClockMode::Manual,
        Some(DAY_START),
        Some(7),
    )
    .expect("load world");
    worldgen::log_in(&mut game, 1..=ONLINE);
    let sink = game.flow_sink();
    for edge in chunks.iter().flat_map(|chunk| chunk.iter()) {
        sink.push(*edge);
    }
    let mut round = 0u64;
    let mut tick = |game: &mut Game| {
        round += 1;
        for id in 1..=ONLINE {
            game.submit(Command {
                origin: Origin::Session(SessionId(id)),
                request_id: round,
                op: Op::Client(Request::RecordAction {
                    kind: "walk".into(),
                    quantity: Some(round * 10),
                    reference: format!("bench-{round}"),
                }),
            });
        }
        let started = Instant::now();
        game.tick();
        started.elapsed()
    };
    let alone: Vec<Duration> = (0..count).map(|_| tick(&mut game)).collect();
    let window_ms = settings.window_secs as u64 * 1000;
    let mut during = Vec::new();
    let mut analyses = Vec::new();
    while during.len() < count {
        let (sink, settings) = (sink.clone(), settings.clone());
        let analysis = spawn_analysis(true, move || {
            let (chunks, since) = sink.snapshot(window_ms);
            analyze(&chunks, since, &settings).took_ms
        })
        .expect("a thread for the analysis");
        while !analysis.is_finished() {
            during.push(tick(&mut game));
        }
        analyses.push(analysis.join().expect("the analysis ran"));
    }
    let alone_after: Vec<Duration> = (0..count).map(|_| tick(&mut game)).collect();
    serde_json::json!({
        "world_players": TICK_PLAYERS,
        "walk_reports_per_tick": ONLINE,
        "alone": summary(alone),
        "during_analysis": summary(during),
        "alone_after": summary(alone_after),
        "analyses_ms": analyses,
    })
}

fn summary(mut ticks: Vec<Duration>) -> serde_json::Value {
    ticks.sort_unstable();
    let at = |share: f64| {
        let index = ((ticks.len() as f64 * share) as usize).min(ticks.len() - 1);
        ticks[index].as_secs_f64() * 1000.0
    };
    let mean = ticks.iter().map(Duration::as_secs_f64).sum::<f64>() / ticks.len() as f64;
    serde_json::json!({
        "ticks": ticks.len(),
        "mean_ms": mean * 1000.0,
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    })
}
