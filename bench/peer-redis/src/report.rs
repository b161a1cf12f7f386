//! A step's result (one JSON line each) and the summary over a whole run: for every
//! server and round, the highest throughput whose p99 stays within the latency bound,
//! and the ratios of Canopy to each Redis setup within the same round.

use crate::audit::Conservation;
use crate::stats::OpSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The p99 bound of "ops/s at p99 ≤ 50 ms".
pub const P99_BOUND_MS: f64 = 50.0;

/// The peer setups Canopy is compared with: behind the gateway (the fair peer), then
/// bare Redis (for information).
const PEERS: [&str; 4] = [
    "redis-always-gateway",
    "redis-everysec-gateway",
    "redis-always",
    "redis-everysec",
];

/// One step, as written to the results file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepResult {
    /// The server setup (`canopy`, `redis-always`, `redis-everysec`).
    pub label: String,
    /// The round of the run (setups alternate within a round).
    pub round: u32,
    /// Logical clients.
    pub clients: usize,
    /// Players online (connected or subscribed, and acting).
    pub online: u64,
    /// The measured window, s.
    pub seconds: f64,
    /// Ops answered in the window.
    pub ops: u64,
    /// Ops per second.
    pub ops_per_s: f64,
    /// All ops together.
    pub all: OpSummary,
    /// Per op.
    pub per_op: BTreeMap<String, OpSummary>,
    /// Refusals by code.
    pub refusals: BTreeMap<String, u64>,
    /// Failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// Events received, by kind.
    pub events: BTreeMap<String, u64>,
    /// Server CPU seconds in the window.
    pub server_cpu_seconds: f64,
    /// Server CPU seconds per 1,000 ops.
    pub server_cpu_s_per_1k_ops: f64,
    /// The same per server process (`--server-pid` order: gateway, then redis-server).
    #[serde(default)]
    pub server_cpu_s_per_1k_ops_by_process: Vec<f64>,
    /// The load generator's CPU seconds per 1,000 ops.
    pub client_cpu_s_per_1k_ops: f64,
    /// Server RSS at the window's end, MiB.
    pub server_rss_mib: f64,
    /// Server peak RSS, MiB.
    pub server_peak_rss_mib: f64,
    /// End-of-run conservation.
    pub conservation: Conservation,
}

impl StepResult {
    /// Pushed events received per op answered in the window (all kinds, and the
    /// watch pushes alone: `friend_stealable` and `forest_changed`; on bare Redis every
    /// `friend_stealable` line, uncoalesced).
    pub fn events_per_op(&self) -> (f64, f64) {
        let ops = self.ops.max(1) as f64;
        let all: u64 = self.events.values().sum();
        let stealable: u64 = ["friend_stealable", "forest_changed"]
            .iter()
            .map(|kind| self.events.get(*kind).copied().unwrap_or(0))
            .sum();
        (all as f64 / ops, stealable as f64 / ops)
    }

    fn within_bound(&self) -> bool {
        self.all.p99_ms <= P99_BOUND_MS && self.all.failed == 0 && self.conservation.balanced
    }
}

/// Server CPU per 1,000 ops, with each process's share when there are several
/// (`0.213 (0.121 + 0.092)`: gateway + redis-server).
fn cpu_cell(s: &StepResult) -> String {
    let total = format!("{:.3}", s.server_cpu_s_per_1k_ops);
    if s.server_cpu_s_per_1k_ops_by_process.len() < 2 {
        return total;
    }
    let parts: Vec<String> = s
        .server_cpu_s_per_1k_ops_by_process
        .iter()
        .map(|cpu| format!("{cpu:.3}"))
        .collect();
    format!("{total} ({})", parts.join(" + "))
}

/// The best step of one setup in one round.
struct Best<'a> {
    bounded: Option<&'a StepResult>,
    peak: &'a StepResult,
}

fn best<'a>(steps: &[&'a StepResult]) -> Option<Best<'a>> {
    let by_rate = |a: &&&StepResult, b: &&&StepResult| a.ops_per_s.total_cmp(&b.ops_per_s);
    Some(Best {
        bounded: steps
            .iter()
            .filter(|s| s.within_bound())
            .max_by(by_rate)
            .copied(),
        peak: steps.iter().max_by(by_rate).copied()?,
    })
}

