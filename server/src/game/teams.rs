//! Co-planting: teams of 2–20 players water one tree together; when it reaches the
//! species' grams every member gets a certificate naming the team.

use super::account::validate_name;
use super::components::{SocialLog, Wallet};
use super::energy::{issue_certificate, new_certificate};
use super::resources::{Counters, Dirty, Teams};
use super::state::{
    config, credit_balance, debit_balance, fail, player_entity, record_flow, touch_player,
};
use super::transfers::require_friends;
use super::{remote, remote_teams, rules};
use crate::store::{Account, Flow, Team};
use bevy_ecs::world::World;
use canopy_shared::model::TeamView;
use canopy_shared::reply::{Empty, TeamCreateResult, TeamWaterResult, TeamsResult};
use canopy_shared::{CertificateId, ErrorBody, ErrorCode, PlayerId, TeamId};

fn team(world: &World, id: TeamId) -> Result<Team, ErrorBody> {
    match world.resource::<Teams>().by_id.get(&id) {
        Some(team) => Ok(team.clone()),
        None => fail(ErrorCode::NotFound, format!("no team {id}")),
    }
}

fn save(world: &mut World, team: Team) {
    world.resource_mut::<Dirty>().teams.insert(team.id);
    world.resource_mut::<Teams>().by_id.insert(team.id, team);
}

/// The team as members see it.
pub(super) fn view(world: &World, team: &Team) -> TeamView {
    TeamView {
        team_id: team.id,
        name: team.name.clone(),
        species: team.species.clone(),
        progress: team.progress,
        grams: config(world).species(&team.species).map_or(0, |s| s.grams),
        members: team.members.clone(),
    }
}

/// Refuses a player already in `teams.max_per_player` teams, counting the joins of
/// teams of other shards still being decided there.
pub(super) fn check_team_count(world: &World, player: PlayerId) -> Result<(), ErrorBody> {
    let max = config(world).teams.max_per_player;
    let teams = world.resource::<Teams>().of(player).count();
    let pending = remote_teams::pending_joins(world, player);
    if teams.saturating_add(pending) >= max {
        return fail(
            ErrorCode::LimitReached,
            format!("you may be in {max} teams"),
        );
    }
    Ok(())
}

/// `team_create`: the caller founds a team and is its first member. The team lives on
/// the caller's shard: its id is allocated like a player id of that shard.
pub fn create(
    world: &mut World,
    me: PlayerId,
    name: &str,
    species: &str,
) -> Result<TeamCreateResult, ErrorBody> {
    validate_name(name)?;
    player_entity(world, me)?;
    let config = config(world);
    if config.species(species).is_none() {
        return fail(
            ErrorCode::NotFound,
            format!("no species `{species}` in the catalog"),
        );
    }
    check_team_count(world, me)?;
    let partition = remote::partition(world);
    let mut counters = world.resource_mut::<Counters>();
    counters.next_team = partition.next_player_id(counters.next_team);
    let id = TeamId(counters.next_team);
    world.resource_mut::<Teams>().add_member(id, me);
    save(
        world,
        Team {
            id,
            name: name.to_owned(),
            species: species.to_owned(),
            members: vec![me],
            invited: Vec::new(),
            progress: 0,
        },
    );
    Ok(TeamCreateResult { team_id: id })
}

/// `team_invite`: a member invites one of their friends.
pub fn invite(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    player: PlayerId,
) -> Result<Empty, ErrorBody> {
    let friendship = require_friends(world, me, player);
    invite_checked(world, me, id, player, friendship).map(|_| Empty {})
}

/// `team_invite` on the team's shard, with the friendship as the inviter's shard found
/// it.
pub(super) fn invite_checked(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    player: PlayerId,
    friendship: Result<(), ErrorBody>,
) -> Result<TeamView, ErrorBody> {
    let mut team = team(world, id)?;
    friendship?;
    if !team.members.contains(&me) {
        return fail(
            ErrorCode::Forbidden,
            format!("you are not a member of team {id}"),
        );
    }
    if team.members.contains(&player) {
        return fail(
            ErrorCode::Conflict,
            format!("player {player} is already a member"),
        );
    }
    // The cap is on members: invitations cannot be withdrawn or declined, so counting
    // them would let unanswered ones fill a team for good. `join` checks it again.
    if team.members.len() >= config(world).teams.max_members {
        return fail(ErrorCode::LimitReached, "the team is full");
    }
    if !team.invited.contains(&player) {
        team.invited.push(player);
        save(world, team.clone());
    }
    Ok(view(world, &team))
}

/// `team_join`: an invited player joins.
pub fn join(world: &mut World, me: PlayerId, id: TeamId) -> Result<Empty, ErrorBody> {
    let room = check_team_count(world, me);
    join_checked(world, me, id, room).map(|_| Empty {})
}

