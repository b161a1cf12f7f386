//! Cluster mode: teams whose members span shards, as sagas of [`super::remote`]. A
//! team lives on its founder's shard (its id is allocated like that shard's player
//! ids, so [`home`] says where) and only that shard holds its state and decides its
//! ops. A member of another shard checks its own side and sends the op there: the
//! friendship of an invitation, the room for one more team of a join (reserved until
//! decided), the grams of a watering (debited into the transfer; what the tree does
//! not take comes back). Each player's shard keeps the ids of its players' teams of
//! other shards, for `teams.max_per_player` and the `teams` list (read from the
//! teams' shards as views). A tree completed by members of several shards is planted
//! on the team's shard and certifies each member on their own shard, once.

use super::components::Wallet;
use super::remote::{self, Begun, RemoteOps, encode};
use super::remote_views::ViewQuery;
use super::resources::Teams;
use super::state::{config, fail, now, player_entity};
use super::transfers::require_friends;
use super::{rules, teams};
use crate::cluster::Partition;
use crate::store::outbox::{Message, Reservation, TeamOp, TransferId};
use crate::store::{Account, Team};
use bevy_ecs::world::World;
use canopy_shared::model::TeamView;
use canopy_shared::reply::{Empty, TeamWaterResult, TeamsResult};
use canopy_shared::{ErrorBody, ErrorCode, PlayerId, Request, TeamId};
use std::collections::BTreeMap;

/// The shard a team lives on: team ids are allocated like the founder's shard's player
/// ids.
pub(super) fn home(partition: Partition, team: TeamId) -> u64 {
    partition.owner(PlayerId(team.0))
}

/// The team a request acts on, when it is a team op another shard may decide.
pub(super) fn team_of(request: &Request) -> Option<TeamId> {
    match *request {
        Request::TeamInvite { team_id, .. }
        | Request::TeamJoin { team_id }
        | Request::TeamLeave { team_id }
        | Request::TeamWater { team_id, .. } => Some(team_id),
        _ => None,
    }
}

fn today(world: &World) -> i64 {
    rules::game_day(now(world), config(world).day.utc_offset_minutes)
}

/// How many of `player`'s joins of teams of other shards wait for a decision, each
/// holding one of the player's teams.
pub(super) fn pending_joins(world: &World, player: PlayerId) -> usize {
    let joins = |message: &Message| {
        matches!(
            message,
            Message::Team {
                op: TeamOp::Join { .. },
                ..
            }
        )
    };
    world.resource::<RemoteOps>().holding(player, joins).count()
}

/// The acting player's side of a team op on a team of another shard.
pub(super) fn begin(
    world: &mut World,
    transfer: TransferId,
    player: PlayerId,
    team: TeamId,
    request: &Request,
) -> Result<Begun, ErrorBody> {
    player_entity(world, player)?;
    let (op, grams, reservation) = match *request {
        Request::TeamInvite { player_id, .. } => {
            let friendship = require_friends(world, player, player_id);
            let op = TeamOp::Invite {
                invitee: player_id,
                friendship,
            };
            (op, 0, None)
        }
        Request::TeamJoin { .. } => {
            let room = teams::check_team_count(world, player);
            let reservation = room.is_ok().then_some(Reservation {
                player,
                day: today(world),
                amount: 1,
                released: false,
            });
            (TeamOp::Join { room }, 0, reservation)
        }
        Request::TeamLeave { .. } => (TeamOp::Leave, 0, None),
        Request::TeamWater { grams, .. } => {
            teams::check_water_grams(world, grams)?;
            teams::debit_member(world, player, team, grams, Account::Transfer(transfer))?;
            (TeamOp::Water { grams }, grams, None)
        }
        _ => return fail(ErrorCode::Internal, "not a team op"),
    };
    Ok((Message::Team { team, player, op }, grams, reservation))
}

/// On the team's shard: decides an op of a member of another shard by the one-node
/// rules; the outcome and the grams it carries back.
pub(super) fn decide(
    world: &mut World,
    transfer: TransferId,
    team: TeamId,
    player: PlayerId,
    op: TeamOp,
) -> (Message, u64) {
    let (decided, back) = match op {
        TeamOp::Invite {
            invitee,
            friendship,
        } => (
            teams::invite_checked(world, player, team, invitee, friendship),
            0,
        ),
        TeamOp::Join { room } => (teams::join_checked(world, player, team, room), 0),
        TeamOp::Leave => (teams::leave_team(world, player, team), 0),
        TeamOp::Water { grams } => {
            match teams::water_from(world, player, team, grams, Account::Transfer(transfer)) {
                Ok((view, back)) => (Ok(view), back),
                Err(refusal) => (Err(refusal), grams),
            }
        }
    };
    (Message::TeamDecided(decided), back)
}

