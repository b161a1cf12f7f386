//! Energy between friends: `steal`, `help_collect` and `water`. Every gram moves through
//! the ledger; every check follows the order of the op's error list in PROTOCOL.md.

use super::components::{Props, SocialLog, Wallet};
use super::energy::ripe_ball_of;
use super::feed;
use super::resources::GameRng;
use super::risk;
use super::risk::flows::FlowKind;
use super::rules;
use super::state::{
    self, NewBall, config, credit_balance, debit_balance, fail, notify, now, player_entity,
    record_flow, spawn_ball, touch_player,
};
use super::stealable::{ball_stealable_for, hits_allowed, hits_on, is_protected};
use super::views;
use crate::social::Social;
use crate::store::{Account, Flow};
use bevy_ecs::world::World;
use canopy_shared::model::{FeedKind, PropKind};
use canopy_shared::reply::{GramsEnergyResult, HelpCollectResult, WaterResult};
use canopy_shared::{BallId, ErrorBody, ErrorCode, Event, PlayerId};
use rand::RngExt;

/// Refuses unless `a` and `b` are (distinct) friends.
pub fn require_friends(world: &World, a: PlayerId, b: PlayerId) -> Result<(), ErrorBody> {
    if a != b && world.resource::<Social>().graph.are_friends(a, b) {
        Ok(())
    } else {
        fail(
            ErrorCode::NotFriends,
            format!("player {b} is not your friend"),
        )
    }
}

/// The name others see for `player`'s act: nobody under an active stealth card.
pub fn visible_actor(world: &World, player: PlayerId) -> Option<PlayerId> {
    let entity = player_entity(world, player).ok()?;
    let hidden = world
        .get::<Props>(entity)
        .is_some_and(|props| props.0.is_active(PropKind::Stealth, now(world)));
    (!hidden).then_some(player)
}

/// Resets a player's daily social counts on a new game day and returns the entity.
pub fn roll_limits(
    world: &mut World,
    player: PlayerId,
) -> Result<bevy_ecs::entity::Entity, ErrorBody> {
    let entity = player_entity(world, player)?;
    let day = rules::game_day(now(world), config(world).day.utc_offset_minutes);
    world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog")
        .limits
        .roll(day);
    Ok(entity)
}

/// Grams a thief may still steal today (after a [`roll_limits`]).
pub fn steal_allowance(world: &World, thief: bevy_ecs::entity::Entity) -> u64 {
    let stolen_today = world
        .get::<SocialLog>(thief)
        .expect("player has SocialLog")
        .limits
        .stolen;
    config(world)
        .steal
        .daily_cap_grams
        .saturating_sub(stolen_today)
}

/// What the owner's side of a steal knows of the thief, who may live on another shard.
pub struct Thief {
    /// The thief.
    pub id: PlayerId,
    /// Grams the thief may still steal today.
    pub allowance: u64,
    /// Hits per ball the thief's props allow.
    pub hits_allowed: u8,
    /// Whether the owner may see who stole.
    pub visible: bool,
}

/// `steal`: take a random share of a friend's ripe ball.
pub fn steal(
    world: &mut World,
    thief: PlayerId,
    owner: PlayerId,
    ball_id: BallId,
) -> Result<GramsEnergyResult, ErrorBody> {
    let thief_entity = roll_limits(world, thief)?;
    require_friends(world, thief, owner)?;
    let facts = Thief {
        id: thief,
        allowance: steal_allowance(world, thief_entity),
        hits_allowed: hits_allowed(world, thief, now(world)),
        visible: visible_actor(world, thief).is_some(),
    };
    let (grams, held) = take_share(world, &facts, owner, ball_id, Account::Balance(thief))?;
    world
        .get_mut::<SocialLog>(thief_entity)
        .expect("player has SocialLog")
        .limits
        .stolen += grams;
    let energy = match held {
        Some(_) => {
            world
                .get::<Wallet>(thief_entity)
                .expect("player has Wallet")
                .energy
        }
        None => credit_balance(world, thief_entity, grams, true),
    };
    Ok(GramsEnergyResult { grams, energy })
}

