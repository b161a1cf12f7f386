//! Wiring: resolves the server, token and profile from flags, environment and the saved
//! profile, then runs one command.

use crate::admin::{self, OpsClient};
use crate::cli::{Cli, DEFAULT_SERVER, GameCommand, GlobalArgs, TopCommand};
use crate::commands::{self, Context, OutputMode};
use crate::connection::Connection;
use crate::error::{CliError, EXIT_OK};
use crate::names::Names;
use crate::play;
use crate::profile::ProfileStore;
use crate::trust::Trust;
use std::io::Write;
use std::sync::Arc;

/// The settings of one invocation, after flags, environment and profile are merged.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The game socket URL.
    pub server_url: String,
    /// The player token, if any.
    pub token: Option<String>,
    /// The profile in use.
    pub profile_name: String,
    /// Where profiles live.
    pub profiles: ProfileStore,
    /// How results are printed.
    pub output: OutputMode,
    /// The game day's UTC offset in minutes.
    pub utc_offset: i32,
    /// The ops HTTP base URL.
    pub ops_url: String,
    /// The admin token, if any.
    pub admin_token: Option<String>,
    /// The certificates trusted over TLS.
    pub trust: Arc<Trust>,
}

impl Settings {
    /// Merges the flags (and their environment variables) with the saved profile: a
    /// flag wins, then the profile, then the default.
    pub fn resolve(global: &GlobalArgs) -> Result<Self, CliError> {
        let profiles = ProfileStore::from_env();
        let profile = profiles.load(&global.profile)?;
        let server = global
            .server
            .clone()
            .or_else(|| profile.as_ref().map(|profile| profile.server.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        Ok(Self {
            server_url: normalize_server_url(&server)?,
            token: global
                .token
                .clone()
                .or_else(|| profile.map(|profile| profile.token)),
            profile_name: global.profile.clone(),
            profiles,
            output: output_mode(global),
            utc_offset: global.utc_offset,
            ops_url: global.ops.clone(),
            admin_token: global.admin_token.clone(),
            trust: Trust::new(global.ca_cert.as_deref()),
        })
    }

    /// The context game commands run in.
    pub fn context(&self) -> Context {
        Context {
            output: self.output,
            utc_offset: self.utc_offset,
            profiles: self.profiles.clone(),
            profile_name: self.profile_name.clone(),
            server_url: self.server_url.clone(),
            token: self.token.clone(),
            names: Names::default(),
            player: None,
            trust: self.trust.clone(),
        }
    }
}

/// `ws://host:port/ws` (or `wss://`) from what the user typed: `host:port` gets `ws://`
/// and `/ws`; a URL without a path gets `/ws`.
pub fn normalize_server_url(text: &str) -> Result<String, CliError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CliError::Usage("the server URL is empty".into()));
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme @ ("ws" | "wss"), rest)) => (scheme, rest),
        Some((scheme, _)) => {
            return Err(CliError::Usage(format!(
                "`{text}` is not a ws:// or wss:// URL (scheme `{scheme}`); the game socket \
                 looks like {DEFAULT_SERVER}"
            )));
        }
        None => ("ws", text),
    };
    if rest.contains('/') {
        Ok(format!("{scheme}://{rest}"))
    } else {
        Ok(format!("{scheme}://{rest}/ws"))
    }
}

/// Prints a line on stdout; a closed pipe (`canopy ... | head`) is not an error.
pub fn print_line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::Local(format!("cannot start the async runtime: {err}")))
}

/// JSON or human text, as `--json` says.
fn output_mode(global: &crate::cli::GlobalArgs) -> OutputMode {
    if global.json {
        OutputMode::Json
    } else {
        OutputMode::Human
    }
}

/// Runs the parsed command line; returns the exit status for a run that did not fail
/// outright.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        TopCommand::Admin(command) => {
            let trust = Trust::new(cli.global.ca_cert.as_deref());
            let client = OpsClient::new(&cli.global.ops, cli.global.admin_token.clone(), &trust)?;
            let output = output_mode(&cli.global);
            let text = admin::execute(&client, &command, output, cli.global.utc_offset)?;
            print_line(&text);
            Ok(EXIT_OK)
        }
        TopCommand::Play => {
            let settings = Settings::resolve(&cli.global)?;
            runtime()?.block_on(play::run(&settings))
        }
        TopCommand::Bots(args) => crate::bots::run(&args, &cli.global),
        TopCommand::Partner(args) => {
            let trust = Trust::new(cli.global.ca_cert.as_deref());
            let client = OpsClient::new(&cli.global.ops, None, &trust)?;
            let output = output_mode(&cli.global);
            print_line(&crate::partner::execute(&client, &args, output)?);
            Ok(EXIT_OK)
        }
        TopCommand::DevJwt(args) => {
            print_line(&crate::dev_jwt::mint(&args)?);
            Ok(EXIT_OK)
        }
        TopCommand::Game(command) => {
            let settings = Settings::resolve(&cli.global)?;
            let text = runtime()?.block_on(one_shot(&settings, &command))?;
            print_line(&text);
            Ok(EXIT_OK)
        }
    }
}

/// Connects, logs in when the command needs it, runs the command and says goodbye.
async fn one_shot(settings: &Settings, command: &GameCommand) -> Result<String, CliError> {
    let mut ctx = settings.context();
    if commands::needs_login(command) && ctx.token.is_none() {
        return Err(commands::no_player(&ctx));
    }
    if let GameCommand::Login { token: Some(token) } = command {
        // Logged in once first, so a cluster's redirect is followed and the profile
        // saved by the command names the player's own shard.
        ctx.token = Some(token.clone());
    }
    let (mut conn, mut events) = Connection::connect(&ctx.server_url, &ctx.trust).await?;
    let outcome = async {
        if commands::needs_login(command) || matches!(command, GameCommand::Login { .. }) {
            commands::login(&mut conn, &mut events, &mut ctx).await?;
            if ctx.output == OutputMode::Human && commands::mentions_players(command) {
                commands::learn_friends(&conn, &mut ctx).await;
            }
        }
        commands::execute(&conn, &mut ctx, command).await
    }
    .await;
    conn.close().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_normalized() -> Result<(), CliError> {
        assert_eq!(
            normalize_server_url("127.0.0.1:7878")?,
            "ws://127.0.0.1:7878/ws"
        );
        assert_eq!(
            normalize_server_url("ws://127.0.0.1:7878")?,
            "ws://127.0.0.1:7878/ws"
        );
        assert_eq!(
            normalize_server_url("ws://127.0.0.1:7878/ws")?,
            "ws://127.0.0.1:7878/ws"
        );
        assert_eq!(
            normalize_server_url("wss://example.test")?,
            "wss://example.test/ws"
        );
        assert!(normalize_server_url("http://127.0.0.1:7878").is_err());
        assert!(normalize_server_url("").is_err());
        Ok(())
    }
}
