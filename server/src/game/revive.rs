//! Reviving energy (复活能量): for `revive.window_hours` after a ball expires, the owner's
//! friends see it in `friend_balls`, and one of them may `revive` it once: the owner
//! gets a new ripe ball with its grams (`Revived`: expired → ball in the ledger) and the
//! reviver vitality (`ReviveRewarded`). A revived ball is not revivable again. Each
//! player revives at most `revive.per_day` balls a game day.

use super::components::Revivals;
use super::resources::{Counters, Directory, Dirty};
use super::rules;
use super::state::{NewBall, config, fail, notify, now, player_entity, record_flow, spawn_ball};
use super::transfers::require_friends;
use super::views;
use super::vitality;
use crate::config::ReviveConfig;
use crate::store::{Account, Ball, Flow, Revivable, RevivalRecord};
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::model::RevivableBall;
use canopy_shared::reply::ReviveResult;
use canopy_shared::{BallId, ErrorBody, ErrorCode, Event, Millis, PlayerId};

/// The source of a revived ball: it cannot be stolen, nor revived again.
pub const REVIVED_SOURCE: &str = "revived";

/// Where an expired ball stands for revival at some moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// A friend may revive it now.
    Revivable,
    /// A friend already revived it.
    Revived(PlayerId),
    /// Its window is over; it is still remembered, to say so.
    WindowOver,
    /// Past twice the window: forgotten at the owner's next expiry.
    Forgotten,
}

/// The revival window in milliseconds.
pub fn window_ms(revive: &ReviveConfig) -> Millis {
    revive.window_hours * rules::HOUR_MS
}

/// Where `expired` stands at `now`. The window is half-open: revivable from the moment
/// the ball expired until just before `expired_at + window`.
pub fn standing(expired: &Revivable, now: Millis, window: Millis) -> Standing {
    match expired.revived_by {
        Some(reviver) => Standing::Revived(reviver),
        None if now < expired.expired_at + window => Standing::Revivable,
        None if now < expired.expired_at + 2 * window => Standing::WindowOver,
        None => Standing::Forgotten,
    }
}

/// Whether `expired` is still remembered at `now` (revived entries are kept as long as
/// unrevived ones, so a second reviver hears `ALREADY_REVIVED`).
fn remembered(expired: &Revivable, now: Millis, window: Millis) -> bool {
    now < expired.expired_at + 2 * window
}

/// A player's revival record, marked for this tick's batch.
fn record_mut(world: &mut World, entity: Entity) -> &mut RevivalRecord {
    world.resource_mut::<Dirty>().revivals.insert(entity);
    &mut world
        .get_mut::<Revivals>(entity)
        .expect("every player entity has Revivals")
        .into_inner()
        .0
}

fn record(world: &World, entity: Entity) -> &RevivalRecord {
    &world
        .get::<Revivals>(entity)
        .expect("every player entity has Revivals")
        .0
}

/// Called as a ball expires: it becomes revivable (unless it was revived itself or
/// held nothing) from its own expiry time, even when the expiry is handled later (a
/// busy tick, a server that was down), and the owner's entries no longer remembered
/// are dropped.
pub fn remember_expired(world: &mut World, ball: &Ball) {
    if ball.left == 0 || ball.source == REVIVED_SOURCE {
        return;
    }
    let Some(&owner) = world.resource::<Directory>().players.get(&ball.owner) else {
        return;
    };
    let (now, window) = (now(world), window_ms(&config(world).revive));
    let record = record_mut(world, owner);
    record
        .expired
        .retain(|expired| remembered(expired, now, window));
    record.expired.push(Revivable {
        ball_id: ball.id,
        grams: ball.left,
        expired_at: ball.expires_at,
        revived_by: None,
    });
}

