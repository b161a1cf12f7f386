//! The cross-shard protocol in process: two Games as shards 0 and 1 of a cluster, with
//! the test carrying their messages as the relay would, and delivering some of them
//! twice, as JetStream may after a restart. Each op (friendship, steal, water, prop gift,
//! revival, rain chance, team ops) is decided once, answered once, and each shard's audit
//! balances with the grams and props in flight.

use canopy_server::config::Config;
use canopy_server::config::risk::RiskConfig;
use canopy_server::game::remote::{Delivery, Dispatch};
use canopy_server::game::remote_views::{ViewAnswer, ViewQuery};
use canopy_server::game::{AdminOp, ClockMode, Command, Game, Op, Origin, Reply, SessionId};
use canopy_server::store::outbox::{Envelope, Leg, Message, MessageKey};
use canopy_server::store::{MemoryStore, Store};
use canopy_shared::admin::{AuditReport, GrantProps, PartnerAction};
use canopy_shared::frame::{ServerFrame, decode_server_frame};
use canopy_shared::model::FeedKind::{Helped, Stolen, Watered};
use canopy_shared::model::PropKind;
use canopy_shared::risk::{FlagList, FlagQuery, FlagStatus, RiskFlag};
use canopy_shared::{BallId, ErrorBody, ErrorCode, Event, PlayerId, Request, TeamId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

const START: u64 = 1_795_536_000_000;
const HOUR: u64 = 3_600_000;
const SESSION: SessionId = SessionId(1);

/// What one batch of a shard answered and sent.
#[derive(Default)]
struct Batch {
    /// Replies to the player's session, by request id.
    replies: HashMap<u64, Result<Value, ErrorBody>>,
    /// Admin answers, in order.
    admin: Vec<Result<Value, ErrorBody>>,
    events: Vec<Event>,
    published: Vec<Envelope>,
    confirms: Vec<(u64, MessageKey)>,
    /// Views asked of other shards: (query, shard, view).
    asked: Vec<(u64, u64, ViewQuery)>,
    /// Players told changed to other shards: (shard, stealable, forests).
    changed: Vec<(u64, Vec<PlayerId>, Vec<PlayerId>)>,
}

struct Shard {
    game: Game,
    /// What the game committed.
    store: MemoryStore,
    next_id: u64,
}

impl Shard {
    fn new(index: u64) -> Self {
        Self::of(index, 2)
    }

    /// Shard `index` of `shards`, with the risk engine off.
    fn of(index: u64, shards: u64) -> Self {
        Self::with_config(index, shards, Config::default_embedded())
    }

    /// Shard `index` of `shards` with `config`, the risk engine off.
    fn with_config(index: u64, shards: u64, mut config: Config) -> Self {
        config.risk.enabled = false;
        Self::loaded(index, shards, config)
    }

    /// Shard `index` of `shards`, with its `[risk]` section as `tune` leaves it.
    fn with_risk(index: u64, shards: u64, tune: impl FnOnce(&mut RiskConfig)) -> Self {
        let mut config = Config::default_embedded();
        tune(&mut config.risk);
        Self::loaded(index, shards, config)
    }

    fn loaded(index: u64, shards: u64, mut config: Config) -> Self {
        config.cluster.enabled = true;
        config.cluster.shards = shards;
        config.cluster.shard = index;
        let store = MemoryStore::new();
        let mut game = Game::load(
            Arc::new(config),
            Arc::new(store.clone()),
            ClockMode::Manual,
            Some(START),
            Some(7 + index),
        )
        .expect("a memory store loads");
        game.connect(SESSION);
        Self {
            game,
            store,
            next_id: 0,
        }
    }

    fn run(&mut self) -> Batch {
        let outcome = self.game.apply_waiting();
        assert_eq!(outcome.store_error, None);
        let mut batch = Batch::default();
        for reply in outcome.replies {
            match reply {
                Reply::Session { text, .. } => match decode_server_frame(&text) {
                    Ok(ServerFrame::Reply(frame)) => {
                        let id = frame.id.expect("replies echo their id");
                        batch.replies.insert(id, frame.into_result());
                    }
                    other => panic!("not a reply: {other:?}"),
                },
                Reply::Admin { result, .. } => batch.admin.push(
                    result.map(|json| serde_json::from_str(&json).expect("admin answers are JSON")),
                ),
            }
        }
        batch.events = outcome.events.into_iter().map(|(_, event)| event).collect();
        for dispatch in outcome.dispatch {
            match dispatch {
                Dispatch::Publish(envelope) => batch.published.push(envelope),
                Dispatch::Confirm { to_shard, key } => batch.confirms.push((to_shard, key)),
                Dispatch::Forget(_) => {}
                Dispatch::Ask {
                    query,
                    to_shard,
                    view,
                } => batch.asked.push((query, to_shard, view)),
                Dispatch::Changed {
                    to_shard,
                    stealable,
                    forests,
                } => batch.changed.push((to_shard, stealable, forests)),
            }
        }
        batch
    }

    /// Sends a request of the shard's one player; returns its id.
    fn submit(&mut self, request: Request) -> u64 {
        self.next_id += 1;
        self.game.submit(Command {
            origin: Origin::Session(SESSION),
            request_id: self.next_id,
            op: Op::Client(request),
        });
        self.next_id
    }

    /// A request answered by this shard alone (refused or served here).
    fn call(&mut self, request: Request) -> Result<Value, ErrorBody> {
        let id = self.submit(request);
        let mut batch = self.run();
        assert!(batch.published.is_empty(), "nothing leaves the shard");
        batch.replies.remove(&id).expect("answered at once")
    }

    fn me(&mut self) -> Value {
        self.call(Request::Me {}).expect("me")["player"].clone()
    }

    fn admin(&mut self, op: AdminOp) -> Result<Value, ErrorBody> {
        self.game.submit(Command {
            origin: Origin::Admin(1),
            request_id: 0,
            op: Op::Admin(op),
        });
        self.run().admin.remove(0)
    }

    fn deliver(&mut self, delivery: Delivery) -> Batch {
        self.game.submit(Command {
            origin: Origin::Admin(1),
            request_id: 0,
            op: Op::Remote(Box::new(delivery)),
        });
        let batch = self.run();
        assert!(
            matches!(batch.admin.first(), Some(Ok(_))),
            "a delivery is applied: {:?}",
            batch.admin
        );
        batch
    }

    /// Answers another shard's view, as its game loop would.
    fn answer_view(&mut self, view: ViewQuery) -> Result<ViewAnswer, ErrorBody> {
        self.game.submit(Command {
            origin: Origin::Admin(1),
            request_id: 0,
            op: Op::View(Box::new(view)),
        });
        self.run()
            .admin
            .remove(0)
            .map(|json| serde_json::from_value(json).expect("a view answer"))
    }

    fn audit(&mut self) -> AuditReport {
        let report = self.admin(AdminOp::Audit).expect("the audit answers");
        let report: AuditReport = serde_json::from_value(report).expect("an audit report");
        assert!(report.balanced, "{:?}", report.problems);
        report
    }

    fn register(&mut self, name: &str) -> PlayerId {
        let id = self.submit(Request::Register {
            name: name.to_owned(),
        });
        let registered = self.run().replies.remove(&id).expect("answered");
        PlayerId(
            registered.expect("registered")["player_id"]
                .as_u64()
                .expect("an id"),
        )
    }

    /// A balance of 52 g for the session's player: a metro ball, ripened, collected.
    fn fund(&mut self, player: PlayerId, reference: &str) {
        let ball = self.partner_metro(player, reference);
        self.admin(AdminOp::AdvanceClock(31 * HOUR))
            .expect("the clock moves");
        let id = self.submit(Request::Collect {
            ball_id: canopy_shared::BallId(ball),
        });
        self.run()
            .replies
            .remove(&id)
            .expect("answered")
            .expect("collected");
    }

    /// The risk flags of this shard.
    fn flags(&mut self) -> Vec<RiskFlag> {
        let list = self
            .admin(AdminOp::RiskFlags(FlagQuery::default()))
            .expect("listed");
        serde_json::from_value::<FlagList>(list)
            .expect("a flag list")
            .flags
    }

    fn partner_metro(&mut self, player: PlayerId, reference: &str) -> u64 {
        let answer = self
            .admin(AdminOp::PartnerAction(PartnerAction {
                player_id: player,
                kind: "metro".into(),
                quantity: None,
                reference: reference.into(),
            }))
            .expect("the action is credited");
        answer["ball"]["ball_id"].as_u64().expect("a ball")
    }
}

/// The one message a batch published.
fn only(mut published: Vec<Envelope>) -> Envelope {
    assert_eq!(published.len(), 1, "{published:?}");
    published.remove(0)
}

/// Runs `request` of shard `from`'s player against shard `to`: the request travels, is
/// decided (delivered twice: the second changes nothing), the outcome travels back
/// (twice too) and the confirmation clears the deciding shard's outbox. Returns the
/// answer and the deciding shard's events.
fn round_trip(
    from: &mut Shard,
    to: &mut Shard,
    request: Request,
) -> (Result<Value, ErrorBody>, Vec<Event>) {
    let id = from.submit(request);
    let sent = from.run();
    assert!(
        sent.replies.is_empty(),
        "the reply waits for the other shard"
    );
    let asked = only(sent.published);
    assert_eq!(asked.key.leg, Leg::Request);
    let decided = to.deliver(Delivery::Message(asked.clone()));
    let outcome = only(decided.published);
    assert_eq!(outcome.key.leg, Leg::Outcome);
    let again = to.deliver(Delivery::Message(asked));
    assert!(
        again.published.is_empty() && again.events.is_empty(),
        "decided once"
    );
    let mut answered = from.deliver(Delivery::Message(outcome.clone()));
    let answer = answered
        .replies
        .remove(&id)
        .expect("answered with the outcome");
    assert_eq!(answered.confirms, vec![(outcome.from_shard, outcome.key)]);
    let twice = from.deliver(Delivery::Message(outcome.clone()));
    assert!(twice.replies.is_empty(), "answered once");
    assert_eq!(
        twice.confirms.len(),
        1,
        "a duplicate outcome is confirmed again"
    );
    to.deliver(Delivery::Confirmed(outcome.key));
    let confirmed = outcome.key.to_string();
    assert!(
        !to.audit()
            .open_transfers
            .iter()
            .any(|open| open.message == confirmed),
        "the confirmed outcome left the outbox"
    );
    (answer, decided.events)
}

fn code(answer: Result<Value, ErrorBody>) -> ErrorCode {
    answer.expect_err("refused").code
}

#[test]
fn a_funnel_from_another_shard_is_judged_and_held_on_the_receivers_shard() {
    let tune = |risk: &mut RiskConfig| risk.water_funnel.max_givers = 1;
    let (mut zero, mut one) = (Shard::with_risk(0, 2, tune), Shard::with_risk(1, 2, tune));
    let bob = one.register("bob");
    let mut answers = Vec::new();
    for name in ["farm-1", "farm-2"] {
        let farm = zero.register(name);
        befriend(&mut zero, farm, &mut one, bob);
        zero.fund(farm, name);
        let (watered, events) = round_trip(
            &mut zero,
            &mut one,
            Request::Water {
                friend_id: bob,
                grams: 10,
            },
        );
        answers.push((watered.expect("the giver's watering goes through"), events));
    }
    let (second, events) = &answers[1];
    assert_eq!(second["energy"], 42, "the giver pays as on one node");
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::RiskHold { grams: 10, .. })),
        "bob hears of the hold on his shard: {events:?}"
    );
    let flags = one.flags();
    assert_eq!(flags.len(), 1, "{flags:?}");
    let flag = &flags[0];
    assert_eq!(
        (flag.rule.as_str(), flag.player_id, flag.held),
        ("water_funnel", bob, 10)
    );
    assert_eq!(
        (flag.id.0 - 1) % 2,
        1,
        "flag ids are numbered like players: this one names shard 1"
    );
    assert!(zero.flags().is_empty(), "the givers' shard judged nothing");
    let held = one.audit();
    assert_eq!((held.held, held.in_balls), (10, 10), "one ball, one hold");

    let (chunks, _) = one.game.flow_sink().snapshot(u64::MAX);
    let waterings: Vec<_> = chunks
        .iter()
        .flat_map(|chunk| chunk.iter())
        .filter(|flow| flow.to == bob)
        .collect();
    assert_eq!(waterings.len(), 2, "the receiver's shard records them");
    assert!(
        waterings
            .iter()
            .all(|flow| flow.from_new && flow.grams == 10)
    );
    let (zero_flows, _) = zero.game.flow_sink().snapshot(u64::MAX);
    assert!(
        zero_flows.iter().all(|chunk| chunk.is_empty()),
        "and only it: each flow once in the cluster"
    );

    let released = one
        .admin(AdminOp::RiskReview(flag.id, FlagStatus::Released))
        .expect("released");
    assert_eq!(released["status"], "released");
    let after = one.audit();
    assert_eq!((after.held, after.balances), (0, 10));
}

