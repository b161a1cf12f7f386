//! After a run through faults (`--reconnect`): every acknowledged change must be there,
//! and none twice. It waits until the cluster has no transfer in flight (the cluster
//! audit says so: every outbox drained, every late outcome applied), then each bot
//! reads `me`, on a new session when its own ended, and the bot's checks judge the
//! balance: exactly what its acknowledged ops left, plus no more than its ops in doubt
//! could still credit (a steal answered `SHARD_TIMEOUT` credits its thief when the
//! owner's shard decides). A balance below it lost an acknowledged change; above it,
//! something was applied twice or credited from nowhere.

use crate::bots::checks::judge;
use crate::bots::knowledge::GameClock;
use crate::bots::plan::Planned;
use crate::bots::runner::log_in_again;
use crate::bots::setup::Seat;
use crate::bots::shards::Shards;
use crate::bots::stats::Recorder;
use canopy_shared::admin::ClusterAuditReport;
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;

/// How long the transfers in flight get to arrive, and a bot's shard to serve again.
const PATIENCE: Duration = Duration::from_secs(180);
/// How often the cluster audit is asked while transfers are in flight.
const POLL: Duration = Duration::from_millis(250);

/// What the check after the run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// How long until no transfer was in flight, in ms.
    pub waited_ms: u64,
    /// Whether every transfer arrived within the patience (always true on one server).
    pub drained: bool,
    /// Whether the last cluster audit read balanced (`None` on one server).
    pub audit_balanced: Option<bool>,
    /// Bots whose balance was read and judged.
    pub balances_checked: u64,
    /// Among them, those exactly at what their acknowledged ops left at the end.
    pub balances_exact: u64,
    /// Grams late outcomes of ops in doubt credited over the run and after it, every
    /// bot's together.
    pub late_grams: u64,
    /// Requests in doubt (`SHARD_TIMEOUT` or unanswered), every bot's together.
    pub ops_in_doubt: u64,
    /// Bots whose balance could not be judged: their shard did not serve again, or
    /// they did not know their balance (a props op in doubt).
    pub unchecked: u64,
}

impl Settled {
    /// Whether the check passed: every transfer arrived, the audit balanced, every
    /// bot's balance judged (its violations are in the report's).
    pub fn is_clean(&self) -> bool {
        self.drained && self.audit_balanced != Some(false) && self.unchecked == 0
    }
}

/// Waits for the transfers in flight, then judges every bot's balance; violations go
/// to `recorder` as the `me` op's.
pub async fn check(
    bots: &mut [(Seat, bool)],
    clock: &GameClock,
    shards: &Shards,
    recorder: &Recorder,
) -> Settled {
    let started = Instant::now();
    let (drained, audit_balanced) = drain(shards, started + PATIENCE).await;
    let mut settled = Settled {
        waited_ms: started.elapsed().as_millis() as u64,
        drained,
        audit_balanced,
        ..Settled::default()
    };
    let deadline = Instant::now() + PATIENCE;
    let verdicts: Vec<Verdict> = stream::iter(bots.iter_mut())
        .map(|(seat, connected)| judge_balance(seat, connected, clock, recorder, deadline))
        .buffer_unordered(usize::MAX)
        .collect()
        .await;
    for verdict in verdicts {
        match verdict {
            Verdict::Judged { late } => {
                settled.balances_checked += 1;
                settled.balances_exact += u64::from(late == 0);
            }
            Verdict::Unchecked => settled.unchecked += 1,
        }
    }
    for (seat, _) in bots.iter() {
        settled.late_grams += seat.know.doubt.arrived;
        settled.ops_in_doubt += seat.know.doubt.ops;
    }
    settled
}

/// What one bot's balance came to.
enum Verdict {
    /// Read and judged: `late` grams above what its acknowledged ops left.
    Judged { late: u64 },
    /// Not judged.
    Unchecked,
}

async fn judge_balance(
    seat: &mut Seat,
    connected: &mut bool,
    clock: &GameClock,
    recorder: &Recorder,
    deadline: Instant,
) -> Verdict {
    if !*connected {
        if log_in_again(seat, || Instant::now() >= deadline)
            .await
            .is_err()
        {
            return Verdict::Unchecked;
        }
        *connected = true;
    }
    let Some(before) = seat.know.energy else {
        return Verdict::Unchecked;
    };
    seat.limiter.take().await;
    let planned = Planned::Me;
    let know = &mut seat.know;
    let Ok(outcome) = seat
        .wire
        .call(&planned.request(), |pushed| know.apply_event(&pushed))
        .await
    else {
        *connected = false;
        return Verdict::Unchecked;
    };
    let judgement = judge(know, clock, &planned, &outcome);
    for violation in judgement.violations {
        recorder.violation(planned.op_name(), seat.player, violation);
    }
    know.apply_reply(&planned, &outcome, clock);
    match know.energy {
        Some(after) if outcome.is_ok() => Verdict::Judged {
            late: after.saturating_sub(before),
        },
        _ => Verdict::Unchecked,
    }
}

/// Waits until the cluster audit shows no grams or props in flight; answers whether it
/// did before `deadline`, and whether the last audit read balanced. One server has
/// nothing in flight between shards.
pub async fn drain(shards: &Shards, deadline: Instant) -> (bool, Option<bool>) {
    if !shards.is_cluster() {
        return (true, None);
    }
    let ops = shards.every_ops()[0].clone();
    let mut balanced = None;
    loop {
        let ops = ops.clone();
        let read = tokio::task::spawn_blocking(move || {
            ops.get_admin::<ClusterAuditReport>("/admin/audit?cluster=true")
        })
        .await;
        if let Ok(Ok((audit, _))) = read {
            balanced = Some(audit.balanced);
            if audit.transfers_in_flight == 0 && audit.props_in_flight == 0 {
                return (true, balanced);
            }
        }
        if Instant::now() >= deadline {
            return (false, balanced);
        }
        tokio::time::sleep(POLL).await;
    }
}
