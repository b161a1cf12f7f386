//! The scenario's verdict: run the graph analysis on demand, read every flag, and score
//! each rule against who really cheated: the cheaters it caught, the honest players it
//! flagged, and how soon (game time) after the cheating began.

use super::replay::blocking;
use super::{Cheat, Roles};
use crate::admin::OpsClient;
use crate::error::CliError;
use canopy_shared::risk::{Decision, FlagList, GraphReport, RiskFlag};
use canopy_shared::{Millis, PlayerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Share of cheaters a rule must catch.
pub const CAUGHT_TARGET: f64 = 0.95;
/// Share of honest players a rule may flag.
pub const HONEST_TARGET: f64 = 0.005;
/// How long to wait for a graph analysis and the flags it raises.
const GRAPH_PATIENCE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);

/// Each rule, the cheat it is meant to catch, and whether catching that cheat is its
/// job (the others catch it too, or not, by the way).
const RULES: [(&str, Cheat, bool); 9] = [
    ("steps_rate", Cheat::Steps, true),
    ("steps_early", Cheat::Steps, true),
    ("steal_reaction", Cheat::Sniper, true),
    ("steal_coverage", Cheat::Sniper, false),
    ("partner_velocity", Cheat::PartnerReplay, true),
    ("water_funnel", Cheat::Funnel, true),
    ("new_account_star", Cheat::Funnel, false),
    ("dense_block", Cheat::Funnel, false),
    ("ring", Cheat::Ring, true),
];

/// The graph signals: they name every account of a farm, not only its main account.
const GRAPH_RULES: [&str; 3] = ["ring", "dense_block", "new_account_star"];

/// One rule's score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleScore {
    /// The rule or signal id.
    pub rule: String,
    /// The cheat it is scored against.
    pub cheat: String,
    /// Whether catching that cheat is the rule's job (its targets count for
    /// `targets_met`); otherwise it is scored as a second line.
    pub primary: bool,
    /// Accounts that cheated that way (for the graph signals of a funnel, the farm's
    /// accounts too).
    pub cheaters: usize,
    /// Those the rule flagged.
    pub caught: usize,
    /// `caught / cheaters`, `null` without cheaters.
    pub caught_share: Option<f64>,
    /// Honest players the rule flagged.
    pub honest_flagged: usize,
    /// `honest_flagged / honest players`.
    pub honest_share: f64,
    /// Game seconds from the cheat's start to the rule's first flag on a cheater.
    pub first_flag_s: Option<f64>,
    /// Whether it met its targets (caught ≥ 95 % when primary, honest ≤ 0.5 %).
    pub met: bool,
}

/// What the graph analysis read and found (its last run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphSummary {
    /// Game time of the run.
    pub ran_at: Millis,
    /// How long it took.
    pub took_ms: u64,
    /// Flows in its window.
    pub flows: u64,
    /// Rings, dense blocks and stars found.
    pub rings: usize,
    /// Dense blocks found.
    pub dense_blocks: usize,
    /// Stars found.
    pub stars: usize,
}

/// The scenario's part of the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskReport {
    /// The kinds of cheater played.
    pub kinds: Vec<String>,
    /// Accounts of each kind (funnels: main accounts).
    pub cheaters_per_kind: usize,
    /// Fresh accounts of the funnels' farms.
    pub farm_accounts: usize,
    /// Honest players (every bot that is not a cheater).
    pub honest_players: usize,
    /// Every rule's score.
    pub rules: Vec<RuleScore>,
    /// Honest players flagged by any rule.
    pub honest_flagged: usize,
    /// The last graph analysis.
    pub graph: GraphSummary,
    /// Whether every rule met its targets.
    pub targets_met: bool,
    /// What the cheaters met on the way (refused replays, early steals).
    pub notes: Vec<String>,
}

