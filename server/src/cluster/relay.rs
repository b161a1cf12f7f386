//! The relay between a shard's game and the other shards, over one replicated JetStream
//! stream with a subject per shard. Outbound: every message the game committed to its
//! outbox is published with its message key as `Nats-Msg-Id` (so a republish inside
//! JetStream's window is dropped there, and any later one by the receiver's inbox), and
//! published again while unconfirmed: at start, and when it stays unconfirmed. Inbound:
//! a durable consumer hands each message to the game and acknowledges it to JetStream
//! only once the batch that applied it is durable, so a shard killed in between gets
//! it again.

use crate::game::remote::{Delivery, Dispatch};
use crate::game_loop::{Control, GameHandle};
use crate::store::outbox::{Envelope, Leg, MessageKey};
use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The stream every shard's messages go through.
pub const STREAM: &str = "CANOPY_TRANSFERS";
/// Messages delivered to a consumer and not yet acknowledged: how many the inbox hands
/// the game at once (the game applies them in a few batches).
const INBOX_CONCURRENCY: usize = 256;
/// How long JetStream waits for an acknowledgement before delivering again; longer than
/// any batch, shorter than a restart.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// A message unconfirmed this long is published again.
const REPUBLISH_AFTER: Duration = Duration::from_secs(20);
/// How often unconfirmed messages are looked at.
const REPUBLISH_EVERY: Duration = Duration::from_secs(5);
/// The pause between attempts to publish while JetStream does not acknowledge.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What travels on the stream.
#[derive(Serialize, Deserialize)]
enum Wire {
    /// A message of the outbox.
    Message(Envelope),
    /// The receiver applied the sender's message `MessageKey`.
    Confirm(MessageKey),
}

/// The subject shard `shard` consumes.
fn subject(shard: u64) -> String {
    format!("canopy.transfers.{shard}")
}

/// Runs the outbound half at once (publishing retries until the stream exists) and the
/// inbound half as soon as the stream and this shard's consumer can be had, until the
/// server stops.
pub async fn run(
    client: async_nats::Client,
    shard: u64,
    replicas: usize,
    remote_timeout: Duration,
    game: GameHandle,
    unconfirmed: Vec<Envelope>,
    dispatches: mpsc::UnboundedReceiver<Dispatch>,
) {
    let js = jetstream::new(client);
    let outbound = Outbound {
        js: js.clone(),
        shard,
        remote_timeout,
        game: game.clone(),
        unconfirmed: HashMap::new(),
    };
    tokio::join!(
        inbound(js, shard, replicas, game),
        outbound.run(unconfirmed, dispatches)
    );
}

/// Creates (or finds) the stream and this shard's durable consumer.
async fn open_consumer(
    js: &jetstream::Context,
    shard: u64,
    replicas: usize,
) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
    let stream = js
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            description: Some("Canopy's messages between shards".to_owned()),
            subjects: vec!["canopy.transfers.*".to_owned()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .context("creating the stream of messages between shards")?;
    stream
        .get_or_create_consumer(
            &format!("shard-{shard}"),
            consumer::pull::Config {
                durable_name: Some(format!("shard-{shard}")),
                filter_subject: subject(shard),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: INBOX_CONCURRENCY as i64,
                ..Default::default()
            },
        )
        .await
        .context("creating this shard's consumer")
}

