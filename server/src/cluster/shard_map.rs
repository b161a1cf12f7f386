//! The versioned shard map: how many shards there are and where each one's game socket
//! is. It lives in JetStream KV under one key and changes only by compare-and-set, each
//! change with the next epoch, so every shard converges on the same map.

use super::partition::Partition;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The KV key of the map.
pub const MAP_KEY: &str = "map";

/// One version of the shard map.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMap {
    /// Starts at 1 and grows by one with every change.
    pub epoch: u64,
    /// How many shards the players are partitioned over; fixed for the cluster's life.
    pub shards: u64,
    /// The game socket URL of each shard that has joined, by shard.
    pub urls: BTreeMap<u64, String>,
}

/// Why a shard may not join the stored map.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoinRefused {
    /// The config partitions players over a different number of shards.
    #[error(
        "the cluster's shard map (epoch {epoch}) has {stored} shards but cluster.shards is \
         {configured}: a player's shard is its id modulo the count, so the count never changes"
    )]
    ShardCount {
        /// The stored map's epoch.
        epoch: u64,
        /// The stored count.
        stored: u64,
        /// The configured count.
        configured: u64,
    },
}

impl ShardMap {
    /// The map after `partition`'s shard joins at `url`: `Ok(None)` when the stored map
    /// already says so, `Ok(Some(next))` with the next epoch when it must change.
    pub fn joined(
        stored: Option<&ShardMap>,
        partition: Partition,
        url: &str,
    ) -> Result<Option<ShardMap>, JoinRefused> {
        let Some(stored) = stored else {
            return Ok(Some(ShardMap {
                epoch: 1,
                shards: partition.shards,
                urls: BTreeMap::from([(partition.shard, url.to_owned())]),
            }));
        };
        if stored.shards != partition.shards {
            return Err(JoinRefused::ShardCount {
                epoch: stored.epoch,
                stored: stored.shards,
                configured: partition.shards,
            });
        }
        if stored.urls.get(&partition.shard).map(String::as_str) == Some(url) {
            return Ok(None);
        }
        let mut next = stored.clone();
        next.epoch += 1;
        next.urls.insert(partition.shard, url.to_owned());
        Ok(Some(next))
    }

    /// The game socket URL of `shard`, once it has joined.
    pub fn url(&self, shard: u64) -> Option<&str> {
        self.urls.get(&shard).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(shard: u64) -> Partition {
        Partition { shard, shards: 3 }
    }

    #[test]
    fn the_first_shard_writes_epoch_one() {
        let map = ShardMap::joined(None, shard(1), "ws://b/ws")
            .expect("joins")
            .expect("a new map");
        assert_eq!(map.epoch, 1);
        assert_eq!(map.shards, 3);
        assert_eq!(map.url(1), Some("ws://b/ws"));
        assert_eq!(map.url(0), None);
    }

    #[test]
    fn every_change_takes_the_next_epoch_and_a_rejoin_changes_nothing() {
        let first = ShardMap::joined(None, shard(0), "ws://a/ws")
            .expect("joins")
            .expect("a new map");
        let second = ShardMap::joined(Some(&first), shard(2), "ws://c/ws")
            .expect("joins")
            .expect("a changed map");
        assert_eq!(second.epoch, 2);
        assert_eq!(second.url(0), Some("ws://a/ws"));
        assert_eq!(second.url(2), Some("ws://c/ws"));
        assert_eq!(
            ShardMap::joined(Some(&second), shard(2), "ws://c/ws"),
            Ok(None)
        );
        let moved = ShardMap::joined(Some(&second), shard(2), "ws://d/ws")
            .expect("joins")
            .expect("a changed map");
        assert_eq!((moved.epoch, moved.url(2)), (3, Some("ws://d/ws")));
    }

    #[test]
    fn a_shard_counting_differently_is_refused() {
        let map = ShardMap::joined(None, shard(0), "ws://a/ws")
            .expect("joins")
            .expect("a new map");
        let other = Partition {
            shard: 0,
            shards: 4,
        };
        assert_eq!(
            ShardMap::joined(Some(&map), other, "ws://a/ws"),
            Err(JoinRefused::ShardCount {
                epoch: 1,
                stored: 3,
                configured: 4
            })
        );
    }
}
