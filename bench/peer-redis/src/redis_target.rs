//! The Redis side: a few multiplexed connections that pipeline every logical client's
//! EVALSHA, and pub/sub connections subscribed to every online player's channel, as
//! the Canopy side holds a socket per online player.

use crate::events::EventCounts;
use crate::ops::{Done, Op, Outcome};
use crate::scripts::Scripts;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use std::sync::Arc;
use std::time::Duration;

/// Connections the logical clients' requests are spread over.
const COMMAND_CONNECTIONS: usize = 4;
/// Connections holding the players' channel subscriptions.
const PUBSUB_CONNECTIONS: u64 = 2;
/// Channels subscribed per SUBSCRIBE.
const SUBSCRIBE_CHUNK: u64 = 1000;

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
    /// Connects, loads the scripts and subscribes to players 1..=players' channels,
    /// counting what they receive in `events`.
    pub async fn connect(
        url: &str,
        players: u64,
        events: &Arc<EventCounts>,
    ) -> anyhow::Result<Self> {
        let mut connections = Vec::new();
        for _ in 0..COMMAND_CONNECTIONS {
            connections.push(connection(url).await?);
        }
        let scripts = Scripts::load(&mut connections[0]).await?;
        let client = redis::Client::open(url)?;
        for part in 0..PUBSUB_CONNECTIONS {
            let mut pubsub = client.get_async_pubsub().await?;
            let channels: Vec<String> = (1..=players)
                .filter(|player| player % PUBSUB_CONNECTIONS == part)
                .map(|player| format!("ev:{player}"))
                .collect();
            for chunk in channels.chunks(SUBSCRIBE_CHUNK as usize) {
                pubsub.subscribe(chunk).await?;
            }
            let events = events.clone();
            tokio::spawn(async move {
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let payload = std::str::from_utf8(message.get_payload_bytes()).unwrap_or("");
                    events.count_frame(payload);
                }
            });
        }
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
