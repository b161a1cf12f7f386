//! The mix's props actions (docs/GAME-PROPS.md): `shop` (read the catalog, then `buy`
//! with vitality), `gift` (`gift_prop` to a friend) and `revive` (a friend's expired
//! ball, seen in `friend_balls`). What a bot knows of its vitality, props and the
//! day's limits, the requests it plans from it, and the checks of the replies.
//!
//! Vitality grows on the server (collects, revivals) without a reply saying so, and
//! falls only with the bot's own purchases; props likewise grow with friends' gifts and
//! fall only with the bot's own gifts. So the last values a reply showed are floors,
//! and the checks hold the server to them. (A `prop_gift` event cannot raise the
//! floor: a reply leaves before the events of its tick, so the reply may already count
//! the gift the event announces.)

use crate::bots::checks::{Check, Violation};
use crate::bots::knowledge::typed;
use crate::bots::plan::Planned;
use crate::connection::ReplyOutcome;
use canopy_shared::model::{PropKind, PropsView, RevivableBall, ShopItemView};
use canopy_shared::reply::{BuyResult, PropsResult, ReviveResult, ShopResult};
use canopy_shared::{ErrorCode, PlayerId};
use rand::RngExt;
use rand::seq::IndexedRandom;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, PoisonError};

/// Props one player may give a day (`shop.gifts_per_day`).
pub const GIFTS_PER_DAY: u32 = 3;
/// Expired balls one player may revive a day (`revive.per_day`).
pub const REVIVALS_PER_DAY: u32 = 5;
/// Vitality a revival earns the reviver (`revive.vitality`).
pub const REVIVE_VITALITY: u64 = 5;
/// Revivable balls remembered at most.
const REVIVABLE_KEPT: usize = 64;

/// What a bot knows of its props side.
#[derive(Clone, Debug, Default)]
pub struct PropsKnowledge {
    /// Vitality it surely has at least (the last value a reply showed).
    pub vitality: Option<u64>,
    /// Unused props it surely has at least (the last inventory a reply showed).
    pub inventory: Option<BTreeMap<PropKind, u32>>,
    /// The shop as last read today, with its purchases since counted off `left_today`.
    pub catalog: Vec<ShopItemView>,
    /// Props it gave today.
    pub gifts_today: u32,
    /// Balls it revived today.
    pub revived_today: u32,
    /// Friends' expired balls it may revive, as last shown.
    pub revivable: VecDeque<(PlayerId, RevivableBall)>,
}

impl PropsKnowledge {
    /// A new game day: the daily counts and the shop's `left_today` start over.
    pub fn roll_day(&mut self) {
        self.gifts_today = 0;
        self.revived_today = 0;
        self.catalog.clear();
    }

    /// Learns a friend's revivable balls as the server listed them.
    pub fn see_revivable(&mut self, friend: PlayerId, balls: &[RevivableBall]) {
        self.revivable.retain(|(owner, _)| *owner != friend);
        self.revivable
            .extend(balls.iter().map(|ball| (friend, ball.clone())));
        while self.revivable.len() > REVIVABLE_KEPT {
            self.revivable.pop_front();
        }
    }

    /// Learns the profile's vitality and props (`me`).
    pub fn see_profile(&mut self, vitality: u64, props: &PropsView) {
        self.vitality = Some(vitality);
        self.inventory = Some(props.inventory.clone());
    }

    fn held(&self, prop: PropKind) -> Option<u32> {
        self.inventory
            .as_ref()
            .map(|inventory| inventory.get(&prop).copied().unwrap_or(0))
    }

