//! Vitality and the props shop (docs/GAME-PROPS.md): earning vitality by collecting,
//! `shop`, `buy` with its limits and codes, `gift_prop` with its daily limit and the
//! `prop_gift` event, hot reload of the catalog, durability across a restart, and a
//! property test that energy and vitality are both conserved over any sequence of ops
//! (revivals of expired energy among them).

mod support;

use canopy_server::config::Config;
use canopy_server::game::AdminOp;
use canopy_shared::admin::AuditReport;
use canopy_shared::model::{PropKind, ShopItemView};
use canopy_shared::reply::{BuyResult, PropsResult, ShopResult};
use canopy_shared::{ErrorBody, ErrorCode, Event, PlayerId, Request};
use std::sync::Arc;
use support::{DAY, Player, Sim, code_of, config_with, local};

/// Collected energy worth one point per gram, so a day of metro rides buys things.
fn generous() -> Config {
    config_with(&[("CANOPY_SHOP__GRAMS_PER_VITALITY", "1")])
}

/// Five metro rides (52 g each) reported now, ripened next morning at 07:00 and
/// collected: 260 g collected.
fn ride_and_collect(sim: &mut Sim, player: &Player) -> u64 {
    sim.partner_many(player.id, "metro", 5);
    let day = (sim.now() - local(0, 0, 0)) / DAY;
    sim.advance_to(local(day + 1, 7, 0));
    sim.collect_all(player).grams
}

fn shop(sim: &mut Sim, player: &Player) -> ShopResult {
    sim.call(player.session, Request::Shop {})
        .expect("shop works when logged in")
}

fn buy(sim: &mut Sim, player: &Player, item: &str) -> Result<BuyResult, ErrorBody> {
    sim.call(
        player.session,
        Request::Buy {
            item: item.to_owned(),
        },
    )
}

fn gift(
    sim: &mut Sim,
    giver: &Player,
    friend: PlayerId,
    prop: PropKind,
) -> Result<PropsResult, ErrorBody> {
    sim.call(
        giver.session,
        Request::GiftProp {
            friend_id: friend,
            prop,
        },
    )
}

fn item<'a>(shop: &'a ShopResult, id: &str) -> &'a ShopItemView {
    shop.items
        .iter()
        .find(|item| item.item == id)
        .unwrap_or_else(|| panic!("the shop lists {id}"))
}

fn server_audit(sim: &mut Sim) -> AuditReport {
    sim.admin(AdminOp::Audit).expect("the audit runs")
}

