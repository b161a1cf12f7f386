//! Applying the tick's commands: authenticate, dispatch each op to its handler, and
//! queue the reply. Nothing here decides a rule; handlers call `rules`.

use super::GameClock;
use super::account;
use super::energy::{self, ActionReport};
use super::resources::{AdminOp, Command, Health, Inbox, Op, Origin, Outbox, Reply, Sessions};
use super::state::fail;
use super::{feed, friends, props, teams, transfers};
use crate::config::Reporter;
use bevy_ecs::world::World;
use canopy_shared::admin::ClockTime;
use canopy_shared::reply::{self, HelloResult, PingResult};
use canopy_shared::{ErrorBody, ErrorCode, PROTOCOL_VERSION, PlayerId, Request};
use serde::Serialize;

/// The server's name and version, as `hello` reports it.
pub const SERVER_NAME: &str = concat!("canopy-server/", env!("CARGO_PKG_VERSION"));

/// Applies every command in the inbox, in arrival order.
pub fn apply_commands(world: &mut World) {
    let commands = std::mem::take(&mut world.resource_mut::<Inbox>().0);
    for command in commands {
        apply(world, command);
    }
}

fn apply(world: &mut World, command: Command) {
    let Command {
        origin,
        request_id,
        op,
    } = command;
    world.resource_mut::<Outbox>().current_op = match &op {
        Op::Client(request) => request.op_name(),
        Op::Admin(AdminOp::PartnerAction(_)) => "admin_action",
        Op::Admin(AdminOp::GrantProps(_)) => "admin_props",
        Op::Admin(AdminOp::AdvanceClock(_)) => "admin_clock_advance",
    };
    if let Some(failure) = world.resource::<Health>().store_failure.clone() {
        let error = ErrorBody::new(
            ErrorCode::Internal,
            format!("the store failed ({failure}); no change can be made durable until a restart"),
        );
        return answer::<()>(world, origin, request_id, Err(error));
    }
    match op {
        Op::Client(request) => apply_client(world, origin, request_id, request),
        Op::Admin(op) => apply_admin(world, origin, request_id, op),
    }
}

fn answer<T: Serialize>(world: &mut World, origin: Origin, id: u64, result: Result<T, ErrorBody>) {
    let code = result
        .as_ref()
        .map_or_else(|error| error.code.as_str(), |_| "ok");
    let mut outbox = world.resource_mut::<Outbox>();
    let op = outbox.current_op;
    outbox.results.push((op, code));
    let reply = match origin {
        Origin::Session(session) => Reply::Session {
            session,
            text: match result {
                Ok(value) => reply::encode_ok(id, &value),
                Err(error) => reply::encode_err(Some(id), error),
            },
        },
        Origin::Admin(key) => Reply::Admin {
            key,
            result: result.map(|value| {
                serde_json::to_string(&value).expect("protocol results serialize to JSON")
            }),
        },
    };
    world.resource_mut::<Outbox>().replies.push(reply);
}

fn apply_client(world: &mut World, origin: Origin, id: u64, request: Request) {
    let Origin::Session(session) = origin else {
        return answer::<()>(
            world,
            origin,
            id,
            fail(ErrorCode::Forbidden, "player ops need a session"),
        );
    };
    let player = world
        .resource::<Sessions>()
        .players
        .get(&session)
        .copied()
        .flatten();
    if request.allowed_before_login() {
        return match request {
            Request::Register { name } => {
                let result = account::register(world, session, &name);
                answer(world, origin, id, result)
            }
            Request::Login { token } => {
                let result = account::login(world, session, &token);
                answer(world, origin, id, result)
            }
            Request::Hello { version } => {
                let result = hello(world, version);
                answer(world, origin, id, result)
            }
            Request::Ping {} => {
                let time = world.resource::<GameClock>().now();
                answer(world, origin, id, Ok(PingResult { time }))
            }
            _ => unreachable!("allowed_before_login covers exactly these ops"),
        };
    }
    let Some(player) = player else {
        let error = ErrorBody::new(ErrorCode::Unauthenticated, "log in or register first");
        return answer::<()>(world, origin, id, Err(error));
    };
    apply_player_op(world, origin, id, player, request);
}

/// Hello's answer, refusing other protocol versions.
pub fn hello(world: &World, version: u32) -> Result<HelloResult, ErrorBody> {
    if version != PROTOCOL_VERSION {
        return fail(
            ErrorCode::UnsupportedVersion,
            format!("this server speaks protocol version {PROTOCOL_VERSION}"),
        );
    }
    Ok(HelloResult {
        server: SERVER_NAME.to_owned(),
        version: PROTOCOL_VERSION,
        tick_rate_hz: world
            .resource::<super::resources::Settings>()
            .0
            .server
            .tick_rate_hz,
        time: world.resource::<GameClock>().now(),
    })
}