    /// Learns from the reply to one of the props requests.
    pub fn apply_reply(&mut self, planned: &Planned, outcome: &ReplyOutcome) {
        match (planned, outcome) {
            (Planned::Shop, Ok(fields)) => {
                if let Some(shop) = typed::<ShopResult>(fields) {
                    self.vitality = Some(shop.vitality);
                    self.gifts_today = self
                        .gifts_today
                        .max(GIFTS_PER_DAY.saturating_sub(shop.gifts_left));
                    self.catalog = shop.items;
                }
            }
            (Planned::Buy { item, .. }, Ok(fields)) => {
                if let Some(bought) = typed::<BuyResult>(fields) {
                    self.vitality = Some(bought.vitality);
                    self.inventory = Some(bought.props.inventory);
                }
                self.count_off(item, |left| left.saturating_sub(1));
            }
            (Planned::Buy { item, .. }, Err(error)) if error.code == ErrorCode::LimitReached => {
                self.count_off(item, |_| 0);
            }
            (Planned::GiftProp { .. }, Ok(fields)) => {
                if let Some(after) = typed::<PropsResult>(fields) {
                    self.inventory = Some(after.props.inventory);
                }
                self.gifts_today += 1;
            }
            (Planned::GiftProp { .. }, Err(error)) if error.code == ErrorCode::LimitReached => {
                self.gifts_today = self.gifts_today.max(GIFTS_PER_DAY);
            }
            (Planned::Revive { ball, .. }, outcome) => {
                self.revivable.retain(|(_, seen)| seen.ball_id != *ball);
                match outcome {
                    Ok(fields) => {
                        if let Some(revived) = typed::<ReviveResult>(fields) {
                            self.vitality = Some(revived.vitality);
                        }
                        self.revived_today += 1;
                    }
                    Err(error) if error.code == ErrorCode::LimitReached => {
                        self.revived_today = self.revived_today.max(REVIVALS_PER_DAY);
                    }
                    Err(_) => {}
                }
            }
            _ => {}
        }
    }

    fn count_off(&mut self, item: &str, left: impl FnOnce(u32) -> u32) {
        if let Some(listed) = self.catalog.iter_mut().find(|listed| listed.item == item)
            && let Some(count) = &mut listed.left_today
        {
            *count = left(*count);
        }
    }
}

/// Shop item ids as `&'static str`, so a planned purchase stays `Copy` like every
/// planned request: a catalog has a handful of items, each kept once.
fn item_name(item: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    match names.get(item) {
        Some(name) => name,
        None => {
            let name: &'static str = Box::leak(item.to_owned().into_boxed_str());
            names.insert(name);
            name
        }
    }
}

/// A `shop` action: a purchase from the catalog read today (most of the time one the
/// bot can afford and may still make; sometimes any item, to test the refusals), or a
/// read of the shop first.
pub fn plan_shop(props: &PropsKnowledge, rng: &mut impl rand::Rng) -> Planned {
    let pick = if rng.random_ratio(1, 10) {
        props.catalog.choose(rng)
    } else {
        affordable(props).choose(rng).copied()
    };
    match pick {
        Some(listed) => buy(listed),
        None => Planned::Shop,
    }
}

/// The purchase that follows a read of the shop, when one is affordable and allowed.
pub fn after_shop(props: &PropsKnowledge, rng: &mut impl rand::Rng) -> Option<Planned> {
    affordable(props).choose(rng).map(|listed| buy(listed))
}

/// The items of today's catalog the bot may still buy and surely can pay for.
fn affordable(props: &PropsKnowledge) -> Vec<&ShopItemView> {
    props
        .catalog
        .iter()
        .filter(|listed| listed.left_today != Some(0))
        .filter(|listed| {
            props
                .vitality
                .is_some_and(|vitality| vitality >= listed.price)
        })
        .collect()
}

fn buy(listed: &ShopItemView) -> Planned {
    Planned::Buy {
        item: item_name(&listed.item),
        prop: listed.prop,
        count: listed.count,
        price: listed.price,
    }
}

/// A `gift` action: a prop the bot holds to a random friend; without one, a look at
/// its profile (props unknown) or the shop (none held).
pub fn plan_gift(
    props: &PropsKnowledge,
    friends: &[PlayerId],
    rng: &mut impl rand::Rng,
) -> Planned {
    let Some(inventory) = &props.inventory else {
        return Planned::Me;
    };
    let held: Vec<PropKind> = inventory
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(prop, _)| *prop)
        .collect();
    match (held.choose(rng), friends.choose(rng)) {
        (Some(prop), Some(friend)) => Planned::GiftProp {
            friend: *friend,
            prop: *prop,
        },
        _ => plan_shop(props, rng),
    }
}

