//! `canopy-server`: flags, logging, config, then [`canopy_server::server::run`].

use anyhow::Context;
use canopy_server::config::Config;
use canopy_server::game::ClockMode;
use canopy_server::server::{self, ServerOptions};
use canopy_server::worldgen::{self, Ripening, WorldShape};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use tokio::net::TcpListener;

/// mimalloc instead of the system malloc: measured to cut the server's CPU per op
/// (docs/PERFORMANCE.md, "Issue 12: the commit path and saturation").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, ValueEnum)]
enum Clock {
    Wall,
    Manual,
}

/// The Canopy game server.
#[derive(Parser)]
#[command(version, about)]
struct Flags {
    /// Config file (default: the embedded assets/canopy.toml).
    #[arg(long, env = "CANOPY_CONFIG")]
    config: Option<PathBuf>,
    /// Address of the WebSocket game socket.
    #[arg(long, env = "CANOPY_LISTEN", default_value = "127.0.0.1:7878")]
    listen: String,
    /// Address of the ops HTTP surface (health, metrics, admin).
    #[arg(long, env = "CANOPY_OPS_LISTEN", default_value = "127.0.0.1:7879")]
    ops_listen: String,
    /// Directory of the embedded store (also after a task: `restore --data-dir NEW`).
    #[arg(
        long,
        global = true,
        env = "CANOPY_DATA_DIR",
        default_value = "./canopy-data"
    )]
    data_dir: PathBuf,
    /// `wall` follows the system clock; `manual` moves only through the admin call.
    #[arg(long, value_enum, default_value = "wall")]
    clock: Clock,
    /// Where a manual clock starts, in ms since the Unix epoch (default: the last
    /// persisted game time, else now).
    #[arg(long)]
    clock_start: Option<u64>,
    /// Instead of serving, do this and exit.
    #[command(subcommand)]
    command: Option<Task>,
}

/// One-off tasks on a store.
#[derive(Subcommand)]
enum Task {
    /// Write a generated world (players `gen-<id>` tokens, balls, skewed friendships)
    /// into an empty --data-dir, for load tests and benchmarks, and print a summary.
    Generate(GenerateFlags),
    /// Copy the store of a stopped server (--data-dir) into a backup file. For a
    /// running server use `canopy admin backup --to PATH` (POST /admin/backup): sled
    /// locks the directory of a running store.
    Backup(BackupFlags),
    /// Check a backup whole (header, format, checksum) and restore it into a new or
    /// empty --data-dir; a damaged or foreign backup is refused before anything is written.
    Restore(RestoreFlags),
    /// Read an ops token from stdin and print its SHA-256, the value of
    /// `ops.tokens[].sha256` (so the config file never holds the token itself).
    HashToken,
}

#[derive(Args)]
struct BackupFlags {
    /// The backup file to write; it must not exist yet.
    #[arg(long, value_name = "PATH")]
    to: PathBuf,
}

#[derive(Args)]
struct RestoreFlags {
    /// The backup file to restore.
    #[arg(long, value_name = "PATH")]
    from: PathBuf,
}

#[derive(Args)]
struct GenerateFlags {
    /// Players to create: ids 1..=N, player N logs in with the token `gen-N`.
    #[arg(long)]
    players: u64,
    /// Mean friends per player (Pareto-distributed, so most have few, some hundreds).
    #[arg(long, default_value_t = 20)]
    degree: u64,
    /// Friendships one player asks for at most.
    #[arg(long, default_value_t = 500)]
    max_degree: u64,
    /// Live balls per player.
    #[arg(long, default_value_t = 3)]
    balls_per_player: u64,
    /// Grams in each ball.
    #[arg(long, default_value_t = 50)]
    grams: u64,
    /// Seed of the friendship graph: the same seed gives the same world.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// When the balls ripen: `now` (ripe at once), `wave` (all at the next 07:00 game-local)
    /// or `spread` (evenly over the next day).
    #[arg(long, value_enum, default_value = "now")]
    ripen: Ripening,
    /// The game time of the world, in ms since the Unix epoch (default: now).
    #[arg(long)]
    time: Option<u64>,
}

fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    exit_status(match &flags.command {
        Some(Task::Backup(backup)) => back_up_stopped_store(&flags, backup),
        Some(Task::Restore(restore)) => restore_backup(&flags, restore),
        Some(Task::HashToken) => hash_token(),
        Some(Task::Generate(generate)) => generate_world(&flags, generate),
        None => tokio::runtime::Runtime::new()
            .context("starting the async runtime")
            .and_then(|runtime| runtime.block_on(start(flags))),
    })
}

