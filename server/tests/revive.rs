//! Reviving energy (docs/GAME-PROPS.md, "Reviving energy"): a friend's expired ball is
//! listed as revivable for the window, `revive` brings it back once as a new ripe ball
//! of the owner and pays the reviver vitality, within a daily limit; every refusal has
//! its code; the energy and vitality audits stay balanced; an acknowledged revival
//! survives a restart and an unacknowledged one leaves nothing behind.

mod support;

use canopy_server::config::Config;
use canopy_server::game::AdminOp;
use canopy_shared::admin::AuditReport;
use canopy_shared::model::RevivableBall;
use canopy_shared::reply::ReviveResult;
use canopy_shared::{BallId, ErrorBody, ErrorCode, Event, PlayerId, Request};
use support::{DAY, HOUR, Player, Sim, code_of, config_with, local, without_risk};

/// Three players: mei's friends lin and kai, and the stranger zoe.
struct Forest {
    sim: Sim,
    mei: Player,
    lin: Player,
    kai: Player,
    zoe: Player,
}

fn forest(config: Config) -> Forest {
    let mut sim = Sim::with_config(without_risk(config));
    let [mei, lin, kai, zoe] = ["mei", "lin", "kai", "zoe"].map(|name| sim.register(name));
    sim.befriend(&mei, &lin);
    sim.befriend(&mei, &kai);
    Forest {
        sim,
        mei,
        lin,
        kai,
        zoe,
    }
}

/// `rides` metro rides of mei's (52 g each) reported on day 0, left to ripen on day 1
/// at 07:00 and expire 72 h later; returns when they expired.
fn let_expire(world: &mut Forest, rides: u32) -> u64 {
    world.sim.partner_many(world.mei.id, "metro", rides);
    let expired_at = local(4, 7, 0);
    world.sim.advance_to(expired_at);
    assert!(world.sim.me(&world.mei).balls.is_empty(), "all expired");
    expired_at
}

fn revivable(sim: &mut Sim, viewer: &Player, owner: PlayerId) -> Vec<RevivableBall> {
    sim.friend_balls(viewer, owner)
        .expect("a friend's forest")
        .revivable
}

fn revive(
    sim: &mut Sim,
    reviver: &Player,
    owner: PlayerId,
    ball: BallId,
) -> Result<ReviveResult, ErrorBody> {
    sim.call(
        reviver.session,
        Request::Revive {
            friend_id: owner,
            ball_id: ball,
        },
    )
}

fn server_audit(sim: &mut Sim) -> AuditReport {
    sim.admin(AdminOp::Audit).expect("the audit runs")
}

