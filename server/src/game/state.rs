//! Small operations on game state shared by the op handlers and the time systems:
//! looking things up, moving energy through the ledger, creating and ending balls. Every
//! change marks what it touched dirty so the tick's batch writes it.

use super::GameClock;
use super::components::{OwnedBalls, Wallet};
use super::resources::{Counters, Directory, Dirty, Ledger, Outbox, Settings, Timeline};
use super::rules;
use crate::config::Config;
use crate::store::{Account, Ball, Flow};
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::{BallId, ErrorBody, ErrorCode, Event, Millis, PlayerId};
use compact_str::CompactString;
use std::sync::Arc;

/// The game time of this tick.
pub fn now(world: &World) -> Millis {
    world.resource::<GameClock>().now()
}

/// The config in force.
pub fn config(world: &World) -> Arc<Config> {
    world.resource::<Settings>().0.clone()
}

/// Shorthand for an error reply.
pub fn fail<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, ErrorBody> {
    Err(ErrorBody::new(code, message))
}

/// The entity of a player, or `NOT_FOUND`.
pub fn player_entity(world: &World, id: PlayerId) -> Result<Entity, ErrorBody> {
    match world.resource::<Directory>().players.get(&id) {
        Some(&entity) => Ok(entity),
        None => fail(ErrorCode::NotFound, format!("no player {id}")),
    }
}

/// A live ball, or `GONE` for one that existed and ended (or whose lifetime is over,
/// even if the expiry system has not removed it yet this tick), or `NOT_FOUND`.
pub fn live_ball(world: &World, id: BallId) -> Result<Ball, ErrorBody> {
    if let Some(&entity) = world.resource::<Directory>().balls.get(&id) {
        let ball = world
            .get::<Ball>(entity)
            .expect("every indexed ball entity has a Ball");
        if ball.expires_at > now(world) {
            return Ok(ball.clone());
        }
        return fail(ErrorCode::Gone, format!("ball {id} expired"));
    }
    if id.0 >= 1 && id.0 <= world.resource::<Counters>().next_ball {
        fail(
            ErrorCode::Gone,
            format!("ball {id} was already collected, emptied or expired"),
        )
    } else {
        fail(ErrorCode::NotFound, format!("no ball {id}"))
    }
}

/// Marks a player's record for this tick's batch.
pub fn touch_player(world: &mut World, entity: Entity) {
    world.resource_mut::<Dirty>().players.insert(entity);
}

/// Queues an event for a player's sessions.
pub fn notify(world: &mut World, player: PlayerId, event: Event) {
    world
        .resource_mut::<Outbox>()
        .events
        .push((player.into(), event));
}

/// Writes one ledger entry at the current game time.
pub fn record_flow(world: &mut World, flow: Flow, grams: u64, from: Account, to: Account) {
    let time = now(world);
    let id = Counters::take(&mut world.resource_mut::<Counters>().next_ledger);
    world
        .resource_mut::<Ledger>()
        .record(id, time, flow, grams, from, to);
}

/// Adds grams to a player's balance. `collected` says whether they count as collected
/// energy (for `total_collected`, the weekly board and the vitality they earn).
pub fn credit_balance(world: &mut World, entity: Entity, grams: u64, collected: bool) -> u64 {
    let week = rules::week_key(rules::game_day(
        now(world),
        config(world).day.utc_offset_minutes,
    ));
    let mut wallet = world
        .get_mut::<Wallet>(entity)
        .expect("every player entity has a Wallet");
    wallet.energy += grams;
    if collected {
        wallet.total_collected += grams;
        if wallet.week != week {
            wallet.week = week;
            wallet.week_collected = 0;
        }
        wallet.week_collected += grams;
    }
    let energy = wallet.energy;
    touch_player(world, entity);
    if collected {
        super::vitality::earn_for_collecting(world, entity, grams);
    }
    energy
}

/// Takes grams from a balance, or `INSUFFICIENT_ENERGY`.
pub fn debit_balance(world: &mut World, entity: Entity, grams: u64) -> Result<u64, ErrorBody> {
    let mut wallet = world
        .get_mut::<Wallet>(entity)
        .expect("every player entity has a Wallet");
    if wallet.energy < grams {
        return fail(
            ErrorCode::InsufficientEnergy,
            format!("this needs {grams} g; the balance is {} g", wallet.energy),
        );
    }
    wallet.energy -= grams;
    let energy = wallet.energy;
    touch_player(world, entity);
    Ok(energy)
}

/// What a new ball is made of.
pub struct NewBall {
    /// Owner's entity.
    pub owner_entity: Entity,
    /// Owner's id.
    pub owner: PlayerId,
    /// Action kind or `water`.
    pub source: CompactString,
    /// Grams.
    pub grams: u64,
    /// Ripening time.
    pub ripe_at: Millis,
    /// Whether friends may steal from it.
    pub stealable: bool,
}

