//! `peer-redis`: the Redis peer baseline of Canopy and the load generator that drives
//! either server with the same mix (see README.md).

mod audit;
mod canopy;
mod canopy_conn;
mod events;
mod export;
mod gateway;
mod http;
mod ops;
mod redis_target;
mod report;
mod scripts;
mod seed;
mod server_proc;
mod stats;
mod step;
mod workload;
mod world;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The Redis peer of Canopy: seed it, and load either server with the same mix.
#[derive(Parser)]
#[command(about)]
struct Flags {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Read the world a Canopy server serves into a world file.
    Export {
        /// Canopy's game socket.
        #[arg(long, default_value = "ws://127.0.0.1:7878/ws")]
        url: String,
        /// Canopy's ops HTTP.
        #[arg(long, default_value = "http://127.0.0.1:7879")]
        ops: String,
        /// Players 1..=N to read.
        #[arg(long)]
        players: u64,
        /// The world file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a world file into an empty Redis.
    Seed {
        /// The Redis peer.
        #[arg(long, default_value = "redis://127.0.0.1:6390/")]
        redis: String,
        /// The world file.
        #[arg(long)]
        world: PathBuf,
    },
    /// Serve Canopy's WebSocket protocol in front of the Redis peer (the gateway a team
    /// replacing Canopy with Redis would run).
    Gateway {
        /// Where players connect (`ws://<listen>/...`).
        #[arg(long, default_value = "127.0.0.1:7880")]
        listen: String,
        /// The Redis peer, seeded.
        #[arg(long, default_value = "redis://127.0.0.1:6390/")]
        redis: String,
        /// Runtime threads: 1 runs every task on one thread (no hand-offs between
        /// threads), more a work-stealing pool of that many.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Run one measured step against one server and append its result (a JSON line).
    Run(RunFlags),
    /// Summarize a results file: markdown on stdout, JSON to --json.
    Summarize {
        /// The results file (JSON lines from `run`).
        results: PathBuf,
        /// Where to write the summary as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum TargetKind {
    /// Canopy over WebSockets (`--url`), audited over `--ops`.
    Canopy,
    /// The Redis peer's gateway over WebSockets (`--url`), audited in Redis.
    Gateway,
    /// Bare Redis: RESP and pub/sub straight to Redis (for information).
    Redis,
}

#[derive(clap::Args)]
struct RunFlags {
    /// Which server.
    #[arg(long, value_enum)]
    target: TargetKind,
    /// The name of the setup in the results (`canopy`, `redis-always`, ...).
    #[arg(long)]
    label: String,
    /// The round of the run.
    #[arg(long, default_value_t = 1)]
    round: u32,
    /// The world file both servers hold.
    #[arg(long)]
    world: PathBuf,
    /// Logical clients, each with one op in flight.
    #[arg(long)]
    clients: usize,
    /// Seconds before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seed of the clients' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Players online (1..=N: connected, subscribed, acting); default all.
    #[arg(long)]
    online: Option<u64>,
    /// The server's process ids (CPU and memory are read from /proc and summed: the
    /// gateway and redis-server for the gateway setups); repeat or comma-separate.
    #[arg(long, required = true, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Percent of players whose session watches their friends list.
    #[arg(long, default_value_t = 10)]
    watch_friends: u64,
    /// Percent of players whose session watches one friend's forest.
    #[arg(long, default_value_t = 10)]
    watch_forest: u64,
    /// The game socket (Canopy's or the gateway's).
    #[arg(long, default_value = "ws://127.0.0.1:7878/ws")]
    url: String,
    /// Canopy's ops HTTP.
    #[arg(long, default_value = "http://127.0.0.1:7879")]
    ops: String,
    /// The Redis peer.
    #[arg(long, default_value = "redis://127.0.0.1:6390/")]
    redis: String,
    /// Append the result here.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    if let Task::Gateway {
        listen,
        redis,
        threads,
    } = &flags.task
    {
        let runtime = if *threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(*threads)
                .enable_all()
                .build()?
        };
        return runtime.block_on(gateway::run(listen, redis));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match flags.task {
            Task::Export {
                url,
                ops,
                players,
                out,
            } => {
                let world = export::export(&url, &ops, players).await?;
                world.save(&out)?;
                eprintln!(
                    "exported {} players, {} friendships, {} balls, game time {}",
                    world.players.len(),
                    world.friendship_count(),
                    world.ball_count(),
                    world.game_time
                );
                Ok(())
            }
            Task::Seed { redis, world } => {
                let world = world::World::load(&world)?;
                let mut con = redis_target::connection(&redis).await?;
                seed::seed(&mut con, &world).await
            }
            Task::Run(run) => run_step(run).await,
            Task::Gateway { .. } => unreachable!("served above"),
            Task::Summarize { results, json } => {
                let text = std::fs::read_to_string(&results)
                    .with_context(|| format!("reading {}", results.display()))?;
                let steps = text
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(serde_json::from_str)
                    .collect::<Result<Vec<report::StepResult>, _>>()?;
                let (markdown, summary) = report::summarize(&steps);
                print!("{markdown}");
                if let Some(path) = json {
                    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)?;
                }
                Ok(())
            }
        }
    })
}

