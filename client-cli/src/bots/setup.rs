//! Setting up a bot world through the public protocol and the ops HTTP, the way any
//! client could: register the players, befriend them in a random graph, credit green
//! actions through the partner channel, and ripen the balls on a manual clock. Or, with
//! `--generated-world`, log in as players of a world `canopy-server generate` wrote and
//! learn their friends and balls.

use crate::admin::OpsClient;
use crate::bots::graph::{Edge, friend_graph};
use crate::bots::knowledge::{GameClock, Knowledge};
use crate::bots::pace::TokenBucket;
use crate::bots::plan::Planned;
use crate::bots::progress::Progress;
use crate::bots::report::{ClusterPlacement, SetupReport};
use crate::bots::shards::Shards;
use crate::bots::wire::{Wire, WireError};
use crate::connection::ReplyOutcome;
use crate::error::CliError;
use crate::shard_redirect;
use crate::time_text::local_date;
use crate::trust::Trust;
use canopy_shared::admin::{ClockAdvance, ClockTime, PartnerAction};
use canopy_shared::reply::{
    FriendsResult, HelloResult, LoginResult, PingResult, RecordActionResult, RegisterResult,
};
use canopy_shared::{ErrorCode, Millis, PROTOCOL_VERSION, PlayerId, Request};
use futures_util::StreamExt;
use futures_util::stream;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections opened (and players registered) at once.
const CONNECT_CONCURRENCY: usize = 64;
/// Ops HTTP calls in flight at once.
const OPS_CONCURRENCY: usize = 32;
/// Partner actions credited to each player: kind and how many (526 g in five balls with
/// the default grams; all well under their caps).
const GRANTS: [(&str, usize); 3] = [("utility_bill", 1), ("bus", 2), ("metro", 2)];
/// Steps each bot reports when the clock cannot be moved (200 g in the day's walk ball).
const WALK_STEPS: u64 = 10_000;
/// How far a manual clock moves so that every ball made now is ripe: from any time of
/// day, the next 07:00 is at most 31 h away.
pub const RIPEN_ADVANCE_MS: u64 = 31 * 3_600_000;
/// How far a manual clock moves after a second day's actions so that the first day's
/// balls, ripe since at most 24 h before those actions, have expired (72 h after
/// ripening) and are revivable for a day, while the second day's are ripe and live.
pub const EXPIRE_ADVANCE_MS: u64 = 72 * 3_600_000 + 10_000;
/// The server's built-in admin token, used when none is given (local play only).
pub const DEFAULT_ADMIN_TOKEN: &str = "canopy-admin";
/// A game day in ms.
pub const DAY_MS: u64 = 86_400_000;

/// What setup needs.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    /// Players to register, one bot each.
    pub players: usize,
    /// Friends each player should get.
    pub friends_per_player: usize,
    /// The game socket URL.
    pub server_url: String,
    /// The game day's UTC offset in minutes (for walk refs and day checks).
    pub utc_offset: i32,
    /// Each bot's client-side request rate cap (0: none).
    pub bot_max_rate: f64,
    /// The seed of the friend graph (or of the generated players picked).
    pub seed: u64,
    /// Log in as players of a generated world of this many players instead of
    /// registering and befriending.
    pub generated_world: Option<u64>,
    /// How far to move a manual clock after the friendships are made, so the accounts
    /// are this old when they play (0: not at all).
    pub age_ms: u64,
    /// On a manual clock, leave every player a day's balls expired and revivable by
    /// friends (for `revive` in the mix): a day of actions, ripened, then the usual
    /// day's, then [`EXPIRE_ADVANCE_MS`].
    pub revivable: bool,
    /// The certificates trusted over `wss://`.
    pub trust: Arc<Trust>,
}

/// One bot's seat: its connection, its pace and what it knows.
pub struct Seat {
    /// Its player.
    pub player: PlayerId,
    /// Its connection, logged in as the player.
    pub wire: Wire,
    /// Whether its login was redirected to another shard.
    pub redirected: bool,
    /// Its session token, to log in again after a fault ends its connection.
    pub token: String,
    /// Keeps it under the server's per-connection rate limit.
    pub limiter: TokenBucket,
    /// What it knows.
    pub know: Knowledge,
}

