//! `canopy bots`: a load test that is also a correctness test. It sets up a world of
//! players through the public protocol and the ops HTTP (`setup`), runs one bot per
//! player doing a mix of actions (`runner`, `plan`, `mix`), judges every reply against
//! what the bot knew (`knowledge`, `checks`), and reports throughput, latency, errors,
//! events, violations and the share of writes that succeeded (`stats`, `report`,
//! `writes`). With `--generated-world` the bots play a world `canopy-server generate`
//! wrote instead of setting one up, in the steady-state style (`plan::Style`).
//! `canopy bots idle` instead opens many connections and holds them idle (`idle`).
//! With `--cheaters N --cheat KIND` cheater personas play next to the honest bots and
//! the report scores the risk engine's rules on them (`cheaters`).

mod cheaters;
mod checks;
mod doubt;
mod graph;
mod idle;
mod knowledge;
mod mix;
mod pace;
mod plan;
mod progress;
mod props;
mod rain;
mod report;
mod runner;
mod settle;
mod setup;
mod shards;
mod stats;
mod wire;
mod writes;

pub use cheaters::Cheat;
pub use mix::{Mix, parse_mix};

use crate::admin::OpsClient;
use crate::app::{Settings, print_line};
use crate::cli::{BotsArgs, BotsMode, GlobalArgs};
use crate::error::{CliError, EXIT_OK, EXIT_SERVER_ERROR};
use canopy_shared::PlayerId;
use knowledge::{GameClock, Knowledge};
use progress::Progress;
use report::{ConfigReport, Report, mix_map};
use shards::Shards;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The server's per-connection limit is 20 requests a second (burst 40); bots stay
/// under it by default.
pub const DEFAULT_BOT_MAX_RATE: f64 = 19.0;
/// Requests a bot may send back to back before its pace applies.
pub const BOT_BURST: f64 = 10.0;
/// Friends a player may have (`friends.max`).
const MAX_FRIENDS: usize = 500;

/// Runs `canopy bots`; returns the exit status: 0 for a clean run, 2 when it found
/// violations, unexpected error codes or unanswered requests.
pub fn run(args: &BotsArgs, global: &GlobalArgs) -> Result<u8, CliError> {
    if let Some(BotsMode::Idle(idle_args)) = &args.mode {
        return idle::run(idle_args, global);
    }
    validate(args)?;
    let settings = Settings::resolve(global)?;
    let admin_token = global
        .admin_token
        .clone()
        .unwrap_or_else(|| setup::DEFAULT_ADMIN_TOKEN.to_owned());
    let ops = Arc::new(OpsClient::new(
        &global.ops,
        Some(admin_token.clone()),
        &settings.trust,
    )?);
    let shard_ops = args
        .shard_ops
        .iter()
        .map(|url| OpsClient::new(url, Some(admin_token.clone()), &settings.trust))
        .collect::<Result<_, _>>()?;
    let shards = Arc::new(Shards::discover(
        &settings.server_url,
        ops.clone(),
        shard_ops,
    )?);
    let seed = args.seed.unwrap_or_else(rand::random);
    let config = ConfigReport {
        players: args.players,
        friends_per_player: args.friends_per_player,
        duration_s: args.duration_ms as f64 / 1_000.0,
        mix: mix_map(&args.mix),
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .to_owned(),
        rate: args.rate,
        bot_max_rate: args.bot_max_rate,
        seed,
        server: settings.server_url.clone(),
        ops: crate::admin::normalize_ops_url(&global.ops)?,
        generated_world: args.generated_world,
        cheaters: args.cheaters,
        cheat: cheaters::Cheat::expand(&args.cheat)
            .into_iter()
            .map(|cheat| cheat.name().to_owned())
            .collect(),
        rain: args.rain,
    };
    let cast = (args.cheaters > 0).then(|| cheaters::Cast::new(&args.cheat, args.cheaters));
    if cast.is_some() && shards.is_cluster() {
        return Err(CliError::Usage(
            "--cheaters plays against one server; the scenario does not run on a cluster yet"
                .into(),
        ));
    }
    let options = setup::SetupOptions {
        players: args.players + cast.as_ref().map_or(0, cheaters::Cast::old_accounts),
        friends_per_player: args.friends_per_player,
        server_url: settings.server_url.clone(),
        utc_offset: global.utc_offset,
        bot_max_rate: args.bot_max_rate,
        seed,
        generated_world: args.generated_world,
        age_ms: if cast.is_some() {
            cheaters::ACCOUNT_AGE_MS
        } else {
            0
        },
        revivable: args.mix.weight(mix::Action::Revive) > 0,
        trust: settings.trust.clone(),
    };
    let run_options = runner::RunOptions {
        duration: Duration::from_millis(args.duration_ms),
        mix: args.mix,
        rate: args.rate,
        seed,
        style: if args.generated_world.is_some() {
            plan::Style::Steady
        } else {
            plan::Style::Mixed
        },
        rain: args.rain,
        reconnect: args.reconnect,
    };
    let progress = Progress::new(args.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::Local(format!("cannot start the async runtime: {err}")))?;
    let report = runtime.block_on(async {
        let world = setup::build(&options, shards.clone(), &progress).await?;
        let (seats, clock, roles) = match &cast {
            Some(cast) => {
                let stage = cheaters::Stage {
                    setup: &options,
                    ops: ops.clone(),
                    shards: shards.clone(),
                    progress: &progress,
                };
                let (seats, clock, roles) =
                    cheat(&stage, cast, world.seats, &world.clock, args.players, seed).await?;
                (seats, clock, Some(roles))
            }
            None => (world.seats, world.clock, None),
        };
        if args.rain > 0 && clock.is_manual() {
            return Err(CliError::Usage(
                "--rain needs a server whose clock runs: on --clock manual a round never ends"
                    .into(),
            ));
        }
        let honest: std::collections::BTreeSet<PlayerId> =
            seats.iter().map(|seat| seat.player).collect();
        progress.say(&format!(
            "run: {} bots for {} s ({})",
            seats.len(),
            args.duration_ms / 1_000,
            match args.rate {
                Some(rate) => format!("open loop at {rate} req/s"),
                None => "closed loop".to_owned(),
            }
        ));
        let ran = runner::run(seats, &clock, run_options, &shards, &progress).await;
        let mut report = Report::new(
            config,
            world.report,
            ran.elapsed.as_secs_f64(),
            &ran.tally,
            world.notes,
        );
        report.settled = ran.settled;
        if let Some(roles) = roles {
            progress.say("risk: a last graph analysis, then the flags");
            report.risk = Some(cheaters::judge(&ops, &roles, &honest).await?);
        }
        Ok::<_, CliError>(report)
    })?;
    // Connections still closing must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    deliver(
        args.report.as_deref(),
        &report.to_json(),
        || report.to_text(),
        global.json,
        report.is_clean(),
    )
}

