//! End-of-run conservation on both servers: the grams created equal the grams held in
//! balances, live balls and everywhere else grams can go.

use crate::redis_target::RedisTarget;
use serde::{Deserialize, Serialize};

/// The identity `created = balances + in_balls + other`, as checked after a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conservation {
    /// Grams ever created (ledger total).
    pub created: u64,
    /// Sum of all balances.
    pub balances: u64,
    /// Grams left in live balls.
    pub in_balls: u64,
    /// Grams elsewhere: team trees, planted trees, expired (0 in this workload).
    pub other: u64,
    /// Whether `created == balances + in_balls + other`.
    pub balanced: bool,
    /// Live balls.
    pub balls: u64,
    /// Ledger entries on the server (Canopy: the generator writes none for the world's
    /// own balls, so these are the run's).
    pub ledger_entries: u64,
    /// Problems the server's own audit listed beyond the total, if any.
    pub problems: Vec<String>,
}

impl Conservation {
    fn new(created: u64, balances: u64, in_balls: u64, other: u64) -> Self {
        Self {
            created,
            balances,
            in_balls,
            other,
            balanced: created == balances + in_balls + other,
            balls: 0,
            ledger_entries: 0,
            problems: Vec::new(),
        }
    }
}

/// Canopy's `GET /admin/audit` answer (the fields used here).
#[derive(Deserialize)]
struct AuditReport {
    created: u64,
    balances: u64,
    in_balls: u64,
    in_team_trees: u64,
    planted: u64,
    expired: u64,
    balls: u64,
    ledger_entries: u64,
    problems: Vec<String>,
}

/// Canopy's audit. Its per-ball ledger identity cannot hold for a generated world (the
/// generator writes no ledger entries for the balls it makes, only the `created`
/// total), so those problems are counted, not listed, and the total identity is
/// checked from the report's figures.
pub async fn canopy(ops_url: &str) -> anyhow::Result<Conservation> {
    let body = crate::http::get(ops_url, "/admin/audit").await?;
    let report: AuditReport = serde_json::from_str(&body)?;
    let mut check = Conservation::new(
        report.created,
        report.balances,
        report.in_balls,
        report.in_team_trees + report.planted + report.expired,
    );
    check.balls = report.balls;
    check.ledger_entries = report.ledger_entries;
    let generated = report
        .problems
        .iter()
        .filter(|p| p.starts_with("ball ") && p.contains("but the ledger says"))
        .count();
    check.problems = report
        .problems
        .into_iter()
        .filter(|p| !(p.starts_with("ball ") && p.contains("but the ledger says")))
        .collect();
    if generated > 0 {
        check.problems.push(format!(
            "{generated} (of at most 100 listed) balls without ledger entries: the generated world's"
        ));
    }
    Ok(check)
}

/// The Redis peer's audit script: balances and live balls summed inside Redis.
pub async fn redis(target: &RedisTarget, players: u64) -> anyhow::Result<Conservation> {
    let mut con = target.connection();
    let (created, balances, in_balls, balls, ledger, bad): (u64, u64, u64, u64, u64, u64) =
        redis::cmd("EVALSHA")
            .arg(&target.scripts().audit)
            .arg(0)
            .arg(players)
            .query_async(&mut con)
            .await?;
    let mut check = Conservation::new(created, balances, in_balls, 0);
    check.balls = balls;
    check.ledger_entries = ledger;
    if bad > 0 {
        check.problems.push(format!(
            "{bad} balls whose full amount is not left + stolen"
        ));
    }
    Ok(check)
}