/// A `revive` action: a friend's expired ball the bot saw revivable, or a look at a
/// friend's forest to find one.
pub fn plan_revive(
    props: &PropsKnowledge,
    friends: &[PlayerId],
    rng: &mut impl rand::Rng,
) -> Planned {
    if let Some((friend, ball)) = props.revivable.front() {
        return revive(*friend, ball);
    }
    match friends.choose(rng) {
        Some(friend) => Planned::FriendBalls { friend: *friend },
        None => Planned::Me,
    }
}

/// The revival that follows a look at `friend`'s forest that showed an expired ball.
pub fn revive_after_look(props: &PropsKnowledge, friend: PlayerId) -> Option<Planned> {
    props
        .revivable
        .iter()
        .find(|(owner, _)| *owner == friend)
        .map(|(owner, ball)| revive(*owner, ball))
}

fn revive(friend: PlayerId, ball: &RevivableBall) -> Planned {
    Planned::Revive {
        friend,
        ball: ball.ball_id,
        grams: ball.grams,
    }
}

/// Checks an `ok` reply to a props request against what the bot knew before it.
pub fn judge_ok(
    props: &PropsKnowledge,
    planned: &Planned,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut check = |ok: bool, check: Check, description: String| {
        if !ok {
            found.push(Violation { check, description });
        }
    };
    match *planned {
        Planned::Buy {
            item,
            prop,
            count,
            price,
        } => {
            let Some(bought) = typed::<BuyResult>(fields) else {
                check(
                    false,
                    Check::BadShape,
                    "buy answered without its fields".into(),
                );
                return found;
            };
            if let Some(floor) = props.vitality {
                check(
                    bought.vitality + price >= floor,
                    Check::PropsMismatch,
                    format!(
                        "{item} cost {price} and left {} vitality, but the bot had at least \
                         {floor}",
                        bought.vitality
                    ),
                );
            }
            if let Some(floor) = props.held(prop) {
                let after = bought.props.inventory.get(&prop).copied().unwrap_or(0);
                check(
                    after >= floor + count,
                    Check::PropsMismatch,
                    format!(
                        "{item} gives {count} {prop:?}: at least {floor} before, {after} after"
                    ),
                );
            }
            let left = props
                .catalog
                .iter()
                .find(|listed| listed.item == item)
                .and_then(|listed| listed.left_today);
            check(
                left != Some(0),
                Check::PropsOverDailyLimit,
                format!("{item} was sold although the shop said none was left today"),
            );
        }
        Planned::GiftProp { prop, .. } => {
            let Some(after) = typed::<PropsResult>(fields) else {
                check(
                    false,
                    Check::BadShape,
                    "gift_prop answered without props".into(),
                );
                return found;
            };
            if let Some(floor) = props.held(prop) {
                let now = after.props.inventory.get(&prop).copied().unwrap_or(0);
                check(
                    now + 1 >= floor,
                    Check::PropsMismatch,
                    format!("one {prop:?} given away: at least {floor} before, {now} after"),
                );
            }
            check(
                props.gifts_today < GIFTS_PER_DAY,
                Check::PropsOverDailyLimit,
                format!(
                    "a gift accepted after {} today (at most {GIFTS_PER_DAY})",
                    props.gifts_today
                ),
            );
        }
        Planned::Revive { ball, grams, .. } => {
            let Some(revived) = typed::<ReviveResult>(fields) else {
                check(
                    false,
                    Check::BadShape,
                    "revive answered without its fields".into(),
                );
                return found;
            };
            check(
                revived.grams == grams,
                Check::PropsMismatch,
                format!(
                    "ball #{ball} was revivable with {grams} g but {} g were revived",
                    revived.grams
                ),
            );
            if let Some(floor) = props.vitality {
                check(
                    revived.vitality >= floor + REVIVE_VITALITY,
                    Check::PropsMismatch,
                    format!(
                        "a revival earns {REVIVE_VITALITY} vitality, but the bot has {} after \
                         at least {floor} before",
                        revived.vitality
                    ),
                );
            }
            check(
                props.revived_today < REVIVALS_PER_DAY,
                Check::PropsOverDailyLimit,
                format!(
                    "a revival accepted after {} today (at most {REVIVALS_PER_DAY})",
                    props.revived_today
                ),
            );
        }
        _ => {}
    }
    found
}