/// `team_join` on the team's shard, with whether the player may be in one more team as
/// the player's shard found it.
pub(super) fn join_checked(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    room: Result<(), ErrorBody>,
) -> Result<TeamView, ErrorBody> {
    let mut team = team(world, id)?;
    let Some(at) = team.invited.iter().position(|&p| p == me) else {
        return fail(ErrorCode::NotFound, format!("no invitation to team {id}"));
    };
    if team.members.len() >= config(world).teams.max_members {
        return fail(ErrorCode::LimitReached, "the team is full");
    }
    room?;
    team.invited.remove(at);
    team.members.push(me);
    world.resource_mut::<Teams>().add_member(id, me);
    save(world, team.clone());
    Ok(view(world, &team))
}

/// `team_leave`. Grams already in the team tree stay there for the remaining members.
pub fn leave(world: &mut World, me: PlayerId, id: TeamId) -> Result<Empty, ErrorBody> {
    leave_team(world, me, id).map(|_| Empty {})
}

/// `team_leave` on the team's shard, for a member of any shard.
pub(super) fn leave_team(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
) -> Result<TeamView, ErrorBody> {
    let mut team = team(world, id)?;
    let Some(at) = team.members.iter().position(|&p| p == me) else {
        return fail(
            ErrorCode::NotFound,
            format!("you are not a member of team {id}"),
        );
    };
    team.members.remove(at);
    world.resource_mut::<Teams>().remove_member(id, me);
    save(world, team.clone());
    Ok(view(world, &team))
}

/// Refuses a watering below `teams.min_water_grams`.
pub(super) fn check_water_grams(world: &World, grams: u64) -> Result<(), ErrorBody> {
    let min = config(world).teams.min_water_grams;
    if grams < min {
        return fail(
            ErrorCode::BadRequest,
            format!("a team watering is at least {min} g"),
        );
    }
    Ok(())
}

/// The team `me` waters, once it exists, `me` is a member and it has enough members;
/// with the grams its tree still needs.
fn waterable(world: &World, me: PlayerId, id: TeamId) -> Result<(Team, u64), ErrorBody> {
    let team = team(world, id)?;
    if !team.members.contains(&me) {
        return fail(
            ErrorCode::Forbidden,
            format!("you are not a member of team {id}"),
        );
    }
    let min_members = config(world).teams.min_members;
    if team.members.len() < min_members {
        return fail(
            ErrorCode::Forbidden,
            format!("a team needs {min_members} members to water"),
        );
    }
    let needed = species_grams(world, &team).saturating_sub(team.progress);
    Ok((team, needed))
}

fn species_grams(world: &World, team: &Team) -> u64 {
    config(world)
        .species(&team.species)
        .expect("teams are created with catalog species")
        .grams
}

/// The member's side of a watering: `grams` leave the balance `to` the team tree (or
/// the transfer to its shard) within the day's limit per team; the new balance.
pub(super) fn debit_member(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    grams: u64,
    to: Account,
) -> Result<u64, ErrorBody> {
    let config = config(world);
    let entity = player_entity(world, me)?;
    let day = rules::game_day(super::state::now(world), config.day.utc_offset_minutes);
    let mut log = world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog");
    log.limits.roll(day);
    let given = log.limits.team_grams.get(&id).copied().unwrap_or(0);
    let balance = world
        .get::<Wallet>(entity)
        .expect("player has Wallet")
        .energy;
    if balance < grams {
        return fail(
            ErrorCode::InsufficientEnergy,
            format!("this takes {grams} g; you have {balance} g"),
        );
    }
    if given + grams > config.teams.member_daily_grams {
        return fail(
            ErrorCode::LimitReached,
            format!(
                "you may give a team {} g a day",
                config.teams.member_daily_grams
            ),
        );
    }
    let energy = debit_balance(world, entity, grams)?;
    *world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog")
        .limits
        .team_grams
        .entry(id)
        .or_insert(0) += grams;
    touch_player(world, entity);
    record_flow(world, Flow::TeamWatered, grams, Account::Balance(me), to);
    Ok(energy)
}

/// Gives a member back the `grams` of a watering the team tree did not take: they no
/// longer count against the day's limit; the new balance.
pub(super) fn refund_member(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    grams: u64,
    from: Account,
) -> Result<u64, ErrorBody> {
    let entity = player_entity(world, me)?;
    if let Some(given) = world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog")
        .limits
        .team_grams
        .get_mut(&id)
    {
        *given = given.saturating_sub(grams);
    }
    record_flow(world, Flow::Arrived, grams, from, Account::Balance(me));
    Ok(credit_balance(world, entity, grams, false))
}

