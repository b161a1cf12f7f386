//! The energy-flow window the graph analysis reads: who watered, stole from or helped
//! whom, with grams, over the last `risk.graph.window_secs`. The game thread appends
//! one small record per transfer; the analysis thread takes a snapshot by cloning a
//! few `Arc`s, so a snapshot never copies the flows and never pauses a tick.

use bevy_ecs::resource::Resource;
use canopy_shared::{Millis, PlayerId};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// Flows sealed into one shared chunk.
const CHUNK: usize = 16_384;

/// How energy moved between two players.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowKind {
    /// `from` watered `to`.
    Water,
    /// `to` stole from `from`'s ball.
    Steal,
    /// `from` collected `to`'s ball for them.
    Help,
}

/// One transfer, in the direction the energy (or the favour) went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEdge {
    /// When.
    pub at: Millis,
    /// The giver (the waterer, the player stolen from, the helper).
    pub from: PlayerId,
    /// The receiver.
    pub to: PlayerId,
    /// What kind of transfer.
    pub kind: FlowKind,
    /// Grams moved (for help, the grams picked for the owner).
    pub grams: u64,
    /// Whether the giver's account was new or had never collected energy then.
    pub from_new: bool,
}

/// The window: sealed chunks, oldest first, and the chunk being filled.
#[derive(Default)]
pub struct FlowWindow {
    sealed: VecDeque<Arc<[FlowEdge]>>,
    open: Vec<FlowEdge>,
    newest: Millis,
}

impl FlowWindow {
    /// Appends a flow, sealing the open chunk when it is full.
    pub fn push(&mut self, edge: FlowEdge) {
        self.newest = self.newest.max(edge.at);
        self.open.push(edge);
        if self.open.len() == CHUNK {
            self.seal();
        }
    }

    fn seal(&mut self) {
        if !self.open.is_empty() {
            let chunk: Arc<[FlowEdge]> = std::mem::take(&mut self.open).into();
            self.sealed.push_back(chunk);
        }
    }

    /// Every flow at or after `since`, as shared chunks (the oldest may hold a few
    /// older flows, which the analysis skips). Chunks wholly before `since` are dropped.
    pub fn snapshot(&mut self, since: Millis) -> Vec<Arc<[FlowEdge]>> {
        self.seal();
        while self
            .sealed
            .front()
            .and_then(|chunk| chunk.last())
            .is_some_and(|last| last.at < since)
        {
            self.sealed.pop_front();
        }
        self.sealed.iter().cloned().collect()
    }
}

/// The game's handle on the flow window, shared with the analysis thread.
#[derive(Resource, Clone, Default)]
pub struct FlowSink(pub Arc<Mutex<FlowWindow>>);

impl FlowSink {
    /// Records one transfer (a lock the analysis thread holds only to clone chunks).
    pub fn push(&self, edge: FlowEdge) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(edge);
    }

    /// The flows of the last `window_ms` before the newest flow, and where that window
    /// starts, for an analysis run.
    pub fn snapshot(&self, window_ms: u64) -> (Vec<Arc<[FlowEdge]>>, Millis) {
        let mut flows = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let since = flows.newest.saturating_sub(window_ms);
        (flows.snapshot(since), since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(at: Millis) -> FlowEdge {
        FlowEdge {
            at,
            from: PlayerId(1),
            to: PlayerId(2),
            kind: FlowKind::Water,
            grams: 10,
            from_new: false,
        }
    }

    #[test]
    fn a_snapshot_shares_chunks_and_drops_the_ones_out_of_the_window() {
        let sink = FlowSink::default();
        for at in 0..(CHUNK as u64 * 2 + 5) {
            sink.push(edge(at));
        }
        let newest = CHUNK as u64 * 2 + 4;
        let (all, since) = sink.snapshot(newest);
        assert_eq!(since, 0);
        assert_eq!(
            all.iter().map(|chunk| chunk.len()).sum::<usize>(),
            CHUNK * 2 + 5
        );
        let (recent, since) = sink.snapshot(newest - CHUNK as u64 - 1);
        assert_eq!(since, CHUNK as u64 + 1);
        assert_eq!(recent.len(), 2, "the first chunk ended before the window");
        assert!(
            Arc::ptr_eq(&recent[0], &all[1]),
            "chunks are shared, not copied"
        );
    }
}
