//! Players together over real sockets: befriend, steal, cover, water, help-collect,
//! boards, feed and team planting, with each side seeing the other's events.

mod support;

use anyhow::Result;
use canopy_shared::{Event, PlayerId};
use serde_json::json;
use support::{Client, HOUR, Server, player};

/// Makes two players friends and returns after both saw `friend_added`.
async fn befriend(a: &mut Client, a_id: u64, b: &mut Client, b_id: u64) -> Result<()> {
    a.ok("friend_request", json!({"player_id": b_id})).await?;
    b.wait_event(|e| matches!(e, Event::FriendRequest { from, .. } if from.0 == a_id))
        .await?;
    b.ok("friend_accept", json!({"player_id": a_id})).await?;
    a.wait_event(|e| matches!(e, Event::FriendAdded { player_id } if player_id.0 == b_id))
        .await?;
    Ok(())
}

/// Gives a player a ripe metro ball of 52 g through the partner channel, 31 h later.
fn partner_metro(server: &Server, player: u64, reference: &str) -> Result<u64> {
    let (status, answer) = server.admin(
        "/admin/actions",
        json!({"player_id": player, "kind": "metro", "quantity": 1, "ref": reference}),
    )?;
    anyhow::ensure!(status == 200, "partner action failed: {answer}");
    answer["ball"]["ball_id"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no ball in {answer}"))
}

#[tokio::test]
async fn friends_steal_water_and_help_with_events_on_both_sides() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut alice, alice_id, _) = player(&server, "alice").await?;
    let (mut bob, bob_id, _) = player(&server, "bob").await?;

    let ball = partner_metro(&server, alice_id, "m1")?;
    assert_eq!(
        bob.error_code("steal", json!({"friend_id": alice_id, "ball_id": ball}))
            .await?,
        "NOT_FRIENDS"
    );
    befriend(&mut alice, alice_id, &mut bob, bob_id).await?;
    assert_eq!(
        bob.error_code("friend_request", json!({"player_id": alice_id}))
            .await?,
        "CONFLICT"
    );
    assert_eq!(
        bob.error_code("steal", json!({"friend_id": alice_id, "ball_id": ball}))
            .await?,
        "NOT_RIPE"
    );
    server.advance(31 * HOUR)?;

    let friends = bob.ok("friends", json!({})).await?;
    let hand = friends["friends"][0]["stealable_grams"]
        .as_u64()
        .unwrap_or_default();
    assert_eq!(hand, 36, "70 % of 52 g is stealable: {friends}");

    let grams = support::steal_heard(&mut bob, bob_id, &mut alice, alice_id, ball).await?;
    assert_eq!(
        bob.error_code("steal", json!({"friend_id": alice_id, "ball_id": ball}))
            .await?,
        "ALREADY_STOLEN"
    );

    let collected = alice.ok("collect", json!({"ball_id": ball})).await?;
    assert_eq!(collected["grams"], 52 - grams, "the owner keeps the rest");

    let watered = alice
        .ok("water", json!({"friend_id": bob_id, "grams": 10}))
        .await?;
    assert_eq!(watered["energy"], 52 - grams - 10);
    let water_ball = watered["ball_id"].as_u64().unwrap_or_default();
    let event = bob
        .wait_event(|e| matches!(e, Event::Watered { .. }))
        .await?;
    assert!(matches!(event, Event::Watered { grams: 10, .. }));
    assert_eq!(
        alice
            .error_code("water", json!({"friend_id": bob_id, "grams": 11}))
            .await?,
        "BAD_REQUEST"
    );
    assert_eq!(
        alice
            .error_code("steal", json!({"friend_id": bob_id, "ball_id": water_ball}))
            .await?,
        "NOTHING_LEFT",
        "water balls cannot be stolen"
    );
    let helped = alice
        .ok(
            "help_collect",
            json!({"friend_id": bob_id, "ball_id": water_ball}),
        )
        .await?;
    assert_eq!(helped["grams"], 10);
    bob.wait_event(|e| matches!(e, Event::HelpCollected { grams: 10, .. }))
        .await?;
    assert_eq!(
        bob.ok("me", json!({})).await?["player"]["energy"],
        grams + 10
    );

    let feed = alice.ok("feed", json!({"limit": 10})).await?;
    let kinds: Vec<&str> = feed["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["stolen"], "{feed}");
    let feed = bob.ok("feed", json!({})).await?;
    let kinds: Vec<&str> = feed["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["helped", "watered"], "newest first: {feed}");

    let board = bob.ok("leaderboard", json!({"period": "total"})).await?;
    let entries = board["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["rank"], 1);
    assert!(entries[0]["grams"].as_u64() >= entries[1]["grams"].as_u64());
    Ok(())
}

#[tokio::test]
async fn a_cover_blocks_thieves_and_tells_the_owner() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut alice, alice_id, _) = player(&server, "alice").await?;
    let (mut bob, bob_id, _) = player(&server, "bob").await?;
    befriend(&mut alice, alice_id, &mut bob, bob_id).await?;
    let ball = partner_metro(&server, alice_id, "m1")?;
    server.advance(31 * HOUR)?;
    server.admin(
        "/admin/props",
        json!({"player_id": alice_id, "prop": "protection_cover", "count": 1}),
    )?;
    alice
        .ok("use_prop", json!({"prop": "protection_cover"}))
        .await?;
    assert_eq!(
        bob.error_code("steal", json!({"friend_id": alice_id, "ball_id": ball}))
            .await?,
        "PROTECTED"
    );
    let event = alice
        .wait_event(|e| matches!(e, Event::ProtectedBlock { .. }))
        .await?;
    assert_eq!(
        event,
        Event::ProtectedBlock {
            by: Some(canopy_shared::PlayerId(bob_id))
        }
    );
    let feed = alice.ok("feed", json!({})).await?;
    assert_eq!(feed["entries"][0]["kind"], "protected_block");
    let friends = bob.ok("friends", json!({})).await?;
    assert_eq!(friends["friends"][0]["stealable_grams"], 0);
    assert!(friends["friends"][0]["protected_until"].is_u64());
    Ok(())
}