/// `team_water`: a member gives energy to the team tree; reaching the species' grams
/// plants it and certifies every member.
pub fn water(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    grams: u64,
) -> Result<TeamWaterResult, ErrorBody> {
    check_water_grams(world, grams)?;
    let (team, needed) = waterable(world, me, id)?;
    let take = grams.min(needed);
    let energy = debit_member(world, me, id, take, Account::Team(id))?;
    Ok(TeamWaterResult {
        team: pour(world, team, take),
        energy,
    })
}

/// A watering of `grams` by a member of another shard, carried `from` the transfer: the
/// tree takes what it still needs; the team's view and the grams that go back.
pub(super) fn water_from(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    grams: u64,
    from: Account,
) -> Result<(TeamView, u64), ErrorBody> {
    let (team, needed) = waterable(world, me, id)?;
    let take = grams.min(needed);
    record_flow(world, Flow::TeamWatered, take, from, Account::Team(id));
    Ok((pour(world, team, take), grams - take))
}

/// Adds `take` grams (already in the team's account) to the tree, planting it when it
/// is complete.
fn pour(world: &mut World, mut team: Team, take: u64) -> TeamView {
    team.progress += take;
    let grams = species_grams(world, &team);
    if team.progress >= grams {
        plant_team_tree(world, &mut team, grams);
    }
    save(world, team.clone());
    view(world, &team)
}

/// Certifies every member (those of other shards on their own shard, by a message)
/// and records the tree as planted here, where its grams are.
fn plant_team_tree(world: &mut World, team: &mut Team, grams: u64) {
    let partition = remote::partition(world);
    let (here, elsewhere): (Vec<PlayerId>, Vec<PlayerId>) = team
        .members
        .iter()
        .partition(|&&member| partition.owns(member));
    let mut first = None;
    for member in here {
        let certificate = new_certificate(world, &team.species, Some(team.name.clone()));
        first.get_or_insert(certificate.id);
        issue_certificate(world, member, certificate);
    }
    remote_teams::certify_elsewhere(world, team, elsewhere);
    // With no member on this shard the tree is still planted once, here: its record
    // takes a certificate number of its own.
    let certificate = first.unwrap_or_else(|| {
        CertificateId(Counters::take(
            &mut world.resource_mut::<Counters>().next_certificate,
        ))
    });
    record_flow(
        world,
        Flow::Planted,
        grams,
        Account::Team(team.id),
        Account::Planted(certificate),
    );
    team.progress -= grams;
}

/// Issues the certificates of a team tree planted on another shard to its members on
/// this one, once.
pub(super) fn certify(world: &mut World, name: &str, species: &str, members: &[PlayerId]) {
    if config(world).species(species).is_none() {
        tracing::error!(
            species,
            "a team tree of a species not in this shard's catalog"
        );
        return;
    }
    for &member in members {
        if player_entity(world, member).is_ok() {
            let certificate = new_certificate(world, species, Some(name.to_owned()));
            issue_certificate(world, member, certificate);
        }
    }
}

/// The teams `player` of this shard belongs to that live on other shards: only their
/// ids matter here (for the `teams.max_per_player` count and the `teams` list), kept
/// as team records listing this shard's members.
pub(super) fn remember_membership(world: &mut World, player: PlayerId, team: &TeamView) {
    let mut record = world
        .resource::<Teams>()
        .by_id
        .get(&team.team_id)
        .cloned()
        .unwrap_or_else(|| Team {
            id: team.team_id,
            name: team.name.clone(),
            species: team.species.clone(),
            members: Vec::new(),
            invited: Vec::new(),
            progress: 0,
        });
    if !record.members.contains(&player) {
        record.members.push(player);
    }
    world
        .resource_mut::<Teams>()
        .add_member(team.team_id, player);
    save(world, record);
}

/// Forgets that `player` belongs to a team of another shard; the record goes with its
/// last member of this shard (the commit deletes it).
pub(super) fn forget_membership(world: &mut World, player: PlayerId, id: TeamId) {
    let Ok(mut record) = team(world, id) else {
        return;
    };
    record.members.retain(|&member| member != player);
    world.resource_mut::<Teams>().remove_member(id, player);
    if record.members.is_empty() {
        world.resource_mut::<Dirty>().teams.insert(id);
        world.resource_mut::<Teams>().by_id.remove(&id);
    } else {
        save(world, record);
    }
}

/// `teams`: the caller's teams.
pub fn list(world: &World, me: PlayerId) -> Result<TeamsResult, ErrorBody> {
    let teams = world.resource::<Teams>();
    Ok(TeamsResult {
        teams: teams
            .of(me)
            .filter_map(|id| teams.by_id.get(&id))
            .map(|team| view(world, team))
            .collect(),
        unavailable: Vec::new(),
    })
}
