//! Cluster mode: the gifts between players of different shards — `gift_prop`,
//! `revive` and `rain_gift` — as sagas of [`super::remote`]. Each side runs the rule
//! code of one node (`shop`, `revive`, `rain`): the acting player's shard checks its
//! side and reserves the allowance it spends (a prop leaves the inventory at once, into
//! the transfer), the other player's shard decides once, and the acting shard applies
//! the outcome once. Props between shards move through the ledger (`PropsGifted`, to
//! and from [`Account::Transfer`]) so the cluster audit counts those in flight.

use super::remote::{Begun, RemoteOps};
use super::rules;
use super::state::{config, now, player_entity, record_flow};
use super::transfers::require_friends;
use super::{rain, revive, shop};
use crate::store::outbox::{Message, Reservation, TransferId};
use crate::store::{Account, Flow};
use bevy_ecs::world::World;
use canopy_shared::model::PropKind;
use canopy_shared::rain::RainGiftResult;
use canopy_shared::reply::{PropsResult, ReviveResult};
use canopy_shared::{BallId, ErrorBody, PlayerId};

fn today(world: &World) -> i64 {
    rules::game_day(now(world), config(world).day.utc_offset_minutes)
}

/// The acting player's entity once the friendship is checked, and how many of their
/// ops of a `kind` still wait for another shard today (each holding one unit of an
/// allowance).
fn friend_and_pending(
    world: &World,
    player: PlayerId,
    friend: PlayerId,
    kind: fn(&Message) -> bool,
) -> Result<(bevy_ecs::entity::Entity, u32), ErrorBody> {
    let entity = player_entity(world, player)?;
    require_friends(world, player, friend)?;
    let pending = world
        .resource::<RemoteOps>()
        .reserved(player, today(world), kind);
    Ok((entity, u32::try_from(pending).unwrap_or(u32::MAX)))
}

/// One unit of `player`'s allowance for today, held until the other shard decides.
fn reserve_one(world: &World, player: PlayerId) -> Reservation {
    Reservation {
        player,
        day: today(world),
        amount: 1,
        released: false,
    }
}

/// The giver's side of `gift_prop`: every check but the friend's existence is the
/// giver's (`NOT_FRIENDS`, `NOT_FOUND` for a prop not held, `LIMIT_REACHED`), so the
/// prop leaves the inventory now, into the transfer.
pub(super) fn begin_prop(
    world: &mut World,
    transfer: TransferId,
    giver: PlayerId,
    friend: PlayerId,
    prop: PropKind,
) -> Result<Begun, ErrorBody> {
    let entity = player_entity(world, giver)?;
    require_friends(world, giver, friend)?;
    shop::give_prop(world, entity, prop)?;
    record_flow(
        world,
        Flow::PropsGifted,
        1,
        Account::Inventory(giver),
        Account::Transfer(transfer),
    );
    Ok((
        Message::PropGift {
            giver,
            friend,
            prop,
        },
        0,
        None,
    ))
}

/// The friend's side of a prop gift from another shard: into the inventory, once.
pub(super) fn receive_prop(
    world: &mut World,
    transfer: TransferId,
    giver: PlayerId,
    friend: PlayerId,
    prop: PropKind,
) -> Result<(), ErrorBody> {
    shop::receive_prop(world, giver, friend, prop)?;
    record_flow(
        world,
        Flow::PropsGifted,
        1,
        Account::Transfer(transfer),
        Account::Inventory(friend),
    );
    Ok(())
}

/// Answers a prop gift: the giver's props, or the refusal with the prop back.
pub(super) fn conclude_prop(
    world: &mut World,
    transfer: TransferId,
    giver: PlayerId,
    prop: PropKind,
    given: Result<(), ErrorBody>,
) -> Result<PropsResult, ErrorBody> {
    let entity = player_entity(world, giver)?;
    if let Err(refusal) = given {
        record_flow(
            world,
            Flow::PropsGifted,
            1,
            Account::Transfer(transfer),
            Account::Inventory(giver),
        );
        shop::return_prop(world, entity, prop);
        return Err(refusal);
    }
    Ok(shop::props_of(world, entity))
}

/// The reviver's side of `revive`: the friendship, then one of today's revivals held
/// until the owner's shard decides (which checks the ball first, as on one node, and
/// refuses `LIMIT_REACHED` after it when none is left).
pub(super) fn begin_revive(
    world: &mut World,
    reviver: PlayerId,
    owner: PlayerId,
    ball: BallId,
) -> Result<Begun, ErrorBody> {
    let (entity, pending) = friend_and_pending(world, reviver, owner, |message| {
        matches!(message, Message::Revive { .. })
    })?;
    let may_revive = revive::revivals_left(world, entity) > pending;
    let message = Message::Revive {
        reviver,
        owner,
        ball,
        may_revive,
    };
    Ok((message, 0, may_revive.then(|| reserve_one(world, reviver))))
}

/// The owner's side of a revival from another shard: the new ripe ball and its grams.
pub(super) fn decide_revive(
    world: &mut World,
    reviver: PlayerId,
    owner: PlayerId,
    ball: BallId,
    may_revive: bool,
) -> Result<(BallId, u64), ErrorBody> {
    require_friends(world, reviver, owner)?;
    revive::revive_for_owner(world, reviver, owner, ball, may_revive)
}

/// Concludes a revival the owner's shard made: it counts against the reviver's day and
/// pays the reviver's vitality, once.
pub(super) fn conclude_revive(
    world: &mut World,
    reviver: PlayerId,
    (ball_id, grams): (BallId, u64),
) -> Result<ReviveResult, ErrorBody> {
    let entity = player_entity(world, reviver)?;
    revive::count_revival(world, entity);
    Ok(ReviveResult {
        ball_id,
        grams,
        vitality: revive::reward(world, entity),
    })
}

/// The giver's side of `rain_gift`: the friendship, then a round played for this
/// chance and room in the daily limit, counting the chances still in flight; one is
/// held until the friend's shard decides.
pub(super) fn begin_rain(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
) -> Result<Begun, ErrorBody> {
    let (entity, pending) = friend_and_pending(world, giver, friend, |message| {
        matches!(message, Message::RainGift { .. })
    })?;
    rain::check_giver(world, entity, pending)?;
    let message = Message::RainGift { giver, friend };
    Ok((message, 0, Some(reserve_one(world, giver))))
}

/// Concludes a chance the friend received: the giver's extra round is unlocked, once.
pub(super) fn conclude_rain(
    world: &mut World,
    giver: PlayerId,
) -> Result<RainGiftResult, ErrorBody> {
    let entity = player_entity(world, giver)?;
    Ok(rain::count_given(world, entity))
}
