//! The friendship graph: a petgraph `UnGraph` behind a facade keyed by player id.
//! Node indices never leave this file. Players are never removed, so the compact
//! `Graph` (16 bytes an edge) serves; removing an edge moves another edge's index,
//! which nothing outside petgraph holds.

use canopy_shared::PlayerId;
use petgraph::graph::{NodeIndex, UnGraph};
use std::collections::HashMap;

/// Marks a player id with no node yet.
const NO_NODE: u32 = u32::MAX;

/// Mutual friendships between players. Players are the server's, so their ids are
/// handed out in order from 1 and `nodes` is dense: 4 bytes a player, and finding a
/// player's node is an array read (a hash map was an eighth of a big world's start-up).
#[derive(Default)]
pub struct FriendGraph {
    graph: UnGraph<PlayerId, (), u32>,
    nodes: Vec<u32>,
}

impl FriendGraph {
    fn index(&self, player: PlayerId) -> Option<NodeIndex<u32>> {
        let node = *self.nodes.get(usize::try_from(player.0).ok()?)?;
        (node != NO_NODE).then(|| NodeIndex::new(node as usize))
    }

    fn node(&mut self, player: PlayerId) -> NodeIndex<u32> {
        if let Some(node) = self.index(player) {
            return node;
        }
        let at = usize::try_from(player.0).expect("player ids fit in memory");
        if at >= self.nodes.len() {
            self.nodes.resize(at + 1, NO_NODE);
        }
        let node = self.graph.add_node(player);
        self.nodes[at] = node.index() as u32;
        node
    }

    /// Whether `a` and `b` are friends.
    pub fn are_friends(&self, a: PlayerId, b: PlayerId) -> bool {
        match (self.index(a), self.index(b)) {
            (Some(na), Some(nb)) => self.graph.find_edge(na, nb).is_some(),
            _ => false,
        }
    }

    /// Makes `a` and `b` friends; `false` if they already were.
    pub fn befriend(&mut self, a: PlayerId, b: PlayerId) -> bool {
        if a == b || self.are_friends(a, b) {
            return false;
        }
        let (na, nb) = (self.node(a), self.node(b));
        self.graph.add_edge(na, nb, ());
        true
    }

    /// Adds a friendship known to be new and between two players, as the store's
    /// records are: no check, so a big world loads fast.
    pub fn befriend_unchecked(&mut self, a: PlayerId, b: PlayerId) {
        let (na, nb) = (self.node(a), self.node(b));
        self.graph.add_edge(na, nb, ());
    }

    /// Gives back the spare capacity the graph grew while loading.
    pub fn shrink_to_fit(&mut self) {
        self.graph.shrink_to_fit();
        self.nodes.shrink_to_fit();
    }

    /// Ends the friendship; `false` if there was none.
    pub fn unfriend(&mut self, a: PlayerId, b: PlayerId) -> bool {
        let (Some(na), Some(nb)) = (self.index(a), self.index(b)) else {
            return false;
        };
        match self.graph.find_edge(na, nb) {
            Some(edge) => self.graph.remove_edge(edge).is_some(),
            None => false,
        }
    }

    /// A player's friends.
    pub fn friends(&self, player: PlayerId) -> impl Iterator<Item = PlayerId> + '_ {
        self.index(player)
            .into_iter()
            .flat_map(|node| self.graph.neighbors(node))
            .map(|node| self.graph[node])
    }

    /// How many friends a player has.
    pub fn friend_count(&self, player: PlayerId) -> usize {
        self.friends(player).count()
    }

    /// All friendships, each once.
    pub fn friendship_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Friends of friends who are not `player` nor already friends, ranked by how many
    /// friends they share with `player` (then by id), skipping those `exclude` names.
    pub fn suggestions(
        &self,
        player: PlayerId,
        limit: usize,
        exclude: impl Fn(PlayerId) -> bool,
    ) -> Vec<(PlayerId, u32)> {
        let mut mutual: HashMap<PlayerId, u32> = HashMap::new();
        for friend in self.friends(player) {
            for candidate in self.friends(friend) {
                if candidate != player {
                    *mutual.entry(candidate).or_default() += 1;
                }
            }
        }
        let mut ranked: Vec<(PlayerId, u32)> = mutual
            .into_iter()
            .filter(|&(candidate, _)| !self.are_friends(player, candidate) && !exclude(candidate))
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(limit);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: u64) -> PlayerId {
        PlayerId(id)
    }

    #[test]
    fn friendship_is_mutual_and_removable() {
        let mut graph = FriendGraph::default();
        assert!(graph.befriend(p(1), p(2)));
        assert!(!graph.befriend(p(2), p(1)), "already friends");
        assert!(!graph.befriend(p(3), p(3)), "nobody befriends themselves");
        assert!(graph.are_friends(p(2), p(1)));
        assert_eq!(graph.friend_count(p(1)), 1);
        assert!(graph.unfriend(p(2), p(1)));
        assert!(!graph.are_friends(p(1), p(2)));
        assert!(!graph.unfriend(p(1), p(2)));
        assert!(graph.befriend(p(1), p(2)), "friends again after a removal");
        assert_eq!(graph.friendship_count(), 1);
    }

    #[test]
    fn suggestions_rank_friends_of_friends_by_mutual_count() {
        let mut graph = FriendGraph::default();
        for (a, b) in [
            (1, 2),
            (1, 3),
            (1, 4),
            (2, 5),
            (3, 5),
            (4, 5),
            (2, 6),
            (3, 7),
            (2, 4),
        ] {
            graph.befriend(p(a), p(b));
        }
        let ranked = graph.suggestions(p(1), 10, |_| false);
        assert_eq!(ranked, vec![(p(5), 3), (p(6), 1), (p(7), 1)]);
        let without_blocked = graph.suggestions(p(1), 10, |c| c == p(6));
        assert_eq!(without_blocked, vec![(p(5), 3), (p(7), 1)]);
        assert_eq!(graph.suggestions(p(1), 1, |_| false), vec![(p(5), 3)]);
    }
}
