//! The final report: human text by default, the same as JSON with `--report FILE` (or
//! `--json`). The JSON shape is documented in docs/LOAD-TESTING.md and kept stable:
//! fields may be added, never renamed.

use crate::bots::mix::{Action, Mix};
use crate::bots::plan::OPS;
use crate::bots::settle::Settled;
use crate::bots::stats::{FaultTally, OpTally, RainTally, Tally};
use crate::bots::writes::{WRITE_OPS, WriteCount, WriteTally};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How the run was asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigReport {
    /// Bots, one player each.
    pub players: usize,
    /// Friends asked for each player.
    pub friends_per_player: usize,
    /// The run's asked length in seconds (setup not included).
    pub duration_s: f64,
    /// Action weights.
    pub mix: BTreeMap<String, u32>,
    /// `open` (with `rate`) or `closed`.
    pub mode: String,
    /// Target requests per second over all bots (open loop), else `null`.
    pub rate: Option<f64>,
    /// The client-side cap per bot in requests per second (0: none).
    pub bot_max_rate: f64,
    /// The seed of the friend graph and the bots' choices.
    pub seed: u64,
    /// The game socket.
    pub server: String,
    /// The ops HTTP.
    pub ops: String,
    /// With `--generated-world N`: the bots logged in as players of a generated world of
    /// `N` players instead of registering their own.
    #[serde(default)]
    pub generated_world: Option<u64>,
    /// With `--cheaters N`: cheater accounts of each kind of `cheat`.
    #[serde(default)]
    pub cheaters: usize,
    /// The kinds of cheater asked for (`all` expanded).
    #[serde(default)]
    pub cheat: Vec<String>,
    /// With `--rain N`: bots of `players` that play the energy rain instead of the mix.
    #[serde(default)]
    pub rain: usize,
}

/// What setup built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetupReport {
    /// How long setup took.
    pub seconds: f64,
    /// Players registered.
    pub players: usize,
    /// Friendships made (each is a request and an accept).
    pub friendships: usize,
    /// Mean friends per player.
    pub mean_friends: f64,
    /// Partner actions credited through `POST /admin/actions`.
    pub partner_actions: usize,
    /// Walk reports through `record_action`.
    pub walks: usize,
    /// Grams credited per player (in balls).
    pub grams_per_player: u64,
    /// `manual`, `wall`, or `unknown` when the ops HTTP could not say.
    pub clock: String,
    /// How far setup moved a manual clock, in ms.
    pub clock_advanced_ms: Option<u64>,
    /// The game clock when the run started (ms since the epoch).
    pub game_time: u64,
    /// Ripe balls the bots held when the run started.
    pub ripe_balls: usize,
    /// In a cluster: where the bots' sessions are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterPlacement>,
}

/// Where the bots of a cluster run play.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPlacement {
    /// How many shards.
    pub shards: usize,
    /// Bots whose player each shard holds.
    pub bots_per_shard: std::collections::BTreeMap<u64, usize>,
    /// Logins answered `WRONG_SHARD` at `--server` and followed to the player's shard.
    pub redirected_logins: usize,
    /// Sessions on a shard that does not hold their player (0 unless a redirect failed).
    pub away_from_home: usize,
    /// Friendships between the bots whose two players live on different shards.
    #[serde(default)]
    pub cross_shard_friendships: usize,
}

/// One op's numbers; latencies are in milliseconds, 0 when the op never ran.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpReport {
    /// Replies.
    pub count: u64,
    /// Error replies among them.
    pub errors: u64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl OpReport {
    fn from_tally(tally: &OpTally) -> Self {
        let ms = |micros: u64| micros as f64 / 1_000.0;
        let at = |quantile: f64| {
            if tally.count == 0 {
                0.0
            } else {
                ms(tally.latency.value_at_quantile(quantile))
            }
        };
        Self {
            count: tally.count,
            errors: tally.errors,
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: if tally.count == 0 {
                0.0
            } else {
                ms(tally.latency.max())
            },
        }
    }
}

/// Writes of one op (see `writes.rs` for what counts).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteOpReport {
    /// Writes sent, probes not included.
    pub attempted: u64,
    /// Writes that moved energy.
    pub succeeded: u64,
    /// `succeeded / attempted`, `null` when nothing was attempted.
    pub share: Option<f64>,
}

impl WriteOpReport {
    fn from_count(count: WriteCount) -> Self {
        Self {
            attempted: count.attempted,
            succeeded: count.succeeded,
            share: count.share().map(round4),
        }
    }
}