/// Creates a ball and indexes it. The caller records where its grams came from.
///
/// A ball born ripe (a water ball) is announced ripe by the caller's `ball_new`: it
/// skips the ripening queue, so it gets no `ball_ripe` ("ripened this tick" is for
/// balls that were announced unripe), and friends hear of it only if it is stealable.
pub fn spawn_ball(world: &mut World, new: NewBall) -> Ball {
    let (config, now) = (config(world), now(world));
    let id = BallId(Counters::take(
        &mut world.resource_mut::<Counters>().next_ball,
    ));
    let ball = Ball {
        id,
        owner: new.owner,
        source: new.source,
        full: new.grams,
        left: new.grams,
        stolen: 0,
        created_at: now,
        ripe_at: new.ripe_at,
        expires_at: rules::expires_at(new.ripe_at, &config),
        stealable: new.stealable,
        thieves: Vec::new(),
    };
    let entity = world.spawn(ball.clone()).id();
    world.resource_mut::<Directory>().balls.insert(id, entity);
    let born_ripe = ball.ripe_at <= now;
    if born_ripe {
        let mut timeline = world.resource_mut::<Timeline>();
        timeline.expiring.insert((ball.expires_at, ball.id));
    } else {
        schedule_ball(world, &ball);
    }
    world
        .get_mut::<OwnedBalls>(new.owner_entity)
        .expect("every player entity has OwnedBalls")
        .0
        .push(id);
    let mut dirty = world.resource_mut::<Dirty>();
    dirty.balls.insert(id, ball.owner);
    dirty.forests_changed.insert(ball.owner);
    if born_ripe && ball.stealable {
        dirty.stealable_changed.insert(ball.owner);
    }
    ball
}

/// Puts a ball on the timeline: ripening (if not yet announced) and expiry.
pub fn schedule_ball(world: &mut World, ball: &Ball) {
    let mut timeline = world.resource_mut::<Timeline>();
    timeline.ripening.insert((ball.ripe_at, ball.id));
    timeline.expiring.insert((ball.expires_at, ball.id));
}

/// Takes a ball off the timeline.
pub fn unschedule_ball(world: &mut World, ball: &Ball) {
    let mut timeline = world.resource_mut::<Timeline>();
    timeline.ripening.remove(&(ball.ripe_at, ball.id));
    timeline.expiring.remove(&(ball.expires_at, ball.id));
}

/// Replaces a live ball's state (after a steal, growth or acceleration).
pub fn update_ball(world: &mut World, ball: Ball) {
    let entity = world.resource::<Directory>().balls[&ball.id];
    let mut dirty = world.resource_mut::<Dirty>();
    dirty.balls.insert(ball.id, ball.owner);
    dirty.forests_changed.insert(ball.owner);
    if ball.stealable {
        dirty.stealable_changed.insert(ball.owner);
    }
    *world
        .get_mut::<Ball>(entity)
        .expect("every indexed ball entity has a Ball") = ball;
}

/// Ends a live ball: despawns it and drops it from every index. Its remaining grams must
/// already have been moved by the caller.
pub fn end_ball(world: &mut World, ball: &Ball) {
    unschedule_ball(world, ball);
    let mut directory = world.resource_mut::<Directory>();
    let entity = directory
        .balls
        .remove(&ball.id)
        .expect("end_ball is called on live balls");
    let owner = directory.players.get(&ball.owner).copied();
    world.despawn(entity);
    if let Some(owner) = owner
        && let Some(mut owned) = world.get_mut::<OwnedBalls>(owner)
    {
        owned.0.retain(|&id| id != ball.id);
    }
    let ripe = ball.ripe_at <= now(world);
    let mut dirty = world.resource_mut::<Dirty>();
    dirty.balls.insert(ball.id, ball.owner);
    dirty.forests_changed.insert(ball.owner);
    if ball.stealable && ripe {
        dirty.stealable_changed.insert(ball.owner);
    }
}

/// The owner's live balls, in creation order. Balls whose lifetime is over are left
/// out even before the expiry system removes them.
pub fn owned_balls(world: &World, owner: Entity) -> Vec<Ball> {
    let (directory, now) = (world.resource::<Directory>(), now(world));
    world
        .get::<OwnedBalls>(owner)
        .expect("every player entity has OwnedBalls")
        .0
        .iter()
        .filter_map(|id| directory.balls.get(id))
        .filter_map(|&entity| world.get::<Ball>(entity))
        .filter(|ball| ball.expires_at > now)
        .cloned()
        .collect()
}