async fn start(flags: Flags) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CANOPY_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config =
        Config::load(flags.config.as_deref(), std::env::vars()).context("the config is invalid")?;
    let game_listener = TcpListener::bind(&flags.listen)
        .await
        .with_context(|| format!("binding the game socket to {}", flags.listen))?;
    let ops_listener = TcpListener::bind(&flags.ops_listen)
        .await
        .with_context(|| format!("binding the ops HTTP to {}", flags.ops_listen))?;
    let options = ServerOptions {
        config,
        config_path: flags.config,
        data_dir: flags.data_dir,
        clock: match flags.clock {
            Clock::Wall => ClockMode::Wall,
            Clock::Manual => ClockMode::Manual,
        },
        clock_start: flags.clock_start,
    };
    server::run(options, game_listener, ops_listener, stop_signal()).await
}

/// Writes a generated world into the (empty) data dir and prints what it wrote as JSON.
fn generate_world(flags: &Flags, task: &GenerateFlags) -> anyhow::Result<()> {
    let config =
        Config::load(flags.config.as_deref(), std::env::vars()).context("the config is invalid")?;
    let started = std::time::Instant::now();
    let now = task
        .time
        .unwrap_or_else(canopy_server::game::clock::wall_now);
    let friendships =
        worldgen::skewed_friendships(task.players, task.degree as f64, task.max_degree, task.seed);
    let friendship_count = friendships.len();
    let shape = WorldShape {
        players: task.players,
        balls_per_player: task.balls_per_player,
        grams_per_ball: task.grams,
        now,
        friendships,
        wave_at: None,
    }
    .ripening(task.ripen, config.day.utc_offset_minutes, config.ripen.hour);
    let store =
        canopy_server::store::SledStore::open(&flags.data_dir, config.store.cache_capacity_mb)
            .context("opening the store")?;
    anyhow::ensure!(
        store.is_empty(),
        "{} already holds a world: generate into an empty directory",
        flags.data_dir.display()
    );
    worldgen::generate(&store, &shape).context("writing the world")?;
    let summary = serde_json::json!({
        "data_dir": flags.data_dir,
        "players": task.players,
        "balls": task.players * task.balls_per_player,
        "friendships": friendship_count,
        "game_time": now,
        "tokens": "player N logs in with gen-N",
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    Ok(())
}

/// Prints the SHA-256 of the token on stdin (one trailing newline is not part of it).
fn hash_token() -> anyhow::Result<()> {
    let mut token = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut token)
        .context("reading the token from stdin")?;
    let token = token
        .strip_suffix('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .unwrap_or(&token);
    anyhow::ensure!(
        token.len() >= 8,
        "an ops token needs at least 8 characters; e.g. `openssl rand -hex 32`"
    );
    println!("{}", canopy_server::ops::auth::sha256_hex(token));
    Ok(())
}

/// Success, or the error printed with its causes and a failure status.
fn exit_status(outcome: anyhow::Result<()>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes a backup of the store in --data-dir, which no server may be using, and prints
/// the report as JSON.
fn back_up_stopped_store(flags: &Flags, task: &BackupFlags) -> anyhow::Result<()> {
    let dir = &flags.data_dir;
    // Opening an empty or missing directory would create a store in it.
    anyhow::ensure!(
        std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()),
        "{} holds no store to back up",
        dir.display()
    );
    let config =
        Config::load(flags.config.as_deref(), std::env::vars()).context("the config is invalid")?;
    let store = canopy_server::store::SledStore::open(dir, config.store.cache_capacity_mb)
        .context(
            "opening the store (for a running server, back up through it: \
             `canopy admin backup --to PATH`)",
        )?;
    anyhow::ensure!(!store.is_empty(), "{} holds no world", dir.display());
    let report = canopy_server::store::Store::backup(&store, &task.to)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Restores the backup into --data-dir and prints what it restored as JSON.
fn restore_backup(flags: &Flags, task: &RestoreFlags) -> anyhow::Result<()> {
    let restored = canopy_server::store::backup::restore(&task.from, &flags.data_dir)?;
    let summary = serde_json::json!({
        "from": task.from,
        "data_dir": flags.data_dir,
        "records": restored.records,
        "bytes": restored.bytes,
        "sha256": restored.sha256,
    });
    println!("{summary}");
    Ok(())
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, before
/// the server says it is running, not when the future is first polled: a SIGTERM sent as
/// soon as the server is up stops it cleanly instead of killing it.
fn stop_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        let mut interrupt = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