/// The writes of the run: whether it kept doing real work.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WritesReport {
    /// Writes sent (`collect`, `collect_all`, `steal`, `water`), probes not included.
    pub attempted: u64,
    /// Writes that moved energy: an `ok` collect, steal or water, a `collect_all` that
    /// picked a ball.
    pub succeeded: u64,
    /// `succeeded / attempted`, `null` when nothing was attempted.
    pub share: Option<f64>,
    /// `succeeded / duration_s`: successful durable writes a second.
    pub succeeded_per_s: f64,
    /// Requests sent to be refused (not in the share).
    pub probes: u64,
    /// By op, every write op.
    pub per_op: BTreeMap<String, WriteOpReport>,
}

impl WritesReport {
    fn new(tally: &WriteTally, duration_s: f64) -> Self {
        let total = tally.total();
        Self {
            attempted: total.attempted,
            succeeded: total.succeeded,
            share: total.share().map(round4),
            succeeded_per_s: if duration_s > 0.0 {
                round3(total.succeeded as f64 / duration_s)
            } else {
                0.0
            },
            probes: tally.probes,
            per_op: tally
                .per_op
                .iter()
                .map(|(op, count)| ((*op).to_owned(), WriteOpReport::from_count(*count)))
                .collect(),
        }
    }

    /// The report's one line.
    fn to_text(&self) -> String {
        let percent = |share: Option<f64>| match share {
            Some(share) => format!("{:.1} %", share * 100.0),
            None => "none sent".to_owned(),
        };
        let ops: Vec<String> = WRITE_OPS
            .iter()
            .filter_map(|op| {
                let r = self.per_op.get(*op)?;
                Some(format!(
                    "{op} {}/{} ({})",
                    r.succeeded,
                    r.attempted,
                    percent(r.share)
                ))
            })
            .collect();
        format!(
            "writes: {} of {} succeeded ({}), {:.1}/s; {}; {} probes not counted",
            self.succeeded,
            self.attempted,
            percent(self.share),
            self.succeeded_per_s,
            ops.join(", "),
            self.probes
        )
    }
}

/// One violation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationReport {
    /// The check's name (`steal_over_share`, ...).
    pub check: String,
    /// The op whose reply broke it.
    pub op: String,
    /// The bot's player id.
    pub player: u64,
    /// What was seen.
    pub description: String,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// How the run was asked for.
    pub config: ConfigReport,
    /// What setup built.
    pub setup: SetupReport,
    /// The run's measured length in seconds, from the first request to the last reply.
    pub duration_s: f64,
    /// Replies received in the run.
    pub ops: u64,
    /// `ops / duration_s`.
    pub ops_per_s: f64,
    /// Every op together: replies, error replies and latency percentiles.
    #[serde(default)]
    pub overall: OpReport,
    /// By op: `collect`, `collect_all`, `steal`, `friend_balls`, `water`, `me`,
    /// `friends`, `leaderboard`, `feed` (always all of them).
    pub per_op: BTreeMap<String, OpReport>,
    /// Writes sent and those that succeeded, in total and by op.
    #[serde(default)]
    pub writes: WritesReport,
    /// Error replies by code, expected or not.
    pub errors: BTreeMap<String, u64>,
    /// Error replies that are rule refusals (`NOT_RIPE`, `GONE`, `ALREADY_STOLEN`,
    /// `NOTHING_LEFT`, `LIMIT_REACHED`, `INSUFFICIENT_ENERGY`, `PROTECTED`).
    pub expected_errors: u64,
    /// Error replies that are not, by code (`OVERLOADED`, `INTERNAL`, `BAD_REQUEST`, ...).
    pub unexpected_errors: BTreeMap<String, u64>,
    /// Requests that got no reply (timeout, connection lost).
    pub transport_errors: u64,
    /// Bots whose connection ended before the run did.
    pub disconnected_bots: u64,
    /// Events received in the run, by kind.
    pub events: BTreeMap<String, u64>,
    /// The first violations (at most 100), described.
    pub violations: Vec<ViolationReport>,
    /// All violations by check.
    pub violations_by_check: BTreeMap<String, u64>,
    /// All violations.
    pub violation_count: u64,
    /// Remarks: how the world was set up, what could not be done.
    pub notes: Vec<String>,
    /// With `--cheaters`: what the risk engine caught, rule by rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<crate::bots::cheaters::RiskReport>,
    /// With `--rain`: the energy rain rounds the rain bots saw settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rain: Option<RainTally>,
    /// What faults did: `SHARD_TIMEOUT` replies, requests left unanswered and
    /// reconnections (with `--reconnect`).
    #[serde(default)]
    pub faults: FaultTally,
    /// With `--reconnect`: every bot's acknowledged changes checked after the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<Settled>,
}