#[test]
fn a_quick_steal_from_another_shard_is_judged_and_held_on_the_thiefs_shard() {
    let tune = |risk: &mut RiskConfig| {
        risk.steal_reaction.last_steals = 1;
        risk.steal_reaction.decision = "hold".into();
        risk.steal_reaction.median_below_ms = 40 * HOUR as i64;
    };
    let (mut zero, mut one) = (Shard::with_risk(0, 2, tune), Shard::with_risk(1, 2, tune));
    let ann = zero.register("ann");
    let bob = one.register("bob");
    befriend(&mut zero, ann, &mut one, bob);
    let ball = one.partner_metro(bob, "m1");
    one.admin(AdminOp::AdvanceClock(31 * HOUR))
        .expect("the clock moves");
    let (stolen, _) = round_trip(
        &mut zero,
        &mut one,
        Request::Steal {
            friend_id: bob,
            ball_id: canopy_shared::BallId(ball),
        },
    );
    let stolen = stolen.expect("a held steal is answered as one");
    let grams = stolen["grams"].as_u64().expect("grams");
    assert_eq!(stolen["energy"], 0, "held, not credited");
    let flags = zero.flags();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(
        (flags[0].rule.as_str(), flags[0].player_id, flags[0].held),
        ("steal_reaction", ann, grams)
    );
    assert!(
        flags[0].evidence.numbers["median_ms"] < 40.0 * HOUR as f64,
        "the owner's shard measured the delay: {:?}",
        flags[0].evidence
    );
    assert!(one.flags().is_empty(), "the owner's shard judged nothing");
    let (zero_audit, one_audit) = (zero.audit(), one.audit());
    assert_eq!(
        (
            zero_audit.arrived_from_shards,
            zero_audit.held,
            zero_audit.balances
        ),
        (grams, grams, 0)
    );
    assert_eq!(one_audit.in_balls, 52 - grams);
    let confirmed = zero
        .admin(AdminOp::RiskReview(flags[0].id, FlagStatus::Confirmed))
        .expect("confirmed");
    assert_eq!(confirmed["status"], "confirmed");
    assert_eq!(zero.audit().forfeited, grams);
}

#[test]
fn friendship_steal_and_water_between_shards_apply_once_and_balance() {
    let (mut zero, mut one) = (Shard::new(0), Shard::new(1));
    let ann = zero.register("ann");
    let bob = one.register("bob");
    assert_eq!((ann, bob), (PlayerId(1), PlayerId(2)));

    let (nobody, _) = round_trip(
        &mut zero,
        &mut one,
        Request::FriendRequest {
            player_id: PlayerId(40),
        },
    );
    assert_eq!(
        code(nobody),
        ErrorCode::NotFound,
        "the other shard has no player 40"
    );

    let (asked, events) = round_trip(
        &mut zero,
        &mut one,
        Request::FriendRequest { player_id: bob },
    );
    asked.expect("the request is stored on both shards");
    assert!(
        events.iter().any(|event| matches!(event, Event::FriendRequest { from, name } if *from == ann && name == "ann")),
        "bob hears of it on his shard: {events:?}"
    );
    let (again, _) = round_trip(
        &mut zero,
        &mut one,
        Request::FriendRequest { player_id: bob },
    );
    assert_eq!(code(again), ErrorCode::Conflict, "pending");
    let (accepted, _) = round_trip(
        &mut one,
        &mut zero,
        Request::FriendAccept { player_id: ann },
    );
    accepted.expect("accepted");

    let ball = one.partner_metro(bob, "m1");
    one.admin(AdminOp::AdvanceClock(31 * HOUR))
        .expect("the clock moves");
    let (stolen, events) = round_trip(
        &mut zero,
        &mut one,
        Request::Steal {
            friend_id: bob,
            ball_id: canopy_shared::BallId(ball),
        },
    );
    let stolen = stolen.expect("stolen");
    let grams = stolen["grams"].as_u64().expect("grams");
    assert!((5..=15).contains(&grams), "10–30 % of 52 g, got {grams}");
    assert_eq!(stolen["energy"], grams, "credited once");
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::EnergyStolen { by: Some(by), .. } if *by == ann))
    );
    let (twice, _) = round_trip(
        &mut zero,
        &mut one,
        Request::Steal {
            friend_id: bob,
            ball_id: canopy_shared::BallId(ball),
        },
    );
    assert_eq!(code(twice), ErrorCode::AlreadyStolen);
    let (zero_audit, one_audit) = (zero.audit(), one.audit());
    assert_eq!(
        (zero_audit.arrived_from_shards, one_audit.sent_to_shards),
        (grams, grams)
    );
    assert_eq!(zero_audit.balances, grams);
    assert_eq!(one_audit.in_balls, 52 - grams);

    let own = zero.partner_metro(ann, "m2");
    zero.admin(AdminOp::AdvanceClock(31 * HOUR))
        .expect("the clock moves");
    let id = zero.submit(Request::Collect {
        ball_id: canopy_shared::BallId(own),
    });
    zero.run()
        .replies
        .remove(&id)
        .expect("answered")
        .expect("collected");
    let id = zero.submit(Request::Water {
        friend_id: bob,
        grams: 10,
    });
    let sent = zero.run();
    assert!(sent.replies.is_empty(), "the reply waits for the ball");
    let watering = only(sent.published);
    let in_flight = zero.audit();
    assert_eq!(in_flight.sent_to_shards, 10, "debited into the transfer");
    assert_eq!(in_flight.open_transfers.len(), 1);
    assert_eq!(in_flight.open_transfers[0].grams, 10);
    let made = one.deliver(Delivery::Message(watering.clone()));
    assert!(
        made.events
            .iter()
            .any(|event| matches!(event, Event::Watered { grams: 10, .. }))
    );
    let outcome = only(made.published);
    assert!(
        one.deliver(Delivery::Message(watering)).events.is_empty(),
        "one ball"
    );
    let mut answered = zero.deliver(Delivery::Message(outcome));
    let watered = answered
        .replies
        .remove(&id)
        .expect("answered")
        .expect("watered");
    assert_eq!(watered["energy"], grams + 52 - 10);
    assert!(
        zero.audit().open_transfers.is_empty(),
        "confirmed by the outcome"
    );
    assert_eq!(one.audit().in_balls, 52 - grams + 10);
}

