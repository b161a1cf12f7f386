//! What the logical clients send: the mix (40 % collect, 30 % steal, 10 %
//! water, 20 % reads split over `me`, `friends` and `friend_balls`), aimed with what the
//! load generator knows of the world so that most ops do real work. The acting player
//! of each op is drawn from all online players, so no player's balls run out early.

use crate::ops::{Done, Op, Outcome};
use crate::world::World;
use rand::RngExt;
use std::collections::{HashMap, HashSet};

/// The mix, in percent: collect, steal, water, read.
pub const MIX: [(Action, u32); 4] = [
    (Action::Collect, 40),
    (Action::Steal, 30),
    (Action::Water, 10),
    (Action::Read, 20),
];

/// Grams one watering may give (the default `water.amounts`).
const WATER_AMOUNTS: [u64; 4] = [10, 18, 33, 66];
/// Waterings of one friend per day (the default `water.per_friend_per_day`).
const WATER_PER_FRIEND_PER_DAY: u32 = 3;
/// Draws tried to find a player fit for an action before settling for a refusal.
const TRIES: usize = 4;

/// An entry of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `collect`.
    Collect,
    /// `steal`.
    Steal,
    /// `water`.
    Water,
    /// One of the reads.
    Read,
}

/// Draws an action from [`MIX`].
pub fn draw_action(rng: &mut impl rand::Rng) -> Action {
    let mut roll = rng.random_range(0..100u32);
    for (action, weight) in MIX {
        if roll < weight {
            return action;
        }
        roll -= weight;
    }
    Action::Read
}

/// What the load generator believes about the world, from the world file and the
/// replies so far. Shared by all logical clients.
pub struct Knowledge {
    /// Players 1..=online act.
    online: u64,
    friends: Vec<Vec<u64>>,
    /// Per player: the balls of the world file (for ops the rules must refuse).
    origin: Vec<Vec<u64>>,
    /// Per player: balls believed live (collectable by the owner).
    live: Vec<Vec<u64>>,
    /// Per player: balls believed to have grams left for thieves.
    stealable: Vec<Vec<u64>>,
    /// (thief, ball) pairs that already hit.
    hits: HashSet<(u64, u64)>,
    energy: Vec<u64>,
    watered: HashMap<(u64, u64), u32>,
}

fn remove(list: &mut Vec<u64>, value: u64) {
    if let Some(at) = list.iter().position(|&v| v == value) {
        list.swap_remove(at);
    }
}

impl Knowledge {
    /// Starts from the world file; players 1..=online act.
    pub fn new(world: &World, online: u64) -> Self {
        let players = &world.players;
        let live: Vec<Vec<u64>> = players
            .iter()
            .map(|p| p.balls.iter().map(|b| b.id).collect())
            .collect();
        Self {
            online: online.clamp(1, players.len() as u64),
            friends: players.iter().map(|p| p.friends.clone()).collect(),
            origin: live.clone(),
            live,
            stealable: players
                .iter()
                .map(|p| {
                    p.balls
                        .iter()
                        .filter(|b| b.stealable())
                        .map(|b| b.id)
                        .collect()
                })
                .collect(),
            hits: HashSet::new(),
            energy: players.iter().map(|p| p.energy).collect(),
            watered: HashMap::new(),
        }
    }

    fn random_player(&self, rng: &mut impl rand::Rng) -> u64 {
        rng.random_range(1..=self.online)
    }

    fn friends_of(&self, player: u64) -> &[u64] {
        &self.friends[(player - 1) as usize]
    }

    fn random_friend(&self, player: u64, rng: &mut impl rand::Rng) -> Option<u64> {
        let friends = self.friends_of(player);
        (!friends.is_empty()).then(|| friends[rng.random_range(0..friends.len())])
    }

    /// The request for an action.
    pub fn plan(&self, action: Action, rng: &mut impl rand::Rng) -> Op {
        match action {
            Action::Collect => self.plan_collect(rng),
            Action::Steal => self.plan_steal(rng),
            Action::Water => self.plan_water(rng),
            Action::Read => {
                let player = self.random_player(rng);
                match (rng.random_range(0..3u32), self.random_friend(player, rng)) {
                    (1, _) => Op::Friends { player },
                    (2, Some(friend)) => Op::FriendBalls { player, friend },
                    _ => Op::Me { player },
                }
            }
        }
    }

    /// A collect of a ball believed live; when the draws find none, of an ended ball.
    fn plan_collect(&self, rng: &mut impl rand::Rng) -> Op {
        let mut player = self.random_player(rng);
        for _ in 0..TRIES {
            let live = &self.live[(player - 1) as usize];
            if !live.is_empty() {
                let ball = live[rng.random_range(0..live.len())];
                return Op::Collect { player, ball };
            }
            player = self.random_player(rng);
        }
        Op::Collect {
            player,
            ball: self.origin_ball(player, rng),
        }
    }

    /// One of the player's balls in the world file (0, which never exists, if none).
    fn origin_ball(&self, player: u64, rng: &mut impl rand::Rng) -> u64 {
        let balls = &self.origin[(player - 1) as usize];
        if balls.is_empty() {
            0
        } else {
            balls[rng.random_range(0..balls.len())]
        }
    }