#[test]
fn a_friend_revives_an_expired_ball_into_a_new_ripe_ball_of_the_owner() {
    let mut world = forest(Config::default_embedded());
    let expired_at = let_expire(&mut world, 1);
    let Forest { sim, mei, lin, .. } = &mut world;
    let listed = revivable(sim, lin, mei.id);
    assert_eq!(listed.len(), 1);
    let expired = listed[0].clone();
    assert_eq!(
        (expired.grams, expired.expired_at, expired.until),
        (52, expired_at, expired_at + 24 * HOUR),
        "revivable for 24 h (ours)"
    );

    let id = sim.submit(
        lin.session,
        Request::Revive {
            friend_id: mei.id,
            ball_id: expired.ball_id,
        },
    );
    let tick = sim.tick();
    let revived: ReviveResult = tick.result(id).expect("revivable");
    assert_eq!(revived.grams, 52);
    assert_eq!(revived.vitality, 5, "the reviver earns 5 vitality (ours)");
    assert!(tick.events_for(mei.id).iter().any(|event| matches!(
        event,
        Event::EnergyRevived { by, ball_id, expired_ball_id, grams: 52 }
            if *by == lin.id && *ball_id == revived.ball_id && *expired_ball_id == expired.ball_id
    )));
    assert!(tick.events_for(mei.id).iter().any(|event| matches!(
        event,
        Event::BallNew { ball } if ball.ball_id == revived.ball_id && ball.amount == 52
    )));

    let balls = sim.me(mei).balls;
    assert_eq!(balls.len(), 1);
    assert_eq!(
        (balls[0].ball_id, balls[0].source.as_str()),
        (revived.ball_id, "revived")
    );
    assert!(balls[0].ripe_at <= sim.now(), "born ripe");
    assert_eq!(
        sim.friend_balls(lin, mei.id).expect("friends").balls[0].stealable,
        0,
        "revived energy cannot be stolen"
    );
    assert!(revivable(sim, lin, mei.id).is_empty(), "revived once");
    assert_eq!(sim.me(lin).player.vitality, 5);
    sim.assert_conserved();
    let audit = server_audit(sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!((audit.expired, audit.revived, audit.revivable), (52, 52, 0));

    assert_eq!(
        sim.collect_all(mei).grams,
        52,
        "the owner picks it as usual"
    );
    sim.assert_conserved();
}

#[test]
fn the_window_opens_at_expiry_and_is_over_24_hours_later() {
    let mut world = forest(Config::default_embedded());
    world.sim.partner_many(world.mei.id, "metro", 3);
    let Forest { sim, mei, lin, .. } = &mut world;
    sim.advance_to(local(4, 7, 0) - 1);
    let live = sim.me(mei).balls;
    assert_eq!(live.len(), 3);
    assert_eq!(
        code_of(revive(sim, lin, mei.id, live[0].ball_id)),
        ErrorCode::OutsideWindow,
        "a ball that has not expired cannot be revived yet"
    );
    sim.advance(1);
    let listed = revivable(sim, lin, mei.id);
    assert_eq!(listed.len(), 3);
    let until = listed[0].until;
    sim.advance_to(until - 1);
    revive(sim, lin, mei.id, listed[0].ball_id).expect("the last millisecond of the window");
    sim.advance(1);
    assert!(revivable(sim, lin, mei.id).is_empty());
    assert_eq!(
        code_of(revive(sim, lin, mei.id, listed[1].ball_id)),
        ErrorCode::OutsideWindow,
        "the window is over"
    );
    sim.advance(24 * HOUR - 1);
    assert_eq!(
        code_of(revive(sim, lin, mei.id, listed[2].ball_id)),
        ErrorCode::OutsideWindow,
        "still remembered for a second window"
    );
    sim.partner_many(mei.id, "metro", 1);
    sim.advance(5 * DAY);
    assert_eq!(
        code_of(revive(sim, lin, mei.id, listed[2].ball_id)),
        ErrorCode::Gone,
        "forgotten once mei's next ball expired"
    );
    sim.assert_conserved();
    let audit = server_audit(sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!(audit.revived, 52);
}

#[test]
fn the_window_runs_from_the_ball_s_own_expiry_even_when_the_server_was_down() {
    let mut world = forest(Config::default_embedded());
    world.sim.partner_many(world.mei.id, "metro", 2);
    world.sim.advance_to(local(4, 6, 0));
    let down_until = local(4, 7, 0) + 20 * HOUR;
    let mut restarted = world.sim.reload(down_until);
    assert_eq!(
        restarted.now(),
        down_until,
        "the clock resumes after the outage"
    );
    let (mei, lin) = (restarted.login(&world.mei), restarted.login(&world.lin));
    restarted.advance(1);
    let listed = revivable(&mut restarted, &lin, mei.id);
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].expired_at, listed[0].until),
        (local(4, 7, 0), local(5, 7, 0)),
        "24 h from when the ball expired, not from when the server noticed"
    );
    restarted.advance_to(local(5, 7, 0) - 1);
    revive(&mut restarted, &lin, mei.id, listed[0].ball_id).expect("still in the window");
    restarted.advance(1);
    assert_eq!(
        code_of(revive(&mut restarted, &lin, mei.id, listed[1].ball_id)),
        ErrorCode::OutsideWindow
    );
    restarted.assert_conserved();
}