impl Seat {
    /// A seat for `player` that knows nothing yet.
    fn new(
        player: PlayerId,
        wire: Wire,
        redirected: bool,
        token: String,
        limiter: TokenBucket,
    ) -> Self {
        Self {
            player,
            wire,
            redirected,
            token,
            limiter,
            know: Knowledge::new(player, Vec::new()),
        }
    }

    /// Sends one setup request at the bot's pace; events are ignored.
    pub(super) async fn call(&mut self, request: &Request) -> Result<ReplyOutcome, WireError> {
        self.limiter.take().await;
        self.wire.call(request, |_| {}).await
    }
}

/// A world ready to run.
pub struct World {
    /// One seat per player.
    pub seats: Vec<Seat>,
    /// The game clock.
    pub clock: GameClock,
    /// What setup built.
    pub report: SetupReport,
    /// Remarks for the report.
    pub notes: Vec<String>,
}

/// What the ops HTTP allows.
#[derive(Clone, Debug)]
enum OpsAccess {
    /// Admin calls work and the clock is manual.
    Manual,
    /// Admin calls work; the clock is the wall clock.
    Wall,
    /// Admin calls do not work (why).
    Unusable(String),
}

/// Builds the world.
pub async fn build(
    options: &SetupOptions,
    shards: Arc<Shards>,
    progress: &Progress,
) -> Result<World, CliError> {
    if let Some(world) = options.generated_world {
        return build_generated(options, world, shards, progress).await;
    }
    let started = Instant::now();
    let mut notes = Vec::new();
    let access = probe_every_ops(&shards).await;
    if let OpsAccess::Unusable(why) = &access {
        notes.push(format!(
            "the ops HTTP could not be used ({why}): no partner actions and no clock moves; \
             bots reported walks only, and the balls ripen at 07:00 game time"
        ));
    }

    let mut seats = register_all(options, &shards, progress).await?;
    let hello = hello(&mut seats[0]).await?;

    let mut rng = SmallRng::seed_from_u64(options.seed);
    let edges = friend_graph(options.players, options.friends_per_player, &mut rng);
    let mut friendships = befriend(&mut seats, &edges, progress, &mut notes).await;
    if friendships.timed_out > 0 {
        friendships.made = learn_friends_once_settled(&mut seats, &shards, progress).await?;
        notes.push(format!(
            "setup: {} friend requests or accepts answered SHARD_TIMEOUT (they take effect \
             later); the bots learned their friends from the server once no transfer was in \
             flight",
            friendships.timed_out
        ));
    }
    let friendships = friendships.made;

    if options.age_ms > 0 && matches!(access, OpsAccess::Manual) {
        advance_every_clock(&shards, options.age_ms).await?;
        progress.say(&format!(
            "setup: manual clock moved {} days so the accounts are that old",
            options.age_ms / DAY_MS
        ));
    }

    let mut partner_actions = 0;
    let mut grams = 0;
    let revivable = options.revivable && matches!(access, OpsAccess::Manual);
    if revivable {
        let players: Vec<PlayerId> = seats.iter().map(|seat| seat.player).collect();
        let (count, credited) =
            grant_actions(&players, "bots-expired", &shards, progress, &mut notes).await;
        partner_actions += count;
        grams += credited;
        advance_every_clock(&shards, RIPEN_ADVANCE_MS).await?;
    }
    if !matches!(access, OpsAccess::Unusable(_)) {
        let players: Vec<PlayerId> = seats.iter().map(|seat| seat.player).collect();
        let (count, credited) =
            grant_actions(&players, "bots", &shards, progress, &mut notes).await;
        partner_actions += count;
        grams += credited;
    }
    let mut walks = 0;
    if !matches!(access, OpsAccess::Manual) {
        let (count, credited) =
            walk_all(&mut seats, hello.time, options.utc_offset, progress).await;
        walks = count;
        grams += credited;
    }

    let (clock, clock_advanced_ms) = match access {
        OpsAccess::Manual => {
            let advance = if revivable {
                EXPIRE_ADVANCE_MS
            } else {
                RIPEN_ADVANCE_MS
            };
            let advanced = advance_every_clock(&shards, advance).await?;
            // Let the game loop ripen (and expire) the balls before the bots look.
            let tick = Duration::from_millis(1_000 / u64::from(hello.tick_rate_hz.max(1)));
            tokio::time::sleep(tick * 3).await;
            progress.say(&format!(
                "setup: manual clock moved {} h so every ball is ripe{}",
                advance / 3_600_000,
                if revivable {
                    " and the first day's have expired, revivable by friends"
                } else {
                    ""
                }
            ));
            let moved = advance + if revivable { RIPEN_ADVANCE_MS } else { 0 };
            (GameClock::manual(advanced, options.utc_offset), Some(moved))
        }
        OpsAccess::Wall => {
            notes.push(
                "the server runs a wall clock: the balls made in setup ripen at 07:00 game time \
                 the next morning, so until then collects and steals mostly get NOT_RIPE; run \
                 against `canopy-server --clock manual` to load the energy paths"
                    .to_owned(),
            );
            let now = ping(&mut seats[0]).await?;
            (GameClock::wall(now, options.utc_offset), None)
        }
        OpsAccess::Unusable(_) => (GameClock::unknown(hello.time, options.utc_offset), None),
    };

    let ripe_balls = learn_all(&mut seats, &clock).await;
    let cluster = shards.is_cluster().then(|| placement(&seats, &shards));
    let players = seats.len();
    let report = SetupReport {
        seconds: (started.elapsed().as_secs_f64() * 1_000.0).round() / 1_000.0,
        players,
        friendships,
        mean_friends: if players == 0 {
            0.0
        } else {
            (2.0 * friendships as f64 / players as f64 * 100.0).round() / 100.0
        },
        partner_actions,
        walks,
        grams_per_player: if players == 0 {
            0
        } else {
            grams / players as u64
        },
        clock: clock.kind_name().to_owned(),
        clock_advanced_ms,
        game_time: clock.now(),
        ripe_balls,
        cluster,
    };
    Ok(World {
        seats,
        clock,
        report,
        notes,
    })
}

