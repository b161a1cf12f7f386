//! Which shard owns which player: a pure function of the player id, so any shard can
//! route without asking, and each shard allocates ids alone (no global lock).

use crate::config::ClusterConfig;
use canopy_shared::PlayerId;
use sha2::{Digest, Sha256};

/// This server's place among the shards. One server alone is shard 0 of 1, where every
/// rule below reduces to what it was before cluster mode: ids 1, 2, 3… and plain tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// This server's shard, counted from 0.
    pub shard: u64,
    /// How many shards there are.
    pub shards: u64,
}

impl Partition {
    /// One server alone.
    pub const ALONE: Partition = Partition {
        shard: 0,
        shards: 1,
    };

    /// The partition the config asks for (alone unless cluster mode is on).
    pub fn from_config(cluster: &ClusterConfig) -> Self {
        if cluster.enabled {
            Self {
                shard: cluster.shard,
                shards: cluster.shards,
            }
        } else {
            Self::ALONE
        }
    }

    /// The shard that owns `player`: ids 1, 2, 3… go to shards 0, 1, 2….
    pub fn owner(self, player: PlayerId) -> u64 {
        player.0.saturating_sub(1) % self.shards
    }

    /// Whether this shard owns `player`.
    pub fn owns(self, player: PlayerId) -> bool {
        self.owner(player) == self.shard
    }

    /// The id this shard gives its next player, after `last` (0 before the first).
    pub fn next_player_id(self, last: u64) -> u64 {
        let candidate = last + 1;
        let behind = (self.shard + self.shards - self.owner(PlayerId(candidate))) % self.shards;
        candidate + behind
    }

    /// The login token handed to a new player. In cluster mode it starts with the player
    /// id and a `.`, so the shard that receives a login can tell where the player lives
    /// without a global directory; alone, the token is the bare secret, as always.
    pub fn token(self, player: PlayerId, secret: &str) -> String {
        if self.shards == 1 {
            secret.to_owned()
        } else {
            format!("{}.{secret}", player.0)
        }
    }

    /// Refuses a store whose last registered player is not this shard's: it belongs to
    /// another shard (or to a different count of shards), and serving it here would give
    /// out ids that another shard gives out too.
    pub fn check_store(self, last_player: u64) -> anyhow::Result<()> {
        let last = PlayerId(last_player);
        anyhow::ensure!(
            last_player == 0 || self.owns(last),
            "the store's last registered player, {last_player}, belongs to shard {} of {}, \
             not to this shard {}: is --data-dir another shard's?",
            self.owner(last),
            self.shards,
            self.shard
        );
        Ok(())
    }

    /// The shard that holds the player of a host app's user: a hash of the JWT's issuer
    /// and subject (SHA-256, stable across builds and machines), so every shard agrees
    /// without a directory. Alone, always shard 0.
    pub fn host_owner(self, issuer: &str, subject: &str) -> u64 {
        let digest = Sha256::new()
            .chain_update(issuer.as_bytes())
            .chain_update([0])
            .chain_update(subject.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.shards
    }

    /// The shard a cluster-mode token belongs to; `None` for a token without an id
    /// prefix (it can only be this shard's, or nobody's).
    pub fn token_owner(self, token: &str) -> Option<u64> {
        let (id, _secret) = token.split_once('.')?;
        let id = id.parse::<u64>().ok().filter(|&id| id > 0)?;
        Some(self.owner(PlayerId(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(shard: u64, shards: u64) -> Partition {
        Partition { shard, shards }
    }

    #[test]
    fn alone_allocates_every_id_in_order_with_plain_tokens() {
        let alone = Partition::ALONE;
        assert_eq!(alone.next_player_id(0), 1);
        assert_eq!(alone.next_player_id(41), 42);
        assert!(alone.owns(PlayerId(7)));
        assert_eq!(alone.token(PlayerId(7), "abc"), "abc");
    }

    #[test]
    fn shards_allocate_disjoint_ids_that_they_own() {
        let shards = 3;
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..shards {
            let partition = shard(index, shards);
            let mut last = 0;
            for _ in 0..50 {
                let id = partition.next_player_id(last);
                assert!(id > last, "ids only grow");
                assert!(partition.owns(PlayerId(id)), "shard {index} owns id {id}");
                assert!(seen.insert(id), "id {id} allocated twice");
                last = id;
            }
        }
        assert_eq!(seen.len(), 150);
        assert_eq!(
            seen.iter().copied().max(),
            Some(150),
            "no id skipped overall"
        );
    }

    #[test]
    fn a_shard_resumes_from_any_last_id() {
        let partition = shard(2, 4);
        assert_eq!(partition.next_player_id(0), 3);
        assert_eq!(partition.next_player_id(3), 7);
        assert_eq!(partition.next_player_id(5), 7);
    }

    #[test]
    fn a_store_of_another_shard_is_refused() {
        assert!(shard(1, 3).check_store(0).is_ok(), "a new store");
        assert!(shard(1, 3).check_store(5).is_ok());
        assert!(shard(1, 3).check_store(6).is_err());
        assert!(
            shard(0, 2).check_store(4).is_err(),
            "a single-node store of 4 players"
        );
    }

    #[test]
    fn host_users_spread_over_the_shards_the_same_way_everywhere() {
        let three = shard(2, 3);
        let mut per_shard = [0u32; 3];
        for user in 0..300 {
            let subject = format!("user-{user}");
            let owner = three.host_owner("https://pay.example", &subject);
            assert_eq!(
                owner,
                shard(0, 3).host_owner("https://pay.example", &subject)
            );
            per_shard[owner as usize] += 1;
        }
        assert!(per_shard.iter().all(|&n| n > 60), "spread: {per_shard:?}");
        assert_eq!(
            Partition::ALONE.host_owner("https://pay.example", "user-1"),
            0
        );
        assert_eq!(
            three.host_owner("https://pay.example", "user-1"),
            1,
            "a fixed function (SHA-256 of issuer, NUL, subject; the first 8 bytes big-endian \
             modulo the shards): changing it would strand every host user's player"
        );
    }

    #[test]
    fn cluster_tokens_name_the_owner_and_others_do_not() {
        let partition = shard(0, 3);
        let token = partition.token(PlayerId(5), "secret");
        assert_eq!(token, "5.secret");
        assert_eq!(partition.token_owner(&token), Some(1));
        assert_eq!(partition.token_owner("secret"), None);
        assert_eq!(partition.token_owner("x.secret"), None);
        assert_eq!(partition.token_owner("0.secret"), None);
    }
}