/// The owner's side of a steal: checks the ball and the thief's allowance in the order
/// of PROTOCOL.md, takes the thief's share out of the ball into `to` (the thief's
/// balance, or the transfer to the thief's shard) and tells the owner. Returns the
/// grams and the risk flag that holds them instead, if any.
pub fn take_share(
    world: &mut World,
    thief: &Thief,
    owner: PlayerId,
    ball_id: BallId,
    to: Account,
) -> Result<(u64, Option<canopy_shared::FlagId>), ErrorBody> {
    let (now, config) = (now(world), config(world));
    let by = thief.visible.then_some(thief.id);
    let mut ball = ripe_ball_of(world, owner, ball_id, ErrorCode::NotFound)?;
    if is_protected(world, owner, now) {
        feed::append(world, owner, FeedKind::ProtectedBlock, by, owner, 0);
        notify(world, owner, Event::ProtectedBlock { by });
        return fail(
            ErrorCode::Protected,
            format!("player {owner} is under a protection cover"),
        );
    }
    if !ball.stealable {
        return fail(ErrorCode::NothingLeft, "water balls cannot be stolen");
    }
    if hits_on(&ball, thief.id) >= thief.hits_allowed {
        return fail(
            ErrorCode::AlreadyStolen,
            format!("you already took from ball {ball_id}"),
        );
    }
    let available = ball_stealable_for(&ball, thief.id, thief.hits_allowed, now, &config);
    if available == 0 {
        return fail(
            ErrorCode::NothingLeft,
            "the rest of this ball is the owner's share",
        );
    }
    if thief.allowance == 0 {
        return fail(
            ErrorCode::LimitReached,
            format!("you may steal {} g a day", config.steal.daily_cap_grams),
        );
    }
    let share = world
        .resource_mut::<GameRng>()
        .0
        .random_range(config.steal.min_share..=config.steal.max_share);
    let grams = rules::steal_hit_grams(ball.full, share, available, thief.allowance);
    let verdict = risk::check_steal(
        world,
        thief.id,
        &ball,
        thief.allowance.saturating_sub(grams),
    );
    verdict.refuse_if_denied()?;

    ball.left -= grams;
    ball.stolen += grams;
    match ball.thieves.iter_mut().find(|(who, _)| *who == thief.id) {
        Some((_, hits)) => *hits += 1,
        None => ball.thieves.push((thief.id, 1)),
    }
    let held = verdict.hold();
    match held {
        Some(flag) => risk::flags::hold(world, flag, grams, Flow::Held, Account::Ball(ball_id))?,
        None => record_flow(world, Flow::Stolen, grams, Account::Ball(ball_id), to),
    }
    if ball.left == 0 {
        state::end_ball(world, &ball);
    } else {
        state::update_ball(world, ball);
    }
    risk::record_transfer(world, owner, thief.id, FlowKind::Steal, grams);
    notify(world, owner, Event::EnergyStolen { by, ball_id, grams });
    feed::append(world, owner, FeedKind::Stolen, by, owner, grams);
    Ok((grams, held))
}

/// `help_collect`: pick a friend's ripe ball for them; the grams go to the friend.
pub fn help_collect(
    world: &mut World,
    helper: PlayerId,
    owner: PlayerId,
    ball_id: BallId,
) -> Result<HelpCollectResult, ErrorBody> {
    player_entity(world, helper)?;
    require_friends(world, helper, owner)?;
    let helper_new = risk::is_new_or_empty_player(world, helper);
    collect_for_owner(world, (helper, helper_new), owner, ball_id)
}

/// The owner's side of `help_collect` (the helper may live on another shard; whether
/// the helper's account is new or empty goes into the flow window).
pub fn collect_for_owner(
    world: &mut World,
    (helper, helper_new): (PlayerId, bool),
    owner: PlayerId,
    ball_id: BallId,
) -> Result<HelpCollectResult, ErrorBody> {
    let ball = ripe_ball_of(world, owner, ball_id, ErrorCode::NotFound)?;
    let owner_entity = player_entity(world, owner)?;
    record_flow(
        world,
        Flow::Helped,
        ball.left,
        Account::Ball(ball_id),
        Account::Balance(owner),
    );
    state::end_ball(world, &ball);
    credit_balance(world, owner_entity, ball.left, true);
    risk::record_flow_edge(
        world,
        (helper, helper_new),
        owner,
        FlowKind::Help,
        ball.left,
    );
    notify(
        world,
        owner,
        Event::HelpCollected {
            by: helper,
            ball_id,
            grams: ball.left,
        },
    );
    feed::append(
        world,
        owner,
        FeedKind::Helped,
        Some(helper),
        owner,
        ball.left,
    );
    Ok(HelpCollectResult { grams: ball.left })
}

/// `water`: give a friend some energy as a ripe ball that cannot be stolen.
pub fn water(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
    grams: u64,
) -> Result<WaterResult, ErrorBody> {
    let (giver_entity, verdict) = check_water(world, giver, friend, grams, true)?;
    let giver_new = risk::is_new_or_empty_player(world, giver);
    let energy = debit_water(world, giver_entity, friend, grams)?;
    let ball_id = land_water(
        world,
        (giver, giver_new),
        friend,
        grams,
        (Flow::Watered, Account::Balance(giver)),
        &verdict,
    )?;
    Ok(WaterResult { energy, ball_id })
}