/// Where the bots' sessions ended up: by shard, and how many are not on the shard that
/// holds their player (0 when every redirect was followed).
fn placement(seats: &[Seat], shards: &Shards) -> ClusterPlacement {
    let mut bots_per_shard = BTreeMap::new();
    let mut away_from_home = 0;
    for seat in seats {
        let home = shards.home_of(seat.player);
        *bots_per_shard.entry(home as u64).or_default() += 1;
        if seat.wire.url() != shards.game_url(home) {
            away_from_home += 1;
        }
    }
    let home_of = |player: PlayerId| shards.home_of(player);
    let cross_shard_friendships = seats
        .iter()
        .flat_map(|seat| {
            seat.know
                .friends
                .iter()
                .map(move |&friend| (seat.player, friend))
        })
        .filter(|&(player, friend)| player < friend && home_of(player) != home_of(friend))
        .count();
    ClusterPlacement {
        shards: shards.count(),
        bots_per_shard,
        redirected_logins: seats.iter().filter(|seat| seat.redirected).count(),
        away_from_home,
        cross_shard_friendships,
    }
}

/// Builds the world from a generated one: logs each bot in as one of its players (a
/// seeded sample of `1..=world`, token `gen-<id>`), asks `friends` and `me` to learn its
/// friends, balance and balls, and reads the clock. Nothing is written: the balls are
/// the ones `canopy-server generate` made (with `--ripen now` they are ripe at once).
async fn build_generated(
    options: &SetupOptions,
    world: u64,
    shards: Arc<Shards>,
    progress: &Progress,
) -> Result<World, CliError> {
    let started = Instant::now();
    let mut notes = Vec::new();
    let access = probe_every_ops(&shards).await;
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let players = generated_players(world, options.players, &mut rng);
    let mut seats = login_all(options, &players, progress).await?;
    let friendships = learn_friends(&mut seats, progress).await?;
    let now = ping(&mut seats[0]).await?;
    let clock = match access {
        OpsAccess::Manual => GameClock::manual(now, options.utc_offset),
        OpsAccess::Wall => {
            notes.push(
                "the server runs a wall clock: a ball counts as surely ripe a minute after                  its ripening time, so generate the world at least a minute before the run                  (or run the server with --clock manual)"
                    .to_owned(),
            );
            GameClock::wall(now, options.utc_offset)
        }
        OpsAccess::Unusable(why) => {
            notes.push(format!(
                "the ops HTTP could not be used ({why}): the clock's kind is unknown, so the                  bots count no ball as surely ripe and skip the time-based checks"
            ));
            GameClock::unknown(now, options.utc_offset)
        }
    };
    let ripe_balls = learn_all(&mut seats, &clock).await;
    let count = seats.len();
    let degrees: usize = seats.iter().map(|seat| seat.know.friends.len()).sum();
    let grams: u64 = seats
        .iter()
        .flat_map(|seat| seat.know.balls.values())
        .map(|ball| ball.amount)
        .sum();
    progress.say(&format!(
        "setup: {count} bots hold {ripe_balls} ripe balls ({grams} g) and {degrees} friend links"
    ));
    let report = SetupReport {
        seconds: (started.elapsed().as_secs_f64() * 1_000.0).round() / 1_000.0,
        players: count,
        friendships,
        mean_friends: if count == 0 {
            0.0
        } else {
            (degrees as f64 / count as f64 * 100.0).round() / 100.0
        },
        partner_actions: 0,
        walks: 0,
        grams_per_player: if count == 0 { 0 } else { grams / count as u64 },
        clock: clock.kind_name().to_owned(),
        clock_advanced_ms: None,
        game_time: clock.now(),
        ripe_balls,
        cluster: shards.is_cluster().then(|| placement(&seats, &shards)),
    };
    Ok(World {
        seats,
        clock,
        report,
        notes,
    })
}