/// Plays the cheaters (the seats after the first `honest`) next to the honest players
/// on the manual clock; answers the honest seats, ready to run on the moved clock, and
/// who cheated how.
async fn cheat(
    stage: &cheaters::Stage<'_>,
    cast: &cheaters::Cast,
    mut seats: Vec<setup::Seat>,
    clock: &GameClock,
    honest: usize,
    seed: u64,
) -> Result<(Vec<setup::Seat>, GameClock, cheaters::Roles), CliError> {
    if clock.kind_name() != "manual" {
        return Err(CliError::Usage(
            "--cheaters needs a server run with --clock manual (the scenario moves its clock)"
                .into(),
        ));
    }
    let old = seats.split_off(honest);
    let (roles, now) = cheaters::play(stage, cast, &mut seats, old, clock.now(), seed).await?;
    let clock = GameClock::manual(now, stage.setup.utc_offset);
    for seat in &mut seats {
        seat.know = Knowledge::new(seat.player, seat.know.friends.clone());
    }
    setup::learn_all(&mut seats, &clock).await;
    Ok((seats, clock, roles))
}

/// Writes the report's JSON to `path` when one is given, prints the report (JSON or
/// text), and gives the exit status: success for a clean run, a server error otherwise.
fn deliver(
    path: Option<&Path>,
    json: &str,
    text: impl FnOnce() -> String,
    as_json: bool,
    clean: bool,
) -> Result<u8, CliError> {
    if let Some(path) = path {
        std::fs::write(path, format!("{json}\n")).map_err(|err| {
            CliError::Local(format!(
                "cannot write the report to {}: {err}",
                path.display()
            ))
        })?;
    }
    print_line(&if as_json { json.to_owned() } else { text() });
    Ok(if clean { EXIT_OK } else { EXIT_SERVER_ERROR })
}

