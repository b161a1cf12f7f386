//! Cluster mode inside the game: an op on a player of another shard. The acting
//! player's shard checks its side and writes a request into the transactional outbox
//! of its batch; the other player's shard decides (once, whatever JetStream delivers
//! twice: its inbox record is written in the same batch as the effect) and writes the
//! outcome into its own outbox; the acting shard applies the outcome (once) and only
//! then answers the client. Grams between shards go through [`Account::Transfer`].
//! Nothing here knows NATS: messages leave as [`Dispatch`]es after the batch is durable
//! and come in as [`Delivery`]s.

use super::components::{SocialLog, Wallet};
use super::energy::ripe_ball_of;
use super::friends::{self, VisitorFacts};
use super::rain;
use super::remote_gifts as gifts;
use super::remote_teams;
use super::remote_views::{self, ViewAnswer, ViewQuery};
use super::remote_watch;
use super::resources::{Counters, Outbox, Reply, SessionId, Sessions, StoreHandle};
use super::risk::{self, StealSeen};
use super::state::{config, credit_balance, fail, now, player_entity, record_flow};
use super::stealable::hits_allowed;
use super::transfers::{self, Thief};
use super::{rules, teams};
use crate::cluster::Partition;
use crate::store::outbox::{
    Envelope, Leg, Message, MessageKey, OutboxRecord, Reservation, SocialOp, Stolen, TransferId,
};
use crate::store::{Account, Flow};
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::admin::OpenTransfer;
use canopy_shared::reply::{Empty, GramsEnergyResult, HelpCollectResult, WaterResult};
use canopy_shared::risk::Decision;
use canopy_shared::{ErrorBody, ErrorCode, PlayerId, Request};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the cluster part hands the game.
#[derive(Clone, Debug)]
pub enum Delivery {
    /// A message from another shard, as JetStream delivered it (perhaps again).
    Message(Envelope),
    /// The receiver applied the message `key` sent from here: its record can go.
    Confirmed(MessageKey),
    /// An operation begun here saw no outcome in the configured time.
    TimedOut(TransferId),
    /// Another shard's answer to a view asked from here ([`Dispatch::Ask`]), or
    /// `SHARD_TIMEOUT` when it gave none in the configured time.
    Answered {
        /// The view, as numbered here.
        query: u64,
        /// The owner's shard's answer.
        answer: Result<ViewAnswer, ErrorBody>,
    },
    /// Players of another shard changed: what thieves could take from them
    /// (`stealable`), or only their forest (`forests`); for the sessions here that
    /// watch them.
    Changed {
        /// Owners whose stealable energy changed.
        stealable: Vec<PlayerId>,
        /// Owners whose forest alone changed.
        forests: Vec<PlayerId>,
    },
}

/// What the game hands the cluster part, once the batch that made it is durable.
#[derive(Clone, Debug, PartialEq)]
pub enum Dispatch {
    /// Publish a message of the outbox (new, or still unconfirmed at start).
    Publish(Envelope),
    /// Tell `to_shard` that its message `key` was applied here.
    Confirm {
        /// The shard that sent it.
        to_shard: u64,
        /// The message.
        key: MessageKey,
    },
    /// The receiver confirmed `key`: stop publishing it.
    Forget(MessageKey),
    /// Ask `to_shard` for a view of its players (a read: nothing to keep or confirm);
    /// the answer comes back as [`Delivery::Answered`].
    Ask {
        /// The view, as numbered here.
        query: u64,
        /// The shard that owns the players.
        to_shard: u64,
        /// What to read.
        view: ViewQuery,
    },
    /// Tell `to_shard`, which holds friends of these players, that they changed (for
    /// its sessions that watch them; nothing to keep or confirm).
    Changed {
        /// The shard.
        to_shard: u64,
        /// Owners whose stealable energy changed.
        stealable: Vec<PlayerId>,
        /// Owners whose forest alone changed.
        forests: Vec<PlayerId>,
    },
}

/// A client's reply that waits for another shard.
pub struct Parked {
    /// The client's session.
    pub session: SessionId,
    /// The request's id.
    pub request_id: u64,
    /// The request's op, for metrics.
    pub op: &'static str,
}

