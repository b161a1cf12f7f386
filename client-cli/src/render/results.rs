//! One op's result in words. The request says which result shape to expect.

use super::{View, plural};
use crate::connection::typed;
use crate::error::CliError;
use canopy_shared::model::{FeedEntry, FeedKind, TeamView, WatchTarget};
use canopy_shared::rain::{RainGiftResult, RainStartResult, RainStatusResult, RainTapResult};
use canopy_shared::reply::{
    BallsResult, BuyResult, CollectAllResult, FeedResult, FriendsResult, GramsEnergyResult,
    HelloResult, HelpCollectResult, HostLoginResult, LeaderboardResult, LoginResult,
    LogoutAllResult, MeResult, PingResult, PlantResult, PropsResult, RecordActionResult,
    RefreshResult, RegisterResult, ReviveResult, ShopResult, SpeciesResult, SuggestionsResult,
    TaskAcceptResult, TasksResult, TeamCreateResult, TeamWaterResult, TeamsResult, WaterResult,
};
use canopy_shared::task::PlayerTask;
use canopy_shared::{PlayerId, Request};
use serde_json::{Map, Value};

/// The human text for `request`'s successful result `fields`.
pub fn result(
    request: &Request,
    fields: Map<String, Value>,
    view: &View<'_>,
) -> Result<String, CliError> {
    Ok(match request {
        Request::Hello { .. } => {
            let hello: HelloResult = typed(fields)?;
            format!(
                "{}, protocol {}, {} ticks/s, game clock {}",
                hello.server,
                hello.version,
                hello.tick_rate_hz,
                view.date(hello.time)
            )
        }
        Request::Ping {} => {
            let ping: PingResult = typed(fields)?;
            format!("Game clock: {} ({})", view.date(ping.time), ping.time)
        }
        Request::Register { name } => {
            let registered: RegisterResult = typed(fields)?;
            format!("Registered {name} as player #{}.", registered.player_id)
        }
        Request::Login { .. } => {
            let login: LoginResult = typed(fields)?;
            format!("Logged in as {} (#{}).", login.name, login.player_id)
        }
        Request::HostLogin { .. } => {
            let login: HostLoginResult = typed(fields)?;
            let how = if login.created {
                "Created and logged in"
            } else {
                "Logged in"
            };
            format!("{how} as {} (#{}).", login.name, login.player_id)
        }
        Request::Refresh {} => {
            let refreshed: RefreshResult = typed(fields)?;
            format!(
                "New token {}, valid until {}; the old one no longer works.",
                refreshed.token,
                view.date(refreshed.expires_at)
            )
        }
        Request::Logout {} => "Logged out: the token no longer works.".to_owned(),
        Request::LogoutAll {} => {
            let ended: LogoutAllResult = typed(fields)?;
            format!(
                "Logged out everywhere: {} revoked.",
                plural(ended.revoked as usize, "token", "tokens")
            )
        }
        Request::Me {} => me(&typed(fields)?, view),
        Request::RecordAction { .. } => record_action(&typed(fields)?, view),
        Request::Collect { ball_id } => {
            let collected: GramsEnergyResult = typed(fields)?;
            format!(
                "Collected {} g from ball #{ball_id}. Energy: {} g.",
                collected.grams, collected.energy
            )
        }
        Request::CollectAll {} => {
            let collected: CollectAllResult = typed(fields)?;
            if collected.balls == 0 {
                format!("Nothing ripe to collect. Energy: {} g.", collected.energy)
            } else {
                format!(
                    "Collected {}, {} g. Energy: {} g.",
                    plural(collected.balls as usize, "ball", "balls"),
                    collected.grams,
                    collected.energy
                )
            }
        }
        Request::Steal { friend_id, ball_id } => {
            let stolen: GramsEnergyResult = typed(fields)?;
            format!(
                "Stole {} g from {}'s ball #{ball_id}. Energy: {} g.",
                stolen.grams,
                view.who(*friend_id),
                stolen.energy
            )
        }
        Request::HelpCollect { friend_id, ball_id } => {
            let helped: HelpCollectResult = typed(fields)?;
            format!(
                "Collected {} g of {}'s ball #{ball_id} for them.",
                helped.grams,
                view.who(*friend_id)
            )
        }
        Request::Water { friend_id, grams } => {
            let watered: WaterResult = typed(fields)?;
            format!(
                "Watered {} with {grams} g (their ball #{}). Energy: {} g.",
                view.who(*friend_id),
                watered.ball_id,
                watered.energy
            )
        }
        Request::Plant { .. } => {
            let planted: PlantResult = typed(fields)?;
            let certificate = &planted.certificate;
            format!(
                "Planted a {} in {}: certificate #{} for {} g. Energy: {} g.",
                certificate.species,
                certificate.region,
                certificate.id,
                certificate.grams,
                planted.energy
            )
        }
        Request::ProtectArea { .. } => {
            let protected: PlantResult = typed(fields)?;
            let certificate = &protected.certificate;
            format!(
                "Protected {} m² of {} in {}: certificate #{} for {} g. Energy: {} g.",
                certificate.square_metres.unwrap_or(0),
                certificate.species,
                certificate.region,
                certificate.id,
                certificate.grams,
                protected.energy
            )
        }
        Request::UseProp { prop } => {
            let props: PropsResult = typed(fields)?;
            format!(
                "Used {}. Props: {}.",
                prop.as_str(),
                view.props(&props.props)
            )
        }
        Request::Shop {} => {
            let shop: ShopResult = typed(fields)?;
            let mut lines = vec![format!(
                "Vitality: {}. Gifts left today: {}.",
                shop.vitality, shop.gifts_left
            )];
            lines.push(format!(
                "{:<20} {:<18} {:>6}  limits, left today",
                "item", "prop", "price"
            ));
            lines.extend(shop.items.iter().map(|item| {
                let limits = [
                    item.per_day.map(|n| format!("{n}/day")),
                    item.per_month.map(|n| format!("{n}/month")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>();
                format!(
                    "{:<20} {:<18} {:>6}  {}, {}",
                    item.item,
                    format!("{} ×{}", item.prop.as_str(), item.count),
                    item.price,
                    if limits.is_empty() {
                        "none".to_owned()
                    } else {
                        limits.join(" ")
                    },
                    item.left_today.map_or("any".to_owned(), |n| n.to_string())
                )
            }));
            lines.join("\n")
        }
        Request::Buy { .. } => {
            let bought: BuyResult = typed(fields)?;
            format!(
                "Bought {}. Vitality: {}. Props: {}.",
                bought.item,
                bought.vitality,
                view.props(&bought.props)
            )
        }
        Request::GiftProp { friend_id, prop } => {
            let props: PropsResult = typed(fields)?;
            format!(
                "Gave {} a {}. Props: {}.",
                view.who(*friend_id),
                prop.as_str(),
                view.props(&props.props)
            )
        }
        Request::Rain {} => {
            let rain: RainStatusResult = typed(fields)?;
            let round = match &rain.round {
                Some(round) => format!(
                    " Round #{} in flight until {}, {} caught.",
                    round.round_id,
                    view.date(round.ends_at),
                    round.caught.len()
                ),
                None => String::new(),
            };
            format!(
                "Energy rain: {} rounds left today, {} chances to give.{round}",
                rain.rounds_left, rain.gifts_left
            )
        }
        Request::RainStart {} => {
            let started: RainStartResult = typed(fields)?;
            format!(
                "Round #{} of {} balls ({} g in all) starts {}; {} rounds left after it.",
                started.round.round_id,
                started.round.balls.len(),
                started
                    .round
                    .balls
                    .iter()
                    .map(|ball| ball.grams)
                    .sum::<u64>(),
                view.date(started.round.starts_at),
                started.rounds_left
            )
        }
        Request::RainTap { .. } => {
            let tapped: RainTapResult = typed(fields)?;
            format!(
                "Caught ball {} ({} g); {} g this round.",
                tapped.ball, tapped.grams, tapped.caught_grams
            )
        }
        Request::RainGift { friend_id } => {
            let given: RainGiftResult = typed(fields)?;
            format!(
                "Gave {} an energy rain chance. Rounds left: {}; chances left: {}.",
                view.who(*friend_id),
                given.rounds_left,
                given.gifts_left
            )
        }
        Request::Species {} => {
            let catalog: SpeciesResult = typed(fields)?;
            let mut lines = vec![format!("{:<16} {:>9}  name, region", "species", "grams")];
            lines.extend(catalog.species.iter().map(|species| {
                format!(
                    "{:<16} {:>7} g  {} {} — {}",
                    species.id, species.grams, species.name, species.name_zh, species.region
                )
            }));
            if !catalog.areas.is_empty() {
                lines.push(format!(
                    "{:<16} {:>9}  name, region (`protect-area <area> <m²>`)",
                    "protected area", "g per m²"
                ));
                lines.extend(catalog.areas.iter().map(|area| {
                    format!(
                        "{:<16} {:>7} g  {} {} — {}, up to {} m² at a time",
                        area.id,
                        area.grams_per_m2,
                        area.name,
                        area.name_zh,
                        area.region,
                        area.max_square_metres
                    )
                }));
            }
            lines.join("\n")
        }
        Request::FriendRequest { player_id } => {
            format!("Friend request sent to {}.", view.who(*player_id))
        }
        Request::FriendAccept { player_id } => {
            format!("You and {} are now friends.", view.who(*player_id))
        }
        Request::FriendDecline { player_id } => {
            format!("Declined {}'s friend request.", view.who(*player_id))
        }
        Request::Unfriend { player_id } => {
            format!("You and {} are no longer friends.", view.who(*player_id))
        }
        Request::Block { player_id } => format!("Blocked {}.", view.who(*player_id)),
        Request::Unblock { player_id } => format!("Unblocked {}.", view.who(*player_id)),
        Request::Friends {} => friends(&typed(fields)?, view),
        Request::FriendBalls { friend_id } => {
            let balls: BallsResult = typed(fields)?;
            let mut lines = if balls.balls.is_empty() {
                vec![format!("{} has no balls right now.", view.who(*friend_id))]
            } else {
                let mut lines = vec![format!("{}'s balls:", view.who(*friend_id))];
                lines.extend(
                    balls
                        .balls
                        .iter()
                        .map(|ball| format!("  {}", view.ball_line(ball))),
                );
                lines
            };
            if !balls.revivable.is_empty() {
                lines.push(format!("Expired, revivable: `revive {friend_id} <ball>`"));
                lines.extend(balls.revivable.iter().map(|ball| {
                    format!(
                        "  #{} {} g, until {}",
                        ball.ball_id,
                        ball.grams,
                        view.when(ball.until)
                    )
                }));
            }
            lines.join("\n")
        }
        Request::Revive { friend_id, .. } => {
            let revived: ReviveResult = typed(fields)?;
            format!(
                "Revived {} g for {}: their ripe ball #{}. Vitality: {}.",
                revived.grams,
                view.who(*friend_id),
                revived.ball_id,
                revived.vitality
            )
        }
        Request::Suggestions { .. } => {
            let suggestions: SuggestionsResult = typed(fields)?;
            if suggestions.suggestions.is_empty() {
                "No suggestions: make a friend first.".to_owned()
            } else {
                let mut lines = vec!["People you may know:".to_owned()];
                lines.extend(suggestions.suggestions.iter().map(|suggestion| {
                    format!(
                        "  {}  {}",
                        view.who(suggestion.player_id),
                        plural(
                            suggestion.mutual as usize,
                            "mutual friend",
                            "mutual friends"
                        )
                    )
                }));
                lines.join("\n")
            }
        }
        Request::Leaderboard { .. } => {
            let board: LeaderboardResult = typed(fields)?;
            let mut lines: Vec<String> = board
                .entries
                .iter()
                .map(|entry| {
                    format!(
                        "{:>4}. {:<32} {:>8} g  {} tree{}, {} m² protected",
                        entry.rank,
                        view.who(entry.player_id),
                        entry.grams,
                        entry.trees,
                        if entry.trees == 1 { "" } else { "s" },
                        entry.protected_m2
                    )
                })
                .collect();
            if lines.is_empty() {
                lines.push("The board is empty.".to_owned());
            }
            lines.extend(unavailable_line(&players_named(&board.unavailable, view)));
            lines.join("\n")
        }
        Request::Feed { .. } => {
            let feed: FeedResult = typed(fields)?;
            if feed.entries.is_empty() {
                "Nothing in your feed yet.".to_owned()
            } else {
                let mut lines: Vec<String> = feed
                    .entries
                    .iter()
                    .map(|entry| format!("{}  {}", view.date(entry.time), feed_entry(entry, view)))
                    .collect();
                if let Some(next) = feed.next {
                    lines.push(format!("More: feed --before {next}"));
                }
                lines.join("\n")
            }
        }
        Request::TeamCreate { name, .. } => {
            let created: TeamCreateResult = typed(fields)?;
            format!("Created team {name} (#{}).", created.team_id)
        }
        Request::TeamInvite { team_id, player_id } => {
            format!("Invited {} to team #{team_id}.", view.who(*player_id))
        }
        Request::TeamJoin { team_id } => format!("Joined team #{team_id}."),
        Request::TeamLeave { team_id } => format!("Left team #{team_id}."),
        Request::TeamWater { grams, .. } => {
            let watered: TeamWaterResult = typed(fields)?;
            format!(
                "Gave {grams} g to the team tree. {}\nEnergy: {} g.",
                team_line(&watered.team, view),
                watered.energy
            )
        }
        Request::Watch { what, friend_id } => match (what, friend_id) {
            (WatchTarget::Forest, Some(friend)) => {
                format!("Watching {}'s forest.", view.who(*friend))
            }
            _ => "Watching your friends list.".to_owned(),
        },
        Request::Unwatch { what, .. } => match what {
            WatchTarget::Forest => "Stopped watching the forest.".to_owned(),
            WatchTarget::Friends => "Stopped watching your friends list.".to_owned(),
        },
        Request::Teams {} => {
            let teams: TeamsResult = typed(fields)?;
            if teams.teams.is_empty() && teams.unavailable.is_empty() {
                "You are in no team: `team-create NAME SPECIES`.".to_owned()
            } else {
                let unread = teams.unavailable.iter().map(|id| format!("team #{id}"));
                teams
                    .teams
                    .iter()
                    .map(|team| team_line(team, view))
                    .chain(unavailable_line(&unread.collect::<Vec<_>>()))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Request::Tasks {} => {
            let tasks: TasksResult = typed(fields)?;
            if tasks.tasks.is_empty() {
                "No tasks are open to you now.".to_owned()
            } else {
                tasks
                    .tasks
                    .iter()
                    .map(|task| task_line(task, view))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Request::TaskAccept { .. } => {
            let accepted: TaskAcceptResult = typed(fields)?;
            format!("Accepted: {}", task_line(&accepted.task, view))
        }
    })
}

/// One task in a line: its reward, window and the player's progress.
fn task_line(task: &PlayerTask, view: &View<'_>) -> String {
    format!(
        "Task #{} {}: {} each, {}/{} done, {}, until {}{}",
        task.task_id,
        task.title,
        match task.reward_prop {
            Some(reward) => format!("{} × {}", reward.count, reward.prop.as_str()),
            None => format!("{} g", task.reward_grams),
        },
        task.completions,
        task.per_player_limit,
        if task.accepted {
            "accepted"
        } else {
            "not accepted (`task-accept ID`)"
        },
        view.date(task.ends_at),
        if task.budget_left {
            ""
        } else {
            " — its budget is spent"
        }
    )
}

fn me(me: &MeResult, view: &View<'_>) -> String {
    let player = &me.player;
    let tree = serde_json::to_value(player.tree)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut lines = vec![
        format!("{} (#{}) · tree: {tree}", player.name, player.id),
        format!(
            "energy: {} g · collected in all: {} g",
            player.energy, player.total_collected
        ),
        format!("props: {}", view.props(&player.props)),
    ];
    if let Some(until) = player.protected_until {
        lines.push(format!("protected until {}", view.when(until)));
    }
    for hold in &player.holds {
        lines.push(format!(
            "held for review: {} g (flag #{}): {}",
            hold.grams, hold.flag_id, hold.reason
        ));
    }
    if !player.certificates.is_empty() {
        lines.push(format!(
            "trees planted: {} · protected areas: {} m²",
            player.trees, player.protected_m2
        ));
        lines.push(format!(
            "certificates: {}",
            player
                .certificates
                .iter()
                .map(|certificate| format!(
                    "#{} {}{} in {} ({} g{})",
                    certificate.id,
                    certificate
                        .square_metres
                        .map(|m2| format!("{m2} m² of "))
                        .unwrap_or_default(),
                    certificate.species,
                    certificate.region,
                    certificate.grams,
                    certificate
                        .team
                        .as_ref()
                        .map(|team| format!(", team {team}"))
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if me.balls.is_empty() {
        lines.push("balls: none".to_owned());
    } else {
        lines.push(format!("balls ({}):", me.balls.len()));
        lines.extend(
            me.balls
                .iter()
                .map(|ball| format!("  {}", view.ball_line(ball))),
        );
    }
    lines.join("\n")
}

/// The answer to `record_action` and to the partner channel.
pub fn record_action(action: &RecordActionResult, view: &View<'_>) -> String {
    match (&action.ball, action.grams) {
        (Some(ball), grams) if grams > 0 => format!(
            "+{grams} g in ball #{} ({}, {} g in all), {}.",
            ball.ball_id,
            ball.source,
            ball.amount,
            match view.now {
                Some(now) if ball.ripe_at <= now => "ripe now".to_owned(),
                _ => format!("ripens {}", view.when(ball.ripe_at)),
            }
        ),
        (Some(ball), _) => format!(
            "No energy credited (a cap, a repeated ref, or no more steps than before). \
             Ball #{} holds {} g.",
            ball.ball_id, ball.amount
        ),
        (None, _) => {
            "No energy credited (a cap, a repeated ref, or no more steps than before).".to_owned()
        }
    }
}

fn friends(result: &FriendsResult, view: &View<'_>) -> String {
    let mut lines = Vec::new();
    if result.friends.is_empty() {
        lines.push("No friends yet: `friend-request PLAYER`, or see `suggestions`.".to_owned());
    } else {
        lines.push(format!("friends ({}):", result.friends.len()));
        for friend in &result.friends {
            let mut line = format!(
                "  {:<28} energy {} g, collected {} g",
                view.who(friend.player_id),
                friend.energy,
                friend.total_collected
            );
            if friend.stealable_grams > 0 {
                line.push_str(&format!(", {} g to steal", friend.stealable_grams));
            }
            if let Some(until) = friend.protected_until {
                line.push_str(&format!(", protected until {}", view.when(until)));
            }
            lines.push(line);
        }
    }
    for (title, requests, hint) in [
        (
            "incoming requests",
            &result.incoming,
            " (friend-accept / friend-decline)",
        ),
        ("outgoing requests", &result.outgoing, ""),
    ] {
        if !requests.is_empty() {
            lines.push(format!("{title}{hint}:"));
            lines.extend(requests.iter().map(|request| {
                format!(
                    "  {} since {}",
                    view.who(request.player_id),
                    view.date(request.sent_at)
                )
            }));
        }
    }
    lines.extend(unavailable_line(&players_named(&result.unavailable, view)));
    lines.join("\n")
}

/// Cluster mode: the players or teams (by name) a list could not read because their
/// shard did not answer.
fn unavailable_line(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| {
        format!(
            "not shown, their server did not answer (try again): {}",
            names.join(", ")
        )
    })
}

fn players_named(players: &[PlayerId], view: &View<'_>) -> Vec<String> {
    players.iter().map(|player| view.who(*player)).collect()
}

fn feed_entry(entry: &FeedEntry, view: &View<'_>) -> String {
    let actor = view.who_or_someone(entry.actor);
    let target = view.who_or_someone(entry.target);
    let grams = entry.grams;
    match entry.kind {
        FeedKind::Stolen => format!("{actor} stole {grams} g from {target}"),
        FeedKind::Watered => format!("{actor} watered {target} with {grams} g"),
        FeedKind::Helped => format!("{actor} collected {grams} g for {target}"),
        FeedKind::ProtectedBlock => format!("{target}: a protection cover stopped {actor}"),
        FeedKind::Certificate => format!("{target} earned a certificate ({grams} g)"),
    }
}

fn team_line(team: &TeamView, view: &View<'_>) -> String {
    let percent = (team.progress.saturating_mul(100))
        .checked_div(team.grams)
        .unwrap_or(0);
    format!(
        "#{} {} — {} {}/{} g ({percent}%), members: {}",
        team.team_id,
        team.name,
        team.species,
        team.progress,
        team.grams,
        team.members
            .iter()
            .map(|member| view.who(*member))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Names;
    use crate::render::{bob_named, view_of_player_one};
    use canopy_shared::BallId;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    const START: u64 = 1_795_536_000_000;

    #[test]
    fn me_shows_balls_with_their_state() -> Result<(), CliError> {
        let names = Names::default();
        let view = View {
            names: &names,
            me: Some(PlayerId(1)),
            now: Some(START + 31 * 3_600_000),
            utc_offset: 480,
        };
        let ball = |id: u64, ripe_at: u64| {
            json!({"ball_id": id, "owner": 1, "source": "walk", "amount": 100,
                   "created_at": START, "ripe_at": ripe_at, "expires_at": ripe_at + 72 * 3_600_000,
                   "stolen": 0, "stealable": 0})
        };
        let text = result(
            &Request::Me {},
            fields(json!({
                "player": {"id": 1, "name": "alice", "energy": 5, "total_collected": 7,
                           "tree": "seed", "certificates": [],
                           "props": {"inventory": {"protection_cover": 0, "double_click": 2,
                                                   "time_accelerator": 0, "stealth": 0},
                                     "active": []},
                           "protected_until": null},
                "balls": [ball(5, START + 31 * 3_600_000), ball(6, START + 55 * 3_600_000)]
            })),
            &view,
        )?;
        assert!(text.contains("alice (#1) · tree: seed"), "{text}");
        assert!(text.contains("double_click ×2"), "{text}");
        assert!(
            text.contains("#5") && text.contains("ripe, expires"),
            "{text}"
        );
        assert!(
            text.contains("ripens 2026-11-27 07:00 (in 1d 0h)"),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn steal_names_the_friend() -> Result<(), CliError> {
        let names = bob_named();
        let view = view_of_player_one(&names);
        let text = result(
            &Request::Steal {
                friend_id: PlayerId(2),
                ball_id: BallId(5),
            },
            fields(json!({"grams": 12, "energy": 312})),
            &view,
        )?;
        assert_eq!(text, "Stole 12 g from bob (#2)'s ball #5. Energy: 312 g.");
        Ok(())
    }

    #[test]
    fn lists_name_the_friends_and_teams_whose_server_did_not_answer() -> Result<(), CliError> {
        let names = bob_named();
        let view = view_of_player_one(&names);
        let board = result(
            &Request::Leaderboard {
                period: canopy_shared::model::BoardPeriod::Total,
                limit: None,
            },
            fields(
                json!({"entries": [{"rank": 1, "player_id": 1, "name": "ann", "grams": 40,
                                       "trees": 0, "protected_m2": 0}],
                          "unavailable": [2, 3]}),
            ),
            &view,
        )?;
        assert!(board.contains("   1. you"), "{board}");
        assert!(
            board.ends_with(
                "not shown, their server did not answer (try again): bob (#2), player #3"
            ),
            "{board}"
        );
        let friends = result(
            &Request::Friends {},
            fields(json!({"friends": [], "incoming": [], "outgoing": [], "unavailable": [2]})),
            &view,
        )?;
        assert!(
            friends.ends_with("not shown, their server did not answer (try again): bob (#2)"),
            "{friends}"
        );
        let complete = result(
            &Request::Friends {},
            fields(json!({"friends": [], "incoming": [], "outgoing": []})),
            &view,
        )?;
        assert!(!complete.contains("not shown"), "{complete}");
        let teams = result(
            &Request::Teams {},
            fields(
                json!({"teams": [{"team_id": 3, "name": "grove", "species": "sacsaoul",
                                     "progress": 40, "grams": 80, "members": [1, 2]}],
                          "unavailable": [4, 6]}),
            ),
            &view,
        )?;
        assert!(teams.starts_with("#3 grove"), "{teams}");
        assert!(
            teams.ends_with("not shown, their server did not answer (try again): team #4, team #6"),
            "{teams}"
        );
        let none_read = result(
            &Request::Teams {},
            fields(json!({"teams": [], "unavailable": [4]})),
            &view,
        )?;
        assert!(!none_read.contains("in no team"), "{none_read}");
        assert!(none_read.ends_with("team #4"), "{none_read}");
        Ok(())
    }

    #[test]
    fn a_result_of_the_wrong_shape_is_an_error() {
        let names = Names::default();
        let view = View {
            names: &names,
            me: None,
            now: None,
            utc_offset: 480,
        };
        let outcome = result(
            &Request::CollectAll {},
            fields(json!({"grams": "x"})),
            &view,
        );
        assert!(outcome.is_err());
    }
}
