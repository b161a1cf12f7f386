//! What a friend could steal right now: the "hand" icon of `friends`, the `stealable`
//! of `friend_balls`, and the coalesced `friend_stealable` events.

use super::components::{OwnedBalls, Props};
use super::resources::{Directory, Dirty, Outbox, Sessions};
use super::rules;
use super::state::{config, now, player_entity};
use crate::config::Config;
use crate::social::{FriendGraph, Social};
use crate::store::Ball;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::model::PropKind;
use canopy_shared::{Event, Millis, PlayerId};
use std::collections::HashSet;

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
    player_entity(world, player).is_ok_and(|entity| cover_up(world, entity, now))
}

fn cover_up(world: &World, player: Entity, now: Millis) -> bool {
    world
        .get::<Props>(player)
        .is_some_and(|props| props.0.is_active(PropKind::ProtectionCover, now))
}

/// Grams `thief` could steal from `owner` now, over all of the owner's balls.
pub fn stealable_from(world: &World, owner: PlayerId, thief: PlayerId) -> u64 {
    let (now, config) = (now(world), config(world));
    let mut offer = Offer::default();
    offer.load(world, owner, now);
    offer.grams_for(world, thief, now, &config)
}

/// What an owner offers thieves now: their live, ripe, stealable balls, borrowed from
/// the World (none under a protection cover). Loaded once per owner, it prices any
/// number of thieves without cloning a ball; the buffer is reused from owner to owner.
#[derive(Default)]
struct Offer<'w> {
    balls: Vec<&'w Ball>,
    /// Whether any of those balls was hit already; if none was, no thief has used up
    /// their hits on any of them and their props need not be looked at.
    hit: bool,
}

impl<'w> Offer<'w> {
    fn load(&mut self, world: &'w World, owner: PlayerId, now: Millis) {
        self.balls.clear();
        self.hit = false;
        let directory = world.resource::<Directory>();
        let Some(&entity) = directory.players.get(&owner) else {
            return;
        };
        if cover_up(world, entity, now) {
            return;
        }
        let owned = world
            .get::<OwnedBalls>(entity)
            .expect("every player entity has OwnedBalls");
        self.balls.extend(
            owned
                .0
                .iter()
                .filter_map(|id| directory.balls.get(id))
                .filter_map(|&entity| world.get::<Ball>(entity))
                .filter(|ball| ball.stealable && ball.ripe_at <= now && ball.expires_at > now),
        );
        self.hit = self.balls.iter().any(|ball| !ball.thieves.is_empty());
    }

    fn grams_for(&self, world: &World, thief: PlayerId, now: Millis, config: &Config) -> u64 {
        if self.balls.is_empty() {
            return 0;
        }
        // With no hits on any ball, every thief is below the one hit everybody has.
        let allowed = if self.hit {
            hits_allowed(world, thief, now)
        } else {
            1
        };
        self.balls
            .iter()
            .map(|ball| ball_stealable_for(ball, thief, allowed, now, config))
            .sum()
    }
}

/// Tells each online friend of every player whose balls changed this tick what they
/// could steal from them now: at most one `friend_stealable` per friend per tick. An
/// owner's balls are looked at only if one of their friends is online.
pub fn announce_stealable(world: &mut World) {
    let changed = std::mem::take(&mut world.resource_mut::<Dirty>().stealable_changed);
    if changed.is_empty() {
        return;
    }
    let (now, config) = (now(world), config(world));
    let pairs = audience(
        &world.resource::<Social>().graph,
        world.resource::<Sessions>(),
        &changed,
    );
    let mut offer = Offer::default();
    let mut grams = Vec::with_capacity(pairs.len());
    for owners_pairs in pairs.chunk_by(|a, b| a.0 == b.0) {
        offer.load(world, owners_pairs[0].0, now);
        grams.extend(
            owners_pairs
                .iter()
                .map(|&(_, friend)| offer.grams_for(world, friend, now, &config)),
        );
    }
    let events = &mut world.resource_mut::<Outbox>().events;
    events.reserve(pairs.len());
    for (&(owner, friend), grams) in pairs.iter().zip(grams) {
        let event = Event::FriendStealable {
            friend_id: owner,
            grams,
        };
        events.push((friend, event));
    }
}

/// Who hears about whom: every (changed owner, online friend of theirs) pair, grouped by
/// owner. Found from the smaller side: the changed owners' friend lists when no more
/// owners changed than players are online, else the online players' friend lists (the
/// 07:00 wave changes more owners than are online).
fn audience(
    graph: &FriendGraph,
    sessions: &Sessions,
    changed: &HashSet<PlayerId>,
) -> Vec<(PlayerId, PlayerId)> {
    if changed.len() <= sessions.online_count() {
        audience_from_owners(graph, sessions, changed)
    } else {
        audience_from_online(graph, sessions, changed)
    }
}

fn audience_from_owners(
    graph: &FriendGraph,
    sessions: &Sessions,
    changed: &HashSet<PlayerId>,
) -> Vec<(PlayerId, PlayerId)> {
    let mut pairs = Vec::new();
    for &owner in changed {
        let online = graph.friends(owner).filter(|&f| sessions.is_online(f));
        pairs.extend(online.map(|friend| (owner, friend)));
    }
    pairs
}

fn audience_from_online(
    graph: &FriendGraph,
    sessions: &Sessions,
    changed: &HashSet<PlayerId>,
) -> Vec<(PlayerId, PlayerId)> {
    let mut pairs = Vec::new();
    for friend in sessions.online_players() {
        let owners = graph
            .friends(friend)
            .filter(|owner| changed.contains(owner));
        pairs.extend(owners.map(|owner| (owner, friend)));
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::SessionId;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn both_sides_find_the_same_owner_friend_pairs() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let players = rng.random_range(2..60u64);
            let mut graph = FriendGraph::default();
            for _ in 0..rng.random_range(0..players * 4) {
                let (a, b) = (rng.random_range(1..=players), rng.random_range(1..=players));
                graph.befriend(PlayerId(a), PlayerId(b));
            }
            let mut sessions = Sessions::default();
            for id in 1..=players {
                if rng.random_bool(0.3) {
                    sessions.connect(SessionId(id));
                    sessions.bind(SessionId(id), PlayerId(id));
                }
            }
            let changed: HashSet<PlayerId> = (1..=players)
                .filter(|_| rng.random_bool(0.5))
                .map(PlayerId)
                .collect();
            let mut from_owners = audience_from_owners(&graph, &sessions, &changed);
            let from_online = audience_from_online(&graph, &sessions, &changed);
            from_owners.sort_unstable();
            assert_eq!(from_owners, from_online);
            assert!(from_online.iter().all(|&(owner, friend)| {
                changed.contains(&owner)
                    && sessions.is_online(friend)
                    && graph.are_friends(owner, friend)
            }));
            let grouped = audience(&graph, &sessions, &changed);
            let owners: Vec<PlayerId> = grouped
                .chunk_by(|a, b| a.0 == b.0)
                .map(|pairs| pairs[0].0)
                .collect();
            let distinct: HashSet<PlayerId> = owners.iter().copied().collect();
            assert_eq!(
                owners.len(),
                distinct.len(),
                "each owner's pairs come together"
            );
        }
    }
}
