//! Simulation tests of the social game: friends, stealing, help-collecting, watering,
//! boards, the feed and co-planting teams. Like `simulation.rs`, the World is stepped by
//! hand on a manual clock and an in-memory store; each test states one rule of GAME.md
//! or one error code of PROTOCOL.md (in the op's listed order), and `assert_conserved`
//! checks the energy identities wherever energy moved. The proptest at the end plays
//! random multi-player sequences and checks conservation, caps and error codes after
//! every tick.

mod support;

use canopy_server::config::{Config, Species};
use canopy_server::game::AdminOp;
use canopy_server::store::{Account, Flow, Store};
use canopy_shared::model::{
    BoardEntry, BoardPeriod, FeedEntry, FeedKind, PendingRequestView, PropKind, Suggestion,
    WatchTarget,
};
use canopy_shared::reply::{Empty, FeedResult, TeamCreateResult, TeamWaterResult};
use canopy_shared::{BallId, ErrorCode, Event, PlayerId, Request, TeamId};
use support::{DAY, HOUR, Player, START, Sim, Tick, code_of, config_with, local};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Registers players under `names`, in order (ids 1, 2, ...).
fn players<const N: usize>(sim: &mut Sim, names: [&str; N]) -> [Player; N] {
    names.map(|name| sim.register(name))
}

/// A walk ball of `steps` (1 g per 50 steps) made now; it ripens at 07:00 next morning.
fn walk_ball(sim: &mut Sim, player: &Player, steps: u64) -> BallId {
    let reference = sim.fresh_ref();
    sim.walk(player, steps, &reference)
        .expect("walk accepted")
        .ball
        .expect("enough steps for a ball")
        .ball_id
}

/// One partner-reported ball of `kind` made now.
fn partner_ball(sim: &mut Sim, player: &Player, kind: &str) -> BallId {
    let reference = sim.fresh_ref();
    sim.partner(player.id, kind, &reference)
        .expect("partner report accepted")
        .ball
        .expect("under the cap")
        .ball_id
}

/// The game-local day number of the clock (0 for [`START`]'s day).
fn today(sim: &Sim) -> u64 {
    (sim.now() - START) / DAY
}

/// Moves the clock to 07:00 next game-local morning, when yesterday's balls ripen.
fn next_morning(sim: &mut Sim) -> Tick {
    let day = today(sim);
    sim.advance_to(local(day + 1, 7, 0))
}

/// `floor(share · full)` in exact integer arithmetic, with `share` in tenths.
fn tenths(full: u64, share: u64) -> u64 {
    full * share / 10
}

/// The newest entry of `player`'s feed.
fn newest_feed_entry(sim: &mut Sim, player: &Player) -> FeedEntry {
    sim.feed(player, Some(1), None)
        .expect("feed")
        .entries
        .into_iter()
        .next()
        .expect("the feed has an entry")
}

/// The `friend_stealable` frames sent to `player`'s session this tick, in the order
/// sent, as (friend, grams); two about one friend in a tick fail (coalesced per batch).
fn stealable_events(tick: &Tick, player: &Player) -> Vec<(PlayerId, u64)> {
    let frames: Vec<(PlayerId, u64)> = tick
        .events_to(player.session)
        .into_iter()
        .filter_map(|event| match event {
            Event::FriendStealable { friend_id, grams } => Some((*friend_id, *grams)),
            _ => None,
        })
        .collect();
    let mut friends: Vec<PlayerId> = frames.iter().map(|&(friend, _)| friend).collect();
    friends.sort_unstable();
    friends.dedup();
    assert_eq!(
        friends.len(),
        frames.len(),
        "one friend_stealable per friend per tick: {frames:?}"
    );
    frames
}

fn ids(players: &[&Player]) -> Vec<PlayerId> {
    players.iter().map(|p| p.id).collect()
}

/// A 120 g species, cheapest in the catalog, so team trees can be planted in a test.
const SHRUB: &str = "test_shrub";
const SHRUB_GRAMS: u64 = 120;

fn with_shrub(mut config: Config) -> Config {
    config.catalog.insert(
        0,
        Species {
            id: SHRUB.into(),
            name: "Test shrub".into(),
            name_zh: "测试灌木".into(),
            grams: SHRUB_GRAMS,
            region: "Test plot".into(),
            verified: false,
        },
    );
    config
}

// ---------------------------------------------------------------------------------------
// Friends: requests, accepts, declines, unfriending, blocks
// ---------------------------------------------------------------------------------------

#[test]
fn a_request_then_an_accept_makes_mutual_friends_and_tells_both_sides() {
    let mut sim = Sim::new();
    let [ant, bee] = players(&mut sim, ["ant", "bee"]);

    let asked = sim.submit(ant.session, Request::FriendRequest { player_id: bee.id });
    let tick = sim.tick();
    tick.result::<Empty>(asked).expect("a request to a player");
    assert_eq!(
        tick.events_for(bee.id),
        vec![&Event::FriendRequest {
            from: ant.id,
            name: "ant".into()
        }],
        "the addressee is told who asked"
    );
    assert!(tick.events_for(ant.id).is_empty());
    let ants = sim.friends(&ant);
    assert!(ants.friends.is_empty() && ants.incoming.is_empty());
    assert_eq!(
        ants.outgoing,
        vec![PendingRequestView {
            player_id: bee.id,
            name: "bee".into(),
            sent_at: START
        }]
    );
    let bees = sim.friends(&bee);
    assert!(bees.friends.is_empty() && bees.outgoing.is_empty());
    assert_eq!(
        bees.incoming,
        vec![PendingRequestView {
            player_id: ant.id,
            name: "ant".into(),
            sent_at: START
        }]
    );

    let accepted = sim.submit(bee.session, Request::FriendAccept { player_id: ant.id });
    let tick = sim.tick();
    tick.result::<Empty>(accepted)
        .expect("the request is pending");
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::FriendAdded { player_id: bee.id }]
    );
    assert_eq!(
        tick.events_for(bee.id),
        vec![&Event::FriendAdded { player_id: ant.id }]
    );
    for (me, other) in [(&ant, &bee), (&bee, &ant)] {
        let list = sim.friends(me);
        assert_eq!(
            list.friends.iter().map(|f| f.player_id).collect::<Vec<_>>(),
            vec![other.id],
            "friendship is mutual"
        );
        let friend = &list.friends[0];
        assert_eq!(friend.name, if other.id == ant.id { "ant" } else { "bee" });
        assert_eq!(
            (
                friend.energy,
                friend.stealable_grams,
                friend.protected_until
            ),
            (0, 0, None)
        );
        assert!(list.incoming.is_empty() && list.outgoing.is_empty());
    }
    assert_eq!(
        code_of(sim.friend_accept(&bee, ant.id)),
        ErrorCode::NotFound,
        "the request was used up"
    );

    let ended = sim.submit(ant.session, Request::Unfriend { player_id: bee.id });
    let tick = sim.tick();
    tick.result::<Empty>(ended).expect("they were friends");
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::FriendRemoved { player_id: bee.id }]
    );
    assert_eq!(
        tick.events_for(bee.id),
        vec![&Event::FriendRemoved { player_id: ant.id }]
    );
    assert!(sim.friends(&ant).friends.is_empty());
    assert!(sim.friends(&bee).friends.is_empty());
    for (me, other) in [
        (&ant, bee.id),
        (&bee, ant.id),
        (&ant, ant.id),
        (&ant, PlayerId(404)),
    ] {
        assert_eq!(
            code_of(sim.unfriend(me, other)),
            ErrorCode::NotFriends,
            "{} unfriends {other}",
            me.id
        );
    }
}

#[test]
fn friend_request_errors_come_in_the_protocols_order() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);

    // NOT_FOUND: no such player. A refused request tells nobody anything.
    let refused = sim.submit(
        ant.session,
        Request::FriendRequest {
            player_id: PlayerId(404),
        },
    );
    let tick = sim.tick();
    assert_eq!(tick.code(refused), ErrorCode::NotFound);
    assert!(tick.events.is_empty());
    // Your own id is a bad request (docs/PROTOCOL.md, "Choices").
    assert_eq!(
        code_of(sim.friend_request(&ant, ant.id)),
        ErrorCode::BadRequest
    );

    // CONFLICT: pending, then already friends, from either side.
    sim.friend_request(&ant, bee.id).expect("first request");
    let again = sim.submit(ant.session, Request::FriendRequest { player_id: bee.id });
    let tick = sim.tick();
    assert_eq!(tick.code(again), ErrorCode::Conflict, "already pending");
    assert!(tick.events.is_empty(), "no second friend_request event");
    sim.friend_accept(&bee, ant.id).expect("accept");
    assert_eq!(
        code_of(sim.friend_request(&ant, bee.id)),
        ErrorCode::Conflict
    );
    assert_eq!(
        code_of(sim.friend_request(&bee, ant.id)),
        ErrorCode::Conflict
    );

    // BLOCKED, whichever side blocked.
    sim.block(&cat, ant.id).expect("block");
    assert_eq!(
        code_of(sim.friend_request(&ant, cat.id)),
        ErrorCode::Blocked
    );
    assert_eq!(
        code_of(sim.friend_request(&cat, ant.id)),
        ErrorCode::Blocked
    );
    sim.unblock(&ant, cat.id).expect("a no-op unblock is fine");
    assert_eq!(
        code_of(sim.friend_request(&ant, cat.id)),
        ErrorCode::Blocked,
        "only the blocker can lift a block"
    );
    // NOT_FOUND comes before everything else.
    assert_eq!(
        code_of(sim.friend_request(&cat, PlayerId(404))),
        ErrorCode::NotFound
    );
    sim.unblock(&cat, ant.id).expect("unblock");
    sim.friend_request(&ant, cat.id)
        .expect("requests work again");
    assert_eq!(sim.friends(&cat).incoming.len(), 1);

    // friend_accept without a pending request.
    assert_eq!(
        code_of(sim.friend_accept(&ant, cat.id)),
        ErrorCode::NotFound,
        "wrong way round"
    );
    assert_eq!(
        code_of(sim.friend_accept(&ant, PlayerId(404))),
        ErrorCode::NotFound
    );
}

#[test]
fn friends_max_caps_requests_and_accepts_on_both_sides() {
    let mut sim = Sim::with_env(&[("CANOPY_FRIENDS__MAX", "2")]);
    let [ant, bee, cat, dog, eel, fox] =
        players(&mut sim, ["ant", "bee", "cat", "dog", "eel", "fox"]);
    sim.friend_request(&dog, ant.id)
        .expect("asked while ant had room");
    sim.friend_request(&fox, ant.id)
        .expect("asked while ant had room");
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);

    assert_eq!(
        code_of(sim.friend_request(&ant, eel.id)),
        ErrorCode::LimitReached,
        "the caller has friends.max friends"
    );
    assert_eq!(
        code_of(sim.friend_request(&eel, ant.id)),
        ErrorCode::LimitReached,
        "the addressee has friends.max friends"
    );
    assert_eq!(
        code_of(sim.friend_accept(&ant, dog.id)),
        ErrorCode::LimitReached
    );
    assert_eq!(
        code_of(sim.friend_request(&ant, dog.id)),
        ErrorCode::LimitReached,
        "answering a request with a request is an accept, and is capped too"
    );
    assert_eq!(
        code_of(sim.friend_request(&ant, bee.id)),
        ErrorCode::Conflict,
        "CONFLICT comes before LIMIT_REACHED"
    );
    sim.block(&eel, ant.id).expect("block");
    assert_eq!(
        code_of(sim.friend_request(&ant, eel.id)),
        ErrorCode::Blocked,
        "BLOCKED comes before LIMIT_REACHED"
    );
    assert_eq!(
        ids(&[&dog, &fox]),
        sim.friends(&ant)
            .incoming
            .iter()
            .map(|r| r.player_id)
            .collect::<Vec<_>>(),
        "refused accepts leave the requests pending"
    );

    sim.unfriend(&ant, cat.id).expect("unfriend");
    sim.friend_accept(&ant, dog.id).expect("a place is free");
    assert_eq!(
        code_of(sim.friend_accept(&ant, fox.id)),
        ErrorCode::LimitReached
    );
    let friends: Vec<PlayerId> = sim
        .friends(&ant)
        .friends
        .iter()
        .map(|f| f.player_id)
        .collect();
    assert_eq!(friends, ids(&[&bee, &dog]));
    assert_eq!(sim.friends(&dog).friends.len(), 1);
}

#[test]
fn a_request_to_someone_who_already_asked_you_accepts_their_request() {
    let mut sim = Sim::new();
    let [ant, bee] = players(&mut sim, ["ant", "bee"]);
    sim.friend_request(&ant, bee.id).expect("ant asks");
    let answered = sim.submit(bee.session, Request::FriendRequest { player_id: ant.id });
    let tick = sim.tick();
    tick.result::<Empty>(answered).expect("bee asks back");
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::FriendAdded { player_id: bee.id }],
        "no friend_request for ant: they are friends at once"
    );
    assert_eq!(
        tick.events_for(bee.id),
        vec![&Event::FriendAdded { player_id: ant.id }]
    );
    for me in [&ant, &bee] {
        let list = sim.friends(me);
        assert_eq!(list.friends.len(), 1);
        assert!(list.incoming.is_empty() && list.outgoing.is_empty());
    }
}

#[test]
fn a_declined_request_is_gone_and_may_be_sent_again() {
    let mut sim = Sim::new();
    let [ant, bee] = players(&mut sim, ["ant", "bee"]);
    sim.friend_request(&ant, bee.id).expect("ask");
    let declined = sim.submit(bee.session, Request::FriendDecline { player_id: ant.id });
    let tick = sim.tick();
    tick.result::<Empty>(declined).expect("decline");
    assert!(tick.events.is_empty(), "a decline is silent");
    assert!(sim.friends(&bee).incoming.is_empty());
    assert!(sim.friends(&ant).outgoing.is_empty());
    assert_eq!(
        code_of(sim.friend_accept(&bee, ant.id)),
        ErrorCode::NotFound
    );
    sim.friend_decline(&bee, ant.id)
        .expect("declining nothing is fine");
    sim.friend_decline(&bee, PlayerId(404))
        .expect("declining nobody is fine");
    sim.friend_request(&ant, bee.id)
        .expect("asking again is no conflict");
    sim.friend_accept(&bee, ant.id)
        .expect("and this one is accepted");
    assert_eq!(sim.friends(&ant).friends.len(), 1);
}

#[test]
fn pending_requests_expire_after_seven_days() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.friend_request(&ant, bee.id).expect("ask");
    sim.advance(HOUR);
    sim.friend_request(&cat, bee.id).expect("ask an hour later");

    sim.advance_to(START + 7 * DAY - 1);
    assert_eq!(sim.friends(&bee).incoming.len(), 2, "still pending");
    assert_eq!(
        code_of(sim.friend_request(&ant, bee.id)),
        ErrorCode::Conflict
    );

    sim.advance(1);
    let bees = sim.friends(&bee);
    assert_eq!(
        bees.incoming
            .iter()
            .map(|r| r.player_id)
            .collect::<Vec<_>>(),
        vec![cat.id],
        "ant's request is 7 days old; cat's is not yet"
    );
    assert!(sim.friends(&ant).outgoing.is_empty());
    assert_eq!(
        code_of(sim.friend_accept(&bee, ant.id)),
        ErrorCode::NotFound
    );

    // Asking back does not revive the expired request: it is a new request.
    let asked = sim.submit(bee.session, Request::FriendRequest { player_id: ant.id });
    let tick = sim.tick();
    tick.result::<Empty>(asked).expect("a fresh request");
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::FriendRequest {
            from: bee.id,
            name: "bee".into()
        }]
    );
    assert!(sim.friends(&ant).friends.is_empty());
    sim.advance_to(START + 7 * DAY + HOUR);
    assert_eq!(
        code_of(sim.friend_accept(&bee, cat.id)),
        ErrorCode::NotFound,
        "cat's expired too"
    );
    sim.friend_accept(&ant, bee.id)
        .expect("bee's new request is live");
}

