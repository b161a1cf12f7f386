//! The social layer: the friendship graph, pending requests and blocks. It knows
//! nothing of energy; the game's friend handlers use it and persist its changes.

mod graph;

pub use graph::FriendGraph;

use bevy_ecs::resource::Resource;
use canopy_shared::{Millis, PlayerId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Friendships, requests and blocks, for the whole shard.
#[derive(Resource, Default)]
pub struct Social {
    /// Mutual friendships.
    pub graph: FriendGraph,
    /// Pending requests by (from, to), with when they were sent.
    requests: HashMap<(PlayerId, PlayerId), Millis>,
    /// Requesters waiting on each addressee.
    incoming: HashMap<PlayerId, BTreeSet<PlayerId>>,
    /// Addressees each requester waits on.
    outgoing: HashMap<PlayerId, BTreeSet<PlayerId>>,
    /// (blocker, blocked).
    blocks: HashSet<(PlayerId, PlayerId)>,
}

impl Social {
    /// Whether either player blocked the other.
    pub fn blocked_either_way(&self, a: PlayerId, b: PlayerId) -> bool {
        self.blocks.contains(&(a, b)) || self.blocks.contains(&(b, a))
    }

    /// Records a block; `false` if it already stood.
    pub fn block(&mut self, blocker: PlayerId, blocked: PlayerId) -> bool {
        self.blocks.insert((blocker, blocked))
    }

    /// Lifts a block; `false` if there was none.
    pub fn unblock(&mut self, blocker: PlayerId, blocked: PlayerId) -> bool {
        self.blocks.remove(&(blocker, blocked))
    }

    /// When `from` asked `to`, if the request is pending and not older than `ttl_ms`.
    pub fn pending(
        &self,
        from: PlayerId,
        to: PlayerId,
        now: Millis,
        ttl_ms: u64,
    ) -> Option<Millis> {
        self.requests
            .get(&(from, to))
            .copied()
            .filter(|&sent| now < sent.saturating_add(ttl_ms))
    }

    /// Records a request.
    pub fn add_request(&mut self, from: PlayerId, to: PlayerId, sent_at: Millis) {
        self.requests.insert((from, to), sent_at);
        self.incoming.entry(to).or_default().insert(from);
        self.outgoing.entry(from).or_default().insert(to);
    }

    /// Drops a request; `false` if there was none.
    pub fn remove_request(&mut self, from: PlayerId, to: PlayerId) -> bool {
        let existed = self.requests.remove(&(from, to)).is_some();
        remove_from(&mut self.incoming, to, from);
        remove_from(&mut self.outgoing, from, to);
        existed
    }

    /// Requests waiting on `player`'s answer, with send times (live ones only).
    pub fn incoming(
        &self,
        player: PlayerId,
        now: Millis,
        ttl_ms: u64,
    ) -> BTreeMap<PlayerId, Millis> {
        self.listed(&self.incoming, player, |other| (other, player), now, ttl_ms)
    }

    /// Requests `player` sent, with send times (live ones only).
    pub fn outgoing(
        &self,
        player: PlayerId,
        now: Millis,
        ttl_ms: u64,
    ) -> BTreeMap<PlayerId, Millis> {
        self.listed(&self.outgoing, player, |other| (player, other), now, ttl_ms)
    }

    fn listed(
        &self,
        index: &HashMap<PlayerId, BTreeSet<PlayerId>>,
        player: PlayerId,
        key: impl Fn(PlayerId) -> (PlayerId, PlayerId),
        now: Millis,
        ttl_ms: u64,
    ) -> BTreeMap<PlayerId, Millis> {
        index
            .get(&player)
            .into_iter()
            .flatten()
            .filter_map(|&other| {
                let (from, to) = key(other);
                self.pending(from, to, now, ttl_ms)
                    .map(|sent| (other, sent))
            })
            .collect()
    }
}

fn remove_from(index: &mut HashMap<PlayerId, BTreeSet<PlayerId>>, key: PlayerId, value: PlayerId) {
    if let Some(set) = index.get_mut(&key) {
        set.remove(&value);
        if set.is_empty() {
            index.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_expire_and_list_both_ways() {
        let mut social = Social::default();
        let (a, b, c) = (PlayerId(1), PlayerId(2), PlayerId(3));
        social.add_request(a, b, 1_000);
        social.add_request(c, b, 5_000);
        assert_eq!(social.pending(a, b, 2_000, 10_000), Some(1_000));
        assert_eq!(
            social.pending(b, a, 2_000, 10_000),
            None,
            "requests have a direction"
        );
        assert_eq!(social.incoming(b, 2_000, 10_000).len(), 2);
        assert_eq!(social.outgoing(a, 2_000, 10_000).get(&b), Some(&1_000));
        assert_eq!(social.pending(a, b, 11_000, 10_000), None, "expired");
        assert_eq!(
            social
                .incoming(b, 11_000, 10_000)
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![c]
        );
        assert!(social.remove_request(c, b));
        assert!(!social.remove_request(c, b));
    }

    #[test]
    fn blocks_work_in_either_direction() {
        let mut social = Social::default();
        assert!(social.block(PlayerId(1), PlayerId(2)));
        assert!(!social.block(PlayerId(1), PlayerId(2)));
        assert!(social.blocked_either_way(PlayerId(2), PlayerId(1)));
        assert!(social.unblock(PlayerId(1), PlayerId(2)));
        assert!(!social.blocked_either_way(PlayerId(1), PlayerId(2)));
    }
}
