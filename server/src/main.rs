//! `canopy-server`: flags, logging, config, then [`canopy_server::server::run`].

use anyhow::Context;
use canopy_server::config::Config;
use canopy_server::game::ClockMode;
use canopy_server::server::{self, ServerOptions};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use tokio::net::TcpListener;

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
    /// Directory of the embedded store.
    #[arg(long, env = "CANOPY_DATA_DIR", default_value = "./canopy-data")]
    data_dir: PathBuf,
    /// `wall` follows the system clock; `manual` moves only through the admin call.
    #[arg(long, value_enum, default_value = "wall")]
    clock: Clock,
    /// Where a manual clock starts, in ms since the Unix epoch (default: the last
    /// persisted game time, else now).
    #[arg(long)]
    clock_start: Option<u64>,
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(start()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CANOPY_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::parse();
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

/// Completes on SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
