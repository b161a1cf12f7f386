//! Game commands: each command line becomes one protocol [`Request`], is sent, and its
//! result is printed — the same way for one-shot commands and `canopy play` lines.

use crate::cli::GameCommand;
use crate::connection::{Connection, Pushed, ReplyOutcome};
use crate::error::CliError;
use crate::names::Names;
use crate::profile::{Profile, ProfileStore};
use crate::render::{self, View};
use crate::shard_redirect::{self, GameLink};
use crate::time_text::local_date;
use canopy_shared::reply::{
    FriendsResult, HostLoginResult, LoginResult, PingResult, RefreshResult, RegisterResult,
};
use canopy_shared::{Millis, PlayerId, Request};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMode {
    /// Sentences and short tables.
    Human,
    /// The raw result object, one JSON line.
    Json,
}

/// Everything a game command needs besides the connection.
#[derive(Debug)]
pub struct Context {
    /// How to print results.
    pub output: OutputMode,
    /// The game day's UTC offset in minutes.
    pub utc_offset: i32,
    /// Where profiles live.
    pub profiles: ProfileStore,
    /// The profile in use.
    pub profile_name: String,
    /// The game socket URL (saved into the profile on register and login).
    pub server_url: String,
    /// The token to log in with (`--token`, `CANOPY_TOKEN`, or the profile's).
    pub token: Option<String>,
    /// Player names seen so far.
    pub names: Names,
    /// The logged-in player.
    pub player: Option<PlayerId>,
    /// The certificates trusted over TLS.
    pub trust: std::sync::Arc<crate::trust::Trust>,
}

impl Context {
    /// A rendering view at game time `now`.
    pub fn view(&self, now: Option<Millis>) -> View<'_> {
        View {
            names: &self.names,
            me: self.player,
            now,
            utc_offset: self.utc_offset,
        }
    }
}

/// Facts a request is built from besides the command line.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The game clock, needed for default walk refs.
    pub now: Option<Millis>,
    /// The game day's UTC offset in minutes.
    pub utc_offset: i32,
    /// The token for `login` when the command names none.
    pub login_token: Option<String>,
}

/// Whether the command needs a logged-in connection.
pub fn needs_login(command: &GameCommand) -> bool {
    !matches!(
        command,
        GameCommand::Hello
            | GameCommand::Ping
            | GameCommand::Register { .. }
            | GameCommand::Login { .. }
            | GameCommand::HostLogin { .. }
    )
}

/// Whether the command needs the game clock: to name a walk ref, or to show countdowns.
fn needs_clock(command: &GameCommand) -> bool {
    match command {
        GameCommand::Walk { reference, .. } => reference.is_none(),
        GameCommand::RecordAction {
            kind, reference, ..
        } => kind == "walk" && reference.is_none(),
        GameCommand::Me | GameCommand::FriendBalls { .. } => true,
        _ => false,
    }
}

/// The default idempotency key of a walk report: one per game day and step count, so
/// repeating the same report is harmless and a new count is a new report.
pub fn walk_ref(steps: u64, now: Millis, utc_offset: i32) -> String {
    format!("walk-{}-{steps}", local_date(now, utc_offset))
}

/// A fresh idempotency key for a one-off action report.
fn fresh_ref(kind: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let mut reference = format!("cli-{kind}-{nanos:x}-{:x}", std::process::id());
    reference.truncate(64);
    reference
}

