//! What a run measured: per-op latency histograms, error counts by code, events by
//! kind and violations. Bounded whatever the run's length: fixed histograms, counters,
//! and only the first violations kept in full.

use crate::bots::checks::{ErrorClass, Judgement, Violation};
use crate::bots::plan::OPS;
use crate::bots::wire::Pushed;
use crate::bots::writes::{WriteOutcome, WriteTally};
use canopy_shared::PlayerId;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Violations kept with their description; later ones are only counted.
pub const VIOLATIONS_KEPT: usize = 100;
/// Transport failures kept with their description.
const TRANSPORT_KEPT: usize = 10;
/// Latencies are recorded in microseconds, from 1 µs to an hour, 3 significant digits.
const HIGHEST_MICROS: u64 = 3_600_000_000;

/// Counters the progress bar reads while the run goes.
#[derive(Debug, Default)]
pub struct Live {
    /// Replies received.
    pub ops: AtomicU64,
    /// Error replies and requests that got none.
    pub errors: AtomicU64,
    /// Violations found.
    pub violations: AtomicU64,
}

/// One op's numbers.
#[derive(Debug)]
pub struct OpTally {
    /// Replies received.
    pub count: u64,
    /// Error replies among them.
    pub errors: u64,
    /// Latency in µs.
    pub latency: Histogram<u64>,
}

impl OpTally {
    /// No replies yet.
    pub fn new() -> Self {
        Self {
            count: 0,
            errors: 0,
            latency: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .expect("1 µs to 1 h at 3 significant digits is a valid histogram"),
        }
    }
}

/// A violation with who saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenViolation {
    /// The op whose reply broke the rule (or `event`).
    pub op: &'static str,
    /// The bot's player.
    pub player: PlayerId,
    /// What was broken.
    pub violation: Violation,
}

/// Everything counted, behind the recorder's lock.
#[derive(Debug)]
pub struct Tally {
    /// By op name, every op of [`OPS`].
    pub per_op: BTreeMap<&'static str, OpTally>,
    /// Error replies by code.
    pub errors: BTreeMap<&'static str, u64>,
    /// Error replies counted as unexpected, by code.
    pub unexpected: BTreeMap<&'static str, u64>,
    /// Error replies counted as expected rule refusals.
    pub expected: u64,
    /// Events by kind.
    pub events: BTreeMap<String, u64>,
    /// The first violations.
    pub violations: Vec<SeenViolation>,
    /// Violations by check name.
    pub violations_by_check: BTreeMap<&'static str, u64>,
    /// All violations.
    pub violation_count: u64,
    /// Requests that got no reply (timeout or a closed connection).
    pub transport_errors: u64,
    /// The first transport failures, described.
    pub transport_samples: Vec<String>,
    /// Bots whose connection ended before the run did.
    pub disconnected: u64,
    /// Writes sent and those that succeeded, by op.
    pub writes: WriteTally,
    /// Energy rain rounds the rain bots saw settled.
    pub rain: RainTally,
    /// What faults did to the run.
    pub faults: FaultTally,
}

/// What faults did to the run: answers and losses a fault explains, counted apart from
/// errors, and the bots' reconnections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultTally {
    /// `SHARD_TIMEOUT` replies: another shard did not decide in time (the op may still
    /// take effect; the bot keeps it in doubt).
    pub shard_timeouts: u64,
    /// With `--reconnect`: requests whose connection ended (their shard killed) or that
    /// got no reply (their shard paused); in doubt, not transport errors.
    pub unanswered: u64,
    /// With `--reconnect`: times a bot connected and logged in again.
    pub reconnects: u64,
}

/// What the rain bots' settled rounds held and caught.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RainTally {
    /// Rounds settled.
    pub rounds: u64,
    /// Balls that fell in them.
    pub balls: u64,
    /// Balls caught.
    pub caught: u64,
    /// Grams credited.
    pub grams: u64,
}

/// Collects the numbers of all bots. Each reply takes the lock once, briefly.
#[derive(Debug)]
pub struct Recorder {
    tally: Mutex<Tally>,
    /// Live counters for the progress bar.
    pub live: Live,
}

