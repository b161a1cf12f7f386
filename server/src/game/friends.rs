//! Friendship ops and the views over friends: requests, blocks, the friends list with
//! the "hand" icon, a friend's balls, suggestions and the leaderboard.

use super::components::{Profile, Props, Wallet};
use super::resources::{Dirty, SessionId, Sessions};
use super::rules;
use super::state::{config, fail, notify, now, owned_balls, player_entity};
use super::stealable::{ball_stealable_for, hits_allowed, is_protected, stealable_from};
use super::transfers::require_friends;
use super::views;
use crate::social::Social;
use crate::store::SocialWrite;
use crate::store::outbox::SocialOp;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::model::{
    BoardEntry, BoardPeriod, FriendView, PendingRequestView, Suggestion, WatchTarget,
};
use canopy_shared::reply::{
    BallsResult, Empty, FriendsResult, LeaderboardResult, SuggestionsResult,
};
use canopy_shared::{ErrorBody, ErrorCode, Event, PlayerId};
use std::collections::BTreeMap;

const SUGGESTIONS_DEFAULT: u32 = 10;
const SUGGESTIONS_MAX: u32 = 50;
const BOARD_DEFAULT: u32 = 50;
const BOARD_MAX: u32 = 200;

fn request_ttl_ms(world: &World) -> u64 {
    config(world).friends.request_ttl_days * rules::DAY_MS
}

/// Cluster mode: what this shard knows of a player of another shard while it decides
/// that player's friendship op; empty otherwise.
#[derive(Resource, Default)]
pub struct Visitor(Option<VisitorFacts>);

/// A visiting player's id, friend count and name, as their own shard sent them.
pub struct VisitorFacts {
    /// The player.
    pub id: PlayerId,
    /// Their friends, on every shard.
    pub friends: u32,
    /// Their name.
    pub name: String,
}

fn visitor(world: &World, player: PlayerId) -> Option<&VisitorFacts> {
    world
        .get_resource::<Visitor>()
        .and_then(|visitor| visitor.0.as_ref())
        .filter(|facts| facts.id == player)
}

fn friend_count(world: &World, player: PlayerId) -> usize {
    match visitor(world, player) {
        Some(facts) => facts.friends as usize,
        None => world.resource::<Social>().graph.friend_count(player),
    }
}

/// A player's name (a visiting player's as their shard sent it), empty if unknown.
pub fn name_of(world: &World, player: PlayerId) -> String {
    if let Some(facts) = visitor(world, player) {
        return facts.name.clone();
    }
    player_entity(world, player)
        .ok()
        .and_then(|entity| world.get::<Profile>(entity))
        .map(|profile| profile.name.to_string())
        .unwrap_or_default()
}

fn social_write(world: &mut World, write: SocialWrite) {
    world.resource_mut::<Dirty>().social.push(write);
}

fn not_self(me: PlayerId, other: PlayerId) -> Result<(), ErrorBody> {
    if me == other {
        return fail(ErrorCode::BadRequest, "that is your own id");
    }
    Ok(())
}

fn check_limit(world: &World, players: [PlayerId; 2]) -> Result<(), ErrorBody> {
    let max = config(world).friends.max;
    for player in players {
        if friend_count(world, player) >= max {
            return fail(
                ErrorCode::LimitReached,
                format!("player {player} already has {max} friends"),
            );
        }
    }
    Ok(())
}

fn withdraw_request(world: &mut World, from: PlayerId, to: PlayerId) {
    if world.resource_mut::<Social>().remove_request(from, to) {
        social_write(world, SocialWrite::Request(from, to, None));
    }
}

fn befriend(world: &mut World, a: PlayerId, b: PlayerId) {
    withdraw_request(world, a, b);
    withdraw_request(world, b, a);
    world.resource_mut::<Social>().graph.befriend(a, b);
    social_write(world, SocialWrite::Friendship(a, b, true));
    notify(world, a, Event::FriendAdded { player_id: b });
    notify(world, b, Event::FriendAdded { player_id: a });
}

fn end_friendship(world: &mut World, a: PlayerId, b: PlayerId) -> bool {
    if !world.resource_mut::<Social>().graph.unfriend(a, b) {
        return false;
    }
    social_write(world, SocialWrite::Friendship(a, b, false));
    notify(world, a, Event::FriendRemoved { player_id: b });
    notify(world, b, Event::FriendRemoved { player_id: a });
    true
}