#[test]
fn blocking_ends_friendship_and_requests_both_ways_until_unblocked() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog] = players(&mut sim, ["ant", "bee", "cat", "dog"]);
    sim.befriend(&ant, &bee);
    sim.friend_request(&cat, ant.id).expect("cat asks ant");
    sim.friend_request(&ant, dog.id).expect("ant asks dog");

    let blocked = sim.submit(ant.session, Request::Block { player_id: bee.id });
    let tick = sim.tick();
    tick.result::<Empty>(blocked).expect("block a friend");
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::FriendRemoved { player_id: bee.id }]
    );
    assert_eq!(
        tick.events_for(bee.id),
        vec![&Event::FriendRemoved { player_id: ant.id }]
    );
    assert!(sim.friends(&ant).friends.is_empty());
    assert!(sim.friends(&bee).friends.is_empty());

    let blocked = sim.submit(ant.session, Request::Block { player_id: cat.id });
    let tick = sim.tick();
    tick.result::<Empty>(blocked).expect("block a requester");
    assert!(tick.events.is_empty(), "no friendship ended");
    sim.block(&ant, dog.id).expect("block an addressee");
    let ants = sim.friends(&ant);
    assert!(
        ants.incoming.is_empty() && ants.outgoing.is_empty(),
        "requests both ways dropped"
    );
    assert!(sim.friends(&cat).outgoing.is_empty());
    assert!(sim.friends(&dog).incoming.is_empty());

    sim.block(&ant, bee.id).expect("blocking twice is fine");
    assert_eq!(code_of(sim.block(&ant, PlayerId(404))), ErrorCode::NotFound);
    assert_eq!(code_of(sim.block(&ant, ant.id)), ErrorCode::BadRequest);
    for (me, other) in [(&ant, &bee), (&bee, &ant), (&cat, &ant), (&ant, &dog)] {
        assert_eq!(
            code_of(sim.friend_request(me, other.id)),
            ErrorCode::Blocked
        );
    }

    sim.unblock(&ant, bee.id).expect("unblock");
    sim.unblock(&ant, bee.id).expect("unblocking twice is fine");
    sim.unblock(&ant, PlayerId(404))
        .expect("unblocking nobody is fine");
    assert!(
        sim.friends(&ant).friends.is_empty(),
        "an unblock does not restore a friendship"
    );
    sim.friend_request(&bee, ant.id)
        .expect("requests work again");
    assert_eq!(
        code_of(sim.friend_request(&cat, ant.id)),
        ErrorCode::Blocked,
        "cat is still blocked"
    );
}

#[test]
fn suggestions_rank_friends_of_friends_by_mutual_count_without_friends_blocks_or_requests() {
    let mut sim = Sim::new();
    let [me, b, c, d, e, f, g, h, x, y, p, q, lone] = players(
        &mut sim,
        [
            "me", "b", "c", "d", "e", "f", "g", "h", "x", "y", "p", "q", "lone",
        ],
    );
    // My friends b, c, d (b and c are also friends: neither is suggested).
    for friend in [&b, &c, &d] {
        sim.befriend(&me, friend);
    }
    sim.befriend(&b, &c);
    // Friends of friends: e has 3 mutual friends, f 2, g and h 1.
    for (a, z) in [
        (&b, &e),
        (&c, &e),
        (&d, &e),
        (&b, &f),
        (&d, &f),
        (&c, &g),
        (&d, &h),
    ] {
        sim.befriend(a, z);
    }
    // Left out: x (I blocked them), y (blocked me), p (I asked), q (asked me). All of
    // them have 3 mutual friends, more than anyone suggested.
    for outcast in [&x, &y, &p, &q] {
        for friend in [&b, &c, &d] {
            sim.befriend(friend, outcast);
        }
    }
    sim.block(&me, x.id).expect("block");
    sim.block(&y, me.id).expect("block");
    sim.friend_request(&me, p.id).expect("request");
    sim.friend_request(&q, me.id).expect("request");

    let suggestion = |player: &Player, name: &str, mutual| Suggestion {
        player_id: player.id,
        name: name.into(),
        mutual,
    };
    let all = vec![
        suggestion(&e, "e", 3),
        suggestion(&f, "f", 2),
        suggestion(&g, "g", 1),
        suggestion(&h, "h", 1),
    ];
    assert_eq!(
        sim.suggestions(&me, None)
            .expect("default limit")
            .suggestions,
        all
    );
    assert_eq!(
        sim.suggestions(&me, Some(50))
            .expect("limit 50")
            .suggestions,
        all
    );
    assert_eq!(
        sim.suggestions(&me, Some(2)).expect("limit 2").suggestions,
        all[..2].to_vec()
    );
    for limit in [0, 51, u32::MAX] {
        assert_eq!(
            code_of(sim.suggestions(&me, Some(limit))),
            ErrorCode::BadRequest,
            "limit {limit}"
        );
    }
    assert!(
        sim.suggestions(&lone, None)
            .expect("no friends")
            .suggestions
            .is_empty()
    );

    // Once the requests expire, p and q are suggested again.
    sim.advance(7 * DAY);
    let ranked: Vec<PlayerId> = sim
        .suggestions(&me, None)
        .expect("suggestions")
        .suggestions
        .iter()
        .map(|s| s.player_id)
        .collect();
    assert_eq!(ranked, ids(&[&e, &p, &q, &f, &g, &h]), "ties ranked by id");
}

// ---------------------------------------------------------------------------------------
// Stealing: every error code of `steal`, in the order PROTOCOL.md lists them
// ---------------------------------------------------------------------------------------

#[test]
fn only_friends_may_steal_not_strangers_yourself_former_or_blocked_friends() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog, eel] = players(&mut sim, ["ant", "bee", "cat", "dog", "eel"]);
    let ball = walk_ball(&mut sim, &ant, 5_000);
    for friend in [&bee, &dog, &eel] {
        sim.befriend(&ant, friend);
    }
    next_morning(&mut sim);
    sim.unfriend(&bee, ant.id).expect("unfriend");
    sim.block(&dog, ant.id).expect("dog blocks ant");
    sim.block(&ant, eel.id).expect("ant blocks eel");

    let attempts = [
        (&cat, ant.id, ball, "a stranger"),
        (&cat, ant.id, BallId(999), "a stranger, before NOT_FOUND"),
        (&ant, ant.id, ball, "the owner"),
        (&bee, ant.id, ball, "after an unfriend"),
        (&dog, ant.id, ball, "after blocking the owner"),
        (&eel, ant.id, ball, "after being blocked"),
    ];
    for (thief, owner, ball_id, who) in attempts {
        assert_eq!(
            code_of(sim.steal(thief, owner, ball_id)),
            ErrorCode::NotFriends,
            "{who}"
        );
    }
    let untouched = sim.ball(ball).expect("live");
    assert_eq!((untouched.left, untouched.stolen), (100, 0));
    assert_eq!(sim.game.totals().stolen, 0);
    sim.assert_conserved();
}

#[test]
fn steal_refuses_unknown_foreign_ended_and_unripe_balls() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&bee, &cat);
    let walk = walk_ball(&mut sim, &ant, 5_000);
    let metro = partner_ball(&mut sim, &ant, "metro");
    let cats = walk_ball(&mut sim, &cat, 5_000);
    next_morning(&mut sim);
    let unripe = partner_ball(&mut sim, &ant, "bus");

    for unknown in [BallId(0), BallId(999)] {
        assert_eq!(
            code_of(sim.steal(&bee, ant.id, unknown)),
            ErrorCode::NotFound
        );
    }
    assert_eq!(
        code_of(sim.steal(&bee, ant.id, cats)),
        ErrorCode::NotFound,
        "a ball of another player (here a friend of the thief too) under ant's id"
    );
    assert_eq!(code_of(sim.steal(&bee, ant.id, unripe)), ErrorCode::NotRipe);
    sim.collect(&ant, walk).expect("ant picks the walk ball");
    assert_eq!(
        code_of(sim.steal(&bee, ant.id, walk)),
        ErrorCode::Gone,
        "collected"
    );
    let expires_at = sim.ball(metro).expect("live").expires_at;
    sim.advance_to(expires_at);
    assert_eq!(
        code_of(sim.steal(&bee, ant.id, metro)),
        ErrorCode::Gone,
        "expired"
    );
    assert_eq!(
        code_of(sim.steal(&bee, cat.id, cats)),
        ErrorCode::Gone,
        "cat's ball expired at the same moment"
    );
    assert_eq!(sim.game.totals().stolen, 0);
    sim.assert_conserved();
}

#[test]
fn a_protection_cover_refuses_thieves_and_tells_the_owner_who_tried() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog] = players(&mut sim, ["ant", "bee", "cat", "dog"]);
    for friend in [&bee, &cat] {
        sim.befriend(&ant, friend);
    }
    let ball = walk_ball(&mut sim, &ant, 5_000);
    next_morning(&mut sim);
    let unripe = partner_ball(&mut sim, &ant, "metro");
    let first = sim.steal(&bee, ant.id, ball).expect("no cover yet").grams;

    sim.grant(ant.id, PropKind::ProtectionCover, 1);
    sim.use_prop(&ant, PropKind::ProtectionCover).expect("held");
    let until = sim.now() + 24 * HOUR;
    let friend_view = sim.friends(&bee).friends[0].clone();
    assert_eq!(
        (friend_view.protected_until, friend_view.stealable_grams),
        (Some(until), 0)
    );
    let balls = sim.friend_balls(&cat, ant.id).expect("friends").balls;
    assert!(
        balls.iter().all(|b| b.stealable == 0),
        "nothing stealable under a cover"
    );

    // PROTECTED, even for a thief who already hit the ball (ALREADY_STOLEN comes later).
    for thief in [&cat, &bee] {
        let attempt = sim.submit(
            thief.session,
            Request::Steal {
                friend_id: ant.id,
                ball_id: ball,
            },
        );
        let tick = sim.tick();
        assert_eq!(tick.code(attempt), ErrorCode::Protected);
        assert_eq!(
            tick.events_for(ant.id),
            vec![&Event::ProtectedBlock { by: Some(thief.id) }],
            "the owner learns who tried"
        );
        assert_eq!(
            newest_feed_entry(&mut sim, &ant),
            FeedEntry {
                time: sim.now(),
                kind: FeedKind::ProtectedBlock,
                actor: Some(thief.id),
                target: Some(ant.id),
                grams: 0
            }
        );
    }

    // Under stealth the owner's event and feed entry do not name the thief.
    sim.grant(cat.id, PropKind::Stealth, 1);
    sim.use_prop(&cat, PropKind::Stealth).expect("held");
    let attempt = sim.submit(
        cat.session,
        Request::Steal {
            friend_id: ant.id,
            ball_id: ball,
        },
    );
    let tick = sim.tick();
    assert_eq!(tick.code(attempt), ErrorCode::Protected);
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::ProtectedBlock { by: None }]
    );
    let entry = newest_feed_entry(&mut sim, &ant);
    assert_eq!((entry.kind, entry.actor), (FeedKind::ProtectedBlock, None));

    // Earlier codes win over PROTECTED, and then there is no protected_block.
    for (thief, ball_id, code) in [
        (&dog, ball, ErrorCode::NotFriends),
        (&bee, BallId(999), ErrorCode::NotFound),
        (&bee, unripe, ErrorCode::NotRipe),
    ] {
        let attempt = sim.submit(
            thief.session,
            Request::Steal {
                friend_id: ant.id,
                ball_id,
            },
        );
        let tick = sim.tick();
        assert_eq!(tick.code(attempt), code);
        assert!(
            tick.events_for(ant.id).is_empty(),
            "{code:?} sends no protected_block"
        );
    }
    let after = sim.ball(ball).expect("live");
    assert_eq!(
        (after.stolen, after.left),
        (first, 100 - first),
        "the cover held"
    );

    // When the cover ends, stealing works again.
    sim.advance_to(until);
    assert_eq!(sim.friends(&cat).friends[0].protected_until, None);
    sim.steal(&cat, ant.id, ball).expect("the cover is over");
    sim.assert_conserved();
}

#[test]
fn a_thief_hits_a_ball_once_or_twice_with_a_double_click_card() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    for friend in [&bee, &cat] {
        sim.befriend(&ant, friend);
    }
    let ball = walk_ball(&mut sim, &ant, 14_800);
    next_morning(&mut sim);

    sim.steal(&bee, ant.id, ball).expect("first hit");
    assert_eq!(
        code_of(sim.steal(&bee, ant.id, ball)),
        ErrorCode::AlreadyStolen
    );
    let view = &sim.friend_balls(&bee, ant.id).expect("friends").balls[0];
    assert_eq!(view.stealable, 0, "nothing more for bee");
    assert!(sim.friend_balls(&cat, ant.id).expect("friends").balls[0].stealable > 0);

    sim.grant(cat.id, PropKind::DoubleClick, 1);
    sim.use_prop(&cat, PropKind::DoubleClick).expect("held");
    sim.steal(&cat, ant.id, ball).expect("first hit");
    sim.steal(&cat, ant.id, ball)
        .expect("second hit with a double-click card");
    assert_eq!(
        code_of(sim.steal(&cat, ant.id, ball)),
        ErrorCode::AlreadyStolen
    );

    // The card lasts 24 h; an earlier second hit stays counted, a new card does not
    // give a third.
    sim.grant(bee.id, PropKind::DoubleClick, 1);
    sim.use_prop(&bee, PropKind::DoubleClick).expect("held");
    sim.steal(&bee, ant.id, ball)
        .expect("bee's second hit, now allowed");
    assert_eq!(
        code_of(sim.steal(&bee, ant.id, ball)),
        ErrorCode::AlreadyStolen
    );
    let thieves = sim.ball(ball).expect("live").thieves;
    assert_eq!(thieves, vec![(bee.id, 2), (cat.id, 2)]);
    sim.assert_conserved();
}

/// Steals from `ball` of `owner` with every thief in turn, as often as each may, until
/// every attempt is refused; checks each hit against GAME.md and returns the refusals.
fn steal_until_refused(
    sim: &mut Sim,
    owner: &Player,
    ball: BallId,
    thieves: &[Player],
) -> Vec<ErrorCode> {
    let full = sim.ball(ball).expect("live").full;
    let thieves_share = tenths(full, 7);
    let mut refusals = Vec::new();
    for _round in 0..2 {
        for thief in thieves {
            let before = sim.ball(ball).expect("a ball keeps its owner's share");
            let stealable = thieves_share - before.stolen;
            let balance = sim.energy(thief.id);
            let attempt = sim.submit(
                thief.session,
                Request::Steal {
                    friend_id: owner.id,
                    ball_id: ball,
                },
            );
            let tick = sim.tick();
            match tick.result::<canopy_shared::reply::GramsEnergyResult>(attempt) {
                Ok(hit) => {
                    let grams = hit.grams;
                    assert!(
                        grams >= 1 && grams <= stealable,
                        "{grams} g of {stealable} g"
                    );
                    assert!(
                        grams <= tenths(full, 3).max(1),
                        "{grams} g of a {full} g ball"
                    );
                    if grams < stealable {
                        assert!(
                            grams >= tenths(full, 1).max(1),
                            "an uncapped hit takes at least 10 %: {grams} g of {full} g"
                        );
                    }
                    assert_eq!(hit.energy, balance + grams);
                    assert_eq!(
                        tick.events_for(owner.id),
                        vec![&Event::EnergyStolen {
                            by: Some(thief.id),
                            ball_id: ball,
                            grams
                        }]
                    );
                    let after = sim.ball(ball).expect("live");
                    assert_eq!(
                        (after.stolen, after.left),
                        (before.stolen + grams, before.left - grams)
                    );
                }
                Err(error) => refusals.push(error.code),
            }
        }
    }
    refusals
}

