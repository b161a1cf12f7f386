//! Graph signals of the risk engine, computed off the game thread (docs/RISK.md): a
//! snapshot of the energy-flow window becomes a weighted giver → receiver graph
//! (petgraph), and three signals are read from it:
//!
//! - `ring`: strongly connected components of the watering graph (`tarjan_scc`) of at
//!   least `min_ring_size` players, mostly new or empty accounts;
//! - `dense_block`: FRAUDAR's greedy peeling of the giver → receiver graph (grams,
//!   column-weighted by the receiver's givers): the densest block found, split into its
//!   connected parts, each reported when a few receivers are fed by at least
//!   `min_block_givers` givers, mostly new or empty; peeled out and searched again, up
//!   to `max_blocks` times;
//! - `new_account_star`: one receiver fed by at least `min_star_givers` distinct new or
//!   empty accounts.
//!
//! [`analyze`] is a pure function of the flows; [`spawn`] runs it every
//! `risk.graph.interval_secs` (and on demand) on its own thread and hands the findings
//! to the game thread, which raises the flags.

use crate::config::Config;
use crate::config::risk::GraphSettings;
use crate::game::AdminOp;
use crate::game::risk::flows::{FlowEdge, FlowKind, FlowSink};
use crate::game_loop::{Control, GameHandle};
use crate::metrics::Metrics;
use canopy_shared::PlayerId;
use canopy_shared::risk::{GraphFinding, GraphReport};
use petgraph::algo::{kosaraju_scc, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot, watch};

/// What the ops port shares with the analysis task: the latest report, and the way to
/// ask for a run now.
#[derive(Clone, Default)]
pub struct GraphHandle {
    latest: Arc<Mutex<GraphReport>>,
    run_now: Arc<Notify>,
}

impl GraphHandle {
    /// The latest report (an empty one, `ran_at` 0, before the first run).
    pub fn latest(&self) -> GraphReport {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks for a run as soon as the task is free.
    pub fn run_now(&self) {
        self.run_now.notify_one();
    }
}

/// Where an analysis reads its flows: this server's window, or in cluster mode every
/// shard's (docs/SCALE-OUT.md, "The risk engine across shards").
#[derive(Clone)]
pub enum FlowSource {
    /// This server alone.
    Local(FlowSink),
    /// Every shard of the cluster; the report goes to every shard.
    Cluster(crate::cluster::ClusterRisk),
}

/// Runs the analysis every `risk.graph.interval_secs` and when asked, each run on a
/// blocking thread over a snapshot of the flows, until `stop`. Findings go to the game
/// thread as one admin command, which raises their flags durably; the report is
/// kept once they are raised, stamped with the game time they were. In cluster mode
/// the report goes to every shard, each raising its own players' flags, and only
/// shard 0 runs on the schedule.
pub async fn run(
    handle: GraphHandle,
    source: FlowSource,
    mut config: watch::Receiver<Arc<Config>>,
    game: GameHandle,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let interval = config.borrow_and_update().risk.graph.interval_secs;
        let scheduled = tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(interval.max(1) as u64)) => true,
            () = handle.run_now.notified() => false,
            _ = stop.wait_for(|&stop| stop) => return,
        };
        let risk = config.borrow().risk.clone();
        let on_schedule = match &source {
            FlowSource::Local(_) => true,
            FlowSource::Cluster(cluster) => cluster.analyses_on_schedule(),
        };
        if !(risk.enabled && risk.graph.enabled) || (scheduled && !on_schedule) {
            continue;
        }
        let window_ms = risk.graph.window_secs as u64 * 1000;
        let (done, analysis) = tokio::sync::oneshot::channel();
        let started = match &source {
            FlowSource::Local(flows) => {
                let flows = flows.clone();
                spawn_analysis(scheduled, move || {
                    let (chunks, since) = flows.snapshot(window_ms);
                    let _ = done.send(analyze(&chunks, since, &risk.graph));
                })
            }
            FlowSource::Cluster(cluster) => match cluster.flows(window_ms).await {
                Ok((count, pairs)) => spawn_analysis(scheduled, move || {
                    let _ = done.send(analyze_pairs(count, pairs, &risk.graph));
                }),
                Err(err) => {
                    tracing::error!("the cluster's flows could not be gathered: {err:#}");
                    continue;
                }
            },
        };
        if let Err(err) = started {
            tracing::error!(%err, "no thread for the risk graph analysis");
            continue;
        }
        let Ok(report) = analysis.await else {
            tracing::error!("the risk graph analysis panicked");
            continue;
        };
        metrics
            .risk_graph_seconds
            .observe(report.took_ms as f64 / 1000.0);
        tracing::info!(
            took_ms = report.took_ms,
            flows = report.flows,
            rings = report.rings.len(),
            dense_blocks = report.dense_blocks.len(),
            stars = report.stars.len(),
            "risk graph analysis"
        );
        match &source {
            FlowSource::Local(_) => {
                if !adopt(&handle, &game, report).await {
                    return;
                }
            }
            FlowSource::Cluster(cluster) => {
                if let Err(err) = cluster.publish(&report).await {
                    tracing::error!("{err:#}");
                }
            }
        }
    }
}