/// `count` distinct players of `1..=world`, a seeded sample in ascending order.
fn generated_players(world: u64, count: usize, rng: &mut impl rand::Rng) -> Vec<PlayerId> {
    let world = usize::try_from(world).unwrap_or(usize::MAX);
    let mut picked: Vec<PlayerId> = rand::seq::index::sample(rng, world, count.min(world))
        .into_iter()
        .map(|index| PlayerId(index as u64 + 1))
        .collect();
    picked.sort_unstable();
    picked
}

/// Opens one connection per generated player and logs it in, a bounded number at a time.
async fn login_all(
    options: &SetupOptions,
    players: &[PlayerId],
    progress: &Progress,
) -> Result<Vec<Seat>, CliError> {
    let opened = open_seats(
        progress,
        "login",
        players.to_vec(),
        |player| login_one(options, player),
        |seats, seconds| format!("setup: logged in as {seats} generated players in {seconds:.1} s"),
    );
    opened.await.map_err(|(player, why)| {
        CliError::Connection(format!(
            "setup could not log in as generated player {player} (token {}) at {}: {why}",
            generated_token(player),
            options.server_url
        ))
    })
}

/// Opens one seat per key with `open`, a bounded number at a time, in key order, under
/// a progress bar of its own that ends with `summary(seats, seconds)`; the first failure
/// is returned with its key.
async fn open_seats<K: Copy, Opened: Future<Output = Result<Seat, String>>>(
    progress: &Progress,
    phase: &str,
    keys: Vec<K>,
    open: impl Fn(K) -> Opened,
    summary: impl Fn(usize, f64) -> String,
) -> Result<Vec<Seat>, (K, String)> {
    let bar = progress.phase(phase, keys.len() as u64);
    let started = Instant::now();
    let results: Vec<(K, Result<Seat, String>)> = stream::iter(keys)
        .map(|key| {
            let (bar, opened) = (bar.clone(), open(key));
            async move {
                let seat = opened.await;
                bar.inc(1);
                (key, seat)
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut seats = Vec::with_capacity(results.len());
    for (key, seat) in results {
        seats.push(seat.map_err(|why| (key, why))?);
    }
    let line = summary(seats.len(), started.elapsed().as_secs_f64());
    progress.done(&bar, &line);
    Ok(seats)
}

/// The login token `canopy-server generate` gives player `id`.
fn generated_token(player: PlayerId) -> String {
    format!("gen-{}", player.0)
}

async fn login_one(options: &SetupOptions, player: PlayerId) -> Result<Seat, String> {
    let mut limiter = bot_limiter(options);
    limiter.take().await;
    let token = generated_token(player);
    let (wire, redirected) = log_in_at(options, &token, player)
        .await
        .map_err(|why| format!("{why}: is this the generated world?"))?;
    Ok(Seat::new(player, wire, redirected, token, limiter))
}

/// A bot's pace, from the options.
fn bot_limiter(options: &SetupOptions) -> TokenBucket {
    TokenBucket::new(
        options.bot_max_rate,
        crate::bots::BOT_BURST,
        tokio::time::Instant::now(),
    )
}

/// Opens a session at `--server` and logs in as `player` with `token`, following the
/// cluster's redirect home; returns the wire and whether it was redirected.
async fn log_in_at(
    options: &SetupOptions,
    token: &str,
    player: PlayerId,
) -> Result<(Wire, bool), String> {
    let mut wire = Wire::connect(&options.server_url, &options.trust).await?;
    let logged = shard_redirect::log_in(&mut wire, token).await?;
    let fields = logged.outcome.map_err(|err| format!("login: {err}"))?;
    let logged_in: LoginResult = crate::bots::knowledge::typed(&fields)
        .ok_or_else(|| "the login reply has no player_id".to_owned())?;
    if logged_in.player_id != player {
        return Err(format!(
            "the token logged in as player {}, not {player}",
            logged_in.player_id
        ));
    }
    Ok((wire, logged.moved_to.is_some()))
}

/// A cross-shard friend request or accept answered `SHARD_TIMEOUT` still takes effect
/// when the other shard decides: waits until no transfer is in flight, then every bot
/// learns its friends from the server. Returns the friendships.
async fn learn_friends_once_settled(
    seats: &mut [Seat],
    shards: &Shards,
    progress: &Progress,
) -> Result<usize, CliError> {
    let deadline = tokio::time::Instant::now() + FRIENDS_PATIENCE;
    if !crate::bots::settle::drain(shards, deadline).await.0 {
        return Err(CliError::Connection(format!(
            "setup: friend requests were still in flight between shards after {} s",
            FRIENDS_PATIENCE.as_secs()
        )));
    }
    learn_friends(seats, progress).await
}

/// How long setup waits for friend requests in flight between shards, and for every
/// shard to answer a `friends` list whole.
const FRIENDS_PATIENCE: Duration = Duration::from_secs(180);

/// Every bot asks `friends` and starts knowing them. Returns the friendships the bots
/// are part of (a pair of bots counted once). A list with friends whose shard did not
/// answer (`unavailable`) is asked again.
async fn learn_friends(seats: &mut [Seat], progress: &Progress) -> Result<usize, CliError> {
    let bar = progress.phase("friends", seats.len() as u64);
    let deadline = tokio::time::Instant::now() + FRIENDS_PATIENCE;
    let learned: Vec<Result<(), CliError>> = stream::iter(seats.iter_mut())
        .map(|seat| {
            let bar = bar.clone();
            async move {
                let listed = loop {
                    let result: FriendsResult = setup_call(seat, &Request::Friends {}).await?;
                    if result.unavailable.is_empty() {
                        break result;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(CliError::Connection(format!(
                            "setup: the friends of player {} on shards that did not answer",
                            seat.player
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                };
                bar.inc(1);
                let friends: Vec<PlayerId> = listed
                    .friends
                    .iter()
                    .map(|friend| friend.player_id)
                    .collect();
                seat.know = Knowledge::new(seat.player, friends);
                Ok(())
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    bar.finish_and_clear();
    learned.into_iter().collect::<Result<(), CliError>>()?;
    let mut pairs = std::collections::HashSet::new();
    for seat in seats.iter() {
        for friend in &seat.know.friends {
            pairs.insert((seat.player.min(*friend), seat.player.max(*friend)));
        }
    }
    Ok(pairs.len())
}

/// Probes every shard's ops HTTP; the cluster is as usable as its least usable shard.
async fn probe_every_ops(shards: &Shards) -> OpsAccess {
    let mut access = OpsAccess::Manual;
    for ops in shards.every_ops() {
        access = match (access, probe_ops(ops.clone()).await) {
            (OpsAccess::Unusable(why), _) | (_, OpsAccess::Unusable(why)) => {
                OpsAccess::Unusable(why)
            }
            (OpsAccess::Wall, _) | (_, OpsAccess::Wall) => OpsAccess::Wall,
            (OpsAccess::Manual, OpsAccess::Manual) => OpsAccess::Manual,
        };
    }
    access
}

/// Moves every shard's manual clock by `ms`; returns the latest of their new times
/// (shards started at different moments read slightly different manual clocks).
async fn advance_every_clock(shards: &Shards, ms: u64) -> Result<Millis, CliError> {
    let mut latest = 0;
    for ops in shards.every_ops() {
        latest = latest.max(advance_clock(ops.clone(), ms).await?);
    }
    Ok(latest)
}

/// Asks the ops HTTP to move the clock by 0 ms: 200 on a manual clock, 409 (`CONFLICT`)
/// on a wall clock, 401 with a wrong token.
async fn probe_ops(ops: Arc<OpsClient>) -> OpsAccess {
    let answer = tokio::task::spawn_blocking(move || {
        ops.post::<ClockTime>("/admin/clock/advance", Some(&ClockAdvance { ms: 0 }))
    })
    .await;
    match answer {
        Ok(Ok((_, _))) => OpsAccess::Manual,
        Ok(Err(CliError::Server(body))) if body.code == ErrorCode::Conflict => OpsAccess::Wall,
        Ok(Err(CliError::Server(body))) if body.code == ErrorCode::Unauthenticated => {
            OpsAccess::Unusable(
                "the admin token was refused: pass --admin-token or CANOPY_ADMIN_TOKEN".into(),
            )
        }
        Ok(Err(err)) => OpsAccess::Unusable(err.to_string()),
        Err(err) => OpsAccess::Unusable(format!("the ops call failed: {err}")),
    }
}

/// Moves the manual clock forward by `ms`; returns the new time.
pub(super) async fn advance_clock(ops: Arc<OpsClient>, ms: u64) -> Result<Millis, CliError> {
    let (clock, _): (ClockTime, _) = tokio::task::spawn_blocking(move || {
        ops.post("/admin/clock/advance", Some(&ClockAdvance { ms }))
    })
    .await
    .map_err(|err| CliError::Local(format!("the clock call failed: {err}")))??;
    Ok(clock.time)
}

/// Opens one connection per player and registers them, a bounded number at a time; in
/// a cluster, bot `i` registers on shard `i % shards`.
async fn register_all(
    options: &SetupOptions,
    shards: &Shards,
    progress: &Progress,
) -> Result<Vec<Seat>, CliError> {
    let opened = open_seats(
        progress,
        "register",
        (0..options.players).collect(),
        |index| register_one(options, shards, index),
        |seats, seconds| format!("setup: registered {seats} players in {seconds:.1} s"),
    );
    opened.await.map_err(|(index, why)| {
        CliError::Connection(format!(
            "setup could not register bot {index} at {}: {why}",
            options.server_url
        ))
    })
}

async fn register_one(
    options: &SetupOptions,
    shards: &Shards,
    index: usize,
) -> Result<Seat, String> {
    register_named(options, shards, index, format!("bot-{index}")).await
}

/// Registers a player called `name`. Alone, the registering connection is the bot's
/// session. In a cluster the bot registers on shard `index % shards`, then opens its
/// session at `--server` and follows the redirect home, as an app that keeps one entry
/// address does.
pub(super) async fn register_named(
    options: &SetupOptions,
    shards: &Shards,
    index: usize,
    name: String,
) -> Result<Seat, String> {
    let home = if shards.is_cluster() {
        shards.game_url(index).to_owned()
    } else {
        options.server_url.clone()
    };
    let mut wire = Wire::connect(&home, &options.trust).await?;
    let mut limiter = bot_limiter(options);
    limiter.take().await;
    let outcome = wire
        .call(&Request::Register { name }, |_| {})
        .await
        .map_err(|err| err.to_string())?;
    let fields = outcome.map_err(|err| match err.code {
        ErrorCode::RateLimited => format!(
            "{err} (the server limits registrations per address: run it with \
             CANOPY_ACCOUNTS__REGISTER_LIMITS=false for load tests)"
        ),
        _ => err.to_string(),
    })?;
    let registered: RegisterResult = crate::bots::knowledge::typed(&fields)
        .ok_or_else(|| "the register reply has no player_id".to_owned())?;
    let player = registered.player_id;
    let mut redirected = false;
    if shards.is_cluster() {
        wire.close().await;
        limiter.take().await;
        (wire, redirected) = log_in_at(options, &registered.token, player).await?;
    }
    Ok(Seat::new(
        player,
        wire,
        redirected,
        registered.token,
        limiter,
    ))
}

async fn hello(seat: &mut Seat) -> Result<HelloResult, CliError> {
    let request = Request::Hello {
        version: PROTOCOL_VERSION,
    };
    setup_call(seat, &request).await
}

async fn ping(seat: &mut Seat) -> Result<Millis, CliError> {
    let result: PingResult = setup_call(seat, &Request::Ping {}).await?;
    Ok(result.time)
}

/// Sends one request at the seat's pace and types its reply; a refusal or no reply
/// is an error naming the op.
pub(super) async fn setup_call<T: serde::de::DeserializeOwned>(
    seat: &mut Seat,
    request: &Request,
) -> Result<T, CliError> {
    let op = request.op_name();
    let fields = seat
        .call(request)
        .await
        .map_err(|err| CliError::Connection(format!("setup `{op}` failed: {err}")))??;
    crate::bots::knowledge::typed(&fields).ok_or_else(|| {
        CliError::Connection(format!("the `{op}` reply does not have the expected shape"))
    })
}

/// What befriending came to.
pub(super) struct Befriended {
    /// Friendships made (the accept answered `ok`).
    pub made: usize,
    /// Requests and accepts answered `SHARD_TIMEOUT`: they take effect later.
    pub timed_out: usize,
}

/// Makes the friendships: every `from` sends `friend_request`, then every `to` accepts.
/// Returns how many friendships were made; each seat learns its friends.
pub(super) async fn befriend(
    seats: &mut [Seat],
    edges: &[Edge],
    progress: &Progress,
    notes: &mut Vec<String>,
) -> Befriended {
    let started = Instant::now();
    let bar = progress.phase("befriend", 2 * edges.len() as u64);
    let players: Vec<PlayerId> = seats.iter().map(|seat| seat.player).collect();
    let mut asks: Vec<Vec<usize>> = vec![Vec::new(); seats.len()];
    let mut answers: Vec<Vec<usize>> = vec![Vec::new(); seats.len()];
    for (index, edge) in edges.iter().enumerate() {
        asks[edge.from].push(index);
        answers[edge.to].push(index);
    }
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();

    // Requests, then accepts of the requests that went through.
    let asked = run_edges(seats, &asks, &bar, |edge| Request::FriendRequest {
        player_id: players[edges[edge].to],
    })
    .await;
    let mut requested = vec![false; edges.len()];
    for (edge, outcome) in asked {
        match outcome {
            Ok(()) => requested[edge] = true,
            Err(code) => *failures.entry(code).or_default() += 1,
        }
    }
    let answers: Vec<Vec<usize>> = answers
        .into_iter()
        .map(|list| list.into_iter().filter(|edge| requested[*edge]).collect())
        .collect();
    let accepted = run_edges(seats, &answers, &bar, |edge| Request::FriendAccept {
        player_id: players[edges[edge].from],
    })
    .await;
    let mut made = 0;
    for (edge, outcome) in accepted {
        match outcome {
            Ok(()) => {
                made += 1;
                let Edge { from, to } = edges[edge];
                seats[from].know.friends.push(players[to]);
                seats[to].know.friends.push(players[from]);
            }
            Err(code) => *failures.entry(code).or_default() += 1,
        }
    }
    for seat in seats.iter_mut() {
        let friends = std::mem::take(&mut seat.know.friends);
        seat.know = Knowledge::new(seat.player, friends);
    }
    let timed_out = failures
        .remove(ErrorCode::ShardTimeout.as_str())
        .unwrap_or(0);
    if !failures.is_empty() {
        let list: Vec<String> = failures
            .iter()
            .map(|(code, count)| format!("{code} {count}"))
            .collect();
        notes.push(format!(
            "setup: some friend requests or accepts failed ({}); those pairs are not friends",
            list.join(", ")
        ));
    }
    progress.done(
        &bar,
        &format!(
            "setup: {made} friendships in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    );
    Befriended { made, timed_out }
}

/// Every seat sends one request per edge in its list, in order, all seats at once.
/// Returns each edge's outcome: `Ok` or the failure's code.
async fn run_edges(
    seats: &mut [Seat],
    lists: &[Vec<usize>],
    bar: &indicatif::ProgressBar,
    request: impl Fn(usize) -> Request,
) -> Vec<(usize, Result<(), String>)> {
    let request = &request;
    let per_seat: Vec<Vec<(usize, Result<(), String>)>> =
        stream::iter(seats.iter_mut().zip(lists.iter()))
            .map(|(seat, list)| async move {
                let mut outcomes = Vec::with_capacity(list.len());
                for edge in list {
                    let outcome = match seat.call(&request(*edge)).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(error)) => Err(error.code.as_str().to_owned()),
                        Err(err) => Err(format!("no reply ({err})")),
                    };
                    bar.inc(1);
                    outcomes.push((*edge, outcome));
                }
                outcomes
            })
            .buffer_unordered(usize::MAX)
            .collect()
            .await;
    per_seat.into_iter().flatten().collect()
}

/// Credits every player the [`GRANTS`] through the partner channel, with refs starting
/// `prefix`. Returns the actions credited and the grams they made.
pub(super) async fn grant_actions(
    players: &[PlayerId],
    prefix: &str,
    shards: &Shards,
    progress: &Progress,
    notes: &mut Vec<String>,
) -> (usize, u64) {
    let started = Instant::now();
    let mut actions = Vec::new();
    for &player in players {
        for (kind, count) in GRANTS {
            for n in 0..count {
                actions.push(PartnerAction {
                    player_id: player,
                    kind: kind.to_owned(),
                    quantity: None,
                    reference: format!("{prefix}-{kind}-{n}"),
                });
            }
        }
    }
    let bar = progress.phase("actions", actions.len() as u64);
    let outcomes: Vec<Result<u64, String>> = stream::iter(actions)
        .map(|action| {
            let ops = shards.ops_of(action.player_id);
            let bar = bar.clone();
            async move {
                let outcome = tokio::task::spawn_blocking(move || {
                    ops.post::<RecordActionResult>("/admin/actions", Some(&action))
                })
                .await;
                bar.inc(1);
                match outcome {
                    Ok(Ok((result, _))) => Ok(result.grams),
                    Ok(Err(err)) => Err(err.to_string()),
                    Err(err) => Err(err.to_string()),
                }
            }
        })
        .buffer_unordered(OPS_CONCURRENCY)
        .collect()
        .await;
    let mut credited = 0;
    let mut grams = 0;
    let mut first_failure = None;
    let mut failed = 0;
    for outcome in outcomes {
        match outcome {
            Ok(g) => {
                credited += 1;
                grams += g;
            }
            Err(why) => {
                failed += 1;
                first_failure.get_or_insert(why);
            }
        }
    }
    if let Some(why) = first_failure {
        notes.push(format!(
            "setup: {failed} partner actions failed, the first with: {why}"
        ));
    }
    progress.done(
        &bar,
        &format!(
            "setup: {credited} partner actions ({grams} g) in {:.1} s",
            started.elapsed().as_secs_f64()
        ),
    );
    (credited, grams)
}

/// Every bot reports today's steps. Returns the walks credited and their grams.
async fn walk_all(
    seats: &mut [Seat],
    now: Millis,
    utc_offset: i32,
    progress: &Progress,
) -> (usize, u64) {
    let bar = progress.phase("walk", seats.len() as u64);
    let reference = format!("bots-walk-{}", local_date(now, utc_offset));
    let outcomes: Vec<Option<u64>> = stream::iter(seats.iter_mut())
        .map(|seat| {
            let request = Request::RecordAction {
                kind: "walk".to_owned(),
                quantity: Some(WALK_STEPS),
                reference: reference.clone(),
            };
            let bar = bar.clone();
            async move {
                let outcome = seat.call(&request).await;
                bar.inc(1);
                match outcome {
                    Ok(Ok(fields)) => crate::bots::knowledge::typed::<RecordActionResult>(&fields)
                        .map(|result| result.grams),
                    _ => None,
                }
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let walks = outcomes.iter().flatten().count();
    let grams = outcomes.iter().flatten().sum();
    progress.done(&bar, &format!("setup: {walks} walks ({grams} g)"));
    (walks, grams)
}

/// Every bot asks `me` to learn its balance and balls. Returns the ripe balls in all.
pub(super) async fn learn_all(seats: &mut [Seat], clock: &GameClock) -> usize {
    let counts: Vec<usize> = stream::iter(seats.iter_mut())
        .map(|seat| async move {
            let Seat {
                wire,
                limiter,
                know,
                ..
            } = seat;
            limiter.take().await;
            let planned = Planned::Me;
            let outcome = wire
                .call(&planned.request(), |pushed| know.apply_event(&pushed))
                .await;
            match outcome {
                Ok(outcome) => know.apply_reply(&planned, &outcome, clock),
                Err(_) => know.uncertain = true,
            }
            know.roll_day(clock);
            know.ripe_balls(clock).count()
        })
        .buffer_unordered(usize::MAX)
        .collect()
        .await;
    counts.into_iter().sum()
}