    /// A steal from a friend's ball believed to have something left that this thief
    /// has not hit; when the draws find none, of one of the friend's balls of the world
    /// file (which the rules refuse: gone, emptied or already hit).
    fn plan_steal(&self, rng: &mut impl rand::Rng) -> Op {
        let mut thief = self.random_player(rng);
        let mut owner = self.random_friend(thief, rng);
        for _ in 0..TRIES {
            if let Some(friend) = owner {
                let balls = &self.stealable[(friend - 1) as usize];
                if !balls.is_empty() {
                    let ball = balls[rng.random_range(0..balls.len())];
                    if !self.hits.contains(&(thief, ball)) {
                        return Op::Steal {
                            thief,
                            owner: friend,
                            ball,
                        };
                    }
                }
            }
            thief = self.random_player(rng);
            owner = self.random_friend(thief, rng);
        }
        // A player without friends steals from themselves: NOT_FRIENDS.
        let owner = owner.unwrap_or(thief);
        Op::Steal {
            thief,
            owner,
            ball: self.origin_ball(owner, rng),
        }
    }

    /// A watering by a player with the grams, of a friend not yet watered three times
    /// today; when the draws find none, one the rules refuse.
    fn plan_water(&self, rng: &mut impl rand::Rng) -> Op {
        let grams = WATER_AMOUNTS[rng.random_range(0..WATER_AMOUNTS.len())];
        let mut giver = self.random_player(rng);
        let mut friend = self.random_friend(giver, rng);
        for _ in 0..TRIES {
            if let Some(friend) = friend {
                let given = self.watered.get(&(giver, friend)).copied().unwrap_or(0);
                if self.energy[(giver - 1) as usize] >= grams && given < WATER_PER_FRIEND_PER_DAY {
                    return Op::Water {
                        giver,
                        friend,
                        grams,
                    };
                }
            }
            giver = self.random_player(rng);
            friend = self.random_friend(giver, rng);
        }
        Op::Water {
            giver,
            friend: friend.unwrap_or(giver),
            grams,
        }
    }

    /// Learns from a reply.
    pub fn learn(&mut self, op: &Op, outcome: &Outcome) {
        let code = match outcome {
            Outcome::Done(done) => return self.learn_done(op, *done),
            Outcome::Refused(code) => code.as_str(),
            Outcome::Failed(_) => return,
        };
        match (*op, code) {
            (Op::Collect { player, ball }, "GONE") => self.forget_ball(player, ball),
            (Op::Steal { owner, ball, .. }, "GONE") => self.forget_ball(owner, ball),
            (Op::Steal { owner, ball, .. }, "NOTHING_LEFT") => {
                remove(&mut self.stealable[(owner - 1) as usize], ball);
            }
            (Op::Steal { thief, ball, .. }, "ALREADY_STOLEN") => {
                self.hits.insert((thief, ball));
            }
            (Op::Water { giver, friend, .. }, "LIMIT_REACHED") => {
                self.watered
                    .insert((giver, friend), WATER_PER_FRIEND_PER_DAY);
            }
            _ => {}
        }
    }

    fn learn_done(&mut self, op: &Op, done: Done) {
        if let Some(energy) = done.energy {
            self.energy[(op.actor() - 1) as usize] = energy;
        }
        match *op {
            Op::Collect { player, ball } => self.forget_ball(player, ball),
            Op::Steal { thief, ball, .. } => {
                self.hits.insert((thief, ball));
            }
            Op::Water { giver, friend, .. } => {
                *self.watered.entry((giver, friend)).or_default() += 1;
                if let Some(ball) = done.ball_id {
                    self.live[(friend - 1) as usize].push(ball);
                }
            }
            Op::Me { .. } | Op::Friends { .. } | Op::FriendBalls { .. } => {}
        }
    }

    fn forget_ball(&mut self, owner: u64, ball: u64) {
        remove(&mut self.live[(owner - 1) as usize], ball);
        remove(&mut self.stealable[(owner - 1) as usize], ball);
    }
}

/// Which sessions watch what: a share of the online players watch their friends list
/// (`friend_stealable`), a share watch one friend's forest (`forest_changed`), as phones
/// with the friends list or a friend's forest on screen. The choice is a hash of the
/// player id, so both servers get the very same watches.
#[derive(Clone, Copy, Debug)]
pub struct WatchPlan {
    /// Percent of players watching their friends list.
    pub friends_percent: u64,
    /// Percent of players watching one friend's forest.
    pub forest_percent: u64,
}

impl WatchPlan {
    /// Whether `player` watches their friends list.
    pub fn watches_friends(&self, player: u64) -> bool {
        spread(player, 0x9E37_79B9_7F4A_7C15) % 100 < self.friends_percent
    }

    /// The friend whose forest `player` watches, if any.
    pub fn watched_forest(&self, player: u64, friends: &[u64]) -> Option<u64> {
        if friends.is_empty() || spread(player, 0xC2B2_AE3D_27D4_EB4F) % 100 >= self.forest_percent
        {
            return None;
        }
        let at = spread(player, 0x1656_67B1_9E37_79F9) % friends.len() as u64;
        Some(friends[at as usize])
    }
}

/// A well-mixed number from a player id (splitmix64's finalizer).
fn spread(player: u64, salt: u64) -> u64 {
    let mut x = player.wrapping_mul(salt);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::WatchPlan;

    #[test]
    fn watch_shares_come_out_near_the_plan() {
        let plan = WatchPlan {
            friends_percent: 10,
            forest_percent: 20,
        };
        let friends = (1..=10_000).filter(|&p| plan.watches_friends(p)).count();
        let forests = (1..=10_000)
            .filter(|&p| plan.watched_forest(p, &[1, 2, 3]).is_some())
            .count();
        assert!((800..1200).contains(&friends), "{friends}");
        assert!((1800..2200).contains(&forests), "{forests}");
        assert_eq!(plan.watched_forest(5, &[]), None);
    }
}
