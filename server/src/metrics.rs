//! Prometheus metrics, shared by the game thread, the network tasks and the ops surface.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a command counter: the op and its result (`ok` or an error code).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// The op's wire name.
    pub op: String,
    /// `ok` or the error code.
    pub result: String,
}

/// Labels of the ledger gauge: which flow.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    /// `created`, `collected`, `expired`, ...
    pub flow: String,
}

/// Labels of the refused-registration counter: which limit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegistrationLabels {
    /// `rate` or `daily_cap`.
    pub reason: String,
}

/// Labels of the risk flag counter: the rule and the decision it took.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RiskLabels {
    /// The rule or signal id.
    pub rule: String,
    /// `review`, `hold` or `deny`.
    pub decision: String,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Time spent in one tick, commit included.
    pub tick_seconds: Histogram,
    /// Commands applied, by op and result.
    pub commands: Family<CommandLabels, Counter>,
    /// Open WebSocket sessions.
    pub sessions: Gauge,
    /// Sessions disconnected for not reading their frames (outbox full or a write past
    /// its deadline).
    pub outbox_drops: Counter,
    /// Records per committed batch.
    pub batch_records: Histogram,
    /// Time of one commit (write + flush).
    pub flush_seconds: Histogram,
    /// Ledger totals by flow, in grams.
    pub ledger_grams: Family<FlowLabels, Gauge>,
    /// Vitality points ever earned and spent.
    pub vitality_points: Family<FlowLabels, Gauge>,
    /// Requests refused by the rate limit.
    pub rate_limited: Counter,
    /// Requests refused because the command queue was full.
    pub overloaded: Counter,
    /// `register` requests refused by the per-source limits, by limit.
    pub registrations_refused: Family<RegistrationLabels, Counter>,
    /// 1 while the store has failed and changes are refused.
    pub store_failed: Gauge,
    /// Game time in milliseconds.
    pub game_time_ms: Gauge,
    /// Risk rules tripped (a new flag or another hit on an open one), by rule and
    /// decision.
    pub risk_flags: Family<RiskLabels, Counter>,
    /// Grams held under open risk flags.
    pub risk_held_grams: Gauge,
    /// Grams forfeited under confirmed risk flags.
    pub risk_forfeited_grams: Gauge,
    /// Time of one graph analysis.
    pub risk_graph_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("canopy");
        let metrics = Self {
            tick_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            commands: Family::default(),
            sessions: Gauge::default(),
            outbox_drops: Counter::default(),
            batch_records: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            flush_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            ledger_grams: Family::default(),
            vitality_points: Family::default(),
            rate_limited: Counter::default(),
            overloaded: Counter::default(),
            registrations_refused: Family::default(),
            store_failed: Gauge::default(),
            game_time_ms: Gauge::default(),
            risk_flags: Family::default(),
            risk_held_grams: Gauge::default(),
            risk_forfeited_grams: Gauge::default(),
            risk_graph_seconds: Histogram::new(exponential_buckets(0.001, 4.0, 10)),
            registry: Registry::default(),
        };
        registry.register(
            "tick_duration_seconds",
            "Time of one game tick",
            metrics.tick_seconds.clone(),
        );
        registry.register(
            "commands",
            "Commands applied by op and result",
            metrics.commands.clone(),
        );
        registry.register(
            "sessions",
            "Open WebSocket sessions",
            metrics.sessions.clone(),
        );
        registry.register(
            "outbox_drops",
            "Sessions dropped for not reading",
            metrics.outbox_drops.clone(),
        );
        registry.register(
            "store_batch_records",
            "Records per tick batch",
            metrics.batch_records.clone(),
        );
        registry.register(
            "store_flush_seconds",
            "Time of one batch write and flush",
            metrics.flush_seconds.clone(),
        );
        registry.register(
            "ledger_grams",
            "Ledger totals by flow",
            metrics.ledger_grams.clone(),
        );
        registry.register(
            "vitality_points",
            "Vitality points ever earned and spent",
            metrics.vitality_points.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by the rate limit",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "registrations_refused",
            "register requests refused by the per-source limits, by limit",
            metrics.registrations_refused.clone(),
        );
        registry.register(
            "overloaded",
            "Requests refused with a full queue",
            metrics.overloaded.clone(),
        );
        registry.register(
            "store_failed",
            "1 when the store failed",
            metrics.store_failed.clone(),
        );
        registry.register(
            "game_time_ms",
            "The game clock",
            metrics.game_time_ms.clone(),
        );
        registry.register(
            "risk_flags",
            "Risk rules tripped by rule and decision",
            metrics.risk_flags.clone(),
        );
        registry.register(
            "risk_held_grams",
            "Grams held under open risk flags",
            metrics.risk_held_grams.clone(),
        );
        registry.register(
            "risk_forfeited_grams",
            "Grams forfeited under confirmed risk flags",
            metrics.risk_forfeited_grams.clone(),
        );
        registry.register(
            "risk_graph_duration_seconds",
            "Time of one risk graph analysis",
            metrics.risk_graph_seconds.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts a `register` refused by the per-source limit `reason`.
    pub fn count_refused_registration(&self, reason: &str) {
        self.registrations_refused
            .get_or_create(&RegistrationLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a tick's command results, one label lookup per distinct (op, result)
    /// rather than one per command.
    pub fn count_commands(&self, results: &[(&'static str, &'static str)]) {
        let mut counts: std::collections::HashMap<(&str, &str), u64> =
            std::collections::HashMap::new();
        for &pair in results {
            *counts.entry(pair).or_default() += 1;
        }
        for ((op, result), count) in counts {
            self.commands
                .get_or_create(&CommandLabels {
                    op: op.to_owned(),
                    result: result.to_owned(),
                })
                .inc_by(count);
        }
    }

    /// Counts the risk rules a batch tripped and sets the held and forfeited gauges.
    pub fn set_risk(
        &self,
        trips: &[(&'static str, canopy_shared::risk::Decision)],
        held: u64,
        forfeited: u64,
    ) {
        for &(rule, decision) in trips {
            self.risk_flags
                .get_or_create(&RiskLabels {
                    rule: rule.to_owned(),
                    decision: decision.as_str().to_owned(),
                })
                .inc();
        }
        self.risk_held_grams.set(held as i64);
        self.risk_forfeited_grams.set(forfeited as i64);
    }

    /// Sets the ledger gauges from the totals, the grams the energy rain credited and
    /// the grams friends revived, and the vitality gauges.
    pub fn set_ledger(
        &self,
        totals: &crate::store::LedgerTotals,
        rained: u64,
        revived: u64,
        vitality: &crate::store::VitalityTotals,
    ) {
        for (flow, points) in [("earned", vitality.earned), ("spent", vitality.spent)] {
            self.vitality_points
                .get_or_create(&FlowLabels {
                    flow: flow.to_owned(),
                })
                .set(points as i64);
        }
        for (flow, grams) in [
            ("rained", rained),
            ("revived", revived),
            ("created", totals.created),
            ("collected", totals.collected),
            ("stolen", totals.stolen),
            ("helped", totals.helped),
            ("watered", totals.watered),
            ("expired", totals.expired),
            ("planted", totals.planted),
            ("in_team_trees", totals.in_team_trees),
        ] {
            self.ledger_grams
                .get_or_create(&FlowLabels {
                    flow: flow.to_owned(),
                })
                .set(grams as i64);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing metrics into a String cannot fail");
        text
    }
}
