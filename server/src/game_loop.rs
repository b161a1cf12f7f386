//! The game thread: owns the [`Game`], applies commands as they arrive, runs the time
//! systems at the configured tick rate, and delivers each batch's replies and events to
//! session outboxes after the batch is durable.
//!
//! A command waits only for the batch in flight, never for the next tick: the thread
//! sleeps until a command, a control message or the next tick wakes it, takes every
//! command waiting, applies them as one batch, commits it with one durable sync, and
//! answers. Under load batches grow, so one sync covers more commands exactly when it
//! matters (group commit).

use crate::config::Config;
use crate::game::partners::PartnerCredentials;
use crate::game::{Command, Game, Recipient, Reply, SessionId, TickOutcome};
use crate::metrics::Metrics;
use canopy_shared::{ErrorBody, ErrorCode, Event};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// The game thread's end of a session: frames go into `outbox`; `kick` tells the
/// session to close at once when it stopped reading; `farewell` holds the reason when
/// the game thread ends the session itself (its token was revoked or expired).
pub struct SessionLink {
    /// Frames for the client.
    pub outbox: mpsc::Sender<Utf8Bytes>,
    /// Closes the session without draining its outbox.
    pub kick: Arc<Notify>,
    /// Why the game thread dropped the outbox, if it did so to end the session; unset,
    /// a closed outbox means the server is stopping.
    pub farewell: Arc<OnceLock<&'static str>>,
}

/// The answer to an admin call: a JSON result object or an error.
pub type AdminAnswer = Result<String, ErrorBody>;

/// Messages to the game thread other than player commands; never refused for load.
pub enum Control {
    /// A session connected.
    Connect(SessionId, SessionLink),
    /// A session closed.
    Disconnect(SessionId),
    /// An admin command and where its answer goes.
    Admin(crate::game::AdminOp, oneshot::Sender<AdminAnswer>),
    /// A new config to apply (hot reload).
    Reload(Arc<Config>),
    /// A new tick rate.
    TickRate(u32),
    /// Cluster mode: a delivery from the cluster part, answered once its batch is durable.
    Remote(
        Box<crate::game::remote::Delivery>,
        oneshot::Sender<AdminAnswer>,
    ),
    /// Cluster mode: another shard's read of this shard's players, answered with the
    /// view's JSON.
    View(
        Box<crate::game::remote_views::ViewQuery>,
        oneshot::Sender<AdminAnswer>,
    ),
}

/// Handles the async side uses to reach the game thread; every message also wakes it.
#[derive(Clone)]
pub struct GameHandle {
    /// Player commands; full means overloaded.
    commands: mpsc::Sender<Command>,
    /// Control messages.
    control: mpsc::UnboundedSender<Control>,
    /// Set to stop the game thread after one last tick.
    stopping: Arc<AtomicBool>,
    /// The game thread, once it runs: unparked when there is work.
    game_thread: Arc<OnceLock<Thread>>,
    /// The partners' credentials as of the last delivered batch.
    partners: watch::Receiver<Arc<PartnerCredentials>>,
}

impl GameHandle {
    /// The partners' credentials: a change (a new partner, a rotated key, a
    /// suspension) is here before the call that made it is answered.
    pub fn partner_credentials(&self) -> Arc<PartnerCredentials> {
        self.partners.borrow().clone()
    }

    /// Queues a player command; `Full` means the server is overloaded.
    pub fn submit(&self, command: Command) -> Result<(), mpsc::error::TrySendError<Command>> {
        self.commands.try_send(command)?;
        self.wake();
        Ok(())
    }

    /// Sends a control message; an error means the game thread is gone.
    pub fn control(&self, control: Control) -> Result<(), mpsc::error::SendError<Control>> {
        self.control.send(control)?;
        self.wake();
        Ok(())
    }

    /// Sends an admin op to the game thread and waits for its durable answer.
    pub async fn ask(&self, op: crate::game::AdminOp) -> AdminAnswer {
        let stopping = || ErrorBody::new(ErrorCode::ShuttingDown, "the server is stopping");
        let (answer_tx, answer_rx) = oneshot::channel();
        if self.control(Control::Admin(op, answer_tx)).is_err() {
            return Err(stopping());
        }
        answer_rx.await.unwrap_or_else(|_| Err(stopping()))
    }

    /// Asks the game thread to run one last tick and stop.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        if let Some(thread) = self.game_thread.get() {
            thread.unpark();
        }
    }
}