#[test]
fn each_ball_is_revived_once() {
    let mut world = forest(Config::default_embedded());
    let_expire(&mut world, 1);
    let Forest {
        sim, mei, lin, kai, ..
    } = &mut world;
    let ball = revivable(sim, lin, mei.id)[0].ball_id;
    assert_eq!(revivable(sim, kai, mei.id)[0].ball_id, ball);
    let id_lin = sim.submit(
        lin.session,
        Request::Revive {
            friend_id: mei.id,
            ball_id: ball,
        },
    );
    let id_kai = sim.submit(
        kai.session,
        Request::Revive {
            friend_id: mei.id,
            ball_id: ball,
        },
    );
    let tick = sim.tick();
    tick.result::<ReviveResult>(id_lin)
        .expect("the first in the tick");
    assert_eq!(
        tick.code(id_kai),
        ErrorCode::AlreadyRevived,
        "the second in the same tick"
    );
    assert_eq!(
        code_of(revive(sim, lin, mei.id, ball)),
        ErrorCode::AlreadyRevived
    );
    assert_eq!(sim.me(kai).player.vitality, 0, "a refusal pays nothing");
    sim.assert_conserved();
}

#[test]
fn a_revived_ball_that_expires_is_not_revivable_again() {
    let mut world = forest(Config::default_embedded());
    let_expire(&mut world, 1);
    let Forest { sim, mei, lin, .. } = &mut world;
    let ball = revivable(sim, lin, mei.id)[0].ball_id;
    let revived = revive(sim, lin, mei.id, ball).expect("revivable");
    sim.advance(72 * HOUR);
    assert!(sim.me(mei).balls.is_empty(), "the revived ball expired too");
    assert!(revivable(sim, lin, mei.id).is_empty());
    assert_eq!(
        code_of(revive(sim, lin, mei.id, revived.ball_id)),
        ErrorCode::Gone
    );
    sim.assert_conserved();
    let audit = server_audit(sim);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!((audit.expired, audit.revived), (104, 52));
}

#[test]
fn only_a_friend_may_revive_and_only_a_ball_of_that_friend() {
    let mut world = forest(Config::default_embedded());
    let_expire(&mut world, 1);
    let Forest {
        sim,
        mei,
        lin,
        kai,
        zoe,
    } = &mut world;
    let ball = revivable(sim, lin, mei.id)[0].ball_id;
    assert_eq!(
        code_of(revive(sim, zoe, mei.id, ball)),
        ErrorCode::NotFriends
    );
    assert_eq!(
        code_of(revive(sim, mei, mei.id, ball)),
        ErrorCode::NotFriends,
        "nobody revives their own energy"
    );
    assert_eq!(
        code_of(revive(sim, mei, kai.id, ball)),
        ErrorCode::Gone,
        "an ended ball that is not kai's"
    );
    assert_eq!(
        code_of(revive(sim, lin, mei.id, BallId(999_999))),
        ErrorCode::NotFound
    );
    sim.partner_many(kai.id, "metro", 1);
    let kais = sim.me(kai).balls[0].ball_id;
    assert_eq!(
        code_of(revive(sim, lin, mei.id, kais)),
        ErrorCode::NotFound,
        "a live ball of someone else"
    );
    sim.advance(DAY);
    sim.collect_all(kai);
    assert_eq!(
        code_of(revive(sim, mei, kai.id, kais)),
        ErrorCode::Gone,
        "a picked ball did not expire"
    );
    assert_eq!(sim.me(zoe).player.vitality, 0);
    sim.assert_conserved();
}

#[test]
fn a_player_revives_at_most_the_daily_limit() {
    let mut world = forest(config_with(&[("CANOPY_REVIVE__PER_DAY", "2")]));
    let_expire(&mut world, 3);
    let Forest {
        sim, mei, lin, kai, ..
    } = &mut world;
    let listed = revivable(sim, lin, mei.id);
    revive(sim, lin, mei.id, listed[0].ball_id).expect("first today");
    revive(sim, lin, mei.id, listed[1].ball_id).expect("second today");
    assert_eq!(
        code_of(revive(sim, lin, mei.id, listed[2].ball_id)),
        ErrorCode::LimitReached
    );
    revive(sim, kai, mei.id, listed[2].ball_id).expect("the limit is per reviver");
    sim.assert_conserved();

    let mut world = forest(config_with(&[("CANOPY_REVIVE__PER_DAY", "1")]));
    let_expire(&mut world, 2);
    let Forest { sim, mei, lin, .. } = &mut world;
    let listed = revivable(sim, lin, mei.id);
    revive(sim, lin, mei.id, listed[0].ball_id).expect("first today");
    assert_eq!(
        code_of(revive(sim, lin, mei.id, listed[1].ball_id)),
        ErrorCode::LimitReached
    );
    sim.advance_to(local(5, 0, 0));
    revive(sim, lin, mei.id, listed[1].ball_id).expect("a new game day, still in the window");
    assert_eq!(sim.me(lin).player.vitality, 10);
    sim.assert_conserved();
}