#[tokio::test]
async fn blocking_ends_friendship_and_stops_requests() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut alice, alice_id, _) = player(&server, "alice").await?;
    let (mut bob, bob_id, _) = player(&server, "bob").await?;
    befriend(&mut alice, alice_id, &mut bob, bob_id).await?;
    alice.ok("block", json!({"player_id": bob_id})).await?;
    bob.wait_event(|e| matches!(e, Event::FriendRemoved { player_id } if player_id.0 == alice_id))
        .await?;
    assert_eq!(
        bob.error_code("friend_request", json!({"player_id": alice_id}))
            .await?,
        "BLOCKED"
    );
    assert_eq!(
        bob.error_code("water", json!({"friend_id": alice_id, "grams": 10}))
            .await?,
        "NOT_FRIENDS"
    );
    assert_eq!(
        bob.error_code("unfriend", json!({"player_id": alice_id}))
            .await?,
        "NOT_FRIENDS"
    );
    alice.ok("unblock", json!({"player_id": bob_id})).await?;
    bob.ok("friend_request", json!({"player_id": alice_id}))
        .await?;
    Ok(())
}

#[tokio::test]
async fn three_friends_plant_a_team_tree() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut a, a_id, _) = player(&server, "ann").await?;
    let (mut b, b_id, _) = player(&server, "ben").await?;
    let (mut c, c_id, _) = player(&server, "cat").await?;
    befriend(&mut a, a_id, &mut b, b_id).await?;
    befriend(&mut a, a_id, &mut c, c_id).await?;
    let team = a
        .ok(
            "team_create",
            json!({"name": "dunes", "species": "caragana"}),
        )
        .await?;
    let team_id = team["team_id"].as_u64().unwrap_or_default();
    assert_eq!(
        b.error_code("team_join", json!({"team_id": team_id}))
            .await?,
        "NOT_FOUND"
    );
    assert_eq!(
        a.error_code("team_water", json!({"team_id": team_id, "grams": 10}))
            .await?,
        "FORBIDDEN",
        "a team of one cannot water"
    );
    for (client, id) in [(&mut b, b_id), (&mut c, c_id)] {
        a.ok("team_invite", json!({"team_id": team_id, "player_id": id}))
            .await?;
        client.ok("team_join", json!({"team_id": team_id})).await?;
    }
    // Earn energy: the monthly partner kinds give each player 7,165 g in one day.
    let monthly = [
        ("utility_bill", 10),
        ("online_ticket", 10),
        ("train_ticket", 10),
        ("hospital_booking", 5),
    ];
    for player in [a_id, b_id, c_id] {
        for (kind, count) in monthly {
            for n in 0..count {
                server.admin(
                    "/admin/actions",
                    json!({"player_id": player, "kind": kind, "quantity": 1, "ref": format!("{kind}-{n}")}),
                )?;
            }
        }
    }
    server.advance(31 * HOUR)?;
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.ok("collect_all", json!({})).await?["energy"], 7_165);
    }
    // 16,930 g at 5,000 g per member per day: two days of watering.
    let mut progress = 0;
    let mut limited = 0;
    'water: for _day in 0..3 {
        for _ in 0..3 {
            for client in [&mut a, &mut b, &mut c] {
                let reply = client
                    .call("team_water", json!({"team_id": team_id, "grams": 2_000}))
                    .await?;
                if reply["ok"] == json!(false) {
                    assert_eq!(reply["error"]["code"], "LIMIT_REACHED", "{reply}");
                    limited += 1;
                    continue;
                }
                let now = reply["team"]["progress"].as_u64().unwrap_or_default();
                if now < progress {
                    progress = now;
                    break 'water;
                }
                progress = now;
            }
        }
        server.advance(24 * HOUR)?;
    }
    assert!(limited > 0, "the per-member daily limit applied");
    assert_eq!(progress, 0, "the tree was planted and a new one started");
    for client in [&mut a, &mut b, &mut c] {
        let event = client
            .wait_event(|e| matches!(e, Event::Certificate { .. }))
            .await?;
        let Event::Certificate { certificate } = event else {
            unreachable!()
        };
        assert_eq!(certificate.team.as_deref(), Some("dunes"));
        assert_eq!(certificate.species, "caragana");
    }
    Ok(())
}

