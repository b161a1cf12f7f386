#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! JSON cost of every message: decoding each `Request` variant from its wire text with
//! `frame::decode_request` (as the session does), encoding each reply kind both ways the
//! crate offers (`reply::encode_ok` in one pass, and the server's path: the result to a
//! JSON object, then `reply::encode_ok_fields` splicing it in), `reply::encode_err`,
//! and encoding each event with `serde_json::to_string` (as the game loop does).
//!
//! List sizes: `friends` 500 friends (the cap), `leaderboard` 200 rows and `suggestions`
//! 50 (the page caps), `feed` 50 entries (the default page), `me` 3 balls and one
//! certificate, `friend_balls` 3 balls, `species` 10 species, `teams` 3 teams.
//!
//! Run: `cargo bench -p canopy-shared --bench json`

use canopy_shared::event::{GoneReason, RipeBall};
use canopy_shared::frame::{decode_request, encode_request};
use canopy_shared::model::{
    ActiveProp, BallView, BoardEntry, BoardPeriod, Certificate, CertificateKind, FeedEntry,
    FeedKind, FriendView, PendingRequestView, PlayerView, PropKind, PropsView, SpeciesView,
    Suggestion, TeamView, TreeStage, WatchTarget,
};
use canopy_shared::reply::{
    BallsResult, CollectAllResult, Empty, FeedResult, FriendsResult, GramsEnergyResult,
    HelloResult, HelpCollectResult, LeaderboardResult, LoginResult, MeResult, PingResult,
    PlantResult, PropsResult, RecordActionResult, RegisterResult, SpeciesResult, SuggestionsResult,
    TeamCreateResult, TeamWaterResult, TeamsResult, WaterResult, encode_err, encode_ok,
    encode_ok_fields,
};
use canopy_shared::{
    BallId, CertificateId, ErrorBody, ErrorCode, Event, PlayerId, Request, TeamId,
};
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use serde::Serialize;
use std::hint::black_box;
use std::time::Duration;

/// The request id every frame carries.
const ID: u64 = 1_234_567;

/// Short runs: every case here takes nanoseconds to microseconds.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// The variant's position in `every_request`; the exhaustive match makes a new variant
/// fail to compile here until it is benched.
fn request_slot(request: &Request) -> usize {
    match request {
        Request::Hello { .. } => 0,
        Request::Register { .. } => 1,
        Request::Login { .. } => 2,
        Request::Ping {} => 3,
        Request::Me {} => 4,
        Request::RecordAction { .. } => 5,
        Request::Collect { .. } => 6,
        Request::CollectAll {} => 7,
        Request::Steal { .. } => 8,
        Request::HelpCollect { .. } => 9,
        Request::Water { .. } => 10,
        Request::Plant { .. } => 11,
        Request::UseProp { .. } => 12,
        Request::Species {} => 13,
        Request::FriendRequest { .. } => 14,
        Request::FriendAccept { .. } => 15,
        Request::FriendDecline { .. } => 16,
        Request::Unfriend { .. } => 17,
        Request::Block { .. } => 18,
        Request::Unblock { .. } => 19,
        Request::Friends {} => 20,
        Request::FriendBalls { .. } => 21,
        Request::Suggestions { .. } => 22,
        Request::Leaderboard { .. } => 23,
        Request::Feed { .. } => 24,
        Request::TeamCreate { .. } => 25,
        Request::TeamInvite { .. } => 26,
        Request::TeamJoin { .. } => 27,
        Request::TeamLeave { .. } => 28,
        Request::TeamWater { .. } => 29,
        Request::Teams {} => 30,
        Request::Watch { .. } => 31,
        Request::Unwatch { .. } => 32,
        Request::Refresh {} => 33,
        Request::Logout {} => 34,
        Request::LogoutAll {} => 35,
        Request::Tasks {} => 36,
        Request::TaskAccept { .. } => 37,
        Request::HostLogin { .. } => 38,
        Request::Shop {} => 39,
        Request::Buy { .. } => 40,
        Request::GiftProp { .. } => 41,
        Request::Revive { .. } => 42,
        Request::ProtectArea { .. } => 43,
        Request::Rain {} => 44,
        Request::RainStart {} => 45,
        Request::RainTap { .. } => 46,
        Request::RainGift { .. } => 47,
    }
}