fn validate(args: &BotsArgs) -> Result<(), CliError> {
    let usage = |message: String| Err(CliError::Usage(message));
    if args.players == 0 {
        return usage("--players must be at least 1".into());
    }
    if let Some(world) = args.generated_world
        && args.players as u64 > world
    {
        return usage(format!(
            "--players {} is more than the {world} players of --generated-world",
            args.players
        ));
    }
    if args.friends_per_player > MAX_FRIENDS {
        return usage(format!(
            "--friends-per-player is at most {MAX_FRIENDS} (the server's friends.max)"
        ));
    }
    if args.rain > args.players {
        return usage(format!(
            "--rain {} is more than the {} --players (rain bots are players)",
            args.rain, args.players
        ));
    }
    if (args.cheaters > 0) == args.cheat.is_empty() {
        return usage("--cheaters N and --cheat KIND go together".into());
    }
    if !args.bot_max_rate.is_finite() || args.bot_max_rate < 0.0 {
        return usage("--bot-max-rate must be 0 (no cap) or more".into());
    }
    if let Some(rate) = args.rate {
        if !rate.is_finite() || rate <= 0.0 {
            return usage("--rate must be above 0 requests a second".into());
        }
        let per_bot = rate / args.players as f64;
        if args.bot_max_rate > 0.0 && per_bot > args.bot_max_rate {
            return usage(format!(
                "--rate {rate} over {} bots is {per_bot:.1} requests a second per bot, over \
                 the per-bot cap of {} (the server limits each connection): add --players or \
                 lower --rate",
                args.players, args.bot_max_rate
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, TopCommand};
    use clap::Parser;

    fn bots(args: &[&str]) -> Result<BotsArgs, String> {
        let cli = Cli::try_parse_from(["canopy", "bots"].iter().chain(args.iter()).copied())
            .map_err(|err| err.to_string())?;
        match cli.command {
            TopCommand::Bots(args) => Ok(args),
            other => Err(format!("parsed as {other:?}")),
        }
    }

    #[test]
    fn the_documented_command_line_parses() -> Result<(), String> {
        let args = bots(&[
            "--players",
            "1000",
            "--friends-per-player",
            "20",
            "--duration",
            "60s",
            "--mix",
            "collect=40,steal=30,water=10,read=20",
            "--report",
            "/tmp/report.json",
        ])?;
        assert_eq!(args.players, 1_000);
        assert_eq!(args.friends_per_player, 20);
        assert_eq!(args.duration_ms, 60_000);
        assert_eq!(args.mix, Mix::default());
        assert_eq!(args.rate, None);
        assert!(validate(&args).is_ok());
        for (text, ms) in [("5m", 300_000), ("30m", 1_800_000), ("1h", 3_600_000)] {
            assert_eq!(bots(&["--duration", text])?.duration_ms, ms);
        }
        Ok(())
    }

    #[test]
    fn impossible_runs_are_refused_before_they_start() -> Result<(), String> {
        assert!(bots(&["--mix", "dance=10"]).is_err());
        assert!(
            bots(&["--duration", "60"]).is_err(),
            "a duration needs a unit"
        );
        for bad in [
            &["--players", "0"][..],
            &["--friends-per-player", "501"],
            &["--players", "10", "--rate", "500"],
            &["--rate", "0"],
            &["--bot-max-rate", "NaN"],
        ] {
            let args = bots(bad)?;
            assert!(
                matches!(validate(&args), Err(CliError::Usage(_))),
                "{bad:?} should be refused"
            );
        }
        let args = bots(&["--players", "10", "--rate", "500", "--bot-max-rate", "0"])?;
        assert!(validate(&args).is_ok(), "no per-bot cap, any rate");
        let args = bots(&["--generated-world", "200", "--players", "50"])?;
        assert_eq!(args.generated_world, Some(200));
        assert!(validate(&args).is_ok());
        let args = bots(&[
            "--cheaters",
            "3",
            "--cheat",
            "sniper,steps",
            "--cheat",
            "ring",
        ])?;
        assert_eq!(args.cheat, [Cheat::Sniper, Cheat::Steps, Cheat::Ring]);
        assert!(validate(&args).is_ok());
        assert!(bots(&["--cheaters", "3", "--cheat", "bot-farm"]).is_err());
        for alone in [&["--cheaters", "3"][..], &["--cheat", "all"]] {
            assert!(
                matches!(validate(&bots(alone)?), Err(CliError::Usage(_))),
                "{alone:?} should be refused"
            );
        }
        let args = bots(&["--generated-world", "200", "--players", "201"])?;
        assert!(
            matches!(validate(&args), Err(CliError::Usage(_))),
            "more bots than generated players"
        );
        assert!(
            bots(&["--generated-world", "200", "--friends-per-player", "3"]).is_err(),
            "a generated world brings its own friendships"
        );
        Ok(())
    }
}
