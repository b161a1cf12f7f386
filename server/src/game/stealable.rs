//! What a friend could steal right now: the "hand" icon of `friends`, the `stealable`
//! of `friend_balls`, and the pushes to watching sessions (`friend_stealable`,
//! `forest_changed`), coalesced per batch.

use super::components::{OwnedBalls, Props};
use super::friends;
use super::resources::{Directory, Dirty, Outbox, Recipient, SessionId, Sessions};
use super::rules;
use super::state::{config, now, player_entity};
use crate::config::Config;
use crate::social::{FriendGraph, Social};
use crate::store::Ball;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::model::PropKind;
use canopy_shared::reply::BallsResult;
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

/// Grams `thief`, who may hit a ball `allowed` times (see [`hits_allowed`]; the thief
/// may be a player of another shard), could steal from `owner` now, over all of the
/// owner's balls.
pub fn stealable_from(world: &World, owner: PlayerId, thief: PlayerId, allowed: u8) -> u64 {
    let (now, config) = (now(world), config(world));
    let mut offer = Offer::default();
    offer.load(world, owner, now);
    offer.grams_with(thief, allowed, now, &config)
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
        self.grams_with(thief, allowed, now, config)
    }

    fn grams_with(&self, thief: PlayerId, allowed: u8, now: Millis, config: &Config) -> u64 {
        self.balls
            .iter()
            .map(|ball| ball_stealable_for(ball, thief, allowed, now, config))
            .sum()
    }
}

/// Tells watching sessions what this batch changed. A session watching an owner (by its
/// friends list, or the owner's forest) whose stealable energy may have changed gets one
/// `friend_stealable` for that owner, with what it could steal from them now, however
/// many changes the batch made and however it watches them; a session watching a changed
/// forest also gets one `forest_changed`. Sessions that watch nothing hear nothing about
/// other players, and an owner's balls are looked at only if someone watches them.
pub fn announce_stealable(world: &mut World) {
    let mut dirty = world.resource_mut::<Dirty>();
    let changed = std::mem::take(&mut dirty.stealable_changed);
    let mut forests = std::mem::take(&mut dirty.forests_changed);
    if changed.is_empty() && forests.is_empty() {
        return;
    }
    super::remote_watch::tell_other_shards(world, &changed, &forests);
    let mut events = Vec::new();
    announce_friend_stealable(world, &changed, &mut events);
    // A cover changes what every ball of the forest offers without changing a ball.
    forests.extend(changed);
    announce_to_forest_watchers(world, &forests, &mut events);
    world.resource_mut::<Outbox>().events.extend(events);
}

/// One `friend_stealable` per (watching session, changed owner): to the sessions of the
/// owner's friends that watch their friends list, and to the sessions of friends that
/// watch the owner's forest; a session doing both gets it once. Each session's frames
/// come in ascending `friend_id`.
fn announce_friend_stealable(
    world: &World,
    changed: &HashSet<PlayerId>,
    events: &mut Vec<(Recipient, Event)>,
) {
    let sessions = world.resource::<Sessions>();
    if changed.is_empty()
        || (sessions.friends_watching_count() == 0 && sessions.watched_forest_count() == 0)
    {
        return;
    }
    let graph = &world.resource::<Social>().graph;
    // (owner, watching player, session), sorted so that each owner's offer is loaded
    // once and each watching player is priced once per owner.
    let mut watching: Vec<(PlayerId, PlayerId, SessionId)> = Vec::new();
    if sessions.friends_watching_count() > 0 {
        for (owner, friend) in audience(graph, sessions, changed) {
            let listing = sessions.friends_watchers(friend);
            watching.extend(listing.iter().map(|&session| (owner, friend, session)));
        }
    }
    for owner in watched_among(sessions, changed) {
        for &session in sessions.forest_watchers(owner) {
            // A watch outlives a friendship only as silence.
            if let Some(viewer) = sessions.player(session)
                && graph.are_friends(owner, viewer)
            {
                watching.push((owner, viewer, session));
            }
        }
    }
    if watching.is_empty() {
        return;
    }
    watching.sort_unstable();
    watching.dedup();
    let (now, config) = (now(world), config(world));
    let mut offer = Offer::default();
    let mut frames: Vec<(SessionId, PlayerId, u64)> = Vec::with_capacity(watching.len());
    for owners in watching.chunk_by(|a, b| a.0 == b.0) {
        let owner = owners[0].0;
        offer.load(world, owner, now);
        for viewers in owners.chunk_by(|a, b| a.1 == b.1) {
            let grams = offer.grams_for(world, viewers[0].1, now, &config);
            frames.extend(
                viewers
                    .iter()
                    .map(|&(_, _, session)| (session, owner, grams)),
            );
        }
    }
    frames.sort_unstable();
    events.extend(frames.into_iter().map(|(session, friend_id, grams)| {
        (
            Recipient::Session(session),
            Event::FriendStealable { friend_id, grams },
        )
    }));
}