#[test]
fn a_steal_without_an_outcome_in_time_releases_its_reservation_and_is_credited_late() {
    let (mut zero, mut one) = (Shard::new(0), Shard::new(1));
    let ann = zero.register("ann");
    let bob = one.register("bob");
    round_trip(
        &mut zero,
        &mut one,
        Request::FriendRequest { player_id: bob },
    )
    .0
    .expect("asked");
    round_trip(
        &mut one,
        &mut zero,
        Request::FriendAccept { player_id: ann },
    )
    .0
    .expect("accepted");
    let ball = one.partner_metro(bob, "m1");
    one.admin(AdminOp::AdvanceClock(31 * HOUR))
        .expect("the clock moves");

    let id = zero.submit(Request::Steal {
        friend_id: bob,
        ball_id: canopy_shared::BallId(ball),
    });
    let asked = only(zero.run().published);
    let mut timed_out = zero.deliver(Delivery::TimedOut(asked.key.transfer));
    assert_eq!(
        code(timed_out.replies.remove(&id).expect("answered")),
        ErrorCode::ShardTimeout
    );
    let outcome = only(one.deliver(Delivery::Message(asked)).published);
    let late = zero.deliver(Delivery::Message(outcome.clone()));
    assert!(late.replies.is_empty(), "the client was answered already");
    let grams = outcome.grams;
    assert!(grams > 0);
    let (zero_audit, one_audit) = (zero.audit(), one.audit());
    assert_eq!(zero_audit.balances, grams, "the late outcome is credited");
    assert_eq!(
        zero_audit.arrived_from_shards + one_audit.in_balls,
        52,
        "nothing lost, nothing doubled"
    );
}

/// Makes the players of two shards friends.
fn befriend(a: &mut Shard, a_id: PlayerId, b: &mut Shard, b_id: PlayerId) {
    let asked = round_trip(a, b, Request::FriendRequest { player_id: b_id }).0;
    asked.expect("asked");
    let accepted = round_trip(b, a, Request::FriendAccept { player_id: a_id }).0;
    accepted.expect("accepted");
}

#[test]
fn a_view_over_friends_of_two_other_shards_waits_for_both_or_times_out() {
    let mut shards: Vec<Shard> = (0..3).map(|index| Shard::of(index, 3)).collect();
    let [zero, one, two] = shards.as_mut_slice() else {
        unreachable!("three shards")
    };
    let ann = zero.register("ann");
    let bob = one.register("bob");
    let cy = two.register("cy");
    befriend(zero, ann, one, bob);
    befriend(zero, ann, two, cy);
    let ball = one.partner_metro(bob, "m1");
    one.admin(AdminOp::AdvanceClock(31 * HOUR))
        .expect("the clock moves");

    let id = zero.submit(Request::Friends {});
    let mut sent = zero.run();
    assert!(sent.replies.is_empty(), "the reply waits for both shards");
    sent.asked.sort_by_key(|(_, shard, _)| *shard);
    let [(query, 1, to_one), (other, 2, to_two)] = sent.asked.as_slice() else {
        panic!("one view per shard: {:?}", sent.asked)
    };
    assert_ne!(
        query, other,
        "one ask per shard, told apart if one does not answer"
    );
    let from_one = one.answer_view(to_one.clone());
    let first = zero.deliver(Delivery::Answered {
        query: *query,
        answer: from_one,
    });
    assert!(first.replies.is_empty(), "shard 2 has not answered yet");
    let from_two = two.answer_view(to_two.clone());
    let mut done = zero.deliver(Delivery::Answered {
        query: *other,
        answer: from_two,
    });
    let listed = done
        .replies
        .remove(&id)
        .expect("answered")
        .expect("friends");
    let rows = listed["friends"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().filter_map(|row| row["name"].as_str()).collect();
    assert_eq!(names, ["bob", "cy"], "every friend, in id order: {listed}");
    let offered = rows[0]["stealable_grams"].as_u64().expect("grams");
    assert!(offered > 0, "bob's ball is ripe: {listed}");
    assert_eq!(rows[1]["stealable_grams"], 0, "{listed}");

    let id = zero.submit(Request::FriendBalls { friend_id: bob });
    let asked = zero.run().asked;
    let [(query, 1, view)] = asked.as_slice() else {
        panic!("bob's shard is asked: {asked:?}")
    };
    let mut timed_out = zero.deliver(Delivery::Answered {
        query: *query,
        answer: Err(ErrorBody::new(ErrorCode::ShardTimeout, "no answer")),
    });
    assert_eq!(
        code(timed_out.replies.remove(&id).expect("answered")),
        ErrorCode::ShardTimeout
    );
    let late = one.answer_view(view.clone());
    let ViewAnswer::Balls(balls) = late.clone().expect("bob's balls") else {
        panic!("balls: {late:?}")
    };
    assert_eq!(balls.balls[0].ball_id.0, ball);
    assert_eq!(
        balls.balls[0].stealable, offered,
        "the same offer as in `friends`"
    );
    let after = zero.deliver(Delivery::Answered {
        query: *query,
        answer: late,
    });
    assert!(after.replies.is_empty(), "answered once");

    let unknown = zero.submit(Request::FriendBalls {
        friend_id: PlayerId(41),
    });
    let mut refused = zero.run();
    assert!(refused.asked.is_empty(), "refused on the asking shard");
    assert_eq!(
        code(refused.replies.remove(&unknown).expect("answered")),
        ErrorCode::NotFriends,
        "as on one node"
    );
}

/// Runs a list view (`friends`, `leaderboard`) of shard 0's player over friends of
/// shards 1 and 2: one ask per shard, answered by `answer` (or `None`: that shard never
/// answers and the cluster part hands over `SHARD_TIMEOUT`), each answer delivered
/// twice. Returns the reply and the asks.
fn list_view(
    shards: &mut [Shard],
    request: Request,
    answering: &[u64],
) -> (Value, Vec<(u64, u64, ViewQuery)>) {
    let [zero, others @ ..] = shards else {
        unreachable!("three shards")
    };
    let id = zero.submit(request);
    let mut asked = zero.run().asked;
    asked.sort_by_key(|(_, shard, _)| *shard);
    let mut reply = None;
    for (query, shard, view) in &asked {
        let answer = if answering.contains(shard) {
            others[*shard as usize - 1].answer_view(view.clone())
        } else {
            Err(ErrorBody::new(ErrorCode::ShardTimeout, "no answer in time"))
        };
        for _ in 0..2 {
            let mut batch = zero.deliver(Delivery::Answered {
                query: *query,
                answer: answer.clone(),
            });
            if let Some(answered) = batch.replies.remove(&id) {
                assert!(reply.is_none(), "answered once");
                reply = Some(answered.expect("a list is answered"));
            }
        }
    }
    (reply.expect("answered once every shard answered"), asked)
}

/// A player of `shard` with `grams` collected in all (52 g per funding).
fn funded(shard: &mut Shard, name: &str, fundings: u32) -> PlayerId {
    let player = shard.register(name);
    for n in 0..fundings {
        shard.fund(player, &format!("{name}-{n}"));
    }
    player
}

/// Three shards: ann of shard 0 (52 g collected), her friends bob of shard 1 (104 g)
/// and cy of shard 2 (52 g).
fn ann_bob_and_cy() -> (Vec<Shard>, [PlayerId; 3]) {
    let mut shards: Vec<Shard> = (0..3).map(|index| Shard::of(index, 3)).collect();
    let [zero, one, two] = shards.as_mut_slice() else {
        unreachable!("three shards")
    };
    let ann = funded(zero, "ann", 1);
    let bob = funded(one, "bob", 2);
    befriend(zero, ann, one, bob);
    let cy = funded(two, "cy", 1);
    befriend(zero, ann, two, cy);
    (shards, [ann, bob, cy])
}

#[test]
fn a_board_over_friends_of_three_shards_ranks_them_as_one_node_does() {
    let (mut shards, [ann, bob, cy]) = ann_bob_and_cy();
    let [zero, one, ..] = shards.as_mut_slice() else {
        unreachable!("three shards")
    };
    let eve = funded(one, "eve", 1);
    befriend(zero, ann, one, eve);
    let ranked = |board: &Value| -> Vec<(u64, u64, u64)> {
        board["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|row| {
                let field = |key: &str| row[key].as_u64().expect("a number");
                (field("rank"), field("player_id"), field("grams"))
            })
            .collect()
    };
    let mut tied = [ann, cy, eve];
    tied.sort();
    let (early, late) = if bob < eve { (bob, eve) } else { (eve, bob) };

    let (board, asked) = list_view(
        &mut shards,
        Request::Leaderboard {
            period: canopy_shared::model::BoardPeriod::Total,
            limit: None,
        },
        &[1, 2],
    );
    let players: Vec<(u64, Vec<PlayerId>)> = asked
        .iter()
        .map(|(_, shard, view)| match view {
            ViewQuery::Board { players, limit, .. } => {
                assert_eq!(*limit, 50, "the default limit travels");
                (*shard, players.clone())
            }
            other => panic!("a board part: {other:?}"),
        })
        .collect();
    assert_eq!(
        players,
        [(1, vec![early, late]), (2, vec![cy])],
        "one ask per shard, carrying all its friends' ids"
    );
    assert_eq!(
        ranked(&board),
        [
            (1, bob.0, 104),
            (2, tied[0].0, 52),
            (3, tied[1].0, 52),
            (4, tied[2].0, 52)
        ],
        "most grams first, ties by id: {board}"
    );
    let names: Vec<&str> = board["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|row| row["name"].as_str())
        .collect();
    assert_eq!(names.len(), 4, "every row is named: {board}");
    assert!(names.contains(&"cy") && names.contains(&"bob"), "{board}");
    assert!(
        board.get("unavailable").is_none(),
        "everyone was read: {board}"
    );

    let (top, _) = list_view(
        &mut shards,
        Request::Leaderboard {
            period: canopy_shared::model::BoardPeriod::Total,
            limit: Some(2),
        },
        &[1, 2],
    );
    assert_eq!(
        ranked(&top),
        [(1, bob.0, 104), (2, tied[0].0, 52)],
        "the limit applies to the merged board: {top}"
    );

    // Shard 1 funded three times (93 h on its clock), the others once (31 h). With
    // every clock at 93 h (Saturday 21:00 game-local), eve collects once more on shard
    // 1's Monday and the other clocks follow: only that collection is this week's.
    for shard in [0, 2] {
        shards[shard]
            .admin(AdminOp::AdvanceClock(62 * HOUR))
            .expect("the clock moves");
    }
    shards[1].fund(eve, "eve-monday");
    for shard in [0, 2] {
        shards[shard]
            .admin(AdminOp::AdvanceClock(31 * HOUR))
            .expect("the clock moves");
    }
    let (week, _) = list_view(
        &mut shards,
        Request::Leaderboard {
            period: canopy_shared::model::BoardPeriod::Week,
            limit: None,
        },
        &[1, 2],
    );
    let mut nobody = [ann, bob, cy];
    nobody.sort();
    assert_eq!(
        ranked(&week),
        [
            (1, eve.0, 52),
            (2, nobody[0].0, 0),
            (3, nobody[1].0, 0),
            (4, nobody[2].0, 0)
        ],
        "{week}"
    );

    let [zero, ..] = shards.as_mut_slice() else {
        unreachable!("three shards")
    };
    let refused = zero.submit(Request::Leaderboard {
        period: canopy_shared::model::BoardPeriod::Total,
        limit: Some(201),
    });
    let mut batch = zero.run();
    assert!(batch.asked.is_empty(), "refused before any shard is asked");
    assert_eq!(
        code(batch.replies.remove(&refused).expect("answered")),
        ErrorCode::BadRequest,
        "as on one node"
    );
}

#[test]
fn a_list_over_friends_goes_on_without_a_shard_that_never_answers() {
    let (mut shards, [ann, bob, cy]) = ann_bob_and_cy();
    let [zero, _, two] = shards.as_mut_slice() else {
        unreachable!("three shards")
    };
    let dan = two.register("dan");
    round_trip(two, zero, Request::FriendRequest { player_id: ann })
        .0
        .expect("dan asks ann");

    let (listed, _) = list_view(&mut shards, Request::Friends {}, &[1]);
    let friends: Vec<u64> = listed["friends"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["player_id"].as_u64())
        .collect();
    assert_eq!(friends, [bob.0], "the friend who could be read: {listed}");
    assert_eq!(listed["friends"][0]["name"], "bob");
    assert_eq!(
        listed["incoming"][0]["player_id"], dan.0,
        "dan's request is listed, without his name: {listed}"
    );
    let mut missing = vec![cy.0, dan.0];
    missing.sort();
    assert_eq!(
        listed["unavailable"],
        serde_json::json!(missing),
        "{listed}"
    );

    let (board, _) = list_view(
        &mut shards,
        Request::Leaderboard {
            period: canopy_shared::model::BoardPeriod::Total,
            limit: None,
        },
        &[1],
    );
    let rows: Vec<(u64, u64)> = board["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|row| {
            let field = |key: &str| row[key].as_u64().expect("a number");
            (field("rank"), field("player_id"))
        })
        .collect();
    assert_eq!(rows, [(1, bob.0), (2, ann.0)], "ranked without cy: {board}");
    assert_eq!(board["unavailable"], serde_json::json!([cy.0]), "{board}");

    let (nobody, _) = list_view(&mut shards, Request::Friends {}, &[]);
    assert_eq!(nobody["friends"], serde_json::json!([]), "{nobody}");
    let mut everyone = vec![bob.0, cy.0, dan.0];
    everyone.sort();
    assert_eq!(nobody["unavailable"], serde_json::json!(everyone));

    let (whole, _) = list_view(&mut shards, Request::Friends {}, &[1, 2]);
    assert!(whole.get("unavailable").is_none(), "{whole}");
    assert_eq!(whole["friends"].as_array().map(Vec::len), Some(2));
    assert_eq!(whole["incoming"][0]["name"], "dan");
}