impl RiskReport {
    /// The report's section in text.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "risk: {} cheaters of each kind ({}), {} farm accounts, {} honest players\n",
            self.cheaters_per_kind,
            self.kinds.join(", "),
            self.farm_accounts,
            self.honest_players
        );
        let _ = writeln!(
            text,
            "  {:<18} {:<15} {:>15} {:>17} {:>12}",
            "rule", "cheat", "caught", "honest flagged", "first flag"
        );
        for row in &self.rules {
            let caught = match row.caught_share {
                Some(share) => format!("{}/{} {:.0} %", row.caught, row.cheaters, share * 100.0),
                None => "-".to_owned(),
            };
            let first = row
                .first_flag_s
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1} s"));
            let _ = writeln!(
                text,
                "  {:<18} {:<15} {:>15} {:>9} {:>5.1} % {:>12}{}",
                row.rule,
                if row.primary {
                    row.cheat.clone()
                } else {
                    format!("({})", row.cheat)
                },
                caught,
                format!("{}/{}", row.honest_flagged, self.honest_players),
                row.honest_share * 100.0,
                first,
                if row.met { "" } else { "  MISSED" }
            );
        }
        let _ = writeln!(
            text,
            "  graph: {} flows, {} rings, {} dense blocks, {} stars, {} ms",
            self.graph.flows,
            self.graph.rings,
            self.graph.dense_blocks,
            self.graph.stars,
            self.graph.took_ms
        );
        for note in &self.notes {
            let _ = writeln!(text, "  note: {note}");
        }
        let _ = write!(
            text,
            "  targets (caught >= {:.0} %, honest flagged <= {:.1} %): {}",
            CAUGHT_TARGET * 100.0,
            HONEST_TARGET * 100.0,
            if self.targets_met { "met" } else { "MISSED" }
        );
        text
    }
}

