//! Graph signals of the risk engine, computed off the game thread (docs/RISK.md): a
//! snapshot of the energy-flow window becomes a weighted giver → receiver graph
//! (petgraph), and three signals are read from it:
//!
//! - `ring`: strongly connected components of the watering graph (`tarjan_scc`) of at
//!   least `min_ring_size` players, mostly new or empty accounts;
//! - `dense_block`: FRAUDAR-style greedy peeling of the giver → receiver graph
//!   (weighted by grams): the densest block found, reported when a few receivers are fed
//!   by at least `min_block_givers` givers; peeled out and searched again, up to
//!   `max_blocks` times;
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

/// Runs the analysis every `risk.graph.interval_secs` and when asked, each run on a
/// blocking thread over a snapshot of the flows, until `stop`. Findings go to the game
/// thread as one admin command, which raises their flags durably.
pub async fn run(
    handle: GraphHandle,
    flows: FlowSink,
    mut config: watch::Receiver<Arc<Config>>,
    game: GameHandle,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let interval = config.borrow_and_update().risk.graph.interval_secs;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(interval.max(1) as u64)) => {}
            () = handle.run_now.notified() => {}
            _ = stop.wait_for(|&stop| stop) => return,
        }
        let risk = config.borrow().risk.clone();
        if !(risk.enabled && risk.graph.enabled) {
            continue;
        }
        let flows = flows.clone();
        let analysis = tokio::task::spawn_blocking(move || {
            let (chunks, since) = flows.snapshot(risk.graph.window_secs as u64 * 1000);
            analyze(&chunks, since, crate::game::clock::wall_now(), &risk.graph)
        });
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
        let findings: Vec<GraphFinding> = report
            .rings
            .iter()
            .chain(&report.dense_blocks)
            .chain(&report.stars)
            .cloned()
            .collect();
        *handle.latest.lock().unwrap_or_else(PoisonError::into_inner) = report;
        if findings.is_empty() {
            continue;
        }
        let (answer, answered) = oneshot::channel();
        if game
            .control(Control::Admin(AdminOp::RiskGraphFindings(findings), answer))
            .is_err()
        {
            return;
        }
        let _ = answered.await;
    }
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

/// Runs every signal over the flows since `since`; `now` and the run's duration go
/// into the report.
pub fn analyze(
    chunks: &[Arc<[FlowEdge]>],
    since: u64,
    now: u64,
    settings: &GraphSettings,
) -> GraphReport {
    let started = Instant::now();
    let flows = aggregate(chunks, since);
    let players: FxHashSet<PlayerId> = flows.pairs.keys().flat_map(|&(a, b)| [a, b]).collect();
    let rings = rings(&flows, settings);
    let dense_blocks = dense_blocks(&flows, settings);
    let stars = stars(&flows, settings);
    GraphReport {
        ran_at: now,
        took_ms: started.elapsed().as_millis() as u64,
        flows: flows.count,
        players: players.len() as u64,
        rings,
        dense_blocks,
        stars,
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

/// A side of the bipartite giver → receiver graph: a player as giver or as receiver.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Side {
    Giver(PlayerId),
    Receiver(PlayerId),
}

/// `dense_block`: FRAUDAR-style greedy peeling. Start from the whole bipartite graph;
/// repeatedly remove the node with the least weight left on it; the densest state
/// seen (grams inside over nodes) is the block. A block fed by at least
/// `min_block_givers` givers into at most `max_block_receivers` receivers is reported,
/// then its edges are removed and the search runs again.
fn dense_blocks(flows: &Flows, settings: &GraphSettings) -> Vec<GraphFinding> {
    let mut edges: FxHashMap<(PlayerId, PlayerId), u64> = flows.pairs.clone();
    let mut found = Vec::new();
    for _ in 0..settings.max_blocks {
        let Some(block) = densest_block(&edges) else {
            break;
        };
        let givers: Vec<PlayerId> = block
            .iter()
            .filter_map(|side| match side {
                Side::Giver(player) => Some(*player),
                Side::Receiver(_) => None,
            })
            .collect();
        let receivers: Vec<PlayerId> = block
            .iter()
            .filter_map(|side| match side {
                Side::Receiver(player) => Some(*player),
                Side::Giver(_) => None,
            })
            .collect();
        let inside: FxHashSet<Side> = block.iter().copied().collect();
        let grams: u64 = edges
            .iter()
            .filter(|((from, to), _)| {
                inside.contains(&Side::Giver(*from)) && inside.contains(&Side::Receiver(*to))
            })
            .map(|(_, grams)| grams)
            .sum();
        edges.retain(|(from, to), _| {
            !(inside.contains(&Side::Giver(*from)) && inside.contains(&Side::Receiver(*to)))
        });
        if givers.len() >= settings.min_block_givers as usize
            && receivers.len() <= settings.max_block_receivers as usize
        {
            let density = grams as f64 / block.len() as f64;
            let mut players = givers.clone();
            players.extend(&receivers);
            players.sort_unstable();
            players.dedup();
            found.push(GraphFinding {
                rule: "dense_block".to_owned(),
                receiver: (receivers.len() == 1).then(|| receivers[0]),
                grams,
                score: density,
                reason: format!(
                    "{} accounts feed {} g into {} player{} as one dense block",
                    givers.len(),
                    grams,
                    receivers.len(),
                    if receivers.len() == 1 { "" } else { "s" }
                ),
                players,
            });
        }
    }
    found
}

/// The densest block by greedy peeling (Charikar's 2-approximation, as FRAUDAR uses),
/// with a lazy min-heap of each node's remaining weight.
fn densest_block(edges: &FxHashMap<(PlayerId, PlayerId), u64>) -> Option<Vec<Side>> {
    if edges.is_empty() {
        return None;
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
        let a = id(Side::Giver(from), &mut sides, &mut adjacency);
        let b = id(Side::Receiver(to), &mut sides, &mut adjacency);
        adjacency[a].push((b, grams));
        adjacency[b].push((a, grams));
        total += grams;
    }
    let mut weight: Vec<u64> = adjacency
        .iter()
        .map(|list| list.iter().map(|(_, grams)| grams).sum())
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
        for &(other, grams) in &adjacency[node] {
            if !removed[other] {
                weight[other] -= grams;
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
        analyze(&[flows.into()], 0, 1, &settings())
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