#[test]
fn the_feed_of_a_steal_help_and_watering_between_shards_is_written_once_as_on_one_node() {
    let (mut zero, mut one) = (Shard::new(0), Shard::new(1));
    let ann = funded(&mut zero, "ann", 1);
    let bob = one.register("bob");
    befriend(&mut zero, ann, &mut one, bob);
    let ball = canopy_shared::BallId(one.partner_metro(bob, "m1"));
    one.admin(AdminOp::AdvanceClock(31 * HOUR))
        .expect("the clock moves");

    let [stolen, helped, _] = [
        Request::Steal {
            friend_id: bob,
            ball_id: ball,
        },
        Request::HelpCollect {
            friend_id: bob,
            ball_id: ball,
        },
        Request::Water {
            friend_id: bob,
            grams: 10,
        },
    ]
    .map(|request| {
        let (answer, _) = round_trip(&mut zero, &mut one, request);
        answer.expect("done")["grams"].as_u64()
    });
    let (stolen, helped) = (stolen.expect("grams stolen"), helped.expect("grams helped"));

    let feed = one
        .call(Request::Feed {
            limit: None,
            before: None,
        })
        .expect("bob's feed");
    let entries: Vec<canopy_shared::model::FeedEntry> =
        serde_json::from_value(feed["entries"].clone()).expect("feed entries");
    let kinds: Vec<_> = entries
        .iter()
        .map(|entry| (entry.kind, entry.actor, entry.target, entry.grams))
        .collect();
    assert_eq!(
        kinds,
        [
            (Watered, Some(ann), Some(bob), 10),
            (Helped, Some(ann), Some(bob), helped),
            (Stolen, Some(ann), Some(bob), stolen),
        ],
        "one entry per op on the owner's shard, though every message came twice"
    );
    let ann_feed = zero
        .call(Request::Feed {
            limit: None,
            before: None,
        })
        .expect("ann's feed");
    assert_eq!(
        ann_feed["entries"],
        serde_json::json!([]),
        "as on one node, the actor's own feed records nothing of what they did to a friend"
    );
}

/// Ann of shard 0 and bob of shard 1, friends.
fn friends_across(zero: &mut Shard, one: &mut Shard) -> (PlayerId, PlayerId) {
    let ann = zero.register("ann");
    let bob = one.register("bob");
    befriend(zero, ann, one, bob);
    (ann, bob)
}

/// Props sent and not arrived over both shards, which must be the props in messages
/// not yet applied.
fn props_sent_not_arrived(zero: &mut Shard, one: &mut Shard) -> i64 {
    [zero.audit(), one.audit()]
        .iter()
        .map(|audit| audit.props_sent_to_shards as i64 - audit.props_arrived_from_shards as i64)
        .sum()
}

