//! Pushed events as sentences, the way `canopy play` prints them.

use super::View;
use crate::connection::Pushed;
use canopy_shared::{Event, PlayerId};

/// One pushed frame in words.
pub fn pushed(pushed: &Pushed, view: &View<'_>) -> String {
    match pushed {
        Pushed::Event(event) => describe(event, view),
        Pushed::UnknownEvent(value) => format!("* event this client does not know: {value}"),
        Pushed::StrayError(error) => format!("* the server could not read a frame: {error}"),
    }
}

fn describe(event: &Event, view: &View<'_>) -> String {
    let text = match event {
        Event::TaskCompleted {
            task_id,
            grams,
            ball_id,
            prop,
        } => match (prop, ball_id) {
            (Some(prop), _) => format!(
                "Task #{task_id} completed: {} × {} added to your props.",
                prop.count,
                prop.prop.as_str()
            ),
            (None, Some(ball_id)) => {
                format!("Task #{task_id} completed: {grams} g in ball #{ball_id}.")
            }
            (None, None) => format!("Task #{task_id} completed: {grams} g."),
        },
        Event::BallNew { ball } => format!(
            "New ball #{}: {} g from {}, ripens {}.",
            ball.ball_id,
            ball.amount,
            ball.source,
            view.date(ball.ripe_at)
        ),
        Event::BallRipe { balls } => format!(
            "Ripe now: {} — `collect BALL` or `collect-all`.",
            balls
                .iter()
                .map(|ball| format!("ball #{} ({} g)", ball.ball_id, ball.amount))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::BallGone { ball_id, .. } => {
            format!("Ball #{ball_id} expired before anyone picked it.")
        }
        Event::EnergyStolen { by, ball_id, grams } => format!(
            "{} stole {grams} g from your ball #{ball_id}.",
            subject(view, *by)
        ),
        Event::Watered { by, grams, energy } => format!(
            "{} watered you with {grams} g (a ripe ball). Energy: {energy} g.",
            subject(view, Some(*by))
        ),
        Event::FriendRequest { from, name } => format!(
            "{name} (#{from}) wants to be friends: `friend-accept {from}` or `friend-decline {from}`."
        ),
        Event::FriendAdded { player_id } => {
            format!("You and {} are now friends.", view.who(*player_id))
        }
        Event::FriendRemoved { player_id } => {
            format!("You and {} are no longer friends.", view.who(*player_id))
        }
        Event::FriendStealable { friend_id, grams } => {
            if *grams == 0 {
                format!("Nothing left to steal from {}.", view.who(*friend_id))
            } else {
                format!(
                    "You could steal {grams} g from {} now: `friend-balls {}`.",
                    view.who(*friend_id),
                    friend_id
                )
            }
        }
        Event::RainEnded {
            round_id,
            caught,
            grams,
            energy,
            vitality,
        } => format!(
            "Energy rain round #{round_id} over: {caught} balls caught, {grams} g credited \
             (balance {energy} g), +{vitality} vitality."
        ),
        Event::RainChance { from } => format!(
            "{} gave you one more energy rain round today: `rain`.",
            view.who(*from)
        ),
        Event::PropGift { from, prop } => format!(
            "{} gave you a {}: `use-prop {}`.",
            view.who(*from),
            prop.as_str(),
            prop.as_str().replace('_', "-")
        ),
        Event::ForestChanged {
            owner_id,
            stealable_grams,
            balls,
            revivable,
        } => format!(
            "{}'s forest changed: {} ball{}, {stealable_grams} g you could steal, {} g you could revive: `friend-balls {owner_id}`.",
            view.who(*owner_id),
            balls.len(),
            if balls.len() == 1 { "" } else { "s" },
            revivable.iter().map(|ball| ball.grams).sum::<u64>()
        ),
        Event::EnergyRevived {
            by,
            ball_id,
            expired_ball_id,
            grams,
        } => format!(
            "{} revived {grams} g of your expired ball #{expired_ball_id}: it is back as ripe ball #{ball_id}.",
            view.who(*by)
        ),
        Event::Certificate { certificate } => format!(
            "Certificate #{}: a {} planted in {} for {} g{}.",
            certificate.id,
            certificate.species,
            certificate.region,
            certificate.grams,
            certificate
                .team
                .as_ref()
                .map(|team| format!(" by team {team}"))
                .unwrap_or_default()
        ),
        Event::HelpCollected { by, ball_id, grams } => format!(
            "{} collected {grams} g of your ball #{ball_id} for you.",
            subject(view, Some(*by))
        ),
        Event::ProtectedBlock { by } => format!(
            "Your protection cover stopped {} from stealing.",
            view.who_or_someone(*by)
        ),
        Event::RiskHold {
            flag_id,
            grams,
            held,
            reason,
        } => {
            format!("{grams} g held for review (flag #{flag_id}, {held} g held in all): {reason}.")
        }
        Event::ServerShutdown { reason } => format!("The server is shutting down: {reason}."),
    };
    format!("* {text}")
}

/// A player at the start of a sentence: names stay as they are, the generic words
/// ("someone", "you", "player #2") get a capital.
fn subject(view: &View<'_>, id: Option<PlayerId>) -> String {
    let label = view.who_or_someone(id);
    match id {
        Some(id) if view.names.known(id) && view.me != Some(id) => label,
        _ => {
            let mut chars = label.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => label,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{bob_named, view_of_player_one};
    use canopy_shared::BallId;
    use canopy_shared::event::RipeBall;

    #[test]
    fn events_read_as_sentences() {
        let names = bob_named();
        let view = view_of_player_one(&names);
        let stolen = Pushed::Event(Event::EnergyStolen {
            by: Some(PlayerId(2)),
            ball_id: BallId(5),
            grams: 12,
        });
        assert_eq!(
            pushed(&stolen, &view),
            "* bob (#2) stole 12 g from your ball #5."
        );
        let hidden = Pushed::Event(Event::EnergyStolen {
            by: None,
            ball_id: BallId(5),
            grams: 3,
        });
        assert_eq!(
            pushed(&hidden, &view),
            "* Someone stole 3 g from your ball #5."
        );
        let ripe = Pushed::Event(Event::BallRipe {
            balls: vec![RipeBall {
                ball_id: BallId(5),
                amount: 100,
            }],
        });
        assert!(pushed(&ripe, &view).contains("Ripe now: ball #5 (100 g)"));
        let watered = Pushed::Event(Event::Watered {
            by: PlayerId(3),
            grams: 18,
            energy: 118,
        });
        assert!(pushed(&watered, &view).starts_with("* Player #3 watered you with 18 g"));
        let stealable = Pushed::Event(Event::FriendStealable {
            friend_id: PlayerId(2),
            grams: 36,
        });
        assert_eq!(
            pushed(&stealable, &view),
            "* You could steal 36 g from bob (#2) now: `friend-balls 2`."
        );
        let nothing = Pushed::Event(Event::FriendStealable {
            friend_id: PlayerId(3),
            grams: 0,
        });
        assert_eq!(
            pushed(&nothing, &view),
            "* Nothing left to steal from player #3."
        );
        let forest = Pushed::Event(Event::ForestChanged {
            owner_id: PlayerId(2),
            stealable_grams: 0,
            balls: Vec::new(),
            revivable: Vec::new(),
        });
        assert_eq!(
            pushed(&forest, &view),
            "* bob (#2)'s forest changed: 0 balls, 0 g you could steal, 0 g you could revive: `friend-balls 2`."
        );
    }
}
