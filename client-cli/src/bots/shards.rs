//! The shards the bots play on. A server alone is one shard. A cluster shard answers
//! `GET /cluster` with every shard's game socket: the bots then register their players
//! round-robin on all shards (registration is served where it arrives), open each
//! session at `--server` as a phone would and follow the `WRONG_SHARD` redirect home,
//! and credit and ripen through the ops HTTP of the shard that holds the player
//! (`--ops` and `--shard-ops` name them; each says which shard it is).

use crate::admin::OpsClient;
use crate::error::CliError;
use canopy_shared::PlayerId;
use canopy_shared::admin::ClusterView;
use std::sync::Arc;

/// Every shard's game socket and ops HTTP, by shard.
pub struct Shards {
    games: Vec<String>,
    ops: Vec<Arc<OpsClient>>,
}

impl Shards {
    /// Asks the ops HTTP of `primary` (and of each of `others`) where the shards are.
    /// A server without `GET /cluster` (older than cluster mode) is alone.
    pub fn discover(
        server_url: &str,
        primary: Arc<OpsClient>,
        others: Vec<OpsClient>,
    ) -> Result<Self, CliError> {
        let view = match primary.get_open::<ClusterView>("/cluster") {
            Ok((view, _)) => view,
            Err(CliError::Http { status: 404, .. }) => alone_view(),
            Err(err) => return Err(err),
        };
        if view.shards <= 1 {
            if !others.is_empty() {
                return Err(CliError::Usage(format!(
                    "--shard-ops names other shards, but {} is not in cluster mode",
                    primary.base()
                )));
            }
            return Ok(Self {
                games: vec![server_url.to_owned()],
                ops: vec![primary],
            });
        }
        let count = usize::try_from(view.shards)
            .map_err(|_| CliError::Connection(format!("{} shards", view.shards)))?;
        let mut ops: Vec<Option<Arc<OpsClient>>> = vec![None; count];
        for client in std::iter::once(primary).chain(others.into_iter().map(Arc::new)) {
            let (seen, _) = client.get_open::<ClusterView>("/cluster")?;
            let slot = usize::try_from(seen.shard)
                .ok()
                .filter(|&slot| slot < count && seen.shards == view.shards)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "{} is shard {} of {}, not a shard of the {count}-shard cluster",
                        client.base(),
                        seen.shard,
                        seen.shards
                    ))
                })?;
            ops[slot] = Some(client);
        }
        let missing: Vec<String> = (0..count)
            .filter(|&shard| ops[shard].is_none())
            .map(|shard| shard.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(CliError::Usage(format!(
                "the cluster has {count} shards: give the ops address of every shard with \
                 --ops and --shard-ops (missing: shard {})",
                missing.join(", ")
            )));
        }
        let games = (0..view.shards)
            .map(|shard| {
                view.urls.get(&shard).cloned().ok_or_else(|| {
                    CliError::Connection(format!(
                        "shard {shard} has not joined the shard map (epoch {}) yet",
                        view.epoch
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            games,
            ops: ops.into_iter().flatten().collect(),
        })
    }

    /// How many shards.
    pub fn count(&self) -> usize {
        self.games.len()
    }

    /// Whether the players are spread over several shards.
    pub fn is_cluster(&self) -> bool {
        self.count() > 1
    }

    /// The shard that holds `player`: `(id - 1) % shards` (docs/PROTOCOL.md).
    pub fn home_of(&self, player: PlayerId) -> usize {
        (player.0.saturating_sub(1) % self.count() as u64) as usize
    }

    /// The game socket of `shard`.
    pub fn game_url(&self, shard: usize) -> &str {
        &self.games[shard % self.count()]
    }

    /// The ops HTTP of the shard that holds `player`.
    pub fn ops_of(&self, player: PlayerId) -> Arc<OpsClient> {
        self.ops[self.home_of(player)].clone()
    }

    /// Every shard's ops HTTP, by shard.
    pub fn every_ops(&self) -> &[Arc<OpsClient>] {
        &self.ops
    }
}

fn alone_view() -> ClusterView {
    ClusterView {
        shard: 0,
        shards: 1,
        epoch: 0,
        urls: Default::default(),
    }
}