#[test]
fn the_owner_always_keeps_30_percent_of_a_ball() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog, eel, fox, gnu, hen, ibis] = players(
        &mut sim,
        [
            "ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis",
        ],
    );
    let owners = [&ant, &bee, &cat, &dog, &eel];
    // Four thieves with double-click cards: eight hits of at least 10 % pass 70 %.
    let thieves = [fox.clone(), gnu.clone(), hen.clone(), ibis.clone()];
    // 90 g and 100 g: 70 % is a whole number that floating point can miss (90 · 0.7 =
    // 62.99999...); 296 g the walk cap; 7 g and 1 g small balls (1 g: nothing to steal).
    let steps = [4_500, 5_000, 14_800, 350, 50];
    let balls: Vec<BallId> = owners
        .iter()
        .zip(steps)
        .map(|(owner, steps)| walk_ball(&mut sim, owner, steps))
        .collect();
    for owner in owners {
        for thief in &thieves {
            sim.befriend(owner, thief);
        }
    }
    next_morning(&mut sim);
    for thief in &thieves {
        sim.grant(thief.id, PropKind::DoubleClick, 1);
        sim.use_prop(thief, PropKind::DoubleClick).expect("held");
    }

    for (owner, ball) in owners.iter().zip(&balls) {
        let full = sim.ball(*ball).expect("live").full;
        let refusals = steal_until_refused(&mut sim, owner, *ball, &thieves);
        let after = sim.ball(*ball).expect("the owner's share stays");
        assert_eq!(
            after.stolen,
            tenths(full, 7),
            "thieves take exactly 70 % of {full} g, rounded down"
        );
        assert_eq!(after.left, full - tenths(full, 7));
        assert!(
            !refusals.is_empty(),
            "eight hits of at least 10 % take 70 %"
        );
        assert!(refusals.iter().all(|&code| code == ErrorCode::NothingLeft));
        let seen = sim.friend_balls(&fox, owner.id).expect("friends").balls;
        assert_eq!(seen[0].stealable, 0);
        // A thief who already used their hits hears ALREADY_STOLEN, which comes first.
        let used_up = after.thieves.iter().find(|&&(_, hits)| hits == 2);
        if let Some(&(thief, _)) = used_up {
            let thief = thieves.iter().find(|t| t.id == thief).expect("a thief");
            assert_eq!(
                code_of(sim.steal(thief, owner.id, *ball)),
                ErrorCode::AlreadyStolen
            );
        }
    }
    // The owner collects what is left: 30 % (rounded up) of each ball.
    assert_eq!(sim.collect_all(&ant).grams, 90 - 63);
    assert_eq!(sim.collect_all(&cat).grams, 296 - 207);
    assert_eq!(sim.collect_all(&eel).grams, 1);
    sim.assert_conserved();
}

#[test]
fn each_hit_takes_a_uniform_share_between_10_and_30_percent() {
    let mut sim = Sim::with_env(&[("CANOPY_STEAL__DAILY_CAP_GRAMS", "1000000")]);
    let [thief] = players(&mut sim, ["thief"]);
    let mut hits = Vec::new();
    let owners: Vec<Player> = (0..25)
        .map(|n| sim.register(&format!("owner{n}")))
        .collect();
    let balls: Vec<BallId> = owners
        .iter()
        .map(|owner| {
            sim.befriend(owner, &thief);
            walk_ball(&mut sim, owner, 14_800)
        })
        .collect();
    next_morning(&mut sim);
    sim.grant(thief.id, PropKind::DoubleClick, 1);
    sim.use_prop(&thief, PropKind::DoubleClick).expect("held");
    for (owner, ball) in owners.iter().zip(&balls) {
        for _ in 0..2 {
            hits.push(sim.steal(&thief, owner.id, *ball).expect("two hits").grams);
        }
    }
    // A 296 g ball: each hit in [29, 88] (two hits take at most 176 g < 207 g).
    assert!(hits.iter().all(|g| (29..=88).contains(g)), "{hits:?}");
    let (low, high) = (
        hits.iter().min().expect("hits"),
        hits.iter().max().expect("hits"),
    );
    assert!(
        *low <= 40 && *high >= 77,
        "50 hits spread over the range: {hits:?}"
    );
    let mean = hits.iter().sum::<u64>() as f64 / hits.len() as f64;
    assert!(
        (50.0..=68.0).contains(&mean),
        "about 20 % of 296 g on average: {mean}"
    );
    sim.assert_conserved();
}

#[test]
fn water_balls_cannot_be_stolen() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    sim.fund(&bee, 100);
    let water = sim.water(&bee, ant.id, 66).expect("water").ball_id;
    let seen = sim.friend_balls(&cat, ant.id).expect("friends").balls;
    assert_eq!((seen[0].ball_id, seen[0].stealable), (water, 0));
    assert_eq!(sim.friends(&cat).friends[0].stealable_grams, 0);
    assert_eq!(
        code_of(sim.steal(&cat, ant.id, water)),
        ErrorCode::NothingLeft
    );
    assert_eq!(
        code_of(sim.steal(&bee, ant.id, water)),
        ErrorCode::NothingLeft,
        "not even the giver"
    );
    assert_eq!(sim.ball(water).expect("live").left, 66);
    sim.assert_conserved();
}

#[test]
fn energy_stolen_tells_the_owner_who_stole_unless_stealth_hides_them() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    let ball = walk_ball(&mut sim, &ant, 14_800);
    next_morning(&mut sim);

    let attempt = sim.submit(
        bee.session,
        Request::Steal {
            friend_id: ant.id,
            ball_id: ball,
        },
    );
    let tick = sim.tick();
    let grams = tick
        .result::<canopy_shared::reply::GramsEnergyResult>(attempt)
        .expect("steal")
        .grams;
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::EnergyStolen {
            by: Some(bee.id),
            ball_id: ball,
            grams
        }]
    );
    assert!(
        !tick
            .events
            .iter()
            .any(|(to, e)| *to != ant.id.into() && matches!(e, Event::EnergyStolen { .. })),
        "only the owner hears of it"
    );
    assert_eq!(
        newest_feed_entry(&mut sim, &ant),
        FeedEntry {
            time: sim.now(),
            kind: FeedKind::Stolen,
            actor: Some(bee.id),
            target: Some(ant.id),
            grams
        }
    );

    sim.grant(cat.id, PropKind::Stealth, 1);
    sim.use_prop(&cat, PropKind::Stealth).expect("held");
    let attempt = sim.submit(
        cat.session,
        Request::Steal {
            friend_id: ant.id,
            ball_id: ball,
        },
    );
    let tick = sim.tick();
    let grams = tick
        .result::<canopy_shared::reply::GramsEnergyResult>(attempt)
        .expect("steal")
        .grams;
    assert_eq!(
        tick.events_for(ant.id),
        vec![&Event::EnergyStolen {
            by: None,
            ball_id: ball,
            grams
        }]
    );
    let entry = newest_feed_entry(&mut sim, &ant);
    assert_eq!(
        (entry.kind, entry.actor, entry.grams),
        (FeedKind::Stolen, None, grams)
    );
    let me = sim.me(&cat).player;
    assert_eq!(
        (me.energy, me.total_collected),
        (grams, grams),
        "stolen grams count as collected for the thief"
    );
    sim.assert_conserved();
}

/// Three owners with every daily and monthly partner kind to its cap: about 4,700 g of
/// balls each, ripe the next morning.
fn rich_owners(sim: &mut Sim, owners: &[&Player]) -> Vec<(PlayerId, BallId)> {
    let mut balls = Vec::new();
    for owner in owners {
        for (kind, times) in [
            ("hospital_booking", 5),
            ("utility_bill", 10),
            ("online_ticket", 10),
            ("train_ticket", 10),
            ("bus", 5),
            ("metro", 5),
        ] {
            sim.partner_many(owner.id, kind, times);
        }
        balls.extend(sim.me(owner).balls.iter().map(|b| (owner.id, b.ball_id)));
    }
    balls
}

#[test]
fn a_thief_steals_at_most_1500_grams_a_game_day() {
    let mut sim = Sim::new();
    let [bee, ant, cat, dog] = players(&mut sim, ["bee", "ant", "cat", "dog"]);
    for owner in [&ant, &cat, &dog] {
        sim.befriend(&bee, owner);
    }
    let balls = rich_owners(&mut sim, &[&ant, &cat, &dog]);
    next_morning(&mut sim);

    let mut stolen = 0;
    let mut hit = Vec::new();
    let mut fresh = Vec::new();
    for &(owner, ball) in &balls {
        match sim.steal(&bee, owner, ball) {
            Ok(result) => {
                stolen += result.grams;
                hit.push((owner, ball));
            }
            Err(error) => {
                assert_eq!(error.code, ErrorCode::LimitReached, "after {stolen} g");
                fresh.push((owner, ball));
            }
        }
    }
    assert_eq!(stolen, 1_500, "the last hit is cut to what the cap allows");
    assert!(
        !fresh.is_empty(),
        "the cap was reached before the balls ran out"
    );
    assert_eq!(sim.me(&bee).player.energy, 1_500);
    // Earlier codes still come first at the cap.
    let (owner, ball) = hit[0];
    assert_eq!(
        code_of(sim.steal(&bee, owner, ball)),
        ErrorCode::AlreadyStolen
    );
    // `friend_balls` and `friends` do not apply the daily cap (docs/PROTOCOL.md).
    assert!(
        sim.friends(&bee)
            .friends
            .iter()
            .any(|f| f.stealable_grams > 0)
    );

    // 23:59:59.999 is still today; at midnight game-local the cap resets.
    sim.advance_to(local(2, 0, 0) - 1);
    let (owner, ball) = fresh[0];
    assert_eq!(
        code_of(sim.steal(&bee, owner, ball)),
        ErrorCode::LimitReached
    );
    sim.advance(1);
    let mut today = 0;
    for &(owner, ball) in &fresh {
        match sim.steal(&bee, owner, ball) {
            Ok(result) => today += result.grams,
            Err(error) => assert_eq!(error.code, ErrorCode::LimitReached),
        }
    }
    assert!(
        today > 0 && today <= 1_500,
        "a new day's allowance: {today} g"
    );
    sim.assert_conserved();
    support::audit_limits(&sim.game, &sim.store).expect("caps hold");
}

#[test]
fn a_configured_small_daily_cap_cuts_the_last_hit() {
    let mut sim = Sim::with_env(&[("CANOPY_STEAL__DAILY_CAP_GRAMS", "40")]);
    let [bee] = players(&mut sim, ["bee"]);
    // 100 g balls give 10–30 g a hit: two to four hits reach 40 g, the last one cut.
    let balls: Vec<(PlayerId, BallId)> = (0..5)
        .map(|n| {
            let owner = sim.register(&format!("owner{n}"));
            sim.befriend(&bee, &owner);
            (owner.id, walk_ball(&mut sim, &owner, 5_000))
        })
        .collect();
    next_morning(&mut sim);
    let mut taken = 0;
    let mut last_cut = None;
    for &(owner, ball) in &balls {
        match sim.steal(&bee, owner, ball) {
            Ok(hit) => {
                taken += hit.grams;
                if hit.grams < 10 {
                    last_cut = Some(ball);
                }
            }
            Err(error) => {
                assert_eq!(error.code, ErrorCode::LimitReached, "after {taken} g");
                assert_eq!(taken, 40, "the cap is reached exactly");
            }
        }
    }
    assert_eq!(taken, 40);
    if let Some(ball) = last_cut {
        assert!(
            sim.ball(ball).expect("live").stolen < 10,
            "cut below 10 % by the cap"
        );
    }
    assert_eq!(sim.me(&bee).player.energy, 40);
    sim.assert_conserved();
}

#[test]
fn friend_stealable_is_one_frame_per_changed_friend_per_batch_to_friends_list_watchers() {
    let mut sim = Sim::new();
    let [ant, eel, bee, cat, dog, fox] =
        players(&mut sim, ["ant", "eel", "bee", "cat", "dog", "fox"]);
    for friend in [&bee, &cat, &fox] {
        sim.befriend(&ant, friend);
    }
    sim.befriend(&eel, &bee);
    let walk = walk_ball(&mut sim, &ant, 5_000); // 100 g: 70 g stealable
    let metro = partner_ball(&mut sim, &ant, "metro"); // 52 g: 36 g stealable
    walk_ball(&mut sim, &eel, 4_000); // 80 g: 56 g stealable
    for watcher in [&ant, &eel, &bee, &cat, &dog, &fox] {
        sim.watch(watcher, None)
            .expect("anyone may watch their friends list");
    }
    sim.disconnect(&cat);

    // Ant's two balls and eel's ball ripen in one tick: each watching session gets one
    // frame per friend whose balls changed, with the sum over that friend's balls.
    let ripening = next_morning(&mut sim);
    assert_eq!(
        ripening.events_to(bee.session),
        vec![
            &Event::FriendStealable {
                friend_id: ant.id,
                grams: 70 + 36
            },
            &Event::FriendStealable {
                friend_id: eel.id,
                grams: 56
            },
        ],
        "one frame per friend, in id order"
    );
    assert_eq!(stealable_events(&ripening, &fox), vec![(ant.id, 106)]);
    assert!(ripening.events_to(cat.session).is_empty(), "cat is offline");
    assert!(
        stealable_events(&ripening, &dog).is_empty(),
        "dog is nobody's friend"
    );
    assert!(
        stealable_events(&ripening, &ant).is_empty(),
        "not about oneself"
    );
    assert!(stealable_events(&ripening, &eel).is_empty());

    // Two steals from ant's balls in one tick: still one event per friend, with what
    // that friend could take after both.
    let steals = [
        sim.submit(
            bee.session,
            Request::Steal {
                friend_id: ant.id,
                ball_id: walk,
            },
        ),
        sim.submit(
            fox.session,
            Request::Steal {
                friend_id: ant.id,
                ball_id: metro,
            },
        ),
    ];
    let tick = sim.tick();
    let taken: Vec<u64> = steals
        .iter()
        .map(|&id| {
            tick.result::<canopy_shared::reply::GramsEnergyResult>(id)
                .expect("steal")
                .grams
        })
        .collect();
    let (walk_left, metro_left) = (70 - taken[0], 36 - taken[1]);
    assert_eq!(stealable_events(&tick, &bee), vec![(ant.id, metro_left)]);
    assert_eq!(stealable_events(&tick, &fox), vec![(ant.id, walk_left)]);
    assert!(tick.events_to(cat.session).is_empty());
    for (friend, grams) in [(&bee, metro_left), (&fox, walk_left)] {
        let listed = sim.friends(friend).friends;
        let ants = listed.iter().find(|f| f.player_id == ant.id).expect("ant");
        assert_eq!(
            ants.stealable_grams, grams,
            "the event agrees with `friends`"
        );
    }

    // Back online, cat hears of the next change once its new session watches: ant
    // picks the metro ball.
    let cat = sim.login(&cat);
    sim.watch(&cat, None).expect("watch");
    let picked = sim.submit(ant.session, Request::Collect { ball_id: metro });
    let tick = sim.tick();
    tick.result::<serde_json::Value>(picked).expect("collect");
    assert_eq!(stealable_events(&tick, &cat), vec![(ant.id, walk_left)]);
    assert_eq!(stealable_events(&tick, &bee), vec![(ant.id, 0)]);

    // A protection cover makes it 0 for everyone.
    sim.grant(ant.id, PropKind::ProtectionCover, 1);
    let covered = sim.submit(
        ant.session,
        Request::UseProp {
            prop: PropKind::ProtectionCover,
        },
    );
    let tick = sim.tick();
    tick.result::<serde_json::Value>(covered).expect("cover");
    for friend in [&bee, &cat, &fox] {
        assert_eq!(stealable_events(&tick, friend), vec![(ant.id, 0)]);
    }

    // After `unwatch`, nothing more.
    sim.unwatch(&bee, WatchTarget::Friends, None)
        .expect("unwatch");
    let picked = sim.submit(ant.session, Request::Collect { ball_id: walk });
    let tick = sim.tick();
    tick.result::<serde_json::Value>(picked).expect("collect");
    assert!(
        tick.events_to(bee.session).is_empty(),
        "bee stopped watching"
    );
    assert_eq!(stealable_events(&tick, &fox), vec![(ant.id, 0)]);
    sim.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// help_collect
// ---------------------------------------------------------------------------------------

#[test]
fn help_collect_picks_a_friends_ball_for_its_owner() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog] = players(&mut sim, ["ant", "bee", "cat", "dog"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &dog);
    let ball = walk_ball(&mut sim, &ant, 5_000);
    let dogs = walk_ball(&mut sim, &dog, 5_000);

    // NOT_FRIENDS, NOT_FOUND, NOT_RIPE, in that order.
    for (helper, owner, ball_id, code) in [
        (&cat, ant.id, ball, ErrorCode::NotFriends),
        (&cat, ant.id, BallId(999), ErrorCode::NotFriends),
        (&ant, ant.id, ball, ErrorCode::NotFriends),
        (&bee, ant.id, BallId(999), ErrorCode::NotFound),
        (&bee, ant.id, dogs, ErrorCode::NotFound),
        (&bee, ant.id, ball, ErrorCode::NotRipe),
    ] {
        assert_eq!(code_of(sim.help_collect(helper, owner, ball_id)), code);
    }

    next_morning(&mut sim);
    let stolen = sim.steal(&dog, ant.id, ball).expect("steal").grams;
    let left = 100 - stolen;
    let helped = sim.submit(
        bee.session,
        Request::HelpCollect {
            friend_id: ant.id,
            ball_id: ball,
        },
    );
    let tick = sim.tick();
    let result: canopy_shared::reply::HelpCollectResult = tick.result(helped).expect("ripe");
    assert_eq!(result.grams, left, "what is left after the steal");
    assert_eq!(
        tick.events_for(ant.id)
            .into_iter()
            .filter(|e| matches!(e, Event::HelpCollected { .. }))
            .collect::<Vec<_>>(),
        vec![&Event::HelpCollected {
            by: bee.id,
            ball_id: ball,
            grams: left
        }]
    );
    let ants = sim.me(&ant).player;
    assert_eq!(
        (ants.energy, ants.total_collected),
        (left, left),
        "credited to the owner"
    );
    let bees = sim.me(&bee).player;
    assert_eq!(
        (bees.energy, bees.total_collected),
        (0, 0),
        "not to the helper"
    );
    assert_eq!(
        newest_feed_entry(&mut sim, &ant),
        FeedEntry {
            time: sim.now(),
            kind: FeedKind::Helped,
            actor: Some(bee.id),
            target: Some(ant.id),
            grams: left
        }
    );
    assert!(sim.feed(&bee, None, None).expect("feed").entries.is_empty());

    assert_eq!(
        code_of(sim.help_collect(&bee, ant.id, ball)),
        ErrorCode::Gone
    );
    assert_eq!(
        code_of(sim.help_collect(&dog, ant.id, ball)),
        ErrorCode::Gone
    );
    assert_eq!(code_of(sim.collect(&ant, ball)), ErrorCode::Gone);
    assert_eq!(code_of(sim.steal(&dog, ant.id, ball)), ErrorCode::Gone);
    assert_eq!(sim.game.totals().helped, left);
    sim.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Watering
// ---------------------------------------------------------------------------------------

#[test]
fn watering_takes_10_18_33_or_66_grams_and_bad_amounts_come_first() {
    let mut sim = Sim::new();
    let [ant, bee, stranger] = players(&mut sim, ["ant", "bee", "stranger"]);
    sim.befriend(&ant, &bee);
    let energy = sim.fund(&ant, 500);
    for grams in [0, 1, 9, 11, 17, 32, 65, 67, 100, u64::MAX] {
        assert_eq!(
            code_of(sim.water(&ant, bee.id, grams)),
            ErrorCode::BadRequest,
            "{grams} g"
        );
    }
    assert_eq!(
        code_of(sim.water(&ant, stranger.id, 11)),
        ErrorCode::BadRequest,
        "BAD_REQUEST wins over NOT_FRIENDS"
    );
    assert_eq!(
        code_of(sim.water(&ant, stranger.id, 10)),
        ErrorCode::NotFriends
    );
    assert_eq!(
        code_of(sim.water(&ant, ant.id, 10)),
        ErrorCode::NotFriends,
        "yourself"
    );
    assert_eq!(
        code_of(sim.water(&ant, PlayerId(404), 10)),
        ErrorCode::NotFriends
    );
    assert_eq!(
        code_of(sim.water(&stranger, ant.id, 10)),
        ErrorCode::NotFriends,
        "NOT_FRIENDS comes before INSUFFICIENT_ENERGY"
    );
    assert_eq!(sim.energy(ant.id), energy, "refusals cost nothing");
    assert!(sim.me(&bee).balls.is_empty());

    let mut left = energy;
    for grams in [10, 18, 33] {
        left -= grams;
        assert_eq!(
            sim.water(&ant, bee.id, grams).expect("allowed").energy,
            left
        );
    }
    sim.advance(DAY);
    left -= 66;
    assert_eq!(sim.water(&ant, bee.id, 66).expect("66 g").energy, left);
    let received: Vec<u64> = sim.me(&bee).balls.iter().map(|b| b.amount).collect();
    assert_eq!(received, vec![10, 18, 33, 66]);
    assert_eq!(sim.game.totals().watered, 127);
    sim.assert_conserved();
}

#[test]
fn watering_needs_the_energy_and_stops_at_three_per_friend_per_day() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog, eel, gus] =
        players(&mut sim, ["ant", "bee", "cat", "dog", "eel", "gus"]);
    for friend in [&bee, &cat, &dog, &eel] {
        sim.befriend(&ant, friend);
    }
    sim.befriend(&gus, &bee);
    assert_eq!(
        code_of(sim.water(&gus, bee.id, 10)),
        ErrorCode::InsufficientEnergy
    );
    sim.advance(HOUR);
    let energy = sim.fund(&ant, 1_000);

    for grams in [10, 18, 66] {
        sim.water(&ant, bee.id, grams)
            .expect("under the daily limit");
    }
    assert_eq!(
        code_of(sim.water(&ant, bee.id, 10)),
        ErrorCode::LimitReached,
        "a 4th time"
    );
    for friend in [&cat, &dog, &eel] {
        for _ in 0..3 {
            sim.water(&ant, friend.id, 10)
                .expect("no limit on the number of friends");
        }
    }
    assert_eq!(sim.energy(ant.id), energy - 94 - 90);

    // INSUFFICIENT_ENERGY comes before LIMIT_REACHED.
    let walk = walk_ball(&mut sim, &gus, 2_000);
    next_morning(&mut sim);
    sim.collect(&gus, walk).expect("40 g");
    for _ in 0..3 {
        sim.water(&gus, bee.id, 10).expect("gus waters bee");
    }
    assert_eq!(
        code_of(sim.water(&gus, bee.id, 18)),
        ErrorCode::InsufficientEnergy
    );
    assert_eq!(
        code_of(sim.water(&gus, bee.id, 10)),
        ErrorCode::LimitReached
    );

    // A new game day at 00:00 local resets the count.
    let day = today(&sim);
    sim.advance_to(local(day + 1, 0, 0) - 1);
    assert_eq!(
        code_of(sim.water(&gus, bee.id, 10)),
        ErrorCode::LimitReached
    );
    sim.advance(1);
    assert_eq!(sim.water(&gus, bee.id, 10).expect("a new day").energy, 0);
    for _ in 0..3 {
        sim.water(&ant, bee.id, 10)
            .expect("yesterday's count is gone");
    }
    assert_eq!(
        code_of(sim.water(&ant, bee.id, 10)),
        ErrorCode::LimitReached,
        "a 4th time today"
    );
    sim.assert_conserved();
    support::audit_limits(&sim.game, &sim.store).expect("caps hold");
}