#[test]
fn prop_gifts_between_shards_arrive_once_and_a_refused_one_comes_back() {
    let (mut zero, mut one) = (Shard::new(0), Shard::new(1));
    let (ann, bob) = friends_across(&mut zero, &mut one);
    assert_eq!(
        code(zero.call(Request::GiftProp {
            friend_id: bob,
            prop: PropKind::Stealth
        })),
        ErrorCode::NotFound,
        "the giver's shard refuses a prop not held"
    );
    zero.admin(AdminOp::GrantProps(GrantProps {
        player_id: ann,
        prop: PropKind::Stealth,
        count: 2,
    }))
    .expect("granted");
    let gift = Request::GiftProp {
        friend_id: bob,
        prop: PropKind::Stealth,
    };
    let (given, events) = round_trip(&mut zero, &mut one, gift.clone());
    assert_eq!(given.expect("given")["props"]["inventory"]["stealth"], 1);
    assert!(
        events.iter().any(
            |event| matches!(event, Event::PropGift { from, prop: PropKind::Stealth } if *from == ann)
        ),
        "bob hears of it on his shard: {events:?}"
    );
    assert_eq!(
        one.me()["props"]["inventory"]["stealth"],
        1,
        "credited once"
    );
    assert_eq!(
        (
            zero.audit().props_sent_to_shards,
            one.audit().props_arrived_from_shards
        ),
        (1, 1)
    );

    let id = zero.submit(gift);
    let asked = only(zero.run().published);
    assert_eq!(
        zero.me()["props"]["inventory"]["stealth"],
        0,
        "taken at once"
    );
    let in_flight = zero.audit().open_transfers;
    assert_eq!((in_flight.len(), in_flight[0].props), (1, 1));
    assert_eq!(props_sent_not_arrived(&mut zero, &mut one), 1, "in flight");
    round_trip(&mut one, &mut zero, Request::Unfriend { player_id: ann })
        .0
        .expect("unfriended meanwhile");
    let refused = one.deliver(Delivery::Message(asked.clone()));
    assert!(refused.events.is_empty());
    let outcome = only(refused.published);
    assert_eq!(outcome.message.props(), 1, "the prop goes back");
    assert!(one.deliver(Delivery::Message(asked)).published.is_empty());
    assert_eq!(
        props_sent_not_arrived(&mut zero, &mut one),
        1,
        "on its way back"
    );
    let mut answered = zero.deliver(Delivery::Message(outcome.clone()));
    assert_eq!(
        code(answered.replies.remove(&id).expect("answered")),
        ErrorCode::NotFriends
    );
    assert!(zero.deliver(Delivery::Message(outcome)).replies.is_empty());
    let ann_now = zero.me();
    assert_eq!(ann_now["props"]["inventory"]["stealth"], 1, "back once");
    assert_eq!(one.me()["props"]["inventory"]["stealth"], 1);
    assert_eq!(props_sent_not_arrived(&mut zero, &mut one), 0);
    let shop = zero.call(Request::Shop {}).expect("the shop");
    assert_eq!(shop["gifts_left"], 2, "the refused gift does not count");
}

#[test]
fn revivals_between_shards_are_decided_by_the_owner_and_rewarded_once() {
    let mut config = Config::default_embedded();
    config.revive.per_day = 2;
    let (mut zero, mut one) = (
        Shard::with_config(0, 2, config.clone()),
        Shard::with_config(1, 2, config),
    );
    let (ann, bob) = friends_across(&mut zero, &mut one);
    let balls = ["m1", "m2", "m3"].map(|reference| BallId(one.partner_metro(bob, reference)));
    one.admin(AdminOp::AdvanceClock(31 * HOUR + 73 * HOUR))
        .expect("ripe, then expired an hour ago");
    let revive = |ball| Request::Revive {
        friend_id: bob,
        ball_id: ball,
    };

    let (revived, events) = round_trip(&mut zero, &mut one, revive(balls[0]));
    let revived = revived.expect("revived");
    assert_eq!(
        (&revived["grams"], &revived["vitality"]),
        (&52.into(), &5.into())
    );
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::EnergyRevived { by, grams: 52, .. } if *by == ann)),
        "{events:?}"
    );
    assert_eq!(
        code(round_trip(&mut zero, &mut one, revive(balls[0])).0),
        ErrorCode::AlreadyRevived,
        "decided by the owner's shard"
    );
    assert_eq!(
        code(round_trip(&mut zero, &mut one, revive(BallId(900))).0),
        ErrorCode::NotFound
    );

    let second = zero.submit(revive(balls[1]));
    let asked_second = only(zero.run().published);
    let third = zero.submit(revive(balls[2]));
    let asked_third = only(zero.run().published);
    assert!(
        matches!(
            asked_third.message,
            Message::Revive {
                may_revive: false,
                ..
            }
        ),
        "the last revival of the day is reserved by the one in flight"
    );
    let limited = only(one.deliver(Delivery::Message(asked_third)).published);
    let made = only(one.deliver(Delivery::Message(asked_second)).published);
    assert_eq!(
        code(
            zero.deliver(Delivery::Message(limited))
                .replies
                .remove(&third)
                .expect("answered")
        ),
        ErrorCode::LimitReached
    );
    let mut answered = zero.deliver(Delivery::Message(made.clone()));
    assert_eq!(
        answered
            .replies
            .remove(&second)
            .expect("answered")
            .expect("revived")["vitality"],
        10
    );
    assert!(zero.deliver(Delivery::Message(made)).replies.is_empty());
    assert_eq!(zero.me()["vitality"], 10, "rewarded once per revival");
    let (zero_audit, one_audit) = (zero.audit(), one.audit());
    assert_eq!(zero_audit.vitality_earned, 10);
    assert_eq!((one_audit.revived, one_audit.in_balls), (104, 104));
}

#[test]
fn a_rain_chance_between_shards_unlocks_the_givers_round_only_when_received() {
    let (mut zero, mut one) = (Shard::new(0), Shard::new(1));
    let (ann, bob) = friends_across(&mut zero, &mut one);
    let gift = Request::RainGift { friend_id: bob };
    assert_eq!(
        code(zero.call(gift.clone())),
        ErrorCode::NotEligible,
        "the giver's shard: no round played yet"
    );
    zero.call(Request::RainStart {}).expect("a round");
    let (given, events) = round_trip(&mut zero, &mut one, gift.clone());
    let given = given.expect("given");
    assert_eq!(
        (&given["rounds_left"], &given["gifts_left"]),
        (&1.into(), &0.into())
    );
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::RainChance { from } if *from == ann))
    );
    assert_eq!(
        one.call(Request::Rain {}).expect("status")["rounds_left"],
        2
    );

    zero.admin(AdminOp::AdvanceClock(20_000))
        .expect("the round ends");
    zero.call(Request::RainStart {})
        .expect("the unlocked round");
    let id = zero.submit(gift.clone());
    let asked = only(zero.run().published);
    assert_eq!(
        code(zero.call(gift)),
        ErrorCode::NotEligible,
        "the chance in flight is reserved"
    );
    let mut timed_out = zero.deliver(Delivery::TimedOut(asked.key.transfer));
    assert_eq!(
        code(timed_out.replies.remove(&id).expect("answered")),
        ErrorCode::ShardTimeout
    );
    let refused = only(one.deliver(Delivery::Message(asked)).published);
    assert!(
        matches!(&refused.message, Message::RainGiftDecided(Err(error)) if error.code == ErrorCode::LimitReached),
        "bob received one today: {refused:?}"
    );
    assert!(zero.deliver(Delivery::Message(refused)).replies.is_empty());
    let status = zero.call(Request::Rain {}).expect("status");
    assert_eq!(
        (&status["rounds_left"], &status["gifts_left"]),
        (&0.into(), &1.into()),
        "no round unlocked by a refused chance; the released one may be given again"
    );
}

#[test]
fn a_session_watching_a_friends_forest_on_another_shard_hears_its_changes() {
    let (mut zero, mut one) = (Shard::new(0), Shard::new(1));
    let (_, bob) = friends_across(&mut zero, &mut one);
    let watch = zero.submit(Request::Watch {
        what: canopy_shared::model::WatchTarget::Forest,
        friend_id: Some(bob),
    });
    let watching = zero.run().replies.remove(&watch).expect("answered");
    watching.expect("ann may watch her friend's forest");

    one.game.submit(Command {
        origin: Origin::Admin(1),
        request_id: 0,
        op: Op::Admin(AdminOp::PartnerAction(PartnerAction {
            player_id: bob,
            kind: "metro".into(),
            quantity: None,
            reference: "m1".into(),
        })),
    });
    let made = one.run();
    assert_eq!(
        made.changed,
        vec![(0, vec![], vec![bob])],
        "shard 0 holds a friend of bob's; the new ball is not ripe yet"
    );
    let heard = zero.deliver(Delivery::Changed {
        stealable: vec![],
        forests: vec![bob],
    });
    let [(query, 1, view)] = heard.asked.as_slice() else {
        panic!("bob's forest is read from his shard: {:?}", heard.asked)
    };
    let answer = one.answer_view(view.clone());
    let pushed = zero.deliver(Delivery::Answered {
        query: *query,
        answer,
    });
    let [
        Event::ForestChanged {
            owner_id, balls, ..
        },
    ] = pushed.events.as_slice()
    else {
        panic!("one forest_changed: {:?}", pushed.events)
    };
    assert_eq!(*owner_id, bob);
    assert_eq!(balls.len(), 1, "the new ball: {balls:?}");

    let unwatch = zero.submit(Request::Unwatch {
        what: canopy_shared::model::WatchTarget::Forest,
        friend_id: None,
    });
    zero.run()
        .replies
        .remove(&unwatch)
        .expect("answered")
        .expect("unwatched");
    let quiet = zero.deliver(Delivery::Changed {
        stealable: vec![bob],
        forests: vec![],
    });
    assert!(quiet.asked.is_empty(), "nobody here watches bob any more");
}

