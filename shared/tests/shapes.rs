//! Pins the exact JSON shapes of PROTOCOL.md (version 1).
//!
//! Independent clients are written against these names and shapes, so every test here
//! compares against literal JSON: a renamed field or op must fail a test, not slip by.
//! Sections: requests per PROTOCOL.md table, request decode errors, reply envelopes,
//! result shapes, events, error codes, game things, admin bodies.

use canopy_shared::admin::{
    AdminError, ClockAdvance, ClockTime, GrantProps, PartnerAction, TickRate,
};
use canopy_shared::event::{GoneReason, RipeBall};
use canopy_shared::frame::{
    ReplyFrame, ServerFrame, decode_request, decode_server_frame, encode_request,
};
use canopy_shared::model::{
    ActiveProp, AreaView, BallView, BoardEntry, BoardPeriod, Certificate, CertificateKind,
    FeedEntry, FeedKind, FriendView, PendingRequestView, PlayerView, PropKind, PropsView,
    RevivableBall, ShopItemView, SpeciesView, Suggestion, TeamView, TreeStage, WatchTarget,
};
use canopy_shared::rain::{
    RainBall, RainGiftResult, RainParams, RainRoundView, RainStartResult, RainStatusResult,
    RainTapResult,
};
use canopy_shared::reply::{
    BallsResult, BuyResult, CollectAllResult, Empty, FeedResult, FriendsResult, GramsEnergyResult,
    HelloResult, HelpCollectResult, HostLoginResult, LeaderboardResult, LoginResult,
    LogoutAllResult, MeResult, PingResult, PlantResult, PropsResult, RecordActionResult,
    RefreshResult, RegisterResult, ReviveResult, ShopResult, SpeciesResult, SuggestionsResult,
    TeamCreateResult, TeamWaterResult, TeamsResult, WaterResult, encode_err, encode_ok,
};
use canopy_shared::{
    BallId, CertificateId, ErrorBody, ErrorCode, Event, PROTOCOL_VERSION, PlayerId, Request, TeamId,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A value as JSON, through serde.
fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("protocol types serialize to JSON")
}

/// A JSON value read back as `T`.
fn from_json<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("the literal has the type's shape")
}

/// Parses frame text the server or a client produced.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("encoders produce valid JSON")
}

/// The object with its `null` members removed (optional fields a client may omit).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            Value::Object(fields.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

/// Decodes `frame` and checks it yields `expected` with the frame's id; then checks that
/// `encode_request` writes the same fields (nulls aside) and that it decodes back.
fn assert_op(frame: Value, expected: Request) {
    let id = frame["id"].as_u64().expect("test frames carry a u64 id");
    let op = frame["op"]
        .as_str()
        .expect("test frames carry an op")
        .to_owned();
    let decoded = decode_request(&frame.to_string())
        .unwrap_or_else(|err| panic!("`{op}` should decode, got {err:?}"));
    assert_eq!(decoded, (id, expected.clone()), "decoding `{op}`");
    assert_eq!(expected.op_name(), op, "op_name of `{op}`");

    let encoded = encode_request(id, &expected);
    assert_eq!(
        without_nulls(parse(&encoded)),
        without_nulls(frame),
        "encoding `{op}`"
    );
    assert_eq!(
        decode_request(&encoded).expect("an encoded request decodes"),
        (id, expected),
        "round trip of `{op}`"
    );
}

/// Decodes a frame that must be refused, returning the id the reply would echo.
fn refused(text: &str) -> Option<u64> {
    let err = decode_request(text).expect_err("the frame should be refused");
    assert_eq!(err.error.code, ErrorCode::BadRequest, "refusing {text}");
    assert!(
        !err.error.message.is_empty(),
        "refusal of {text} explains itself"
    );
    err.id
}

/// `encode_ok(id, result)` as a JSON value.
fn ok_reply<T: Serialize>(id: u64, result: &T) -> Value {
    parse(&encode_ok(id, result))
}

// ---------------------------------------------------------------------------------------
// Fixtures: one of each game thing, with its JSON literal
// ---------------------------------------------------------------------------------------

fn ball() -> BallView {
    BallView {
        ball_id: BallId(41),
        owner: PlayerId(7),
        source: "walk".into(),
        amount: 180,
        created_at: 1_700_000_000_000,
        ripe_at: 1_700_050_000_000,
        expires_at: 1_700_309_200_000,
        stolen: 20,
        stealable: 76,
    }
}

fn ball_json() -> Value {
    json!({
        "ball_id": 41, "owner": 7, "source": "walk", "amount": 180,
        "created_at": 1_700_000_000_000_u64, "ripe_at": 1_700_050_000_000_u64,
        "expires_at": 1_700_309_200_000_u64, "stolen": 20, "stealable": 76
    })
}

fn certificate(team: Option<&str>) -> Certificate {
    Certificate {
        id: CertificateId(3),
        species: "saxaul".into(),
        region: "Alxa, Inner Mongolia".into(),
        grams: 17_900,
        planted_at: 1_700_100_000_000,
        team: team.map(str::to_owned),
        kind: CertificateKind::Tree,
        square_metres: None,
    }
}

fn certificate_json(team: Option<&str>) -> Value {
    json!({
        "id": 3, "species": "saxaul", "region": "Alxa, Inner Mongolia", "grams": 17_900,
        "planted_at": 1_700_100_000_000_u64, "team": team, "kind": "tree", "square_metres": null
    })
}

/// An `area` certificate, and how it reads on the wire.
#[test]
fn an_area_certificate_names_its_kind_and_square_metres() {
    let area = Certificate {
        id: CertificateId(4),
        species: "sanjiangyuan".into(),
        region: "Qinghai".into(),
        grams: 180,
        planted_at: 1_700_100_000_000,
        team: None,
        kind: CertificateKind::Area,
        square_metres: Some(10),
    };
    assert_result(
        &PlantResult {
            certificate: area,
            energy: 20,
        },
        json!({"certificate": {
            "id": 4, "species": "sanjiangyuan", "region": "Qinghai", "grams": 180,
            "planted_at": 1_700_100_000_000_u64, "team": null, "kind": "area", "square_metres": 10
        }, "energy": 20}),
    );
    let before_areas: Certificate = serde_json::from_value(json!({
        "id": 3, "species": "saxaul", "region": "Alxa, Inner Mongolia", "grams": 17_900,
        "planted_at": 1_700_100_000_000_u64, "team": null
    }))
    .expect("a certificate from a server before areas decodes");
    assert_eq!(before_areas, certificate(None), "as a tree");
    assert_op(
        json!({"id": 35, "op": "protect_area", "area": "sanjiangyuan", "square_metres": 10}),
        Request::ProtectArea {
            area: "sanjiangyuan".into(),
            square_metres: 10,
        },
    );
}

fn props() -> PropsView {
    PropsView {
        inventory: BTreeMap::from([
            (PropKind::ProtectionCover, 1),
            (PropKind::DoubleClick, 0),
            (PropKind::TimeAccelerator, 2),
            (PropKind::Stealth, 0),
        ]),
        active: vec![ActiveProp {
            prop: PropKind::DoubleClick,
            until: 1_700_086_400_000,
        }],
    }
}