/// The summary as markdown, and as JSON.
pub fn summarize(results: &[StepResult]) -> (String, serde_json::Value) {
    let mut labels: Vec<&str> = results.iter().map(|r| r.label.as_str()).collect();
    labels.dedup();
    labels.sort_unstable();
    labels.dedup();
    let mut rounds: Vec<u32> = results.iter().map(|r| r.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let mut md = String::new();
    let mut json_rounds = Vec::new();
    let _ = writeln!(
        md,
        "| setup | round | clients | ops/s at p99 ≤ {P99_BOUND_MS} ms | p50 ms | p99 ms | p99.9 ms | \
         server CPU s / 1k ops | events / op | RSS MiB (peak) | conserved | peak ops/s (clients, p99 ms) |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    );
    for &round in &rounds {
        let mut rates = BTreeMap::new();
        let mut peaks = BTreeMap::new();
        for &label in &labels {
            let steps: Vec<&StepResult> = results
                .iter()
                .filter(|r| r.round == round && r.label == label)
                .collect();
            let Some(best) = best(&steps) else { continue };
            let conserved = steps.iter().all(|s| s.conservation.balanced);
            let peak = best.peak;
            peaks.insert(label, peak.ops_per_s);
            let peak_cell = format!(
                "{:.0} ({}, {:.1})",
                peak.ops_per_s, peak.clients, peak.all.p99_ms
            );
            match best.bounded {
                Some(s) => {
                    rates.insert(label, s.ops_per_s);
                    let _ = writeln!(
                        md,
                        "| {label} | {round} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.3} | {:.1} | {:.0} ({:.0}) | {} | {peak_cell} |",
                        s.clients,
                        s.ops_per_s,
                        s.all.p50_ms,
                        s.all.p99_ms,
                        s.all.p999_ms,
                        s.server_cpu_s_per_1k_ops,
                        s.events_per_op().0,
                        s.server_rss_mib,
                        s.server_peak_rss_mib,
                        if conserved { "yes" } else { "NO" },
                    );
                }
                None => {
                    rates.insert(label, 0.0);
                    let _ = writeln!(
                        md,
                        "| {label} | {round} | – | none | – | – | – | {:.3} | {:.1} | {:.0} ({:.0}) | {} | {peak_cell} |",
                        peak.server_cpu_s_per_1k_ops,
                        peak.events_per_op().0,
                        peak.server_rss_mib,
                        peak.server_peak_rss_mib,
                        if conserved { "yes" } else { "NO" },
                    );
                }
            }
        }
        json_rounds.push(serde_json::json!({
            "round": round, "ops_per_s_at_p99_bound": rates, "peak_ops_per_s": peaks,
        }));
    }
    let _ = writeln!(md);
    let mut json_ratios = Vec::new();
    for round in &json_rounds {
        for (metric, key) in [
            (
                format!("ops/s at p99 ≤ {P99_BOUND_MS} ms"),
                "ops_per_s_at_p99_bound",
            ),
            ("peak ops/s".to_owned(), "peak_ops_per_s"),
        ] {
            let Some(rates) = round[key].as_object() else {
                continue;
            };
            for (label, canopy) in rates.iter().filter(|(l, _)| l.starts_with("canopy")) {
                let canopy = canopy.as_f64().unwrap_or(0.0);
                for peer in PEERS {
                    let Some(redis) = rates.get(peer).and_then(serde_json::Value::as_f64) else {
                        continue;
                    };
                    let ratio = if redis > 0.0 {
                        canopy / redis
                    } else {
                        f64::NAN
                    };
                    let _ = writeln!(
                        md,
                        "round {}: {label} / {peer} = {ratio:.2} ({canopy:.0} / {redis:.0} {metric})",
                        round["round"]
                    );
                    json_ratios.push(serde_json::json!({
                        "round": round["round"], "metric": key, "canopy": label, "peer": peer,
                        "ratio": ratio, "canopy_ops_per_s": canopy, "peer_ops_per_s": redis,
                    }));
                }
            }
        }
    }
    let _ = writeln!(md, "\nEvery step:\n");
    let _ = writeln!(
        md,
        "| setup | round | online | clients | ops/s | p50 ms | p99 ms | p99.9 ms | refused % | server CPU s / 1k ops (gateway + redis) | client CPU s / 1k ops | events / op (watch pushes) | RSS MiB | conserved |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for s in results {
        let (events, stealable) = s.events_per_op();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.3} | {events:.2} ({stealable:.2}) | {:.0} | {} |",
            s.label,
            s.round,
            s.online,
            s.clients,
            s.ops_per_s,
            s.all.p50_ms,
            s.all.p99_ms,
            s.all.p999_ms,
            100.0 * s.all.refused as f64 / (s.all.count.max(1)) as f64,
            cpu_cell(s),
            s.client_cpu_s_per_1k_ops,
            s.server_rss_mib,
            if s.conservation.balanced { "yes" } else { "NO" },
        );
    }
    let json = serde_json::json!({
        "p99_bound_ms": P99_BOUND_MS,
        "rounds": json_rounds,
        "ratios": json_ratios,
    });
    (md, json)
}