/// Shards 0 and 1 where the cheapest species' tree takes 80 g, and its id.
fn team_shards(tune: impl Fn(&mut Config)) -> (Shard, Shard, String) {
    let mut config = Config::default_embedded();
    config.catalog[0].grams = 80;
    tune(&mut config);
    let species = config.catalog[0].id.clone();
    (
        Shard::with_config(0, 2, config.clone()),
        Shard::with_config(1, 2, config),
        species,
    )
}

fn create_team(shard: &mut Shard, species: &str) -> TeamId {
    let created = shard
        .call(Request::TeamCreate {
            name: "grove".into(),
            species: species.into(),
        })
        .expect("created");
    TeamId(created["team_id"].as_u64().expect("an id"))
}

fn certificates(shard: &mut Shard) -> Vec<Value> {
    shard.me()["certificates"]
        .as_array()
        .expect("certificates")
        .clone()
}

/// Grams sent and not arrived over both shards, which must be the grams in messages not
/// yet applied.
fn grams_sent_not_arrived(zero: &mut Shard, one: &mut Shard) -> i64 {
    [zero.audit(), one.audit()]
        .iter()
        .map(|audit| audit.sent_to_shards as i64 - audit.arrived_from_shards as i64)
        .sum()
}

/// `teams` of `viewer`'s player, whose one team lives on shard 0: `team_shard` answers
/// the ask, or, when `None`, the cluster part hands over `SHARD_TIMEOUT`. Returns the
/// reply.
fn teams_over_shard_zero(viewer: &mut Shard, team_shard: Option<&mut Shard>) -> Value {
    let id = viewer.submit(Request::Teams {});
    let asked = viewer.run().asked;
    let [(query, 0, view)] = asked.as_slice() else {
        panic!("the team's shard is asked: {asked:?}")
    };
    let answer = match team_shard {
        Some(shard) => shard.answer_view(view.clone()),
        None => Err(ErrorBody::new(ErrorCode::ShardTimeout, "no answer")),
    };
    viewer
        .deliver(Delivery::Answered {
            query: *query,
            answer,
        })
        .replies
        .remove(&id)
        .expect("answered")
        .expect("the teams that could be read")
}

#[test]
fn a_team_tree_watered_from_two_shards_is_planted_once_and_certifies_each_member_once() {
    let (mut zero, mut one, species) = team_shards(|_| {});
    let (ann, bob) = friends_across(&mut zero, &mut one);
    zero.fund(ann, "m-ann");
    one.fund(bob, "m-bob");
    let team = create_team(&mut zero, &species);
    assert_eq!(team.0 % 2, 1, "a team of shard 0 has an id of shard 0");

    let join = Request::TeamJoin { team_id: team };
    let refused = round_trip(&mut one, &mut zero, join.clone()).0;
    assert_eq!(code(refused), ErrorCode::NotFound, "no invitation yet");
    let water = |grams| Request::TeamWater {
        team_id: team,
        grams,
    };
    let (refused, _) = round_trip(&mut one, &mut zero, water(20));
    assert_eq!(code(refused), ErrorCode::Forbidden, "not a member yet");
    assert_eq!(one.me()["energy"], 52, "the refused grams came back once");
    assert_eq!(grams_sent_not_arrived(&mut zero, &mut one), 0);

    zero.call(Request::TeamInvite {
        team_id: team,
        player_id: bob,
    })
    .expect("ann invites bob of the other shard on her own shard");
    round_trip(&mut one, &mut zero, join)
        .0
        .expect("bob joins ann's team");
    let stranger = round_trip(
        &mut one,
        &mut zero,
        Request::TeamInvite {
            team_id: team,
            player_id: PlayerId(41),
        },
    )
    .0;
    assert_eq!(code(stranger), ErrorCode::NotFriends, "as on one node");

    let teams = teams_over_shard_zero(&mut one, Some(&mut zero));
    assert_eq!(teams["teams"][0]["team_id"], team.0, "{teams}");
    assert_eq!(
        teams["teams"][0]["members"],
        serde_json::json!([ann.0, bob.0])
    );

    let watered = zero.call(water(40)).expect("ann waters at home");
    assert_eq!(watered["team"]["progress"], 40);
    let id = one.submit(water(52));
    let asked = only(one.run().published);
    assert_eq!((asked.grams, one.me()["energy"].clone()), (52, 0.into()));
    assert_eq!(grams_sent_not_arrived(&mut zero, &mut one), 52, "in flight");
    let mut decided = zero.deliver(Delivery::Message(asked.clone()));
    assert!(
        zero.deliver(Delivery::Message(asked)).published.is_empty(),
        "decided once"
    );
    decided.published.sort_by_key(|envelope| envelope.key.leg);
    let [certify, outcome] = decided.published.as_slice() else {
        panic!("the outcome and bob's certificate: {:?}", decided.published)
    };
    assert!(matches!(certify.message, Message::TeamCertify { .. }));
    assert_eq!(outcome.grams, 12, "the tree took the 40 g it needed");
    let mut sent_back = Vec::new();
    for _ in 0..2 {
        let certified = one.deliver(Delivery::Message(certify.clone()));
        assert!(certified.replies.is_empty(), "no client waits for it");
        sent_back.extend(certified.published);
        let mut answered = one.deliver(Delivery::Message(outcome.clone()));
        if let Some(reply) = answered.replies.remove(&id) {
            let reply = reply.expect("watered");
            assert_eq!(
                (reply["energy"].clone(), reply["team"]["progress"].clone()),
                (12.into(), 0.into())
            );
        }
    }
    let certified = only(sent_back);
    assert_eq!(certified.key.leg, Leg::Outcome, "applied once");
    zero.deliver(Delivery::Message(certified.clone()));
    assert!(
        zero.deliver(Delivery::Message(certified))
            .replies
            .is_empty()
    );
    for (shard, name) in [(&mut zero, "ann"), (&mut one, "bob")] {
        let held = certificates(shard);
        assert_eq!(held.len(), 1, "{name} is certified once: {held:?}");
        assert_eq!(held[0]["team"], "grove");
    }
    let (zero_audit, one_audit) = (zero.audit(), one.audit());
    assert_eq!((zero_audit.planted, zero_audit.in_team_trees), (80, 0));
    assert_eq!(one_audit.planted, 0, "planted once, on the team's shard");
    assert_eq!(grams_sent_not_arrived(&mut zero, &mut one), 0);
    assert_eq!(
        zero_audit.created + one_audit.created,
        zero_audit.balances + one_audit.balances + 80,
        "nothing lost, nothing doubled"
    );
}

