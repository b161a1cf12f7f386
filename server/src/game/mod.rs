//! The simulation: one [`Game`] owns the bevy_ecs World and advances it one tick at a
//! time. Only the game thread touches it; the network and ops layers talk to it through
//! [`Command`]s in and [`TickOutcome`]s out.

pub mod account;
pub mod areas;
pub mod audit;
pub mod campaigns;
pub mod clock;
pub mod commands;
pub mod components;
pub mod energy;
pub mod feed;
pub mod friends;
pub mod host;
pub mod partners;
pub mod props;
pub mod rain;
pub mod remote;
mod remote_gifts;
mod remote_teams;
pub mod remote_views;
pub mod remote_watch;
pub mod resources;
pub mod revive;
pub mod risk;
pub mod rules;
pub mod shop;
pub mod state;
pub mod stealable;
pub mod tasks;
pub mod teams;
pub mod time_systems;
pub mod tokens;
pub mod transfers;
pub mod views;
pub mod vitality;

pub use clock::{ClockMode, GameClock};
pub use resources::{AdminOp, Command, HostIdentity, Op, Origin, Recipient, Reply, SessionId};

use crate::config::Config;
use crate::social::Social;
use crate::store::{Loaded, Meta, Store, StoreError, TickBatch};
use bevy_ecs::entity::Entity;
use bevy_ecs::schedule::{IntoScheduleConfigs, Schedule};
use bevy_ecs::world::World;
use canopy_shared::{ErrorBody, ErrorCode, Event, PlayerId};
use components::{
    ActionLog, Certificates, OwnedBalls, PlayerBundle, Profile, Props, SocialLog, Wallet,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use resources::{
    Counters, Directory, Dirty, GameRng, Health, Inbox, Ledger, Outbox, Sessions, Settings,
    StoreHandle, Teams, Timeline,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one tick produced, to deliver only because the batch is durable (or, when the
/// commit failed, error replies in place of every reply).
#[derive(Debug, Default)]
pub struct TickOutcome {
    /// Replies in command order.
    pub replies: Vec<Reply>,
    /// Events for players' sessions or for one watching session.
    pub events: Vec<(Recipient, Event)>,
    /// Sessions to close after the replies and events, with the close frame's reason:
    /// their token was revoked or expired.
    pub closes: Vec<(SessionId, &'static str)>,
    /// Each command's op and result, for metrics.
    pub results: Vec<(&'static str, &'static str)>,
    /// Records written.
    pub batch_records: usize,
    /// How long the commit (write + flush) took.
    pub commit_time: Duration,
    /// Commands applied.
    pub commands: usize,
    /// The commit failure, if the batch could not be made durable.
    pub store_error: Option<String>,
    /// Risk rules tripped, by rule and decision, for metrics.
    pub risk_trips: Vec<(&'static str, canopy_shared::risk::Decision)>,
    /// Cluster mode: messages to publish and confirmations to send, now durable.
    pub dispatch: Vec<remote::Dispatch>,
}

/// Why the partner keys could not be opened at start.
#[derive(Debug, thiserror::Error)]
pub enum PartnerKeysRefused {
    /// The secret is not the one the store was sealed with.
    #[error(transparent)]
    WrongSecret(#[from] crate::partner_secret::WrongSecret),
    /// Sealing an older store's keys could not be committed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The simulation and its schedules.
pub struct Game {
    world: World,
    /// A tick: commands, then the time systems.
    schedule: Schedule,
    /// A batch between ticks: commands only.
    command_schedule: Schedule,
    store: Arc<dyn Store>,
    /// The game time the store last holds; an idle tick persists the clock only when it
    /// is this far behind.
    persisted_time: canopy_shared::Millis,
}

/// How stale the persisted clock may get in idle ticks: a restart after a crash resumes
/// a wall clock from the system clock anyway, and a manual clock moves only in ticks
/// that persist it.
const CLOCK_PERSIST_INTERVAL_MS: u64 = 1_000;

impl Game {
    /// Builds the World from what the store holds. The clock starts at `start` (default:
    /// the last persisted game time, or now for a new world) in the given mode, but
    /// never before the last persisted game time.
    pub fn load(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        mode: ClockMode,
        start: Option<canopy_shared::Millis>,
        rng_seed: Option<u64>,
    ) -> Result<Self, StoreError> {
        let mut world = World::new();
        for resource in [
            |w: &mut World| w.init_resource::<Directory>(),
            |w: &mut World| w.init_resource::<Timeline>(),
            |w: &mut World| w.init_resource::<Dirty>(),
            |w: &mut World| w.init_resource::<Inbox>(),
            |w: &mut World| w.init_resource::<Outbox>(),
            |w: &mut World| w.init_resource::<Sessions>(),
            |w: &mut World| w.init_resource::<Health>(),
            |w: &mut World| w.init_resource::<Teams>(),
            |w: &mut World| w.init_resource::<Social>(),
            |w: &mut World| w.init_resource::<tokens::Tokens>(),
            |w: &mut World| w.init_resource::<partners::Partners>(),
            |w: &mut World| w.init_resource::<risk::RiskFlags>(),
            |w: &mut World| w.init_resource::<risk::flows::FlowSink>(),
            |w: &mut World| w.init_resource::<tasks::TaskCenter>(),
            |w: &mut World| w.init_resource::<host::HostSubjects>(),
            |w: &mut World| w.init_resource::<campaigns::Campaigns>(),
            |w: &mut World| w.init_resource::<rain::RainRounds>(),
            |w: &mut World| w.init_resource::<remote::RemoteOps>(),
            |w: &mut World| w.init_resource::<remote_views::RemoteViews>(),
            |w: &mut World| w.init_resource::<friends::Visitor>(),
        ] {
            resource(&mut world);
        }
        let (stored, legacy_tokens) = load_records(store.as_ref(), Rebuild::new(&mut world))?;
        let new_world = stored.is_none();
        let meta = stored.clone().unwrap_or_default();
        let start = start
            .or(stored.map(|meta| meta.game_time))
            .unwrap_or_else(clock::wall_now);
        let clock = GameClock::new(mode, start, meta.game_time);
        world.resource_mut::<Timeline>().forget_ripe(clock.now());
        world.resource_mut::<tokens::Tokens>().requeue(clock.now());
        world.insert_resource(clock);
        world.insert_resource(Settings(config));
        campaigns::apply_config(&mut world);
        world.insert_resource(StoreHandle(store.clone()));
        world.insert_resource(GameRng(match rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        }));
        world.insert_resource(Counters {
            next_player: meta.next_player_id,
            next_ball: meta.next_ball_id,
            next_ledger: meta.next_ledger_id,
            next_certificate: meta.next_certificate_id,
            next_team: meta.next_team_id,
        });
        world.resource_mut::<Ledger>().totals = meta.totals;
        let mut schedule = Schedule::default();
        schedule.add_systems(
            (
                commands::apply_commands,
                time_systems::ripen_due_balls,
                time_systems::expire_due_balls,
                rain::settle_due_rounds,
                tokens::expire_tokens,
                stealable::announce_stealable,
            )
                .chain(),
        );
        let mut command_schedule = Schedule::default();
        command_schedule
            .add_systems((commands::apply_commands, stealable::announce_stealable).chain());
        let persisted_time = meta.game_time;
        let mut game = Self {
            world,
            schedule,
            command_schedule,
            store,
            persisted_time,
        };
        for (player, entity, hash) in &legacy_tokens {
            tokens::adopt(&mut game.world, *player, *hash);
            state::touch_player(&mut game.world, *entity);
        }
        if new_world || !legacy_tokens.is_empty() {
            game.persist_now()?;
        }
        Ok(game)
    }

    /// Opens the partner keys at rest with the server's partner secret and keeps it
    /// for the keys to come; a store written before keys were sealed is sealed and
    /// committed now. Refused, before anything is served, when the secret does not
    /// open a sealed key.
    pub fn open_partner_keys(
        &mut self,
        secret: crate::partner_secret::PartnerSecret,
    ) -> Result<(), PartnerKeysRefused> {
        let sealed = partners::open_keys(&mut self.world, secret)?;
        if sealed > 0 {
            self.persist_now()?;
            tracing::info!(sealed, "sealed the partner keys of an older store");
        }
        Ok(())
    }

    /// Commits what loading changed at once: a new world's first meta record (so a
    /// store that was opened is a store that holds a world, even if the server stops
    /// before anything happens), or the session tokens of an older store's players,
    /// moved out of their player records with an expiry from this start.
    fn persist_now(&mut self) -> Result<(), StoreError> {
        let batch = gather_batch(&mut self.world);
        self.store.commit(&batch)?;
        self.persisted_time = batch.meta.game_time;
        Ok(())
    }

    /// Queues a command for the next batch or tick.
    pub fn submit(&mut self, command: Command) {
        self.world.resource_mut::<Inbox>().0.push(command);
    }

    /// Whether commands wait to be applied.
    pub fn has_waiting_commands(&self) -> bool {
        !self.world.resource::<Inbox>().0.is_empty()
    }

    /// Registers a connected session (not yet logged in).
    pub fn connect(&mut self, session: SessionId) {
        self.world.resource_mut::<Sessions>().connect(session);
    }

    /// Forgets a session that closed.
    pub fn disconnect(&mut self, session: SessionId) {
        self.world.resource_mut::<Sessions>().disconnect(session);
    }

    /// Replaces the config (hot reload).
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.world.insert_resource(Settings(config));
        campaigns::apply_config(&mut self.world);
    }

    /// The config in force.
    pub fn config(&self) -> Arc<Config> {
        self.world.resource::<Settings>().0.clone()
    }

    /// The game clock.
    pub fn now(&self) -> canopy_shared::Millis {
        self.world.resource::<GameClock>().now()
    }

    /// Ledger totals, for metrics and audits.
    pub fn totals(&self) -> crate::store::LedgerTotals {
        self.world.resource::<Ledger>().totals.clone()
    }

    /// Grams held under open risk flags and forfeited under confirmed ones.
    pub fn risk_holds(&self) -> (u64, u64) {
        self.world.resource::<risk::RiskFlags>().totals()
    }

    /// The energy-flow window, for the graph analysis off the game thread.
    pub fn flow_sink(&self) -> risk::flows::FlowSink {
        self.world.resource::<risk::flows::FlowSink>().clone()
    }

    /// Revival totals, for audits.
    pub fn revival_totals(&self) -> crate::store::RevivalTotals {
        self.world.resource::<Ledger>().revival.clone()
    }

    /// Vitality totals, for metrics and audits.
    pub fn vitality_totals(&self) -> crate::store::VitalityTotals {
        self.world.resource::<Ledger>().vitality.clone()
    }

    /// Energy rain totals, for metrics and audits.
    pub fn rain_totals(&self) -> crate::store::RainTotals {
        self.world.resource::<Ledger>().rain.clone()
    }

    /// The sessions a player has open, for routing their events.
    pub fn sessions_of(&self, player: PlayerId) -> &[SessionId] {
        self.world.resource::<Sessions>().of(player)
    }

    /// Why the game stopped acknowledging changes, if it did.
    pub fn store_failure(&self) -> Option<String> {
        self.world.resource::<Health>().store_failure.clone()
    }

    /// Every partner's credential and the revision it is at, for the ops side to
    /// authenticate partner calls with.
    pub fn partner_credentials(&self) -> (u64, partners::PartnerCredentials) {
        let partners = self.world.resource::<partners::Partners>();
        (partners.revision, partners.credentials())
    }

    /// The revision of the partner registry: it moves on every change.
    pub fn partner_revision(&self) -> u64 {
        self.world.resource::<partners::Partners>().revision
    }

    /// Cluster mode: the messages sent and not yet confirmed, to publish again at start.
    pub fn unconfirmed_messages(&self) -> Vec<crate::store::outbox::Envelope> {
        self.world.resource::<remote::RemoteOps>().unconfirmed()
    }

    /// Read access for audits and tests.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Write access, for benches and tests that call op handlers directly instead of
    /// going through a tick.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// Runs one tick.
    ///
    /// 1. Read the clock (a wall clock catches up; a manual one stays).
    /// 2. Apply the queued commands in arrival order (`commands`, deciding by `rules`).
    /// 3. Time systems: ripen due balls, expire due balls (off the time-ordered index).
    /// 4. Gather the tick's changes: dirty players and balls, receipts, ledger, meta.
    /// 5. Commit them as one atomic batch with one durable sync (group commit).
    /// 6. Release replies and events, only now that they are durable; if the commit
    ///    failed, every reply becomes an `INTERNAL` error and nothing more is acked.
    pub fn tick(&mut self) -> TickOutcome {
        self.world.resource_mut::<GameClock>().refresh();
        self.step(true)
    }

    /// Applies the waiting commands between ticks: phases 2, 4, 5 and 6 of [`tick`],
    /// with the same systems and rules, so a command waits for the batch in flight and
    /// not for the next tick. The clock stays where the last tick left it, so every
    /// command sees time move only with the time systems. A batch that moves a manual
    /// clock runs as a whole tick, so whatever ripens by the new time has ripened
    /// before its answer.
    ///
    /// [`tick`]: Self::tick
    pub fn apply_waiting(&mut self) -> TickOutcome {
        let moves_clock = self
            .world
            .resource::<Inbox>()
            .0
            .iter()
            .any(|command| matches!(command.op, Op::Admin(AdminOp::AdvanceClock(_))));
        if moves_clock {
            return self.tick();
        }
        self.step(false)
    }

    /// Applies the waiting commands (and the time systems, in a tick), commits the
    /// changes and releases the replies and events once durable.
    fn step(&mut self, time_systems: bool) -> TickOutcome {
        let commands = self.world.resource::<Inbox>().0.len();
        if self.world.resource::<Health>().store_failure.is_some() {
            commands::apply_commands(&mut self.world);
        } else if time_systems {
            self.schedule.run(&mut self.world);
        } else {
            self.command_schedule.run(&mut self.world);
        }
        self.world.clear_trackers();
        let batch = gather_batch(&mut self.world);
        let outbox = std::mem::take(&mut *self.world.resource_mut::<Outbox>());
        // Published only if the batch that wrote them becomes durable.
        let dispatch = self
            .world
            .resource_mut::<remote::RemoteOps>()
            .take_dispatch();
        let mut outcome = TickOutcome {
            batch_records: batch.len(),
            commands,
            results: outbox.results,
            risk_trips: self.world.resource_mut::<risk::RiskFlags>().take_trips(),
            ..TickOutcome::default()
        };
        if self.world.resource::<Health>().store_failure.is_some() {
            outcome.replies = outbox.replies;
            return outcome;
        }
        let clock_moved = batch.meta.game_time != self.persisted_time;
        let clock_stale = batch.meta.game_time >= self.persisted_time + CLOCK_PERSIST_INTERVAL_MS;
        let manual = self.world.resource::<GameClock>().mode() == ClockMode::Manual;
        if batch.is_empty() && !(clock_stale || (manual && clock_moved)) {
            outcome.batch_records = 0;
            outcome.replies = outbox.replies;
            outcome.events = outbox.events;
            outcome.closes = outbox.closes;
            outcome.dispatch = dispatch;
            return outcome;
        }
        let started = Instant::now();
        let committed = self.store.commit(&batch);
        outcome.commit_time = started.elapsed();
        if committed.is_ok() {
            self.persisted_time = batch.meta.game_time;
        }
        match committed {
            Ok(()) => {
                outcome.replies = outbox.replies;
                outcome.events = outbox.events;
                outcome.closes = outbox.closes;
                outcome.dispatch = dispatch;
            }
            Err(err) => {
                let failure = err.to_string();
                tracing::error!(error = %failure, "commit failed; refusing changes until restart");
                self.world.resource_mut::<Health>().store_failure = Some(failure.clone());
                outcome.replies = outbox
                    .replies
                    .into_iter()
                    .map(|r| unacknowledged(r, &failure))
                    .collect();
                outcome.store_error = Some(failure);
            }
        }
        outcome
    }
}

/// Turns a reply whose change could not be made durable into an `INTERNAL` error.
fn unacknowledged(reply: Reply, failure: &str) -> Reply {
    let error = ErrorBody::new(
        ErrorCode::Internal,
        format!("the change could not be saved ({failure}); it did not happen"),
    );
    match reply {
        Reply::Session { session, text } => {
            let id = canopy_shared::frame::decode_server_frame(&text)
                .ok()
                .and_then(|frame| match frame {
                    canopy_shared::frame::ServerFrame::Reply(reply) => reply.id,
                    canopy_shared::frame::ServerFrame::Event(_) => None,
                });
            Reply::Session {
                session,
                text: canopy_shared::reply::encode_err(id, error),
            }
        }
        Reply::Admin { key, .. } => Reply::Admin {
            key,
            result: Err(error),
        },
    }
}

/// Spawns the stored players and balls and rebuilds every index.
/// Records handed from the store's reader thread to the builder at a time.
const LOAD_CHUNK: usize = 4096;

/// A player of an older store whose login token still sits in their record.
type LegacyToken = (PlayerId, Entity, crate::store::TokenHash);

/// Reads the store on a second thread while this one builds the World, so start-up
/// uses both cores: decoding records and inserting them cost about the same. Returns
/// the meta record and the players whose tokens are still to be moved out of their
/// records.
fn load_records(
    store: &dyn Store,
    mut rebuild: Rebuild,
) -> Result<(Option<Meta>, Vec<LegacyToken>), StoreError> {
    std::thread::scope(|scope| {
        let (sender, chunks) = std::sync::mpsc::sync_channel::<Vec<Loaded>>(16);
        let reader = scope.spawn(move || {
            let mut chunk = Vec::with_capacity(LOAD_CHUNK);
            let meta = store.visit(&mut |record| {
                chunk.push(record);
                if chunk.len() == LOAD_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(LOAD_CHUNK));
                    // The builder only stops early if it panicked; the join reports that.
                    let _ = sender.send(full);
                }
            });
            let _ = sender.send(chunk);
            meta
        });
        for record in chunks.into_iter().flatten() {
            rebuild.add(record);
        }
        let legacy = rebuild.finish();
        let meta = reader
            .join()
            .expect("the store reader thread does not panic")?;
        Ok((meta, legacy))
    })
}

/// Rebuilds the World from the store's records as they are read, so a big world is
/// never held twice in memory.
struct Rebuild<'w> {
    world: &'w mut World,
    social: Social,
    teams: Teams,
    legacy_tokens: Vec<LegacyToken>,
    vitality_totals: crate::store::VitalityTotals,
    revival_totals: crate::store::RevivalTotals,
    rain_totals: crate::store::RainTotals,
}

impl<'w> Rebuild<'w> {
    fn new(world: &'w mut World) -> Self {
        Self {
            world,
            social: Social::default(),
            teams: Teams::default(),
            legacy_tokens: Vec::new(),
            vitality_totals: crate::store::VitalityTotals::default(),
            revival_totals: crate::store::RevivalTotals::default(),
            rain_totals: crate::store::RainTotals::default(),
        }
    }

    fn add(&mut self, record: Loaded) {
        match record {
            Loaded::Player(record) => self.add_player(record),
            Loaded::Ball(ball) => self.add_ball(ball),
            Loaded::Friendship(a, b) => self.social.graph.befriend_unchecked(a, b),
            Loaded::Request(from, to, sent) => self.social.add_request(from, to, sent),
            Loaded::Block(blocker, blocked) => {
                self.social.block(blocker, blocked);
            }
            Loaded::Team(team) => {
                for &member in &team.members {
                    self.teams.add_member(team.id, member);
                }
                self.teams.by_id.insert(team.id, team);
            }
            Loaded::HostBinding(key, binding) => {
                self.world
                    .resource_mut::<host::HostSubjects>()
                    .bind(key, binding.player);
            }
            Loaded::Token(hash, token) => {
                // The clock is not known yet; `Tokens::requeue` places each once it is.
                self.world
                    .resource_mut::<tokens::Tokens>()
                    .insert(hash, token, 0);
            }
            Loaded::Partner(partner) => self
                .world
                .resource_mut::<partners::Partners>()
                .load(partner),
            Loaded::RiskFlag(flag) => self
                .world
                .resource_mut::<risk::RiskFlags>()
                .insert_loaded(flag),
            Loaded::Task(task) => self
                .world
                .resource_mut::<tasks::TaskCenter>()
                .load_task(task),
            Loaded::TaskBook(player, book) => self
                .world
                .resource_mut::<tasks::TaskCenter>()
                .load_book(player, book),
            Loaded::Campaign(campaign) => self
                .world
                .resource_mut::<campaigns::Campaigns>()
                .load(campaign),
            Loaded::Vitality(record) => self.add_vitality(record),
            Loaded::VitalityTotals(totals) => self.vitality_totals = totals,
            Loaded::Revival(record) => self.add_revival(record),
            Loaded::RevivalTotals(totals) => self.revival_totals = totals,
            Loaded::Areas(record) => self.add_areas(record),
            Loaded::Rain(record) => self.add_rain(record),
            Loaded::RainTotals(totals) => self.rain_totals = totals,
            Loaded::Outbox(record) => self.world.resource_mut::<remote::RemoteOps>().load(record),
        }
    }

    /// The entity of the player a per-player record belongs to; `None` (logged) for a
    /// record whose player is not in the store.
    fn owner_of(&self, player: PlayerId, what: &str) -> Option<Entity> {
        let entity = self
            .world
            .resource::<Directory>()
            .players
            .get(&player)
            .copied();
        if entity.is_none() {
            tracing::warn!(player = %player, "{what} record without a player skipped");
        }
        entity
    }

    fn add_revival(&mut self, record: crate::store::RevivalRecord) {
        let Some(entity) = self.owner_of(record.player, "revival") else {
            return;
        };
        self.world
            .get_mut::<components::Revivals>(entity)
            .expect("player has Revivals")
            .0 = record;
    }

    /// Joins a player's area certificates to their tree certificates, in id order.
    fn add_areas(&mut self, record: crate::store::AreaRecord) {
        let Some(entity) = self.owner_of(record.player, "area") else {
            return;
        };
        let mut certificates = self
            .world
            .get_mut::<Certificates>(entity)
            .expect("player has Certificates");
        certificates
            .0
            .extend(record.certificates.into_iter().map(Into::into));
        certificates.0.sort_by_key(|certificate| certificate.id);
    }

    fn add_vitality(&mut self, record: crate::store::VitalityRecord) {
        let Some(entity) = self.owner_of(record.player, "vitality") else {
            return;
        };
        self.world
            .get_mut::<components::Vitality>(entity)
            .expect("player has Vitality")
            .0 = record;
    }

    /// A player's energy rain record; a round still in flight goes back on the
    /// settling queue, so one whose end passed while the server was down settles on the
    /// first tick.
    fn add_rain(&mut self, record: crate::store::RainRecord) {
        let directory = self.world.resource::<Directory>();
        let Some(&entity) = directory.players.get(&record.player) else {
            tracing::warn!(player = %record.player, "rain record without a player skipped");
            return;
        };
        if let Some(round) = &record.round {
            self.world
                .resource_mut::<rain::RainRounds>()
                .queue(round.ends_at, record.player);
        }
        self.world
            .get_mut::<components::Rain>(entity)
            .expect("player has Rain")
            .0 = record;
    }

    fn add_player(&mut self, record: crate::store::PlayerRecord) {
        let (id, legacy) = (record.id, record.legacy_token_hash);
        let entity = self.world.spawn(PlayerBundle::from_record(record)).id();
        self.world
            .resource_mut::<Directory>()
            .players
            .insert(id, entity);
        if legacy != [0; 32] {
            self.legacy_tokens.push((id, entity, legacy));
        }
    }

    /// Balls come in id order, after their owners, so each owner's list stays in
    /// creation order. Every ball goes on the ripening queue; the ones already ripe are
    /// dropped from it once the clock is known.
    fn add_ball(&mut self, ball: crate::store::Ball) {
        let Some(owner) = self
            .world
            .resource::<Directory>()
            .players
            .get(&ball.owner)
            .copied()
        else {
            tracing::warn!(ball = %ball.id, owner = %ball.owner, "ball without an owner skipped");
            return;
        };
        let id = ball.id;
        state::schedule_ball(self.world, &ball);
        let entity = self.world.spawn(ball).id();
        self.world
            .resource_mut::<Directory>()
            .balls
            .insert(id, entity);
        self.world
            .get_mut::<OwnedBalls>(owner)
            .expect("player has OwnedBalls")
            .0
            .push(id);
    }

    fn finish(mut self) -> Vec<LegacyToken> {
        self.social.graph.shrink_to_fit();
        self.world.insert_resource(self.social);
        self.world.insert_resource(self.teams);
        self.world.insert_resource(Ledger {
            vitality: self.vitality_totals,
            revival: self.revival_totals,
            rain: self.rain_totals,
            ..Ledger::default()
        });
        self.legacy_tokens
    }
}

/// Collects everything the tick changed into one batch.
fn gather_batch(world: &mut World) -> TickBatch {
    let dirty = std::mem::take(&mut *world.resource_mut::<Dirty>());
    let mut batch = TickBatch::default();
    for entity in dirty.players {
        if let Some(record) = player_record(world, entity) {
            batch.players.push(record);
        }
    }
    let directory = world.resource::<Directory>();
    for (id, owner) in dirty.balls {
        match directory.balls.get(&id) {
            Some(&entity) => batch.balls.push(
                world
                    .get::<crate::store::Ball>(entity)
                    .expect("indexed ball has Ball")
                    .clone(),
            ),
            None => batch.removed_balls.push((owner, id)),
        }
    }
    batch.receipts = dirty
        .receipts
        .into_iter()
        .map(|((player, reference), result)| (player, reference, result))
        .collect();
    batch.ledger = std::mem::take(&mut world.resource_mut::<Ledger>().pending);
    batch.social = dirty.social;
    batch.feed = dirty.feed;
    batch.feed_trimmed = dirty.feed_trimmed;
    batch.tokens = dirty.tokens;
    batch.risk_flags = world.resource_mut::<risk::RiskFlags>().take_dirty();
    batch.host_bindings = dirty.host_bindings;
    batch.vitality = dirty
        .vitality
        .iter()
        .filter_map(|&entity| world.get::<components::Vitality>(entity))
        .map(|vitality| vitality.0.clone())
        .collect();
    if !batch.vitality.is_empty() {
        batch.vitality_totals = Some(world.resource::<Ledger>().vitality.clone());
    }
    batch.revivals = dirty
        .revivals
        .iter()
        .filter_map(|&entity| world.get::<components::Revivals>(entity))
        .map(|revivals| revivals.0.clone())
        .collect();
    batch.areas = dirty
        .areas
        .iter()
        .filter_map(|&entity| {
            let player = world.get::<Profile>(entity)?.id;
            let certificates = world
                .get::<Certificates>(entity)?
                .0
                .iter()
                .filter_map(crate::store::AreaCertificate::of)
                .collect();
            Some(crate::store::AreaRecord {
                player,
                certificates,
            })
        })
        .collect();
    if !batch.revivals.is_empty() {
        batch.revival_totals = Some(world.resource::<Ledger>().revival.clone());
    }
    batch.rain = dirty
        .rain
        .iter()
        .filter_map(|&entity| world.get::<components::Rain>(entity))
        .map(|rain| rain.0.clone())
        .collect();
    if !batch.rain.is_empty() {
        batch.rain_totals = Some(world.resource::<Ledger>().rain.clone());
    }
    let teams = world.resource::<Teams>();
    for &id in &dirty.teams {
        match teams.by_id.get(&id) {
            Some(team) => batch.teams.push(team.clone()),
            None => batch.removed_teams.push(id),
        }
    }
    (batch.outbox, batch.inbox) = world.resource_mut::<remote::RemoteOps>().take_writes();
    partners::gather(world, &mut batch);
    tasks::gather(world, &mut batch);
    campaigns::gather(world, &mut batch);
    let counters = world.resource::<Counters>();
    batch.meta = Meta {
        game_time: world.resource::<GameClock>().now(),
        next_player_id: counters.next_player,
        next_ball_id: counters.next_ball,
        next_ledger_id: counters.next_ledger,
        next_certificate_id: counters.next_certificate,
        next_team_id: counters.next_team,
        totals: world.resource::<Ledger>().totals.clone(),
    };
    batch
}

fn player_record(world: &World, entity: Entity) -> Option<crate::store::PlayerRecord> {
    Some(components::to_record(
        world.get::<Profile>(entity)?,
        world.get::<Wallet>(entity)?,
        world.get::<ActionLog>(entity)?,
        world.get::<Props>(entity)?,
        world.get::<Certificates>(entity)?,
        world.get::<SocialLog>(entity)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    #[test]
    fn a_new_store_holds_a_world_as_soon_as_the_game_loads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Arc::new(Config::default_embedded());
        {
            let store = Arc::new(SledStore::open(dir.path(), 8).expect("a new store opens"));
            // Loaded and dropped before any tick, as a server killed right after start.
            Game::load(config.clone(), store, ClockMode::Manual, Some(42), None)
                .expect("a new world loads");
        }
        let store = Arc::new(SledStore::open(dir.path(), 8).expect("the store opens again"));
        let game = Game::load(config, store, ClockMode::Manual, None, None)
            .expect("the world loads again");
        assert_eq!(game.now(), 42, "its clock was persisted");
    }
}
