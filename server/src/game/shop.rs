//! The props shop: `shop`, `buy` (vitality for props, within each item's daily and
//! monthly limits) and `gift_prop` (one prop to a friend, within a daily limit). The
//! catalog is `[shop]` of the config in force, so a hot reload changes it at once.

use super::components::Props;
use super::state::{config, fail, notify, now, player_entity, touch_player};
use super::transfers::require_friends;
use super::views;
use super::vitality;
use crate::config::ShopItem;
use crate::store::VitalityRecord;
use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use canopy_shared::model::{PropKind, ShopItemView};
use canopy_shared::reply::{BuyResult, PropsResult, ShopResult};
use canopy_shared::{ErrorBody, ErrorCode, Event, PlayerId};

/// How many more of `item` the buyer may buy now under both of its limits, given what
/// they bought today and this month; `None` when neither limits it.
pub fn purchases_left(item: &ShopItem, bought_today: u32, bought_this_month: u32) -> Option<u32> {
    let day = item.per_day.map(|cap| cap.saturating_sub(bought_today));
    let month = item
        .per_month
        .map(|cap| cap.saturating_sub(bought_this_month));
    match (day, month) {
        (Some(day), Some(month)) => Some(day.min(month)),
        (left, None) | (None, left) => left,
    }
}

/// Refuses a purchase past a limit (`LIMIT_REACHED`) or beyond the buyer's points
/// (`INSUFFICIENT_VITALITY`), in that order.
pub fn check_purchase(id: &str, item: &ShopItem, record: &VitalityRecord) -> Result<(), ErrorBody> {
    let today = record.bought_today.get(id).copied().unwrap_or(0);
    let month = record.bought_this_month.get(id).copied().unwrap_or(0);
    if purchases_left(item, today, month) == Some(0) {
        let limit = match (item.per_day, item.per_month) {
            (Some(day), _) if today >= day => format!("{day} a day"),
            (_, Some(month)) => format!("{month} a month"),
            _ => "its limit".to_owned(),
        };
        return fail(
            ErrorCode::LimitReached,
            format!("`{id}` may be bought {limit}"),
        );
    }
    if record.points < item.price {
        return fail(
            ErrorCode::InsufficientVitality,
            format!(
                "`{id}` costs {} vitality; you have {}",
                item.price, record.points
            ),
        );
    }
    Ok(())
}

/// `shop`: the catalog from the caller's side.
pub fn shop(world: &World, player: PlayerId) -> Result<ShopResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let config = config(world);
    let record = vitality::as_of_today(world, entity);
    let items = config
        .shop
        .items
        .iter()
        .map(|(id, item)| ShopItemView {
            item: id.clone(),
            prop: item.prop,
            count: item.count,
            price: item.price,
            per_day: item.per_day,
            per_month: item.per_month,
            left_today: purchases_left(
                item,
                record.bought_today.get(id).copied().unwrap_or(0),
                record.bought_this_month.get(id).copied().unwrap_or(0),
            ),
        })
        .collect();
    Ok(ShopResult {
        vitality: record.points,
        gifts_left: config.shop.gifts_per_day.saturating_sub(record.gifts_today),
        items,
    })
}

/// `buy`: one item for its price in vitality; its props go to the inventory.
pub fn buy(world: &mut World, player: PlayerId, id: &str) -> Result<BuyResult, ErrorBody> {
    let entity = player_entity(world, player)?;
    let config = config(world);
    let Some(item) = config.shop.items.get(id) else {
        return fail(ErrorCode::NotFound, format!("no item `{id}` in the shop"));
    };
    check_purchase(id, item, &vitality::as_of_today(world, entity))?;
    let left = vitality::spend(world, entity, item.price)?;
    let record = vitality::rolled(world, entity);
    *record.bought_today.entry(id.to_owned()).or_insert(0) += 1;
    *record.bought_this_month.entry(id.to_owned()).or_insert(0) += 1;
    let mut props = world.get_mut::<Props>(entity).expect("player has Props");
    *props.0.inventory.entry(item.prop).or_insert(0) += item.count;
    touch_player(world, entity);
    let props = &world.get::<Props>(entity).expect("player has Props").0;
    Ok(BuyResult {
        item: id.to_owned(),
        vitality: left,
        props: views::props_view(props, now(world)),
    })
}

/// `gift_prop`: one prop from the giver's inventory to a friend's, within
/// `shop.gifts_per_day`; the friend hears `prop_gift`.
pub fn gift_prop(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
    prop: PropKind,
) -> Result<PropsResult, ErrorBody> {
    let giver_entity = player_entity(world, giver)?;
    require_friends(world, giver, friend)?;
    player_entity(world, friend)?;
    give_prop(world, giver_entity, prop)?;
    receive_prop(world, giver, friend, prop)?;
    Ok(props_of(world, giver_entity))
}

/// The giver's side of `gift_prop`: refuses a prop the giver does not hold
/// (`NOT_FOUND`) or a gift past the daily limit (`LIMIT_REACHED`), else takes the prop
/// from the inventory and counts the gift.
pub fn give_prop(world: &mut World, giver: Entity, prop: PropKind) -> Result<(), ErrorBody> {
    let held = world
        .get::<Props>(giver)
        .expect("player has Props")
        .0
        .inventory
        .get(&prop)
        .copied()
        .unwrap_or(0);
    let per_day = config(world).shop.gifts_per_day;
    check_gift(
        prop,
        held,
        vitality::as_of_today(world, giver).gifts_today,
        per_day,
    )?;
    vitality::rolled(world, giver).gifts_today += 1;
    move_prop(world, giver, prop, |held| held - 1);
    Ok(())
}

