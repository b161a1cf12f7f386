//! Applying the tick's commands: authenticate, dispatch each op to its handler, and
//! queue the reply. Nothing here decides a rule; handlers call `rules`.

use super::GameClock;
use super::energy::{self, ActionReport};
use super::resources::{
    AdminOp, Command, Health, Inbox, Op, Origin, Outbox, Reply, SessionId, Sessions, Settings,
};
use super::state::{self, fail};
use super::tasks::Publisher;
use super::{account, areas, audit, campaigns, host, remote, remote_views, risk, tokens};
use super::{feed, friends, partners, props, rain, revive, shop, tasks, teams, transfers};
use crate::config::Reporter;
use bevy_ecs::world::World;
use canopy_shared::admin::ClockTime;
use canopy_shared::reply::{self, HelloResult, LogoutAllResult, PingResult};
use canopy_shared::{ErrorBody, ErrorCode, PROTOCOL_VERSION, PlayerId, Request};
use serde::Serialize;

/// The server's name and version, as `hello` reports it.
pub const SERVER_NAME: &str = concat!("canopy-server/", env!("CARGO_PKG_VERSION"));

/// What a handler produced: its result as a JSON object, or the error.
type Outcome = Result<String, ErrorBody>;

/// Encodes a handler's typed result once, for either kind of caller.
fn encode<T: Serialize>(result: Result<T, ErrorBody>) -> Outcome {
    result.map(|value| serde_json::to_string(&value).expect("protocol results serialize to JSON"))
}

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
    let op_name = match &op {
        Op::Client(request) => request.op_name(),
        Op::HostLogin(_) => "host_login",
        Op::Admin(AdminOp::PartnerAction(_)) => "admin_action",
        Op::Admin(AdminOp::GrantProps(_)) => "admin_props",
        Op::Admin(AdminOp::AdvanceClock(_)) => "admin_clock_advance",
        Op::Admin(AdminOp::Audit) => "admin_audit",
        Op::Admin(AdminOp::RevokeTokens(_)) => "admin_revoke_tokens",
        Op::Admin(AdminOp::PartnerAdd(..)) => "admin_partner_add",
        Op::Admin(AdminOp::PartnerList) => "admin_partner_list",
        Op::Admin(AdminOp::PartnerRotateKey(..)) => "admin_partner_rotate_key",
        Op::Admin(AdminOp::PartnerSetStatus(..)) => "admin_partner_status",
        Op::Admin(AdminOp::PartnerCall(_)) => "partner_call",
        Op::Admin(AdminOp::RiskFlags(_)) => "admin_risk_flags",
        Op::Admin(AdminOp::RiskReview(..)) => "admin_risk_review",
        Op::Admin(AdminOp::RiskGraphFindings(_)) => "admin_risk_graph",
        Op::Admin(AdminOp::TaskCreate(_)) => "admin_task_create",
        Op::Admin(AdminOp::TaskSetStatus(..)) => "admin_task_status",
        Op::Admin(AdminOp::TaskComplete(..)) => "admin_task_complete",
        Op::Admin(AdminOp::TaskList) => "admin_task_list",
        Op::Admin(AdminOp::CampaignCreate(_)) => "admin_campaign_create",
        Op::Admin(AdminOp::CampaignClose(_)) => "admin_campaign_close",
        Op::Admin(AdminOp::CampaignList) => "admin_campaign_list",
        Op::Admin(AdminOp::TaskAdopt(_)) => "cluster_task_adopt",
        Op::Admin(AdminOp::TaskAllot { .. }) => "cluster_task_allot",
        Op::Admin(AdminOp::CampaignAdopt(_)) => "cluster_campaign_adopt",
        Op::Admin(AdminOp::CampaignAllot { .. }) => "cluster_campaign_allot",
        Op::Admin(AdminOp::CampaignConfigured) => "cluster_campaign_configured",
        Op::Admin(AdminOp::TaskGiveBack(_)) => "cluster_task_give_back",
        Op::Admin(AdminOp::CampaignGiveBack(_)) => "cluster_campaign_give_back",
        Op::Admin(AdminOp::PartnerAdopt(_)) => "cluster_partner_adopt",
        Op::Admin(AdminOp::PartnerRecord(_)) => "cluster_partner_record",
        Op::Remote(_) => "cluster_delivery",
        Op::View(_) => "cluster_view",
    };
    let outcome = if let Some(failure) = world.resource::<Health>().store_failure.clone() {
        fail(
            ErrorCode::Internal,
            format!("the store failed ({failure}); no change can be made durable until a restart"),
        )
    } else {
        match (origin, op) {
            (Origin::Session(session), Op::Client(request)) => {
                let begun = remote::begin(world, session, request_id, &request)
                    .or_else(|| remote_views::begin(world, session, request_id, &request));
                match begun {
                    // Answered when the other player's shard has decided.
                    Some(Ok(())) => return,
                    Some(Err(refusal)) => Err(refusal),
                    None => apply_client(world, session, request),
                }
            }
            (Origin::Session(session), Op::HostLogin(identity)) => {
                encode(host::host_login(world, session, &identity))
            }
            (Origin::Admin(_), Op::Admin(op)) => apply_admin(world, op),
            (Origin::Admin(_), Op::Remote(delivery)) => encode(remote::deliver(world, *delivery)),
            (Origin::Admin(_), Op::View(query)) => encode(remote_views::answer(world, &query)),
            _ => fail(
                ErrorCode::Forbidden,
                "player ops come from sessions, admin ops from the ops port",
            ),
        }
    };
    answer(world, origin, op_name, request_id, outcome);
}