/// The owner's balls a friend may revive now, oldest first.
pub fn revivable_view(world: &World, owner: Entity) -> Vec<RevivableBall> {
    let (now, window) = (now(world), window_ms(&config(world).revive));
    record(world, owner)
        .expired
        .iter()
        .filter(|expired| standing(expired, now, window) == Standing::Revivable)
        .map(|expired| RevivableBall {
            ball_id: expired.ball_id,
            grams: expired.grams,
            expired_at: expired.expired_at,
            until: expired.expired_at + window,
        })
        .collect()
}

/// Grams in every player's balls revivable now, for the audit.
pub fn revivable_grams(world: &mut World) -> u64 {
    let (now, window) = (now(world), window_ms(&config(world).revive));
    let mut records = world.query::<&Revivals>();
    records
        .iter(world)
        .flat_map(|revivals| &revivals.0.expired)
        .filter(|expired| standing(expired, now, window) == Standing::Revivable)
        .map(|expired| expired.grams)
        .sum()
}

/// The refusal for a ball the owner's record does not remember.
fn not_remembered(world: &World, owner: PlayerId, ball_id: BallId) -> ErrorBody {
    let directory = world.resource::<Directory>();
    if let Some(&entity) = directory.balls.get(&ball_id) {
        let ball = world
            .get::<Ball>(entity)
            .expect("every indexed ball entity has a Ball");
        if ball.owner == owner {
            return ErrorBody::new(
                ErrorCode::OutsideWindow,
                format!("ball {ball_id} has not expired: its revival window has not begun"),
            );
        }
        return ErrorBody::new(
            ErrorCode::NotFound,
            format!("player {owner} has no ball {ball_id}"),
        );
    }
    if ball_id.0 >= 1 && ball_id.0 <= world.resource::<Counters>().next_ball {
        return ErrorBody::new(
            ErrorCode::Gone,
            format!(
                "ball {ball_id} cannot be revived: it was picked or emptied, is not \
                 player {owner}'s, or expired too long ago"
            ),
        );
    }
    ErrorBody::new(ErrorCode::NotFound, format!("no ball {ball_id}"))
}

/// Finds the owner's expired ball `ball_id` and checks it is revivable now; returns
/// its place in the owner's record.
fn find_revivable(
    world: &World,
    owner: PlayerId,
    owner_entity: Entity,
    ball_id: BallId,
) -> Result<usize, ErrorBody> {
    let (now, window) = (now(world), window_ms(&config(world).revive));
    let expired = &record(world, owner_entity).expired;
    let Some(at) = expired.iter().position(|entry| entry.ball_id == ball_id) else {
        return Err(not_remembered(world, owner, ball_id));
    };
    match standing(&expired[at], now, window) {
        Standing::Revivable => Ok(at),
        Standing::Revived(reviver) => fail(
            ErrorCode::AlreadyRevived,
            format!("ball {ball_id} was already revived by player {reviver}"),
        ),
        Standing::WindowOver | Standing::Forgotten => fail(
            ErrorCode::OutsideWindow,
            format!(
                "ball {ball_id} could be revived until {}; its window is over",
                expired[at].expired_at + window
            ),
        ),
    }
}

/// Revivals the reviver may still make today.
pub fn revivals_left(world: &World, reviver: Entity) -> u32 {
    let config = config(world);
    let day = rules::game_day(now(world), config.day.utc_offset_minutes);
    let record = record(world, reviver);
    let revived_today = if record.day == day {
        record.revived_today
    } else {
        0
    };
    config.revive.per_day.saturating_sub(revived_today)
}

/// Counts one revival against the reviver's day (a late one from another shard may go
/// past the limit: the owner's shard already made the ball).
pub fn count_revival(world: &mut World, reviver: Entity) {
    let day = rules::game_day(now(world), config(world).day.utc_offset_minutes);
    let record = record_mut(world, reviver);
    if record.day != day {
        record.day = day;
        record.revived_today = 0;
    }
    record.revived_today += 1;
}

/// The reviver's vitality for one revival; returns their balance.
pub fn reward(world: &mut World, reviver: Entity) -> u64 {
    let points = config(world).revive.vitality;
    vitality::reward_reviver(world, reviver, points)
}