impl Report {
    /// Assembles the report from what the run counted.
    pub fn new(
        config: ConfigReport,
        setup: SetupReport,
        duration_s: f64,
        tally: &Tally,
        mut notes: Vec<String>,
    ) -> Self {
        let ops: u64 = tally.per_op.values().map(|op| op.count).sum();
        notes.extend(tally.transport_samples.iter().cloned());
        let rain = (config.rain > 0).then_some(tally.rain);
        Self {
            config,
            setup,
            duration_s: round3(duration_s),
            ops,
            ops_per_s: if duration_s > 0.0 {
                round3(ops as f64 / duration_s)
            } else {
                0.0
            },
            overall: OpReport::from_tally(&overall(tally)),
            per_op: tally
                .per_op
                .iter()
                .map(|(op, tally)| ((*op).to_owned(), OpReport::from_tally(tally)))
                .collect(),
            writes: WritesReport::new(&tally.writes, duration_s),
            errors: owned(&tally.errors),
            expected_errors: tally.expected,
            unexpected_errors: owned(&tally.unexpected),
            transport_errors: tally.transport_errors,
            disconnected_bots: tally.disconnected,
            events: tally.events.clone(),
            violations: tally
                .violations
                .iter()
                .map(|seen| ViolationReport {
                    check: seen.violation.check.name().to_owned(),
                    op: seen.op.to_owned(),
                    player: seen.player.0,
                    description: seen.violation.description.clone(),
                })
                .collect(),
            violations_by_check: owned(&tally.violations_by_check),
            violation_count: tally.violation_count,
            notes,
            risk: None,
            rain,
            faults: tally.faults,
            settled: None,
        }
    }