/// Refuses a gift of `prop` when none is `held` (`NOT_FOUND`) or `given_today` reached
/// `per_day` (`LIMIT_REACHED`), in that order.
pub fn check_gift(
    prop: PropKind,
    held: u32,
    given_today: u32,
    per_day: u32,
) -> Result<(), ErrorBody> {
    if held == 0 {
        return fail(
            ErrorCode::NotFound,
            format!("no {} in the inventory", prop.as_str()),
        );
    }
    if given_today >= per_day {
        return fail(
            ErrorCode::LimitReached,
            format!("you may give {per_day} props a day"),
        );
    }
    Ok(())
}

/// The friend's side of `gift_prop` (the giver may live on another shard): the prop
/// goes into the friend's inventory and the friend hears `prop_gift`. Refused when
/// they are no longer friends or the friend does not exist.
pub fn receive_prop(
    world: &mut World,
    giver: PlayerId,
    friend: PlayerId,
    prop: PropKind,
) -> Result<(), ErrorBody> {
    require_friends(world, giver, friend)?;
    let friend_entity = player_entity(world, friend)?;
    move_prop(world, friend_entity, prop, |held| held + 1);
    notify(world, friend, Event::PropGift { from: giver, prop });
    Ok(())
}

/// Undoes [`give_prop`] for a gift the friend's shard refused: the prop comes back and
/// today's count drops again.
pub fn return_prop(world: &mut World, giver: Entity, prop: PropKind) {
    let record = vitality::rolled(world, giver);
    record.gifts_today = record.gifts_today.saturating_sub(1);
    move_prop(world, giver, prop, |held| held + 1);
}

/// A player's props, as `gift_prop` answers.
pub fn props_of(world: &World, entity: Entity) -> PropsResult {
    let props = &world.get::<Props>(entity).expect("player has Props").0;
    PropsResult {
        props: views::props_view(props, now(world)),
    }
}

/// Changes how many of `prop` a player holds.
fn move_prop(world: &mut World, entity: Entity, prop: PropKind, change: impl Fn(u32) -> u32) {
    touch_player(world, entity);
    let mut props = world.get_mut::<Props>(entity).expect("player has Props");
    let held = props.0.inventory.entry(prop).or_insert(0);
    *held = change(*held);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(per_day: Option<u32>, per_month: Option<u32>) -> ShopItem {
        ShopItem {
            prop: PropKind::DoubleClick,
            count: 1,
            price: 30,
            per_day,
            per_month,
        }
    }

    fn record(points: u64, today: u32, month: u32) -> VitalityRecord {
        VitalityRecord {
            points,
            bought_today: [("card".to_owned(), today)].into(),
            bought_this_month: [("card".to_owned(), month)].into(),
            ..VitalityRecord::default()
        }
    }

    #[test]
    fn the_tighter_of_the_two_limits_counts() {
        assert_eq!(purchases_left(&item(None, None), 5, 50), None);
        assert_eq!(purchases_left(&item(Some(1), None), 0, 9), Some(1));
        assert_eq!(purchases_left(&item(Some(1), None), 1, 1), Some(0));
        assert_eq!(purchases_left(&item(None, Some(1)), 0, 1), Some(0));
        assert_eq!(purchases_left(&item(Some(3), Some(4)), 0, 2), Some(2));
        assert_eq!(purchases_left(&item(Some(3), Some(4)), 2, 2), Some(1));
    }

    #[test]
    fn a_limit_is_refused_before_the_price() {
        let daily = item(Some(1), None);
        let code = |item: &ShopItem, record: &VitalityRecord| {
            check_purchase("card", item, record).map_err(|error| error.code)
        };
        assert_eq!(code(&daily, &record(30, 0, 0)), Ok(()));
        assert_eq!(
            code(&daily, &record(29, 0, 0)),
            Err(ErrorCode::InsufficientVitality)
        );
        assert_eq!(
            code(&daily, &record(0, 1, 1)),
            Err(ErrorCode::LimitReached),
            "past the limit, whatever the balance"
        );
        let monthly = item(None, Some(1));
        assert_eq!(
            code(&monthly, &record(1_000, 0, 1)),
            Err(ErrorCode::LimitReached)
        );
        let message = check_purchase("card", &monthly, &record(1_000, 0, 1))
            .expect_err("monthly limit")
            .message;
        assert!(message.contains("1 a month"), "{message}");
    }

    #[test]
    fn a_gift_needs_the_prop_first_then_room_in_the_daily_limit() {
        let code =
            |held, given| check_gift(PropKind::Stealth, held, given, 3).map_err(|error| error.code);
        assert_eq!(code(1, 2), Ok(()));
        assert_eq!(code(0, 0), Err(ErrorCode::NotFound));
        assert_eq!(
            code(0, 3),
            Err(ErrorCode::NotFound),
            "the prop is checked first"
        );
        assert_eq!(code(5, 3), Err(ErrorCode::LimitReached));
    }

    #[test]
    fn daily_counts_roll_each_day_and_monthly_counts_each_month() {
        let mut record = record(0, 1, 1);
        record.gifts_today = 2;
        record.day = 10;
        record.month = 3;
        record.roll(11, 3);
        assert!(record.bought_today.is_empty());
        assert_eq!(record.gifts_today, 0);
        assert_eq!(record.bought_this_month.get("card"), Some(&1));
        record.roll(12, 4);
        assert!(record.bought_this_month.is_empty());
    }
}