/// Whether the loop goes on after a turn.
#[derive(Debug, PartialEq)]
enum Turn {
    Continue,
    Stop,
}

/// The game thread's state.
pub struct GameLoop {
    game: Game,
    commands: mpsc::Receiver<Command>,
    control: mpsc::UnboundedReceiver<Control>,
    stopping: Arc<AtomicBool>,
    game_thread: Arc<OnceLock<Thread>>,
    links: HashMap<SessionId, SessionLink>,
    /// Control messages taken early with a late `Connect`, applied next tick.
    deferred_control: Vec<Control>,
    admin_waiters: HashMap<u64, oneshot::Sender<AdminAnswer>>,
    next_admin_key: u64,
    tick_rate_hz: u32,
    metrics: Arc<Metrics>,
    /// Where the partners' credentials are published, and the registry revision last
    /// published.
    partners: watch::Sender<Arc<PartnerCredentials>>,
    partners_published: u64,
    /// Cluster mode: where durable outbox messages and confirmations go.
    relay: Option<mpsc::UnboundedSender<crate::game::remote::Dispatch>>,
}

impl GameLoop {
    /// Wraps a loaded game; returns the loop and the handle for the async side.
    pub fn new(game: Game, metrics: Arc<Metrics>) -> (Self, GameHandle) {
        let config = game.config();
        let (command_tx, commands) = mpsc::channel(config.server.command_queue_capacity);
        let (control_tx, control) = mpsc::unbounded_channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let game_thread = Arc::new(OnceLock::new());
        let (partners_published, credentials) = game.partner_credentials();
        let (partners, partners_rx) = watch::channel(Arc::new(credentials));
        let handle = GameHandle {
            commands: command_tx,
            control: control_tx,
            stopping: stopping.clone(),
            game_thread: game_thread.clone(),
            partners: partners_rx,
        };
        let game_loop = Self {
            tick_rate_hz: config.server.tick_rate_hz,
            game,
            commands,
            control,
            stopping,
            game_thread,
            links: HashMap::new(),
            deferred_control: Vec::new(),
            admin_waiters: HashMap::new(),
            next_admin_key: 0,
            metrics,
            partners,
            partners_published,
            relay: None,
        };
        (game_loop, handle)
    }

    /// Cluster mode: hands every batch's messages and confirmations, once durable, to
    /// the cluster part's relay.
    pub fn relay_to(&mut self, relay: mpsc::UnboundedSender<crate::game::remote::Dispatch>) {
        self.relay = Some(relay);
    }

    /// Applies commands as they come and ticks at the tick rate until stopped, then one
    /// last tick, `server_shutdown` to everyone, and `SHUTTING_DOWN` for commands that
    /// arrived too late.
    pub fn run(mut self) {
        // Only the thread that runs the loop registers itself, once.
        let _ = self.game_thread.set(std::thread::current());
        let mut next_tick = Instant::now();
        while self.turn(&mut next_tick) == Turn::Continue {}
        self.shut_down();
    }

    /// One turn of the loop: a tick when one is due (or the server stops), else a batch
    /// of the waiting commands, else sleep until a message or the next tick.
    fn turn(&mut self, next_tick: &mut Instant) -> Turn {
        let stopping = self.stopping.load(Ordering::SeqCst);
        self.drain_inbound();
        let now = Instant::now();
        if stopping || now >= *next_tick {
            let outcome = self.game.tick();
            self.deliver(outcome);
            self.metrics
                .tick_seconds
                .observe(now.elapsed().as_secs_f64());
            if stopping {
                return Turn::Stop;
            }
            let interval = Duration::from_secs_f64(1.0 / f64::from(self.tick_rate_hz));
            // After an overrun, skip ahead instead of running ticks back to back.
            *next_tick = (*next_tick + interval).max(now);
        } else if self.game.has_waiting_commands() {
            let outcome = self.game.apply_waiting();
            self.deliver(outcome);
        } else {
            // A message sent after the drain above unparks at once (park's token).
            std::thread::park_timeout(*next_tick - now);
        }
        Turn::Continue
    }

    fn drain_inbound(&mut self) {
        self.drain_control();
        self.drain_commands();
    }

    fn drain_control(&mut self) {
        for control in std::mem::take(&mut self.deferred_control) {
            self.apply_control(control);
        }
        while let Ok(control) = self.control.try_recv() {
            self.apply_control(control);
        }
    }