impl Parked {
    /// Sends the client `answer`: the result's JSON object, or the error.
    pub fn answer(self, world: &mut World, answer: Result<String, ErrorBody>) {
        let code = answer
            .as_ref()
            .map_or_else(|error| error.code.as_str(), |_| "ok");
        let text = match answer {
            Ok(fields) => canopy_shared::reply::encode_ok_fields(self.request_id, &fields),
            Err(error) => canopy_shared::reply::encode_err(Some(self.request_id), error),
        };
        let mut outbox = world.resource_mut::<Outbox>();
        outbox.results.push((self.op, code));
        outbox.replies.push(Reply::Session {
            session: self.session,
            text,
        });
    }
}

/// The shard's side of cross-shard operations.
#[derive(Resource, Default)]
pub struct RemoteOps {
    /// Messages sent and not yet confirmed, as the store holds them.
    open: HashMap<MessageKey, OutboxRecord>,
    /// Replies waiting for an outcome; lost with the process (the client then asks again).
    parked: HashMap<TransferId, Parked>,
    /// This batch's outbox writes.
    writes: Vec<(MessageKey, Option<OutboxRecord>)>,
    /// Messages applied in this batch, for the inbox.
    applied: HashSet<MessageKey>,
    /// What to tell the cluster part once the batch is durable.
    dispatch: Vec<Dispatch>,
}

impl RemoteOps {
    /// Adds an outbox record read from the store at start.
    pub fn load(&mut self, record: OutboxRecord) {
        self.open.insert(record.envelope.key, record);
    }

    /// Every message still unconfirmed, to publish again after a restart.
    pub fn unconfirmed(&self) -> Vec<Envelope> {
        let mut envelopes: Vec<Envelope> = self
            .open
            .values()
            .map(|record| record.envelope.clone())
            .collect();
        envelopes.sort_by_key(|envelope| envelope.key);
        envelopes
    }

    /// Messages carrying grams or props that the receiver has not confirmed, for the
    /// audit.
    pub fn open_transfers(&self) -> Vec<OpenTransfer> {
        let mut open: Vec<OpenTransfer> = self
            .open
            .values()
            .map(|record| OpenTransfer {
                message: record.envelope.key.to_string(),
                to_shard: record.envelope.to_shard,
                grams: record.envelope.grams,
                props: record.envelope.message.props(),
            })
            .filter(|open| open.grams > 0 || open.props > 0)
            .collect();
        open.sort_by(|a, b| a.message.cmp(&b.message));
        open
    }

    /// This batch's outbox writes and inbox records, for its commit.
    pub fn take_writes(&mut self) -> (Vec<(MessageKey, Option<OutboxRecord>)>, Vec<MessageKey>) {
        let mut inbox: Vec<MessageKey> = self.applied.drain().collect();
        inbox.sort();
        (std::mem::take(&mut self.writes), inbox)
    }

    /// Hands the cluster part `dispatch` once the batch is durable.
    pub fn dispatch(&mut self, dispatch: Dispatch) {
        self.dispatch.push(dispatch);
    }

    /// What to tell the cluster part now that the batch is durable.
    pub fn take_dispatch(&mut self) -> Vec<Dispatch> {
        std::mem::take(&mut self.dispatch)
    }

    /// How much of `player`'s allowance for `day` is held by the ops of a `kind` still
    /// being decided elsewhere (grams of the steal cap, revivals, rain chances).
    pub(super) fn reserved(&self, player: PlayerId, day: i64, kind: fn(&Message) -> bool) -> u64 {
        self.holding(player, kind)
            .filter(|held| held.day == day)
            .map(|held| held.amount)
            .sum()
    }

    /// The unreleased reservations of `player`'s ops of a `kind`, of any day (a team
    /// join holds one of the player's teams, which no new day gives back).
    pub(super) fn holding(
        &self,
        player: PlayerId,
        kind: fn(&Message) -> bool,
    ) -> impl Iterator<Item = Reservation> + '_ {
        self.open
            .values()
            .filter(move |record| kind(&record.envelope.message))
            .filter_map(|record| record.reservation)
            .filter(move |held| held.player == player && !held.released)
    }

    fn write(&mut self, key: MessageKey, record: Option<OutboxRecord>) {
        match &record {
            Some(record) => self.open.insert(key, record.clone()),
            None => self.open.remove(&key),
        };
        self.writes.push((key, record));
    }
}

