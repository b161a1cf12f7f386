//! Props: the inventory, `use_prop` and operator grants.

use super::components::Props;
use super::resources::Dirty;
use super::rules;
use super::state::{self, config, fail, now, player_entity, touch_player};
use super::views;
use crate::config::Config;
use bevy_ecs::world::World;
use canopy_shared::admin::GrantProps;
use canopy_shared::model::PropKind;
use canopy_shared::reply::PropsResult;
use canopy_shared::{ErrorBody, ErrorCode, PlayerId};

/// The most props one grant may give.
const MAX_GRANT: u32 = 1_000;

fn duration_hours(prop: PropKind, config: &Config) -> Option<u64> {
    match prop {
        PropKind::ProtectionCover => Some(config.props.protection_cover_hours),
        PropKind::DoubleClick => Some(config.props.double_click_hours),
        PropKind::Stealth => Some(config.props.stealth_hours),
        PropKind::TimeAccelerator => None,
    }
}

fn props_result(world: &World, player: PlayerId) -> Result<PropsResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let props = &world.get::<Props>(entity).expect("player has Props").0;
    Ok(PropsResult {
        props: views::props_view(props, now(world)),
    })
}

/// `use_prop`: spend one from the inventory. Timed props last their configured hours
/// (extending one already active); the time accelerator ripens every unripe ball now.
pub fn use_prop(
    world: &mut World,
    player: PlayerId,
    prop: PropKind,
) -> Result<PropsResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let (now, config) = (now(world), config(world));
    let mut props = world.get_mut::<Props>(entity).expect("player has Props");
    let held = props.0.inventory.entry(prop).or_insert(0);
    if *held == 0 {
        return fail(
            ErrorCode::NotFound,
            format!("no {} in the inventory", prop.as_str()),
        );
    }
    *held -= 1;
    match duration_hours(prop, &config) {
        Some(hours) => {
            let until = props.0.active_until.entry(prop).or_insert(now);
            *until = (*until).max(now) + hours * rules::HOUR_MS;
        }
        None => ripen_all_now(world, entity),
    }
    touch_player(world, entity);
    if matches!(prop, PropKind::ProtectionCover | PropKind::TimeAccelerator) {
        world
            .resource_mut::<Dirty>()
            .stealable_changed
            .insert(player);
    }
    props_result(world, player)
}

/// The time accelerator: every unripe ball of the owner ripens now and expires a full
/// lifetime later.
fn ripen_all_now(world: &mut World, owner: bevy_ecs::entity::Entity) {
    let (now, config) = (now(world), config(world));
    for mut ball in state::owned_balls(world, owner) {
        if ball.ripe_at <= now {
            continue;
        }
        state::unschedule_ball(world, &ball);
        ball.ripe_at = now;
        ball.expires_at = rules::expires_at(now, &config);
        state::schedule_ball(world, &ball);
        state::update_ball(world, ball);
    }
}

/// `POST /admin/props`: an operator grants props.
pub fn grant_props(world: &mut World, grant: &GrantProps) -> Result<PropsResult, ErrorBody> {
    if grant.count == 0 || grant.count > MAX_GRANT {
        return fail(
            ErrorCode::BadRequest,
            format!("`count` must be 1–{MAX_GRANT}"),
        );
    }
    let entity = player_entity(world, grant.player_id)?;
    let mut props = world.get_mut::<Props>(entity).expect("player has Props");
    *props.0.inventory.entry(grant.prop).or_insert(0) += grant.count;
    touch_player(world, entity);
    props_result(world, grant.player_id)
}