    fn drain_commands(&mut self) {
        let cap = self.game.config().server.max_commands_per_tick;
        for _ in 0..cap {
            match self.commands.try_recv() {
                Ok(command) => {
                    if let crate::game::Origin::Session(session) = command.origin
                        && !self.links.contains_key(&session)
                    {
                        self.take_late_connects();
                    }
                    self.game.submit(command);
                }
                Err(_) => break,
            }
        }
    }

    /// A session sends `Connect` before its first command, but on another channel, so
    /// the command can be here while the `Connect` came in after the control queue was
    /// drained; its reply would then go nowhere. Applies the `Connect`s now and keeps
    /// the other control messages, in order, for the next tick (a `Disconnect` applied
    /// here would come before commands already submitted from that session).
    fn take_late_connects(&mut self) {
        while let Ok(control) = self.control.try_recv() {
            match control {
                Control::Connect(..) => self.apply_control(control),
                other => self.deferred_control.push(other),
            }
        }
    }

    fn apply_control(&mut self, control: Control) {
        match control {
            Control::Connect(session, link) => {
                self.game.connect(session);
                self.links.insert(session, link);
                self.metrics.sessions.set(self.links.len() as i64);
            }
            Control::Disconnect(session) => self.forget(session),
            Control::Admin(op, answer) => self.submit_for(crate::game::Op::Admin(op), answer),
            Control::Remote(delivery, answer) => {
                self.submit_for(crate::game::Op::Remote(delivery), answer);
            }
            Control::View(query, answer) => self.submit_for(crate::game::Op::View(query), answer),
            Control::Reload(config) => {
                self.tick_rate_hz = config.server.tick_rate_hz;
                self.game.set_config(config);
            }
            Control::TickRate(hz) => {
                let mut config = (*self.game.config()).clone();
                config.server.tick_rate_hz = hz;
                self.tick_rate_hz = hz;
                self.game.set_config(Arc::new(config));
            }
        }
    }

    /// Queues an op whose answer goes to a waiter off the game thread.
    fn submit_for(&mut self, op: crate::game::Op, answer: oneshot::Sender<AdminAnswer>) {
        self.next_admin_key += 1;
        self.admin_waiters.insert(self.next_admin_key, answer);
        self.game.submit(Command {
            origin: crate::game::Origin::Admin(self.next_admin_key),
            request_id: 0,
            op,
        });
    }

    fn forget(&mut self, session: SessionId) {
        self.game.disconnect(session);
        self.links.remove(&session);
        self.metrics.sessions.set(self.links.len() as i64);
    }

    fn deliver(&mut self, outcome: TickOutcome) {
        self.metrics.count_commands(&outcome.results);
        if outcome.commands > 0 || outcome.batch_records > 1 {
            self.metrics
                .batch_records
                .observe(outcome.batch_records as f64);
            self.metrics
                .flush_seconds
                .observe(outcome.commit_time.as_secs_f64());
        }
        self.metrics
            .store_failed
            .set(i64::from(self.game.store_failure().is_some()));
        self.metrics.game_time_ms.set(self.game.now() as i64);
        self.metrics.set_ledger(
            &self.game.totals(),
            self.game.rain_totals().grams,
            self.game.revival_totals().revived,
            &self.game.vitality_totals(),
        );
        if self.game.partner_revision() != self.partners_published {
            let (revision, credentials) = self.game.partner_credentials();
            self.partners.send_replace(Arc::new(credentials));
            self.partners_published = revision;
        }
        if let Some(relay) = &self.relay {
            for dispatch in outcome.dispatch {
                // The relay lives as long as the server; a stopping one loses nothing
                // durable: unconfirmed messages are published again at the next start.
                let _ = relay.send(dispatch);
            }
        }
        let (held, forfeited) = self.game.risk_holds();
        self.metrics.set_risk(&outcome.risk_trips, held, forfeited);
        for reply in outcome.replies {
            match reply {
                Reply::Session { session, text } => self.send(session, Utf8Bytes::from(text)),
                Reply::Admin { key, result } => {
                    if let Some(waiter) = self.admin_waiters.remove(&key) {
                        // The HTTP caller may have gone; nothing to do then.
                        let _ = waiter.send(result);
                    }
                }
            }
        }
        for (to, event) in outcome.events {
            self.send_event(to, &event);
        }
        for (session, reason) in outcome.closes {
            if let Some(link) = self.links.get(&session) {
                let _ = link.farewell.set(reason);
                self.forget(session);
            }
        }
    }