async fn run_step(flags: RunFlags) -> anyhow::Result<()> {
    let world = world::World::load(&flags.world)?;
    let players = world.players.len() as u64;
    let online = flags.online.unwrap_or(players).clamp(1, players);
    let events = Arc::new(events::EventCounts::default());
    let watches = workload::WatchPlan {
        friends_percent: flags.watch_friends,
        forest_percent: flags.watch_forest,
    };
    let target = match flags.target {
        TargetKind::Canopy | TargetKind::Gateway => step::Target::Canopy(
            canopy::CanopyTarget::connect(&flags.url, online, &world, watches, events.clone())
                .await?,
        ),
        TargetKind::Redis => step::Target::Redis(
            redis_target::RedisTarget::connect(&flags.redis, online, &world, watches, &events)
                .await?,
        ),
    };
    let target = Arc::new(target);
    let knowledge = Arc::new(Mutex::new(workload::Knowledge::new(&world, online)));
    let plan = step::StepPlan {
        clients: flags.clients,
        warmup: Duration::from_secs_f64(flags.warmup),
        duration: Duration::from_secs_f64(flags.duration),
        seed: flags.seed,
        server_pids: flags.server_pid.clone(),
    };
    let measure = step::run(target.clone(), knowledge, events, &plan).await?;
    let conservation = match (target.as_ref(), flags.target) {
        (step::Target::Redis(redis), _) => audit::redis(redis, players).await?,
        (_, TargetKind::Gateway) => {
            let redis = redis_target::RedisTarget::connect_commands(&flags.redis).await?;
            audit::redis(&redis, players).await?
        }
        _ => audit::canopy(&flags.ops).await?,
    };
    let all = measure.stats.total();
    let summary = all.summary();
    let ops = summary.count;
    let per_1k = |seconds: f64| seconds / (ops.max(1) as f64 / 1000.0);
    let result = report::StepResult {
        label: flags.label,
        round: flags.round,
        clients: flags.clients,
        online,
        seconds: measure.seconds,
        ops,
        ops_per_s: ops as f64 / measure.seconds,
        per_op: measure
            .stats
            .per_op()
            .into_iter()
            .map(|(name, s)| (name.to_owned(), s))
            .collect(),
        refusals: all.refused.clone(),
        failures: all.failed.clone(),
        all: summary,
        events: measure.events,
        server_cpu_seconds: measure.server_cpu_seconds,
        server_cpu_s_per_1k_ops: per_1k(measure.server_cpu_seconds),
        server_cpu_s_per_1k_ops_by_process: measure
            .server_cpu_seconds_by_process
            .iter()
            .map(|&seconds| per_1k(seconds))
            .collect(),
        client_cpu_s_per_1k_ops: per_1k(measure.client_cpu_seconds),
        server_rss_mib: measure.server_rss_mib.0,
        server_peak_rss_mib: measure.server_rss_mib.1,
        conservation,
    };
    eprintln!(
        "{} round {} clients {}: {:.0} ops/s, p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, \
         server {:.3} CPU s/1k ops, {:.2} events/op, {:.0} MiB, refused {}, failed {}, conserved {}",
        result.label,
        result.round,
        result.clients,
        result.ops_per_s,
        result.all.p50_ms,
        result.all.p99_ms,
        result.all.p999_ms,
        result.server_cpu_s_per_1k_ops,
        result.events_per_op().0,
        result.server_rss_mib,
        result.all.refused,
        result.all.failed,
        result.conservation.balanced
    );
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&flags.out)
        .with_context(|| format!("opening {}", flags.out.display()))?;
    writeln!(out, "{}", serde_json::to_string(&result)?)?;
    Ok(())
}