impl Tally {
    fn new() -> Self {
        Self {
            per_op: OPS.iter().map(|op| (*op, OpTally::new())).collect(),
            errors: BTreeMap::new(),
            unexpected: BTreeMap::new(),
            expected: 0,
            events: BTreeMap::new(),
            violations: Vec::new(),
            violations_by_check: BTreeMap::new(),
            violation_count: 0,
            transport_errors: 0,
            transport_samples: Vec::new(),
            disconnected: 0,
            writes: WriteTally::default(),
            rain: RainTally::default(),
            faults: FaultTally::default(),
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            tally: Mutex::new(Tally::new()),
            live: Live::default(),
        }
    }
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Tally> {
        // Every update is a handful of counter bumps: a panic cannot leave it half-done.
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one reply: its latency, its error if any, and what it broke.
    pub fn reply(
        &self,
        op: &'static str,
        player: PlayerId,
        latency: Duration,
        judgement: Judgement,
    ) {
        self.live.ops.fetch_add(1, Ordering::Relaxed);
        if judgement.error.is_some() {
            self.live.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut tally = self.lock();
        let per_op = tally.per_op.entry(op).or_insert_with(OpTally::new);
        per_op.count += 1;
        per_op.latency.saturating_record(micros);
        if let Some((code, class)) = judgement.error {
            per_op.errors += 1;
            *tally.errors.entry(code.as_str()).or_default() += 1;
            match class {
                ErrorClass::Expected => tally.expected += 1,
                ErrorClass::Fault => tally.faults.shard_timeouts += 1,
                ErrorClass::Unexpected => *tally.unexpected.entry(code.as_str()).or_default() += 1,
            }
        }
        drop(tally);
        for violation in judgement.violations {
            self.violation(op, player, violation);
        }
    }

    /// Records a violation.
    pub fn violation(&self, op: &'static str, player: PlayerId, violation: Violation) {
        self.live.violations.fetch_add(1, Ordering::Relaxed);
        let mut tally = self.lock();
        tally.violation_count += 1;
        *tally
            .violations_by_check
            .entry(violation.check.name())
            .or_default() += 1;
        if tally.violations.len() < VIOLATIONS_KEPT {
            tally.violations.push(SeenViolation {
                op,
                player,
                violation,
            });
        }
    }

    /// Records a request that got no reply.
    pub fn transport_error(&self, op: &'static str, player: PlayerId, why: &str) {
        self.live.errors.fetch_add(1, Ordering::Relaxed);
        let mut tally = self.lock();
        tally.transport_errors += 1;
        if tally.transport_samples.len() < TRANSPORT_KEPT {
            tally
                .transport_samples
                .push(format!("player #{player}, {op}: {why}"));
        }
    }

    /// Records a request a fault left unanswered (with `--reconnect`): in doubt, not an
    /// error.
    pub fn unanswered(&self) {
        self.lock().faults.unanswered += 1;
    }

    /// Records a bot that connected and logged in again after its connection ended.
    pub fn reconnected(&self) {
        self.lock().faults.reconnects += 1;
    }

    /// Counts one request of `op` as a write, a probe or a read.
    pub fn write(&self, op: &'static str, outcome: WriteOutcome) {
        if outcome != WriteOutcome::Read {
            self.lock().writes.count(op, outcome);
        }
    }

    /// Records one settled energy rain round.
    pub fn rain_round(&self, balls: u64, caught: u64, grams: u64) {
        let rain = &mut self.lock().rain;
        rain.rounds += 1;
        rain.balls += balls;
        rain.caught += caught;
        rain.grams += grams;
    }

    /// Records a bot whose connection ended early.
    pub fn disconnected(&self) {
        self.lock().disconnected += 1;
    }

    /// Adds one bot's event counts.
    pub fn events(&self, counts: &EventCounts) {
        let mut tally = self.lock();
        for (kind, count) in &counts.0 {
            *tally.events.entry((*kind).to_owned()).or_default() += count;
        }
        for (kind, count) in &counts.1 {
            *tally.events.entry(kind.clone()).or_default() += count;
        }
    }

    /// Takes the numbers so far, leaving the recorder empty.
    pub fn take(&self) -> Tally {
        std::mem::replace(&mut *self.lock(), Tally::new())
    }
}

/// One bot's event counts by kind: known kinds, and unknown ones by name.
#[derive(Debug, Default)]
pub struct EventCounts(HashMap<&'static str, u64>, HashMap<String, u64>);

impl EventCounts {
    /// Counts one pushed frame.
    pub fn count(&mut self, pushed: &Pushed) {
        match pushed {
            Pushed::Event(event) => *self.0.entry(event.name()).or_default() += 1,
            Pushed::Unknown(name) => *self.1.entry(name.clone()).or_default() += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bots::checks::Check;
    use canopy_shared::ErrorCode;

    #[test]
    fn replies_fill_histograms_and_error_counts() {
        let recorder = Recorder::default();
        let player = PlayerId(1);
        for ms in 1..=100u64 {
            recorder.reply(
                "steal",
                player,
                Duration::from_millis(ms),
                Judgement::default(),
            );
        }
        recorder.reply(
            "steal",
            player,
            Duration::from_millis(5),
            Judgement {
                error: Some((ErrorCode::NothingLeft, ErrorClass::Expected)),
                violations: Vec::new(),
            },
        );
        recorder.reply(
            "collect",
            player,
            Duration::from_millis(5),
            Judgement {
                error: Some((ErrorCode::Internal, ErrorClass::Unexpected)),
                violations: vec![Violation {
                    check: Check::UnexpectedCode,
                    description: "collect answered INTERNAL".into(),
                }],
            },
        );
        assert_eq!(recorder.live.ops.load(Ordering::Relaxed), 102);
        assert_eq!(recorder.live.errors.load(Ordering::Relaxed), 2);
        let tally = recorder.take();
        let steal = &tally.per_op["steal"];
        assert_eq!((steal.count, steal.errors), (101, 1));
        let p50 = steal.latency.value_at_quantile(0.5);
        assert!((49_000..=51_100).contains(&p50), "p50 {p50} µs");
        assert_eq!(tally.errors["NOTHING_LEFT"], 1);
        assert_eq!(tally.expected, 1);
        assert_eq!(tally.unexpected.get("INTERNAL"), Some(&1));
        assert_eq!(tally.violation_count, 1);
        assert_eq!(tally.violations_by_check["unexpected_code"], 1);
        assert!(tally.per_op.contains_key("feed"), "every op is listed");
    }

    #[test]
    fn only_the_first_violations_are_kept_in_full() {
        let recorder = Recorder::default();
        for n in 0..(VIOLATIONS_KEPT + 50) {
            recorder.violation(
                "water",
                PlayerId(2),
                Violation {
                    check: Check::WaterOverDailyLimit,
                    description: format!("number {n}"),
                },
            );
        }
        let tally = recorder.take();
        assert_eq!(tally.violation_count, (VIOLATIONS_KEPT + 50) as u64);
        assert_eq!(tally.violations.len(), VIOLATIONS_KEPT);
    }
}