/// The protocol request for a command.
pub fn request_for(command: &GameCommand, facts: &Facts) -> Result<Request, CliError> {
    let walk_ref_now = |steps: u64| {
        facts
            .now
            .map(|now| walk_ref(steps, now, facts.utc_offset))
            .ok_or_else(|| CliError::Usage("the game clock is needed to name a walk ref".into()))
    };
    Ok(match command.clone() {
        GameCommand::Hello => Request::Hello {
            version: canopy_shared::PROTOCOL_VERSION,
        },
        GameCommand::Ping => Request::Ping {},
        GameCommand::Register { name, .. } => Request::Register { name },
        GameCommand::Login { token } => Request::Login {
            token: token.or_else(|| facts.login_token.clone()).ok_or_else(|| {
                CliError::Usage(
                    "no token to log in with: `login TOKEN`, --token or CANOPY_TOKEN".into(),
                )
            })?,
        },
        GameCommand::HostLogin { jwt } => Request::HostLogin { jwt },
        GameCommand::Refresh => Request::Refresh {},
        GameCommand::Logout => Request::Logout {},
        GameCommand::LogoutAll => Request::LogoutAll {},
        GameCommand::Me => Request::Me {},
        GameCommand::Walk { steps, reference } => Request::RecordAction {
            kind: "walk".into(),
            quantity: Some(steps),
            reference: match reference {
                Some(reference) => reference,
                None => walk_ref_now(steps)?,
            },
        },
        GameCommand::RecordAction {
            kind,
            quantity,
            reference,
        } => {
            let reference = match (reference, kind.as_str(), quantity) {
                (Some(reference), _, _) => reference,
                (None, "walk", Some(steps)) => walk_ref_now(steps)?,
                (None, _, _) => fresh_ref(&kind),
            };
            Request::RecordAction {
                kind,
                quantity,
                reference,
            }
        }
        GameCommand::Collect { ball } => Request::Collect { ball_id: ball },
        GameCommand::CollectAll => Request::CollectAll {},
        GameCommand::Steal { friend, ball } => Request::Steal {
            friend_id: friend,
            ball_id: ball,
        },
        GameCommand::HelpCollect { friend, ball } => Request::HelpCollect {
            friend_id: friend,
            ball_id: ball,
        },
        GameCommand::Water { friend, grams } => Request::Water {
            friend_id: friend,
            grams,
        },
        GameCommand::Plant { species } => Request::Plant { species },
        GameCommand::ProtectArea {
            area,
            square_metres,
        } => Request::ProtectArea {
            area,
            square_metres,
        },
        GameCommand::UseProp { prop } => Request::UseProp { prop: prop.into() },
        GameCommand::Species => Request::Species {},
        GameCommand::Shop => Request::Shop {},
        GameCommand::Buy { item } => Request::Buy { item },
        GameCommand::GiftProp { friend, prop } => Request::GiftProp {
            friend_id: friend,
            prop: prop.into(),
        },
        GameCommand::Rain { .. } => Request::RainStart {},
        GameCommand::RainStatus => Request::Rain {},
        GameCommand::RainGift { friend } => Request::RainGift { friend_id: friend },
        GameCommand::Revive { friend, ball } => Request::Revive {
            friend_id: friend,
            ball_id: ball,
        },
        GameCommand::FriendRequest { player } => Request::FriendRequest { player_id: player },
        GameCommand::FriendAccept { player } => Request::FriendAccept { player_id: player },
        GameCommand::FriendDecline { player } => Request::FriendDecline { player_id: player },
        GameCommand::Unfriend { player } => Request::Unfriend { player_id: player },
        GameCommand::Block { player } => Request::Block { player_id: player },
        GameCommand::Unblock { player } => Request::Unblock { player_id: player },
        GameCommand::Friends => Request::Friends {},
        GameCommand::FriendBalls { friend } => Request::FriendBalls { friend_id: friend },
        GameCommand::Suggestions { limit } => Request::Suggestions { limit },
        GameCommand::Leaderboard { period, limit } => Request::Leaderboard {
            period: period.into(),
            limit,
        },
        GameCommand::Feed { limit, before } => Request::Feed { limit, before },
        GameCommand::TeamCreate { name, species } => Request::TeamCreate { name, species },
        GameCommand::TeamInvite { team, player } => Request::TeamInvite {
            team_id: team,
            player_id: player,
        },
        GameCommand::TeamJoin { team } => Request::TeamJoin { team_id: team },
        GameCommand::TeamLeave { team } => Request::TeamLeave { team_id: team },
        GameCommand::TeamWater { team, grams } => Request::TeamWater {
            team_id: team,
            grams,
        },
        GameCommand::Teams => Request::Teams {},
        GameCommand::Tasks => Request::Tasks {},
        GameCommand::TaskAccept { task } => Request::TaskAccept { task_id: task },
    })
}

/// The game clock, from `ping`.
pub async fn game_time(conn: &Connection) -> Result<Millis, CliError> {
    let ping: PingResult = conn.call_as(&Request::Ping {}).await?;
    Ok(ping.time)
}

/// Logs the connection in with the context's token. A cluster shard that does not hold
/// the player answers `WRONG_SHARD` with the URL of the one that does: the connection is
/// then replaced by one to that shard ([`shard_redirect::log_in`]), and `ctx.server_url`
/// names it from then on.
pub async fn login(
    conn: &mut Connection,
    events: &mut mpsc::UnboundedReceiver<Pushed>,
    ctx: &mut Context,
) -> Result<LoginResult, CliError> {
    let token = ctx.token.clone().ok_or_else(|| no_player(ctx))?;
    let mut link = CliLink {
        conn,
        events,
        trust: &ctx.trust,
    };
    let logged = shard_redirect::log_in(&mut link, &token).await?;
    if let Some(url) = logged.moved_to {
        ctx.server_url = url;
    }
    let login: LoginResult = crate::connection::typed(logged.outcome?)?;
    ctx.player = Some(login.player_id);
    ctx.names.learn(login.player_id, &login.name);
    Ok(login)
}

/// The CLI's connection and its events, moved together to another shard.
struct CliLink<'a> {
    conn: &'a mut Connection,
    events: &'a mut mpsc::UnboundedReceiver<Pushed>,
    trust: &'a crate::trust::Trust,
}

