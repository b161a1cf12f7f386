//! Co-planting: teams of 2–20 players water one tree together; when it reaches the
//! species' grams every member gets a certificate naming the team.

use super::account::validate_name;
use super::components::SocialLog;
use super::energy::{issue_certificate, new_certificate};
use super::resources::{Counters, Dirty, Teams};
use super::rules;
use super::state::{config, debit_balance, fail, player_entity, record_flow, touch_player};
use super::transfers::require_friends;
use crate::store::{Account, Flow, Team};
use bevy_ecs::world::World;
use canopy_shared::model::TeamView;
use canopy_shared::reply::{Empty, TeamCreateResult, TeamWaterResult, TeamsResult};
use canopy_shared::{ErrorBody, ErrorCode, PlayerId, TeamId};

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

fn view(world: &World, team: &Team) -> TeamView {
    TeamView {
        team_id: team.id,
        name: team.name.clone(),
        species: team.species.clone(),
        progress: team.progress,
        grams: config(world).species(&team.species).map_or(0, |s| s.grams),
        members: team.members.clone(),
    }
}

/// Refuses a player already in `teams.max_per_player` teams.
fn check_team_count(world: &World, player: PlayerId) -> Result<(), ErrorBody> {
    let max = config(world).teams.max_per_player;
    let teams = world.resource::<Teams>().of(player).count();
    if teams >= max {
        return fail(
            ErrorCode::LimitReached,
            format!("you may be in {max} teams"),
        );
    }
    Ok(())
}

/// `team_create`: the caller founds a team and is its first member.
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
    let id = TeamId(Counters::take(
        &mut world.resource_mut::<Counters>().next_team,
    ));
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
    let mut team = team(world, id)?;
    require_friends(world, me, player)?;
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
        save(world, team);
    }
    Ok(Empty {})
}

/// `team_join`: an invited player joins.
pub fn join(world: &mut World, me: PlayerId, id: TeamId) -> Result<Empty, ErrorBody> {
    let mut team = team(world, id)?;
    let Some(at) = team.invited.iter().position(|&p| p == me) else {
        return fail(ErrorCode::NotFound, format!("no invitation to team {id}"));
    };
    let config = config(world);
    if team.members.len() >= config.teams.max_members {
        return fail(ErrorCode::LimitReached, "the team is full");
    }
    check_team_count(world, me)?;
    team.invited.remove(at);
    team.members.push(me);
    world.resource_mut::<Teams>().add_member(id, me);
    save(world, team);
    Ok(Empty {})
}

/// `team_leave`. Grams already in the team tree stay there for the remaining members.
pub fn leave(world: &mut World, me: PlayerId, id: TeamId) -> Result<Empty, ErrorBody> {
    let mut team = team(world, id)?;
    let Some(at) = team.members.iter().position(|&p| p == me) else {
        return fail(
            ErrorCode::NotFound,
            format!("you are not a member of team {id}"),
        );
    };
    team.members.remove(at);
    world.resource_mut::<Teams>().remove_member(id, me);
    save(world, team);
    Ok(Empty {})
}

/// `team_water`: a member gives energy to the team tree; reaching the species' grams
/// plants it and certifies every member.
pub fn water(
    world: &mut World,
    me: PlayerId,
    id: TeamId,
    grams: u64,
) -> Result<TeamWaterResult, ErrorBody> {
    let config = config(world);
    if grams < config.teams.min_water_grams {
        return fail(
            ErrorCode::BadRequest,
            format!(
                "a team watering is at least {} g",
                config.teams.min_water_grams
            ),
        );
    }
    let mut team = team(world, id)?;
    if !team.members.contains(&me) {
        return fail(
            ErrorCode::Forbidden,
            format!("you are not a member of team {id}"),
        );
    }
    if team.members.len() < config.teams.min_members {
        return fail(
            ErrorCode::Forbidden,
            format!("a team needs {} members to water", config.teams.min_members),
        );
    }
    let species = config
        .species(&team.species)
        .expect("teams are created with catalog species");
    let take = grams.min(species.grams.saturating_sub(team.progress));
    let entity = player_entity(world, me)?;
    let day = rules::game_day(super::state::now(world), config.day.utc_offset_minutes);
    let mut log = world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog");
    log.limits.roll(day);
    let given = log.limits.team_grams.get(&id).copied().unwrap_or(0);
    let balance = world
        .get::<super::components::Wallet>(entity)
        .expect("player has Wallet")
        .energy;
    if balance < take {
        return fail(
            ErrorCode::InsufficientEnergy,
            format!("this takes {take} g; you have {balance} g"),
        );
    }
    if given + take > config.teams.member_daily_grams {
        return fail(
            ErrorCode::LimitReached,
            format!(
                "you may give a team {} g a day",
                config.teams.member_daily_grams
            ),
        );
    }
    let energy = debit_balance(world, entity, take)?;
    *world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog")
        .limits
        .team_grams
        .entry(id)
        .or_insert(0) += take;
    touch_player(world, entity);
    record_flow(
        world,
        Flow::TeamWatered,
        take,
        Account::Balance(me),
        Account::Team(id),
    );
    team.progress += take;
    if team.progress >= species.grams {
        plant_team_tree(world, &mut team, species.grams);
    }
    save(world, team.clone());
    Ok(TeamWaterResult {
        team: view(world, &team),
        energy,
    })
}

fn plant_team_tree(world: &mut World, team: &mut Team, grams: u64) {
    let mut first = None;
    for &member in &team.members {
        let certificate = new_certificate(world, &team.species, Some(team.name.clone()));
        first.get_or_insert(certificate.id);
        issue_certificate(world, member, certificate);
    }
    if let Some(certificate) = first {
        record_flow(
            world,
            Flow::Planted,
            grams,
            Account::Team(team.id),
            Account::Planted(certificate),
        );
    }
    team.progress -= grams;
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
    })
}
