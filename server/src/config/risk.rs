//! `[risk]`: the real-time risk rules (docs/RISK.md). Hot: a reload replaces every
//! threshold and decision at once, and a refused reload keeps the old ones.
//!
//! Windows, counts and decisions are read as signed numbers and strings and checked
//! here, so a negative window or an unknown decision is refused with its field named
//! (an unknown rule id is refused by the parser, which names the key).

use super::{ConfigError, check};
use canopy_shared::risk::Decision;
use serde::Deserialize;

/// `[risk]`: the switch for every rule and each rule's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Every rule at once (`CANOPY_RISK__ENABLED=false` for tests and replays).
    pub enabled: bool,
    /// A walk report implying more steps per second than a person walks.
    pub steps_rate: StepsRate,
    /// Many steps reported before early morning.
    pub steps_early: StepsEarly,
    /// Steals that land too soon after a ball ripens or a cover ends.
    pub steal_reaction: StealReaction,
    /// One player taking from nearly every ripe ball of their friends.
    pub steal_coverage: StealCoverage,
    /// More partner actions of one kind than the kind's cap allows.
    pub partner_velocity: PartnerVelocity,
    /// Many new or empty accounts watering one player.
    pub water_funnel: WaterFunnel,
    /// The graph signals, computed off the game thread.
    pub graph: GraphSettings,
    /// Energy rain taps too precise or too regular for a person, over several rounds.
    /// Absent from config files written before the rain: those get the embedded default.
    #[serde(default)]
    pub rain_precision: RainPrecision,
}

/// `[risk.rain_precision]`: over a player's last `rounds` energy rain rounds (with at
/// least `min_taps` taps among them), a share of balls caught of `max_catch_share` or
/// more, or reaction times (tap − appearance) spread less than `min_reaction_spread_ms`
/// (standard deviation).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RainPrecision {
    pub enabled: bool,
    pub decision: String,
    pub rounds: i64,
    pub min_taps: i64,
    pub max_catch_share: f64,
    pub min_reaction_spread_ms: f64,
}

impl Default for RainPrecision {
    /// The embedded default's `[risk.rain_precision]`.
    fn default() -> Self {
        toml::from_str::<toml::Table>(super::DEFAULT_CONFIG)
            .ok()
            .and_then(|mut table| table.remove("risk"))
            .and_then(|risk| risk.get("rain_precision").cloned())
            .and_then(|rule| RainPrecision::deserialize(rule).ok())
            .expect("the embedded default config has a valid [risk.rain_precision]")
    }
}

/// `[risk.graph]`: the graph analysis (`ring`, `dense_block`, `new_account_star`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct GraphSettings {
    pub enabled: bool,
    pub decision: String,
    pub interval_secs: i64,
    pub window_secs: i64,
    pub min_ring_size: i64,
    pub min_block_givers: i64,
    pub max_block_receivers: i64,
    pub max_blocks: i64,
    pub min_star_givers: i64,
    pub new_share: f64,
}

/// Every rule has `enabled` (whether it runs, under `risk.enabled`) and `decision`
/// (`allow`, `review`, `hold` or `deny`, checked at load).
macro_rules! rule_switch {
    ($($rule:ident),*) => {$(
        impl $rule {
            /// The decision, or `None` when the rule is off. Only a validated config is
            /// ever in force, so the name parses.
            pub fn decision(&self) -> Option<Decision> {
                self.enabled.then(|| {
                    Decision::parse(&self.decision).expect("risk decisions are validated at load")
                })
            }
        }
    )*};
}

rule_switch!(
    StepsRate,
    StepsEarly,
    StealReaction,
    StealCoverage,
    PartnerVelocity,
    WaterFunnel,
    GraphSettings,
    RainPrecision
);

/// `[risk.steps_rate]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StepsRate {
    pub enabled: bool,
    pub decision: String,
    pub max_steps_per_second: f64,
}

/// `[risk.steps_early]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StepsEarly {
    pub enabled: bool,
    pub decision: String,
    pub max_steps: i64,
    pub before_hour: i64,
}

/// `[risk.steal_reaction]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StealReaction {
    pub enabled: bool,
    pub decision: String,
    pub median_below_ms: i64,
    pub last_steals: i64,
}

/// `[risk.steal_coverage]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StealCoverage {
    pub enabled: bool,
    pub decision: String,
    pub max_share: f64,
    pub window_secs: i64,
    pub min_balls: i64,
}