#[test]
fn a_watching_friend_sees_the_ball_become_revivable_and_then_revived() {
    let mut world = forest(Config::default_embedded());
    let Forest { sim, mei, lin, .. } = &mut world;
    sim.partner_many(mei.id, "metro", 1);
    sim.watch(lin, Some(mei.id)).expect("a friend's forest");
    let tick = sim.advance_to(local(4, 7, 0));
    let revivable_seen = |tick: &support::Tick| -> Option<Vec<BallId>> {
        tick.events_to(lin.session)
            .into_iter()
            .rev()
            .find_map(|event| match event {
                Event::ForestChanged { revivable, .. } => {
                    Some(revivable.iter().map(|ball| ball.ball_id).collect())
                }
                _ => None,
            })
    };
    let seen = revivable_seen(&tick).expect("the expiry changed mei's forest");
    assert_eq!(seen.len(), 1);
    let id = sim.submit(
        lin.session,
        Request::Revive {
            friend_id: mei.id,
            ball_id: seen[0],
        },
    );
    let tick = sim.tick();
    tick.result::<ReviveResult>(id).expect("revivable");
    assert_eq!(revivable_seen(&tick), Some(Vec::new()));
}

#[test]
fn an_acknowledged_revival_survives_a_restart() {
    let mut world = forest(Config::default_embedded());
    let_expire(&mut world, 2);
    let Forest {
        sim, mei, lin, kai, ..
    } = &mut world;
    let listed = revivable(sim, lin, mei.id);
    let revived = revive(sim, lin, mei.id, listed[0].ball_id).expect("acknowledged");

    let mut restarted = sim.reload(sim.now());
    let (mei, lin, kai) = (
        restarted.login(mei),
        restarted.login(lin),
        restarted.login(kai),
    );
    let balls = restarted.me(&mei).balls;
    assert_eq!(balls.len(), 1);
    assert_eq!((balls[0].ball_id, balls[0].amount), (revived.ball_id, 52));
    assert_eq!(restarted.me(&lin).player.vitality, 5);
    assert_eq!(
        code_of(revive(&mut restarted, &kai, mei.id, listed[0].ball_id)),
        ErrorCode::AlreadyRevived
    );
    let left: Vec<BallId> = revivable(&mut restarted, &kai, mei.id)
        .iter()
        .map(|ball| ball.ball_id)
        .collect();
    assert_eq!(left, vec![listed[1].ball_id]);
    restarted.assert_conserved();
    let audit = server_audit(&mut restarted);
    assert!(audit.balanced, "{:?}", audit.problems);
    assert_eq!((audit.revived, audit.revivable), (52, 52));
}

#[test]
fn a_revival_the_store_did_not_take_is_not_acknowledged_nor_there_after_a_restart() {
    let mut world = forest(config_with(&[("CANOPY_REVIVE__PER_DAY", "1")]));
    let_expire(&mut world, 1);
    let Forest { sim, mei, lin, .. } = &mut world;
    let ball = revivable(sim, lin, mei.id)[0].ball_id;
    sim.store.set_failing(true);
    let refused = revive(sim, lin, mei.id, ball);
    assert_eq!(code_of(refused), ErrorCode::Internal, "never acknowledged");
    sim.store.set_failing(false);

    let mut restarted = sim.reload(sim.now());
    let (mei, lin) = (restarted.login(mei), restarted.login(lin));
    assert!(restarted.me(&mei).balls.is_empty());
    assert_eq!(restarted.me(&lin).player.vitality, 0);
    let again = revive(&mut restarted, &lin, mei.id, ball).expect("still revivable, once");
    assert_eq!(again.grams, 52);
    restarted.assert_conserved();
}