/// One of each request, optional fields filled in, in `request_slot` order.
fn every_request() -> Vec<Request> {
    let friend = PlayerId(80_412);
    let ball_id = BallId(2_400_113);
    let team_id = TeamId(5_021);
    vec![
        Request::Hello { version: 1 },
        Request::Register {
            name: "小明_walker-1".into(),
        },
        Request::Login {
            token: "2f9c1e0a7b3d4c5e8f6a9b0c1d2e3f4a".into(),
        },
        Request::Ping {},
        Request::Me {},
        Request::RecordAction {
            kind: "walk".into(),
            quantity: Some(8_500),
            reference: "2026-11-25-steps-android".into(),
        },
        Request::Collect { ball_id },
        Request::CollectAll {},
        Request::Steal {
            friend_id: friend,
            ball_id,
        },
        Request::HelpCollect {
            friend_id: friend,
            ball_id,
        },
        Request::Water {
            friend_id: friend,
            grams: 66,
        },
        Request::Plant {
            species: "saxaul".into(),
        },
        Request::UseProp {
            prop: PropKind::ProtectionCover,
        },
        Request::Species {},
        Request::FriendRequest { player_id: friend },
        Request::FriendAccept { player_id: friend },
        Request::FriendDecline { player_id: friend },
        Request::Unfriend { player_id: friend },
        Request::Block { player_id: friend },
        Request::Unblock { player_id: friend },
        Request::Friends {},
        Request::FriendBalls { friend_id: friend },
        Request::Suggestions { limit: Some(20) },
        Request::Leaderboard {
            period: BoardPeriod::Week,
            limit: Some(50),
        },
        Request::Feed {
            limit: Some(50),
            before: Some(1_234),
        },
        Request::TeamCreate {
            name: "dune-crew".into(),
            species: "saxaul".into(),
        },
        Request::TeamInvite {
            team_id,
            player_id: friend,
        },
        Request::TeamJoin { team_id },
        Request::TeamLeave { team_id },
        Request::TeamWater {
            team_id,
            grams: 500,
        },
        Request::Teams {},
        Request::Watch {
            what: WatchTarget::Forest,
            friend_id: Some(friend),
        },
        Request::Unwatch {
            what: WatchTarget::Forest,
            friend_id: Some(friend),
        },
        Request::Refresh {},
        Request::Logout {},
        Request::LogoutAll {},
        Request::Tasks {},
        Request::TaskAccept {
            task_id: canopy_shared::TaskId(7),
        },
        Request::HostLogin {
            jwt: "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1LTQyIn0.c2lnbmF0dXJl".into(),
        },
        Request::Shop {},
        Request::Buy {
            item: "double_click_month".into(),
        },
        Request::GiftProp {
            friend_id: friend,
            prop: PropKind::ProtectionCover,
        },
        Request::Revive {
            friend_id: friend,
            ball_id,
        },
        Request::ProtectArea {
            area: "sanjiangyuan".into(),
            square_metres: 10,
        },
        Request::Rain {},
        Request::RainStart {},
        Request::RainTap {
            round_id: 9_041,
            ball: 17,
            at: 1_795_536_004_250,
        },
        Request::RainGift { friend_id: friend },
    ]
}

