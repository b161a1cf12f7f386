//! A world generator: writes players, balls and friendships straight into a store, for
//! benchmarks and load tests that need a large world without playing it into existence.
//! It writes no ledger entries (only the `created` total), so `GET /admin/audit` flags
//! the generated balls' ledger; play on top of it is audited as usual.

use crate::game::rules::{self, DAY_MS, HOUR_MS};
use crate::game::{Command, Game, Op, Origin, SessionId, TickOutcome};
use crate::store::{
    Ball, LedgerTotals, Meta, PlayerRecord, SessionToken, SocialWrite, Store, StoreError,
    TickBatch, TokenHash,
};
use canopy_shared::{BallId, Millis, PlayerId};

/// Records written per batch while generating.
const BATCH_RECORDS: usize = 20_000;

/// How long generated players' tokens last: long enough for any load test on the
/// world, whatever `accounts.token_ttl_days` says.
const GENERATED_TOKEN_DAYS: u64 = 365;

/// The shape of a generated world.
#[derive(Clone, Debug)]
pub struct WorldShape {
    /// Players to create (ids 1..=players).
    pub players: u64,
    /// Live balls per player.
    pub balls_per_player: u64,
    /// Grams in each ball.
    pub grams_per_ball: u64,
    /// The game time the world is generated at; balls ripen over the following day.
    pub now: Millis,
    /// Friendships to write.
    pub friendships: Vec<(PlayerId, PlayerId)>,
    /// When set, every ball ripens at this instant (the 07:00 wave) instead of spread
    /// over the day after `now`.
    pub wave_at: Option<Millis>,
}

/// When a generated world's balls ripen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Ripening {
    /// Ripe at the world's time: ready to collect and steal.
    Now,
    /// All at the next ripening hour (07:00 game-local): the morning wave.
    Wave,
    /// Evenly over the day after the world's time.
    Spread,
}

impl WorldShape {
    /// Sets when the balls ripen, given the game day's offset and ripening hour.
    pub fn ripening(self, ripening: Ripening, utc_offset_minutes: i64, hour: u32) -> Self {
        let wave_at = match ripening {
            Ripening::Now => Some(self.now),
            Ripening::Wave => Some(next_hour(self.now, utc_offset_minutes, hour)),
            Ripening::Spread => None,
        };
        Self { wave_at, ..self }
    }
}

/// The first instant at or after `now` that is `hour`:00 game-local.
fn next_hour(now: Millis, utc_offset_minutes: i64, hour: u32) -> Millis {
    let day = rules::game_day(now, utc_offset_minutes);
    let today = rules::day_start(day, utc_offset_minutes) + u64::from(hour) * HOUR_MS;
    if today >= now { today } else { today + DAY_MS }
}

/// Friendships with a skewed degree distribution, as social graphs have: each player
/// asks a Pareto-distributed number of random others (shape 2, so the mean degree is
/// `mean_degree` and a few players have hundreds), capped at `max_degree` asks.
pub fn skewed_friendships(
    players: u64,
    mean_degree: f64,
    max_degree: u64,
    seed: u64,
) -> Vec<(PlayerId, PlayerId)> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Each friendship is one ask, and it adds a friend to both sides.
    let scale = mean_degree / 4.0;
    let mut pairs = Vec::with_capacity((players as f64 * mean_degree / 2.0) as usize);
    for player in 1..=players {
        let uniform: f64 = rng.random_range(f64::EPSILON..1.0);
        let asks = ((scale / uniform.sqrt()) as u64).min(max_degree);
        for _ in 0..asks {
            let other = rng.random_range(1..=players);
            if other != player {
                pairs.push((PlayerId(player.min(other)), PlayerId(player.max(other))));
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// The login token of generated player `id`: `gen-<id>` (only its hash is stored).
pub fn token_of(id: u64) -> String {
    format!("gen-{id}")
}

/// Connects a session for each of the generated `players` (session id = player id), logs
/// each in with its `gen-<id>` token, and runs the tick that applies the logins (its
/// outcome is returned): benches and tests get a world whose owners are online.
pub fn log_in(game: &mut Game, players: std::ops::RangeInclusive<u64>) -> TickOutcome {
    for id in players {
        let session = SessionId(id);
        game.connect(session);
        game.submit(Command {
            origin: Origin::Session(session),
            request_id: 0,
            op: Op::Client(canopy_shared::Request::Login {
                token: token_of(id),
            }),
        });
    }
    game.tick()
}

/// Writes the world into `store` and returns the meta record it ends with.
pub fn generate(store: &dyn Store, shape: &WorldShape) -> Result<Meta, StoreError> {
    let ball_count = shape.players * shape.balls_per_player;
    let meta = Meta {
        game_time: shape.now,
        next_player_id: shape.players,
        next_ball_id: ball_count,
        totals: LedgerTotals {
            created: ball_count * shape.grams_per_ball,
            ..LedgerTotals::default()
        },
        ..Meta::default()
    };
    let mut batch = TickBatch::default();
    for id in 1..=shape.players {
        batch.players.push(player(id, shape.now));
        batch.tokens.push(token(id, shape.now));
        for n in 0..shape.balls_per_player {
            let ball_id = (id - 1) * shape.balls_per_player + n + 1;
            batch.balls.push(ball(ball_id, id, shape, ball_count));
        }
        if batch.len() >= BATCH_RECORDS {
            batch.meta = meta.clone();
            store.import(&std::mem::take(&mut batch))?;
        }
    }
    for chunk in shape.friendships.chunks(BATCH_RECORDS) {
        batch.social = chunk
            .iter()
            .map(|&(a, b)| SocialWrite::Friendship(a, b, true))
            .collect();
        batch.meta = meta.clone();
        store.import(&std::mem::take(&mut batch))?;
    }
    batch.meta = meta.clone();
    store.commit(&batch)?;
    Ok(meta)
}

fn player(id: u64, now: Millis) -> PlayerRecord {
    PlayerRecord::new(PlayerId(id), format!("player{id}"), now)
}

/// The session token of generated player `id`, valid for [`GENERATED_TOKEN_DAYS`].
fn token(id: u64, now: Millis) -> (TokenHash, Option<SessionToken>) {
    let token = SessionToken {
        player: PlayerId(id),
        expires_at: now + GENERATED_TOKEN_DAYS * DAY_MS,
        revoked: false,
    };
    (crate::game::tokens::token_hash(&token_of(id)), Some(token))
}

fn ball(id: u64, owner: u64, shape: &WorldShape, ball_count: u64) -> Ball {
    // Ripening spread evenly over the next day (every tick has some work), or a wave.
    let ripe_at = shape
        .wave_at
        .unwrap_or(shape.now + 1 + id * DAY_MS / ball_count.max(1));
    Ball {
        id: BallId(id),
        owner: PlayerId(owner),
        source: "walk".into(),
        full: shape.grams_per_ball,
        left: shape.grams_per_ball,
        stolen: 0,
        created_at: shape.now,
        ripe_at,
        expires_at: ripe_at + 3 * DAY_MS,
        stealable: true,
        thieves: Vec::new(),
    }
}