/// On the acting player's shard: applies the team's shard's decision (a membership
/// remembered or forgotten, the grams the tree did not take back to the member) and
/// answers the client.
pub(super) fn conclude(
    world: &mut World,
    transfer: TransferId,
    asked: &Message,
    decided: Result<TeamView, ErrorBody>,
    carried: u64,
) -> Result<String, ErrorBody> {
    let Message::Team { team, player, op } = asked else {
        return fail(ErrorCode::Internal, "a team op's outcome for another op");
    };
    let (team, player) = (*team, *player);
    match op {
        TeamOp::Invite { .. } => decided.map(|_| encode(&Empty {})),
        TeamOp::Join { .. } => decided.map(|view| {
            teams::remember_membership(world, player, &view);
            encode(&Empty {})
        }),
        TeamOp::Leave => decided.map(|_| {
            teams::forget_membership(world, player, team);
            encode(&Empty {})
        }),
        TeamOp::Water { .. } => {
            let energy = if carried > 0 {
                teams::refund_member(world, player, team, carried, Account::Transfer(transfer))?
            } else {
                balance(world, player)?
            };
            decided.map(|team| encode(&TeamWaterResult { team, energy }))
        }
    }
}

fn balance(world: &World, player: PlayerId) -> Result<u64, ErrorBody> {
    let entity = player_entity(world, player)?;
    Ok(world
        .get::<Wallet>(entity)
        .expect("player has Wallet")
        .energy)
}

/// On the team's shard, as its tree is planted: asks each other shard holding members
/// to certify them there.
pub(super) fn certify_elsewhere(world: &mut World, team: &Team, members: Vec<PlayerId>) {
    let partition = remote::partition(world);
    let mut by_shard: BTreeMap<u64, Vec<PlayerId>> = BTreeMap::new();
    for member in members {
        by_shard
            .entry(partition.owner(member))
            .or_default()
            .push(member);
    }
    for (shard, members) in by_shard {
        let message = Message::TeamCertify {
            team: team.id,
            name: team.name.clone(),
            species: team.species.clone(),
            members,
        };
        let transfer = remote::take_transfer_id(world);
        remote::send_request(world, transfer, shard, (message, 0, None));
    }
}

/// Begins `teams` for a player in teams of other shards: this shard's part of the
/// list, and the view to ask of each other shard; `None` when every team is here.
pub(super) fn begin_list(
    world: &World,
    viewer: PlayerId,
) -> Option<(TeamsResult, Vec<(u64, ViewQuery)>)> {
    let partition = remote::partition(world);
    let mut by_shard: BTreeMap<u64, Vec<TeamId>> = BTreeMap::new();
    let mut here = Vec::new();
    let teams = world.resource::<Teams>();
    for id in teams.of(viewer) {
        let shard = home(partition, id);
        if shard == partition.shard {
            here.extend(teams.by_id.get(&id).map(|team| teams::view(world, team)));
        } else {
            by_shard.entry(shard).or_default().push(id);
        }
    }
    if by_shard.is_empty() {
        return None;
    }
    let queries = by_shard
        .into_iter()
        .map(|(shard, teams)| (shard, ViewQuery::Teams { viewer, teams }))
        .collect();
    let result = TeamsResult {
        teams: here,
        unavailable: Vec::new(),
    };
    Some((result, queries))
}

/// On the teams' shard: the views of `ids` that `viewer` belongs to.
pub(super) fn answer_list(world: &World, viewer: PlayerId, ids: &[TeamId]) -> Vec<TeamView> {
    let teams = world.resource::<Teams>();
    ids.iter()
        .filter_map(|id| teams.by_id.get(id))
        .filter(|team| team.members.contains(&viewer))
        .map(|team| teams::view(world, team))
        .collect()
}

/// Adds one shard's part to a `teams` list, in team id order as on one node.
pub(super) fn gather_list(result: &mut TeamsResult, part: Vec<TeamView>) {
    result.teams.extend(part);
    result.teams.sort_by_key(|team| team.team_id);
}