fn props_json() -> Value {
    json!({
        "inventory": {
            "protection_cover": 1, "double_click": 0, "time_accelerator": 2, "stealth": 0
        },
        "active": [{"prop": "double_click", "until": 1_700_086_400_000_u64}]
    })
}

fn team() -> TeamView {
    TeamView {
        team_id: TeamId(5),
        name: "dune-crew".into(),
        species: "saxaul".into(),
        progress: 1_200,
        grams: 17_900,
        members: vec![PlayerId(7), PlayerId(8)],
    }
}

fn team_json() -> Value {
    json!({
        "team_id": 5, "name": "dune-crew", "species": "saxaul", "progress": 1_200,
        "grams": 17_900, "members": [7, 8]
    })
}

// ---------------------------------------------------------------------------------------
// Requests, one test per PROTOCOL.md table
// ---------------------------------------------------------------------------------------

/// `hello`, `register`, `login`, `ping`.
#[test]
fn session_ops_decode_and_round_trip() {
    assert_op(
        json!({"id": 1, "op": "hello", "version": 1}),
        Request::Hello { version: 1 },
    );
    assert_op(
        json!({"id": 2, "op": "register", "name": "小明_walker-1"}),
        Request::Register {
            name: "小明_walker-1".into(),
        },
    );
    assert_op(
        json!({"id": 3, "op": "login", "token": "tok-abc"}),
        Request::Login {
            token: "tok-abc".into(),
        },
    );
    assert_op(json!({"id": 4, "op": "ping"}), Request::Ping {});
    assert_op(json!({"id": 5, "op": "refresh"}), Request::Refresh {});
    assert_op(json!({"id": 6, "op": "logout"}), Request::Logout {});
    assert_op(json!({"id": 7, "op": "logout_all"}), Request::LogoutAll {});
    assert_op(
        json!({"id": 8, "op": "host_login", "jwt": "a.b.c"}),
        Request::HostLogin {
            jwt: "a.b.c".into(),
        },
    );
    assert_eq!(PROTOCOL_VERSION, 1);
}

/// The energy table: `me` … `species`.
#[test]
fn energy_ops_decode_and_round_trip() {
    assert_op(json!({"id": 10, "op": "me"}), Request::Me {});
    assert_op(
        json!({"id": 11, "op": "record_action", "kind": "walk", "quantity": 8_500, "ref": "2024-05-01-steps"}),
        Request::RecordAction {
            kind: "walk".into(),
            quantity: Some(8_500),
            reference: "2024-05-01-steps".into(),
        },
    );
    assert_op(
        json!({"id": 12, "op": "record_action", "kind": "walk", "ref": "r-no-quantity"}),
        Request::RecordAction {
            kind: "walk".into(),
            quantity: None,
            reference: "r-no-quantity".into(),
        },
    );
    assert_op(
        json!({"id": 13, "op": "collect", "ball_id": 41}),
        Request::Collect {
            ball_id: BallId(41),
        },
    );
    assert_op(
        json!({"id": 14, "op": "collect_all"}),
        Request::CollectAll {},
    );
    assert_op(
        json!({"id": 15, "op": "steal", "friend_id": 8, "ball_id": 41}),
        Request::Steal {
            friend_id: PlayerId(8),
            ball_id: BallId(41),
        },
    );
    assert_op(
        json!({"id": 16, "op": "help_collect", "friend_id": 8, "ball_id": 42}),
        Request::HelpCollect {
            friend_id: PlayerId(8),
            ball_id: BallId(42),
        },
    );
    assert_op(
        json!({"id": 17, "op": "water", "friend_id": 8, "grams": 66}),
        Request::Water {
            friend_id: PlayerId(8),
            grams: 66,
        },
    );
    assert_op(
        json!({"id": 18, "op": "plant", "species": "saxaul"}),
        Request::Plant {
            species: "saxaul".into(),
        },
    );
    for (i, (wire, prop)) in [
        ("protection_cover", PropKind::ProtectionCover),
        ("double_click", PropKind::DoubleClick),
        ("time_accelerator", PropKind::TimeAccelerator),
        ("stealth", PropKind::Stealth),
    ]
    .into_iter()
    .enumerate()
    {
        assert_op(
            json!({"id": 19 + i, "op": "use_prop", "prop": wire}),
            Request::UseProp { prop },
        );
    }
    assert_op(json!({"id": 30, "op": "species"}), Request::Species {});
}

/// The shop table: `shop`, `buy`, `gift_prop`.
#[test]
fn shop_ops_decode_and_round_trip() {
    assert_op(json!({"id": 31, "op": "shop"}), Request::Shop {});
    assert_op(
        json!({"id": 32, "op": "buy", "item": "double_click_month"}),
        Request::Buy {
            item: "double_click_month".into(),
        },
    );
    assert_op(
        json!({"id": 33, "op": "gift_prop", "friend_id": 8, "prop": "protection_cover"}),
        Request::GiftProp {
            friend_id: PlayerId(8),
            prop: PropKind::ProtectionCover,
        },
    );
}

/// `revive`.
#[test]
fn revive_op_and_result() {
    assert_op(
        json!({"id": 34, "op": "revive", "friend_id": 8, "ball_id": 41}),
        Request::Revive {
            friend_id: PlayerId(8),
            ball_id: BallId(41),
        },
    );
    assert_result(
        &ReviveResult {
            ball_id: BallId(90),
            grams: 52,
            vitality: 15,
        },
        json!({"ball_id": 90, "grams": 52, "vitality": 15}),
    );
}

/// An expired ball a friend may revive, as `friend_balls` and `forest_changed` list it.
fn revivable() -> RevivableBall {
    RevivableBall {
        ball_id: BallId(41),
        grams: 52,
        expired_at: 1_700_000_000_000,
        until: 1_700_086_400_000,
    }
}

fn revivable_json() -> Value {
    json!({"ball_id": 41, "grams": 52, "expired_at": 1_700_000_000_000_u64, "until": 1_700_086_400_000_u64})
}

/// `shop` and `buy` results; `gift_prop` answers as `use_prop` does.
#[test]
fn shop_results() {
    assert_result(
        &ShopResult {
            vitality: 75,
            gifts_left: 3,
            items: vec![ShopItemView {
                item: "double_click_month".into(),
                prop: PropKind::DoubleClick,
                count: 31,
                price: 600,
                per_day: None,
                per_month: Some(1),
                left_today: Some(1),
            }],
        },
        json!({"vitality": 75, "gifts_left": 3, "items": [{
            "item": "double_click_month", "prop": "double_click", "count": 31, "price": 600,
            "per_day": null, "per_month": 1, "left_today": 1
        }]}),
    );
    assert_result(
        &BuyResult {
            item: "stealth".into(),
            vitality: 55,
            props: props(),
        },
        json!({"item": "stealth", "vitality": 55, "props": props_json()}),
    );
}