impl GameLink for CliLink<'_> {
    type Error = CliError;

    async fn call_once(&mut self, request: &Request) -> Result<ReplyOutcome, CliError> {
        self.conn.call(request).await
    }

    async fn move_to(&mut self, url: &str) -> Result<(), CliError> {
        let (home, home_events) = Connection::connect(url, self.trust).await?;
        std::mem::replace(self.conn, home).close().await;
        *self.events = home_events;
        Ok(())
    }
}

/// The usage error for a command that needs a player when there is no token.
pub fn no_player(ctx: &Context) -> CliError {
    let place = ctx
        .profiles
        .path(&ctx.profile_name)
        .map(|path| format!(" ({})", path.display()))
        .unwrap_or_default();
    CliError::Usage(format!(
        "no player: profile `{}`{place} holds no token. Run `canopy register NAME` first, \
         or pass --token / CANOPY_TOKEN",
        ctx.profile_name
    ))
}

/// Whether the command's human output names other players, so knowing their names
/// first reads better ("bob (#2)" instead of "player #2").
pub fn mentions_players(command: &GameCommand) -> bool {
    matches!(
        command,
        GameCommand::Steal { .. }
            | GameCommand::HelpCollect { .. }
            | GameCommand::Water { .. }
            | GameCommand::FriendAccept { .. }
            | GameCommand::FriendDecline { .. }
            | GameCommand::Unfriend { .. }
            | GameCommand::FriendBalls { .. }
            | GameCommand::Feed { .. }
            | GameCommand::TeamInvite { .. }
            | GameCommand::TeamWater { .. }
            | GameCommand::Teams
    )
}

/// Learns the names of friends and pending requests from `friends`, and returns the
/// list; quietly `None` on failure (a server may not implement `friends`).
pub async fn learn_friends(conn: &Connection, ctx: &mut Context) -> Option<FriendsResult> {
    ctx.player?;
    let fields = conn.call(&Request::Friends {}).await.ok()?.ok()?;
    let friends: FriendsResult = crate::connection::typed(fields).ok()?;
    for friend in &friends.friends {
        ctx.names.learn(friend.player_id, &friend.name);
    }
    for request in friends.incoming.iter().chain(&friends.outgoing) {
        ctx.names.learn(request.player_id, &request.name);
    }
    Some(friends)
}

/// Sends the command's request and returns what to print.
pub async fn execute(
    conn: &Connection,
    ctx: &mut Context,
    command: &GameCommand,
) -> Result<String, CliError> {
    if let GameCommand::Register { force: false, .. } = command
        && let Some(existing) = ctx.profiles.load(&ctx.profile_name)?
    {
        return Err(CliError::Usage(format!(
            "profile `{}` already holds {} (#{}): use --profile NAME for another player, \
             or --force to replace it (its token is then lost)",
            ctx.profile_name, existing.name, existing.player_id
        )));
    }
    if let GameCommand::Rain { auto } = command {
        return crate::rain::play(conn, ctx, *auto).await;
    }
    let now = if needs_clock(command) {
        Some(game_time(conn).await?)
    } else {
        None
    };
    let facts = Facts {
        now,
        utc_offset: ctx.utc_offset,
        login_token: ctx.token.clone(),
    };
    let request = request_for(command, &facts)?;
    let fields = conn.call_ok(&request).await?;
    let saved = remember(ctx, &request, &fields)?;
    let text = match ctx.output {
        OutputMode::Json => Value::Object(fields).to_string(),
        OutputMode::Human => {
            let mut text = render::result(&request, fields, &ctx.view(now))?;
            if let Some(saved) = saved {
                text.push_str(&format!(" {saved}"));
            }
            text
        }
    };
    Ok(text)
}

