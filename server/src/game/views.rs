//! How game state looks to a client: the protocol's views built from components.

use super::components::{Certificates, Profile, Props, Wallet};
use super::rules;
use crate::config::Config;
use crate::store::{Ball, PropsState};
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::Millis;
use canopy_shared::model::{ActiveProp, BallView, PlayerView, PropKind, PropsView};

/// A ball as a client sees it. `stealable` is what any friend could still take now,
/// before their own daily allowance and hit limit.
pub fn ball_view(ball: &Ball, now: Millis, config: &Config) -> BallView {
    let stealable = if ball.stealable && ball.ripe_at <= now {
        rules::stealable_grams(ball.full, ball.stolen, ball.left, &config.steal)
    } else {
        0
    };
    BallView {
        ball_id: ball.id,
        owner: ball.owner,
        source: ball.source.to_string(),
        amount: ball.left,
        created_at: ball.created_at,
        ripe_at: ball.ripe_at,
        expires_at: ball.expires_at,
        stolen: ball.stolen,
        stealable,
    }
}

/// Inventory (every prop, 0 when none) and props in effect at `now`.
pub fn props_view(props: &PropsState, now: Millis) -> PropsView {
    PropsView {
        inventory: PropKind::ALL
            .iter()
            .map(|&prop| (prop, props.inventory.get(&prop).copied().unwrap_or(0)))
            .collect(),
        active: props
            .active_until
            .iter()
            .filter(|&(_, &until)| until > now)
            .map(|(&prop, &until)| ActiveProp { prop, until })
            .collect(),
    }
}

/// When a player's protection cover ends, if it is active.
pub fn protected_until(props: &PropsState, now: Millis) -> Option<Millis> {
    props
        .is_active(PropKind::ProtectionCover, now)
        .then(|| props.active_until[&PropKind::ProtectionCover])
}

/// A player's own profile.
pub fn player_view(world: &World, entity: Entity, now: Millis, config: &Config) -> PlayerView {
    let profile = world.get::<Profile>(entity).expect("player has Profile");
    let wallet = world.get::<Wallet>(entity).expect("player has Wallet");
    let props = &world.get::<Props>(entity).expect("player has Props").0;
    let certificates = &world
        .get::<Certificates>(entity)
        .expect("player has Certificates")
        .0;
    let (held, holds) = super::risk::flags::holds_of(world, profile.id);
    let holdings = super::areas::holdings(certificates);
    PlayerView {
        id: profile.id,
        name: profile.name.to_string(),
        energy: wallet.energy,
        total_collected: wallet.total_collected,
        tree: rules::tree_stage(wallet.energy, config),
        certificates: certificates.clone(),
        props: props_view(props, now),
        protected_until: protected_until(props, now),
        held,
        holds,
        vitality: super::vitality::points(world, entity),
        trees: holdings.trees,
        protected_m2: holdings.protected_m2,
    }
}