/// The energy rain table: `rain`, `rain_start`, `rain_tap`, `rain_gift`.
#[test]
fn rain_ops_decode_and_round_trip() {
    assert_op(json!({"id": 34, "op": "rain"}), Request::Rain {});
    assert_op(json!({"id": 35, "op": "rain_start"}), Request::RainStart {});
    assert_op(
        json!({"id": 36, "op": "rain_tap", "round_id": 4, "ball": 7, "at": 1_700_000_001_250u64}),
        Request::RainTap {
            round_id: 4,
            ball: 7,
            at: 1_700_000_001_250,
        },
    );
    assert_op(
        json!({"id": 37, "op": "rain_gift", "friend_id": 8}),
        Request::RainGift {
            friend_id: PlayerId(8),
        },
    );
}

/// `rain_start`, `rain_tap`, `rain_gift` and `rain` results.
#[test]
fn rain_results() {
    let params = RainParams {
        duration_ms: 15_000,
        lanes: 5,
        balls: 1,
        total_grams: 4,
        fall_ms_min: 2_000,
        fall_ms_max: 2_000,
    };
    let round = RainRoundView {
        round_id: 4,
        seed: 99,
        params,
        starts_at: 1_000,
        ends_at: 16_000,
        tolerance_ms: 1_000,
        balls: vec![RainBall {
            ball: 0,
            lane: 2,
            appear_ms: 300,
            fall_ms: 2_000,
            grams: 4,
        }],
        caught: vec![0],
    };
    let round_json = json!({
        "round_id": 4, "seed": 99,
        "params": {"duration_ms": 15000, "lanes": 5, "balls": 1, "total_grams": 4,
                   "fall_ms_min": 2000, "fall_ms_max": 2000},
        "starts_at": 1000, "ends_at": 16000, "tolerance_ms": 1000,
        "balls": [{"ball": 0, "lane": 2, "appear_ms": 300, "fall_ms": 2000, "grams": 4}],
        "caught": [0]
    });
    assert_result(
        &RainStartResult {
            round: round.clone(),
            rounds_left: 0,
        },
        json!({"round": round_json.clone(), "rounds_left": 0}),
    );
    assert_result(
        &RainTapResult {
            round_id: 4,
            ball: 0,
            grams: 4,
            caught_grams: 4,
        },
        json!({"round_id": 4, "ball": 0, "grams": 4, "caught_grams": 4}),
    );
    assert_result(
        &RainGiftResult {
            rounds_left: 1,
            gifts_left: 0,
        },
        json!({"rounds_left": 1, "gifts_left": 0}),
    );
    assert_result(
        &RainStatusResult {
            rounds_left: 0,
            gifts_left: 1,
            gift_received: true,
            round: Some(round),
        },
        json!({"rounds_left": 0, "gifts_left": 1, "gift_received": true, "round": round_json}),
    );
}

/// The friends table: `friend_request` … `feed`.
#[test]
fn friend_ops_decode_and_round_trip() {
    let who = PlayerId(8);
    assert_op(
        json!({"id": 40, "op": "friend_request", "player_id": 8}),
        Request::FriendRequest { player_id: who },
    );
    assert_op(
        json!({"id": 41, "op": "friend_accept", "player_id": 8}),
        Request::FriendAccept { player_id: who },
    );
    assert_op(
        json!({"id": 42, "op": "friend_decline", "player_id": 8}),
        Request::FriendDecline { player_id: who },
    );
    assert_op(
        json!({"id": 43, "op": "unfriend", "player_id": 8}),
        Request::Unfriend { player_id: who },
    );
    assert_op(
        json!({"id": 44, "op": "block", "player_id": 8}),
        Request::Block { player_id: who },
    );
    assert_op(
        json!({"id": 45, "op": "unblock", "player_id": 8}),
        Request::Unblock { player_id: who },
    );
    assert_op(json!({"id": 46, "op": "friends"}), Request::Friends {});
    assert_op(
        json!({"id": 47, "op": "friend_balls", "friend_id": 8}),
        Request::FriendBalls { friend_id: who },
    );
    assert_op(
        json!({"id": 48, "op": "suggestions", "limit": 50}),
        Request::Suggestions { limit: Some(50) },
    );
    assert_op(
        json!({"id": 49, "op": "suggestions"}),
        Request::Suggestions { limit: None },
    );
    assert_op(
        json!({"id": 50, "op": "leaderboard", "period": "total", "limit": 200}),
        Request::Leaderboard {
            period: BoardPeriod::Total,
            limit: Some(200),
        },
    );
    assert_op(
        json!({"id": 51, "op": "leaderboard", "period": "week"}),
        Request::Leaderboard {
            period: BoardPeriod::Week,
            limit: None,
        },
    );
    assert_op(
        json!({"id": 52, "op": "feed", "limit": 20, "before": 1_234_567}),
        Request::Feed {
            limit: Some(20),
            before: Some(1_234_567),
        },
    );
    assert_op(
        json!({"id": 53, "op": "feed"}),
        Request::Feed {
            limit: None,
            before: None,
        },
    );
}

/// The watching ops: `watch` and `unwatch`.
#[test]
fn watch_ops_decode_and_round_trip() {
    assert_op(
        json!({"id": 60, "op": "watch", "what": "friends"}),
        Request::Watch {
            what: WatchTarget::Friends,
            friend_id: None,
        },
    );
    assert_op(
        json!({"id": 61, "op": "watch", "what": "forest", "friend_id": 8}),
        Request::Watch {
            what: WatchTarget::Forest,
            friend_id: Some(PlayerId(8)),
        },
    );
    assert_op(
        json!({"id": 62, "op": "unwatch", "what": "friends"}),
        Request::Unwatch {
            what: WatchTarget::Friends,
            friend_id: None,
        },
    );
    assert_op(
        json!({"id": 63, "op": "unwatch", "what": "forest", "friend_id": 8}),
        Request::Unwatch {
            what: WatchTarget::Forest,
            friend_id: Some(PlayerId(8)),
        },
    );
    assert_op(
        json!({"id": 64, "op": "unwatch", "what": "forest"}),
        Request::Unwatch {
            what: WatchTarget::Forest,
            friend_id: None,
        },
    );
    for bad in [
        r#"{"id":65,"op":"watch"}"#,
        r#"{"id":66,"op":"watch","what":"forests"}"#,
        r#"{"id":67,"op":"unwatch","what":7}"#,
    ] {
        assert_eq!(
            refused(bad),
            Some(bad[6..8].parse().expect("a two-digit id"))
        );
    }
}

/// The teams table: `team_create` … `teams`.
#[test]
fn team_ops_decode_and_round_trip() {
    assert_op(
        json!({"id": 60, "op": "team_create", "name": "dune-crew", "species": "saxaul"}),
        Request::TeamCreate {
            name: "dune-crew".into(),
            species: "saxaul".into(),
        },
    );
    assert_op(
        json!({"id": 61, "op": "team_invite", "team_id": 5, "player_id": 8}),
        Request::TeamInvite {
            team_id: TeamId(5),
            player_id: PlayerId(8),
        },
    );
    assert_op(
        json!({"id": 62, "op": "team_join", "team_id": 5}),
        Request::TeamJoin { team_id: TeamId(5) },
    );
    assert_op(
        json!({"id": 63, "op": "team_leave", "team_id": 5}),
        Request::TeamLeave { team_id: TeamId(5) },
    );
    assert_op(
        json!({"id": 64, "op": "team_water", "team_id": 5, "grams": 10}),
        Request::TeamWater {
            team_id: TeamId(5),
            grams: 10,
        },
    );
    assert_op(json!({"id": 65, "op": "teams"}), Request::Teams {});
}

