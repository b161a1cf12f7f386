//! What a friend could steal right now: the "hand" icon of `friends`, the `stealable`
//! of `friend_balls`, and the coalesced `friend_stealable` events.

use super::components::Props;
use super::resources::{Dirty, Sessions};
use super::rules;
use super::state::{config, notify, now, owned_balls, player_entity};
use crate::config::Config;
use crate::social::Social;
use crate::store::Ball;
use bevy_ecs::world::World;
use canopy_shared::model::PropKind;
use canopy_shared::{Event, Millis, PlayerId};

/// Hits a thief may make on one ball: one, or two under an active double-click card.
pub fn hits_allowed(world: &World, thief: PlayerId, now: Millis) -> u8 {
    let double = player_entity(world, thief)
        .ok()
        .and_then(|entity| world.get::<Props>(entity))
        .is_some_and(|props| props.0.is_active(PropKind::DoubleClick, now));
    if double { 2 } else { 1 }
}

/// How often `thief` already hit `ball`.
pub fn hits_on(ball: &Ball, thief: PlayerId) -> u8 {
    ball.thieves
        .iter()
        .find(|(who, _)| *who == thief)
        .map_or(0, |(_, hits)| *hits)
}

/// Grams `thief` could take from `ball` now (before their daily allowance).
pub fn ball_stealable_for(
    ball: &Ball,
    thief: PlayerId,
    allowed: u8,
    now: Millis,
    config: &Config,
) -> u64 {
    if !ball.stealable
        || ball.ripe_at > now
        || ball.owner == thief
        || hits_on(ball, thief) >= allowed
    {
        return 0;
    }
    rules::stealable_grams(ball.full, ball.stolen, ball.left, &config.steal)
}

/// Whether a player's protection cover is up.
pub fn is_protected(world: &World, player: PlayerId, now: Millis) -> bool {
    player_entity(world, player)
        .ok()
        .and_then(|entity| world.get::<Props>(entity))
        .is_some_and(|props| props.0.is_active(PropKind::ProtectionCover, now))
}

/// Grams `thief` could steal from `owner` now, over all of the owner's balls.
pub fn stealable_from(world: &World, owner: PlayerId, thief: PlayerId) -> u64 {
    let (now, config) = (now(world), config(world));
    let Ok(entity) = player_entity(world, owner) else {
        return 0;
    };
    if is_protected(world, owner, now) {
        return 0;
    }
    let allowed = hits_allowed(world, thief, now);
    owned_balls(world, entity)
        .iter()
        .map(|ball| ball_stealable_for(ball, thief, allowed, now, &config))
        .sum()
}

/// Tells each online friend of every player whose balls changed this tick what they
/// could steal from them now: at most one `friend_stealable` per friend per tick.
pub fn announce_stealable(world: &mut World) {
    let changed = std::mem::take(&mut world.resource_mut::<Dirty>().stealable_changed);
    if changed.is_empty() {
        return;
    }
    let mut events = Vec::new();
    for owner in changed {
        for friend in world.resource::<Social>().graph.friends(owner) {
            if world.resource::<Sessions>().is_online(friend) {
                events.push((friend, owner, stealable_from(world, owner, friend)));
            }
        }
    }
    for (friend, owner, grams) in events {
        notify(
            world,
            friend,
            Event::FriendStealable {
                friend_id: owner,
                grams,
            },
        );
    }
}