/// How this shard partitions players (alone: one shard).
pub fn partition(world: &World) -> Partition {
    Partition::from_config(&config(world).cluster)
}

/// The other player of an op that may involve another shard.
fn other_player(request: &Request) -> Option<PlayerId> {
    match *request {
        Request::Steal { friend_id, .. }
        | Request::HelpCollect { friend_id, .. }
        | Request::Water { friend_id, .. }
        | Request::GiftProp { friend_id, .. }
        | Request::Revive { friend_id, .. }
        | Request::RainGift { friend_id } => Some(friend_id),
        Request::FriendRequest { player_id }
        | Request::FriendAccept { player_id }
        | Request::FriendDecline { player_id }
        | Request::Unfriend { player_id }
        | Request::Block { player_id }
        | Request::Unblock { player_id } => Some(player_id),
        _ => None,
    }
}

/// Whose shard decides an op that may involve another shard.
#[derive(Clone, Copy)]
enum Decider {
    /// The other player's.
    Player(PlayerId),
    /// The team's.
    Team(canopy_shared::TeamId),
}

fn decider(request: &Request) -> Option<Decider> {
    remote_teams::team_of(request)
        .map(Decider::Team)
        .or_else(|| other_player(request).map(Decider::Player))
}

/// Begins `request` when it involves a player or a team of another shard: `None` when
/// it does not (it runs as on one node), `Some(Ok)` when it waits for the other shard's
/// decision (answered then), `Some(Err)` when this shard refuses it at once.
pub fn begin(
    world: &mut World,
    session: SessionId,
    request_id: u64,
    request: &Request,
) -> Option<Result<(), ErrorBody>> {
    let partition = partition(world);
    if partition.shards == 1 {
        return None;
    }
    let player = world.resource::<Sessions>().player(session)?;
    let decider = decider(request)?;
    let to_shard = match decider {
        Decider::Player(other) => partition.owner(other),
        Decider::Team(team) => remote_teams::home(partition, team),
    };
    if to_shard == partition.shard {
        return None;
    }
    let transfer = take_transfer_id(world);
    let begun = match decider {
        Decider::Player(other) => begin_with(world, transfer, player, other, request),
        Decider::Team(team) => remote_teams::begin(world, transfer, player, team, request),
    };
    Some(begun.map(|begun| {
        send_request(world, transfer, to_shard, begun);
        world.resource_mut::<RemoteOps>().parked.insert(
            transfer,
            Parked {
                session,
                request_id,
                op: request.op_name(),
            },
        );
    }))
}

/// Numbers a new cross-shard operation of this shard.
pub(super) fn take_transfer_id(world: &mut World) -> TransferId {
    TransferId {
        shard: partition(world).shard,
        seq: Counters::take(&mut world.resource_mut::<Counters>().next_ledger),
    }
}

/// The acting player's side of an op on `other`, a player of another shard.
fn begin_with(
    world: &mut World,
    transfer: TransferId,
    player: PlayerId,
    other: PlayerId,
    request: &Request,
) -> Result<Begun, ErrorBody> {
    match *request {
        Request::Steal { ball_id, .. } => begin_steal(world, player, other, ball_id),
        Request::HelpCollect { ball_id, .. } => transfers::require_friends(world, player, other)
            .map(|()| {
                let message = Message::HelpCollect {
                    helper: player,
                    owner: other,
                    ball: ball_id,
                    helper_new: risk::is_new_or_empty_player(world, player),
                };
                (message, 0, None)
            }),
        Request::Water { grams, .. } => begin_water(world, transfer, player, other, grams),
        Request::GiftProp { prop, .. } => gifts::begin_prop(world, transfer, player, other, prop),
        Request::Revive { ball_id, .. } => gifts::begin_revive(world, player, other, ball_id),
        Request::RainGift { .. } => gifts::begin_rain(world, player, other),
        _ => social_op(request).map(|op| {
            let message = Message::Social {
                op,
                actor: player,
                target: other,
                actor_friends: friend_count(world, player),
                actor_name: friends::name_of(world, player),
            };
            (message, 0, None)
        }),
    }
}

