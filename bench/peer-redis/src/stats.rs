//! Latency histograms and counts, per op and overall, for one measured step.

use crate::ops::{OP_NAMES, Outcome, RULE_REFUSALS};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies are recorded in microseconds, up to a minute, at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("the bounds are valid constants")
}

/// Counts and latencies of one op (or of all).
#[derive(Clone)]
pub struct OpStats {
    latency: Histogram<u64>,
    /// Successful replies.
    pub done: u64,
    /// Refusals by code.
    pub refused: BTreeMap<String, u64>,
    /// Requests without a reply, by reason.
    pub failed: BTreeMap<String, u64>,
}

impl Default for OpStats {
    fn default() -> Self {
        Self {
            latency: histogram(),
            done: 0,
            refused: BTreeMap::new(),
            failed: BTreeMap::new(),
        }
    }
}

impl OpStats {
    fn record(&mut self, latency: Duration, outcome: &Outcome) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
        match outcome {
            Outcome::Done(_) => self.done += 1,
            Outcome::Refused(code) => *self.refused.entry(code.clone()).or_default() += 1,
            Outcome::Failed(why) => *self.failed.entry(why.clone()).or_default() += 1,
        }
    }

    fn merge(&mut self, other: &Self) {
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
        self.done += other.done;
        for (code, n) in &other.refused {
            *self.refused.entry(code.clone()).or_default() += n;
        }
        for (why, n) in &other.failed {
            *self.failed.entry(why.clone()).or_default() += n;
        }
    }

    /// The summary written to the report.
    pub fn summary(&self) -> OpSummary {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let refused: u64 = self.refused.values().sum();
        let expected: u64 = self
            .refused
            .iter()
            .filter(|(code, _)| RULE_REFUSALS.contains(&code.as_str()))
            .map(|(_, n)| n)
            .sum();
        OpSummary {
            count: self.latency.len(),
            done: self.done,
            refused,
            unexpected_refusals: refused - expected,
            failed: self.failed.values().sum(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.latency.max() as f64 / 1000.0,
        }
    }
}

/// An op's (or the step's) numbers in the report.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct OpSummary {
    /// Replies and failures counted.
    pub count: u64,
    /// Successes.
    pub done: u64,
    /// Refusals (rule refusals and others).
    pub refused: u64,
    /// Refusals with a code the rules do not call for here.
    pub unexpected_refusals: u64,
    /// No reply.
    pub failed: u64,
    /// Latency percentiles and maximum, ms.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// One logical client's numbers; merged at the end of the step.
#[derive(Clone, Default)]
pub struct Stats {
    per_op: [OpStats; OP_NAMES.len()],
}

impl Stats {
    /// Records one op's latency and outcome.
    pub fn record(&mut self, op_index: usize, latency: Duration, outcome: &Outcome) {
        self.per_op[op_index].record(latency, outcome);
    }

    /// Adds another client's numbers.
    pub fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.per_op.iter_mut().zip(&other.per_op) {
            mine.merge(theirs);
        }
    }

    /// All ops together.
    pub fn total(&self) -> OpStats {
        let mut all = OpStats::default();
        for op in &self.per_op {
            all.merge(op);
        }
        all
    }

    /// Per op, by name.
    pub fn per_op(&self) -> BTreeMap<&'static str, OpSummary> {
        OP_NAMES
            .iter()
            .zip(&self.per_op)
            .map(|(name, op)| (*name, op.summary()))
            .collect()
    }
}