#[test]
fn a_water_ball_is_ripe_at_once_unstealable_and_expires_72_hours_later() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&bee, &cat);
    sim.fund(&ant, 200);
    sim.advance(HOUR);
    let now = sim.now();

    let watering = sim.submit(
        ant.session,
        Request::Water {
            friend_id: bee.id,
            grams: 33,
        },
    );
    let tick = sim.tick();
    let first = tick
        .result::<canopy_shared::reply::WaterResult>(watering)
        .expect("water");
    let ball = sim.ball(first.ball_id).expect("a ball for bee");
    assert_eq!(
        (
            ball.owner,
            ball.source.as_str(),
            ball.full,
            ball.left,
            ball.stealable
        ),
        (bee.id, "water", 33, 33, false)
    );
    assert_eq!((ball.created_at, ball.ripe_at), (now, now), "ripe at once");
    assert_eq!(ball.expires_at, now + 72 * HOUR);
    let to_bee = tick.events_for(bee.id);
    assert!(to_bee.contains(&&Event::Watered {
        by: ant.id,
        grams: 33,
        energy: 0
    }));
    assert!(
        to_bee.iter().any(
            |e| matches!(e, Event::BallNew { ball } if ball.ball_id == first.ball_id
            && ball.stealable == 0 && ball.ripe_at == now)
        ),
        "{to_bee:?}"
    );
    assert!(
        !tick
            .events
            .iter()
            .any(|(to, e)| *to != bee.id.into() && matches!(e, Event::Watered { .. })),
        "only the friend watered is told"
    );
    assert_eq!(
        newest_feed_entry(&mut sim, &bee),
        FeedEntry {
            time: now,
            kind: FeedKind::Watered,
            actor: Some(ant.id),
            target: Some(bee.id),
            grams: 33
        }
    );
    assert_eq!(
        code_of(sim.steal(&cat, bee.id, first.ball_id)),
        ErrorCode::NothingLeft
    );

    // Collected at once; `watered` then reports the receiver's new balance.
    assert_eq!(sim.collect(&bee, first.ball_id).expect("ripe").grams, 33);
    assert_eq!(
        sim.me(&bee).player.total_collected,
        33,
        "counts when collected"
    );
    let watering = sim.submit(
        ant.session,
        Request::Water {
            friend_id: bee.id,
            grams: 10,
        },
    );
    let tick = sim.tick();
    let second = tick
        .result::<canopy_shared::reply::WaterResult>(watering)
        .expect("water");
    assert!(tick.events_for(bee.id).contains(&&Event::Watered {
        by: ant.id,
        grams: 10,
        energy: 33
    }));

    // Unpicked, it expires like any ball.
    let expires_at = sim.ball(second.ball_id).expect("live").expires_at;
    assert_eq!(expires_at, sim.now() + 72 * HOUR);
    sim.advance_to(expires_at - 1);
    assert!(sim.ball(second.ball_id).is_some());
    let gone = sim.advance(1);
    assert!(gone.events_for(bee.id).contains(&&Event::BallGone {
        ball_id: second.ball_id,
        reason: canopy_shared::event::GoneReason::Expired
    }));
    assert_eq!(sim.game.totals().expired, 10);
    assert_eq!(code_of(sim.collect(&bee, second.ball_id)), ErrorCode::Gone);
    sim.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Boards and the feed
// ---------------------------------------------------------------------------------------

fn board(sim: &mut Sim, me: &Player, period: BoardPeriod) -> Vec<(PlayerId, u64)> {
    let entries = sim.leaderboard(me, period, None).expect("board").entries;
    let ranks: Vec<u32> = entries.iter().map(|e| e.rank).collect();
    assert_eq!(
        ranks,
        (1..=entries.len() as u32).collect::<Vec<_>>(),
        "ranks 1, 2, 3, ..."
    );
    entries.iter().map(|e| (e.player_id, e.grams)).collect()
}

#[test]
fn boards_rank_the_caller_and_their_friends_only() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog] = players(&mut sim, ["ant", "bee", "cat", "dog"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    sim.befriend(&bee, &dog);
    for (player, steps) in [(&ant, 5_000), (&bee, 10_000), (&cat, 2_500), (&dog, 14_800)] {
        walk_ball(&mut sim, player, steps);
    }
    next_morning(&mut sim);
    for player in [&ant, &bee, &cat, &dog] {
        sim.collect_all(player);
    }
    assert_eq!(
        board(&mut sim, &ant, BoardPeriod::Total),
        vec![(bee.id, 200), (ant.id, 100), (cat.id, 50)],
        "dog is bee's friend, not ant's"
    );
    assert_eq!(
        board(&mut sim, &bee, BoardPeriod::Total),
        vec![(dog.id, 296), (bee.id, 200), (ant.id, 100)]
    );
    let entries = sim
        .leaderboard(&ant, BoardPeriod::Total, Some(2))
        .expect("limit 2")
        .entries;
    assert_eq!(
        entries,
        vec![
            BoardEntry {
                rank: 1,
                player_id: bee.id,
                name: "bee".into(),
                grams: 200,
                trees: 0,
                protected_m2: 0,
            },
            BoardEntry {
                rank: 2,
                player_id: ant.id,
                name: "ant".into(),
                grams: 100,
                trees: 0,
                protected_m2: 0,
            },
        ]
    );
    for limit in [0, 201, u32::MAX] {
        for period in [BoardPeriod::Total, BoardPeriod::Week] {
            assert_eq!(
                code_of(sim.leaderboard(&ant, period, Some(limit))),
                ErrorCode::BadRequest,
                "limit {limit}"
            );
        }
    }
    assert_eq!(
        sim.leaderboard(&ant, BoardPeriod::Week, Some(200))
            .expect("200")
            .entries
            .len(),
        3
    );

    // Steals count as collected; an unfriended player leaves the board.
    let dogs = walk_ball(&mut sim, &dog, 5_000);
    next_morning(&mut sim);
    let stolen = sim.steal(&bee, dog.id, dogs).expect("steal").grams;
    sim.unfriend(&ant, cat.id).expect("unfriend");
    assert_eq!(
        board(&mut sim, &ant, BoardPeriod::Total),
        vec![(bee.id, 200 + stolen), (ant.id, 100)]
    );
    let alone = sim.register("alone");
    assert_eq!(
        board(&mut sim, &alone, BoardPeriod::Total),
        vec![(alone.id, 0)]
    );
    sim.assert_conserved();
}

#[test]
fn the_weekly_board_restarts_at_monday_midnight_game_local() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    // Wednesday: balls that ripen Thursday 07:00.
    walk_ball(&mut sim, &ant, 5_000);
    walk_ball(&mut sim, &bee, 10_000);
    next_morning(&mut sim);
    sim.collect_all(&ant);
    sim.collect_all(&bee);
    let week = vec![(bee.id, 200), (ant.id, 100), (cat.id, 0)];
    assert_eq!(board(&mut sim, &ant, BoardPeriod::Week), week);
    assert_eq!(board(&mut sim, &ant, BoardPeriod::Total), week);

    // Sunday: cat walks; the ball ripens Monday 07:00.
    sim.advance_to(local(4, 12, 0));
    walk_ball(&mut sim, &cat, 3_000);
    let monday = local(5, 0, 0); // 2026-11-30 00:00 UTC+8
    sim.advance_to(monday - 1);
    assert_eq!(
        board(&mut sim, &ant, BoardPeriod::Week),
        week,
        "Sunday 23:59:59.999"
    );
    sim.advance(1);
    assert_eq!(
        board(&mut sim, &ant, BoardPeriod::Week),
        vec![(ant.id, 0), (bee.id, 0), (cat.id, 0)],
        "a new week; ties ranked by id"
    );
    assert_eq!(
        board(&mut sim, &ant, BoardPeriod::Total),
        week,
        "all-time totals stay"
    );

    sim.advance_to(local(5, 7, 0));
    sim.collect_all(&cat);
    assert_eq!(
        board(&mut sim, &ant, BoardPeriod::Week),
        vec![(cat.id, 60), (ant.id, 0), (bee.id, 0)]
    );
    assert_eq!(
        board(&mut sim, &ant, BoardPeriod::Total),
        vec![(bee.id, 200), (ant.id, 100), (cat.id, 60)]
    );
    sim.assert_conserved();
}

/// Pages through `player`'s whole feed with `limit`-sized pages.
fn whole_feed(sim: &mut Sim, player: &Player, limit: u32) -> Vec<Vec<FeedEntry>> {
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page: FeedResult = sim.feed(player, Some(limit), before).expect("feed");
        assert!(page.entries.len() <= limit as usize);
        let next = page.next;
        pages.push(page.entries);
        match next {
            Some(cursor) => before = Some(cursor),
            None => return pages,
        }
        assert!(pages.len() <= 1_000, "the cursor must make progress");
    }
}

#[test]
fn the_feed_pages_newest_first_and_keeps_the_last_500_entries() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    assert_eq!(
        sim.feed(&ant, None, None).expect("an empty feed"),
        FeedResult {
            entries: Vec::new(),
            next: None
        }
    );
    let ball = walk_ball(&mut sim, &ant, 5_000);
    next_morning(&mut sim);
    sim.grant(ant.id, PropKind::ProtectionCover, 1);
    sim.use_prop(&ant, PropKind::ProtectionCover).expect("held");

    // 560 refused steals, a millisecond apart, by bee and cat in turn: each one writes a
    // protected_block entry and costs nobody any energy.
    let mut written = Vec::new();
    for n in 0..560 {
        let thief = if n % 2 == 0 { &bee } else { &cat };
        sim.submit_admin(AdminOp::AdvanceClock(1));
        let attempt = sim.submit(
            thief.session,
            Request::Steal {
                friend_id: ant.id,
                ball_id: ball,
            },
        );
        let tick = sim.tick();
        assert_eq!(tick.code(attempt), ErrorCode::Protected);
        written.push(FeedEntry {
            time: sim.now(),
            kind: FeedKind::ProtectedBlock,
            actor: Some(thief.id),
            target: Some(ant.id),
            grams: 0,
        });
    }
    let kept: Vec<FeedEntry> = written[60..].iter().rev().cloned().collect();

    let first = sim.feed(&ant, None, None).expect("default page");
    assert_eq!(
        first.entries,
        kept[..50].to_vec(),
        "50 by default, newest first"
    );
    assert!(first.next.is_some());

    let pages = whole_feed(&mut sim, &ant, 200);
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![200, 200, 100]
    );
    assert_eq!(pages.concat(), kept, "the last 500, newest first");
    let pages = whole_feed(&mut sim, &ant, 100);
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![100; 5],
        "a last page that is exactly full has next = null"
    );
    assert_eq!(pages.concat(), kept);
    let pages = whole_feed(&mut sim, &ant, 7);
    assert_eq!(pages.concat(), kept);
    assert_eq!(pages.last().map(Vec::len), Some(500 % 7));

    for limit in [0, 201, u32::MAX] {
        assert_eq!(
            code_of(sim.feed(&ant, Some(limit), None)),
            ErrorCode::BadRequest,
            "{limit}"
        );
    }
    assert_eq!(
        sim.feed(&ant, Some(200), Some(0))
            .expect("before the oldest"),
        FeedResult {
            entries: Vec::new(),
            next: None
        }
    );
    assert!(
        sim.feed(&bee, None, None)
            .expect("bee's feed")
            .entries
            .is_empty()
    );
    assert_eq!(sim.energy(bee.id) + sim.energy(cat.id), 0);

    // The window survives a restart.
    let mut restarted = sim.reload(START);
    let ant = restarted.login(&ant);
    assert_eq!(whole_feed(&mut restarted, &ant, 200).concat(), kept);
    restarted.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Teams (co-planting)