/// Has the game raise the flags of `report`'s findings (on this server's players),
/// then keeps the report as the latest, stamped with the game time they were raised
/// (`ran_at`) and numbered after the previous one (`run`); false when the game has
/// stopped.
pub async fn adopt(handle: &GraphHandle, game: &GameHandle, mut report: GraphReport) -> bool {
    let findings: Vec<GraphFinding> = report
        .rings
        .iter()
        .chain(&report.dense_blocks)
        .chain(&report.stars)
        .cloned()
        .collect();
    let (answer, answered) = oneshot::channel();
    if game
        .control(Control::Admin(AdminOp::RiskGraphFindings(findings), answer))
        .is_err()
    {
        return false;
    }
    let raised = match answered.await {
        Ok(Ok(answer)) => serde_json::from_str::<Raised>(&answer).ok(),
        _ => None,
    };
    let Some(raised) = raised else {
        tracing::error!("the game thread did not take the risk graph findings");
        return true;
    };
    let mut latest = handle.latest.lock().unwrap_or_else(PoisonError::into_inner);
    report.run = latest.run + 1;
    report.ran_at = raised.at;
    *latest = report;
    true
}

/// The part of the game thread's answer to a run's findings the report needs: the game
/// time the flags were raised at, the report's `ran_at`.
#[derive(Deserialize)]
struct Raised {
    at: canopy_shared::Millis,
}

/// One giver → receiver pair of a flow window, summed: what a shard sends the shard
/// that analyses the cluster's flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairFlow {
    /// The giver.
    pub from: PlayerId,
    /// The receiver.
    pub to: PlayerId,
    /// Grams of every kind (at least 1 a flow).
    pub grams: u64,
    /// Grams watered (0: no watering between them).
    pub water: u64,
    /// Whether the giver's account was new or empty when they gave.
    pub from_new: bool,
}

/// A snapshot's flows summed per pair, and how many flows they sum.
pub fn window_pairs(chunks: &[Arc<[FlowEdge]>], since: u64) -> (u64, Vec<PairFlow>) {
    let flows = aggregate(chunks, since);
    let pairs = flows
        .pairs
        .iter()
        .map(|(&(from, to), &grams)| PairFlow {
            from,
            to,
            grams,
            water: flows.water.get(&(from, to)).copied().unwrap_or(0),
            from_new: flows.new_accounts.contains(&from),
        })
        .collect();
    (flows.count, pairs)
}

/// Runs every signal over pairs gathered from several windows (a pair may come from
/// more than one: their grams add up); `count` is the flows they sum.
pub fn analyze_pairs(count: u64, pairs: Vec<PairFlow>, settings: &GraphSettings) -> GraphReport {
    let started = Instant::now();
    let mut flows = Flows {
        pairs: FxHashMap::default(),
        water: FxHashMap::default(),
        new_accounts: FxHashSet::default(),
        count,
    };
    for pair in pairs {
        *flows.pairs.entry((pair.from, pair.to)).or_default() += pair.grams;
        if pair.water > 0 {
            *flows.water.entry((pair.from, pair.to)).or_default() += pair.water;
        }
        if pair.from_new {
            flows.new_accounts.insert(pair.from);
        }
    }
    signals(&flows, started, settings)
}