/// Learns names from a result, and saves the profile after `register`, `login` and
/// `refresh`.
/// Returns a note saying where the profile went.
fn remember(
    ctx: &mut Context,
    request: &Request,
    fields: &Map<String, Value>,
) -> Result<Option<String>, CliError> {
    ctx.names.learn_from(&Value::Object(fields.clone()));
    let (player_id, name, token) = match request {
        Request::Register { name } => {
            let registered: RegisterResult =
                crate::connection::typed(fields.clone()).map_err(|err| {
                    CliError::Local(format!("registered, but the answer was unreadable: {err}"))
                })?;
            (registered.player_id, name.clone(), registered.token)
        }
        Request::Login { token } => {
            let login: LoginResult = crate::connection::typed(fields.clone())?;
            (login.player_id, login.name, token.clone())
        }
        Request::HostLogin { .. } => {
            let login: HostLoginResult = crate::connection::typed(fields.clone())?;
            (login.player_id, login.name, login.token)
        }
        Request::Refresh {} => {
            let refreshed: RefreshResult = crate::connection::typed(fields.clone())?;
            let Some(saved) = ctx.profiles.load(&ctx.profile_name)? else {
                ctx.token = Some(refreshed.token);
                return Ok(None);
            };
            (saved.player_id, saved.name, refreshed.token)
        }
        _ => return Ok(None),
    };
    ctx.player = Some(player_id);
    ctx.names.learn(player_id, &name);
    ctx.token = Some(token.clone());
    let profile = Profile {
        player_id,
        name,
        token,
        server: ctx.server_url.clone(),
    };
    match ctx.profiles.save(&ctx.profile_name, &profile) {
        Ok(path) => Ok(Some(format!(
            "Saved to profile `{}` ({}).",
            ctx.profile_name,
            path.display()
        ))),
        Err(err) => Err(CliError::Local(format!(
            "{err}. You are player #{} and your token is {} — keep it, it is shown only once \
             (`canopy login TOKEN` saves it later)",
            profile.player_id, profile.token
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{PeriodArg, PropArg};
    use canopy_shared::model::{BoardPeriod, PropKind};
    use canopy_shared::{BallId, TeamId};

    const START: u64 = 1_795_536_000_000;

    fn facts() -> Facts {
        Facts {
            now: Some(START),
            utc_offset: 480,
            login_token: Some("tok".into()),
        }
    }

    #[test]
    fn walk_gets_a_ref_from_the_game_day_and_the_steps() -> Result<(), CliError> {
        let request = request_for(
            &GameCommand::Walk {
                steps: 5000,
                reference: None,
            },
            &facts(),
        )?;
        assert_eq!(
            request,
            Request::RecordAction {
                kind: "walk".into(),
                quantity: Some(5000),
                reference: "walk-2026-11-25-5000".into()
            }
        );
        let request = request_for(
            &GameCommand::Walk {
                steps: 5000,
                reference: Some("mine".into()),
            },
            &Facts::default(),
        )?;
        assert!(matches!(request, Request::RecordAction { reference, .. } if reference == "mine"));
        Ok(())
    }

    #[test]
    fn other_actions_get_fresh_refs() -> Result<(), CliError> {
        let command = GameCommand::RecordAction {
            kind: "metro".into(),
            quantity: None,
            reference: None,
        };
        let Request::RecordAction { reference, .. } = request_for(&command, &facts())? else {
            panic!("record_action expected");
        };
        assert!(reference.starts_with("cli-metro-") && reference.len() <= 64);
        Ok(())
    }

    #[test]
    fn commands_map_to_their_ops() -> Result<(), CliError> {
        let cases = [
            (
                GameCommand::Collect { ball: BallId(5) },
                r#"{"id":1,"op":"collect","ball_id":5}"#,
            ),
            (
                GameCommand::Steal {
                    friend: PlayerId(2),
                    ball: BallId(5),
                },
                r#"{"id":1,"op":"steal","friend_id":2,"ball_id":5}"#,
            ),
            (
                GameCommand::Water {
                    friend: PlayerId(2),
                    grams: 18,
                },
                r#"{"id":1,"op":"water","friend_id":2,"grams":18}"#,
            ),
            (
                GameCommand::UseProp {
                    prop: PropArg::TimeAccelerator,
                },
                r#"{"id":1,"op":"use_prop","prop":"time_accelerator"}"#,
            ),
            (
                GameCommand::FriendAccept {
                    player: PlayerId(3),
                },
                r#"{"id":1,"op":"friend_accept","player_id":3}"#,
            ),
            (
                GameCommand::TeamInvite {
                    team: TeamId(4),
                    player: PlayerId(3),
                },
                r#"{"id":1,"op":"team_invite","team_id":4,"player_id":3}"#,
            ),
            (
                GameCommand::Login { token: None },
                r#"{"id":1,"op":"login","token":"tok"}"#,
            ),
        ];
        for (command, wire) in cases {
            let request = request_for(&command, &facts())?;
            assert_eq!(
                canopy_shared::frame::encode_request(1, &request),
                wire,
                "{command:?}"
            );
        }
        assert_eq!(
            request_for(
                &GameCommand::Leaderboard {
                    period: PeriodArg::Week,
                    limit: Some(10)
                },
                &facts()
            )?,
            Request::Leaderboard {
                period: BoardPeriod::Week,
                limit: Some(10)
            }
        );
        assert_eq!(
            request_for(
                &GameCommand::UseProp {
                    prop: PropArg::Stealth
                },
                &facts()
            )?,
            Request::UseProp {
                prop: PropKind::Stealth
            }
        );
        Ok(())
    }

    #[test]
    fn login_without_any_token_is_a_usage_error() {
        let outcome = request_for(&GameCommand::Login { token: None }, &Facts::default());
        assert!(matches!(outcome, Err(CliError::Usage(_))));
    }
}