/// `friend_request`. A request to someone who already asked you accepts theirs.
pub fn request(world: &mut World, me: PlayerId, target: PlayerId) -> Result<Empty, ErrorBody> {
    not_self(me, target)?;
    player_entity(world, target)?;
    let (now, ttl) = (now(world), request_ttl_ms(world));
    let social = world.resource::<Social>();
    if social.graph.are_friends(me, target) {
        return fail(
            ErrorCode::Conflict,
            format!("you and {target} are already friends"),
        );
    }
    if social.pending(me, target, now, ttl).is_some() {
        return fail(
            ErrorCode::Conflict,
            format!("your request to {target} is pending"),
        );
    }
    if social.blocked_either_way(me, target) {
        return fail(ErrorCode::Blocked, format!("you cannot befriend {target}"));
    }
    check_limit(world, [me, target])?;
    if world
        .resource::<Social>()
        .pending(target, me, now, ttl)
        .is_some()
    {
        befriend(world, me, target);
        return Ok(Empty {});
    }
    world.resource_mut::<Social>().add_request(me, target, now);
    social_write(world, SocialWrite::Request(me, target, Some(now)));
    let name = name_of(world, me);
    notify(world, target, Event::FriendRequest { from: me, name });
    Ok(Empty {})
}

/// `friend_accept`.
pub fn accept(world: &mut World, me: PlayerId, requester: PlayerId) -> Result<Empty, ErrorBody> {
    let (now, ttl) = (now(world), request_ttl_ms(world));
    if world
        .resource::<Social>()
        .pending(requester, me, now, ttl)
        .is_none()
    {
        return fail(
            ErrorCode::NotFound,
            format!("no pending request from {requester}"),
        );
    }
    check_limit(world, [me, requester])?;
    befriend(world, me, requester);
    Ok(Empty {})
}

/// `friend_decline`: drops a pending request, if there is one.
pub fn decline(world: &mut World, me: PlayerId, requester: PlayerId) -> Result<Empty, ErrorBody> {
    withdraw_request(world, requester, me);
    Ok(Empty {})
}

/// `unfriend`.
pub fn unfriend(world: &mut World, me: PlayerId, other: PlayerId) -> Result<Empty, ErrorBody> {
    if !end_friendship(world, me, other) {
        return fail(
            ErrorCode::NotFriends,
            format!("player {other} is not your friend"),
        );
    }
    Ok(Empty {})
}

/// `block`: ends any friendship, drops requests both ways, refuses new ones.
pub fn block(world: &mut World, me: PlayerId, other: PlayerId) -> Result<Empty, ErrorBody> {
    not_self(me, other)?;
    player_entity(world, other)?;
    end_friendship(world, me, other);
    withdraw_request(world, me, other);
    withdraw_request(world, other, me);
    if world.resource_mut::<Social>().block(me, other) {
        social_write(world, SocialWrite::Block(me, other, true));
    }
    Ok(Empty {})
}

/// `unblock`.
pub fn unblock(world: &mut World, me: PlayerId, other: PlayerId) -> Result<Empty, ErrorBody> {
    if world.resource_mut::<Social>().unblock(me, other) {
        social_write(world, SocialWrite::Block(me, other, false));
    }
    Ok(Empty {})
}

/// Cluster mode, on the target's shard: decides `op` of a player of another shard
/// (`actor`) on `target`, a player of this one, by the same rules as on one node, and
/// returns the graph changes made, for the actor's shard to make too.
pub fn decide_for_visitor(
    world: &mut World,
    op: SocialOp,
    actor: VisitorFacts,
    target: PlayerId,
) -> Result<Vec<SocialWrite>, ErrorBody> {
    let me = actor.id;
    world.insert_resource(Visitor(Some(actor)));
    let first_write = world.resource::<Dirty>().social.len();
    let decided = match op {
        SocialOp::Request => request(world, me, target),
        SocialOp::Accept => accept(world, me, target),
        SocialOp::Decline => decline(world, me, target),
        SocialOp::Unfriend => unfriend(world, me, target),
        SocialOp::Block => block(world, me, target),
        SocialOp::Unblock => unblock(world, me, target),
    };
    world.insert_resource(Visitor(None));
    decided.map(|_| world.resource::<Dirty>().social[first_write..].to_vec())
}

/// Cluster mode, on the actor's shard: makes the graph changes the target's shard
/// decided, so each shard holds every edge of its own players.
pub fn apply_decided(world: &mut World, writes: &[SocialWrite]) {
    for &write in writes {
        let mut social = world.resource_mut::<Social>();
        let changed = match write {
            SocialWrite::Friendship(a, b, true) => social.graph.befriend(a, b),
            SocialWrite::Friendship(a, b, false) => social.graph.unfriend(a, b),
            SocialWrite::Request(from, to, Some(sent)) => {
                social.add_request(from, to, sent);
                true
            }
            SocialWrite::Request(from, to, None) => social.remove_request(from, to),
            SocialWrite::Block(blocker, blocked, true) => social.block(blocker, blocked),
            SocialWrite::Block(blocker, blocked, false) => social.unblock(blocker, blocked),
        };
        if !changed {
            continue;
        }
        social_write(world, write);
        match write {
            SocialWrite::Friendship(a, b, true) => {
                notify(world, a, Event::FriendAdded { player_id: b });
                notify(world, b, Event::FriendAdded { player_id: a });
            }
            SocialWrite::Friendship(a, b, false) => {
                notify(world, a, Event::FriendRemoved { player_id: b });
                notify(world, b, Event::FriendRemoved { player_id: a });
            }
            _ => {}
        }
    }
}