/// The flows of a snapshot, aggregated per (giver, receiver).
struct Flows {
    /// Grams per giver → receiver pair, all kinds.
    pairs: FxHashMap<(PlayerId, PlayerId), u64>,
    /// Grams per waterer → watered pair.
    water: FxHashMap<(PlayerId, PlayerId), u64>,
    /// Players whose account was new or empty when they gave.
    new_accounts: FxHashSet<PlayerId>,
    /// Flows read.
    count: u64,
}

fn aggregate(chunks: &[Arc<[FlowEdge]>], since: u64) -> Flows {
    let mut flows = Flows {
        pairs: FxHashMap::default(),
        water: FxHashMap::default(),
        new_accounts: FxHashSet::default(),
        count: 0,
    };
    for edge in chunks.iter().flat_map(|chunk| chunk.iter()) {
        if edge.at < since || edge.from == edge.to {
            continue;
        }
        flows.count += 1;
        *flows.pairs.entry((edge.from, edge.to)).or_default() += edge.grams.max(1);
        if edge.kind == FlowKind::Water {
            *flows.water.entry((edge.from, edge.to)).or_default() += edge.grams;
        }
        if edge.from_new {
            flows.new_accounts.insert(edge.from);
        }
    }
    flows
}

/// Runs every signal over the flows since `since`, and times it. The report's `ran_at`
/// and `run` are left for the caller, which knows the game clock.
pub fn analyze(chunks: &[Arc<[FlowEdge]>], since: u64, settings: &GraphSettings) -> GraphReport {
    let started = Instant::now();
    let flows = aggregate(chunks, since);
    signals(&flows, started, settings)
}

/// Every signal over aggregated flows, as a report.
fn signals(flows: &Flows, started: Instant, settings: &GraphSettings) -> GraphReport {
    let players: FxHashSet<PlayerId> = flows.pairs.keys().flat_map(|&(a, b)| [a, b]).collect();
    let rings = rings(flows, settings);
    let dense_blocks = dense_blocks(flows, settings);
    let stars = stars(flows, settings);
    GraphReport {
        took_ms: started.elapsed().as_millis() as u64,
        flows: flows.count,
        players: players.len() as u64,
        rings,
        dense_blocks,
        stars,
        ..GraphReport::default()
    }
}

fn new_share(players: &[PlayerId], flows: &Flows) -> f64 {
    let new = players
        .iter()
        .filter(|player| flows.new_accounts.contains(player))
        .count();
    new as f64 / players.len().max(1) as f64
}

/// `ring`: watering cycles among mostly new or empty accounts.
fn rings(flows: &Flows, settings: &GraphSettings) -> Vec<GraphFinding> {
    let mut graph: DiGraph<PlayerId, u64> = DiGraph::default();
    let mut nodes: FxHashMap<PlayerId, NodeIndex> = FxHashMap::default();
    let mut node = |graph: &mut DiGraph<PlayerId, u64>, player: PlayerId| {
        *nodes
            .entry(player)
            .or_insert_with(|| graph.add_node(player))
    };
    for (&(from, to), &grams) in &flows.water {
        let (a, b) = (node(&mut graph, from), node(&mut graph, to));
        graph.add_edge(a, b, grams);
    }
    let mut found: Vec<GraphFinding> = components(&graph)
        .into_iter()
        .filter(|component| component.len() >= settings.min_ring_size as usize)
        .filter_map(|component| {
            let mut players: Vec<PlayerId> = component.iter().map(|&n| graph[n]).collect();
            players.sort_unstable();
            let share = new_share(&players, flows);
            (share >= settings.new_share).then(|| {
                let members: FxHashSet<NodeIndex> = component.iter().copied().collect();
                let grams: u64 = component
                    .iter()
                    .flat_map(|&n| graph.edges(n))
                    .filter(|edge| members.contains(&petgraph::visit::EdgeRef::target(edge)))
                    .map(|edge| *edge.weight())
                    .sum();
                GraphFinding {
                    rule: "ring".to_owned(),
                    receiver: None,
                    grams,
                    score: share,
                    reason: format!(
                        "{} accounts, {:.0} % of them new or empty, water each other in a cycle",
                        players.len(),
                        share * 100.0
                    ),
                    players,
                }
            })
        })
        .collect();
    found.sort_by_key(|finding| Reverse(finding.players.len()));
    found
}