/// Only `hello`, `register`, `login`, `host_login` and `ping` work before login.
#[test]
fn only_session_ops_are_allowed_before_login() {
    let before: Vec<&str> = [
        Request::Hello { version: 1 },
        Request::Register { name: "a".into() },
        Request::Login { token: "t".into() },
        Request::HostLogin { jwt: "j".into() },
        Request::Ping {},
        Request::Refresh {},
        Request::Logout {},
        Request::LogoutAll {},
        Request::Me {},
        Request::CollectAll {},
        Request::Friends {},
        Request::Teams {},
        Request::Species {},
    ]
    .iter()
    .filter(|request| request.allowed_before_login())
    .map(Request::op_name)
    .collect();
    assert_eq!(before, ["hello", "register", "login", "host_login", "ping"]);
}

/// The largest u64 id survives decoding, and `quantity: null` reads as absent.
#[test]
fn request_edge_values() {
    let (id, request) = decode_request(r#"{"id":18446744073709551615,"op":"ping"}"#)
        .expect("u64::MAX is a usable id");
    assert_eq!((id, request), (u64::MAX, Request::Ping {}));

    let (_, request) =
        decode_request(r#"{"id":1,"op":"record_action","kind":"walk","quantity":null,"ref":"r"}"#)
            .expect("a null quantity is allowed");
    assert_eq!(
        request,
        Request::RecordAction {
            kind: "walk".into(),
            quantity: None,
            reference: "r".into()
        }
    );
}

// ---------------------------------------------------------------------------------------
// Request decode errors
// ---------------------------------------------------------------------------------------

/// Frames whose id cannot be read are answered with `"id": null`.
#[test]
fn frames_without_a_usable_id_get_a_null_id() {
    for text in [
        "{not json",
        "",
        r#"[1, 2]"#,
        r#""ping""#,
        r#"{"op":"ping"}"#,
        r#"{"id":null,"op":"ping"}"#,
        r#"{"id":-1,"op":"ping"}"#,
        r#"{"id":"7","op":"ping"}"#,
        r#"{"id":1.5,"op":"ping"}"#,
        r#"{"id":18446744073709551616,"op":"ping"}"#,
    ] {
        assert_eq!(refused(text), None, "id of {text:?}");
    }
}

/// Once the id is read, every other fault is `BAD_REQUEST` echoing it.
#[test]
fn faults_after_the_id_echo_it() {
    for (text, id) in [
        (r#"{"id":3,"op":"fly"}"#, 3),
        (r#"{"id":4}"#, 4),
        (r#"{"id":5,"op":7}"#, 5),
        (r#"{"id":6,"op":"collect"}"#, 6),
        (r#"{"id":7,"op":"collect","ball_id":"41"}"#, 7),
        (r#"{"id":8,"op":"collect","ball_id":-41}"#, 8),
        (r#"{"id":9,"op":"steal","friend_id":8}"#, 9),
        (r#"{"id":10,"op":"hello"}"#, 10),
        (r#"{"id":11,"op":"record_action","kind":"walk"}"#, 11),
        (
            r#"{"id":12,"op":"record_action","kind":"walk","quantity":"9000","ref":"r"}"#,
            12,
        ),
        (r#"{"id":13,"op":"use_prop","prop":"shield"}"#, 13),
        (r#"{"id":14,"op":"leaderboard","period":"month"}"#, 14),
        (r#"{"id":15,"op":"water","friend_id":8,"grams":-10}"#, 15),
        (r#"{"id":16,"op":"Ping"}"#, 16),
    ] {
        assert_eq!(refused(text), Some(id), "id of {text}");
    }
}

/// Fields an op does not name are ignored.
#[test]
fn unknown_fields_are_ignored() {
    let decoded = decode_request(r#"{"id":1,"op":"ping","client":"bot","extra":{"x":[1]}}"#)
        .expect("extra fields are ignored");
    assert_eq!(decoded, (1, Request::Ping {}));
    let decoded = decode_request(r#"{"id":2,"op":"collect","ball_id":41,"note":"x"}"#)
        .expect("extra fields are ignored");
    assert_eq!(
        decoded,
        (
            2,
            Request::Collect {
                ball_id: BallId(41)
            }
        )
    );
}

/// A decode error becomes an error reply with the id it carries.
#[test]
fn decode_errors_encode_as_bad_request_replies() {
    let err = decode_request("{oops").expect_err("malformed");
    let reply = parse(&encode_err(err.id, err.error.clone()));
    assert_eq!(
        reply,
        json!({"id": null, "ok": false, "error": {"code": "BAD_REQUEST", "message": err.error.message}})
    );

    let err = decode_request(r#"{"id":77,"op":"fly"}"#).expect_err("unknown op");
    let reply = parse(&encode_err(err.id, err.error.clone()));
    assert_eq!(
        reply,
        json!({"id": 77, "ok": false, "error": {"code": "BAD_REQUEST", "message": err.error.message}})
    );
}

// ---------------------------------------------------------------------------------------
// Reply envelopes
// ---------------------------------------------------------------------------------------

/// `{"id", "ok": true, ...result}` with the result's fields beside `id` and `ok`.
#[test]
fn ok_replies_flatten_the_result() {
    assert_eq!(ok_reply(1, &Empty {}), json!({"id": 1, "ok": true}));
    assert_eq!(
        ok_reply(
            2,
            &PingResult {
                time: 1_700_000_000_123
            }
        ),
        json!({"id": 2, "ok": true, "time": 1_700_000_000_123_u64})
    );
    assert_eq!(
        ok_reply(
            u64::MAX,
            &GramsEnergyResult {
                grams: 12,
                energy: 340
            }
        ),
        json!({"id": u64::MAX, "ok": true, "grams": 12, "energy": 340})
    );
}

/// `{"id", "ok": false, "error": {"code", "message"}}`, with `"id": null` allowed.
#[test]
fn error_replies_have_code_and_message() {
    assert_eq!(
        parse(&encode_err(
            Some(9),
            ErrorBody::new(ErrorCode::NotRipe, "ripens at 07:00")
        )),
        json!({"id": 9, "ok": false, "error": {"code": "NOT_RIPE", "message": "ripens at 07:00"}})
    );
    assert_eq!(
        parse(&encode_err(
            None,
            ErrorBody::new(ErrorCode::BadRequest, "malformed JSON")
        )),
        json!({"id": null, "ok": false, "error": {"code": "BAD_REQUEST", "message": "malformed JSON"}})
    );
}

/// A client reads replies back: result fields without `id`/`ok`, or the error.
#[test]
fn clients_read_replies() {
    let frame = decode_server_frame(&encode_ok(5, &PingResult { time: 99 })).expect("a reply");
    let ServerFrame::Reply(reply) = frame else {
        panic!("a reply is not an event")
    };
    assert_eq!(reply.id, Some(5));
    assert_eq!(
        reply
            .outcome
            .as_ref()
            .map(|fields| Value::Object(fields.clone())),
        Ok(json!({"time": 99}))
    );
    assert_eq!(
        reply.into_result::<PingResult>(),
        Ok(PingResult { time: 99 })
    );

    let frame = decode_server_frame(&encode_err(None, ErrorBody::new(ErrorCode::Gone, "picked")))
        .expect("an error reply");
    let error = ErrorBody::new(ErrorCode::Gone, "picked");
    assert_eq!(
        frame,
        ServerFrame::Reply(ReplyFrame {
            id: None,
            outcome: Err(error.clone())
        })
    );
    let ServerFrame::Reply(reply) = frame else {
        panic!("a reply is not an event")
    };
    assert_eq!(reply.into_result::<PingResult>(), Err(error));

    let frame = decode_server_frame(r#"{"id":6,"ok":true,"grams":"lots"}"#).expect("a reply");
    let ServerFrame::Reply(reply) = frame else {
        panic!("a reply is not an event")
    };
    let err = reply
        .into_result::<GramsEnergyResult>()
        .expect_err("wrong shape");
    assert_eq!(err.code, ErrorCode::Internal);
}

// ---------------------------------------------------------------------------------------
// Result shapes of every op
// ---------------------------------------------------------------------------------------

/// Checks `encode_ok` against the literal and that the fields read back as `T`.
fn assert_result<T>(result: &T, fields: Value)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut expected = json!({"id": 1, "ok": true});
    let Value::Object(extra) = fields else {
        panic!("results are objects")
    };
    expected.as_object_mut().expect("an object").extend(extra);
    assert_eq!(ok_reply(1, result), expected);
    let ServerFrame::Reply(reply) = decode_server_frame(&encode_ok(1, result)).expect("a reply")
    else {
        panic!("a reply is not an event")
    };
    assert_eq!(&reply.into_result::<T>().expect("reads back"), result);
}

/// `hello`, `register`, `login`, `ping`.
#[test]
fn session_results() {
    assert_result(
        &HelloResult {
            server: "canopy-server 0.1.0".into(),
            version: 1,
            tick_rate_hz: 20,
            time: 5,
        },
        json!({"server": "canopy-server 0.1.0", "version": 1, "tick_rate_hz": 20, "time": 5}),
    );
    assert_result(
        &RegisterResult {
            player_id: PlayerId(7),
            token: "tok".into(),
            expires_at: 9,
        },
        json!({"player_id": 7, "token": "tok", "expires_at": 9}),
    );
    assert_result(
        &LoginResult {
            player_id: PlayerId(7),
            name: "mei".into(),
            expires_at: 9,
        },
        json!({"player_id": 7, "name": "mei", "expires_at": 9}),
    );
    assert_result(
        &RefreshResult {
            token: "new".into(),
            expires_at: 9,
        },
        json!({"token": "new", "expires_at": 9}),
    );
    assert_result(&LogoutAllResult { revoked: 2 }, json!({"revoked": 2}));
    assert_result(
        &HostLoginResult {
            player_id: PlayerId(7),
            name: "mei".into(),
            created: true,
            token: "tok".into(),
            expires_at: 9,
        },
        json!({"player_id": 7, "name": "mei", "created": true, "token": "tok", "expires_at": 9}),
    );
    assert_result(&PingResult { time: 5 }, json!({"time": 5}));
}

/// `me`: the player profile and the caller's balls.
#[test]
fn me_result() {
    let me = MeResult {
        player: PlayerView {
            id: PlayerId(7),
            name: "mei".into(),
            energy: 18_000,
            total_collected: 36_000,
            tree: TreeStage::Tree,
            certificates: vec![certificate(None)],
            props: props(),
            protected_until: None,
            held: 0,
            holds: Vec::new(),
            vitality: 42,
            trees: 1,
            protected_m2: 10,
        },
        balls: vec![ball()],
    };
    assert_result(
        &me,
        json!({
            "player": {
                "id": 7, "name": "mei", "energy": 18_000, "total_collected": 36_000,
                "tree": "tree", "certificates": [certificate_json(None)], "props": props_json(),
                "protected_until": null, "held": 0, "holds": [],
                "vitality": 42, "trees": 1, "protected_m2": 10
            },
            "balls": [ball_json()]
        }),
    );
}

/// `record_action` (and `POST /admin/actions`): `grams` and `ball` or `null`.
#[test]
fn record_action_results() {
    assert_result(
        &RecordActionResult {
            grams: 170,
            ball: Some(ball()),
        },
        json!({"grams": 170, "ball": ball_json()}),
    );
    assert_result(
        &RecordActionResult {
            grams: 0,
            ball: None,
        },
        json!({"grams": 0, "ball": null}),
    );
}

/// `collect`, `steal`, `collect_all`, `help_collect`, `water`, `plant`, `use_prop`, `species`.
#[test]
fn energy_results() {
    assert_result(
        &GramsEnergyResult {
            grams: 180,
            energy: 500,
        },
        json!({"grams": 180, "energy": 500}),
    );
    assert_result(
        &CollectAllResult {
            grams: 300,
            energy: 800,
            balls: 2,
        },
        json!({"grams": 300, "energy": 800, "balls": 2}),
    );
    assert_result(&HelpCollectResult { grams: 180 }, json!({"grams": 180}));
    assert_result(
        &WaterResult {
            energy: 434,
            ball_id: BallId(90),
        },
        json!({"energy": 434, "ball_id": 90}),
    );
    assert_result(
        &PlantResult {
            certificate: certificate(None),
            energy: 100,
        },
        json!({"certificate": certificate_json(None), "energy": 100}),
    );
    assert_result(
        &PropsResult { props: props() },
        json!({"props": props_json()}),
    );
    assert_result(
        &SpeciesResult {
            species: vec![SpeciesView {
                id: "saxaul".into(),
                name: "Saxaul".into(),
                name_zh: "梭梭".into(),
                grams: 17_900,
                region: "Alxa, Inner Mongolia".into(),
            }],
            areas: vec![AreaView {
                id: "sanjiangyuan".into(),
                name: "Sanjiangyuan".into(),
                name_zh: "三江源".into(),
                region: "Qinghai".into(),
                grams_per_m2: 18,
                max_square_metres: 100,
            }],
        },
        json!({"species": [{
            "id": "saxaul", "name": "Saxaul", "name_zh": "梭梭", "grams": 17_900,
            "region": "Alxa, Inner Mongolia"
        }], "areas": [{
            "id": "sanjiangyuan", "name": "Sanjiangyuan", "name_zh": "三江源",
            "region": "Qinghai", "grams_per_m2": 18, "max_square_metres": 100
        }]}),
    );
}

/// `friends`, `friend_balls`, `suggestions`, `leaderboard`, `feed`.
#[test]
fn friend_results() {
    assert_result(
        &FriendsResult {
            friends: vec![FriendView {
                player_id: PlayerId(8),
                name: "lin".into(),
                energy: 900,
                total_collected: 4_000,
                stealable_grams: 76,
                protected_until: Some(1_700_086_400_000),
            }],
            incoming: vec![PendingRequestView {
                player_id: PlayerId(9),
                name: "bo".into(),
                sent_at: 11,
            }],
            outgoing: vec![PendingRequestView {
                player_id: PlayerId(10),
                name: "yu".into(),
                sent_at: 12,
            }],
            unavailable: Vec::new(),
        },
        json!({
            "friends": [{
                "player_id": 8, "name": "lin", "energy": 900, "total_collected": 4_000,
                "stealable_grams": 76, "protected_until": 1_700_086_400_000_u64
            }],
            "incoming": [{"player_id": 9, "name": "bo", "sent_at": 11}],
            "outgoing": [{"player_id": 10, "name": "yu", "sent_at": 12}]
        }),
    );
    assert_result(
        &BallsResult {
            balls: vec![ball()],
            revivable: vec![revivable()],
        },
        json!({"balls": [ball_json()], "revivable": [revivable_json()]}),
    );
    let without_revivable: BallsResult =
        serde_json::from_value(json!({"balls": [ball_json()]})).expect("decodes");
    assert!(
        without_revivable.revivable.is_empty(),
        "a server before revival sends no `revivable`"
    );
    assert_result(
        &SuggestionsResult {
            suggestions: vec![Suggestion {
                player_id: PlayerId(11),
                name: "qi".into(),
                mutual: 3,
            }],
        },
        json!({"suggestions": [{"player_id": 11, "name": "qi", "mutual": 3}]}),
    );
    assert_result(
        &LeaderboardResult {
            entries: vec![BoardEntry {
                rank: 1,
                player_id: PlayerId(7),
                name: "mei".into(),
                grams: 36_000,
                trees: 2,
                protected_m2: 10,
            }],
            unavailable: Vec::new(),
        },
        json!({"entries": [{"rank": 1, "player_id": 7, "name": "mei", "grams": 36_000, "trees": 2, "protected_m2": 10}]}),
    );
    assert_result(
        &LeaderboardResult {
            entries: Vec::new(),
            unavailable: vec![PlayerId(12), PlayerId(13)],
        },
        json!({"entries": [], "unavailable": [12, 13]}),
    );
    let complete: FriendsResult =
        serde_json::from_value(json!({"friends": [], "incoming": [], "outgoing": []}))
            .expect("decodes");
    assert!(
        complete.unavailable.is_empty(),
        "a reply with every friend read has no `unavailable`"
    );
    assert_result(
        &FeedResult {
            entries: vec![
                FeedEntry {
                    time: 30,
                    kind: FeedKind::Stolen,
                    actor: None,
                    target: Some(PlayerId(7)),
                    grams: 20,
                },
                FeedEntry {
                    time: 20,
                    kind: FeedKind::Watered,
                    actor: Some(PlayerId(8)),
                    target: Some(PlayerId(7)),
                    grams: 66,
                },
                FeedEntry {
                    time: 10,
                    kind: FeedKind::Helped,
                    actor: Some(PlayerId(8)),
                    target: Some(PlayerId(7)),
                    grams: 5,
                },
                FeedEntry {
                    time: 5,
                    kind: FeedKind::ProtectedBlock,
                    actor: Some(PlayerId(8)),
                    target: Some(PlayerId(7)),
                    grams: 0,
                },
                FeedEntry {
                    time: 1,
                    kind: FeedKind::Certificate,
                    actor: Some(PlayerId(7)),
                    target: Some(PlayerId(7)),
                    grams: 17_900,
                },
            ],
            next: Some(1),
        },
        json!({
            "entries": [
                {"time": 30, "kind": "stolen", "actor": null, "target": 7, "grams": 20},
                {"time": 20, "kind": "watered", "actor": 8, "target": 7, "grams": 66},
                {"time": 10, "kind": "helped", "actor": 8, "target": 7, "grams": 5},
                {"time": 5, "kind": "protected_block", "actor": 8, "target": 7, "grams": 0},
                {"time": 1, "kind": "certificate", "actor": 7, "target": 7, "grams": 17_900}
            ],
            "next": 1
        }),
    );
    assert_result(
        &FeedResult {
            entries: vec![],
            next: None,
        },
        json!({"entries": [], "next": null}),
    );
}

/// `team_create`, `team_water`, `teams`.
#[test]
fn team_results() {
    assert_result(
        &TeamCreateResult { team_id: TeamId(5) },
        json!({"team_id": 5}),
    );
    assert_result(
        &TeamWaterResult {
            team: team(),
            energy: 70,
        },
        json!({"team": team_json(), "energy": 70}),
    );
    assert_result(
        &TeamsResult {
            teams: vec![team()],
            unavailable: Vec::new(),
        },
        json!({"teams": [team_json()]}),
    );
    assert_result(
        &TeamsResult {
            teams: vec![team()],
            unavailable: vec![TeamId(4), TeamId(6)],
        },
        json!({"teams": [team_json()], "unavailable": [4, 6]}),
    );
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

/// Every event of PROTOCOL.md's table: exact JSON, no `id`, and it reads back.
/// Fails to compile when an event is added, until the cases below cover it.
const _EVERY_EVENT_IS_A_CASE: fn(&Event) = |event| match event {
    Event::BallNew { .. }
    | Event::BallRipe { .. }
    | Event::BallGone { .. }
    | Event::EnergyStolen { .. }
    | Event::Watered { .. }
    | Event::FriendRequest { .. }
    | Event::FriendAdded { .. }
    | Event::FriendRemoved { .. }
    | Event::FriendStealable { .. }
    | Event::ForestChanged { .. }
    | Event::Certificate { .. }
    | Event::HelpCollected { .. }
    | Event::ProtectedBlock { .. }
    | Event::RiskHold { .. }
    | Event::TaskCompleted { .. }
    | Event::ServerShutdown { .. }
    | Event::PropGift { .. }
    | Event::EnergyRevived { .. }
    | Event::RainEnded { .. }
    | Event::RainChance { .. } => {}
};

#[test]
fn every_event_has_its_protocol_shape() {
    let cases = [
        (
            Event::BallNew { ball: ball() },
            json!({"event": "ball_new", "ball": ball_json()}),
        ),
        (
            Event::BallRipe {
                balls: vec![
                    RipeBall {
                        ball_id: BallId(41),
                        amount: 180,
                    },
                    RipeBall {
                        ball_id: BallId(42),
                        amount: 5,
                    },
                ],
            },
            json!({"event": "ball_ripe", "balls": [{"ball_id": 41, "amount": 180}, {"ball_id": 42, "amount": 5}]}),
        ),
        (
            Event::BallGone {
                ball_id: BallId(41),
                reason: GoneReason::Expired,
            },
            json!({"event": "ball_gone", "ball_id": 41, "reason": "expired"}),
        ),
        (
            Event::EnergyStolen {
                by: Some(PlayerId(8)),
                ball_id: BallId(41),
                grams: 20,
            },
            json!({"event": "energy_stolen", "by": 8, "ball_id": 41, "grams": 20}),
        ),
        (
            Event::EnergyStolen {
                by: None,
                ball_id: BallId(41),
                grams: 20,
            },
            json!({"event": "energy_stolen", "by": null, "ball_id": 41, "grams": 20}),
        ),
        (
            Event::Watered {
                by: PlayerId(8),
                grams: 33,
                energy: 533,
            },
            json!({"event": "watered", "by": 8, "grams": 33, "energy": 533}),
        ),
        (
            Event::FriendRequest {
                from: PlayerId(9),
                name: "bo".into(),
            },
            json!({"event": "friend_request", "from": 9, "name": "bo"}),
        ),
        (
            Event::FriendAdded {
                player_id: PlayerId(8),
            },
            json!({"event": "friend_added", "player_id": 8}),
        ),
        (
            Event::FriendRemoved {
                player_id: PlayerId(8),
            },
            json!({"event": "friend_removed", "player_id": 8}),
        ),
        (
            Event::FriendStealable {
                friend_id: PlayerId(8),
                grams: 76,
            },
            json!({"event": "friend_stealable", "friend_id": 8, "grams": 76}),
        ),
        (
            Event::ForestChanged {
                owner_id: PlayerId(7),
                stealable_grams: 0,
                balls: vec![ball()],
                revivable: vec![revivable()],
            },
            json!({"event": "forest_changed", "owner_id": 7, "stealable_grams": 0, "balls": [ball_json()], "revivable": [revivable_json()]}),
        ),
        (
            Event::Certificate {
                certificate: certificate(Some("dune-crew")),
            },
            json!({"event": "certificate", "certificate": certificate_json(Some("dune-crew"))}),
        ),
        (
            Event::HelpCollected {
                by: PlayerId(8),
                ball_id: BallId(41),
                grams: 180,
            },
            json!({"event": "help_collected", "by": 8, "ball_id": 41, "grams": 180}),
        ),
        (
            Event::ProtectedBlock {
                by: Some(PlayerId(8)),
            },
            json!({"event": "protected_block", "by": 8}),
        ),
        (
            Event::ProtectedBlock { by: None },
            json!({"event": "protected_block", "by": null}),
        ),
        (
            Event::RiskHold {
                flag_id: canopy_shared::FlagId(3),
                grams: 20,
                held: 50,
                reason: "too fast".into(),
            },
            json!({"event": "risk_hold", "flag_id": 3, "grams": 20, "held": 50, "reason": "too fast"}),
        ),
        (
            Event::TaskCompleted {
                task_id: canopy_shared::TaskId(3),
                grams: 30,
                ball_id: Some(BallId(12)),
                prop: None,
            },
            json!({"event": "task_completed", "task_id": 3, "grams": 30, "ball_id": 12}),
        ),
        (
            Event::TaskCompleted {
                task_id: canopy_shared::TaskId(4),
                grams: 0,
                ball_id: None,
                prop: Some(canopy_shared::task::PropReward {
                    prop: PropKind::ProtectionCover,
                    count: 2,
                }),
            },
            json!({"event": "task_completed", "task_id": 4, "grams": 0,
                   "prop": {"prop": "protection_cover", "count": 2}}),
        ),
        (
            Event::ServerShutdown {
                reason: "maintenance".into(),
            },
            json!({"event": "server_shutdown", "reason": "maintenance"}),
        ),
        (
            Event::PropGift {
                from: PlayerId(8),
                prop: PropKind::Stealth,
            },
            json!({"event": "prop_gift", "from": 8, "prop": "stealth"}),
        ),
        (
            Event::EnergyRevived {
                by: PlayerId(8),
                ball_id: BallId(90),
                expired_ball_id: BallId(41),
                grams: 52,
            },
            json!({"event": "energy_revived", "by": 8, "ball_id": 90, "expired_ball_id": 41, "grams": 52}),
        ),
        (
            Event::RainEnded {
                round_id: 4,
                caught: 12,
                grams: 51,
                energy: 251,
                vitality: 5,
            },
            json!({"event": "rain_ended", "round_id": 4, "caught": 12, "grams": 51,
                   "energy": 251, "vitality": 5}),
        ),
        (
            Event::RainChance { from: PlayerId(8) },
            json!({"event": "rain_chance", "from": 8}),
        ),
    ];

    for (event, expected) in &cases {
        assert_eq!(&to_json(event), expected, "shape of {}", event.name());
        assert_eq!(expected["event"], event.name());
        assert!(expected.get("id").is_none(), "events never carry an id");
        let text = serde_json::to_string(event).expect("events serialize");
        assert_eq!(
            decode_server_frame(&text).expect("an event frame"),
            ServerFrame::Event(event.clone())
        );
    }

    let mut names: Vec<&str> = cases.iter().map(|(event, _)| event.name()).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "ball_new",
            "ball_ripe",
            "ball_gone",
            "energy_stolen",
            "watered",
            "friend_request",
            "friend_added",
            "friend_removed",
            "friend_stealable",
            "forest_changed",
            "certificate",
            "help_collected",
            "protected_block",
            "risk_hold",
            "task_completed",
            "server_shutdown",
            "prop_gift",
            "energy_revived",
            "rain_ended",
            "rain_chance",
        ],
        "every event of PROTOCOL.md, in its table's order"
    );
}

// ---------------------------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------------------------

/// PROTOCOL.md's list, in its order.
const PROTOCOL_CODES: [(ErrorCode, &str); 32] = [
    (ErrorCode::BadRequest, "BAD_REQUEST"),
    (ErrorCode::UnsupportedVersion, "UNSUPPORTED_VERSION"),
    (ErrorCode::Unauthenticated, "UNAUTHENTICATED"),
    (ErrorCode::Forbidden, "FORBIDDEN"),
    (ErrorCode::NotFound, "NOT_FOUND"),
    (ErrorCode::NotYours, "NOT_YOURS"),
    (ErrorCode::NotFriends, "NOT_FRIENDS"),
    (ErrorCode::Blocked, "BLOCKED"),
    (ErrorCode::NotRipe, "NOT_RIPE"),
    (ErrorCode::Gone, "GONE"),
    (ErrorCode::Protected, "PROTECTED"),
    (ErrorCode::AlreadyStolen, "ALREADY_STOLEN"),
    (ErrorCode::NothingLeft, "NOTHING_LEFT"),
    (ErrorCode::InsufficientEnergy, "INSUFFICIENT_ENERGY"),
    (ErrorCode::LimitReached, "LIMIT_REACHED"),
    (ErrorCode::Conflict, "CONFLICT"),
    (ErrorCode::RateLimited, "RATE_LIMITED"),
    (ErrorCode::Overloaded, "OVERLOADED"),
    (ErrorCode::ShuttingDown, "SHUTTING_DOWN"),
    (ErrorCode::Internal, "INTERNAL"),
    (ErrorCode::RiskDenied, "RISK_DENIED"),
    (ErrorCode::BudgetExhausted, "BUDGET_EXHAUSTED"),
    (ErrorCode::NotAccepted, "NOT_ACCEPTED"),
    (ErrorCode::NotEligible, "NOT_ELIGIBLE"),
    (ErrorCode::OutsideWindow, "OUTSIDE_WINDOW"),
    (ErrorCode::TaskClosed, "TASK_CLOSED"),
    (ErrorCode::WrongShard, "WRONG_SHARD"),
    (ErrorCode::InsufficientVitality, "INSUFFICIENT_VITALITY"),
    (ErrorCode::AlreadyRevived, "ALREADY_REVIVED"),
    (ErrorCode::BadTiming, "BAD_TIMING"),
    (ErrorCode::OffScreen, "OFF_SCREEN"),
    (ErrorCode::ShardTimeout, "SHARD_TIMEOUT"),
];

/// The code's position in [`PROTOCOL_CODES`]; exhaustive, so a new code must be listed.
fn protocol_position(code: ErrorCode) -> usize {
    match code {
        ErrorCode::BadRequest => 0,
        ErrorCode::UnsupportedVersion => 1,
        ErrorCode::Unauthenticated => 2,
        ErrorCode::Forbidden => 3,
        ErrorCode::NotFound => 4,
        ErrorCode::NotYours => 5,
        ErrorCode::NotFriends => 6,
        ErrorCode::Blocked => 7,
        ErrorCode::NotRipe => 8,
        ErrorCode::Gone => 9,
        ErrorCode::Protected => 10,
        ErrorCode::AlreadyStolen => 11,
        ErrorCode::NothingLeft => 12,
        ErrorCode::InsufficientEnergy => 13,
        ErrorCode::LimitReached => 14,
        ErrorCode::Conflict => 15,
        ErrorCode::RateLimited => 16,
        ErrorCode::Overloaded => 17,
        ErrorCode::ShuttingDown => 18,
        ErrorCode::Internal => 19,
        ErrorCode::RiskDenied => 20,
        ErrorCode::BudgetExhausted => 21,
        ErrorCode::NotAccepted => 22,
        ErrorCode::NotEligible => 23,
        ErrorCode::OutsideWindow => 24,
        ErrorCode::TaskClosed => 25,
        ErrorCode::WrongShard => 26,
        ErrorCode::InsufficientVitality => 27,
        ErrorCode::AlreadyRevived => 28,
        ErrorCode::BadTiming => 29,
        ErrorCode::OffScreen => 30,
        ErrorCode::ShardTimeout => 31,
    }
}

/// Serde, `as_str` and `Display` all spell each code as PROTOCOL.md does.
#[test]
fn every_error_code_has_its_protocol_spelling() {
    for (position, (code, wire)) in PROTOCOL_CODES.into_iter().enumerate() {
        assert_eq!(
            protocol_position(code),
            position,
            "{wire} is listed once, in order"
        );
        assert_eq!(to_json(&code), json!(wire));
        assert_eq!(code.as_str(), wire);
        assert_eq!(code.to_string(), wire);
        assert_eq!(from_json::<ErrorCode>(json!(wire)), code);
    }
    assert!(
        serde_json::from_value::<ErrorCode>(json!("bad_request")).is_err(),
        "codes are case-sensitive"
    );
}

/// The error object: exactly `code` and `message`, plus `redirect` with `WRONG_SHARD`.
#[test]
fn error_body_shape() {
    let body = ErrorBody::new(ErrorCode::LimitReached, "1500 g a day");
    assert_eq!(
        to_json(&body),
        json!({"code": "LIMIT_REACHED", "message": "1500 g a day"})
    );
    assert_eq!(body.to_string(), "LIMIT_REACHED: 1500 g a day");
    let redirect = ErrorBody::redirect("on shard 1", "ws://b/ws");
    let wire = json!({"code": "WRONG_SHARD", "message": "on shard 1", "redirect": "ws://b/ws"});
    assert_eq!(to_json(&redirect), wire);
    assert_eq!(from_json::<ErrorBody>(wire), redirect);
}

// ---------------------------------------------------------------------------------------
// Game things
// ---------------------------------------------------------------------------------------

/// A ball has exactly the nine keys of PROTOCOL.md.
#[test]
fn ball_view_has_exactly_the_protocol_keys() {
    let value = to_json(&ball());
    let keys: Vec<&str> = value
        .as_object()
        .expect("a ball is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    let mut expected = [
        "ball_id",
        "owner",
        "source",
        "amount",
        "created_at",
        "ripe_at",
        "expires_at",
        "stolen",
        "stealable",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(value, ball_json());
    assert_eq!(from_json::<BallView>(ball_json()), ball());
}

/// Prop, tree-stage and board-period names.
#[test]
fn enum_names_on_the_wire() {
    for prop in PropKind::ALL {
        assert_eq!(to_json(&prop), json!(prop.as_str()));
    }
    assert_eq!(
        PropKind::ALL.map(PropKind::as_str),
        [
            "protection_cover",
            "double_click",
            "time_accelerator",
            "stealth"
        ]
    );
    assert_eq!(
        [
            TreeStage::Seed,
            TreeStage::Sprout,
            TreeStage::Sapling,
            TreeStage::Tree
        ]
        .map(|stage| to_json(&stage)),
        [
            json!("seed"),
            json!("sprout"),
            json!("sapling"),
            json!("tree")
        ]
    );
    assert_eq!(to_json(&BoardPeriod::Total), json!("total"));
    assert_eq!(to_json(&BoardPeriod::Week), json!("week"));
    assert_eq!(
        from_json::<PropsView>(props_json()),
        props(),
        "prop names read back as map keys"
    );
}

// ---------------------------------------------------------------------------------------
// Ops HTTP admin bodies
// ---------------------------------------------------------------------------------------

/// The bodies and answers of the admin table.
#[test]
fn admin_bodies() {
    assert_eq!(
        from_json::<PartnerAction>(
            json!({"player_id": 7, "kind": "metro", "quantity": 1, "ref": "trip-1"})
        ),
        PartnerAction {
            player_id: PlayerId(7),
            kind: "metro".into(),
            quantity: Some(1),
            reference: "trip-1".into()
        }
    );
    assert_eq!(
        from_json::<PartnerAction>(json!({"player_id": 7, "kind": "metro", "ref": "trip-2"})),
        PartnerAction {
            player_id: PlayerId(7),
            kind: "metro".into(),
            quantity: None,
            reference: "trip-2".into()
        }
    );
    assert!(serde_json::from_value::<PartnerAction>(json!({"kind": "metro", "ref": "r"})).is_err());

    let grant = GrantProps {
        player_id: PlayerId(7),
        prop: PropKind::ProtectionCover,
        count: 2,
    };
    assert_eq!(
        to_json(&grant),
        json!({"player_id": 7, "prop": "protection_cover", "count": 2})
    );
    assert_eq!(
        to_json(&ClockAdvance { ms: 3_600_000 }),
        json!({"ms": 3_600_000})
    );
    assert_eq!(to_json(&ClockTime { time: 42 }), json!({"time": 42}));
    assert_eq!(to_json(&TickRate { hz: 60 }), json!({"hz": 60}));
    assert_eq!(
        to_json(&AdminError {
            error: ErrorBody::new(ErrorCode::Conflict, "the clock is not manual")
        }),
        json!({"error": {"code": "CONFLICT", "message": "the clock is not manual"}})
    );
}