    /// Sends an event to every session of a player, or to one watching session.
    fn send_event(&mut self, to: Recipient, event: &Event) {
        let encode =
            || Utf8Bytes::from(serde_json::to_string(event).expect("events serialize to JSON"));
        let player = match to {
            Recipient::Session(session) => return self.send(session, encode()),
            Recipient::Player(player) => player,
        };
        let sessions = self.game.sessions_of(player).to_vec();
        if sessions.is_empty() {
            return;
        }
        let text = encode();
        for session in sessions {
            self.send(session, text.clone());
        }
    }

    /// Queues a frame; a session whose outbox is full is kicked, never waited for.
    fn send(&mut self, session: SessionId, text: Utf8Bytes) {
        let Some(link) = self.links.get(&session) else {
            return;
        };
        match link.outbox.try_send(text) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    session = session.0,
                    "outbox full; disconnecting a client that does not read"
                );
                link.kick.notify_one();
                self.metrics.outbox_drops.inc();
                self.forget(session);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.forget(session),
        }
    }

    fn shut_down(mut self) {
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let crate::game::Origin::Session(session) = command.origin {
                let error = ErrorBody::new(ErrorCode::ShuttingDown, "the server is stopping");
                let text = canopy_shared::reply::encode_err(Some(command.request_id), error);
                self.send(session, Utf8Bytes::from(text));
            }
        }
        for (_, waiter) in self.admin_waiters.drain() {
            let _ = waiter.send(Err(ErrorBody::new(
                ErrorCode::ShuttingDown,
                "the server is stopping",
            )));
        }
        let event = Event::ServerShutdown {
            reason: "the server is stopping".into(),
        };
        let text =
            Utf8Bytes::from(serde_json::to_string(&event).expect("events serialize to JSON"));
        let sessions: Vec<SessionId> = self.links.keys().copied().collect();
        for session in sessions {
            self.send(session, text.clone());
        }
        tracing::info!(
            sessions = self.links.len(),
            "game thread stopped after a final flush"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{ClockMode, Command, Op, Origin};
    use crate::store::MemoryStore;
    use canopy_shared::Request;

    /// A loop over an empty world on a manual clock, and the link of a session that has
    /// not connected yet, with the frames it will receive.
    fn loop_and_link() -> (GameLoop, GameHandle, SessionLink, mpsc::Receiver<Utf8Bytes>) {
        let config = Arc::new(Config::default_embedded());
        let store = Arc::new(MemoryStore::new());
        let game = Game::load(
            config,
            store,
            ClockMode::Manual,
            Some(1_795_536_000_000),
            None,
        )
        .expect("an empty in-memory store loads");
        let (game_loop, handle) = GameLoop::new(game, Arc::new(Metrics::new()));
        let (outbox, frames) = mpsc::channel(8);
        let link = SessionLink {
            outbox,
            kick: Arc::new(Notify::new()),
            farewell: Arc::default(),
        };
        (game_loop, handle, link, frames)
    }

    fn ping(session: SessionId, request_id: u64) -> Command {
        Command {
            origin: Origin::Session(session),
            request_id,
            op: Op::Client(Request::Ping {}),
        }
    }

    #[test]
    fn a_command_is_answered_in_its_own_batch_without_waiting_for_a_tick() {
        let (mut game_loop, handle, link, mut frames) = loop_and_link();
        let session = SessionId(1);
        assert!(handle.control(Control::Connect(session, link)).is_ok());
        let far = Instant::now() + Duration::from_secs(3600);
        let mut next_tick = far;
        assert!(handle.submit(ping(session, 9)).is_ok());
        assert_eq!(game_loop.turn(&mut next_tick), Turn::Continue);
        let reply = frames.try_recv().expect("answered in the same turn");
        assert!(reply.as_str().contains(r#""id":9"#), "{reply}");
        assert_eq!(next_tick, far, "no tick ran");
    }

    #[test]
    fn a_command_that_overtakes_its_sessions_connect_is_answered() {
        let (mut game_loop, handle, link, mut frames) = loop_and_link();
        let session = SessionId(1);
        // The control queue is drained before the session's Connect is in it; the
        // Connect and the session's first command come in before the commands are.
        game_loop.drain_control();
        assert!(handle.control(Control::Connect(session, link)).is_ok());
        assert!(handle.submit(ping(session, 7)).is_ok());
        game_loop.drain_commands();
        let outcome = game_loop.game.tick();
        game_loop.deliver(outcome);
        let reply = frames.try_recv().expect("the ping was answered");
        assert!(reply.as_str().contains(r#""id":7"#), "{reply}");
    }
}