/// Why an error reply to a props request contradicts what the bot knew, if it does.
pub fn contradiction(props: &PropsKnowledge, planned: &Planned, code: ErrorCode) -> Option<String> {
    match (*planned, code) {
        (Planned::Buy { price, .. }, ErrorCode::InsufficientVitality) => props
            .vitality
            .filter(|floor| *floor >= price)
            .map(|floor| format!("the bot has at least {floor} vitality and it costs {price}")),
        (Planned::Buy { item, .. }, ErrorCode::LimitReached) => props
            .catalog
            .iter()
            .find(|listed| listed.item == item)
            .and_then(|listed| listed.left_today)
            .filter(|left| *left > 0)
            .map(|left| format!("the shop said {left} more {item} today")),
        (Planned::Buy { item, .. }, ErrorCode::NotFound) => props
            .catalog
            .iter()
            .any(|listed| listed.item == item)
            .then(|| format!("{item} is in today's catalog")),
        (Planned::GiftProp { prop, .. }, ErrorCode::NotFound) => props
            .held(prop)
            .filter(|held| *held > 0)
            .map(|held| format!("the bot holds {held} {prop:?}")),
        (Planned::GiftProp { .. }, ErrorCode::LimitReached) => (props.gifts_today < GIFTS_PER_DAY)
            .then(|| format!("the bot gave {} props today", props.gifts_today)),
        (Planned::Revive { ball, .. }, ErrorCode::NotFound) => {
            Some(format!("ball #{ball} was listed as revivable"))
        }
        (Planned::Revive { .. }, ErrorCode::LimitReached) => (props.revived_today
            < REVIVALS_PER_DAY)
            .then(|| format!("the bot revived {} balls today", props.revived_today)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_shared::BallId;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use serde_json::{Value, json};

    fn stealth(left_today: Option<u32>) -> ShopItemView {
        ShopItemView {
            item: "stealth".into(),
            prop: PropKind::Stealth,
            count: 1,
            price: 20,
            per_day: Some(1),
            per_month: None,
            left_today,
        }
    }

    fn fields(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(fields) => fields,
            _ => unreachable!("an object literal"),
        }
    }

    fn props_view(stealth: u32) -> Value {
        json!({"inventory": {"protection_cover": 0, "double_click": 0, "time_accelerator": 0,
                             "stealth": stealth}, "active": []})
    }

    fn knowing(vitality: u64, stealth_held: u32) -> PropsKnowledge {
        PropsKnowledge {
            vitality: Some(vitality),
            inventory: Some(BTreeMap::from([(PropKind::Stealth, stealth_held)])),
            catalog: vec![stealth(Some(1))],
            ..PropsKnowledge::default()
        }
    }

    fn checks(found: Vec<Violation>) -> Vec<Check> {
        found.into_iter().map(|violation| violation.check).collect()
    }

    #[test]
    fn a_shop_action_buys_what_it_can_afford_or_reads_the_shop_first() {
        let mut rng = SmallRng::seed_from_u64(1);
        let unknown = PropsKnowledge::default();
        assert_eq!(plan_shop(&unknown, &mut rng), Planned::Shop);
        let rich = knowing(100, 0);
        let purchase = Planned::Buy {
            item: "stealth",
            prop: PropKind::Stealth,
            count: 1,
            price: 20,
        };
        assert_eq!(after_shop(&rich, &mut rng), Some(purchase));
        assert_eq!(after_shop(&knowing(19, 0), &mut rng), None, "too poor");
        let mut sold_out = rich.clone();
        sold_out.catalog = vec![stealth(Some(0))];
        assert_eq!(after_shop(&sold_out, &mut rng), None, "none left today");
    }

    #[test]
    fn a_purchase_must_add_its_props_and_cost_what_the_bot_had() {
        let know = knowing(50, 1);
        let buy = Planned::Buy {
            item: "stealth",
            prop: PropKind::Stealth,
            count: 1,
            price: 20,
        };
        let bought = |vitality: u64, stealth: u32| {
            fields(json!({"item": "stealth", "vitality": vitality, "props": props_view(stealth)}))
        };
        assert_eq!(checks(judge_ok(&know, &buy, &bought(30, 2))), vec![]);
        assert_eq!(
            checks(judge_ok(&know, &buy, &bought(35, 2))),
            vec![],
            "vitality grew"
        );
        assert_eq!(
            checks(judge_ok(&know, &buy, &bought(20, 2))),
            vec![Check::PropsMismatch],
            "it cost more than the price"
        );
        assert_eq!(
            checks(judge_ok(&know, &buy, &bought(30, 1))),
            vec![Check::PropsMismatch],
            "no prop added"
        );
        assert_eq!(
            checks(judge_ok(&know, &buy, &bought(30, 3))),
            vec![],
            "a friend's gift in the same tick"
        );
        assert!(contradiction(&know, &buy, ErrorCode::InsufficientVitality).is_some());
        assert!(contradiction(&knowing(10, 1), &buy, ErrorCode::InsufficientVitality).is_none());
        assert!(contradiction(&know, &buy, ErrorCode::LimitReached).is_some());
    }

    #[test]
    fn gifts_and_revivals_stay_within_their_daily_limits() {
        let mut know = knowing(0, 1);
        let gift = Planned::GiftProp {
            friend: PlayerId(2),
            prop: PropKind::Stealth,
        };
        let given = fields(json!({"props": props_view(0)}));
        assert_eq!(checks(judge_ok(&know, &gift, &given)), vec![]);
        let mut two = knowing(0, 2);
        assert_eq!(
            checks(judge_ok(&two, &gift, &given)),
            vec![Check::PropsMismatch],
            "two taken for one gift"
        );
        two.inventory = Some(BTreeMap::from([(PropKind::Stealth, 1)]));
        let regiven = fields(json!({"props": props_view(1)}));
        assert_eq!(
            checks(judge_ok(&two, &gift, &regiven)),
            vec![],
            "a friend's gift in the same tick"
        );
        assert!(
            contradiction(&know, &gift, ErrorCode::NotFound).is_some(),
            "one held"
        );
        know.gifts_today = GIFTS_PER_DAY;
        assert_eq!(
            checks(judge_ok(&know, &gift, &given)),
            vec![Check::PropsOverDailyLimit]
        );
        assert!(contradiction(&know, &gift, ErrorCode::LimitReached).is_none());

        let revive = Planned::Revive {
            friend: PlayerId(2),
            ball: BallId(9),
            grams: 40,
        };
        let revived = |grams: u64, vitality: u64| {
            fields(json!({"ball_id": 12, "grams": grams, "vitality": vitality}))
        };
        assert_eq!(checks(judge_ok(&know, &revive, &revived(40, 5))), vec![]);
        assert_eq!(
            checks(judge_ok(&know, &revive, &revived(39, 5))),
            vec![Check::PropsMismatch]
        );
        assert_eq!(
            checks(judge_ok(&know, &revive, &revived(40, 4))),
            vec![Check::PropsMismatch],
            "no vitality earned"
        );
        know.revived_today = REVIVALS_PER_DAY;
        assert_eq!(
            checks(judge_ok(&know, &revive, &revived(40, 5))),
            vec![Check::PropsOverDailyLimit]
        );
    }

    #[test]
    fn a_revive_action_takes_a_listed_ball_or_looks_first() {
        let mut rng = SmallRng::seed_from_u64(2);
        let mut know = PropsKnowledge::default();
        let friends = [PlayerId(2)];
        assert_eq!(
            plan_revive(&know, &friends, &mut rng),
            Planned::FriendBalls {
                friend: PlayerId(2)
            }
        );
        let expired = RevivableBall {
            ball_id: BallId(9),
            grams: 40,
            expired_at: 1,
            until: 2,
        };
        know.see_revivable(PlayerId(2), std::slice::from_ref(&expired));
        let revival = Planned::Revive {
            friend: PlayerId(2),
            ball: BallId(9),
            grams: 40,
        };
        assert_eq!(plan_revive(&know, &friends, &mut rng), revival);
        assert_eq!(revive_after_look(&know, PlayerId(2)), Some(revival));
        assert_eq!(revive_after_look(&know, PlayerId(3)), None);
        know.apply_reply(
            &revival,
            &Ok(fields(json!({"ball_id": 12, "grams": 40, "vitality": 5}))),
        );
        assert!(know.revivable.is_empty());
        assert_eq!((know.revived_today, know.vitality), (1, Some(5)));
    }
}