// ---------------------------------------------------------------------------------------

/// Teams of at most 3 members, 2 teams a player, 100 g a member a day, and the 120 g
/// test shrub.
fn team_sim() -> Sim {
    Sim::with_config(with_shrub(config_with(&[
        ("CANOPY_TEAMS__MAX_MEMBERS", "3"),
        ("CANOPY_TEAMS__MAX_PER_PLAYER", "2"),
        ("CANOPY_TEAMS__MEMBER_DAILY_GRAMS", "100"),
    ])))
}

fn team_id(result: Result<TeamCreateResult, canopy_shared::ErrorBody>) -> TeamId {
    result.expect("team created").team_id
}

fn members(sim: &mut Sim, player: &Player, team: TeamId) -> Vec<PlayerId> {
    sim.teams(player)
        .teams
        .into_iter()
        .find(|t| t.team_id == team)
        .map(|t| t.members)
        .unwrap_or_default()
}

#[test]
fn team_create_checks_the_name_the_species_and_the_teams_per_player() {
    let mut sim = team_sim();
    let [ant] = players(&mut sim, ["ant"]);
    for name in ["", "a b", &"x".repeat(33), "<team>"] {
        assert_eq!(
            code_of(sim.team_create(&ant, name, SHRUB)),
            ErrorCode::BadRequest,
            "name {name:?}"
        );
    }
    assert_eq!(
        code_of(sim.team_create(&ant, "", "baobab")),
        ErrorCode::BadRequest,
        "BAD_REQUEST comes first"
    );
    assert_eq!(
        code_of(sim.team_create(&ant, "grove", "baobab")),
        ErrorCode::NotFound
    );
    let first = team_id(sim.team_create(&ant, "grove", SHRUB));
    let second = team_id(sim.team_create(&ant, "沙漠绿洲", "saxaul"));
    assert_ne!(first, second);
    assert_eq!(
        code_of(sim.team_create(&ant, "third", SHRUB)),
        ErrorCode::LimitReached
    );
    assert_eq!(
        code_of(sim.team_create(&ant, "third", "baobab")),
        ErrorCode::NotFound,
        "NOT_FOUND comes before LIMIT_REACHED"
    );
    let teams = sim.teams(&ant).teams;
    assert_eq!(teams.len(), 2);
    assert_eq!(
        (
            teams[0].team_id,
            teams[0].name.as_str(),
            teams[0].species.as_str()
        ),
        (first, "grove", SHRUB)
    );
    assert_eq!(
        (teams[0].progress, teams[0].grams, teams[0].members.clone()),
        (0, SHRUB_GRAMS, vec![ant.id])
    );
    assert_eq!(
        (teams[1].species.as_str(), teams[1].grams),
        ("saxaul", 17_900)
    );
    // Leaving a team frees a place.
    sim.team_leave(&ant, second).expect("leave");
    team_id(sim.team_create(&ant, "third", SHRUB));
}

#[test]
fn team_invite_and_join_follow_the_protocols_codes() {
    let mut sim = team_sim();
    let [ant, bee, cat, dog, eel, fox] =
        players(&mut sim, ["ant", "bee", "cat", "dog", "eel", "fox"]);
    for friend in [&bee, &cat, &dog] {
        sim.befriend(&ant, friend);
    }
    sim.befriend(&bee, &fox);
    let team = team_id(sim.team_create(&ant, "grove", SHRUB));

    assert_eq!(
        code_of(sim.team_invite(&ant, TeamId(99), bee.id)),
        ErrorCode::NotFound
    );
    assert_eq!(
        code_of(sim.team_invite(&ant, team, eel.id)),
        ErrorCode::NotFriends
    );
    assert_eq!(
        code_of(sim.team_invite(&ant, team, ant.id)),
        ErrorCode::NotFriends,
        "yourself"
    );
    assert_eq!(
        code_of(sim.team_invite(&bee, team, fox.id)),
        ErrorCode::Forbidden,
        "only members invite"
    );
    assert_eq!(
        code_of(sim.team_invite(&bee, team, eel.id)),
        ErrorCode::NotFriends,
        "NOT_FRIENDS comes before FORBIDDEN"
    );
    assert_eq!(
        code_of(sim.team_join(&cat, team)),
        ErrorCode::NotFound,
        "no invitation"
    );
    assert_eq!(
        code_of(sim.team_join(&cat, TeamId(99))),
        ErrorCode::NotFound
    );

    sim.team_invite(&ant, team, bee.id)
        .expect("invite a friend");
    sim.team_invite(&ant, team, bee.id)
        .expect("inviting twice is fine");
    assert_eq!(
        members(&mut sim, &ant, team),
        vec![ant.id],
        "invited is not joined"
    );
    assert!(sim.teams(&bee).teams.is_empty());
    sim.team_join(&bee, team).expect("invited");
    assert_eq!(
        code_of(sim.team_join(&bee, team)),
        ErrorCode::NotFound,
        "the invitation is used"
    );
    assert_eq!(
        code_of(sim.team_invite(&ant, team, bee.id)),
        ErrorCode::Conflict,
        "a member"
    );
    assert_eq!(
        members(&mut sim, &bee, team),
        vec![ant.id, bee.id],
        "creator first"
    );
    sim.team_invite(&bee, team, fox.id)
        .expect("any member invites their friends");

    // Invitations do not use up places: the cap is on members (3 here).
    sim.team_invite(&ant, team, cat.id)
        .expect("a third invitation");
    sim.team_invite(&ant, team, dog.id)
        .expect("a fourth invitation");
    sim.team_join(&cat, team).expect("the third member");
    assert_eq!(
        code_of(sim.team_invite(&ant, team, eel.id)),
        ErrorCode::NotFriends
    );
    sim.befriend(&ant, &eel);
    assert_eq!(
        code_of(sim.team_invite(&ant, team, eel.id)),
        ErrorCode::LimitReached
    );
    assert_eq!(
        code_of(sim.team_join(&dog, team)),
        ErrorCode::LimitReached,
        "the team is full"
    );
    assert_eq!(members(&mut sim, &ant, team), vec![ant.id, bee.id, cat.id]);

    // Leaving frees a place; a standing invitation can then be used.
    sim.team_leave(&cat, team).expect("leave");
    assert_eq!(
        code_of(sim.team_leave(&cat, team)),
        ErrorCode::NotFound,
        "not a member"
    );
    assert_eq!(
        code_of(sim.team_leave(&cat, TeamId(99))),
        ErrorCode::NotFound
    );
    assert!(sim.teams(&cat).teams.is_empty());
    sim.team_join(&dog, team).expect("a place is free");
    assert_eq!(members(&mut sim, &ant, team), vec![ant.id, bee.id, dog.id]);
    assert_eq!(code_of(sim.team_join(&fox, team)), ErrorCode::LimitReached);
}

#[test]
fn joining_a_team_respects_the_teams_per_player_limit() {
    let mut sim = team_sim();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    let teams: Vec<TeamId> = [&bee, &cat, &cat]
        .iter()
        .map(|creator| {
            let team = team_id(sim.team_create(creator, "grove", SHRUB));
            sim.team_invite(creator, team, ant.id).expect("invite");
            team
        })
        .collect();
    sim.team_join(&ant, teams[0]).expect("first team");
    sim.team_join(&ant, teams[1]).expect("second team");
    assert_eq!(
        code_of(sim.team_join(&ant, teams[2])),
        ErrorCode::LimitReached,
        "teams.max_per_player is 2"
    );
    assert_eq!(sim.teams(&ant).teams.len(), 2);
    sim.team_leave(&ant, teams[0]).expect("leave one");
    sim.team_join(&ant, teams[2]).expect("now there is room");
    support::audit_limits(&sim.game, &sim.store).expect("caps hold");
}

#[test]
fn team_water_errors_come_in_the_protocols_order() {
    let mut sim = team_sim();
    let [ant, bee, cat, poor] = players(&mut sim, ["ant", "bee", "cat", "poor"]);
    for friend in [&bee, &cat, &poor] {
        sim.befriend(&ant, friend);
    }
    sim.fund(&ant, 500);
    sim.fund(&cat, 500);
    let team = team_id(sim.team_create(&ant, "grove", SHRUB));

    assert_eq!(
        code_of(sim.team_water(&ant, team, 50)),
        ErrorCode::Forbidden,
        "a team of one cannot water"
    );
    sim.team_invite(&ant, team, poor.id).expect("invite");
    sim.team_join(&poor, team).expect("join");
    for (who, team, grams, code) in [
        (&ant, team, 9, ErrorCode::BadRequest),
        (&cat, team, 0, ErrorCode::BadRequest),
        (&ant, TeamId(99), 9, ErrorCode::BadRequest),
        (&ant, TeamId(99), 10, ErrorCode::NotFound),
        (&cat, team, 10, ErrorCode::Forbidden),
        (&poor, team, 10, ErrorCode::InsufficientEnergy),
    ] {
        assert_eq!(
            code_of(sim.team_water(who, team, grams)),
            code,
            "{} {grams} g",
            who.id
        );
    }
    let energy = sim.energy(ant.id);
    let watered: TeamWaterResult = sim.team_water(&ant, team, 60).expect("60 g");
    assert_eq!((watered.team.progress, watered.energy), (60, energy - 60));
    assert_eq!(
        code_of(sim.team_water(&ant, team, 50)),
        ErrorCode::LimitReached,
        "100 g a member a day"
    );
    sim.team_water(&ant, team, 40).expect("up to the limit");
    assert_eq!(
        code_of(sim.team_water(&ant, team, 10)),
        ErrorCode::LimitReached
    );
    assert_eq!(
        code_of(sim.team_water(&poor, team, 10)),
        ErrorCode::InsufficientEnergy,
        "the limit is per member"
    );
    assert_eq!(sim.energy(ant.id), energy - 100);
    assert_eq!(sim.game.totals().in_team_trees, 100);

    // A new game day resets the member's limit.
    sim.advance_to(local(1, 0, 0));
    sim.team_water(&ant, team, 10).expect("a new day");
    sim.assert_conserved();
    support::audit_limits(&sim.game, &sim.store).expect("caps hold");
}

