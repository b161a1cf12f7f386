//! Random JSON shaped like requests, sent through a real WebSocket session: no panic,
//! every frame gets exactly one reply with its id, bad input is `BAD_REQUEST` or a
//! precise rule code (never `INTERNAL`), and the connection stays usable.

use canopy_server::config::Config;
use canopy_server::game::ClockMode;
use canopy_server::partner_secret::PartnerSecret;
use canopy_server::server::{ServerOptions, serve};
use canopy_server::store::MemoryStore;
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const OPS: &[&str] = &[
    "hello",
    "register",
    "login",
    "ping",
    "me",
    "record_action",
    "collect",
    "collect_all",
    "steal",
    "help_collect",
    "water",
    "plant",
    "use_prop",
    "species",
    "friend_request",
    "friend_accept",
    "friend_decline",
    "unfriend",
    "block",
    "unblock",
    "friends",
    "friend_balls",
    "suggestions",
    "leaderboard",
    "feed",
    "team_create",
    "team_invite",
    "team_join",
    "team_leave",
    "team_water",
    "teams",
    "shop",
    "buy",
    "gift_prop",
    "rain",
    "rain_start",
    "rain_tap",
    "rain_gift",
    "teleport",
    "",
];
const FIELDS: &[&str] = &[
    "version",
    "name",
    "token",
    "kind",
    "quantity",
    "ref",
    "ball_id",
    "friend_id",
    "grams",
    "species",
    "prop",
    "player_id",
    "limit",
    "before",
    "period",
    "round_id",
    "ball",
    "at",
    "team_id",
    "item",
];

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..5).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z_]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "walk",
            "metro",
            "saxaul",
            "total",
            "week",
            "stealth",
            "time_accelerator"
        ])
        .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn request_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(OPS),
        prop::collection::vec((prop::sample::select(FIELDS), any_value()), 0..5),
    )
        .prop_map(|(op, fields)| {
            let mut object: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            object.insert("op".into(), json!(op));
            Value::Object(object)
        })
}

#[test]
fn random_request_shaped_frames_never_hurt_the_session() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ws = runtime.block_on(async {
        let game = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ops = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = game.local_addr().expect("addr");
        let overrides = [
            ("CANOPY_SERVER__RATE_LIMIT_PER_SECOND", "1000000"),
            ("CANOPY_SERVER__RATE_LIMIT_BURST", "1000000"),
            ("CANOPY_SERVER__TICK_RATE_HZ", "120"),
        ];
        let config = Config::load(None, overrides.map(|(k, v)| (k.to_owned(), v.to_owned())))
            .expect("config");
        let options = ServerOptions {
            config,
            config_path: None,
            data_dir: "memory".into(),
            clock: ClockMode::Manual,
            clock_start: Some(1_795_536_000_000),
        };
        tokio::spawn(serve(
            options,
            Arc::new(MemoryStore::new()),
            PartnerSecret::random(),
            game,
            ops,
            std::future::pending(),
        ));
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .expect("connect");
        let register = json!({"id": 0, "op": "register", "name": "fuzzy"}).to_string();
        ws.send(Message::Text(register.into())).await.expect("send");
        ws
    });
    let ws = std::cell::RefCell::new(ws);
    let next_id = std::cell::Cell::new(1u64);
    let config = ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    };
    proptest!(config, |(mut request in request_like())| {
        next_id.set(next_id.get() + 1);
        let id = next_id.get();
        request["id"] = json!(id);
        let mut guard = ws.borrow_mut();
        let ws = &mut *guard;
        let reply = runtime.block_on(async {
            ws.send(Message::Text(request.to_string().into())).await.expect("send");
            loop {
                // Generous: a loaded 2-core machine is slow, and a hang still fails.
                let frame = tokio::time::timeout(Duration::from_secs(60), ws.next())
                    .await
                    .expect("a reply within 60 s")
                    .expect("the connection stays open")
                    .expect("a readable frame");
                let Message::Text(text) = frame else { continue };
                let value: Value = serde_json::from_str(&text).expect("replies are JSON");
                if value.get("event").is_none() && value["id"] == json!(id) {
                    break value;
                }
            }
        });
        prop_assert_ne!(&reply["error"]["code"], &json!("INTERNAL"), "{} -> {}", request, reply);
        if reply["ok"] == json!(false) {
            prop_assert!(reply["error"]["code"].is_string() && reply["error"]["message"].is_string(), "{}", reply);
        }
    });
}
