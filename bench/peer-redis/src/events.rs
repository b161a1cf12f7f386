//! Pushed events counted by kind, for every setup (Canopy's and the gateway's WebSocket
//! events; the bare Redis peer's PUBLISHed ones use the same JSON and names, with every
//! `friend_stealable` line where a WebSocket gets the last per friend and batch).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Canopy's event names (PROTOCOL.md), then `other` for anything else.
const EVENT_NAMES: [&str; 15] = [
    "ball_new",
    "ball_ripe",
    "ball_gone",
    "energy_stolen",
    "watered",
    "friend_request",
    "friend_added",
    "friend_removed",
    "friend_stealable",
    "forest_changed",
    "certificate",
    "help_collected",
    "protected_block",
    "server_shutdown",
    "other",
];

/// Events received, by kind.
#[derive(Default)]
pub struct EventCounts([AtomicU64; EVENT_NAMES.len()]);

impl EventCounts {
    /// Counts `text` if it is an event frame (`{"event":"<name>",...}`, the tag first as
    /// both servers write it) and says whether it was one.
    pub fn count_frame(&self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix("{\"event\":\"") else {
            return false;
        };
        let name = rest.split('"').next().unwrap_or_default();
        let slot = EVENT_NAMES
            .iter()
            .position(|known| *known == name)
            .unwrap_or(EVENT_NAMES.len() - 1);
        self.0[slot].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The counts so far, kinds seen only.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        EVENT_NAMES
            .iter()
            .zip(&self.0)
            .map(|(name, n)| ((*name).to_owned(), n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The difference between two snapshots (events during a measured window).
pub fn since(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(name, n)| (name.clone(), n - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}