/// Starts a graph analysis and waits for its report (a new one: its `run` is another)
/// and the flags it raises.
pub async fn run_graph(ops: &Arc<OpsClient>) -> Result<GraphReport, CliError> {
    let before = graph_report(ops).await?;
    let started = ops.clone();
    blocking(move || started.post::<serde_json::Value>("/admin/risk/graph/run", None::<&()>))
        .await?;
    let waited = Instant::now();
    let report = loop {
        let report = graph_report(ops).await?;
        if report.run != before.run || waited.elapsed() > GRAPH_PATIENCE {
            break report;
        }
        tokio::time::sleep(POLL).await;
    };
    let named: BTreeSet<(PlayerId, &str)> = report
        .rings
        .iter()
        .chain(&report.dense_blocks)
        .chain(&report.stars)
        .flat_map(|finding| {
            let rule = GRAPH_RULES
                .into_iter()
                .find(|rule| *rule == finding.rule)
                .unwrap_or("new_account_star");
            finding.players.iter().map(move |player| (*player, rule))
        })
        .collect();
    while waited.elapsed() <= GRAPH_PATIENCE {
        let flags = flags(ops).await?;
        let raised: BTreeSet<(PlayerId, &str)> = flags
            .iter()
            .map(|flag| (flag.player_id, flag.rule.as_str()))
            .collect();
        if named.iter().all(|pair| {
            raised
                .iter()
                .any(|(player, rule)| *player == pair.0 && *rule == pair.1)
        }) {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(report)
}

async fn graph_report(ops: &Arc<OpsClient>) -> Result<GraphReport, CliError> {
    let ops = ops.clone();
    let (report, _) = blocking(move || ops.get_admin::<GraphReport>("/admin/risk/graph")).await?;
    Ok(report)
}

async fn flags(ops: &Arc<OpsClient>) -> Result<Vec<RiskFlag>, CliError> {
    let ops = ops.clone();
    let (list, _) = blocking(move || ops.get_admin::<FlagList>("/admin/risk/flags")).await?;
    Ok(list.flags)
}

/// Runs the graph analysis once more over everything, reads every flag and scores
/// each rule.
pub async fn judge(
    ops: &Arc<OpsClient>,
    roles: &Roles,
    honest: &BTreeSet<PlayerId>,
) -> Result<RiskReport, CliError> {
    let graph = run_graph(ops).await?;
    let flags = flags(ops).await?;
    Ok(score(roles, honest, &flags, &graph))
}

/// Scores every rule on the flags raised.
pub fn score(
    roles: &Roles,
    honest: &BTreeSet<PlayerId>,
    flags: &[RiskFlag],
    graph: &GraphReport,
) -> RiskReport {
    let flags: Vec<&RiskFlag> = flags
        .iter()
        .filter(|flag| flag.decision != Decision::Allow)
        .collect();
    let mut rules = Vec::new();
    for (rule, cheat, primary) in RULES {
        let mut cheaters: BTreeSet<PlayerId> = roles
            .accounts
            .get(&cheat)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if cheat == Cheat::Funnel && GRAPH_RULES.contains(&rule) {
            cheaters.extend(roles.farms.iter().copied());
        }
        let of_rule: Vec<&&RiskFlag> = flags.iter().filter(|flag| flag.rule == rule).collect();
        let caught: BTreeSet<PlayerId> = of_rule
            .iter()
            .map(|flag| flag.player_id)
            .filter(|player| cheaters.contains(player))
            .collect();
        let honest_flagged: BTreeSet<PlayerId> = of_rule
            .iter()
            .map(|flag| flag.player_id)
            .filter(|player| honest.contains(player))
            .collect();
        let first_flag_s = roles.started.get(&cheat).and_then(|&started| {
            of_rule
                .iter()
                .filter(|flag| cheaters.contains(&flag.player_id))
                .map(|flag| flag.created_at)
                .min()
                .map(|at| at.saturating_sub(started) as f64 / 1_000.0)
        });
        let caught_share =
            (!cheaters.is_empty()).then(|| caught.len() as f64 / cheaters.len() as f64);
        let honest_share = if honest.is_empty() {
            0.0
        } else {
            honest_flagged.len() as f64 / honest.len() as f64
        };
        let met = honest_share <= HONEST_TARGET
            && (!primary || caught_share.is_none_or(|share| share >= CAUGHT_TARGET));
        rules.push(RuleScore {
            rule: rule.to_owned(),
            cheat: cheat.name().to_owned(),
            primary,
            cheaters: cheaters.len(),
            caught: caught.len(),
            caught_share,
            honest_flagged: honest_flagged.len(),
            honest_share,
            first_flag_s,
            met,
        });
    }
    let honest_flagged = flags
        .iter()
        .map(|flag| flag.player_id)
        .filter(|player| honest.contains(player))
        .collect::<BTreeSet<_>>()
        .len();
    let per_kind: BTreeMap<Cheat, usize> = roles
        .accounts
        .iter()
        .map(|(cheat, players)| (*cheat, players.len()))
        .collect();
    RiskReport {
        kinds: roles
            .accounts
            .keys()
            .map(|cheat| cheat.name().to_owned())
            .collect(),
        cheaters_per_kind: per_kind.values().copied().max().unwrap_or(0),
        farm_accounts: roles.farms.len(),
        honest_players: honest.len(),
        targets_met: rules.iter().all(|row| row.met),
        rules,
        honest_flagged,
        graph: GraphSummary {
            ran_at: graph.ran_at,
            took_ms: graph.took_ms,
            flows: graph.flows,
            rings: graph.rings.len(),
            dense_blocks: graph.dense_blocks.len(),
            stars: graph.stars.len(),
        },
        notes: roles.notes.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_shared::FlagId;
    use canopy_shared::risk::{Evidence, FlagStatus};

    fn flag(player: u64, rule: &str, created_at: Millis) -> RiskFlag {
        RiskFlag {
            id: FlagId(player),
            player_id: PlayerId(player),
            rule: rule.to_owned(),
            decision: Decision::Review,
            status: FlagStatus::Open,
            reason: String::new(),
            evidence: Evidence::default(),
            held: 0,
            hits: 1,
            created_at,
            updated_at: created_at,
        }
    }

    #[test]
    fn a_rule_is_scored_on_the_cheaters_it_caught_and_the_honest_it_flagged() {
        let mut roles = Roles::default();
        roles
            .accounts
            .insert(Cheat::Sniper, vec![PlayerId(1), PlayerId(2)]);
        roles.accounts.insert(Cheat::Funnel, vec![PlayerId(3)]);
        roles.farms = vec![PlayerId(4), PlayerId(5)];
        roles.started.insert(Cheat::Sniper, 10_000);
        let honest: BTreeSet<PlayerId> = (100..300).map(PlayerId).collect();
        let flags = [
            flag(1, "steal_reaction", 11_500),
            flag(2, "steal_reaction", 12_000),
            flag(1, "steal_coverage", 12_000),
            flag(3, "water_funnel", 0),
            flag(4, "new_account_star", 0),
            flag(100, "steal_coverage", 0),
        ];
        let report = score(&roles, &honest, &flags, &GraphReport::default());
        let row = |rule: &str| {
            report
                .rules
                .iter()
                .find(|row| row.rule == rule)
                .cloned()
                .expect("every rule has a row")
        };
        let reaction = row("steal_reaction");
        assert_eq!((reaction.caught, reaction.cheaters), (2, 2));
        assert_eq!(reaction.first_flag_s, Some(1.5));
        assert!(reaction.met);
        let coverage = row("steal_coverage");
        assert_eq!((coverage.caught, coverage.honest_flagged), (1, 1));
        assert_eq!(coverage.honest_share, 0.005, "1 of 200 is the limit");
        assert!(
            coverage.met,
            "not its job to catch them all; 0.5 % is allowed"
        );
        let star = row("new_account_star");
        assert_eq!((star.caught, star.cheaters), (1, 3), "the farm counts");
        assert!(star.met, "a second line");
        let ring = row("ring");
        assert_eq!((ring.cheaters, ring.caught_share), (0, None));
        assert!(report.targets_met);
        assert_eq!(report.honest_flagged, 1);

        let missed = score(&roles, &honest, &flags[1..], &GraphReport::default());
        assert!(!missed.targets_met, "one sniper of two slipped through");
    }
}