/// The friend's side of `water`, once the rules judged it: a ripe water ball of
/// `grams`, paid `from` an account by a flow (the giver's balance here, or a transfer
/// from the giver's shard), recorded in the flow window; under a `hold` its grams move
/// at once into the hold and the ball is gone. Returns the ball's id.
pub fn land_water(
    world: &mut World,
    giver: (PlayerId, bool),
    friend: PlayerId,
    grams: u64,
    paid: (Flow, Account),
    verdict: &risk::Verdict,
) -> Result<BallId, ErrorBody> {
    let friend_entity = player_entity(world, friend)?;
    let ball = spawn_water_ball(world, giver.0, (friend, friend_entity), grams, paid);
    risk::record_flow_edge(world, giver, friend, FlowKind::Water, grams);
    if let Some(flag) = verdict.hold() {
        risk::flags::hold(world, flag, grams, Flow::Held, Account::Ball(ball.id))?;
        state::end_ball(world, &ball);
    } else {
        announce_water(world, giver.0, friend, &ball);
    }
    Ok(ball.id)
}

/// The giver's checks of `water`, in the order of PROTOCOL.md; `friend_is_here` says
/// whether the friend lives on this shard (elsewhere, the friendship vouches for them,
/// and the friend's shard runs `water_funnel` when the watering arrives).
pub fn check_water(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
    grams: u64,
    friend_is_here: bool,
) -> Result<(bevy_ecs::entity::Entity, risk::Verdict), ErrorBody> {
    let config = config(world);
    if !config.water.amounts.contains(&grams) {
        return fail(
            ErrorCode::BadRequest,
            format!("`grams` must be one of {:?}", config.water.amounts),
        );
    }
    let giver_entity = roll_limits(world, giver)?;
    require_friends(world, giver, friend)?;
    if friend_is_here {
        player_entity(world, friend)?;
    }
    let balance = world
        .get::<Wallet>(giver_entity)
        .expect("player has Wallet")
        .energy;
    if balance < grams {
        return fail(
            ErrorCode::InsufficientEnergy,
            format!("watering takes {grams} g; you have {balance} g"),
        );
    }
    let given = world
        .get::<SocialLog>(giver_entity)
        .expect("player has SocialLog")
        .limits
        .waterings
        .get(&friend)
        .copied()
        .unwrap_or(0);
    if given >= config.water.per_friend_per_day {
        return fail(
            ErrorCode::LimitReached,
            format!(
                "you may water a friend {} times a day",
                config.water.per_friend_per_day
            ),
        );
    }
    let verdict = if friend_is_here {
        risk::check_water(world, giver, friend)
    } else {
        risk::Verdict::allow()
    };
    verdict.refuse_if_denied()?;
    Ok((giver_entity, verdict))
}

/// Takes a watering's grams from the giver and counts it against today's limit;
/// returns the giver's balance.
pub fn debit_water(
    world: &mut World,
    giver_entity: bevy_ecs::entity::Entity,
    friend: PlayerId,
    grams: u64,
) -> Result<u64, ErrorBody> {
    let energy = debit_balance(world, giver_entity, grams)?;
    *world
        .get_mut::<SocialLog>(giver_entity)
        .expect("player has SocialLog")
        .limits
        .waterings
        .entry(friend)
        .or_insert(0) += 1;
    touch_player(world, giver_entity);
    Ok(energy)
}

/// Undoes [`debit_water`] for a watering the friend's shard refused: the grams come
/// back from `from` and the day's count drops again.
pub fn refund_water(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
    grams: u64,
    from: Account,
) -> Result<u64, ErrorBody> {
    let entity = player_entity(world, giver)?;
    record_flow(world, Flow::Arrived, grams, from, Account::Balance(giver));
    if let Some(count) = world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog")
        .limits
        .waterings
        .get_mut(&friend)
    {
        *count = count.saturating_sub(1);
    }
    Ok(credit_balance(world, entity, grams, false))
}

/// The friend's side of `water`: a ripe water ball of `grams`, paid `from` an account
/// by a flow (the giver's balance here, or a transfer from the giver's shard).
pub fn spawn_water_ball(
    world: &mut World,
    giver: PlayerId,
    (friend, friend_entity): (PlayerId, bevy_ecs::entity::Entity),
    grams: u64,
    (flow, from): (Flow, Account),
) -> crate::store::Ball {
    let ball = spawn_ball(
        world,
        NewBall {
            owner_entity: friend_entity,
            owner: friend,
            source: "water".into(),
            grams,
            ripe_at: now(world),
            stealable: false,
        },
    );
    record_flow(world, flow, grams, from, Account::Ball(ball.id));
    feed::append(world, friend, FeedKind::Watered, Some(giver), friend, grams);
    ball
}

/// Tells the friend of a new water ball.
pub fn announce_water(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
    ball: &crate::store::Ball,
) {
    let (now, config) = (now(world), config(world));
    let Ok(friend_entity) = player_entity(world, friend) else {
        return;
    };
    let friend_energy = world
        .get::<Wallet>(friend_entity)
        .expect("player has Wallet")
        .energy;
    notify(
        world,
        friend,
        Event::BallNew {
            ball: views::ball_view(ball, now, &config),
        },
    );
    notify(
        world,
        friend,
        Event::Watered {
            by: giver,
            grams: ball.full,
            energy: friend_energy,
        },
    );
}