/// Starts `work` on a thread of its own. A scheduled run (`background`) asks for the
/// kernel's idle scheduling class (`SCHED_IDLE`; threads it starts inherit it): it runs
/// only on CPU the game loop and the sockets leave over, so it never lengthens a tick
/// however busy the cores are, at the price of waiting on a machine saturated for
/// minutes. A run an operator asked for keeps normal priority: someone waits for it.
pub fn spawn_analysis<T: Send + 'static>(
    background: bool,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new()
        .name("risk-graph".into())
        .spawn(move || {
            if background {
                lower_to_idle_priority();
            }
            work()
        })
}

/// Moves the calling thread to `SCHED_IDLE` (Linux); elsewhere it keeps its priority.
fn lower_to_idle_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(err) =
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        {
            tracing::warn!(?err, "the risk graph analysis runs at normal priority");
        }
    }
}

/// Stack for petgraph's `tarjan_scc`, which recurses once per node along a path: a base,
/// plus this much per node of the graph (a release frame is far smaller; a debug one
/// is not). Only the pages a run touches are ever committed.
const SCC_STACK_BASE: usize = 64 << 20;
const SCC_STACK_PER_NODE: usize = 1024;

/// The strongly connected components, by `tarjan_scc` on a thread whose stack fits the
/// graph (one honest friend circle can chain a million waterers), or by the iterative
/// `kosaraju_scc` if such a thread cannot be started.
fn components(graph: &DiGraph<PlayerId, u64>) -> Vec<Vec<NodeIndex>> {
    let stack =
        SCC_STACK_BASE.saturating_add(graph.node_count().saturating_mul(SCC_STACK_PER_NODE));
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("risk-scc".into())
            .stack_size(stack)
            .spawn_scoped(scope, || tarjan_scc(graph))
        {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(err) => {
                tracing::warn!(%err, stack, "no thread for tarjan_scc; using kosaraju_scc");
                kosaraju_scc(graph)
            }
        }
    })
}

/// A giver → receiver pair and the grams between them.
type Edge = ((PlayerId, PlayerId), u64);

/// A side of the bipartite giver → receiver graph: a player as giver or as receiver.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Side {
    Giver(PlayerId),
    Receiver(PlayerId),
}

/// `dense_block`: FRAUDAR's greedy peeling of what new or empty accounts gave. Start
/// from the graph of their flows; repeatedly remove the node with the least weight left
/// on it; the densest state seen (weight inside over nodes) is the block. Equally dense
/// farms peel as one block, so the block is split into its connected parts and each
/// part is judged on its own: at least `min_block_givers` givers feeding at most
/// `max_block_receivers` receivers. Then the block's edges are removed and the peel
/// runs again, up to `max_blocks` times. Old accounts' flows are left out (an honest
/// player who stole from ten friends, or a popular one watered by ten, has a farm's
/// shape), and so are receivers with fewer new givers than a block needs on one of its
/// receivers at least (`min_block_givers` over `max_block_receivers`): a single heavy
/// pair is denser than any farm (a farm's density is about one of its edges), and
/// among many players there are enough of them for the peel to spend its runs on.
fn dense_blocks(flows: &Flows, settings: &GraphSettings) -> Vec<GraphFinding> {
    let mut edges: FxHashMap<(PlayerId, PlayerId), u64> = flows
        .pairs
        .iter()
        .filter(|((from, _), _)| flows.new_accounts.contains(from))
        .map(|(&pair, &grams)| (pair, grams))
        .collect();
    let least = (settings.min_block_givers.max(1) as u64)
        .div_ceil(settings.max_block_receivers.max(1) as u64) as usize;
    let mut givers_of: FxHashMap<PlayerId, usize> = FxHashMap::default();
    for &(_, to) in edges.keys() {
        *givers_of.entry(to).or_default() += 1;
    }
    edges.retain(|(_, to), _| givers_of[to] >= least);
    let mut found = Vec::new();
    for _ in 0..settings.max_blocks {
        let Some(block) = densest_block(&edges) else {
            break;
        };
        let inside: FxHashSet<Side> = block.into_iter().collect();
        let in_block = |(from, to): &(PlayerId, PlayerId)| {
            inside.contains(&Side::Giver(*from)) && inside.contains(&Side::Receiver(*to))
        };
        let block_edges: Vec<Edge> = edges
            .iter()
            .filter(|(pair, _)| in_block(pair))
            .map(|(&pair, &grams)| (pair, grams))
            .collect();
        edges.retain(|pair, _| !in_block(pair));
        found.extend(
            connected_parts(block_edges)
                .iter()
                .filter_map(|part| judge_block(part, settings)),
        );
    }
    found.sort_by_key(|finding| Reverse(finding.players.len()));
    found
}