fn pending_views(world: &World, requests: BTreeMap<PlayerId, u64>) -> Vec<PendingRequestView> {
    requests
        .into_iter()
        .map(|(player_id, sent_at)| PendingRequestView {
            player_id,
            name: name_of(world, player_id),
            sent_at,
        })
        .collect()
}

/// `friends`: each friend with what the caller could steal now, and pending requests.
/// In cluster mode these are the friends and requests of this shard's players; those of
/// other shards are added by `remote_views`.
pub fn list(world: &World, me: PlayerId) -> Result<FriendsResult, ErrorBody> {
    player_entity(world, me)?;
    let (now, ttl) = (now(world), request_ttl_ms(world));
    let allowed = hits_allowed(world, me, now);
    let social = world.resource::<Social>();
    let mut ids: Vec<PlayerId> = social.graph.friends(me).collect();
    ids.sort();
    let friends = ids
        .into_iter()
        .filter_map(|friend| friend_row(world, me, allowed, friend))
        .collect();
    Ok(FriendsResult {
        friends,
        incoming: pending_views(world, social.incoming(me, now, ttl)),
        outgoing: pending_views(world, social.outgoing(me, now, ttl)),
        unavailable: Vec::new(),
    })
}

/// A row of `friends`: `friend` as `viewer`, who may hit a ball `allowed` times, sees
/// them; `None` when `friend` is not a player of this shard.
pub fn friend_row(
    world: &World,
    viewer: PlayerId,
    allowed: u8,
    friend: PlayerId,
) -> Option<FriendView> {
    let entity = player_entity(world, friend).ok()?;
    let wallet = world.get::<Wallet>(entity)?;
    let props = &world.get::<Props>(entity)?.0;
    Some(FriendView {
        player_id: friend,
        name: name_of(world, friend),
        energy: wallet.energy,
        total_collected: wallet.total_collected,
        stealable_grams: stealable_from(world, friend, viewer, allowed),
        protected_until: views::protected_until(props, now(world)),
    })
}

/// `friend_balls`: a friend's balls with `stealable` from the caller's side.
pub fn friend_balls(
    world: &World,
    me: PlayerId,
    friend: PlayerId,
) -> Result<BallsResult, ErrorBody> {
    require_friends(world, me, friend)?;
    balls_seen_by(world, me, hits_allowed(world, me, now(world)), friend)
}

/// `owner`'s balls as `viewer`, who may hit a ball `allowed` times, sees them (the
/// viewer may be a player of another shard).
pub fn balls_seen_by(
    world: &World,
    viewer: PlayerId,
    allowed: u8,
    owner: PlayerId,
) -> Result<BallsResult, ErrorBody> {
    let (now, config) = (now(world), config(world));
    let entity = player_entity(world, owner)?;
    let protected = is_protected(world, owner, now);
    let mut balls = owned_balls(world, entity);
    balls.sort_by_key(|ball| (ball.ripe_at, ball.id));
    Ok(BallsResult {
        balls: balls
            .iter()
            .map(|ball| {
                let mut view = views::ball_view(ball, now, &config);
                view.stealable = if protected {
                    0
                } else {
                    ball_stealable_for(ball, viewer, allowed, now, &config)
                };
                view
            })
            .collect(),
        revivable: super::revive::revivable_view(world, entity),
    })
}

/// `watch`: from the end of this batch on, the session hears of its friends' stealable
/// energy (`friend_stealable`) or of one friend's forest (`forest_changed`, and that
/// friend's `friend_stealable`). Watching a forest replaces the forest the session
/// watched before.
pub fn watch(
    world: &mut World,
    session: SessionId,
    me: PlayerId,
    what: WatchTarget,
    friend_id: Option<PlayerId>,
) -> Result<Empty, ErrorBody> {
    match (what, friend_id) {
        (WatchTarget::Friends, _) => world.resource_mut::<Sessions>().watch_friends(session),
        (WatchTarget::Forest, None) => {
            return fail(ErrorCode::BadRequest, "watching a forest needs friend_id");
        }
        (WatchTarget::Forest, Some(friend)) => {
            require_friends(world, me, friend)?;
            world
                .resource_mut::<Sessions>()
                .watch_forest(session, friend);
        }
    }
    Ok(Empty {})
}