/// The owners in `changed` whose forest some session watches, found from the smaller
/// side.
fn watched_among(sessions: &Sessions, changed: &HashSet<PlayerId>) -> Vec<PlayerId> {
    if changed.len() <= sessions.watched_forest_count() {
        changed
            .iter()
            .copied()
            .filter(|&owner| !sessions.forest_watchers(owner).is_empty())
            .collect()
    } else {
        sessions
            .watched_forests()
            .filter(|owner| changed.contains(owner))
            .collect()
    }
}

/// One `forest_changed` for each session watching a changed forest, with the balls as
/// that session's player sees them. A watch outlives a friendship only as silence.
fn announce_to_forest_watchers(
    world: &World,
    changed: &HashSet<PlayerId>,
    events: &mut Vec<(Recipient, Event)>,
) {
    let sessions = world.resource::<Sessions>();
    if changed.is_empty() || sessions.watched_forest_count() == 0 {
        return;
    }
    for owner in watched_among(sessions, changed) {
        for &session in sessions.forest_watchers(owner) {
            let Some(viewer) = sessions.player(session) else {
                continue;
            };
            let Ok(BallsResult { balls, revivable }) = friends::friend_balls(world, viewer, owner)
            else {
                continue;
            };
            let event = Event::ForestChanged {
                owner_id: owner,
                stealable_grams: balls.iter().map(|ball| ball.stealable).sum(),
                balls,
                revivable,
            };
            events.push((Recipient::Session(session), event));
        }
    }
}

/// Who hears about whom: every (changed owner, friend of theirs watching their friends
/// list) pair, grouped by owner. Found from the smaller side: the changed owners'
/// friend lists when no more owners changed than players watch, else the watching
/// players' friend lists (the 07:00 wave changes more owners than are watched).
fn audience(
    graph: &FriendGraph,
    sessions: &Sessions,
    changed: &HashSet<PlayerId>,
) -> Vec<(PlayerId, PlayerId)> {
    if changed.len() <= sessions.friends_watching_count() {
        audience_from_owners(graph, sessions, changed)
    } else {
        audience_from_watchers(graph, sessions, changed)
    }
}

fn audience_from_owners(
    graph: &FriendGraph,
    sessions: &Sessions,
    changed: &HashSet<PlayerId>,
) -> Vec<(PlayerId, PlayerId)> {
    let mut pairs = Vec::new();
    for &owner in changed {
        let watching = graph
            .friends(owner)
            .filter(|&f| sessions.watches_friends(f));
        pairs.extend(watching.map(|friend| (owner, friend)));
    }
    pairs
}

fn audience_from_watchers(
    graph: &FriendGraph,
    sessions: &Sessions,
    changed: &HashSet<PlayerId>,
) -> Vec<(PlayerId, PlayerId)> {
    let mut pairs = Vec::new();
    for friend in sessions.friends_watching_players() {
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
                    sessions.bind(SessionId(id), PlayerId(id), [0; 32]);
                    if rng.random_bool(0.7) {
                        sessions.watch_friends(SessionId(id));
                    }
                }
            }
            let changed: HashSet<PlayerId> = (1..=players)
                .filter(|_| rng.random_bool(0.5))
                .map(PlayerId)
                .collect();
            let mut from_owners = audience_from_owners(&graph, &sessions, &changed);
            let from_watchers = audience_from_watchers(&graph, &sessions, &changed);
            from_owners.sort_unstable();
            assert_eq!(from_owners, from_watchers);
            assert!(from_watchers.iter().all(|&(owner, friend)| {
                changed.contains(&owner)
                    && sessions.watches_friends(friend)
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