#[test]
fn team_refusals_and_timeouts_across_shards_release_what_they_reserved() {
    let (mut zero, mut one, species) = team_shards(|config| config.teams.max_per_player = 2);
    let (ann, bob) = friends_across(&mut zero, &mut one);
    let team = create_team(&mut zero, &species);
    zero.call(Request::TeamInvite {
        team_id: team,
        player_id: bob,
    })
    .expect("invited");
    create_team(&mut one, &species);
    let id = one.submit(Request::TeamJoin { team_id: team });
    let asked = only(one.run().published);
    let third = Request::TeamCreate {
        name: "third".into(),
        species: species.clone(),
    };
    one.admin(AdminOp::AdvanceClock(25 * HOUR))
        .expect("the clock moves");
    assert_eq!(
        code(one.call(third.clone())),
        ErrorCode::LimitReached,
        "two teams, a day later too: the one founded and the join reserved"
    );
    let mut timed_out = one.deliver(Delivery::TimedOut(asked.key.transfer));
    assert_eq!(
        code(timed_out.replies.remove(&id).expect("answered")),
        ErrorCode::ShardTimeout
    );
    let outcome = only(zero.deliver(Delivery::Message(asked)).published);
    let late = one.deliver(Delivery::Message(outcome));
    assert!(late.replies.is_empty(), "the client was answered already");
    let invite_ann = Request::TeamInvite {
        team_id: team,
        player_id: ann,
    };
    let member = round_trip(&mut one, &mut zero, invite_ann).0;
    assert_eq!(
        code(member),
        ErrorCode::Conflict,
        "bob is a member now, and ann is one already"
    );
    let listed = teams_over_shard_zero(&mut one, None);
    assert_eq!(
        listed["teams"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_eq!(listed["unavailable"], serde_json::json!([team.0]));

    let other = create_team(&mut zero, &species);
    zero.call(Request::TeamInvite {
        team_id: other,
        player_id: bob,
    })
    .expect("invited again");
    let over = round_trip(&mut one, &mut zero, Request::TeamJoin { team_id: other }).0;
    assert_eq!(
        code(over),
        ErrorCode::LimitReached,
        "the late join counts: bob is in two teams"
    );
    round_trip(&mut one, &mut zero, Request::TeamLeave { team_id: team })
        .0
        .expect("bob leaves ann's team");
    let again = round_trip(&mut one, &mut zero, Request::TeamLeave { team_id: team }).0;
    assert_eq!(code(again), ErrorCode::NotFound, "no longer a member");
    round_trip(&mut one, &mut zero, Request::TeamJoin { team_id: other })
        .0
        .expect("room again after leaving");
    let little = one.call(Request::TeamWater {
        team_id: other,
        grams: 5,
    });
    assert_eq!(code(little), ErrorCode::BadRequest, "refused at home");
    let broke = one.call(Request::TeamWater {
        team_id: other,
        grams: 20,
    });
    assert_eq!(
        code(broke),
        ErrorCode::InsufficientEnergy,
        "refused at home"
    );
    let nowhere = round_trip(
        &mut one,
        &mut zero,
        Request::TeamLeave {
            team_id: TeamId(99),
        },
    )
    .0;
    assert_eq!(code(nowhere), ErrorCode::NotFound, "no team 99 on shard 0");
    let listed = zero
        .call(Request::Teams {})
        .expect("ann's teams, all at home");
    assert_eq!(listed["teams"][0]["members"], serde_json::json!([ann.0]));
    assert_eq!(
        listed["teams"][1]["members"],
        serde_json::json!([ann.0, bob.0])
    );
}

/// `teams` goes on without a shard that never answers, as the lists over friends do:
/// the teams that could be read, in `team_id` order, and the others named in
/// `unavailable`.
#[test]
fn the_teams_list_goes_on_without_a_shard_that_never_answers() {
    let (mut shards, [ann, ..]) = ann_bob_and_cy();
    let species = Config::default_embedded().catalog[0].id.clone();
    let [zero, one, two] = shards.as_mut_slice() else {
        unreachable!("three shards")
    };
    let home = create_team(zero, &species);
    let [bobs, cys] = [one, two].map(|far| {
        let team = create_team(far, &species);
        far.call(Request::TeamInvite {
            team_id: team,
            player_id: ann,
        })
        .expect("ann is invited");
        round_trip(zero, far, Request::TeamJoin { team_id: team })
            .0
            .expect("ann joins");
        team.0
    });
    let ids = |listed: &Value| -> Vec<u64> {
        listed["teams"]
            .as_array()
            .expect("teams")
            .iter()
            .filter_map(|team| team["team_id"].as_u64())
            .collect()
    };

    let (listed, asked) = list_view(&mut shards, Request::Teams {}, &[1]);
    assert_eq!(asked.len(), 2, "one ask per shard holding ann's teams");
    assert_eq!(ids(&listed), [home.0, bobs], "{listed}");
    assert_eq!(listed["unavailable"], serde_json::json!([cys]), "{listed}");

    let (alone, _) = list_view(&mut shards, Request::Teams {}, &[]);
    assert_eq!(ids(&alone), [home.0], "{alone}");
    assert_eq!(alone["unavailable"], serde_json::json!([bobs, cys]));

    let (whole, _) = list_view(&mut shards, Request::Teams {}, &[1, 2]);
    assert_eq!(ids(&whole), [home.0, bobs, cys], "{whole}");
    assert!(whole.get("unavailable").is_none(), "{whole}");
}

/// A member of another shard who leaves takes their membership record on their own
/// shard with them: joining and leaving twice leaves no team record there (in the store
/// either), and the member's team count is back to none.
#[test]
fn leaving_a_team_of_another_shard_leaves_no_record_behind() {
    let (mut zero, mut one, species) = team_shards(|config| config.teams.max_per_player = 1);
    let (ann, bob) = friends_across(&mut zero, &mut one);
    let team = create_team(&mut zero, &species);
    let stored_teams = |shard: &Shard| shard.store.load().expect("the store loads").teams;
    for _ in 0..2 {
        zero.call(Request::TeamInvite {
            team_id: team,
            player_id: bob,
        })
        .expect("bob is invited");
        round_trip(&mut one, &mut zero, Request::TeamJoin { team_id: team })
            .0
            .expect("bob joins");
        assert_eq!(
            stored_teams(&one).len(),
            1,
            "bob's shard keeps his membership"
        );
        assert_eq!(
            code(one.call(Request::TeamCreate {
                name: "own".into(),
                species: species.clone(),
            })),
            ErrorCode::LimitReached,
            "bob is in one team"
        );
        round_trip(&mut one, &mut zero, Request::TeamLeave { team_id: team })
            .0
            .expect("bob leaves");
        assert!(
            stored_teams(&one).is_empty(),
            "no record left on bob's shard"
        );
    }
    let listed = one.call(Request::Teams {}).expect("bob's teams");
    assert_eq!(listed["teams"], serde_json::json!([]), "{listed}");
    one.call(Request::TeamCreate {
        name: "own".into(),
        species,
    })
    .expect("bob is in no team: room for one");
    let home = stored_teams(&zero);
    assert_eq!(home.len(), 1, "the team itself stays on its shard");
    assert_eq!(home[0].members, [ann]);
}

/// A campaign's budget in cluster mode (`cluster::campaigns` hands out the allotments):
/// the shard that defines it holds none of it, pays bonuses only from what it was
/// allotted (a bonus larger than that is cut to it), stays active with nothing held
/// until told the ledger is dry, and another shard adopts the definition holding
/// nothing, follows its closing and gives back what it held. Each shard's audit
/// balances throughout.
#[test]
fn a_campaign_pays_only_what_its_shard_was_allotted() {
    use canopy_shared::CampaignId;
    use canopy_shared::campaign::{Bonus, CampaignList, CampaignStatus, CampaignView, NewCampaign};
    use canopy_shared::task::Audience;

    fn held(shard: &mut Shard, id: CampaignId) -> CampaignView {
        let list = shard.admin(AdminOp::CampaignList).expect("listed");
        let list: CampaignList = serde_json::from_value(list).expect("a campaign list");
        list.campaigns
            .into_iter()
            .find(|campaign| campaign.campaign_id == id)
            .expect("the campaign is held here")
    }
    let allot = |campaign, total, dry| AdminOp::CampaignAllot {
        campaign,
        total,
        dry,
    };

    let mut one = Shard::of(1, 3);
    let ann = one.register("ann");
    let new = NewCampaign {
        name: "Metro +20".into(),
        kind: "metro".into(),
        bonus: Bonus::Add(20),
        first_of_day: false,
        audience: Audience::All,
        starts_at: START,
        ends_at: START + HOUR,
        budget_grams: 100,
    };
    let defined = one
        .admin(AdminOp::CampaignCreate(Box::new(new)))
        .expect("defined");
    let defined: CampaignView = serde_json::from_value(defined).expect("a campaign");
    assert_eq!(
        defined.definition.budget_grams, 100,
        "published with its whole budget"
    );
    let id = defined.campaign_id;
    assert_eq!(id.0 % 3, 2, "shard 1 of 3 numbers 2, 5, 8, …: {id}");
    let local = held(&mut one, id);
    assert_eq!(
        (local.definition.budget_grams, local.remaining_grams),
        (0, 0)
    );

    one.partner_metro(ann, "m1");
    assert_eq!(
        held(&mut one, id).disbursed_grams,
        0,
        "nothing allotted yet"
    );
    assert_eq!(one.admin(allot(id, 30, false)), Ok(Value::from(30)));
    one.partner_metro(ann, "m2");
    one.partner_metro(ann, "m3");
    let local = held(&mut one, id);
    assert_eq!(
        (local.disbursed_grams, local.bonuses, local.remaining_grams),
        (30, 2, 0),
        "20 g, then the 10 g held"
    );
    assert_eq!(
        local.status,
        CampaignStatus::Active,
        "the ledger may hold more"
    );
    one.partner_metro(ann, "m4");
    assert_eq!(
        held(&mut one, id).disbursed_grams,
        30,
        "nothing held, nothing paid"
    );
    assert_eq!(
        one.admin(allot(id, 20, false)),
        Ok(Value::from(0)),
        "a stale total"
    );
    assert_eq!(one.admin(allot(id, 30, true)), Ok(Value::from(0)));
    let local = held(&mut one, id);
    assert_eq!(
        local.status,
        CampaignStatus::Exhausted,
        "held nothing, ledger dry"
    );
    let audit = one.audit();
    assert_eq!(
        (audit.campaign_budgets, audit.campaign_disbursed),
        (30, 30),
        "the shard's budget is what it was allotted"
    );

    let mut two = Shard::of(2, 3);
    let bob = two.register("bob");
    let adopted = two
        .admin(AdminOp::CampaignAdopt(Box::new(defined.clone())))
        .expect("adopted");
    assert_eq!(adopted["remaining_grams"], 0, "{adopted}");
    assert_eq!(two.admin(allot(id, 40, false)), Ok(Value::from(40)));
    let closed = CampaignView {
        status: CampaignStatus::Closed,
        ..defined
    };
    two.admin(AdminOp::CampaignAdopt(Box::new(closed)))
        .expect("adopted");
    two.partner_metro(bob, "m1");
    let local = held(&mut two, id);
    assert_eq!(local.status, CampaignStatus::Closed);
    assert_eq!(local.disbursed_grams, 0, "a closed campaign pays nothing");
    assert_eq!(
        two.admin(AdminOp::CampaignGiveBack(id)),
        Ok(Value::from(0)),
        "closed, it keeps what it paid: nothing"
    );
    assert_eq!(
        two.admin(allot(id, 60, false)),
        Ok(Value::from(0)),
        "closed holds no more"
    );
    let local = held(&mut two, id);
    assert_eq!(
        (local.definition.budget_grams, local.remaining_grams),
        (0, 0),
        "its 40 g went back"
    );
    assert_eq!(
        one.admin(AdminOp::CampaignGiveBack(id)),
        Ok(Value::Null),
        "exhausted, not closed: nothing to give back"
    );
    two.audit();
}

#[test]
fn a_team_over_three_shards_fills_up_and_plants_with_no_member_left_at_home() {
    let mut config = Config::default_embedded();
    config.teams.max_members = 2;
    config.catalog[0].grams = 80;
    let mut shards: Vec<Shard> = (0..3)
        .map(|index| Shard::with_config(index, 3, config.clone()))
        .collect();
    let [zero, one, two] = shards.as_mut_slice() else {
        unreachable!("three shards")
    };
    let ann = zero.register("ann");
    let bob = one.register("bob");
    let cy = two.register("cy");
    befriend(zero, ann, one, bob);
    befriend(one, bob, two, cy);
    let species = config.catalog[0].id.clone();
    let team = create_team(zero, &species);
    zero.call(Request::TeamInvite {
        team_id: team,
        player_id: bob,
    })
    .expect("invited");
    round_trip(one, zero, Request::TeamJoin { team_id: team })
        .0
        .expect("bob joins");
    let invite_cy = Request::TeamInvite {
        team_id: team,
        player_id: cy,
    };
    let full = round_trip(one, zero, invite_cy).0;
    assert_eq!(code(full), ErrorCode::LimitReached, "two members: full");
    round_trip(one, zero, Request::TeamLeave { team_id: team })
        .0
        .expect("bob leaves");
    let invite_cy = Request::TeamInvite {
        team_id: team,
        player_id: cy,
    };
    let refused = round_trip(one, zero, invite_cy.clone()).0;
    assert_eq!(code(refused), ErrorCode::Forbidden, "bob is no member now");
    round_trip(one, zero, Request::TeamJoin { team_id: team })
        .0
        .expect_err("bob's invitation was used");
    zero.call(Request::TeamInvite {
        team_id: team,
        player_id: bob,
    })
    .expect("invited again");
    round_trip(one, zero, Request::TeamJoin { team_id: team })
        .0
        .expect("bob is back");
    zero.call(Request::TeamLeave { team_id: team })
        .expect("ann leaves to make room");
    round_trip(one, zero, invite_cy)
        .0
        .expect("bob invites cy of shard 2 on ann's shard");
    round_trip(two, zero, Request::TeamJoin { team_id: team })
        .0
        .expect("cy joins on bob's invitation");
    let teams = teams_over_shard_zero(two, Some(zero));
    assert_eq!(
        teams["teams"][0]["members"],
        serde_json::json!([bob.0, cy.0]),
        "a team of shard 0 with no member there: {teams}"
    );

    one.fund(bob, "m-bob");
    two.fund(cy, "m-cy");
    let water = |grams| Request::TeamWater {
        team_id: team,
        grams,
    };
    round_trip(one, zero, water(40)).0.expect("bob waters");
    let id = two.submit(water(52));
    let asked = only(two.run().published);
    let mut decided = zero.deliver(Delivery::Message(asked)).published;
    decided.sort_by_key(|envelope| (envelope.to_shard, envelope.key.leg));
    let [to_bob, to_cy, outcome] = decided.as_slice() else {
        panic!("a certificate for each shard and cy's outcome: {decided:?}")
    };
    one.deliver(Delivery::Message(to_bob.clone()));
    two.deliver(Delivery::Message(to_cy.clone()));
    let mut answered = two.deliver(Delivery::Message(outcome.clone()));
    let watered = answered.replies.remove(&id).expect("answered");
    assert_eq!(watered.expect("watered")["energy"], 12);
    for shard in [&mut *one, &mut *two] {
        assert_eq!(certificates(shard).len(), 1, "certified on their own shard");
    }
    assert!(
        certificates(zero).is_empty(),
        "ann left before it was planted"
    );
    assert_eq!(
        zero.audit().planted,
        80,
        "planted once, on the team's shard"
    );
}

/// Shows shard 0's player the balls of `owner`, a friend of shard 1, through a
/// cross-shard `friend_balls` as a client asking for them sees them; returns the ones
/// the player could steal.
fn shown_balls(zero: &mut Shard, one: &mut Shard, owner: PlayerId) -> Vec<BallId> {
    let id = zero.submit(Request::FriendBalls { friend_id: owner });
    let asked = zero.run().asked;
    let [(query, 1, view)] = asked.as_slice() else {
        panic!("the owner's shard is asked: {asked:?}")
    };
    let answer = one.answer_view(view.clone());
    let mut shown = zero.deliver(Delivery::Answered {
        query: *query,
        answer,
    });
    let balls = shown
        .replies
        .remove(&id)
        .expect("answered")
        .expect("the friend's balls");
    balls["balls"]
        .as_array()
        .expect("balls")
        .iter()
        .filter(|ball| ball["stealable"].as_u64() > Some(0))
        .map(|ball| BallId(ball["ball_id"].as_u64().expect("an id")))
        .collect()
}

/// Shows shard 0's player the balls of `owner`, a friend of shard 1, the other way: the
/// player watches the owner's forest, and the owner's shard tells of a change, which
/// shard 0 reads and pushes; returns the pushed balls the player could steal.
fn pushed_balls(zero: &mut Shard, one: &mut Shard, owner: PlayerId) -> Vec<BallId> {
    let watch = zero.submit(Request::Watch {
        what: canopy_shared::model::WatchTarget::Forest,
        friend_id: Some(owner),
    });
    let watching = zero.run().replies.remove(&watch).expect("answered");
    watching.expect("a friend's forest may be watched");
    let heard = zero.deliver(Delivery::Changed {
        stealable: vec![owner],
        forests: vec![],
    });
    let [(query, 1, view)] = heard.asked.as_slice() else {
        panic!("the forest is read from its shard: {:?}", heard.asked)
    };
    let answer = one.answer_view(view.clone());
    let pushed = zero.deliver(Delivery::Answered {
        query: *query,
        answer,
    });
    let balls = pushed
        .events
        .iter()
        .find_map(|event| match event {
            Event::ForestChanged { balls, .. } => Some(balls),
            _ => None,
        })
        .expect("a forest_changed");
    balls
        .iter()
        .filter(|ball| ball.stealable > 0)
        .map(|ball| ball.ball_id)
        .collect()
}

fn steal_across(zero: &mut Shard, one: &mut Shard, owner: PlayerId, ball: BallId) {
    let (stolen, _) = round_trip(
        zero,
        one,
        Request::Steal {
            friend_id: owner,
            ball_id: ball,
        },
    );
    stolen.expect("stolen");
}

#[test]
fn a_sweeper_of_another_shards_friends_is_judged_over_every_ripe_ball_it_was_shown() {
    let tune = |risk: &mut RiskConfig| risk.steal_coverage.min_balls = 5;
    let (mut zero, mut one) = (Shard::with_risk(0, 2, tune), Shard::with_risk(1, 2, tune));
    let ann = zero.register("ann");
    let bob = one.register("bob");
    befriend(&mut zero, ann, &mut one, bob);
    let cy = one.register("cy");
    befriend(&mut zero, ann, &mut one, cy);
    for (at, kind) in ["metro", "bus"].iter().cycle().take(8).enumerate() {
        one.admin(AdminOp::PartnerAction(PartnerAction {
            player_id: bob,
            kind: (*kind).into(),
            quantity: None,
            reference: format!("bob-{at}"),
        }))
        .expect("credited");
    }
    one.partner_metro(cy, "cy-1");
    one.partner_metro(cy, "cy-2");
    for shard in [&mut zero, &mut one] {
        shard
            .admin(AdminOp::AdvanceClock(31 * HOUR))
            .expect("the clock moves");
    }
    let bobs = shown_balls(&mut zero, &mut one, bob);
    let cys = pushed_balls(&mut zero, &mut one, cy);
    assert_eq!((bobs.len(), cys.len()), (8, 2), "all ripe");

    for &ball in &bobs {
        steal_across(&mut zero, &mut one, bob, ball);
    }
    assert!(
        zero.flags().is_empty(),
        "8 of the 10 ripe balls ann was shown (bob's in `friend_balls`, cy's in a push to \
         her watch of cy's forest) is exactly 80 %, though she took every ball of every \
         friend she stole from: {:?}",
        zero.flags()
    );

    steal_across(&mut zero, &mut one, cy, cys[0]);
    let flags = zero.flags();
    assert_eq!(flags.len(), 1, "{flags:?}");
    let flag = &flags[0];
    assert_eq!(
        (flag.rule.as_str(), flag.player_id),
        ("steal_coverage", ann)
    );
    assert_eq!(
        (
            flag.evidence.numbers["taken"],
            flag.evidence.numbers["ripe_balls"]
        ),
        (9.0, 10.0),
        "over 80 %: {:?}",
        flag.evidence
    );
    assert!(one.flags().is_empty(), "the owners' shard judged nothing");
    zero.audit();
    one.audit();
}