/// Hands every delivered message to the game and acknowledges it once applied durably.
async fn inbound(js: jetstream::Context, shard: u64, replicas: usize, game: GameHandle) {
    let consumer = loop {
        match open_consumer(&js, shard, replicas).await {
            Ok(consumer) => break consumer,
            Err(err) => {
                tracing::warn!("cannot open this shard's messages yet ({err:#}); retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    };
    loop {
        let messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(%err, "cannot read this shard's messages; retrying");
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        messages
            .for_each_concurrent(INBOX_CONCURRENCY, |message| {
                let game = game.clone();
                async move {
                    match message {
                        Ok(message) => apply(&game, message).await,
                        Err(err) => tracing::warn!(%err, "a message could not be received"),
                    }
                }
            })
            .await;
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Applies one delivered message; unacknowledged (delivered again later) if the game
/// could not make it durable.
async fn apply(game: &GameHandle, message: jetstream::Message) {
    let delivery = match postcard::from_bytes::<Wire>(&message.payload) {
        Ok(Wire::Message(envelope)) => Delivery::Message(envelope),
        Ok(Wire::Confirm(key)) => Delivery::Confirmed(key),
        Err(err) => {
            tracing::error!(%err, subject = %message.subject, "dropping a message that is not Canopy's");
            let _ = message.ack().await;
            return;
        }
    };
    match ask(game, delivery).await {
        Ok(()) => {
            if let Err(err) = message.ack().await {
                tracing::warn!(%err, "an applied message could not be acknowledged; it will come again and be recognised");
            }
        }
        Err(err) => {
            tracing::warn!(%err, "a message was not applied; JetStream will deliver it again")
        }
    }
}

/// Hands the game a delivery and waits until the batch that applied it is durable.
async fn ask(game: &GameHandle, delivery: Delivery) -> anyhow::Result<()> {
    let (answer, answered) = oneshot::channel();
    game.control(Control::Remote(Box::new(delivery), answer))
        .map_err(|_| anyhow::anyhow!("the game thread is gone"))?;
    match answered.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => anyhow::bail!("{error}"),
        Err(_) => anyhow::bail!("the game thread stopped before answering"),
    }
}

/// The outbound half: publishes, republishes and times out.
struct Outbound {
    js: jetstream::Context,
    shard: u64,
    remote_timeout: Duration,
    game: GameHandle,
    /// Messages published and not yet confirmed, with when they were last published.
    unconfirmed: HashMap<MessageKey, (Envelope, Instant)>,
}

impl Outbound {
    async fn run(
        mut self,
        at_start: Vec<Envelope>,
        mut dispatches: mpsc::UnboundedReceiver<Dispatch>,
    ) {
        for envelope in at_start {
            self.publish(envelope);
        }
        let mut republish = tokio::time::interval(REPUBLISH_EVERY);
        loop {
            tokio::select! {
                dispatch = dispatches.recv() => match dispatch {
                    Some(Dispatch::Publish(envelope)) => self.publish(envelope),
                    Some(Dispatch::Confirm { to_shard, key }) => {
                        let id = format!("{key}-confirmed");
                        self.send(to_shard, id, &Wire::Confirm(key));
                    }
                    Some(Dispatch::Forget(key)) => {
                        self.unconfirmed.remove(&key);
                    }
                    Some(Dispatch::Ask { query, to_shard, view }) => super::views::ask(
                        self.js.client(),
                        self.game.clone(),
                        self.remote_timeout,
                        (query, to_shard, view),
                    ),
                    Some(Dispatch::Changed { to_shard, stealable, forests }) => {
                        super::views::tell(self.js.client(), to_shard, stealable, forests);
                    }
                    None => return,
                },
                _ = republish.tick() => self.republish_stale(),
            }
        }
    }

    /// Publishes a message of the outbox and, for a request begun here, starts its
    /// timeout.
    fn publish(&mut self, envelope: Envelope) {
        let key = envelope.key;
        if key.leg == Leg::Request && envelope.from_shard == self.shard {
            let (game, timeout) = (self.game.clone(), self.remote_timeout);
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Err(err) = ask(&game, Delivery::TimedOut(key.transfer)).await {
                    tracing::debug!(%err, %key, "a timeout was not applied");
                }
            });
        }
        self.send(
            envelope.to_shard,
            key.to_string(),
            &Wire::Message(envelope.clone()),
        );
        self.unconfirmed.insert(key, (envelope, Instant::now()));
    }

    fn republish_stale(&mut self) {
        let now = Instant::now();
        let stale: Vec<Envelope> = self
            .unconfirmed
            .values_mut()
            .filter(|(_, published)| now.duration_since(*published) >= REPUBLISH_AFTER)
            .map(|(envelope, published)| {
                *published = now;
                envelope.clone()
            })
            .collect();
        for envelope in stale {
            let id = envelope.key.to_string();
            self.send(envelope.to_shard, id, &Wire::Message(envelope));
        }
    }

    /// Publishes until JetStream acknowledges (the stream is replicated and fsynced
    /// before it does), retrying through NATS outages.
    fn send(&self, to_shard: u64, id: String, wire: &Wire) {
        let payload = postcard::to_stdvec(wire).expect("cluster messages always encode");
        let js = self.js.clone();
        tokio::spawn(async move {
            loop {
                let publish = jetstream::message::PublishMessage::build()
                    .payload(payload.clone().into())
                    .message_id(&id);
                let acked = match js.send_publish(subject(to_shard), publish).await {
                    Ok(ack) => ack.await.map(drop).map_err(anyhow::Error::from),
                    Err(err) => Err(anyhow::Error::from(err)),
                };
                match acked {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::warn!(%err, %id, "publishing to another shard failed; retrying");
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
        });
    }
}
