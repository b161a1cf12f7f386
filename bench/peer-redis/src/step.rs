//! One measured step: C logical clients in a closed loop (each sends its next op as soon
//! as the previous reply is in) against one server, for a warm-up and then a measured
//! window; server CPU and memory are sampled at the window's edges.

use crate::canopy::CanopyTarget;
use crate::events::{self, EventCounts};
use crate::ops::{Op, Outcome};
use crate::redis_target::RedisTarget;
use crate::server_proc;
use crate::stats::Stats;
use crate::workload::{Knowledge, draw_action};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The server under load.
pub enum Target {
    /// Canopy, or the Redis peer's gateway, over WebSockets.
    Canopy(CanopyTarget),
    /// Bare Redis.
    Redis(RedisTarget),
}

impl Target {
    async fn call(&self, op: &Op) -> Outcome {
        match self {
            Self::Canopy(canopy) => canopy.call(op).await,
            Self::Redis(redis) => redis.call(op).await,
        }
    }
}

/// How a step runs.
pub struct StepPlan {
    /// Logical clients, each with one op in flight.
    pub clients: usize,
    /// Run before measuring (not counted).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Seed of the clients' choices.
    pub seed: u64,
    /// The server's process ids, for CPU and memory (summed over them).
    pub server_pids: Vec<u32>,
}

/// What a step measured.
pub struct StepMeasure {
    /// Latencies and outcomes of the ops sent and answered inside the window.
    pub stats: Stats,
    /// The window's length.
    pub seconds: f64,
    /// Server CPU seconds used in the window (all server processes).
    pub server_cpu_seconds: f64,
    /// The same, per server process, in `server_pids` order.
    pub server_cpu_seconds_by_process: Vec<f64>,
    /// The load generator's own CPU seconds in the window.
    pub client_cpu_seconds: f64,
    /// Server resident memory at the window's end and its peak, MiB.
    pub server_rss_mib: (f64, f64),
    /// Events received in the window, by kind.
    pub events: BTreeMap<String, u64>,
}

/// Runs the clients and measures.
pub async fn run(
    target: Arc<Target>,
    knowledge: Arc<Mutex<Knowledge>>,
    events: Arc<EventCounts>,
    plan: &StepPlan,
) -> anyhow::Result<StepMeasure> {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let mut clients = Vec::with_capacity(plan.clients);
    for client in 0..plan.clients {
        let (target, knowledge) = (target.clone(), knowledge.clone());
        let seed = plan.seed ^ (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        clients.push(tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut stats = Stats::default();
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return stats;
                }
                let op = {
                    let know = knowledge
                        .lock()
                        .expect("no client panics holding knowledge");
                    know.plan(draw_action(&mut rng), &mut rng)
                };
                let outcome = target.call(&op).await;
                let answered = Instant::now();
                if sent >= measure_from && answered <= end {
                    stats.record(op.index(), answered - sent, &outcome);
                }
                knowledge
                    .lock()
                    .expect("no client panics holding knowledge")
                    .learn(&op, &outcome);
            }
        }));
    }
    tokio::time::sleep_until(measure_from).await;
    let self_pid = std::process::id();
    let (server_cpu, client_cpu) = (
        server_proc::cpu_seconds_each(&plan.server_pids)?,
        server_proc::cpu_seconds(self_pid)?,
    );
    let events_before = events.snapshot();
    tokio::time::sleep_until(end).await;
    let server_cpu_seconds_by_process: Vec<f64> = server_proc::cpu_seconds_each(&plan.server_pids)?
        .iter()
        .zip(&server_cpu)
        .map(|(after, before)| after - before)
        .collect();
    let server_cpu_seconds = server_cpu_seconds_by_process.iter().sum();
    let client_cpu_seconds = server_proc::cpu_seconds(self_pid)? - client_cpu;
    let server_rss_mib = server_proc::rss_mib_of(&plan.server_pids)?;
    let events = events::since(&events_before, &events.snapshot());
    let mut stats = Stats::default();
    for client in clients {
        stats.merge(&client.await?);
    }
    Ok(StepMeasure {
        stats,
        seconds: plan.duration.as_secs_f64(),
        server_cpu_seconds,
        server_cpu_seconds_by_process,
        client_cpu_seconds,
        server_rss_mib,
        events,
    })
}