fn answer(world: &mut World, origin: Origin, op: &'static str, id: u64, outcome: Outcome) {
    let code = outcome
        .as_ref()
        .map_or_else(|error| error.code.as_str(), |_| "ok");
    let reply = match origin {
        Origin::Session(session) => Reply::Session {
            session,
            text: match outcome {
                Ok(fields) => reply::encode_ok_fields(id, &fields),
                Err(error) => reply::encode_err(Some(id), error),
            },
        },
        Origin::Admin(key) => Reply::Admin {
            key,
            result: outcome,
        },
    };
    let mut outbox = world.resource_mut::<Outbox>();
    outbox.results.push((op, code));
    outbox.replies.push(reply);
}

fn apply_client(world: &mut World, session: SessionId, request: Request) -> Outcome {
    match request {
        Request::Register { name } => encode(account::register(world, session, &name)),
        Request::Login { token } => encode(account::login(world, session, &token)),
        Request::HostLogin { .. } => fail(
            ErrorCode::Unauthenticated,
            "a host_login's JWT is checked before it reaches the game",
        ),
        Request::Hello { version } => encode(hello(world, version)),
        Request::Ping {} => encode(Ok(PingResult {
            time: world.resource::<GameClock>().now(),
        })),
        request => match world.resource::<Sessions>().player(session) {
            Some(player) => apply_player_op(world, session, player, request),
            None => fail(ErrorCode::Unauthenticated, "log in or register first"),
        },
    }
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
        tick_rate_hz: world.resource::<Settings>().0.server.tick_rate_hz,
        time: world.resource::<GameClock>().now(),
    })
}

fn apply_player_op(
    world: &mut World,
    session: SessionId,
    player: PlayerId,
    request: Request,
) -> Outcome {
    match request {
        Request::Me {} => encode(energy::me(world, player)),
        Request::Refresh {} => encode(account::refresh(world, session, player)),
        Request::Logout {} => encode(account::logout(world, session)),
        Request::LogoutAll {} => encode(Ok(account::logout_all(world, session, player))),
        Request::RecordAction {
            kind,
            quantity,
            reference,
        } => {
            let report = ActionReport {
                player,
                kind: &kind,
                quantity,
                reference: Some(&reference),
                reporter: Reporter::Player,
            };
            encode(energy::record_action(world, &report))
        }
        Request::Collect { ball_id } => encode(energy::collect(world, player, ball_id)),
        Request::CollectAll {} => encode(energy::collect_all(world, player)),
        Request::Plant { species } => encode(energy::plant(world, player, &species)),
        Request::ProtectArea {
            area,
            square_metres,
        } => encode(areas::protect_area(world, player, &area, square_metres)),
        Request::UseProp { prop } => encode(props::use_prop(world, player, prop)),
        Request::Species {} => encode(Ok(energy::species(world))),
        Request::Steal { friend_id, ball_id } => {
            encode(transfers::steal(world, player, friend_id, ball_id))
        }
        Request::HelpCollect { friend_id, ball_id } => {
            encode(transfers::help_collect(world, player, friend_id, ball_id))
        }
        Request::Water { friend_id, grams } => {
            encode(transfers::water(world, player, friend_id, grams))
        }
        Request::FriendRequest { player_id } => encode(friends::request(world, player, player_id)),
        Request::FriendAccept { player_id } => encode(friends::accept(world, player, player_id)),
        Request::FriendDecline { player_id } => encode(friends::decline(world, player, player_id)),
        Request::Unfriend { player_id } => encode(friends::unfriend(world, player, player_id)),
        Request::Block { player_id } => encode(friends::block(world, player, player_id)),
        Request::Unblock { player_id } => encode(friends::unblock(world, player, player_id)),
        Request::Friends {} => encode(friends::list(world, player)),
        Request::FriendBalls { friend_id } => {
            encode(friends::friend_balls(world, player, friend_id))
        }
        Request::Suggestions { limit } => encode(friends::suggestions(world, player, limit)),
        Request::Leaderboard { period, limit } => {
            encode(friends::leaderboard(world, player, period, limit))
        }
        Request::Feed { limit, before } => encode(feed::feed(world, player, limit, before)),
        Request::TeamCreate { name, species } => {
            encode(teams::create(world, player, &name, &species))
        }
        Request::TeamInvite { team_id, player_id } => {
            encode(teams::invite(world, player, team_id, player_id))
        }
        Request::TeamJoin { team_id } => encode(teams::join(world, player, team_id)),
        Request::TeamLeave { team_id } => encode(teams::leave(world, player, team_id)),
        Request::TeamWater { team_id, grams } => {
            encode(teams::water(world, player, team_id, grams))
        }
        Request::Teams {} => encode(teams::list(world, player)),
        Request::Watch { what, friend_id } => {
            encode(friends::watch(world, session, player, what, friend_id))
        }
        Request::Unwatch { what, friend_id } => {
            encode(friends::unwatch(world, session, what, friend_id))
        }
        Request::Tasks {} => encode(tasks::player_tasks(world, player)),
        Request::TaskAccept { task_id } => encode(tasks::accept(world, player, task_id)),
        Request::Shop {} => encode(shop::shop(world, player)),
        Request::Buy { item } => encode(shop::buy(world, player, &item)),
        Request::GiftProp { friend_id, prop } => {
            encode(shop::gift_prop(world, player, friend_id, prop))
        }
        Request::Revive { friend_id, ball_id } => {
            encode(revive::revive(world, player, friend_id, ball_id))
        }
        Request::Rain {} => encode(rain::status(world, player)),
        Request::RainStart {} => encode(rain::start(world, player)),
        Request::RainTap { round_id, ball, at } => {
            encode(rain::tap(world, player, round_id, ball, at))
        }
        Request::RainGift { friend_id } => encode(rain::gift(world, player, friend_id)),
        Request::Hello { .. }
        | Request::Register { .. }
        | Request::Login { .. }
        | Request::HostLogin { .. }
        | Request::Ping {} => {
            unreachable!("apply_client answers the ops allowed before login")
        }
    }
}

