//! Cluster mode: pushes to sessions that watch players of other shards (`watch` of a
//! friend's forest, or of the friends list). The owner's shard cannot see those
//! sessions: after each batch it tells every shard that holds friends of a changed
//! owner which owners changed ([`tell_other_shards`], sent as [`Dispatch::Changed`]).
//! That shard finds its sessions that watch them ([`changed`]), reads from the owner's
//! shard what each watching player is to be pushed (a view query of `remote_views`),
//! and pushes the events of one node ([`push`]): `friend_stealable`, then
//! `forest_changed`. A push arrives one round trip after the change; a read that gets
//! no answer pushes nothing (the client sees the state when it next asks).

use super::remote::{self, Dispatch, RemoteOps};
use super::remote_views::{self, ViewAnswer, ViewQuery};
use super::resources::{Outbox, Recipient, SessionId, Sessions};
use super::risk;
use super::state::now;
use super::stealable::hits_allowed;
use crate::social::Social;
use bevy_ecs::world::World;
use canopy_shared::{Event, PlayerId};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What a push's read is for.
pub struct Push {
    /// The owner whose change it is about.
    owner: PlayerId,
    /// The watching player (the viewer of the read).
    viewer: PlayerId,
    /// The watching player's sessions to push to.
    sessions: Vec<SessionId>,
    kind: PushKind,
}

#[derive(Clone, Copy)]
enum PushKind {
    /// `friend_stealable`, to sessions watching their friends list.
    Stealable,
    /// `forest_changed` to sessions watching the owner's forest, after a
    /// `friend_stealable` when the owner's stealable energy changed.
    Forest { stealable: bool },
}

/// On the owner's shard, after a batch: tells each shard holding friends of a changed
/// owner which owners changed (`stealable`: what thieves could take; `forests`: only
/// the forest).
pub fn tell_other_shards(
    world: &mut World,
    stealable_set: &HashSet<PlayerId>,
    forests: &HashSet<PlayerId>,
) {
    let partition = remote::partition(world);
    if partition.shards == 1 {
        return;
    }
    let graph = &world.resource::<Social>().graph;
    let mut by_shard: BTreeMap<u64, (Vec<PlayerId>, Vec<PlayerId>)> = BTreeMap::new();
    let stealable = stealable_set.iter().map(|&owner| (owner, true));
    let forests_alone = forests
        .difference(stealable_set)
        .map(|&owner| (owner, false));
    for (owner, steal_changed) in stealable.chain(forests_alone) {
        {
            let shards: BTreeSet<u64> = graph
                .friends(owner)
                .filter(|&friend| !partition.owns(friend))
                .map(|friend| partition.owner(friend))
                .collect();
            for shard in shards {
                let (stealable, forests) = by_shard.entry(shard).or_default();
                if steal_changed {
                    stealable.push(owner);
                } else {
                    forests.push(owner);
                }
            }
        }
    }
    let mut remote = world.resource_mut::<RemoteOps>();
    for (to_shard, (mut stealable, mut forests)) in by_shard {
        stealable.sort_unstable();
        forests.sort_unstable();
        remote.dispatch(Dispatch::Changed {
            to_shard,
            stealable,
            forests,
        });
    }
}

/// On a watching player's shard: owners of another shard changed. Reads, for each
/// player here who watches one of them, what their sessions are to be pushed.
pub fn changed(world: &mut World, stealable: &[PlayerId], forests: &[PlayerId]) {
    let partition = remote::partition(world);
    let sessions = world.resource::<Sessions>();
    let graph = &world.resource::<Social>().graph;
    let stealable_set: HashSet<PlayerId> = stealable.iter().copied().collect();
    let mut pushes = Vec::new();
    for &owner in stealable {
        let forest = sessions.forest_watchers(owner);
        let listing = graph
            .friends(owner)
            .filter(|&friend| partition.owns(friend) && sessions.watches_friends(friend));
        for friend in listing {
            // A session that also watches the forest hears it with the forest's push.
            let to: Vec<SessionId> = sessions
                .friends_watchers(friend)
                .iter()
                .copied()
                .filter(|session| !forest.contains(session))
                .collect();
            if !to.is_empty() {
                pushes.push((friend, owner, to, PushKind::Stealable));
            }
        }
    }
    let forest_owners = stealable.iter().map(|&owner| (owner, true)).chain(
        forests
            .iter()
            .filter(|owner| !stealable_set.contains(owner))
            .map(|&owner| (owner, false)),
    );
    for (owner, stealable) in forest_owners {
        let mut by_viewer: BTreeMap<PlayerId, Vec<SessionId>> = BTreeMap::new();
        for &session in sessions.forest_watchers(owner) {
            // A watch outlives a friendship only as silence.
            if let Some(viewer) = sessions.player(session)
                && graph.are_friends(owner, viewer)
            {
                by_viewer.entry(viewer).or_default().push(session);
            }
        }
        for (viewer, to) in by_viewer {
            pushes.push((viewer, owner, to, PushKind::Forest { stealable }));
        }
    }
    let now = now(world);
    for (viewer, owner, sessions, kind) in pushes {
        let hits_allowed = hits_allowed(world, viewer, now);
        let view = match kind {
            PushKind::Stealable => ViewQuery::Friends {
                viewer,
                hits_allowed,
                players: vec![owner],
            },
            PushKind::Forest { .. } => ViewQuery::Balls {
                viewer,
                hits_allowed,
                owner,
            },
        };
        let push = Push {
            owner,
            viewer,
            sessions,
            kind,
        };
        remote_views::ask_for_push(world, partition.owner(owner), view, push);
    }
}

/// Pushes what the owner's shard answered to the sessions that still watch.
pub fn push(world: &mut World, push: Push, answer: ViewAnswer) {
    let Push {
        owner,
        viewer,
        sessions: to,
        kind,
    } = push;
    let sessions = world.resource::<Sessions>();
    let still_watching = |session: &SessionId| match kind {
        PushKind::Stealable => sessions
            .player(*session)
            .is_some_and(|player| sessions.friends_watchers(player).contains(session)),
        PushKind::Forest { .. } => sessions.forest_watchers(owner).contains(session),
    };
    let to: Vec<SessionId> = to.into_iter().filter(still_watching).collect();
    let mut events = Vec::new();
    match (kind, answer) {
        (PushKind::Stealable, ViewAnswer::Friends(rows)) => {
            if let Some(row) = rows.iter().find(|row| row.player_id == owner) {
                let grams = row.stealable_grams;
                events.extend(to.iter().map(|&session| {
                    let event = Event::FriendStealable {
                        friend_id: owner,
                        grams,
                    };
                    (Recipient::Session(session), event)
                }));
            }
        }
        (PushKind::Forest { stealable }, ViewAnswer::Balls(view)) => {
            if !to.is_empty() {
                risk::remote_balls_shown(world, viewer, owner, &view.balls);
            }
            let grams: u64 = view.balls.iter().map(|ball| ball.stealable).sum();
            for &session in &to {
                if stealable {
                    let event = Event::FriendStealable {
                        friend_id: owner,
                        grams,
                    };
                    events.push((Recipient::Session(session), event));
                }
                let event = Event::ForestChanged {
                    owner_id: owner,
                    stealable_grams: grams,
                    balls: view.balls.clone(),
                    revivable: view.revivable.clone(),
                };
                events.push((Recipient::Session(session), event));
            }
        }
        (_, answer) => tracing::error!(?answer, "an answer for another push; ignored"),
    }
    world.resource_mut::<Outbox>().events.extend(events);
}