#[test]
fn a_full_team_tree_certifies_every_member_and_starts_again() {
    let mut sim = team_sim();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    for player in [&ant, &bee, &cat] {
        sim.fund(player, 200);
    }
    let team = team_id(sim.team_create(&ant, "grove", SHRUB));
    for friend in [&bee, &cat] {
        sim.team_invite(&ant, team, friend.id).expect("invite");
        sim.team_join(friend, team).expect("join");
    }
    sim.team_water(&ant, team, 50).expect("50 g");
    sim.team_water(&bee, team, 50).expect("100 g");
    let energy = sim.energy(cat.id);

    // Cat offers 66 g; the tree needs 20 g more and takes only that.
    let watering = sim.submit(
        cat.session,
        Request::TeamWater {
            team_id: team,
            grams: 66,
        },
    );
    let tick = sim.tick();
    let planted: TeamWaterResult = tick.result(watering).expect("the last 20 g");
    assert_eq!(planted.energy, energy - 20);
    assert_eq!(planted.team.progress, 0, "the tree starts again");
    let mut certificates = Vec::new();
    for member in [&ant, &bee, &cat] {
        let sent: Vec<_> = tick
            .events_for(member.id)
            .into_iter()
            .filter_map(|e| match e {
                Event::Certificate { certificate } => Some(certificate.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            sent.len(),
            1,
            "one certificate event for member {}",
            member.id
        );
        let certificate = sent[0].clone();
        assert_eq!(
            (
                certificate.species.as_str(),
                certificate.grams,
                certificate.team.as_deref()
            ),
            (SHRUB, SHRUB_GRAMS, Some("grove"))
        );
        assert_eq!(
            (certificate.region.as_str(), certificate.planted_at),
            ("Test plot", sim.now())
        );
        assert_eq!(
            sim.me(member).player.certificates,
            vec![certificate.clone()]
        );
        assert_eq!(
            newest_feed_entry(&mut sim, member),
            FeedEntry {
                time: sim.now(),
                kind: FeedKind::Certificate,
                actor: None,
                target: Some(member.id),
                grams: SHRUB_GRAMS
            }
        );
        certificates.push(certificate.id);
    }
    certificates.dedup();
    assert_eq!(
        certificates.len(),
        3,
        "each member has their own certificate"
    );

    let ledger = sim.store.ledger().expect("ledger");
    let planted_entries: Vec<_> = ledger.iter().filter(|e| e.flow == Flow::Planted).collect();
    assert_eq!(planted_entries.len(), 1, "the tree is planted once");
    assert_eq!(
        (planted_entries[0].from, planted_entries[0].grams),
        (Account::Team(team), SHRUB_GRAMS)
    );
    let totals = sim.game.totals();
    assert_eq!((totals.planted, totals.in_team_trees), (SHRUB_GRAMS, 0));
    assert_eq!(sim.teams(&bee).teams[0].progress, 0);

    // The next tree grows from zero.
    sim.advance_to(local(1, 0, 0));
    let again = sim.team_water(&ant, team, 30).expect("a new tree");
    assert_eq!(again.team.progress, 30);
    sim.assert_conserved();
}

#[test]
fn teams_invitations_progress_and_limits_survive_a_restart() {
    let mut sim = team_sim();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    sim.fund(&ant, 200);
    let team = team_id(sim.team_create(&ant, "grove", SHRUB));
    sim.team_invite(&ant, team, bee.id).expect("invite");
    sim.team_join(&bee, team).expect("join");
    sim.team_invite(&ant, team, cat.id).expect("invite");
    sim.team_water(&ant, team, 100).expect("100 g");
    let before = sim.teams(&ant);

    let mut restarted = sim.reload(START);
    let [ant, bee, cat] = [&ant, &bee, &cat].map(|p| restarted.login(p));
    assert_eq!(restarted.teams(&ant), before);
    assert_eq!(restarted.teams(&bee), before);
    assert_eq!(
        code_of(restarted.team_water(&ant, team, 10)),
        ErrorCode::LimitReached
    );
    restarted
        .team_join(&cat, team)
        .expect("the invitation survived");
    assert_eq!(
        members(&mut restarted, &cat, team),
        vec![ant.id, bee.id, cat.id]
    );
    assert_eq!(restarted.game.totals().in_team_trees, 100);
    restarted.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Persistence of the social graph
// ---------------------------------------------------------------------------------------

#[test]
fn friendships_requests_blocks_limits_and_the_feed_survive_a_restart() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog, eel, fox] =
        players(&mut sim, ["ant", "bee", "cat", "dog", "eel", "fox"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &fox);
    sim.befriend(&bee, &fox);
    sim.friend_request(&cat, ant.id).expect("cat asks ant");
    sim.advance(HOUR);
    sim.friend_request(&ant, dog.id).expect("ant asks dog");
    sim.block(&eel, ant.id).expect("eel blocks ant");
    let ball = walk_ball(&mut sim, &ant, 5_000);
    next_morning(&mut sim);
    sim.fund(&bee, 100);
    for _ in 0..3 {
        sim.water(&bee, ant.id, 10).expect("water");
    }
    sim.steal(&fox, ant.id, ball).expect("steal");
    let before = (
        sim.friends(&ant),
        sim.friends(&bee),
        sim.feed(&ant, Some(200), None).expect("feed"),
        sim.suggestions(&bee, None).expect("suggestions"),
        sim.leaderboard(&ant, BoardPeriod::Week, None)
            .expect("board"),
    );
    assert_eq!(before.0.friends.len(), 2);
    assert_eq!((before.0.incoming.len(), before.0.outgoing.len()), (1, 1));
    assert_eq!(before.2.entries.len(), 4, "three waterings and a steal");

    let mut restarted = sim.reload(START);
    let [ant, bee, cat, dog, eel, fox] =
        [&ant, &bee, &cat, &dog, &eel, &fox].map(|p| restarted.login(p));
    let after = (
        restarted.friends(&ant),
        restarted.friends(&bee),
        restarted.feed(&ant, Some(200), None).expect("feed"),
        restarted.suggestions(&bee, None).expect("suggestions"),
        restarted
            .leaderboard(&ant, BoardPeriod::Week, None)
            .expect("board"),
    );
    assert_eq!(after, before);

    // The rules still see the restored graph and today's counts.
    assert_eq!(
        code_of(restarted.friend_request(&ant, eel.id)),
        ErrorCode::Blocked
    );
    assert_eq!(
        code_of(restarted.friend_request(&ant, dog.id)),
        ErrorCode::Conflict
    );
    assert_eq!(
        code_of(restarted.water(&bee, ant.id, 10)),
        ErrorCode::LimitReached
    );
    assert_eq!(
        code_of(restarted.steal(&fox, ant.id, ball)),
        ErrorCode::AlreadyStolen
    );
    assert_eq!(
        code_of(restarted.steal(&cat, ant.id, ball)),
        ErrorCode::NotFriends
    );
    restarted
        .steal(&bee, ant.id, ball)
        .expect("bee has not hit it yet");

    // Requests keep their send times: cat's expires 7 days after it was sent, dog's an
    // hour later.
    restarted.advance_to(START + 7 * DAY);
    let ants = restarted.friends(&ant);
    assert!(ants.incoming.is_empty());
    assert_eq!(ants.outgoing.len(), 1);
    restarted
        .friend_accept(&dog, ant.id)
        .expect("still pending");
    restarted.unblock(&eel, ant.id).expect("unblock");
    restarted
        .friend_request(&ant, eel.id)
        .expect("no longer blocked");

    // And those changes persist in turn.
    let mut again = restarted.reload(START);
    let ant = again.login(&ant);
    let friends: Vec<PlayerId> = again
        .friends(&ant)
        .friends
        .iter()
        .map(|f| f.player_id)
        .collect();
    assert_eq!(friends, ids(&[&bee, &dog, &fox]));
    assert_eq!(again.friends(&ant).outgoing.len(), 1, "the request to eel");
    again.assert_conserved();
}

// ---------------------------------------------------------------------------------------
// Random multi-player play: conservation, caps and error codes after every tick
// ---------------------------------------------------------------------------------------

mod random_play {
    use super::support::{self, DAY, HOUR, Player, START, Sim, Tick};
    use super::{SHRUB, with_shrub};
    use canopy_server::game::resources::{Directory, Teams};
    use canopy_server::game::rules::game_day;
    use canopy_server::game::stealable::{hits_allowed, stealable_from};
    use canopy_server::game::{Recipient, SessionId};
    use canopy_server::social::Social;
    use canopy_shared::model::{PropKind, WatchTarget};
    use canopy_shared::reply::{GramsEnergyResult, WaterResult};
    use canopy_shared::{BallId, ErrorCode, Event, Millis, PlayerId, Request, TeamId};
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    /// Small caps, so random play runs into them.
    const FRIENDS_MAX: usize = 3;
    const STEAL_CAP: u64 = 100;
    const WATER_PER_FRIEND: u32 = 3;
    const UTC_OFFSET: i64 = 480;
    const REQUEST_TTL: u64 = 7 * DAY;

    fn config() -> canopy_server::config::Config {
        with_shrub(support::config_with(&[
            ("CANOPY_FRIENDS__MAX", "3"),
            ("CANOPY_STEAL__DAILY_CAP_GRAMS", "100"),
            ("CANOPY_TEAMS__MAX_MEMBERS", "3"),
            ("CANOPY_TEAMS__MAX_PER_PLAYER", "2"),
            ("CANOPY_TEAMS__MEMBER_DAILY_GRAMS", "150"),
        ]))
    }

    const PARTNER_KINDS: [&str; 4] = ["metro", "bus", "utility_bill", "hospital_booking"];
    /// The four valid amounts, then two invalid ones.
    const WATER_GRAMS: [u64; 6] = [10, 18, 33, 66, 11, 0];
    const TEAM_SPECIES: [&str; 3] = [SHRUB, "saxaul", "baobab"];
    const TEAM_GRAMS: [u64; 5] = [5, 10, 30, 66, 200];

    #[derive(Clone, Copy, Debug)]
    enum FriendOp {
        Request,
        Accept,
        Unfriend,
        Block,
        Unblock,
    }

    #[derive(Clone, Debug)]
    enum Step {
        /// A request and its accept in one tick.
        Befriend {
            a: usize,
            b: usize,
        },
        Friend {
            op: FriendOp,
            me: usize,
            other: usize,
        },
        Walk {
            player: usize,
            steps: u64,
        },
        Partner {
            player: usize,
            kind: usize,
        },
        Advance {
            ms: u64,
        },
        Collect {
            player: usize,
            ball: u8,
        },
        CollectAll {
            player: usize,
        },
        /// `owner: None` names the ball's real owner.
        Steal {
            thief: usize,
            ball: u8,
            owner: Option<usize>,
        },
        /// One thief hits every ripe ball of their friends in one tick.
        StealSpree {
            thief: usize,
        },
        Help {
            helper: usize,
            ball: u8,
            owner: Option<usize>,
        },
        Water {
            giver: usize,
            friend: usize,
            amount: usize,
        },
        /// Four waterings of one friend in one tick: one past the daily limit.
        WaterBurst {
            giver: usize,
            friend: usize,
        },
        TeamCreate {
            player: usize,
            species: usize,
        },
        /// With `join`, the invitee joins in the same tick.
        TeamInvite {
            player: usize,
            team: u8,
            invitee: usize,
            join: bool,
        },
        TeamJoin {
            player: usize,
            team: u8,
        },
        TeamLeave {
            player: usize,
            team: u8,
        },
        TeamWater {
            player: usize,
            team: u8,
            grams: usize,
        },
        Grant {
            player: usize,
            prop: usize,
        },
        UseProp {
            player: usize,
            prop: usize,
        },
        /// Logs a player out (after the tick) or back in.
        Online {
            player: usize,
        },
        Tick,
    }

    fn step() -> impl Strategy<Value = Step> {
        let p = 0..5usize;
        let friend_op = prop_oneof![
            3 => Just(FriendOp::Request),
            3 => Just(FriendOp::Accept),
            1 => Just(FriendOp::Unfriend),
            1 => Just(FriendOp::Block),
            1 => Just(FriendOp::Unblock),
        ];
        let owner = proptest::option::weighted(0.15, p.clone());
        prop_oneof![
            4 => (p.clone(), p.clone()).prop_map(|(a, b)| Step::Befriend { a, b }),
            4 => (friend_op, p.clone(), p.clone())
                .prop_map(|(op, me, other)| Step::Friend { op, me, other }),
            3 => (p.clone(), 0..16_000u64).prop_map(|(player, steps)| Step::Walk { player, steps }),
            5 => (p.clone(), 0..PARTNER_KINDS.len())
                .prop_map(|(player, kind)| Step::Partner { player, kind }),
            3 => prop_oneof![3 => 0..12 * HOUR, 1 => 0..=4 * DAY].prop_map(|ms| Step::Advance { ms }),
            2 => (p.clone(), any::<u8>()).prop_map(|(player, ball)| Step::Collect { player, ball }),
            2 => p.clone().prop_map(|player| Step::CollectAll { player }),
            10 => (p.clone(), any::<u8>(), owner.clone())
                .prop_map(|(thief, ball, owner)| Step::Steal { thief, ball, owner }),
            3 => p.clone().prop_map(|thief| Step::StealSpree { thief }),
            2 => (p.clone(), any::<u8>(), owner)
                .prop_map(|(helper, ball, owner)| Step::Help { helper, ball, owner }),
            5 => (p.clone(), p.clone(), prop_oneof![4 => 0..4usize, 1 => 4..6usize])
                .prop_map(|(giver, friend, amount)| Step::Water { giver, friend, amount }),
            1 => (p.clone(), p.clone()).prop_map(|(giver, friend)| Step::WaterBurst { giver, friend }),
            2 => (p.clone(), 0..TEAM_SPECIES.len())
                .prop_map(|(player, species)| Step::TeamCreate { player, species }),
            3 => (p.clone(), any::<u8>(), p.clone(), any::<bool>()).prop_map(
                |(player, team, invitee, join)| Step::TeamInvite { player, team, invitee, join }
            ),
            2 => (p.clone(), any::<u8>()).prop_map(|(player, team)| Step::TeamJoin { player, team }),
            1 => (p.clone(), any::<u8>()).prop_map(|(player, team)| Step::TeamLeave { player, team }),
            3 => (p.clone(), any::<u8>(), 0..TEAM_GRAMS.len())
                .prop_map(|(player, team, grams)| Step::TeamWater { player, team, grams }),
            2 => (p.clone(), 0..PropKind::ALL.len())
                .prop_map(|(player, prop)| Step::Grant { player, prop }),
            2 => (p.clone(), 0..PropKind::ALL.len())
                .prop_map(|(player, prop)| Step::UseProp { player, prop }),
            1 => p.prop_map(|player| Step::Online { player }),
            4 => Just(Step::Tick),
        ]
    }

    /// The social graph as the rules of GAME.md and PROTOCOL.md make it, kept from the
    /// replies, independently of the server: it predicts every friend op's outcome.
    #[derive(Default)]
    struct Graph {
        friends: BTreeSet<(PlayerId, PlayerId)>,
        requests: BTreeMap<(PlayerId, PlayerId), Millis>,
        blocks: BTreeSet<(PlayerId, PlayerId)>,
    }

    fn pair(a: PlayerId, b: PlayerId) -> (PlayerId, PlayerId) {
        (a.min(b), a.max(b))
    }

    impl Graph {
        fn are_friends(&self, a: PlayerId, b: PlayerId) -> bool {
            self.friends.contains(&pair(a, b))
        }

        fn friends_of(&self, a: PlayerId) -> Vec<PlayerId> {
            self.friends
                .iter()
                .filter_map(|&(x, y)| {
                    if x == a {
                        Some(y)
                    } else if y == a {
                        Some(x)
                    } else {
                        None
                    }
                })
                .collect()
        }

        fn count(&self, a: PlayerId) -> usize {
            self.friends
                .iter()
                .filter(|(x, y)| *x == a || *y == a)
                .count()
        }

        fn pending(&self, from: PlayerId, to: PlayerId, now: Millis) -> bool {
            self.requests
                .get(&(from, to))
                .is_some_and(|&sent| now < sent + REQUEST_TTL)
        }

        fn blocked(&self, a: PlayerId, b: PlayerId) -> bool {
            self.blocks.contains(&(a, b)) || self.blocks.contains(&(b, a))
        }

        fn befriend(&mut self, a: PlayerId, b: PlayerId) {
            self.requests.remove(&(a, b));
            self.requests.remove(&(b, a));
            self.friends.insert(pair(a, b));
        }

        fn full(&self, a: PlayerId, b: PlayerId) -> bool {
            self.count(a) >= FRIENDS_MAX || self.count(b) >= FRIENDS_MAX
        }

        /// Applies a friend op; returns the code it must be refused with, if any.
        fn apply(
            &mut self,
            op: FriendOp,
            me: PlayerId,
            other: PlayerId,
            now: Millis,
        ) -> Option<ErrorCode> {
            match op {
                FriendOp::Request => {
                    if me == other {
                        return Some(ErrorCode::BadRequest);
                    }
                    if self.are_friends(me, other) || self.pending(me, other, now) {
                        return Some(ErrorCode::Conflict);
                    }
                    if self.blocked(me, other) {
                        return Some(ErrorCode::Blocked);
                    }
                    if self.full(me, other) {
                        return Some(ErrorCode::LimitReached);
                    }
                    if self.pending(other, me, now) {
                        self.befriend(me, other);
                    } else {
                        self.requests.insert((me, other), now);
                    }
                }
                FriendOp::Accept => {
                    if !self.pending(other, me, now) {
                        return Some(ErrorCode::NotFound);
                    }
                    if self.full(me, other) {
                        return Some(ErrorCode::LimitReached);
                    }
                    self.befriend(me, other);
                }
                FriendOp::Unfriend => {
                    if !self.friends.remove(&pair(me, other)) {
                        return Some(ErrorCode::NotFriends);
                    }
                }
                FriendOp::Block => {
                    if me == other {
                        return Some(ErrorCode::BadRequest);
                    }
                    self.friends.remove(&pair(me, other));
                    self.requests.remove(&(me, other));
                    self.requests.remove(&(other, me));
                    self.blocks.insert((me, other));
                }
                FriendOp::Unblock => {
                    self.blocks.remove(&(me, other));
                }
            }
            None
        }
    }

    /// A request sent during the current tick and what to check about its reply.
    enum Sent {
        Friend {
            op: FriendOp,
            me: PlayerId,
            other: PlayerId,
            at: Millis,
        },
        NeverFails,
        Collect,
        UseProp,
        Steal {
            thief: PlayerId,
            owner: PlayerId,
            full: Option<u64>,
            at: Millis,
        },
        Help {
            helper: PlayerId,
            owner: PlayerId,
        },
        Water {
            giver: PlayerId,
            friend: PlayerId,
            grams: u64,
            at: Millis,
        },
        TeamCreate {
            species: &'static str,
        },
        TeamInvite {
            me: PlayerId,
            invitee: PlayerId,
            known_team: bool,
        },
        TeamJoin,
        TeamLeave,
        TeamWater {
            grams: u64,
        },
    }

    /// What the replies showed so far, to check caps independently of the server.
    #[derive(Default)]
    struct Seen {
        graph: Graph,
        /// Grams stolen per (thief, game day).
        stolen: HashMap<(PlayerId, i64), u64>,
        /// Waterings per (giver, friend, game day).
        waterings: HashMap<(PlayerId, PlayerId, i64), u32>,
        /// Water balls from the replies, by id: the friend watered.
        water_balls: HashMap<BallId, PlayerId>,
    }

    fn allowed(
        tick: &Tick,
        id: u64,
        codes: &[ErrorCode],
    ) -> Result<Option<ErrorCode>, TestCaseError> {
        match tick.result::<serde_json::Value>(id) {
            Ok(_) => Ok(None),
            Err(error) => {
                prop_assert!(
                    codes.contains(&error.code),
                    "unexpected {error} (allowed {codes:?})"
                );
                Ok(Some(error.code))
            }
        }
    }

    fn check_reply(
        seen: &mut Seen,
        sent: &Sent,
        tick: &Tick,
        id: u64,
    ) -> Result<(), TestCaseError> {
        use ErrorCode::*;
        match *sent {
            Sent::Friend { op, me, other, at } => {
                let expected = seen.graph.apply(op, me, other, at);
                let got = tick.result::<serde_json::Value>(id).err().map(|e| e.code);
                prop_assert_eq!(got, expected, "{:?} by {} of {}", op, me, other);
            }
            Sent::NeverFails => {
                allowed(tick, id, &[])?;
            }
            Sent::Collect => {
                allowed(tick, id, &[NotFound, NotYours, NotRipe, Gone])?;
            }
            Sent::UseProp => {
                allowed(tick, id, &[NotFound])?;
            }
            Sent::Steal {
                thief,
                owner,
                full,
                at,
            } => {
                let codes = [
                    NotFriends,
                    NotFound,
                    NotRipe,
                    Gone,
                    Protected,
                    AlreadyStolen,
                    NothingLeft,
                    LimitReached,
                ];
                let code = allowed(tick, id, &codes)?;
                let friends = seen.graph.are_friends(thief, owner);
                prop_assert_eq!(
                    code == Some(NotFriends),
                    !friends,
                    "steal by {} from {}",
                    thief,
                    owner
                );
                let today = seen
                    .stolen
                    .entry((thief, game_day(at, UTC_OFFSET)))
                    .or_default();
                match tick.result::<GramsEnergyResult>(id) {
                    Ok(hit) => {
                        prop_assert!(hit.grams >= 1);
                        if let Some(full) = full {
                            prop_assert!(
                                hit.grams <= (full * 3 / 10).max(1),
                                "{} g of {} g",
                                hit.grams,
                                full
                            );
                        }
                        *today += hit.grams;
                        prop_assert!(*today <= STEAL_CAP, "{} stole {} g in a day", thief, today);
                    }
                    Err(error) if error.code == LimitReached => {
                        prop_assert_eq!(*today, STEAL_CAP, "refused before the cap");
                    }
                    Err(_) => {}
                }
            }
            Sent::Help { helper, owner } => {
                let code = allowed(tick, id, &[NotFriends, NotFound, NotRipe, Gone])?;
                let friends = seen.graph.are_friends(helper, owner);
                prop_assert_eq!(code == Some(NotFriends), !friends);
            }
            Sent::Water {
                giver,
                friend,
                grams,
                at,
            } => {
                let codes = [BadRequest, NotFriends, InsufficientEnergy, LimitReached];
                let code = allowed(tick, id, &codes)?;
                let valid = WATER_GRAMS[..4].contains(&grams);
                prop_assert_eq!(code == Some(BadRequest), !valid, "{} g", grams);
                if valid {
                    let friends = seen.graph.are_friends(giver, friend);
                    prop_assert_eq!(code == Some(NotFriends), !friends);
                }
                let count = seen
                    .waterings
                    .entry((giver, friend, game_day(at, UTC_OFFSET)))
                    .or_default();
                match tick.result::<WaterResult>(id) {
                    Ok(watered) => {
                        *count += 1;
                        prop_assert!(*count <= WATER_PER_FRIEND);
                        seen.water_balls.insert(watered.ball_id, friend);
                    }
                    Err(error) if error.code == LimitReached => {
                        prop_assert_eq!(*count, WATER_PER_FRIEND, "refused before the limit");
                    }
                    Err(_) => {}
                }
            }
            Sent::TeamCreate { species } => {
                let code = allowed(tick, id, &[NotFound, LimitReached])?;
                prop_assert_eq!(code == Some(NotFound), species == "baobab");
            }
            Sent::TeamInvite {
                me,
                invitee,
                known_team,
            } => {
                let codes = [NotFound, NotFriends, Forbidden, Conflict, LimitReached];
                let code = allowed(tick, id, &codes)?;
                if known_team {
                    prop_assert!(code != Some(NotFound));
                    let friends = seen.graph.are_friends(me, invitee);
                    prop_assert_eq!(code == Some(NotFriends), !friends);
                }
            }
            Sent::TeamJoin => {
                allowed(tick, id, &[NotFound, LimitReached])?;
            }
            Sent::TeamLeave => {
                allowed(tick, id, &[NotFound])?;
            }
            Sent::TeamWater { grams } => {
                let codes = [
                    BadRequest,
                    NotFound,
                    Forbidden,
                    InsufficientEnergy,
                    LimitReached,
                ];
                let code = allowed(tick, id, &codes)?;
                prop_assert_eq!(code == Some(BadRequest), grams < 10, "{} g", grams);
            }
        }
        Ok(())
    }

    /// The World's friendships, requests and blocks are the model's.
    fn check_graph(sim: &Sim, seen: &Seen, players: &[Player]) -> Result<(), TestCaseError> {
        let social = sim.game.world().resource::<Social>();
        let now = sim.now();
        for a in players {
            for b in players {
                let (a, b) = (a.id, b.id);
                prop_assert_eq!(social.graph.are_friends(a, b), seen.graph.are_friends(a, b));
                prop_assert_eq!(social.blocked_either_way(a, b), seen.graph.blocked(a, b));
                prop_assert_eq!(
                    social.pending(a, b, now, REQUEST_TTL).is_some(),
                    seen.graph.pending(a, b, now),
                    "request {} -> {}",
                    a,
                    b
                );
            }
        }
        Ok(())
    }

    /// `friend_stealable`: only to online players' sessions, at most one per session and
    /// friend per tick, about a friend, with what the receiver could steal from that
    /// friend now. Every session watches its friends list.
    fn check_stealable_events(
        sim: &Sim,
        seen: &Seen,
        tick: &Tick,
        online: &[bool],
        players: &[Player],
    ) -> Result<(), TestCaseError> {
        let mut sent: BTreeSet<(SessionId, PlayerId)> = BTreeSet::new();
        for (to, event) in &tick.events {
            if let Event::FriendStealable { friend_id, grams } = event {
                let Recipient::Session(session) = *to else {
                    return Err(TestCaseError::fail("friend_stealable to a player"));
                };
                let friend = *friend_id;
                prop_assert!(
                    sent.insert((session, friend)),
                    "two frames for {:?} about {}",
                    session,
                    friend
                );
                let index = players.iter().position(|p| p.session == session);
                prop_assert!(index.is_some(), "{:?} is no player's session", session);
                let index = index.expect("checked");
                prop_assert!(online[index], "{:?} is offline", session);
                let me = players[index].id;
                prop_assert!(seen.graph.are_friends(me, friend));
                let world = sim.game.world();
                let allowed = hits_allowed(world, me, sim.now());
                let now = stealable_from(world, friend, me, allowed);
                prop_assert_eq!(*grams, now, "to {} about {}", me, friend);
            }
        }
        Ok(())
    }

    /// Every watering that moved energy was acknowledged, and none passed the limit.
    fn check_water_ledger(sim: &Sim, seen: &Seen) -> Result<(), TestCaseError> {
        use canopy_server::store::{Account, Flow, Store};
        let mut counts: HashMap<(PlayerId, PlayerId, i64), u32> = HashMap::new();
        for entry in sim.store.ledger().expect("ledger") {
            if let (Flow::Watered, Account::Balance(giver), Account::Ball(ball)) =
                (entry.flow, entry.from, entry.to)
            {
                let friend = seen.water_balls.get(&ball);
                prop_assert!(
                    friend.is_some(),
                    "water ball {} was never acknowledged",
                    ball
                );
                let day = game_day(entry.time, UTC_OFFSET);
                let count = counts
                    .entry((giver, *friend.expect("checked"), day))
                    .or_default();
                *count += 1;
                prop_assert!(*count <= WATER_PER_FRIEND);
            }
        }
        Ok(())
    }

    /// A ball for `collect`, `steal` or `help_collect`: mostly a ripe ball of one of
    /// `owners` (a stealable one if `stealable`), else any live ball, and sometimes a raw id that may have ended or never
    /// existed.
    fn pick_ball(
        sim: &Sim,
        ball: u8,
        owners: &[PlayerId],
        stealable: bool,
    ) -> (BallId, Option<canopy_server::store::Ball>) {
        let now = sim.now();
        let mut live: Vec<canopy_server::store::Ball> = sim
            .game
            .world()
            .resource::<Directory>()
            .balls
            .keys()
            .filter_map(|&id| sim.ball(id))
            .collect();
        live.sort_by_key(|b| b.id);
        let preferred: Vec<&canopy_server::store::Ball> = live
            .iter()
            .filter(|b| b.ripe_at <= now && owners.contains(&b.owner))
            .filter(|b| b.stealable || !stealable)
            .collect();
        let id = if ball >= 224 || live.is_empty() {
            BallId(u64::from(ball % 32))
        } else if ball < 176 && !preferred.is_empty() {
            preferred[usize::from(ball) % preferred.len()].id
        } else {
            live[usize::from(ball) % live.len()].id
        };
        (id, sim.ball(id))
    }

    /// Which teams a team op picks from.
    #[derive(Clone, Copy)]
    enum Role {
        Member,
        Invited,
    }

    /// A team for a team op: mostly one where `player` has `role`, else any team, and
    /// sometimes an id no team has. Returns whether the team existed.
    fn pick_team(sim: &Sim, player: PlayerId, team: u8, role: Role) -> (TeamId, bool) {
        let teams = sim.game.world().resource::<Teams>();
        let known = teams.by_id.len() as u64;
        if team >= 240 || known == 0 {
            return (TeamId(known + 1 + u64::from(team % 4)), false);
        }
        let mine: Vec<TeamId> = teams
            .by_id
            .values()
            .filter(|t| match role {
                Role::Member => t.members.contains(&player),
                Role::Invited => t.invited.contains(&player),
            })
            .map(|t| t.id)
            .collect();
        let id = if team < 160 && !mine.is_empty() {
            mine[usize::from(team) % mine.len()]
        } else {
            TeamId(1 + u64::from(team) % known)
        };
        (id, true)
    }

    fn play(player_count: usize, steps: &[Step]) -> Result<(), TestCaseError> {
        let mut sim = Sim::with_config(config());
        let mut players: Vec<Player> = (0..player_count)
            .map(|n| sim.register(&format!("player-{n}")))
            .collect();
        let mut online = vec![true; player_count];
        let mut logging_out: Vec<usize> = Vec::new();
        let mut seen = Seen::default();
        // To start with: a ring of friendships and some energy for everyone.
        for (index, player) in players.iter().enumerate() {
            let next = &players[(index + 1) % player_count];
            sim.befriend(player, next);
            seen.graph.befriend(player.id, next.id);
            sim.fund(player, 500);
            for prop in PropKind::ALL {
                sim.grant(player.id, prop, 2);
            }
            sim.watch(player, None).expect("watch the friends list");
        }
        // ... and a team of two planting the 120 g shrub.
        let team = sim
            .team_create(&players[0], "grove", SHRUB)
            .expect("team")
            .team_id;
        sim.team_invite(&players[0], team, players[1].id)
            .expect("invite");
        sim.team_join(&players[1], team).expect("join");
        let mut sent: Vec<(u64, Sent)> = Vec::new();
        let mut now = sim.now();
        let end = [Step::Tick];
        for step in steps.iter().chain(&end) {
            let n = |index: usize| index % player_count;
            // A player's requests need them online; offline players sit the step out.
            let active = |index: usize| online[n(index)] && !logging_out.contains(&n(index));
            match *step {
                Step::Befriend { a, b } if active(a) && active(b) => {
                    let (a, b) = (&players[n(a)], &players[n(b)]);
                    let id = sim.submit(a.session, Request::FriendRequest { player_id: b.id });
                    sent.push((
                        id,
                        Sent::Friend {
                            op: FriendOp::Request,
                            me: a.id,
                            other: b.id,
                            at: now,
                        },
                    ));
                    let id = sim.submit(b.session, Request::FriendAccept { player_id: a.id });
                    sent.push((
                        id,
                        Sent::Friend {
                            op: FriendOp::Accept,
                            me: b.id,
                            other: a.id,
                            at: now,
                        },
                    ));
                }
                Step::Friend { op, me, other } if active(me) => {
                    let (me, other) = (&players[n(me)], players[n(other)].id);
                    let request = match op {
                        FriendOp::Request => Request::FriendRequest { player_id: other },
                        FriendOp::Accept => Request::FriendAccept { player_id: other },
                        FriendOp::Unfriend => Request::Unfriend { player_id: other },
                        FriendOp::Block => Request::Block { player_id: other },
                        FriendOp::Unblock => Request::Unblock { player_id: other },
                    };
                    let id = sim.submit(me.session, request);
                    sent.push((
                        id,
                        Sent::Friend {
                            op,
                            me: me.id,
                            other,
                            at: now,
                        },
                    ));
                }
                Step::Walk { player, steps } if active(player) => {
                    let reference = sim.fresh_ref();
                    let id = sim.submit(
                        players[n(player)].session,
                        support::walk_request(steps, &reference),
                    );
                    sent.push((id, Sent::NeverFails));
                }
                Step::Partner { player, kind } => {
                    let reference = sim.fresh_ref();
                    let id = sim.submit_admin(support::partner_op(
                        players[n(player)].id,
                        PARTNER_KINDS[kind],
                        &reference,
                    ));
                    sent.push((id, Sent::NeverFails));
                }
                Step::Advance { ms } => {
                    now += ms;
                    let id = sim.submit_admin(canopy_server::game::AdminOp::AdvanceClock(ms));
                    sent.push((id, Sent::NeverFails));
                }
                Step::Collect { player, ball } if active(player) => {
                    let player = &players[n(player)];
                    let (ball_id, _) = pick_ball(&sim, ball, &[player.id], false);
                    let id = sim.submit(player.session, Request::Collect { ball_id });
                    sent.push((id, Sent::Collect));
                }
                Step::CollectAll { player } if active(player) => {
                    let id = sim.submit(players[n(player)].session, Request::CollectAll {});
                    sent.push((id, Sent::NeverFails));
                }
                Step::Steal { thief, ball, owner } if active(thief) => {
                    let friends = seen.graph.friends_of(players[n(thief)].id);
                    let (ball_id, live) = pick_ball(&sim, ball, &friends, true);
                    let owner = match (owner, &live) {
                        (Some(owner), _) => players[n(owner)].id,
                        (None, Some(live)) => live.owner,
                        (None, None) => players[n(usize::from(ball))].id,
                    };
                    // A ball ripe before this tick's commands never grows again, so its
                    // full amount is final; an unripe one may grow and ripen in this tick.
                    let full = live.filter(|b| b.ripe_at <= sim.now()).map(|b| b.full);
                    let thief = &players[n(thief)];
                    let id = sim.submit(
                        thief.session,
                        Request::Steal {
                            friend_id: owner,
                            ball_id,
                        },
                    );
                    sent.push((
                        id,
                        Sent::Steal {
                            thief: thief.id,
                            owner,
                            full,
                            at: now,
                        },
                    ));
                }
                Step::StealSpree { thief } if active(thief) => {
                    let thief = &players[n(thief)];
                    let friends = seen.graph.friends_of(thief.id);
                    let mut targets: Vec<canopy_server::store::Ball> = sim
                        .game
                        .world()
                        .resource::<Directory>()
                        .balls
                        .keys()
                        .filter_map(|&id| sim.ball(id))
                        .filter(|b| b.ripe_at <= now && friends.contains(&b.owner))
                        .collect();
                    targets.sort_by_key(|b| b.id);
                    for ball in targets {
                        let request = Request::Steal {
                            friend_id: ball.owner,
                            ball_id: ball.id,
                        };
                        let id = sim.submit(thief.session, request);
                        let full = (ball.ripe_at <= sim.now()).then_some(ball.full);
                        let owner = ball.owner;
                        sent.push((
                            id,
                            Sent::Steal {
                                thief: thief.id,
                                owner,
                                full,
                                at: now,
                            },
                        ));
                    }
                }
                Step::Help {
                    helper,
                    ball,
                    owner,
                } if active(helper) => {
                    let friends = seen.graph.friends_of(players[n(helper)].id);
                    let (ball_id, live) = pick_ball(&sim, ball, &friends, false);
                    let owner = match (owner, &live) {
                        (Some(owner), _) => players[n(owner)].id,
                        (None, Some(live)) => live.owner,
                        (None, None) => players[n(usize::from(ball))].id,
                    };
                    let helper = &players[n(helper)];
                    let id = sim.submit(
                        helper.session,
                        Request::HelpCollect {
                            friend_id: owner,
                            ball_id,
                        },
                    );
                    sent.push((
                        id,
                        Sent::Help {
                            helper: helper.id,
                            owner,
                        },
                    ));
                }
                Step::Water {
                    giver,
                    friend,
                    amount,
                } if active(giver) => {
                    let (giver, friend) = (&players[n(giver)], players[n(friend)].id);
                    let grams = WATER_GRAMS[amount];
                    let id = sim.submit(
                        giver.session,
                        Request::Water {
                            friend_id: friend,
                            grams,
                        },
                    );
                    sent.push((
                        id,
                        Sent::Water {
                            giver: giver.id,
                            friend,
                            grams,
                            at: now,
                        },
                    ));
                }
                Step::WaterBurst { giver, friend } if active(giver) => {
                    let giver = &players[n(giver)];
                    let friend = match seen.graph.friends_of(giver.id).as_slice() {
                        [] => players[n(friend)].id,
                        friends => friends[friend % friends.len()],
                    };
                    for _ in 0..4 {
                        let id = sim.submit(
                            giver.session,
                            Request::Water {
                                friend_id: friend,
                                grams: 10,
                            },
                        );
                        sent.push((
                            id,
                            Sent::Water {
                                giver: giver.id,
                                friend,
                                grams: 10,
                                at: now,
                            },
                        ));
                    }
                }
                Step::TeamCreate { player, species } if active(player) => {
                    let species = TEAM_SPECIES[species];
                    let request = Request::TeamCreate {
                        name: format!("team-{player}"),
                        species: species.into(),
                    };
                    let id = sim.submit(players[n(player)].session, request);
                    sent.push((id, Sent::TeamCreate { species }));
                }
                Step::TeamInvite {
                    player,
                    team,
                    invitee,
                    join,
                } if active(player) => {
                    let me = &players[n(player)];
                    // Mostly one of the inviter's friends.
                    let friends = seen.graph.friends_of(me.id);
                    let invitee = match friends.len() {
                        len if len > 0 && invitee % 4 != 0 => friends[invitee % len],
                        _ => players[n(invitee)].id,
                    };
                    let (team_id, known_team) = pick_team(&sim, me.id, team, Role::Member);
                    let id = sim.submit(
                        me.session,
                        Request::TeamInvite {
                            team_id,
                            player_id: invitee,
                        },
                    );
                    sent.push((
                        id,
                        Sent::TeamInvite {
                            me: me.id,
                            invitee,
                            known_team,
                        },
                    ));
                    let index = players
                        .iter()
                        .position(|p| p.id == invitee)
                        .expect("a player");
                    if join && active(index) {
                        let id = sim.submit(players[index].session, Request::TeamJoin { team_id });
                        sent.push((id, Sent::TeamJoin));
                    }
                }
                Step::TeamJoin { player, team } if active(player) => {
                    let (team_id, _) = pick_team(&sim, players[n(player)].id, team, Role::Invited);
                    let id = sim.submit(players[n(player)].session, Request::TeamJoin { team_id });
                    sent.push((id, Sent::TeamJoin));
                }
                Step::TeamLeave { player, team } if active(player) => {
                    let (team_id, _) = pick_team(&sim, players[n(player)].id, team, Role::Member);
                    let id = sim.submit(players[n(player)].session, Request::TeamLeave { team_id });
                    sent.push((id, Sent::TeamLeave));
                }
                Step::TeamWater {
                    player,
                    team,
                    grams,
                } if active(player) => {
                    let (team_id, _) = pick_team(&sim, players[n(player)].id, team, Role::Member);
                    let grams = TEAM_GRAMS[grams];
                    let id = sim.submit(
                        players[n(player)].session,
                        Request::TeamWater { team_id, grams },
                    );
                    sent.push((id, Sent::TeamWater { grams }));
                }
                Step::Grant { player, prop } => {
                    let grant = canopy_shared::admin::GrantProps {
                        player_id: players[n(player)].id,
                        prop: PropKind::ALL[prop],
                        count: 1,
                    };
                    let id = sim.submit_admin(canopy_server::game::AdminOp::GrantProps(grant));
                    sent.push((id, Sent::NeverFails));
                }
                Step::UseProp { player, prop } if active(player) => {
                    let request = Request::UseProp {
                        prop: PropKind::ALL[prop],
                    };
                    let id = sim.submit(players[n(player)].session, request);
                    sent.push((id, Sent::UseProp));
                }
                Step::Online { player } => {
                    let index = n(player);
                    if !online[index] {
                        // Back online: a new session logs in during this tick.
                        let session = sim.connect();
                        let id = sim.submit(
                            session,
                            Request::Login {
                                token: players[index].token.clone(),
                            },
                        );
                        sent.push((id, Sent::NeverFails));
                        let watch = sim.submit(
                            session,
                            Request::Watch {
                                what: WatchTarget::Friends,
                                friend_id: None,
                            },
                        );
                        sent.push((watch, Sent::NeverFails));
                        players[index].session = session;
                        online[index] = true;
                    } else if !logging_out.contains(&index) {
                        logging_out.push(index);
                    }
                }
                Step::Tick => {
                    let tick = sim.tick();
                    prop_assert!(tick.store_error.is_none());
                    // Commands apply in the order they were sent: check replies in that order.
                    for (id, what) in sent.drain(..) {
                        check_reply(&mut seen, &what, &tick, id)?;
                    }
                    support::audit(&sim.game, &sim.store).map_err(TestCaseError::fail)?;
                    support::audit_limits(&sim.game, &sim.store).map_err(TestCaseError::fail)?;
                    check_graph(&sim, &seen, &players)?;
                    check_stealable_events(&sim, &seen, &tick, &online, &players)?;
                    check_water_ledger(&sim, &seen)?;
                    for index in logging_out.drain(..) {
                        sim.disconnect(&players[index]);
                        online[index] = false;
                    }
                }
                // An offline player's request: skipped.
                _ => {}
            }
        }
        // What the store holds rebuilds the same World: energy, graph and teams.
        let restarted = sim.reload(START);
        support::audit(&restarted.game, &restarted.store).map_err(TestCaseError::fail)?;
        support::audit_limits(&restarted.game, &restarted.store).map_err(TestCaseError::fail)?;
        prop_assert_eq!(restarted.game.totals(), sim.game.totals());
        check_graph(&restarted, &seen, &players)?;
        let teams = |sim: &Sim| format!("{:?}", sim.game.world().resource::<Teams>().by_id);
        prop_assert_eq!(teams(&restarted), teams(&sim));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn social_play_conserves_energy_and_never_passes_a_cap(
            player_count in 3..=5usize,
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            play(player_count, &steps)?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// watch / unwatch
// ---------------------------------------------------------------------------------------

/// The `forest_changed` frames sent to `watcher`'s session this tick: the owner, the
/// stealable grams and the ball ids listed.
fn forest_events(tick: &Tick, watcher: &Player) -> Vec<(PlayerId, u64, Vec<BallId>)> {
    tick.events_to(watcher.session)
        .into_iter()
        .filter_map(|event| match event {
            Event::ForestChanged {
                owner_id,
                stealable_grams,
                balls,
                ..
            } => Some((
                *owner_id,
                *stealable_grams,
                balls.iter().map(|ball| ball.ball_id).collect(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn only_a_friends_forest_may_be_watched() {
    let mut sim = Sim::new();
    let [ant, bee, dog] = players(&mut sim, ["ant", "bee", "dog"]);
    sim.befriend(&ant, &bee);
    for forest in [dog.id, PlayerId(999), bee.id] {
        assert_eq!(
            code_of(sim.watch(&bee, Some(forest))),
            ErrorCode::NotFriends,
            "watching {forest}'s forest"
        );
    }
    let no_friend = Request::Watch {
        what: WatchTarget::Forest,
        friend_id: None,
    };
    assert_eq!(
        code_of(sim.call::<Empty>(bee.session, no_friend)),
        ErrorCode::BadRequest
    );
    let anonymous = sim.connect();
    let watch = Request::Watch {
        what: WatchTarget::Friends,
        friend_id: None,
    };
    assert_eq!(
        code_of(sim.call::<Empty>(anonymous, watch)),
        ErrorCode::Unauthenticated
    );
    sim.watch(&bee, Some(ant.id)).expect("a friend's forest");
    assert!(
        sim.unwatch(&bee, WatchTarget::Forest, Some(dog.id)).is_ok(),
        "unwatch is always ok"
    );
    assert!(sim.unwatch(&dog, WatchTarget::Friends, None).is_ok());
}

#[test]
fn a_forest_watcher_hears_of_that_friends_balls_until_it_stops_or_looks_elsewhere() {
    let mut sim = Sim::new();
    let [ant, bee, cat] = players(&mut sim, ["ant", "bee", "cat"]);
    sim.befriend(&ant, &bee);
    sim.befriend(&ant, &cat);
    sim.befriend(&bee, &cat);
    sim.watch(&bee, Some(ant.id)).expect("watch ant's forest");

    // Created: bee hears; cat, a friend watching nothing, hears nothing; ant's own
    // events are as ever.
    let walked = sim.submit(ant.session, support::walk_request(5_000, "walk-1"));
    let tick = sim.tick();
    let ball = tick
        .result::<canopy_shared::reply::RecordActionResult>(walked)
        .expect("walk")
        .ball
        .expect("a ball")
        .ball_id;
    assert_eq!(forest_events(&tick, &bee), vec![(ant.id, 0, vec![ball])]);
    assert!(
        stealable_events(&tick, &bee).is_empty(),
        "an unripe ball changes nothing stealable"
    );
    assert!(
        tick.events_to(cat.session).is_empty(),
        "cat watches nothing"
    );
    assert!(tick.events_for(cat.id).is_empty());
    assert!(matches!(
        tick.events_for(ant.id)[..],
        [Event::BallNew { .. }]
    ));

    // Ripened: the forest, and what bee could steal from ant now, as the spec's
    // `friend_stealable` to a session watching that friend's forest.
    let tick = next_morning(&mut sim);
    assert_eq!(forest_events(&tick, &bee), vec![(ant.id, 70, vec![ball])]);
    assert_eq!(stealable_events(&tick, &bee), vec![(ant.id, 70)]);
    assert!(tick.events_to(cat.session).is_empty());

    // Stolen by cat: bee sees what is left for it; ant hears of the theft as ever.
    let stolen = sim.submit(
        cat.session,
        Request::Steal {
            friend_id: ant.id,
            ball_id: ball,
        },
    );
    let tick = sim.tick();
    let taken = tick
        .result::<canopy_shared::reply::GramsEnergyResult>(stolen)
        .expect("steal")
        .grams;
    assert_eq!(
        forest_events(&tick, &bee),
        vec![(ant.id, 70 - taken, vec![ball])]
    );
    assert_eq!(stealable_events(&tick, &bee), vec![(ant.id, 70 - taken)]);
    assert!(
        tick.events_to(cat.session).is_empty(),
        "the thief watches nothing"
    );
    assert!(
        tick.events_for(ant.id)
            .iter()
            .any(|e| matches!(e, Event::EnergyStolen { .. }))
    );

    // Collected: the forest is empty.
    let picked = sim.submit(ant.session, Request::Collect { ball_id: ball });
    let tick = sim.tick();
    tick.result::<serde_json::Value>(picked).expect("collect");
    assert_eq!(forest_events(&tick, &bee), vec![(ant.id, 0, vec![])]);
    assert_eq!(stealable_events(&tick, &bee), vec![(ant.id, 0)]);

    // Two new balls in one batch: one frame listing both.
    let reports: Vec<u64> = ["r-1", "r-2"]
        .map(|reference| sim.submit_admin(support::partner_op(ant.id, "metro", reference)))
        .to_vec();
    let tick = sim.tick();
    let new_balls: Vec<BallId> = reports
        .iter()
        .map(|&id| {
            tick.result::<canopy_shared::reply::RecordActionResult>(id)
                .expect("partner report")
                .ball
                .expect("a ball")
                .ball_id
        })
        .collect();
    let frames = forest_events(&tick, &bee);
    assert_eq!(frames.len(), 1, "coalesced: {frames:?}");
    assert_eq!(frames[0].2, new_balls);

    // Expired: the frame of the tick that ends them lists no ball.
    let tick = sim.advance(5 * DAY);
    assert_eq!(forest_events(&tick, &bee), vec![(ant.id, 0, vec![])]);
    assert!(
        tick.events_for(ant.id)
            .iter()
            .any(|e| matches!(e, Event::BallGone { .. }))
    );

    // Watching cat's forest replaces ant's.
    sim.watch(&bee, Some(cat.id)).expect("watch cat's forest");
    let ant_walks = sim.submit(ant.session, support::walk_request(5_000, "walk-2"));
    let cat_walks = sim.submit(cat.session, support::walk_request(5_000, "walk-3"));
    let tick = sim.tick();
    for id in [ant_walks, cat_walks] {
        tick.result::<serde_json::Value>(id).expect("walk");
    }
    let frames = forest_events(&tick, &bee);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].0, cat.id, "no longer ant's");

    // `unwatch` naming another forest changes nothing; plain `unwatch` stops it.
    sim.unwatch(&bee, WatchTarget::Forest, Some(ant.id))
        .expect("unwatch");
    let walked = sim.submit(cat.session, support::walk_request(9_000, "walk-4"));
    let tick = sim.tick();
    tick.result::<serde_json::Value>(walked).expect("walk");
    assert_eq!(forest_events(&tick, &bee).len(), 1, "still cat's");
    sim.unwatch(&bee, WatchTarget::Forest, None)
        .expect("unwatch");
    let walked = sim.submit(cat.session, support::walk_request(12_000, "walk-5"));
    let tick = sim.tick();
    tick.result::<serde_json::Value>(walked).expect("walk");
    assert!(
        tick.events_to(bee.session).is_empty(),
        "bee watches nothing"
    );

    // A watch outlives a friendship only as silence.
    sim.watch(&bee, Some(ant.id)).expect("watch ant's forest");
    sim.unfriend(&ant, bee.id).expect("unfriend");
    let walked = sim.submit(ant.session, support::walk_request(9_000, "walk-6"));
    let tick = sim.tick();
    tick.result::<serde_json::Value>(walked).expect("walk");
    assert!(tick.events_to(bee.session).is_empty(), "no longer friends");
    sim.assert_conserved();
}

#[test]
fn a_session_watching_a_friend_both_ways_gets_one_friend_stealable_per_batch() {
    let mut sim = Sim::new();
    let [ant, bee, cat, dog] = players(&mut sim, ["ant", "bee", "cat", "dog"]);
    for friend in [&bee, &cat, &dog] {
        sim.befriend(&ant, friend);
    }
    let walk = walk_ball(&mut sim, &ant, 5_000); // 100 g: 70 g stealable
    let metro = partner_ball(&mut sim, &ant, "metro"); // 52 g: 36 g stealable
    // Bee's session watches the list and ant's forest; cat's first session the list and
    // its second ant's forest; dog watches nothing.
    sim.watch(&bee, None).expect("watch the list");
    sim.watch(&bee, Some(ant.id)).expect("watch ant's forest");
    sim.watch(&cat, None).expect("watch the list");
    let cat_too = sim.login(&cat);
    sim.watch(&cat_too, Some(ant.id))
        .expect("watch ant's forest");

    // Two balls ripen in one batch.
    let ripening = next_morning(&mut sim);
    let both = Event::FriendStealable {
        friend_id: ant.id,
        grams: 70 + 36,
    };
    let bees = ripening.events_to(bee.session);
    assert_eq!(
        bees.iter().filter(|e| ***e == both).count(),
        1,
        "one friend_stealable though bee watches ant twice: {bees:?}"
    );
    assert_eq!(forest_events(&ripening, &bee).len(), 1);
    assert_eq!(stealable_events(&ripening, &cat), vec![(ant.id, 106)]);
    assert_eq!(stealable_events(&ripening, &cat_too), vec![(ant.id, 106)]);
    assert!(forest_events(&ripening, &cat).is_empty(), "cat's list only");
    assert_eq!(forest_events(&ripening, &cat_too).len(), 1);
    assert!(ripening.events_to(dog.session).is_empty());
    assert!(ripening.events_for(dog.id).is_empty());

    // Two steals in one batch: still one each, with what is left after both.
    let steals = [(&bee, walk), (&dog, metro)].map(|(thief, ball_id)| {
        sim.submit(
            thief.session,
            Request::Steal {
                friend_id: ant.id,
                ball_id,
            },
        )
    });
    let tick = sim.tick();
    let taken: Vec<u64> = steals
        .iter()
        .map(|&id| {
            tick.result::<canopy_shared::reply::GramsEnergyResult>(id)
                .expect("steal")
                .grams
        })
        .collect();
    let left = (70 - taken[0]) + (36 - taken[1]);
    assert_eq!(stealable_events(&tick, &bee), vec![(ant.id, 36 - taken[1])]);
    assert_eq!(stealable_events(&tick, &cat), vec![(ant.id, left)]);
    assert_eq!(stealable_events(&tick, &cat_too), vec![(ant.id, left)]);
    assert!(
        tick.events_to(dog.session).is_empty(),
        "the thief watches nothing"
    );
    sim.assert_conserved();
}

#[test]
fn a_session_that_watches_nothing_hears_nothing_about_other_players() {
    let mut sim = Sim::new();
    let [ant, bee] = players(&mut sim, ["ant", "bee"]);
    sim.befriend(&ant, &bee);
    let ball = walk_ball(&mut sim, &ant, 5_000);
    let ripening = next_morning(&mut sim);
    assert!(ripening.events_for(bee.id).is_empty());
    assert!(ripening.events_to(bee.session).is_empty());
    // Bee's second session watches the list; the first still hears nothing.
    let bee_too = sim.login(&bee);
    sim.watch(&bee_too, None).expect("watch");
    let stolen = sim.submit(
        bee.session,
        Request::Steal {
            friend_id: ant.id,
            ball_id: ball,
        },
    );
    let tick = sim.tick();
    tick.result::<serde_json::Value>(stolen).expect("steal");
    assert!(tick.events_to(bee.session).is_empty());
    assert_eq!(stealable_events(&tick, &bee_too), vec![(ant.id, 0)]);
    let own: Vec<&str> = tick.events_for(ant.id).iter().map(|e| e.name()).collect();
    assert_eq!(
        own,
        ["energy_stolen"],
        "the owner's own event, to all its sessions"
    );
}
