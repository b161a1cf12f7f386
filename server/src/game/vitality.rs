//! Vitality (活力值): the second currency. Points are earned by playing and spent in
//! the shop; they never move between players. Every point moves through the ledger
//! (`VitalityEarned` for collecting and `ReviveRewarded` for reviving: mint → player;
//! `VitalitySpent`: player → shop), so the audit holds vitality to its own identity:
//! earned = held + spent.

use super::components::Vitality;
use super::resources::Dirty;
use super::rules;
use super::state::{config, fail, now, record_flow};
use crate::store::{Account, Flow, VitalityRecord};
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::{ErrorBody, ErrorCode};

/// Points earned for `grams` collected on top of `carry_grams` left over from earlier
/// collections, and the grams carried forward: one point per `grams_per_point`.
pub fn points_for_grams(carry_grams: u64, grams: u64, grams_per_point: u64) -> (u64, u64) {
    let total = carry_grams.saturating_add(grams);
    (total / grams_per_point, total % grams_per_point)
}

/// Today's game day and its month key, for rolling the counts.
fn today(world: &World) -> (i64, i32) {
    let day = rules::game_day(now(world), config(world).day.utc_offset_minutes);
    (day, rules::month_key(day))
}

/// A player's vitality record with its daily and monthly counts rolled to today, for
/// changing; marks it for this tick's batch.
pub fn rolled(world: &mut World, entity: Entity) -> &mut VitalityRecord {
    let (day, month) = today(world);
    world.resource_mut::<Dirty>().vitality.insert(entity);
    let vitality = world
        .get_mut::<Vitality>(entity)
        .expect("every player entity has Vitality")
        .into_inner();
    vitality.0.roll(day, month);
    &mut vitality.0
}

/// A copy of a player's vitality record as it stands today, for reading: nothing is
/// written.
pub fn as_of_today(world: &World, entity: Entity) -> VitalityRecord {
    let (day, month) = today(world);
    let mut record = world
        .get::<Vitality>(entity)
        .expect("every player entity has Vitality")
        .0
        .clone();
    record.roll(day, month);
    record
}

/// A player's vitality points, without changing anything.
pub fn points(world: &World, entity: Entity) -> u64 {
    world
        .get::<Vitality>(entity)
        .expect("every player entity has Vitality")
        .0
        .points
}

/// Credits the vitality that `grams` of collected energy earn (see
/// `shop.grams_per_vitality`), carrying the remainder to the next collection.
pub fn earn_for_collecting(world: &mut World, entity: Entity, grams: u64) {
    let grams_per_point = config(world).shop.grams_per_vitality;
    let record = rolled(world, entity);
    let (points, carry) = points_for_grams(record.carry_grams, grams, grams_per_point);
    record.carry_grams = carry;
    earn(world, entity, points);
}

/// Credits `points` of vitality earned by playing (nothing for 0).
pub fn earn(world: &mut World, entity: Entity, points: u64) {
    if points == 0 {
        return;
    }
    let record = rolled(world, entity);
    record.points += points;
    let player = record.player;
    record_flow(
        world,
        Flow::VitalityEarned,
        points,
        Account::VitalityMint,
        Account::Vitality(player),
    );
}

/// Gives a reviver their `points` for reviving a friend's ball; returns their balance.
pub fn reward_reviver(world: &mut World, entity: Entity, points: u64) -> u64 {
    let record = rolled(world, entity);
    record.points += points;
    let (player, balance) = (record.player, record.points);
    if points > 0 {
        record_flow(
            world,
            Flow::ReviveRewarded,
            points,
            Account::VitalityMint,
            Account::Vitality(player),
        );
    }
    balance
}

/// Takes `price` points for the shop, or `INSUFFICIENT_VITALITY`.
pub fn spend(world: &mut World, entity: Entity, price: u64) -> Result<u64, ErrorBody> {
    let record = rolled(world, entity);
    if record.points < price {
        return fail(
            ErrorCode::InsufficientVitality,
            format!("this costs {price} vitality; you have {}", record.points),
        );
    }
    record.points -= price;
    let (player, left) = (record.player, record.points);
    record_flow(
        world,
        Flow::VitalitySpent,
        price,
        Account::Vitality(player),
        Account::Shop,
    );
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_per_ten_grams_with_the_rest_carried() {
        assert_eq!(points_for_grams(0, 9, 10), (0, 9));
        assert_eq!(points_for_grams(9, 1, 10), (1, 0));
        assert_eq!(points_for_grams(3, 52, 10), (5, 5));
        assert_eq!(points_for_grams(0, 0, 10), (0, 0));
        assert_eq!(points_for_grams(0, 1_000, 1), (1_000, 0));
    }
}