/// The edges of a block grouped by the connected parts they form.
fn connected_parts(edges: Vec<Edge>) -> Vec<Vec<Edge>> {
    let mut index: FxHashMap<Side, usize> = FxHashMap::default();
    for &((from, to), _) in &edges {
        for side in [Side::Giver(from), Side::Receiver(to)] {
            let next = index.len();
            index.entry(side).or_insert(next);
        }
    }
    let mut sets = petgraph::unionfind::UnionFind::<usize>::new(index.len());
    for &((from, to), _) in &edges {
        sets.union(index[&Side::Giver(from)], index[&Side::Receiver(to)]);
    }
    let mut parts: FxHashMap<usize, Vec<Edge>> = FxHashMap::default();
    for edge in edges {
        let root = sets.find_mut(index[&Side::Giver(edge.0.0)]);
        parts.entry(root).or_default().push(edge);
    }
    parts.into_values().collect()
}

/// A part of a dense block, reported if it is shaped like a farm.
fn judge_block(edges: &[Edge], settings: &GraphSettings) -> Option<GraphFinding> {
    let mut givers: Vec<PlayerId> = edges.iter().map(|((from, _), _)| *from).collect();
    let mut receivers: Vec<PlayerId> = edges.iter().map(|((_, to), _)| *to).collect();
    for side in [&mut givers, &mut receivers] {
        side.sort_unstable();
        side.dedup();
    }
    if givers.len() < settings.min_block_givers as usize
        || receivers.len() > settings.max_block_receivers as usize
    {
        return None;
    }
    let grams: u64 = edges.iter().map(|(_, grams)| grams).sum();
    let density = grams as f64 / (givers.len() + receivers.len()) as f64;
    let mut players = givers.clone();
    players.extend(&receivers);
    players.sort_unstable();
    players.dedup();
    Some(GraphFinding {
        rule: "dense_block".to_owned(),
        receiver: (receivers.len() == 1).then(|| receivers[0]),
        grams,
        score: density,
        reason: format!(
            "{} new or empty accounts feed {grams} g into {} player{} as one dense block",
            givers.len(),
            receivers.len(),
            if receivers.len() == 1 { "" } else { "s" }
        ),
        players,
    })
}

/// FRAUDAR's column weight, in thousandths: an edge into a receiver with `givers`
/// distinct givers weighs its grams over ln(givers + 5), so edges into popular
/// receivers (where camouflage goes) count for less.
fn column_weighted(grams: u64, givers: usize) -> u64 {
    ((grams as f64 * 1000.0 / (givers as f64 + 5.0).ln()).round() as u64).max(1)
}

/// The densest block by greedy peeling (Charikar's 2-approximation, as FRAUDAR uses) of
/// the column-weighted graph, with a lazy min-heap of each node's remaining weight.
fn densest_block(edges: &FxHashMap<(PlayerId, PlayerId), u64>) -> Option<Vec<Side>> {
    if edges.is_empty() {
        return None;
    }
    let mut givers_of: FxHashMap<PlayerId, usize> = FxHashMap::default();
    for &(_, to) in edges.keys() {
        *givers_of.entry(to).or_default() += 1;
    }
    let mut index: FxHashMap<Side, usize> = FxHashMap::default();
    let mut sides: Vec<Side> = Vec::new();
    let mut adjacency: Vec<Vec<(usize, u64)>> = Vec::new();
    let mut id = |side: Side, sides: &mut Vec<Side>, adjacency: &mut Vec<Vec<(usize, u64)>>| {
        *index.entry(side).or_insert_with(|| {
            sides.push(side);
            adjacency.push(Vec::new());
            sides.len() - 1
        })
    };
    let mut total: u64 = 0;
    for (&(from, to), &grams) in edges {
        let weight = column_weighted(grams, givers_of[&to]);
        let a = id(Side::Giver(from), &mut sides, &mut adjacency);
        let b = id(Side::Receiver(to), &mut sides, &mut adjacency);
        adjacency[a].push((b, weight));
        adjacency[b].push((a, weight));
        total += weight;
    }
    let mut weight: Vec<u64> = adjacency
        .iter()
        .map(|list| list.iter().map(|(_, edge)| edge).sum())
        .collect();
    let mut removed = vec![false; sides.len()];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = weight
        .iter()
        .enumerate()
        .map(|(node, &w)| Reverse((w, node)))
        .collect();
    let mut left = sides.len();
    let mut best = (total as f64 / left as f64, 0usize);
    let mut order = Vec::with_capacity(sides.len());
    while let Some(Reverse((w, node))) = heap.pop() {
        if removed[node] || w != weight[node] {
            continue;
        }
        removed[node] = true;
        order.push(node);
        total -= weight[node];
        left -= 1;
        for &(other, edge) in &adjacency[node] {
            if !removed[other] {
                weight[other] -= edge;
                heap.push(Reverse((weight[other], other)));
            }
        }
        if left > 0 {
            let density = total as f64 / left as f64;
            if density > best.0 {
                best = (density, order.len());
            }
        }
    }
    let peeled: FxHashSet<usize> = order[..best.1].iter().copied().collect();
    Some(
        (0..sides.len())
            .filter(|node| !peeled.contains(node))
            .map(|node| sides[node])
            .collect(),
    )
}

