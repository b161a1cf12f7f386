//! `canopy`: the Canopy command-line client. It speaks only the public protocol (the
//! game WebSocket) and the ops HTTP, through the types of `canopy-shared`.

mod admin;
mod app;
mod bots;
mod cli;
mod commands;
mod connection;
mod dev_jwt;
mod error;
mod names;
mod partner;
mod play;
mod profile;
mod rain;
mod render;
mod risk_admin;
mod shard_redirect;
mod time_text;
mod trust;

use clap::Parser;
use clap::error::ErrorKind;
use error::{CliError, EXIT_FAILURE, EXIT_OK};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => EXIT_OK,
                _ => EXIT_FAILURE,
            });
        }
    };
    let json = cli.global.json;
    match app::run(cli) {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            if json && let CliError::Server(body) = &err {
                app::print_line(&serde_json::json!({ "error": body }).to_string());
            }
            eprintln!("{}", render::error_text(&err));
            ExitCode::from(err.exit_code())
        }
    }
}