#[test]
fn collecting_earns_a_point_per_ten_grams_and_carries_the_rest() {
    let mut sim = Sim::new();
    let mei = sim.register("mei");
    assert_eq!(sim.me(&mei).player.vitality, 0);
    sim.partner_many(mei.id, "metro", 1);
    sim.advance_to(local(1, 7, 0));
    assert_eq!(sim.collect_all(&mei).grams, 52);
    assert_eq!(
        sim.me(&mei).player.vitality,
        5,
        "52 g: 5 points, 2 g carried"
    );
    sim.partner_many(mei.id, "metro", 2);
    sim.advance_to(local(2, 7, 0));
    assert_eq!(sim.collect_all(&mei).grams, 104);
    assert_eq!(
        sim.me(&mei).player.vitality,
        15,
        "2 g carried + 104 g = 106 g: 10 more points"
    );
    sim.assert_conserved();
    let audit = server_audit(&mut sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!((audit.vitality_earned, audit.vitality_balances), (15, 15));
}

#[test]
fn stealing_earns_the_thief_vitality_and_costs_the_owner_none() {
    let mut sim = Sim::with_config(generous());
    let (mei, lin) = (sim.register("mei"), sim.register("lin"));
    sim.befriend(&mei, &lin);
    sim.partner_many(mei.id, "metro", 1);
    sim.advance_to(local(1, 7, 0));
    let ball = sim.me(&mei).balls[0].ball_id;
    let stolen = sim.steal(&lin, mei.id, ball).expect("a ripe ball").grams;
    assert_eq!(sim.me(&lin).player.vitality, stolen);
    sim.collect_all(&mei);
    assert_eq!(sim.me(&mei).player.vitality, 52 - stolen);
    sim.assert_conserved();
}

#[test]
fn buying_takes_the_price_and_gives_the_props() {
    let mut sim = Sim::with_config(generous());
    let mei = sim.register("mei");
    let listed = shop(&mut sim, &mei);
    assert_eq!(listed.vitality, 0);
    assert_eq!(listed.gifts_left, 3);
    let card = item(&listed, "double_click_month");
    assert_eq!(
        (
            card.prop,
            card.count,
            card.price,
            card.per_day,
            card.per_month
        ),
        (PropKind::DoubleClick, 31, 600, None, Some(1))
    );
    assert_eq!(
        code_of(buy(&mut sim, &mei, "stealth")),
        ErrorCode::InsufficientVitality
    );
    assert_eq!(
        code_of(buy(&mut sim, &mei, "golden_shovel")),
        ErrorCode::NotFound
    );

    assert_eq!(ride_and_collect(&mut sim, &mei), 260);
    let bought = buy(&mut sim, &mei, "stealth").expect("260 points buy a 20-point item");
    assert_eq!(bought.vitality, 240);
    assert_eq!(bought.props.inventory[&PropKind::Stealth], 1);
    assert_eq!(sim.me(&mei).player.props.inventory[&PropKind::Stealth], 1);
    sim.assert_conserved();
    let audit = server_audit(&mut sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!(
        (
            audit.vitality_earned,
            audit.vitality_spent,
            audit.vitality_balances
        ),
        (260, 20, 240)
    );
}

#[test]
fn a_daily_item_sells_once_a_day_and_again_the_next_day() {
    let mut sim = Sim::with_config(generous());
    let mei = sim.register("mei");
    ride_and_collect(&mut sim, &mei);
    assert_eq!(item(&shop(&mut sim, &mei), "stealth").left_today, Some(1));
    buy(&mut sim, &mei, "stealth").expect("the first today");
    assert_eq!(item(&shop(&mut sim, &mei), "stealth").left_today, Some(0));
    assert_eq!(
        code_of(buy(&mut sim, &mei, "stealth")),
        ErrorCode::LimitReached
    );
    assert_eq!(sim.me(&mei).player.vitality, 240, "a refusal costs nothing");
    buy(&mut sim, &mei, "double_click").expect("other items have their own limit");

    sim.advance_to(local(2, 0, 0));
    assert_eq!(item(&shop(&mut sim, &mei), "stealth").left_today, Some(1));
    buy(&mut sim, &mei, "stealth").expect("a new game day");
    sim.assert_conserved();
}

#[test]
fn the_month_card_sells_once_a_calendar_month() {
    let mut sim = Sim::with_config(config_with(&[
        ("CANOPY_SHOP__GRAMS_PER_VITALITY", "1"),
        ("CANOPY_SHOP__ITEMS__DOUBLE_CLICK_MONTH__PRICE", "100"),
    ]));
    let mei = sim.register("mei");
    ride_and_collect(&mut sim, &mei);
    let bought = buy(&mut sim, &mei, "double_click_month").expect("one a month");
    assert_eq!(bought.props.inventory[&PropKind::DoubleClick], 31);
    sim.advance_to(local(2, 0, 0));
    assert_eq!(
        code_of(buy(&mut sim, &mei, "double_click_month")),
        ErrorCode::LimitReached,
        "a new day, the same month"
    );
    // START's month ends six game days after it.
    sim.advance_to(local(6, 0, 0));
    buy(&mut sim, &mei, "double_click_month").expect("a new month");
    sim.assert_conserved();
}

#[test]
fn a_reload_changes_prices_and_limits_at_once() {
    let mut sim = Sim::with_config(generous());
    let mei = sim.register("mei");
    ride_and_collect(&mut sim, &mei);
    let cheaper = config_with(&[
        ("CANOPY_SHOP__GRAMS_PER_VITALITY", "1"),
        ("CANOPY_SHOP__ITEMS__STEALTH__PRICE", "7"),
        ("CANOPY_SHOP__ITEMS__STEALTH__PER_DAY", "2"),
    ]);
    sim.game.set_config(Arc::new(cheaper));
    let stealth = item(&shop(&mut sim, &mei), "stealth").clone();
    assert_eq!((stealth.price, stealth.left_today), (7, Some(2)));
    assert_eq!(buy(&mut sim, &mei, "stealth").expect("first").vitality, 253);
    assert_eq!(
        buy(&mut sim, &mei, "stealth").expect("second").vitality,
        246
    );
    assert_eq!(
        code_of(buy(&mut sim, &mei, "stealth")),
        ErrorCode::LimitReached
    );
    sim.assert_conserved();
}

#[test]
fn a_shop_config_with_a_bad_item_is_refused_with_its_field() {
    for (key, value, field) in [
        (
            "CANOPY_SHOP__ITEMS__STEALTH__PRICE",
            "0",
            "shop.items.stealth.price",
        ),
        (
            "CANOPY_SHOP__ITEMS__STEALTH__PER_DAY",
            "0",
            "shop.items.stealth.per_day",
        ),
        ("CANOPY_SHOP__ITEMS__STEALTH__PROP", "\"shovel\"", "prop"),
        (
            "CANOPY_SHOP__GRAMS_PER_VITALITY",
            "0",
            "shop.grams_per_vitality",
        ),
    ] {
        let err = Config::load(None, [(key.to_owned(), value.to_owned())]).expect_err("refused");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn gifts_go_to_friends_within_the_daily_limit() {
    let mut sim = Sim::new();
    let (mei, lin, kai) = (
        sim.register("mei"),
        sim.register("lin"),
        sim.register("kai"),
    );
    sim.befriend(&mei, &lin);
    assert_eq!(
        code_of(gift(&mut sim, &mei, lin.id, PropKind::Stealth)),
        ErrorCode::NotFound,
        "nothing to give"
    );
    sim.grant(mei.id, PropKind::Stealth, 5);
    assert_eq!(
        code_of(gift(&mut sim, &mei, kai.id, PropKind::Stealth)),
        ErrorCode::NotFriends
    );
    assert_eq!(
        code_of(gift(&mut sim, &mei, mei.id, PropKind::Stealth)),
        ErrorCode::NotFriends,
        "not to oneself"
    );
    let id = sim.submit(
        mei.session,
        Request::GiftProp {
            friend_id: lin.id,
            prop: PropKind::Stealth,
        },
    );
    let tick = sim.tick();
    let left: PropsResult = tick.result(id).expect("a gift to a friend");
    assert_eq!(left.props.inventory[&PropKind::Stealth], 4);
    assert!(tick.events_for(lin.id).contains(&&Event::PropGift {
        from: mei.id,
        prop: PropKind::Stealth,
    }));
    assert_eq!(sim.me(&lin).player.props.inventory[&PropKind::Stealth], 1);
    gift(&mut sim, &mei, lin.id, PropKind::Stealth).expect("second");
    gift(&mut sim, &mei, lin.id, PropKind::Stealth).expect("third");
    assert_eq!(shop(&mut sim, &mei).gifts_left, 0);
    assert_eq!(
        code_of(gift(&mut sim, &mei, lin.id, PropKind::Stealth)),
        ErrorCode::LimitReached
    );
    sim.advance_to(local(1, 0, 0));
    gift(&mut sim, &mei, lin.id, PropKind::Stealth).expect("a new day");
    assert_eq!(sim.me(&lin).player.props.inventory[&PropKind::Stealth], 4);
    assert_eq!(sim.me(&mei).player.props.inventory[&PropKind::Stealth], 1);
    lin_uses_a_gift(&mut sim, &lin);
    sim.assert_conserved();
}

fn lin_uses_a_gift(sim: &mut Sim, lin: &Player) {
    let used = sim
        .use_prop(lin, PropKind::Stealth)
        .expect("a gifted prop is usable");
    assert_eq!(used.props.inventory[&PropKind::Stealth], 3);
}

#[test]
fn vitality_and_shop_counts_survive_a_restart() {
    let mut sim = Sim::with_config(generous());
    let mei = sim.register("mei");
    ride_and_collect(&mut sim, &mei);
    buy(&mut sim, &mei, "stealth").expect("bought");
    let mut restarted = sim.reload(sim.now());
    let mei = restarted.login(&mei);
    assert_eq!(restarted.me(&mei).player.vitality, 240);
    assert_eq!(
        code_of(buy(&mut restarted, &mei, "stealth")),
        ErrorCode::LimitReached,
        "today's purchase is remembered"
    );
    restarted.assert_conserved();
    let audit = server_audit(&mut restarted);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!(audit.vitality_spent, 20);
}

mod conservation {
    use super::*;
    use canopy_server::game::components::Revivals;
    use canopy_server::game::resources::Directory;
    use proptest::prelude::*;

    const ITEMS: [&str; 6] = [
        "protection_cover",
        "double_click",
        "double_click_month",
        "time_accelerator",
        "stealth",
        "nothing_here",
    ];

    const AREAS: [&str; 3] = ["qilian_mountains", "sanjiangyuan", "atlantis"];

    #[derive(Clone, Debug)]
    enum Step {
        Ride {
            player: usize,
        },
        Advance {
            hours: u64,
        },
        CollectAll {
            player: usize,
        },
        Steal {
            thief: usize,
            owner: usize,
            ball: usize,
        },
        Buy {
            player: usize,
            item: usize,
        },
        Gift {
            giver: usize,
            friend: usize,
            prop: usize,
        },
        UseProp {
            player: usize,
            prop: usize,
        },
        Revive {
            reviver: usize,
            owner: usize,
            ball: usize,
        },
        ProtectArea {
            player: usize,
            area: usize,
            square_metres: u64,
        },
        Restart,
    }

    fn step() -> impl Strategy<Value = Step> {
        let p = 0..3usize;
        prop_oneof![
            3 => p.clone().prop_map(|player| Step::Ride { player }),
            3 => (1..100u64).prop_map(|hours| Step::Advance { hours }),
            3 => p.clone().prop_map(|player| Step::CollectAll { player }),
            3 => (p.clone(), p.clone(), 0..4usize)
                .prop_map(|(thief, owner, ball)| Step::Steal { thief, owner, ball }),
            4 => (p.clone(), 0..ITEMS.len()).prop_map(|(player, item)| Step::Buy { player, item }),
            3 => (p.clone(), p.clone(), 0..PropKind::ALL.len())
                .prop_map(|(giver, friend, prop)| Step::Gift { giver, friend, prop }),
            2 => (p.clone(), 0..PropKind::ALL.len())
                .prop_map(|(player, prop)| Step::UseProp { player, prop }),
            3 => (p.clone(), p.clone(), 0..4usize)
                .prop_map(|(reviver, owner, ball)| Step::Revive { reviver, owner, ball }),
            2 => (p.clone(), 0..AREAS.len(), 0..5u64).prop_map(|(player, area, square_metres)| {
                Step::ProtectArea { player, area, square_metres }
            }),
            1 => Just(Step::Restart),
        ]
    }

    /// Codes each op may be refused with; anything else is a bug.
    fn allowed(step: &Step, code: ErrorCode) -> bool {
        match step {
            Step::Steal { .. } => matches!(
                code,
                ErrorCode::NotFriends
                    | ErrorCode::NotFound
                    | ErrorCode::NotRipe
                    | ErrorCode::Gone
                    | ErrorCode::Protected
                    | ErrorCode::AlreadyStolen
                    | ErrorCode::NothingLeft
                    | ErrorCode::LimitReached
            ),
            Step::Buy { .. } => matches!(
                code,
                ErrorCode::NotFound | ErrorCode::LimitReached | ErrorCode::InsufficientVitality
            ),
            Step::Gift { .. } => matches!(
                code,
                ErrorCode::NotFriends | ErrorCode::NotFound | ErrorCode::LimitReached
            ),
            Step::UseProp { .. } => code == ErrorCode::NotFound,
            Step::ProtectArea { .. } => matches!(
                code,
                ErrorCode::NotFound | ErrorCode::BadRequest | ErrorCode::InsufficientEnergy
            ),
            Step::Revive { .. } => matches!(
                code,
                ErrorCode::NotFriends
                    | ErrorCode::AlreadyRevived
                    | ErrorCode::OutsideWindow
                    | ErrorCode::LimitReached
            ),
            _ => false,
        }
    }

    /// One of the owner's remembered expired balls (revivable, revived or past its
    /// window), read from the World so every refusal gets its turn.
    fn expired_ball(sim: &Sim, owner: &Player, pick: usize) -> Option<canopy_shared::BallId> {
        let world = sim.game.world();
        let entity = world.resource::<Directory>().players[&owner.id];
        let expired = &world.get::<Revivals>(entity)?.0.expired;
        expired
            .get(pick % expired.len().max(1))
            .map(|ball| ball.ball_id)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn energy_and_vitality_are_conserved_over_any_sequence_of_ops(
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let mut sim = Sim::with_config(config_with(&[
                ("CANOPY_SHOP__GRAMS_PER_VITALITY", "3"),
                ("CANOPY_REVIVE__PER_DAY", "2"),
            ]));
            let mut players: Vec<Player> =
                ["mei", "lin", "kai"].iter().map(|name| sim.register(name)).collect();
            sim.befriend(&players[0], &players[1]);
            sim.befriend(&players[1], &players[2]);
            for step in &steps {
                let request = match *step {
                    Step::Ride { player } => {
                        sim.partner_many(players[player].id, "metro", 1);
                        None
                    }
                    Step::Advance { hours } => {
                        sim.advance(hours * support::HOUR);
                        None
                    }
                    Step::CollectAll { player } => {
                        sim.collect_all(&players[player]);
                        None
                    }
                    Step::Steal { thief, owner, ball } => {
                        let balls = sim.me(&players[owner]).balls;
                        balls.get(ball).map(|ball| {
                            (thief, Request::Steal {
                                friend_id: players[owner].id,
                                ball_id: ball.ball_id,
                            })
                        })
                    }
                    Step::Buy { player, item } => Some((player, Request::Buy {
                        item: ITEMS[item].to_owned(),
                    })),
                    Step::Gift { giver, friend, prop } => Some((giver, Request::GiftProp {
                        friend_id: players[friend].id,
                        prop: PropKind::ALL[prop],
                    })),
                    Step::UseProp { player, prop } => Some((player, Request::UseProp {
                        prop: PropKind::ALL[prop],
                    })),
                    Step::Revive { reviver, owner, ball } => {
                        expired_ball(&sim, &players[owner], ball).map(|ball_id| {
                            (reviver, Request::Revive {
                                friend_id: players[owner].id,
                                ball_id,
                            })
                        })
                    }
                    Step::ProtectArea { player, area, square_metres } => {
                        Some((player, Request::ProtectArea {
                            area: AREAS[area].to_owned(),
                            square_metres,
                        }))
                    }
                    Step::Restart => {
                        sim = sim.reload(sim.now());
                        players = players.iter().map(|player| sim.login(player)).collect();
                        None
                    }
                };
                if let Some((who, request)) = request {
                    let id = sim.submit(players[who].session, request);
                    let answer = sim.tick().result::<serde_json::Value>(id);
                    if let Err(error) = answer {
                        prop_assert!(allowed(step, error.code), "{step:?}: {error}");
                    }
                }
                if let Err(problem) = support::audit(&sim.game, &sim.store) {
                    prop_assert!(false, "after {step:?}: {problem}");
                }
            }
            let audit = server_audit(&mut sim);
            prop_assert!(audit.balanced, "{:?}", audit.problems);
        }
    }
}