/// Sends the request of operation `transfer` to `to_shard`, in this batch's outbox.
pub(super) fn send_request(
    world: &mut World,
    transfer: TransferId,
    to_shard: u64,
    (message, grams, reservation): Begun,
) {
    let from_shard = partition(world).shard;
    send(
        world,
        Envelope {
            key: MessageKey {
                transfer,
                leg: Leg::Request,
            },
            from_shard,
            to_shard,
            grams,
            message,
        },
        reservation,
    );
}

fn friend_count(world: &World, player: PlayerId) -> u32 {
    let count = world
        .resource::<crate::social::Social>()
        .graph
        .friend_count(player);
    u32::try_from(count).unwrap_or(u32::MAX)
}

fn social_op(request: &Request) -> Result<SocialOp, ErrorBody> {
    Ok(match request {
        Request::FriendRequest { .. } => SocialOp::Request,
        Request::FriendAccept { .. } => SocialOp::Accept,
        Request::FriendDecline { .. } => SocialOp::Decline,
        Request::Unfriend { .. } => SocialOp::Unfriend,
        Request::Block { .. } => SocialOp::Block,
        Request::Unblock { .. } => SocialOp::Unblock,
        _ => return fail(ErrorCode::Internal, "not an op between two players"),
    })
}

/// A message, the grams it carries and the allowance it reserves.
pub(super) type Begun = (Message, u64, Option<Reservation>);

/// The thief's side: the friendship, then the day's allowance, reserved until the
/// owner's shard decides (the owner's shard checks the ball first, as on one node).
fn begin_steal(
    world: &mut World,
    thief: PlayerId,
    owner: PlayerId,
    ball: canopy_shared::BallId,
) -> Result<Begun, ErrorBody> {
    let entity = transfers::roll_limits(world, thief)?;
    transfers::require_friends(world, thief, owner)?;
    let day = rules::game_day(now(world), config(world).day.utc_offset_minutes);
    let reserved = world
        .resource::<RemoteOps>()
        .reserved(thief, day, |message| {
            matches!(message, Message::Steal { .. })
        });
    let allowance = transfers::steal_allowance(world, entity).saturating_sub(reserved);
    let message = Message::Steal {
        thief,
        owner,
        ball,
        allowance,
        hits_allowed: hits_allowed(world, thief, now(world)),
        visible: transfers::visible_actor(world, thief).is_some(),
    };
    let reservation = Reservation {
        player: thief,
        day,
        amount: allowance,
        released: false,
    };
    Ok((message, 0, Some(reservation)))
}

/// The giver's side: every check of `water` is the giver's, so the grams leave now,
/// into the transfer; the friend's shard makes the ball.
fn begin_water(
    world: &mut World,
    transfer: TransferId,
    giver: PlayerId,
    friend: PlayerId,
    grams: u64,
) -> Result<Begun, ErrorBody> {
    let (entity, _verdict) = transfers::check_water(world, giver, friend, grams, false)?;
    let giver_new = risk::is_new_or_empty_player(world, giver);
    transfers::debit_water(world, entity, friend, grams)?;
    record_flow(
        world,
        Flow::Watered,
        grams,
        Account::Balance(giver),
        Account::Transfer(transfer),
    );
    Ok((
        Message::Water {
            giver,
            friend,
            grams,
            giver_new,
        },
        grams,
        None,
    ))
}

fn send(world: &mut World, envelope: Envelope, reservation: Option<Reservation>) {
    let mut remote = world.resource_mut::<RemoteOps>();
    remote.dispatch.push(Dispatch::Publish(envelope.clone()));
    remote.write(
        envelope.key,
        Some(OutboxRecord {
            envelope,
            reservation,
        }),
    );
}

/// Applies what the cluster part delivered; the answer goes back once durable.
pub fn deliver(world: &mut World, delivery: Delivery) -> Result<Empty, ErrorBody> {
    match delivery {
        Delivery::Message(envelope) => receive(world, envelope)?,
        Delivery::Confirmed(key) => {
            let mut remote = world.resource_mut::<RemoteOps>();
            if remote.open.contains_key(&key) {
                remote.write(key, None);
                remote.dispatch.push(Dispatch::Forget(key));
            }
        }
        Delivery::TimedOut(transfer) => time_out(world, transfer),
        Delivery::Answered { query, answer } => remote_views::answered(world, query, answer),
        Delivery::Changed { stealable, forests } => {
            remote_watch::changed(world, &stealable, &forests);
        }
    }
    Ok(Empty {})
}