/// Pushes about friends go only to the session that watches them, over real sockets:
/// `friend_stealable` (once per friend and batch, though bob watches alice both through
/// the friends list and her forest), and a friend's forest in `forest_changed`.
#[tokio::test]
async fn only_watching_sessions_hear_about_friends() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut alice, alice_id, _) = player(&server, "alice").await?;
    let (mut bob, bob_id, bob_token) = player(&server, "bob").await?;
    befriend(&mut alice, alice_id, &mut bob, bob_id).await?;
    let mut bob_idle = support::login(&server, &bob_token).await?;
    assert_eq!(
        bob.error_code("watch", json!({"what": "forest", "friend_id": 999_999}))
            .await?,
        "NOT_FRIENDS"
    );
    bob.ok("watch", json!({"what": "friends"})).await?;
    bob.ok("watch", json!({"what": "forest", "friend_id": alice_id}))
        .await?;

    let ball = partner_metro(&server, alice_id, "w1")?;
    let forest = bob
        .wait_event(|e| matches!(e, Event::ForestChanged { .. }))
        .await?;
    let Event::ForestChanged {
        owner_id, balls, ..
    } = forest
    else {
        unreachable!("matched above")
    };
    assert_eq!(owner_id.0, alice_id);
    assert_eq!(
        balls.iter().map(|b| b.ball_id.0).collect::<Vec<_>>(),
        [ball]
    );

    server.advance(31 * HOUR)?;
    let stealable = bob
        .wait_event(|e| matches!(e, Event::FriendStealable { .. }))
        .await?;
    assert_eq!(
        stealable,
        Event::FriendStealable {
            friend_id: PlayerId(alice_id),
            grams: 36
        }
    );
    bob.wait_event(|e| matches!(e, Event::ForestChanged { .. }))
        .await?;
    // By the reply to a later ping every event of that batch has arrived: no second
    // `friend_stealable` about alice.
    bob.ok("ping", json!({})).await?;
    assert!(
        !bob.events
            .iter()
            .any(|e| matches!(e, Event::FriendStealable { .. })),
        "{:?}",
        bob.events
    );

    // The other session of bob watches nothing: by the reply to a later ping, every
    // event of the earlier batches has reached it, and none was about alice.
    bob_idle.ok("ping", json!({})).await?;
    assert!(
        !bob_idle.events.iter().any(|e| matches!(
            e,
            Event::FriendStealable { .. } | Event::ForestChanged { .. }
        )),
        "{:?}",
        bob_idle.events
    );

    // After `unwatch` (whose replies follow every earlier push), nothing more.
    bob.ok("unwatch", json!({"what": "friends"})).await?;
    bob.ok("unwatch", json!({"what": "forest"})).await?;
    bob.events.clear();
    alice.ok("collect", json!({"ball_id": ball})).await?;
    bob.ok("ping", json!({})).await?;
    assert!(bob.events.is_empty(), "{:?}", bob.events);
    Ok(())
}