fn bench_decode(c: &mut Criterion) {
    let requests = every_request();
    let slots: Vec<usize> = requests.iter().map(request_slot).collect();
    assert_eq!(
        slots,
        (0..=47).collect::<Vec<_>>(),
        "one of each request, in order"
    );
    let mut group = c.benchmark_group("decode_request");
    configure(&mut group);
    for request in &requests {
        let text = encode_request(ID, request);
        assert_eq!(
            decode_request(&text).expect("an encoded request decodes"),
            (ID, request.clone())
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(request.op_name(), |b| {
            b.iter(|| decode_request(black_box(&text)).expect("decodes"))
        });
    }
    // For comparison: typed decoding straight from the text, without the `Value` that
    // `decode_request` builds first to read the id and op.
    let steal = encode_request(ID, &requests[8]);
    group.throughput(Throughput::Bytes(steal.len() as u64));
    group.bench_function("steal_direct_from_str", |b| {
        b.iter(|| serde_json::from_str::<Request>(black_box(&steal)).expect("decodes"))
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

fn ball(n: u64) -> BallView {
    BallView {
        ball_id: BallId(2_400_000 + n),
        owner: PlayerId(80_412),
        source: "walk".into(),
        amount: 180,
        created_at: 1_795_536_000_000,
        ripe_at: 1_795_586_400_000,
        expires_at: 1_795_845_600_000,
        stolen: 20,
        stealable: 76,
    }
}

fn certificate(team: Option<&str>) -> Certificate {
    Certificate {
        id: CertificateId(31_337),
        species: "saxaul".into(),
        region: "Alxa, Inner Mongolia".into(),
        grams: 17_900,
        planted_at: 1_795_536_000_000,
        team: team.map(str::to_owned),
        kind: CertificateKind::Tree,
        square_metres: None,
    }
}

fn props() -> PropsView {
    PropsView {
        inventory: PropKind::ALL.into_iter().map(|kind| (kind, 1)).collect(),
        active: vec![ActiveProp {
            prop: PropKind::DoubleClick,
            until: 1_795_622_400_000,
        }],
    }
}

fn team(n: u64) -> TeamView {
    TeamView {
        team_id: TeamId(5_000 + n),
        name: format!("dune-crew-{n}"),
        species: "saxaul".into(),
        progress: 1_200,
        grams: 17_900,
        members: (0..5).map(|m| PlayerId(80_000 + m)).collect(),
    }
}

fn name(n: u64) -> String {
    format!("player{n}")
}

/// Benches one reply kind: `encode_ok`, and the server's path (the handler's result
/// encoded to a JSON object once, then spliced by `encode_ok_fields`).
fn reply<T: Serialize>(group: &mut BenchmarkGroup<'_, WallTime>, kind: &str, result: &T) {
    let text = encode_ok(ID, result);
    let fields = serde_json::to_string(result).expect("results serialize");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&encode_ok_fields(ID, &fields))
            .expect("spliced replies are JSON"),
        serde_json::from_str::<serde_json::Value>(&text).expect("replies are JSON"),
        "both paths write the same reply for {kind}"
    );
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function(format!("{kind}/encode_ok"), |b| {
        b.iter(|| encode_ok(black_box(ID), black_box(result)))
    });
    group.bench_function(format!("{kind}/to_string+encode_ok_fields"), |b| {
        b.iter(|| {
            let fields = serde_json::to_string(black_box(result)).expect("results serialize");
            encode_ok_fields(black_box(ID), &fields)
        })
    });
}

fn bench_replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_reply");
    configure(&mut group);
    let g = &mut group;
    reply(g, "empty", &Empty {});
    reply(
        g,
        "hello",
        &HelloResult {
            server: "canopy-server/0.1.0".into(),
            version: 1,
            tick_rate_hz: 20,
            time: 1_795_536_000_000,
        },
    );
    reply(
        g,
        "register",
        &RegisterResult {
            player_id: PlayerId(80_412),
            token: "2f9c1e0a7b3d4c5e8f6a9b0c1d2e3f4a".into(),
            expires_at: 1_798_128_000_000,
        },
    );
    reply(
        g,
        "login",
        &LoginResult {
            player_id: PlayerId(80_412),
            name: "小明_walker-1".into(),
            expires_at: 1_798_128_000_000,
        },
    );
    reply(
        g,
        "ping",
        &PingResult {
            time: 1_795_536_000_000,
        },
    );
    reply(
        g,
        "me",
        &MeResult {
            player: PlayerView {
                id: PlayerId(80_412),
                name: "小明_walker-1".into(),
                energy: 18_000,
                total_collected: 36_000,
                tree: TreeStage::Tree,
                certificates: vec![certificate(None)],
                props: props(),
                protected_until: Some(1_795_622_400_000),
                held: 0,
                holds: Vec::new(),
                vitality: 1_234,
                trees: 1,
                protected_m2: 0,
            },
            balls: (0..3).map(ball).collect(),
        },
    );
    reply(
        g,
        "record_action",
        &RecordActionResult {
            grams: 170,
            ball: Some(ball(0)),
        },
    );
    reply(
        g,
        "collect_steal",
        &GramsEnergyResult {
            grams: 180,
            energy: 18_180,
        },
    );
    reply(
        g,
        "collect_all",
        &CollectAllResult {
            grams: 540,
            energy: 18_540,
            balls: 3,
        },
    );
    reply(g, "help_collect", &HelpCollectResult { grams: 180 });
    reply(
        g,
        "water",
        &WaterResult {
            energy: 17_934,
            ball_id: BallId(2_400_114),
        },
    );
    reply(
        g,
        "plant",
        &PlantResult {
            certificate: certificate(None),
            energy: 100,
        },
    );
    reply(g, "use_prop", &PropsResult { props: props() });
    reply(
        g,
        "species",
        &SpeciesResult {
            species: (0..10)
                .map(|n| SpeciesView {
                    id: format!("species-{n}"),
                    name: format!("Species {n}"),
                    name_zh: "梭梭".into(),
                    grams: 17_900 + n * 1_000,
                    region: "Alxa, Inner Mongolia".into(),
                })
                .collect(),
            areas: Vec::new(),
        },
    );
    reply(
        g,
        "friends_500",
        &FriendsResult {
            friends: (0..500)
                .map(|n| FriendView {
                    player_id: PlayerId(80_000 + n),
                    name: name(80_000 + n),
                    energy: 900 + n,
                    total_collected: 4_000 + n,
                    stealable_grams: n % 80,
                    protected_until: (n % 10 == 0).then_some(1_795_622_400_000),
                })
                .collect(),
            incoming: (0..3)
                .map(|n| PendingRequestView {
                    player_id: PlayerId(90_000 + n),
                    name: name(90_000 + n),
                    sent_at: 1_795_536_000_000,
                })
                .collect(),
            outgoing: vec![PendingRequestView {
                player_id: PlayerId(91_000),
                name: name(91_000),
                sent_at: 1_795_536_000_000,
            }],
            unavailable: Vec::new(),
        },
    );
    reply(
        g,
        "friend_balls",
        &BallsResult {
            balls: (0..3).map(ball).collect(),
            revivable: Vec::new(),
        },
    );
    reply(
        g,
        "suggestions_50",
        &SuggestionsResult {
            suggestions: (0..50)
                .map(|n| Suggestion {
                    player_id: PlayerId(70_000 + n),
                    name: name(70_000 + n),
                    mutual: 50 - n as u32,
                })
                .collect(),
        },
    );
    reply(
        g,
        "leaderboard_200",
        &LeaderboardResult {
            entries: (0..200)
                .map(|n| BoardEntry {
                    rank: n as u32 + 1,
                    player_id: PlayerId(80_000 + n),
                    name: name(80_000 + n),
                    grams: 36_000 - n * 100,
                    trees: 1,
                    protected_m2: 10,
                })
                .collect(),
            unavailable: Vec::new(),
        },
    );
    let kinds = [
        FeedKind::Stolen,
        FeedKind::Watered,
        FeedKind::Helped,
        FeedKind::ProtectedBlock,
        FeedKind::Certificate,
    ];
    reply(
        g,
        "feed_50",
        &FeedResult {
            entries: (0..50)
                .map(|n| FeedEntry {
                    time: 1_795_536_000_000 - n * 60_000,
                    kind: kinds[n as usize % kinds.len()],
                    actor: (n % 7 != 0).then_some(PlayerId(80_000 + n)),
                    target: Some(PlayerId(80_412)),
                    grams: 20 + n,
                })
                .collect(),
            next: Some(1_184),
        },
    );
    reply(
        g,
        "team_create",
        &TeamCreateResult {
            team_id: TeamId(5_021),
        },
    );
    reply(
        g,
        "team_water",
        &TeamWaterResult {
            team: team(0),
            energy: 70,
        },
    );
    reply(
        g,
        "teams",
        &TeamsResult {
            teams: (0..3).map(team).collect(),
            unavailable: Vec::new(),
        },
    );
    // Error replies: the body is moved into the encoder, so each iteration gets a copy.
    let error = ErrorBody::new(ErrorCode::NotRipe, "ball 2400113 ripens at 1795586400000");
    group.throughput(Throughput::Bytes(
        encode_err(Some(ID), error.clone()).len() as u64
    ));
    group.bench_function("error/encode_err", |b| {
        b.iter_batched(
            || error.clone(),
            |error| encode_err(black_box(Some(ID)), error),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

fn every_event() -> Vec<Event> {
    let friend = PlayerId(80_412);
    vec![
        Event::BallNew { ball: ball(0) },
        Event::BallRipe {
            balls: (0..2)
                .map(|n| RipeBall {
                    ball_id: BallId(2_400_000 + n),
                    amount: 180,
                })
                .collect(),
        },
        Event::BallGone {
            ball_id: BallId(2_400_113),
            reason: GoneReason::Expired,
        },
        Event::EnergyStolen {
            by: Some(friend),
            ball_id: BallId(2_400_113),
            grams: 20,
        },
        Event::Watered {
            by: friend,
            grams: 33,
            energy: 533,
        },
        Event::FriendRequest {
            from: friend,
            name: "小明_walker-1".into(),
        },
        Event::FriendAdded { player_id: friend },
        Event::FriendRemoved { player_id: friend },
        Event::FriendStealable {
            friend_id: friend,
            grams: 76,
        },
        Event::ForestChanged {
            owner_id: friend,
            stealable_grams: 76,
            balls: (0..3).map(ball).collect(),
            revivable: Vec::new(),
        },
        Event::Certificate {
            certificate: certificate(Some("dune-crew")),
        },
        Event::HelpCollected {
            by: friend,
            ball_id: BallId(2_400_113),
            grams: 180,
        },
        Event::ProtectedBlock { by: Some(friend) },
        Event::ServerShutdown {
            reason: "the server is stopping".into(),
        },
    ]
}

fn bench_events(c: &mut Criterion) {
    let events = every_event();
    let mut names: Vec<&str> = events.iter().map(Event::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 14, "one of each event");
    let mut group = c.benchmark_group("encode_event");
    configure(&mut group);
    for event in &events {
        let text = serde_json::to_string(event).expect("events serialize to JSON");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(event.name(), |b| {
            b.iter(|| serde_json::to_string(black_box(event)).expect("events serialize to JSON"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode, bench_replies, bench_events);
criterion_main!(benches);