/// Applies a message once: a duplicate changes nothing (an outcome is confirmed again,
/// in case the first confirmation was lost).
fn receive(world: &mut World, envelope: Envelope) -> Result<(), ErrorBody> {
    let key = envelope.key;
    let seen = world.resource::<RemoteOps>().applied.contains(&key)
        || world
            .resource::<StoreHandle>()
            .0
            .applied(key)
            .map_err(|err| ErrorBody::new(ErrorCode::Internal, err.to_string()))?;
    let confirm = Dispatch::Confirm {
        to_shard: envelope.from_shard,
        key,
    };
    if seen {
        if key.leg == Leg::Outcome {
            world.resource_mut::<RemoteOps>().dispatch.push(confirm);
        }
        return Ok(());
    }
    world.resource_mut::<RemoteOps>().applied.insert(key);
    match key.leg {
        Leg::Request => decide(world, envelope),
        Leg::Outcome => {
            let request = MessageKey {
                transfer: key.transfer,
                leg: Leg::Request,
            };
            let mut remote = world.resource_mut::<RemoteOps>();
            remote.dispatch.push(confirm);
            let Some(asked) = remote
                .open
                .get(&request)
                .map(|record| record.envelope.clone())
            else {
                tracing::error!(%key, "an outcome of an operation not begun here; ignored");
                return Ok(());
            };
            remote.write(request, None);
            remote.dispatch.push(Dispatch::Forget(request));
            conclude(world, key.transfer, &asked.message, envelope);
        }
    }
    Ok(())
}

/// On the other player's shard: decides a request and sends the outcome back.
fn decide(world: &mut World, request: Envelope) {
    let transfer = request.key.transfer;
    let (outcome, grams) = match request.message {
        Message::Social {
            op,
            actor,
            target,
            actor_friends,
            actor_name,
        } => {
            let visitor = VisitorFacts {
                id: actor,
                friends: actor_friends,
                name: actor_name,
            };
            let decided = friends::decide_for_visitor(world, op, visitor, target);
            (Message::SocialDecided(decided), 0)
        }
        Message::Steal {
            thief,
            owner,
            ball,
            allowance,
            hits_allowed,
            visible,
        } => {
            let thief = Thief {
                id: thief,
                allowance,
                hits_allowed,
                visible,
            };
            let stolen = transfers::require_friends(world, thief.id, owner)
                .and_then(|()| steal_for_remote_thief(world, transfer, &thief, owner, ball));
            match stolen {
                Ok(stolen) => (Message::StealDecided(Ok(stolen)), stolen.grams),
                Err(error) => (Message::StealDecided(Err(error)), 0),
            }
        }
        Message::HelpCollect {
            helper,
            owner,
            ball,
            helper_new,
        } => {
            let collected = transfers::require_friends(world, helper, owner).and_then(|()| {
                transfers::collect_for_owner(world, (helper, helper_new), owner, ball)
            });
            (
                Message::HelpDecided(collected.map(|result| result.grams)),
                0,
            )
        }
        Message::Water {
            giver,
            friend,
            grams,
            giver_new,
        } => match receive_water(world, transfer, (giver, giver_new), friend, grams) {
            Ok(ball) => (Message::WaterDecided(Ok(ball)), 0),
            Err(error) => (Message::WaterDecided(Err(error)), grams),
        },
        Message::PropGift {
            giver,
            friend,
            prop,
        } => (
            Message::PropGiftDecided(gifts::receive_prop(world, transfer, giver, friend, prop)),
            0,
        ),
        Message::Revive {
            reviver,
            owner,
            ball,
            may_revive,
        } => (
            Message::ReviveDecided(gifts::decide_revive(
                world, reviver, owner, ball, may_revive,
            )),
            0,
        ),
        Message::RainGift { giver, friend } => (
            Message::RainGiftDecided(rain::receive_chance(world, giver, friend)),
            0,
        ),
        Message::Team { team, player, op } => {
            remote_teams::decide(world, transfer, team, player, op)
        }
        Message::TeamCertify {
            name,
            species,
            members,
            ..
        } => {
            teams::certify(world, &name, &species, &members);
            (Message::TeamCertified, 0)
        }
        other => {
            tracing::error!(?other, "an outcome sent as a request; ignored");
            return;
        }
    };
    send(
        world,
        Envelope {
            key: MessageKey {
                transfer,
                leg: Leg::Outcome,
            },
            from_shard: request.to_shard,
            to_shard: request.from_shard,
            grams,
            message: outcome,
        },
        None,
    );
}