/// `[risk.partner_velocity]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PartnerVelocity {
    pub enabled: bool,
    pub decision: String,
}

/// `[risk.water_funnel]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct WaterFunnel {
    pub enabled: bool,
    pub decision: String,
    pub max_givers: i64,
    pub window_secs: i64,
    pub suspicious_share: f64,
    pub new_account_days: i64,
}

impl RiskConfig {
    /// Refuses a setting out of range, naming it.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let decisions = [
            ("steps_rate", &self.steps_rate.decision),
            ("steps_early", &self.steps_early.decision),
            ("steal_reaction", &self.steal_reaction.decision),
            ("steal_coverage", &self.steal_coverage.decision),
            ("partner_velocity", &self.partner_velocity.decision),
            ("water_funnel", &self.water_funnel.decision),
            ("graph", &self.graph.decision),
            ("rain_precision", &self.rain_precision.decision),
        ];
        for (rule, decision) in decisions {
            check(
                &format!("risk.{rule}.decision"),
                Decision::parse(decision).is_some(),
                &format!("`{decision}` is not a decision; use allow, review, hold or deny"),
            )?;
        }
        for (field, window) in [
            (
                "risk.steal_coverage.window_secs",
                self.steal_coverage.window_secs,
            ),
            (
                "risk.water_funnel.window_secs",
                self.water_funnel.window_secs,
            ),
            ("risk.graph.window_secs", self.graph.window_secs),
            ("risk.graph.interval_secs", self.graph.interval_secs),
        ] {
            check(
                field,
                window > 0,
                "a window must be a positive number of seconds",
            )?;
        }
        for (field, count) in [
            ("risk.steps_early.max_steps", self.steps_early.max_steps),
            (
                "risk.steal_reaction.median_below_ms",
                self.steal_reaction.median_below_ms,
            ),
            (
                "risk.steal_reaction.last_steals",
                self.steal_reaction.last_steals,
            ),
            (
                "risk.steal_coverage.min_balls",
                self.steal_coverage.min_balls,
            ),
            ("risk.water_funnel.max_givers", self.water_funnel.max_givers),
            (
                "risk.water_funnel.new_account_days",
                self.water_funnel.new_account_days,
            ),
            ("risk.graph.min_ring_size", self.graph.min_ring_size),
            ("risk.graph.min_block_givers", self.graph.min_block_givers),
            (
                "risk.graph.max_block_receivers",
                self.graph.max_block_receivers,
            ),
            ("risk.graph.max_blocks", self.graph.max_blocks),
            ("risk.graph.min_star_givers", self.graph.min_star_givers),
            ("risk.rain_precision.rounds", self.rain_precision.rounds),
            ("risk.rain_precision.min_taps", self.rain_precision.min_taps),
        ] {
            check(field, count > 0, "must be positive")?;
        }
        check(
            "risk.graph.decision",
            matches!(
                Decision::parse(&self.graph.decision),
                Some(Decision::Allow | Decision::Review)
            ),
            "must be allow or review: a graph finding has no action to hold or deny",
        )?;
        check(
            "risk.rain_precision.decision",
            matches!(
                Decision::parse(&self.rain_precision.decision),
                Some(Decision::Allow | Decision::Review)
            ),
            "must be allow or review: a settled round has nothing left to hold or deny",
        )?;
        check(
            "risk.rain_precision.min_reaction_spread_ms",
            self.rain_precision.min_reaction_spread_ms >= 0.0,
            "must not be negative",
        )?;
        check(
            "risk.steps_rate.max_steps_per_second",
            self.steps_rate.max_steps_per_second > 0.0,
            "must be positive",
        )?;
        check(
            "risk.steps_early.before_hour",
            (1..=23).contains(&self.steps_early.before_hour),
            "must be 1–23",
        )?;
        for (field, share) in [
            (
                "risk.steal_coverage.max_share",
                self.steal_coverage.max_share,
            ),
            (
                "risk.water_funnel.suspicious_share",
                self.water_funnel.suspicious_share,
            ),
            ("risk.graph.new_share", self.graph.new_share),
            (
                "risk.rain_precision.max_catch_share",
                self.rain_precision.max_catch_share,
            ),
        ] {
            check(field, (0.0..=1.0).contains(&share), "must be within 0–1")?;
        }
        Ok(())
    }
}