/// `unwatch`: the session stops a watch; `ok` when there was none. With `friend_id`, a
/// forest watch stops only if it is that friend's forest.
pub fn unwatch(
    world: &mut World,
    session: SessionId,
    what: WatchTarget,
    friend_id: Option<PlayerId>,
) -> Result<Empty, ErrorBody> {
    let mut sessions = world.resource_mut::<Sessions>();
    match what {
        WatchTarget::Friends => sessions.unwatch_friends(session),
        WatchTarget::Forest => sessions.unwatch_forest(session, friend_id),
    }
    Ok(Empty {})
}

fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<usize, ErrorBody> {
    match limit.unwrap_or(default) {
        0 => fail(ErrorCode::BadRequest, "`limit` must be at least 1"),
        n if n > max => fail(
            ErrorCode::BadRequest,
            format!("`limit` must be at most {max}"),
        ),
        n => Ok(n as usize),
    }
}

/// `suggestions`: friends of friends by mutual friends, without blocked or pending ones.
pub fn suggestions(
    world: &World,
    me: PlayerId,
    limit: Option<u32>,
) -> Result<SuggestionsResult, ErrorBody> {
    let limit = page_limit(limit, SUGGESTIONS_DEFAULT, SUGGESTIONS_MAX)?;
    player_entity(world, me)?;
    let (now, ttl) = (now(world), request_ttl_ms(world));
    let social = world.resource::<Social>();
    let ranked = social.graph.suggestions(me, limit, |candidate| {
        social.blocked_either_way(me, candidate)
            || social.pending(me, candidate, now, ttl).is_some()
            || social.pending(candidate, me, now, ttl).is_some()
    });
    Ok(SuggestionsResult {
        suggestions: ranked
            .into_iter()
            .map(|(player_id, mutual)| Suggestion {
                player_id,
                name: name_of(world, player_id),
                mutual,
            })
            .collect(),
    })
}

/// `leaderboard`: the caller and their friends ranked by collected energy, all time or
/// since Monday 00:00 game-local time. Costs one lookup per friend, never a scan.
pub fn leaderboard(
    world: &World,
    me: PlayerId,
    period: BoardPeriod,
    limit: Option<u32>,
) -> Result<LeaderboardResult, ErrorBody> {
    let limit = board_limit(limit)?;
    player_entity(world, me)?;
    let players: Vec<PlayerId> = std::iter::once(me)
        .chain(world.resource::<Social>().graph.friends(me))
        .collect();
    Ok(LeaderboardResult {
        entries: rank_board(board_rows(world, &players, period, limit), limit),
        unavailable: Vec::new(),
    })
}

/// The number of board rows a `leaderboard` asks for, checked (1–200, default 50).
pub fn board_limit(limit: Option<u32>) -> Result<usize, ErrorBody> {
    page_limit(limit, BOARD_DEFAULT, BOARD_MAX)
}

/// The best `limit` board rows of those `players` this shard holds, unranked (`rank`
/// 0): a shard's part of a board, which [`rank_board`] merges with the other parts.
pub fn board_rows(
    world: &World,
    players: &[PlayerId],
    period: BoardPeriod,
    limit: usize,
) -> Vec<BoardEntry> {
    let week = rules::week_key(rules::game_day(
        now(world),
        config(world).day.utc_offset_minutes,
    ));
    let mut rows: Vec<(u64, PlayerId)> = players
        .iter()
        .filter_map(|&player| {
            let wallet = world.get::<Wallet>(player_entity(world, player).ok()?)?;
            let grams = match period {
                BoardPeriod::Total => wallet.total_collected,
                BoardPeriod::Week if wallet.week == week => wallet.week_collected,
                BoardPeriod::Week => 0,
            };
            Some((grams, player))
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    rows.truncate(limit);
    rows.into_iter()
        .map(|(grams, player_id)| {
            let holdings = player_entity(world, player_id)
                .map(|entity| super::areas::holdings_of(world, entity))
                .unwrap_or_default();
            BoardEntry {
                rank: 0,
                player_id,
                name: name_of(world, player_id),
                grams,
                trees: holdings.trees,
                protected_m2: holdings.protected_m2,
            }
        })
        .collect()
}

/// Ranks board rows: most grams first, ties by player id, the first `limit` kept,
/// ranks from 1.
pub fn rank_board(mut rows: Vec<BoardEntry>, limit: usize) -> Vec<BoardEntry> {
    rows.sort_by(|a, b| b.grams.cmp(&a.grams).then(a.player_id.cmp(&b.player_id)));
    rows.truncate(limit);
    for (index, row) in rows.iter_mut().enumerate() {
        row.rank = index as u32 + 1;
    }
    rows
}
