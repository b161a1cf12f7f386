//! The friend graph of a bot world: random, with every player close to the asked degree.

use rand::RngExt;
use rand::seq::SliceRandom;
use std::collections::HashSet;

/// A friendship to set up: `from` sends `friend_request`, `to` answers `friend_accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Index of the player who asks.
    pub from: usize,
    /// Index of the player who accepts.
    pub to: usize,
}

/// A random simple graph on `players` nodes where each node has `degree` friends (one
/// node may have one fewer when `players × degree` is odd; never more).
///
/// The configuration model: every node gets `degree` stubs, the stubs are shuffled and
/// paired, and self-loops and repeated pairs are dropped. Nodes left short are then
/// mended by edge swaps: two short nodes `a`, `b` take an edge `c`–`d` apart into
/// `a`–`c` and `b`–`d`. The direction of each edge (who asks) is random.
pub fn friend_graph(players: usize, degree: usize, rng: &mut impl rand::Rng) -> Vec<Edge> {
    let degree = degree.min(players.saturating_sub(1));
    if degree == 0 {
        return Vec::new();
    }
    let mut graph = Builder {
        degree,
        have: vec![0; players],
        seen: HashSet::new(),
        edges: Vec::with_capacity(players * degree / 2),
    };
    let mut stubs: Vec<usize> = (0..players)
        .flat_map(|node| std::iter::repeat_n(node, degree))
        .collect();
    stubs.shuffle(rng);
    for pair in stubs.chunks_exact(2) {
        let a_asks = rng.random_bool(0.5);
        graph.add(pair[0], pair[1], a_asks);
    }
    let deficit: usize = graph.have.iter().map(|have| degree - have).sum();
    let mut attempts = 1_000 + 100 * deficit;
    while attempts > 0 {
        attempts -= 1;
        let short: Vec<usize> = (0..players)
            .filter(|node| graph.have[*node] < degree)
            .collect();
        let (a, b) = match short.as_slice() {
            [] => break,
            [only] if graph.have[*only] + 1 >= degree => break,
            [only] => (*only, *only),
            _ => {
                let a = short[rng.random_range(0..short.len())];
                let b = short[rng.random_range(0..short.len())];
                if a == b && graph.have[a] + 1 >= degree {
                    continue;
                }
                (a, b)
            }
        };
        if a != b && graph.add(a, b, rng.random_bool(0.5)) {
            continue;
        }
        // Take a random edge c–d apart into a–c and b–d.
        let index = rng.random_range(0..graph.edges.len());
        let Edge { from: c, to: d } = graph.edges[index];
        let (c, d) = if rng.random_bool(0.5) { (c, d) } else { (d, c) };
        let usable = ![a, b].contains(&c)
            && ![a, b].contains(&d)
            && !graph.linked(a, c)
            && !graph.linked(b, d);
        if usable {
            graph.remove(index);
            graph.add(a, c, rng.random_bool(0.5));
            graph.add(b, d, rng.random_bool(0.5));
        }
    }
    graph.edges
}

/// The graph while it is built.
struct Builder {
    degree: usize,
    /// Friends each node has so far.
    have: Vec<usize>,
    /// Pairs already friends, smaller index first.
    seen: HashSet<(usize, usize)>,
    edges: Vec<Edge>,
}

impl Builder {
    fn linked(&self, a: usize, b: usize) -> bool {
        self.seen.contains(&(a.min(b), a.max(b)))
    }

    /// Adds the friendship `a`–`b` unless it is a self-loop, a repeat, or one side is
    /// full; `a_asks` says who sends the request.
    fn add(&mut self, a: usize, b: usize, a_asks: bool) -> bool {
        if a == b || self.have[a] >= self.degree || self.have[b] >= self.degree {
            return false;
        }
        if !self.seen.insert((a.min(b), a.max(b))) {
            return false;
        }
        self.have[a] += 1;
        self.have[b] += 1;
        let (from, to) = if a_asks { (a, b) } else { (b, a) };
        self.edges.push(Edge { from, to });
        true
    }

    fn remove(&mut self, index: usize) {
        let Edge { from, to } = self.edges.swap_remove(index);
        self.seen.remove(&(from.min(to), from.max(to)));
        self.have[from] -= 1;
        self.have[to] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn degrees(players: usize, edges: &[Edge]) -> Vec<usize> {
        let mut degrees = vec![0; players];
        for edge in edges {
            degrees[edge.from] += 1;
            degrees[edge.to] += 1;
        }
        degrees
    }

    #[test]
    fn every_player_gets_close_to_the_degree_and_never_more() {
        let mut rng = SmallRng::seed_from_u64(1);
        let edges = friend_graph(1_000, 20, &mut rng);
        let degrees = degrees(1_000, &edges);
        assert!(degrees.iter().all(|d| *d == 20), "everyone has 20 friends");
        let mut pairs: Vec<(usize, usize)> = edges
            .iter()
            .map(|e| (e.from.min(e.to), e.from.max(e.to)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), edges.len(), "no repeated friendship");
        assert!(
            edges.iter().all(|e| e.from != e.to),
            "nobody befriends themselves"
        );
    }

    #[test]
    fn small_and_degenerate_worlds() {
        let mut rng = SmallRng::seed_from_u64(2);
        // Asking for more friends than there are players gives everyone everyone.
        let edges = friend_graph(5, 10, &mut rng);
        assert_eq!(edges.len(), 10, "a complete graph on 5 players");
        assert!(friend_graph(1, 3, &mut rng).is_empty());
        assert!(friend_graph(10, 0, &mut rng).is_empty());
        let edges = friend_graph(20, 4, &mut rng);
        assert!(degrees(20, &edges).iter().all(|d| *d == 4));
        // 7 × 3 stubs is odd: one player is one short.
        let short: usize = degrees(7, &friend_graph(7, 3, &mut rng))
            .iter()
            .map(|d| 3 - d)
            .sum();
        assert_eq!(short, 1);
    }

    #[test]
    fn the_same_seed_gives_the_same_graph() {
        let a = friend_graph(100, 6, &mut SmallRng::seed_from_u64(9));
        let b = friend_graph(100, 6, &mut SmallRng::seed_from_u64(9));
        assert_eq!(a, b);
    }
}