/// `revive`: bring a friend's expired ball back as a new ripe ball of theirs.
pub fn revive(
    world: &mut World,
    reviver: PlayerId,
    owner: PlayerId,
    ball_id: BallId,
) -> Result<ReviveResult, ErrorBody> {
    let reviver_entity = player_entity(world, reviver)?;
    require_friends(world, reviver, owner)?;
    let may_revive = revivals_left(world, reviver_entity) > 0;
    let (new_ball, grams) = revive_for_owner(world, reviver, owner, ball_id, may_revive)?;
    count_revival(world, reviver_entity);
    Ok(ReviveResult {
        ball_id: new_ball,
        grams,
        vitality: reward(world, reviver_entity),
    })
}

/// The owner's side of `revive` (the reviver may live on another shard): checks the
/// ball (`NOT_FOUND`, `GONE`, `OUTSIDE_WINDOW`, `ALREADY_REVIVED`), then whether the
/// reviver `may_revive` today (`LIMIT_REACHED`), and makes the owner's new ripe ball
/// from the expired grams. Returns the new ball and its grams.
pub fn revive_for_owner(
    world: &mut World,
    reviver: PlayerId,
    owner: PlayerId,
    ball_id: BallId,
    may_revive: bool,
) -> Result<(BallId, u64), ErrorBody> {
    let owner_entity = player_entity(world, owner)?;
    let at = find_revivable(world, owner, owner_entity, ball_id)?;
    if !may_revive {
        return fail(
            ErrorCode::LimitReached,
            format!(
                "you may revive {} balls a day",
                config(world).revive.per_day
            ),
        );
    }
    let expired = &mut record_mut(world, owner_entity).expired[at];
    expired.revived_by = Some(reviver);
    let grams = expired.grams;
    let (now, config) = (now(world), config(world));
    let ball = spawn_ball(
        world,
        NewBall {
            owner_entity,
            owner,
            source: REVIVED_SOURCE.into(),
            grams,
            ripe_at: now,
            stealable: false,
        },
    );
    record_flow(
        world,
        Flow::Revived,
        grams,
        Account::Expired,
        Account::Ball(ball.id),
    );
    notify(
        world,
        owner,
        Event::BallNew {
            ball: views::ball_view(&ball, now, &config),
        },
    );
    notify(
        world,
        owner,
        Event::EnergyRevived {
            by: reviver,
            ball_id: ball.id,
            expired_ball_id: ball_id,
            grams,
        },
    );
    Ok((ball.id, grams))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Millis = 24 * rules::HOUR_MS;

    fn expired_at(at: Millis) -> Revivable {
        Revivable {
            ball_id: BallId(1),
            grams: 52,
            expired_at: at,
            revived_by: None,
        }
    }

    #[test]
    fn a_ball_is_revivable_from_its_expiry_until_just_before_the_window_ends() {
        let expired = expired_at(1_000);
        assert_eq!(standing(&expired, 1_000, WINDOW), Standing::Revivable);
        assert_eq!(
            standing(&expired, 1_000 + WINDOW - 1, WINDOW),
            Standing::Revivable
        );
        assert_eq!(
            standing(&expired, 1_000 + WINDOW, WINDOW),
            Standing::WindowOver,
            "the window is half-open"
        );
        assert_eq!(
            standing(&expired, 1_000 + 2 * WINDOW - 1, WINDOW),
            Standing::WindowOver
        );
        assert_eq!(
            standing(&expired, 1_000 + 2 * WINDOW, WINDOW),
            Standing::Forgotten
        );
        assert!(!remembered(&expired, 1_000 + 2 * WINDOW, WINDOW));
    }

    #[test]
    fn a_revived_ball_stays_revived_whatever_the_time() {
        let mut expired = expired_at(1_000);
        expired.revived_by = Some(PlayerId(7));
        for now in [1_000, 1_000 + WINDOW, 1_000 + 3 * WINDOW] {
            assert_eq!(
                standing(&expired, now, WINDOW),
                Standing::Revived(PlayerId(7))
            );
        }
    }
}