    /// Whether the run found nothing wrong: no violations, no unexpected errors, every
    /// request answered (or, through faults, every acknowledged change there after it).
    pub fn is_clean(&self) -> bool {
        self.violation_count == 0
            && self.unexpected_errors.is_empty()
            && self.transport_errors == 0
            && self.settled.as_ref().is_none_or(Settled::is_clean)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report is plain numbers, strings and maps")
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let c = &self.config;
        let mode = match c.rate {
            Some(rate) => format!("open loop at {rate} req/s"),
            None => "closed loop".to_owned(),
        };
        let players = match c.generated_world {
            Some(world) => format!("{} players of a generated world of {world}", c.players),
            None => format!(
                "{} players, {} friends each",
                c.players, c.friends_per_player
            ),
        };
        let _ = writeln!(
            out,
            "canopy bots: {players}, mix {}, {mode}, seed {}",
            mix_text(&c.mix),
            c.seed
        );
        let s = &self.setup;
        let clock = match s.clock_advanced_ms {
            Some(ms) => format!("manual clock moved {} h", ms / 3_600_000),
            None => format!("{} clock", s.clock),
        };
        let _ = writeln!(
            out,
            "setup: {:.1} s; {} friendships ({:.1} per player); {} partner actions, {} walks, \
             {} g per player; {clock}; {} ripe balls",
            s.seconds,
            s.friendships,
            s.mean_friends,
            s.partner_actions,
            s.walks,
            s.grams_per_player,
            s.ripe_balls
        );
        if let Some(cluster) = &s.cluster {
            let per_shard: Vec<String> = cluster
                .bots_per_shard
                .iter()
                .map(|(shard, bots)| format!("shard {shard}: {bots}"))
                .collect();
            let _ = writeln!(
                out,
                "cluster: {} shards, bots {}; {} logins redirected home, {} sessions away \
                 from home",
                cluster.shards,
                per_shard.join(", "),
                cluster.redirected_logins,
                cluster.away_from_home
            );
        }
        let _ = writeln!(
            out,
            "run: {:.1} s, {} ops, {:.1} ops/s\n",
            self.duration_s, self.ops, self.ops_per_s
        );
        let _ = writeln!(
            out,
            "{:<13}{:>9}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "op", "count", "errors", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        );
        let others = self
            .per_op
            .keys()
            .map(String::as_str)
            .filter(|op| !OPS.contains(op));
        for (op, r) in OPS
            .iter()
            .copied()
            .chain(others)
            .filter_map(|op| self.per_op.get(op).map(|r| (op, r)))
        {
            let _ = writeln!(
                out,
                "{op:<13}{:>9}{:>9}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
                r.count, r.errors, r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms
            );
        }
        let r = &self.overall;
        let _ = writeln!(
            out,
            "{:<13}{:>9}{:>9}{:>10.2}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
            "all", r.count, r.errors, r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.writes.to_text());
        let _ = writeln!(
            out,
            "errors: {} ({} expected rule refusals)",
            counts_text(&self.errors),
            self.expected_errors
        );
        let _ = writeln!(
            out,
            "unexpected errors: {}",
            counts_text(&self.unexpected_errors)
        );
        if self.transport_errors > 0 || self.disconnected_bots > 0 {
            let _ = writeln!(
                out,
                "unanswered requests: {}; bots disconnected: {}",
                self.transport_errors, self.disconnected_bots
            );
        }
        let f = &self.faults;
        if f.shard_timeouts + f.unanswered + f.reconnects > 0 || self.settled.is_some() {
            let _ = writeln!(
                out,
                "faults: {} SHARD_TIMEOUT replies, {} requests unanswered (in doubt), {} \
                 reconnections",
                f.shard_timeouts, f.unanswered, f.reconnects
            );
        }
        if let Some(settled) = &self.settled {
            let audit = match settled.audit_balanced {
                Some(true) => "the cluster audit balanced",
                Some(false) => "the cluster audit NOT balanced",
                None => "one server",
            };
            let _ = writeln!(
                out,
                "settled: {} after {:.1} s, {audit}; {} balances checked ({} exact at the \
                 end), {} unchecked; {} ops in doubt credited {} g late",
                if settled.drained {
                    "no transfer in flight"
                } else {
                    "transfers STILL in flight"
                },
                settled.waited_ms as f64 / 1_000.0,
                settled.balances_checked,
                settled.balances_exact,
                settled.unchecked,
                settled.ops_in_doubt,
                settled.late_grams
            );
        }
        let _ = writeln!(out, "events: {}", counts_text(&self.events));
        let _ = writeln!(out, "violations: {}", self.violation_count);
        for (check, count) in &self.violations_by_check {
            let _ = writeln!(out, "  {check}: {count}");
        }
        for violation in self.violations.iter().take(10) {
            let _ = writeln!(
                out,
                "  - [{}] player #{} {}: {}",
                violation.check, violation.player, violation.op, violation.description
            );
        }
        if self.violations.len() > 10 {
            let _ = writeln!(out, "  ... (see --report for the first 100)");
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if let Some(risk) = &self.risk {
            let _ = writeln!(out, "{}", risk.to_text());
        }
        if let Some(rain) = &self.rain {
            let _ = writeln!(
                out,
                "rain: {} bots, {} rounds settled, {} of {} balls caught, {} g credited",
                c.rain, rain.rounds, rain.caught, rain.balls, rain.grams
            );
        }
        out.trim_end().to_owned()
    }
}

/// Every op's numbers merged into one.
fn overall(tally: &Tally) -> OpTally {
    let mut all = OpTally::new();
    for op in tally.per_op.values() {
        all.count += op.count;
        all.errors += op.errors;
        // Same bounds and precision: adding cannot fail.
        let _ = all.latency.add(&op.latency);
    }
    all
}

/// The mix as the report's map.
pub fn mix_map(mix: &Mix) -> BTreeMap<String, u32> {
    Action::ALL
        .iter()
        .map(|action| (action.name().to_owned(), mix.weight(*action)))
        .collect()
}

fn mix_text(mix: &BTreeMap<String, u32>) -> String {
    Action::ALL
        .iter()
        .map(|action| (action, mix.get(action.name()).copied().unwrap_or(0)))
        .filter(|(action, weight)| action.shown_at(*weight))
        .map(|(action, weight)| format!("{}={weight}", action.name()))
        .collect::<Vec<_>>()
        .join(",")
}

fn counts_text(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn owned(map: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn round3(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bots::checks::{ErrorClass, Judgement};
    use crate::bots::stats::Recorder;
    use crate::bots::writes::WriteOutcome;
    use canopy_shared::{ErrorCode, PlayerId};
    use serde_json::Value;
    use std::time::Duration;

    fn sample() -> Report {
        let recorder = Recorder::default();
        recorder.reply(
            "steal",
            PlayerId(3),
            Duration::from_micros(2_500),
            Judgement::default(),
        );
        recorder.reply(
            "water",
            PlayerId(3),
            Duration::from_millis(4),
            Judgement {
                error: Some((ErrorCode::LimitReached, ErrorClass::Expected)),
                violations: Vec::new(),
            },
        );
        let config = ConfigReport {
            players: 20,
            friends_per_player: 4,
            duration_s: 5.0,
            mix: mix_map(&Mix::default()),
            mode: "closed".into(),
            rate: None,
            bot_max_rate: 19.0,
            seed: 7,
            server: "ws://127.0.0.1:7878/ws".into(),
            ops: "http://127.0.0.1:7879".into(),
            generated_world: None,
            cheaters: 0,
            cheat: Vec::new(),
            rain: 0,
        };
        let setup = SetupReport {
            seconds: 1.25,
            players: 20,
            friendships: 40,
            mean_friends: 4.0,
            partner_actions: 100,
            walks: 0,
            grams_per_player: 526,
            clock: "manual".into(),
            clock_advanced_ms: Some(31 * 3_600_000),
            game_time: 1_795_647_600_000,
            ripe_balls: 100,
            cluster: None,
        };
        recorder.write("steal", WriteOutcome::Write { succeeded: true });
        recorder.write("water", WriteOutcome::Write { succeeded: false });
        recorder.write("collect", WriteOutcome::Probe);
        Report::new(config, setup, 2.0, &recorder.take(), Vec::new())
    }

    #[test]
    fn the_json_shape_is_stable() -> Result<(), serde_json::Error> {
        let report = sample();
        let value: Value = serde_json::from_str(&report.to_json())?;
        for key in [
            "config",
            "setup",
            "duration_s",
            "ops",
            "ops_per_s",
            "overall",
            "per_op",
            "writes",
            "errors",
            "expected_errors",
            "unexpected_errors",
            "transport_errors",
            "disconnected_bots",
            "events",
            "violations",
            "violations_by_check",
            "violation_count",
            "notes",
        ] {
            assert!(value.get(key).is_some(), "the report lacks {key}");
        }
        for key in [
            "players",
            "friends_per_player",
            "duration_s",
            "mix",
            "mode",
            "rate",
            "seed",
        ] {
            assert!(value["config"].get(key).is_some(), "config lacks {key}");
        }
        assert_eq!(value["ops"], 2);
        assert_eq!(value["ops_per_s"], 1.0);
        assert_eq!(value["overall"]["count"], 2);
        assert_eq!(value["overall"]["errors"], 1);
        assert!((value["overall"]["max_ms"].as_f64().unwrap_or(0.0) - 4.0).abs() < 0.01);
        assert_eq!(value["config"]["mix"]["steal"], 30);
        let steal = &value["per_op"]["steal"];
        for key in [
            "count", "errors", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
        ] {
            assert!(steal.get(key).is_some(), "per_op.steal lacks {key}");
        }
        assert_eq!(steal["count"], 1);
        assert!((steal["p50_ms"].as_f64().unwrap_or(0.0) - 2.5).abs() < 0.01);
        assert_eq!(
            value["per_op"]["feed"]["count"], 0,
            "ops that never ran are listed"
        );
        assert_eq!(value["errors"]["LIMIT_REACHED"], 1);
        assert_eq!(value["expected_errors"], 1);
        assert_eq!(value["violation_count"], 0);
        let writes = &value["writes"];
        assert_eq!(writes["attempted"], 2);
        assert_eq!(writes["succeeded"], 1);
        assert_eq!(writes["share"], 0.5);
        assert_eq!(writes["succeeded_per_s"], 0.5);
        assert_eq!(writes["probes"], 1);
        assert_eq!(writes["per_op"]["steal"]["share"], 1.0);
        assert_eq!(writes["per_op"]["collect_all"]["attempted"], 0);
        assert_eq!(writes["per_op"]["collect_all"]["share"], Value::Null);
        let back: Report = serde_json::from_value(value)?;
        assert_eq!(back, report, "the JSON reads back into the same report");
        assert!(report.is_clean());
        Ok(())
    }

    #[test]
    fn the_text_names_every_op_and_the_totals() {
        let text = sample().to_text();
        for op in OPS {
            assert!(text.contains(op), "{op} missing:\n{text}");
        }
        assert!(text.contains("1.0 ops/s"), "{text}");
        assert!(text.contains("LIMIT_REACHED 1"), "{text}");
        assert!(text.contains("violations: 0"), "{text}");
        assert!(
            text.contains("writes: 1 of 2 succeeded (50.0 %), 0.5/s; collect 0/0 (none sent)"),
            "{text}"
        );
        assert!(text.contains("steal 1/1 (100.0 %)"), "{text}");
        assert!(text.contains("1 probes not counted"), "{text}");
        assert!(text.contains("manual clock moved 31 h"), "{text}");
    }
}