/// The owner's side of a steal by a thief of another shard: the steal as on one node,
/// into the transfer, with what the thief's shard judges it by. The rules do not run
/// here (`take_share` finds no thief on this shard and allows): the thief's windows
/// and flags live on the thief's shard, which judges when the outcome arrives.
fn steal_for_remote_thief(
    world: &mut World,
    transfer: TransferId,
    thief: &Thief,
    owner: PlayerId,
    ball: canopy_shared::BallId,
) -> Result<Stolen, ErrorBody> {
    let reaction_ms = ripe_ball_of(world, owner, ball, ErrorCode::NotFound)
        .map(|ball| risk::reaction_delay(world, &ball))
        .unwrap_or_default();
    let (grams, _) = transfers::take_share(world, thief, owner, ball, Account::Transfer(transfer))?;
    let taken = BTreeSet::from([ball]);
    let ripe_left = risk::ripe_balls_left(world, thief.id, thief.hits_allowed, owner, &taken);
    Ok(Stolen {
        grams,
        reaction_ms,
        ripe_left: u32::try_from(ripe_left).unwrap_or(u32::MAX),
    })
}

/// The friend's side of a watering from another shard: `water_funnel` judges it here,
/// with whether the giver's account is new or empty as the giver's shard said; the
/// ball (or the hold) is paid from the transfer. A `deny` sends the grams back.
fn receive_water(
    world: &mut World,
    transfer: TransferId,
    giver: (PlayerId, bool),
    friend: PlayerId,
    grams: u64,
) -> Result<canopy_shared::BallId, ErrorBody> {
    transfers::require_friends(world, giver.0, friend)?;
    player_entity(world, friend)?;
    let verdict = risk::judge_water(world, giver, friend);
    verdict.refuse_if_denied()?;
    transfers::land_water(
        world,
        giver,
        friend,
        grams,
        (Flow::Arrived, Account::Transfer(transfer)),
        &verdict,
    )
}

/// On the acting player's shard: applies the outcome and answers the waiting client.
fn conclude(world: &mut World, transfer: TransferId, asked: &Message, outcome: Envelope) {
    let carried = outcome.grams;
    let answer = match outcome.message {
        Message::SocialDecided(decided) => decided.map(|writes| {
            friends::apply_decided(world, &writes);
            encode(&Empty {})
        }),
        Message::StealDecided(taken) => match *asked {
            Message::Steal {
                thief, owner, ball, ..
            } => taken.and_then(|stolen| {
                credit_thief(world, transfer, (thief, owner, ball), stolen, carried)
            }),
            _ => fail(ErrorCode::Internal, "a steal's outcome for another op"),
        },
        Message::HelpDecided(collected) => {
            collected.map(|grams| encode(&HelpCollectResult { grams }))
        }
        Message::WaterDecided(made) => match *asked {
            Message::Water {
                giver,
                friend,
                grams,
                ..
            } => conclude_water(world, transfer, (giver, friend, grams), made),
            _ => fail(ErrorCode::Internal, "a watering's outcome for another op"),
        },
        Message::PropGiftDecided(given) => match *asked {
            Message::PropGift { giver, prop, .. } => {
                gifts::conclude_prop(world, transfer, giver, prop, given)
                    .map(|props| encode(&props))
            }
            _ => fail(ErrorCode::Internal, "a gift's outcome for another op"),
        },
        Message::ReviveDecided(revived) => match *asked {
            Message::Revive { reviver, .. } => revived
                .and_then(|made| gifts::conclude_revive(world, reviver, made))
                .map(|result| encode(&result)),
            _ => fail(ErrorCode::Internal, "a revival's outcome for another op"),
        },
        Message::RainGiftDecided(received) => match *asked {
            Message::RainGift { giver, .. } => received
                .and_then(|()| gifts::conclude_rain(world, giver))
                .map(|result| encode(&result)),
            _ => fail(
                ErrorCode::Internal,
                "a rain chance's outcome for another op",
            ),
        },
        Message::TeamDecided(decided) => {
            remote_teams::conclude(world, transfer, asked, decided, carried)
        }
        // Asked by this shard itself: no client waits.
        Message::TeamCertified => return,
        other => {
            tracing::error!(?other, "a request sent as an outcome; ignored");
            return;
        }
    };
    answer_parked(world, transfer, answer);
}

