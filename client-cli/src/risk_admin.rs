//! `canopy admin risk ...`: the risk review queue over the ops HTTP (a `reviewer` or
//! `admin` token): list flags, show one with its evidence, release or confirm it, and
//! read or start the graph analysis.

use crate::admin::OpsClient;
use crate::cli::RiskCommand;
use crate::error::CliError;
use crate::render::View;
use canopy_shared::risk::{FlagList, GraphReport, RiskFlag};
use serde_json::Value;

/// Runs one `admin risk` command and returns what to print.
pub fn execute(
    client: &OpsClient,
    command: &RiskCommand,
    json: bool,
    view: &View<'_>,
) -> Result<String, CliError> {
    match command {
        RiskCommand::List {
            status,
            player,
            cluster,
        } => {
            let mut query = Vec::new();
            if status != "all" {
                query.push(format!("status={status}"));
            }
            if let Some(player) = player {
                query.push(format!("player_id={player}"));
            }
            if *cluster {
                query.push("cluster=true".to_owned());
            }
            let (list, raw): (FlagList, _) =
                client.get_admin(&format!("/admin/risk/flags?{}", query.join("&")))?;
            Ok(if json {
                raw.to_string()
            } else if list.flags.is_empty() {
                "No flags.".to_owned()
            } else {
                list.flags
                    .iter()
                    .map(|flag| summary(flag, view))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        RiskCommand::Show { id } => {
            // Any shard's flag: a server alone answers its own.
            let (list, _): (FlagList, Value) =
                client.get_admin("/admin/risk/flags?cluster=true")?;
            let flag = list
                .flags
                .into_iter()
                .find(|flag| flag.id.0 == *id)
                .ok_or_else(|| CliError::Usage(format!("no risk flag #{id}")))?;
            Ok(if json {
                serde_json::to_string(&flag)
                    .map_err(|err| CliError::Local(format!("cannot encode the flag: {err}")))?
            } else {
                details(&flag, view)
            })
        }
        RiskCommand::Release { id } | RiskCommand::Confirm { id } => {
            let verb = match command {
                RiskCommand::Release { .. } => "release",
                _ => "confirm",
            };
            let (flag, raw): (RiskFlag, _) =
                client.post(&format!("/admin/risk/flags/{id}/{verb}"), None::<&()>)?;
            Ok(if json {
                raw.to_string()
            } else {
                let outcome = match verb {
                    "release" => "went to the player's balance",
                    _ => "are forfeited",
                };
                format!(
                    "Flag #{} is {}: its {} g held {outcome}.",
                    flag.id,
                    flag.status.as_str(),
                    flag.held
                )
            })
        }
        RiskCommand::Graph { run } => {
            if *run {
                let (_, raw): (Value, _) = client.post("/admin/risk/graph/run", None::<&()>)?;
                return Ok(if json {
                    raw.to_string()
                } else {
                    "Graph analysis started; `canopy admin risk graph` shows it when done."
                        .to_owned()
                });
            }
            let (report, raw): (GraphReport, _) = client.get_admin("/admin/risk/graph")?;
            Ok(if json {
                raw.to_string()
            } else if report.ran_at == 0 {
                "No graph analysis has run yet (`canopy admin risk graph --run`).".to_owned()
            } else {
                let mut lines = vec![format!(
                    "Graph analysis of {}: {} flows between {} players in {} ms.",
                    view.date(report.ran_at),
                    report.flows,
                    report.players,
                    report.took_ms
                )];
                for finding in report
                    .rings
                    .iter()
                    .chain(&report.dense_blocks)
                    .chain(&report.stars)
                {
                    lines.push(format!(
                        "  {}: {} ({} players, {} g)",
                        finding.rule,
                        finding.reason,
                        finding.players.len(),
                        finding.grams
                    ));
                }
                lines.join("\n")
            })
        }
    }
}

/// One line of the list: id, status, player, rule, decision, held and reason.
fn summary(flag: &RiskFlag, view: &View<'_>) -> String {
    format!(
        "#{} {} · player #{} · {} ({}) · {} g held · {} · {}",
        flag.id,
        flag.status.as_str(),
        flag.player_id,
        flag.rule,
        flag.decision,
        flag.held,
        view.date(flag.created_at),
        flag.reason
    )
}

/// A flag with its evidence, for `show`.
fn details(flag: &RiskFlag, view: &View<'_>) -> String {
    let mut lines = vec![summary(flag, view)];
    lines.push(format!(
        "  tripped {} time{}, last {}",
        flag.hits,
        if flag.hits == 1 { "" } else { "s" },
        view.date(flag.updated_at)
    ));
    for (name, value) in &flag.evidence.numbers {
        lines.push(format!("  {name}: {value}"));
    }
    if !flag.evidence.players.is_empty() {
        let players: Vec<String> = flag
            .evidence
            .players
            .iter()
            .map(|p| format!("#{p}"))
            .collect();
        lines.push(format!("  players: {}", players.join(", ")));
    }
    if !flag.evidence.balls.is_empty() {
        let balls: Vec<String> = flag
            .evidence
            .balls
            .iter()
            .map(|b| format!("#{b}"))
            .collect();
        lines.push(format!("  balls: {}", balls.join(", ")));
    }
    lines.join("\n")
}
