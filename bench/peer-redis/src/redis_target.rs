//! The bare Redis side (for information: no gateway, the load generator speaks RESP): a
//! few multiplexed connections that pipeline every logical client's EVALSHA, and one
//! pub/sub connection on the events channel that reads every online player's events.
//! The watches of the [`WatchPlan`] are written into Redis (`wf`, `fw:<owner>`) as the
//! gateway writes them, so the scripts push the same lines; here a player's
//! `friend_stealable` lines are counted as they come, not coalesced per batch.

use crate::events::EventCounts;
use crate::ops::{Done, Op, Outcome};
use crate::scripts::Scripts;
use crate::workload::WatchPlan;
use crate::world::World;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use std::sync::Arc;
use std::time::Duration;

/// Connections the logical clients' requests are spread over.
const COMMAND_CONNECTIONS: usize = 4;
/// The pub/sub channel every script publishes to, each message `<player> <json>`.
pub const EVENTS_CHANNEL: &str = "ev";

/// The Redis peer, connected.
pub struct RedisTarget {
    connections: Vec<MultiplexedConnection>,
    scripts: Scripts,
}

/// The connection settings: no client-side timeout shorter than the run's own (30 s),
/// and a pipeline queue deep enough for every logical client.
fn config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_response_timeout(Some(Duration::from_secs(30)))
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_pipeline_buffer_size(4096)
}

/// One multiplexed connection.
pub async fn connection(url: &str) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    Ok(client
        .get_multiplexed_async_connection_with_config(&config())
        .await?)
}

impl RedisTarget {
    /// Connects, loads the scripts, writes the watches of players 1..=players and
    /// counts the events of those players in `events`.
    pub async fn connect(
        url: &str,
        players: u64,
        world: &World,
        watches: WatchPlan,
        events: &Arc<EventCounts>,
    ) -> anyhow::Result<Self> {
        let target = Self::connect_commands(url).await?;
        let mut watch = redis::pipe();
        for player in 1..=players {
            if watches.watches_friends(player) {
                watch.cmd("SADD").arg("wf").arg(player).ignore();
            }
            let friends = &world.players[(player - 1) as usize].friends;
            if let Some(friend) = watches.watched_forest(player, friends) {
                watch
                    .cmd("SADD")
                    .arg(format!("fw:{friend}"))
                    .arg(player)
                    .ignore();
            }
        }
        watch.query_async::<()>(&mut target.connection()).await?;
        let client = redis::Client::open(url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(EVENTS_CHANNEL).await?;
        let events = events.clone();
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let payload = std::str::from_utf8(message.get_payload_bytes()).unwrap_or("");
                if let Some((player, json)) = payload.split_once(' ')
                    && player.parse::<u64>().is_ok_and(|p| p <= players)
                {
                    events.count_frame(json);
                }
            }
        });
        Ok(target)
    }

    /// Connects and loads the scripts, without sessions (the gateway setups use this
    /// for the conservation check).
    pub async fn connect_commands(url: &str) -> anyhow::Result<Self> {
        let mut connections = Vec::new();
        for _ in 0..COMMAND_CONNECTIONS {
            connections.push(connection(url).await?);
        }
        let scripts = Scripts::load(&mut connections[0]).await?;
        Ok(Self {
            connections,
            scripts,
        })
    }

    /// The scripts' SHA1s.
    pub fn scripts(&self) -> &Scripts {
        &self.scripts
    }

    /// A command connection (for checks after the run).
    pub fn connection(&self) -> MultiplexedConnection {
        self.connections[0].clone()
    }

    /// Runs one op's script and reads its outcome.
    pub async fn call(&self, op: &Op) -> Outcome {
        let s = &self.scripts;
        let mut cmd = redis::cmd("EVALSHA");
        match *op {
            Op::Collect { player, ball } => cmd.arg(&s.collect).arg(0).arg(player).arg(ball),
            Op::Steal { thief, owner, ball } => {
                cmd.arg(&s.steal).arg(0).arg(thief).arg(owner).arg(ball)
            }
            Op::Water {
                giver,
                friend,
                grams,
            } => cmd.arg(&s.water).arg(0).arg(giver).arg(friend).arg(grams),
            Op::Me { player } => cmd.arg(&s.me).arg(0).arg(player),
            Op::Friends { player } => cmd.arg(&s.friends).arg(0).arg(player),
            Op::FriendBalls { player, friend } => {
                cmd.arg(&s.friend_balls).arg(0).arg(player).arg(friend)
            }
        };
        let mut con = self.connections[(op.actor() as usize) % self.connections.len()].clone();
        match cmd.query_async::<Value>(&mut con).await {
            Ok(value) => outcome(op, &value),
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }
}

/// Reads a script's reply: `{'ok', ...numbers}` or `{CODE}`.
fn outcome(op: &Op, value: &Value) -> Outcome {
    let Value::Array(items) = value else {
        return Outcome::Failed(format!("unexpected reply {value:?}"));
    };
    let int = |at: usize| match items.get(at) {
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    match items.first() {
        Some(Value::BulkString(status)) if status == b"ok" => Outcome::Done(match op {
            Op::Collect { .. } | Op::Steal { .. } => Done {
                grams: int(1),
                energy: int(2),
                ball_id: None,
            },
            Op::Water { .. } => Done {
                grams: None,
                energy: int(1),
                ball_id: int(2),
            },
            Op::Me { .. } | Op::Friends { .. } | Op::FriendBalls { .. } => Done::default(),
        }),
        Some(Value::BulkString(code)) => {
            Outcome::Refused(String::from_utf8_lossy(code).into_owned())
        }
        _ => Outcome::Failed(format!("unexpected reply {value:?}")),
    }
}