/// Credits a steal decided on the owner's shard, once `steal_reaction` and
/// `steal_coverage` judged it here: the `carried` grams go to the thief's balance, or
/// into the flag's hold on `hold`. A `deny` comes too late to leave the ball untouched
/// (the owner's shard took the grams), so the grams are held under its flag and the
/// thief hears `RISK_DENIED`. A late outcome (after the reservation was released) is
/// credited all the same.
fn credit_thief(
    world: &mut World,
    transfer: TransferId,
    (thief, owner, ball): (PlayerId, PlayerId, canopy_shared::BallId),
    stolen: Stolen,
    carried: u64,
) -> Result<String, ErrorBody> {
    let grams = stolen.grams;
    let entity = transfers::roll_limits(world, thief)?;
    world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog")
        .limits
        .stolen += grams;
    let seen = StealSeen {
        ball,
        owner,
        reaction_ms: stolen.reaction_ms,
        remote_ripe: Some(stolen.ripe_left as usize),
        allowance_left: transfers::steal_allowance(world, entity),
    };
    let verdict = risk::judge_steal(world, thief, &seen);
    let held = match verdict.decision {
        Decision::Hold | Decision::Deny => verdict.flag,
        Decision::Allow | Decision::Review => None,
    };
    let energy = match held {
        Some(flag) => {
            risk::flags::hold(
                world,
                flag,
                carried,
                Flow::Arrived,
                Account::Transfer(transfer),
            )?;
            verdict.refuse_if_denied()?;
            world
                .get::<Wallet>(entity)
                .expect("player has Wallet")
                .energy
        }
        None => {
            record_flow(
                world,
                Flow::Arrived,
                carried,
                Account::Transfer(transfer),
                Account::Balance(thief),
            );
            credit_balance(world, entity, carried, true)
        }
    };
    Ok(encode(&GramsEnergyResult { grams, energy }))
}

/// Answers a watering: the ball, or the refusal with the grams back to the giver.
fn conclude_water(
    world: &mut World,
    transfer: TransferId,
    (giver, friend, grams): (PlayerId, PlayerId, u64),
    made: Result<canopy_shared::BallId, ErrorBody>,
) -> Result<String, ErrorBody> {
    match made {
        Ok(ball_id) => {
            let entity = player_entity(world, giver)?;
            let energy = world
                .get::<Wallet>(entity)
                .expect("player has Wallet")
                .energy;
            Ok(encode(&WaterResult { energy, ball_id }))
        }
        Err(refusal) => {
            transfers::refund_water(world, giver, friend, grams, Account::Transfer(transfer))?;
            Err(refusal)
        }
    }
}

/// No outcome in time: the client hears `SHARD_TIMEOUT` and the op's reservation (a
/// steal's cap, a revival, a rain chance) is released; the outcome, when it comes, is
/// still applied.
fn time_out(world: &mut World, transfer: TransferId) {
    let request = MessageKey {
        transfer,
        leg: Leg::Request,
    };
    let mut remote = world.resource_mut::<RemoteOps>();
    if let Some(record) = remote.open.get(&request)
        && let Some(reservation) = record.reservation
        && !reservation.released
    {
        let mut record = record.clone();
        record.reservation = Some(Reservation {
            released: true,
            ..reservation
        });
        remote.write(request, Some(record));
    }
    answer_parked(
        world,
        transfer,
        fail(
            ErrorCode::ShardTimeout,
            "the other player's shard has not decided yet; the op stays queued and takes \
             effect when it does",
        ),
    );
}

/// A protocol result as the JSON object of a reply.
pub(super) fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("protocol results serialize to JSON")
}

/// Sends the waiting client its answer, if it still waits.
fn answer_parked(world: &mut World, transfer: TransferId, answer: Result<String, ErrorBody>) {
    let Some(parked) = world.resource_mut::<RemoteOps>().parked.remove(&transfer) else {
        return;
    };
    parked.answer(world, answer);
}
