//! Ops confirmations of task completions (`POST /admin/tasks/{id}/complete`) in cluster
//! mode: applied by the player's shard, where the player's standing with the task
//! lives, forwarded there over NATS when it is another (`cluster::forwarding`), and
//! rewarded from that shard's allotment of the task's budget (`cluster::budgets`).

use super::budgets::Budgets;
use super::{Partition, forwarding};
use crate::config::ClusterConfig;
use crate::game::AdminOp;
use canopy_shared::{ErrorBody, PlayerId, TaskId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

fn subject(shard: u64) -> String {
    format!("canopy.ops-completions.{shard}")
}

/// One ops confirmation, as it is forwarded.
#[derive(Serialize, Deserialize)]
struct Completion {
    task: TaskId,
    player: PlayerId,
}

/// One shard's side of ops task completions.
pub struct OpsCompletions {
    client: async_nats::Client,
    partition: Partition,
    budgets: Arc<Budgets>,
    forward_timeout: Duration,
}

impl OpsCompletions {
    /// This shard's side.
    pub fn new(client: async_nats::Client, config: &ClusterConfig, budgets: Arc<Budgets>) -> Self {
        Self {
            client,
            partition: Partition::from_config(config),
            budgets,
            forward_timeout: forwarding::timeout(config),
        }
    }

    /// Confirms that `player` completed `task`, on the player's shard. An ops
    /// confirmation carries no `ref`: a `SHARD_TIMEOUT` answer may still be applied
    /// late, so the caller checks before confirming again.
    pub async fn complete(&self, task: TaskId, player: PlayerId) -> Result<String, ErrorBody> {
        if self.partition.owns(player) {
            return complete_here(&self.budgets, Completion { task, player }).await;
        }
        let shard = self.partition.owner(player);
        let to = forwarding::Destination {
            shard,
            subject: subject(shard),
            timeout: self.forward_timeout,
        };
        let retry = "the completion may still be applied: check the task's completions \
                     before confirming it again";
        forwarding::forward(&self.client, to, &Completion { task, player }, retry).await
    }
}

async fn complete_here(budgets: &Budgets, completion: Completion) -> Result<String, ErrorBody> {
    let Completion { task, player } = completion;
    budgets.run(AdminOp::TaskComplete(task, player), task).await
}

/// Applies the ops confirmations other shards forward to this one.
pub async fn serve(
    client: async_nats::Client,
    shard: u64,
    budgets: Arc<Budgets>,
) -> anyhow::Result<()> {
    forwarding::serve(client, subject(shard), move |completion: Completion| {
        let budgets = budgets.clone();
        async move { complete_here(&budgets, completion).await }
    })
    .await
}