fn apply_admin(world: &mut World, op: AdminOp) -> Outcome {
    match op {
        AdminOp::PartnerAction(action) => {
            let report = ActionReport {
                player: action.player_id,
                kind: &action.kind,
                quantity: action.quantity,
                reference: Some(&action.reference),
                reporter: Reporter::Partner,
            };
            encode(energy::record_action(world, &report))
        }
        AdminOp::GrantProps(grant) => encode(props::grant_props(world, &grant)),
        AdminOp::PartnerAdd(new, digest) => encode(partners::add(world, &new, digest)),
        AdminOp::PartnerList => encode(Ok(partners::list(world))),
        AdminOp::PartnerRotateKey(partner, digest) => {
            encode(partners::rotate_key(world, partner, digest))
        }
        AdminOp::PartnerSetStatus(partner, status) => {
            encode(partners::set_status(world, partner, status))
        }
        AdminOp::PartnerCall(call) => partners::apply_call(world, &call),
        AdminOp::TaskCreate(new) => encode(tasks::create(world, Publisher::Ops, &new)),
        AdminOp::TaskSetStatus(task, status) => {
            encode(tasks::set_status(world, Publisher::Ops, task, status))
        }
        AdminOp::TaskComplete(task, player) => {
            encode(tasks::complete(world, Publisher::Ops, task, player))
        }
        AdminOp::TaskList => encode(Ok(tasks::list(world))),
        AdminOp::CampaignCreate(new) => encode(campaigns::create(world, &new)),
        AdminOp::CampaignClose(id) => encode(campaigns::close(world, id)),
        AdminOp::CampaignList => encode(Ok(campaigns::list(world))),
        AdminOp::TaskAdopt(definition) => encode(Ok(tasks::adopt(world, &definition))),
        AdminOp::TaskAllot { task, total, dry } => encode(tasks::allot(world, task, total, dry)),
        AdminOp::CampaignAdopt(definition) => encode(Ok(campaigns::adopt(world, &definition))),
        AdminOp::CampaignAllot {
            campaign,
            total,
            dry,
        } => encode(campaigns::allot(world, campaign, total, dry)),
        AdminOp::CampaignConfigured => encode(Ok(campaigns::configured(world))),
        AdminOp::TaskGiveBack(task) => encode(tasks::give_back(world, task)),
        AdminOp::CampaignGiveBack(campaign) => encode(campaigns::give_back(world, campaign)),
        AdminOp::PartnerAdopt(record) => encode(partners::adopt(world, *record)),
        AdminOp::PartnerRecord(partner) => encode(partners::record(world, partner)),
        AdminOp::Audit => encode(audit::audit(world)),
        AdminOp::RevokeTokens(player) => encode(
            state::player_entity(world, player)
                .map(|_| tokens::revoke_all(world, player, None))
                .map(|revoked| LogoutAllResult { revoked }),
        ),
        AdminOp::RiskFlags(query) => encode(Ok(risk::flags::list(world, &query))),
        AdminOp::RiskReview(id, to) => encode(risk::flags::review(world, id, to)),
        AdminOp::RiskGraphFindings(findings) => {
            let flagged = risk::raise_graph_flags(world, findings);
            let at = state::now(world);
            encode(Ok(serde_json::json!({ "flagged": flagged, "at": at })))
        }
        AdminOp::AdvanceClock(ms) => encode(match world.resource_mut::<GameClock>().advance(ms) {
            Some(time) => Ok(ClockTime { time }),
            None => fail(
                ErrorCode::Conflict,
                "the clock is not manual (start with --clock manual)",
            ),
        }),
    }
}