fn apply_player_op(world: &mut World, origin: Origin, id: u64, player: PlayerId, request: Request) {
    match request {
        Request::Me {} => {
            let result = energy::me(world, player);
            answer(world, origin, id, result)
        }
        Request::RecordAction {
            kind,
            quantity,
            reference,
        } => {
            let report = ActionReport {
                player,
                kind: &kind,
                quantity,
                reference: &reference,
                reporter: Reporter::Player,
            };
            let result = energy::record_action(world, &report);
            answer(world, origin, id, result)
        }
        Request::Collect { ball_id } => {
            let result = energy::collect(world, player, ball_id);
            answer(world, origin, id, result)
        }
        Request::CollectAll {} => {
            let result = energy::collect_all(world, player);
            answer(world, origin, id, result)
        }
        Request::Plant { species } => {
            let result = energy::plant(world, player, &species);
            answer(world, origin, id, result)
        }
        Request::UseProp { prop } => {
            let result = props::use_prop(world, player, prop);
            answer(world, origin, id, result)
        }
        Request::Species {} => {
            let result = energy::species(world);
            answer(world, origin, id, Ok(result))
        }
        Request::Steal { friend_id, ball_id } => {
            let result = transfers::steal(world, player, friend_id, ball_id);
            answer(world, origin, id, result)
        }
        Request::HelpCollect { friend_id, ball_id } => {
            let result = transfers::help_collect(world, player, friend_id, ball_id);
            answer(world, origin, id, result)
        }
        Request::Water { friend_id, grams } => {
            let result = transfers::water(world, player, friend_id, grams);
            answer(world, origin, id, result)
        }
        Request::FriendRequest { player_id } => {
            let result = friends::request(world, player, player_id);
            answer(world, origin, id, result)
        }
        Request::FriendAccept { player_id } => {
            let result = friends::accept(world, player, player_id);
            answer(world, origin, id, result)
        }
        Request::FriendDecline { player_id } => {
            let result = friends::decline(world, player, player_id);
            answer(world, origin, id, result)
        }
        Request::Unfriend { player_id } => {
            let result = friends::unfriend(world, player, player_id);
            answer(world, origin, id, result)
        }
        Request::Block { player_id } => {
            let result = friends::block(world, player, player_id);
            answer(world, origin, id, result)
        }
        Request::Unblock { player_id } => {
            let result = friends::unblock(world, player, player_id);
            answer(world, origin, id, result)
        }
        Request::Friends {} => {
            let result = friends::list(world, player);
            answer(world, origin, id, result)
        }
        Request::FriendBalls { friend_id } => {
            let result = friends::friend_balls(world, player, friend_id);
            answer(world, origin, id, result)
        }
        Request::Suggestions { limit } => {
            let result = friends::suggestions(world, player, limit);
            answer(world, origin, id, result)
        }
        Request::Leaderboard { period, limit } => {
            let result = friends::leaderboard(world, player, period, limit);
            answer(world, origin, id, result)
        }
        Request::Feed { limit, before } => {
            let result = feed::feed(world, player, limit, before);
            answer(world, origin, id, result)
        }
        Request::TeamCreate { name, species } => {
            let result = teams::create(world, player, &name, &species);
            answer(world, origin, id, result)
        }
        Request::TeamInvite { team_id, player_id } => {
            let result = teams::invite(world, player, team_id, player_id);
            answer(world, origin, id, result)
        }
        Request::TeamJoin { team_id } => {
            let result = teams::join(world, player, team_id);
            answer(world, origin, id, result)
        }
        Request::TeamLeave { team_id } => {
            let result = teams::leave(world, player, team_id);
            answer(world, origin, id, result)
        }
        Request::TeamWater { team_id, grams } => {
            let result = teams::water(world, player, team_id, grams);
            answer(world, origin, id, result)
        }
        Request::Teams {} => {
            let result = teams::list(world, player);
            answer(world, origin, id, result)
        }
        Request::Hello { .. }
        | Request::Register { .. }
        | Request::Login { .. }
        | Request::Ping {} => {
            unreachable!("ops allowed before login are answered in apply_client")
        }
    }
}

fn apply_admin(world: &mut World, origin: Origin, id: u64, op: AdminOp) {
    match op {
        AdminOp::PartnerAction(action) => {
            let report = ActionReport {
                player: action.player_id,
                kind: &action.kind,
                quantity: action.quantity,
                reference: &action.reference,
                reporter: Reporter::Partner,
            };
            let result = energy::record_action(world, &report);
            answer(world, origin, id, result)
        }
        AdminOp::GrantProps(grant) => {
            let result = props::grant_props(world, &grant);
            answer(world, origin, id, result)
        }
        AdminOp::AdvanceClock(ms) => {
            let result = match world.resource_mut::<GameClock>().advance(ms) {
                Some(time) => Ok(ClockTime { time }),
                None => fail(
                    ErrorCode::Conflict,
                    "the clock is not manual (start with --clock manual)",
                ),
            };
            answer(world, origin, id, result)
        }
    }
}
