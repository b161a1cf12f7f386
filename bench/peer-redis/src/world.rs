//! The world both servers start from, as the load generator and the Redis seeder see
//! it: every player with their friends and balls, read from a Canopy server that serves
//! the generated world (`export`), so the Redis copy is the very world Canopy loaded.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One ball as Canopy showed it to its owner.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BallRecord {
    /// Ball id.
    pub id: u64,
    /// Action kind that made it, or `water`.
    pub source: String,
    /// Grams left.
    pub left: u64,
    /// Grams stolen so far.
    pub stolen: u64,
    /// Appeared at (ms, game clock).
    pub created_at: u64,
    /// Ripe at.
    pub ripe_at: u64,
    /// Disappears at.
    pub expires_at: u64,
}

impl BallRecord {
    /// Whether friends may steal from it: every ball but water balls.
    pub fn stealable(&self) -> bool {
        self.source != "water"
    }
}

/// One player.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlayerRecord {
    /// Player id; the token is `gen-<id>`.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Energy balance.
    pub energy: u64,
    /// Energy collected ever.
    pub total_collected: u64,
    /// Friend ids.
    pub friends: Vec<u64>,
    /// Live balls.
    pub balls: Vec<BallRecord>,
}

/// The whole world.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct World {
    /// The game clock (ms); a manual clock, so it stands still during runs.
    pub game_time: u64,
    /// The highest ball id handed out so far.
    pub next_ball: u64,
    /// Grams ever created (the ledger total the conservation check starts from).
    pub created: u64,
    /// Players 1..=N, in id order.
    pub players: Vec<PlayerRecord>,
}

impl World {
    /// Reads a world file written by `export`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let world: Self =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(
            world
                .players
                .iter()
                .enumerate()
                .all(|(i, p)| p.id == i as u64 + 1),
            "{}: players must be 1..=N in order",
            path.display()
        );
        Ok(world)
    }

    /// Writes the world file.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Friendships, each once.
    pub fn friendship_count(&self) -> usize {
        self.players.iter().map(|p| p.friends.len()).sum::<usize>() / 2
    }

    /// Balls in the world.
    pub fn ball_count(&self) -> usize {
        self.players.iter().map(|p| p.balls.len()).sum()
    }
}