/// `new_account_star`: one receiver fed by many distinct new or empty accounts.
fn stars(flows: &Flows, settings: &GraphSettings) -> Vec<GraphFinding> {
    let mut feeders: FxHashMap<PlayerId, (Vec<PlayerId>, usize, u64)> = FxHashMap::default();
    for (&(from, to), &grams) in &flows.pairs {
        let entry = feeders.entry(to).or_default();
        entry.1 += 1;
        entry.2 += grams;
        if flows.new_accounts.contains(&from) {
            entry.0.push(from);
        }
    }
    let mut found: Vec<GraphFinding> = feeders
        .into_iter()
        .filter(|(_, (new, all, _))| {
            new.len() >= settings.min_star_givers as usize
                && new.len() as f64 / *all as f64 >= settings.new_share
        })
        .map(|(receiver, (mut new, all, grams))| {
            new.sort_unstable();
            let share = new.len() as f64 / all as f64;
            let reason = format!(
                "{} new or empty accounts of {all} givers feed this player",
                new.len()
            );
            new.push(receiver);
            GraphFinding {
                rule: "new_account_star".to_owned(),
                receiver: Some(receiver),
                grams,
                score: share,
                reason,
                players: new,
            }
        })
        .collect();
    found.sort_by_key(|finding| Reverse(finding.players.len()));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings() -> GraphSettings {
        Config::default_embedded().risk.graph
    }

    fn flow(from: u64, to: u64, kind: FlowKind, grams: u64, from_new: bool) -> FlowEdge {
        FlowEdge {
            at: 100,
            from: PlayerId(from),
            to: PlayerId(to),
            kind,
            grams,
            from_new,
        }
    }

    /// An honest neighbourhood: old accounts watering and stealing among friends.
    fn honest() -> Vec<FlowEdge> {
        let mut flows = Vec::new();
        for a in 1000..1040u64 {
            for b in [a + 1, a + 2, a + 7] {
                flows.push(flow(a, b, FlowKind::Water, 18, false));
                flows.push(flow(b, a, FlowKind::Steal, 9, false));
            }
        }
        flows
    }

    fn run(flows: Vec<FlowEdge>) -> GraphReport {
        analyze(&[flows.into()], 0, &settings())
    }

    #[test]
    fn an_honest_neighbourhood_raises_nothing() {
        let report = run(honest());
        assert!(report.rings.is_empty(), "{:?}", report.rings);
        assert!(report.dense_blocks.is_empty(), "{:?}", report.dense_blocks);
        assert!(report.stars.is_empty(), "{:?}", report.stars);
        assert_eq!(report.flows, 240);
    }

    #[test]
    fn a_watering_ring_of_new_accounts_is_found_with_every_member() {
        let mut flows = honest();
        for n in 0..5u64 {
            flows.push(flow(1 + n, 1 + (n + 1) % 5, FlowKind::Water, 66, true));
        }
        let report = run(flows);
        assert_eq!(report.rings.len(), 1);
        let ring = &report.rings[0];
        assert_eq!(ring.players, (1..=5).map(PlayerId).collect::<Vec<_>>());
        assert_eq!(ring.grams, 5 * 66);
    }

    #[test]
    fn a_ring_deeper_than_a_thread_stack_is_found_whole() {
        let size = 50_000u64;
        let flows: Vec<FlowEdge> = (0..size)
            .map(|n| flow(1 + n, 1 + (n + 1) % size, FlowKind::Water, 10, true))
            .collect();
        let report = run(flows);
        assert_eq!(report.rings.len(), 1);
        assert_eq!(report.rings[0].players.len(), size as usize);
    }

    #[test]
    fn a_farm_feeding_one_receiver_is_a_dense_block_and_a_star() {
        let mut flows = honest();
        for giver in 1..=20u64 {
            for _ in 0..3 {
                flows.push(flow(giver, 500, FlowKind::Water, 66, true));
            }
            flows.push(flow(giver, 500, FlowKind::Steal, 40, true));
        }
        let report = run(flows);
        let block = report
            .dense_blocks
            .first()
            .expect("the farm is the densest block");
        assert_eq!(block.receiver, Some(PlayerId(500)));
        assert_eq!(block.players.len(), 21);
        assert_eq!(block.grams, 20 * (3 * 66 + 40));
        let star = report.stars.first().expect("a star of new accounts");
        assert_eq!(star.receiver, Some(PlayerId(500)));
        assert_eq!(star.players.len(), 21);
    }

    fn farm(givers: std::ops::RangeInclusive<u64>, receivers: &[u64]) -> Vec<FlowEdge> {
        givers
            .flat_map(|giver| {
                receivers.iter().flat_map(move |&receiver| {
                    (0..3).map(move |_| flow(giver, receiver, FlowKind::Water, 66, true))
                })
            })
            .collect()
    }

    #[test]
    fn equally_dense_farms_are_each_a_block() {
        let mut flows = honest();
        flows.extend(farm(1..=12, &[500]));
        flows.extend(farm(101..=112, &[600]));
        let report = run(flows);
        let receivers: Vec<Option<PlayerId>> = report
            .dense_blocks
            .iter()
            .map(|block| block.receiver)
            .collect();
        assert_eq!(receivers.len(), 2, "{:?}", report.dense_blocks);
        assert!(receivers.contains(&Some(PlayerId(500))));
        assert!(receivers.contains(&Some(PlayerId(600))));
        assert!(
            report
                .dense_blocks
                .iter()
                .all(|block| block.players.len() == 13)
        );
    }

    #[test]
    fn a_thief_of_many_old_friends_is_no_block() {
        let mut flows = honest();
        for victim in 1..=15u64 {
            for _ in 0..4 {
                flows.push(flow(victim, 500, FlowKind::Steal, 60, false));
            }
        }
        let report = run(flows);
        assert!(report.dense_blocks.is_empty(), "{:?}", report.dense_blocks);
    }

    /// A farm watering two main accounts, each also watered by old friends: no star
    /// (under `new_share` of each main's givers are new), but the peel leaves the
    /// lighter old givers out of the block, whose givers are all new.
    #[test]
    fn a_farm_diluted_by_old_givers_is_a_block_but_no_star() {
        let mut flows = honest();
        flows.extend(farm(1..=12, &[500, 501]));
        for friend in 201..=206u64 {
            for main in [500, 501] {
                flows.push(flow(friend, main, FlowKind::Water, 33, false));
            }
        }
        let report = run(flows);
        assert!(report.stars.is_empty(), "{:?}", report.stars);
        let block = report.dense_blocks.first().expect("the farm is a block");
        let mut expected: Vec<PlayerId> = (1..=12).map(PlayerId).collect();
        expected.extend([PlayerId(500), PlayerId(501)]);
        assert_eq!(block.players, expected);
        assert_eq!(report.dense_blocks.len(), 1);
    }

    #[test]
    fn just_under_the_star_size_is_not_a_star() {
        let mut flows = honest();
        let size = settings().min_star_givers;
        for giver in 1..size {
            flows.push(flow(giver as u64, 500, FlowKind::Water, 10, true));
        }
        assert!(run(flows.clone()).stars.is_empty());
        flows.push(flow(size as u64, 500, FlowKind::Water, 10, true));
        assert_eq!(run(flows).stars.len(), 1);
    }
}
