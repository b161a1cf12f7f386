//! Human output: results, events and errors as sentences and short tables.
//!
//! `--json` bypasses this module entirely: the raw result object is printed instead.

mod errors;
mod events;
mod results;

pub use errors::error_text;
pub use events::pushed;
pub use results::{record_action, result};

use crate::names::Names;
use crate::time_text::{local_datetime, when};
use canopy_shared::model::{BallView, PropsView};
use canopy_shared::{Millis, PlayerId};

/// What rendering needs besides the result: names, the game clock and the time zone.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// Known player names.
    pub names: &'a Names,
    /// The caller, shown as "you".
    pub me: Option<PlayerId>,
    /// The game clock when the result was fetched, if known (for countdowns).
    pub now: Option<Millis>,
    /// The game day's UTC offset in minutes.
    pub utc_offset: i32,
}

/// The names of the render tests: player 2 is "bob".
#[cfg(test)]
fn bob_named() -> Names {
    let mut names = Names::default();
    names.learn(PlayerId(2), "bob");
    names
}

/// The view of the render tests: player 1, with no clock, at UTC+8.
#[cfg(test)]
fn view_of_player_one(names: &Names) -> View<'_> {
    View {
        names,
        me: Some(PlayerId(1)),
        now: None,
        utc_offset: 480,
    }
}

impl View<'_> {
    /// "you", "bob (#2)" or "player #2".
    pub fn who(&self, id: PlayerId) -> String {
        if Some(id) == self.me {
            "you".to_owned()
        } else {
            self.names.label(id)
        }
    }

    /// Like [`View::who`], with "someone" for a player hidden by stealth.
    pub fn who_or_someone(&self, id: Option<PlayerId>) -> String {
        id.map_or_else(|| "someone".to_owned(), |id| self.who(id))
    }

    /// A game time as a local date, with a countdown when it is ahead.
    pub fn when(&self, at: Millis) -> String {
        when(at, self.now, self.utc_offset)
    }

    /// A game time as a local date.
    pub fn date(&self, at: Millis) -> String {
        local_datetime(at, self.utc_offset)
    }

    /// One line for a ball: id, source, grams, ripeness and what was stolen.
    pub fn ball_line(&self, ball: &BallView) -> String {
        let state = match self.now {
            Some(now) if ball.ripe_at <= now => {
                format!("ripe, expires {}", self.when(ball.expires_at))
            }
            Some(_) => format!("ripens {}", self.when(ball.ripe_at)),
            None => format!("ripe at {}", self.date(ball.ripe_at)),
        };
        let mut line = format!(
            "{:<6} {:<10} {:>5} g  {state}",
            format!("#{}", ball.ball_id),
            ball.source,
            ball.amount
        );
        if ball.stolen > 0 {
            line.push_str(&format!(", {} g stolen", ball.stolen));
        }
        if ball.stealable > 0 {
            if Some(ball.owner) == self.me {
                line.push_str(&format!(", {} g open to thieves", ball.stealable));
            } else {
                line.push_str(&format!(", {} g you can steal", ball.stealable));
            }
        }
        line
    }

    /// Props held and in effect: `protection_cover ×1, stealth ×3; active: stealth until ...`.
    pub fn props(&self, props: &PropsView) -> String {
        let held: Vec<String> = props
            .inventory
            .iter()
            .filter(|(_, count)| **count > 0)
            .map(|(prop, count)| format!("{} ×{count}", prop.as_str()))
            .collect();
        let active: Vec<String> = props
            .active
            .iter()
            .map(|active| format!("{} until {}", active.prop.as_str(), self.when(active.until)))
            .collect();
        let held = if held.is_empty() {
            "none held".to_owned()
        } else {
            held.join(", ")
        };
        if active.is_empty() {
            held
        } else {
            format!("{held}; active: {}", active.join(", "))
        }
    }
}

/// "1 ball", "3 balls".
pub fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("{count} {one}")
    } else {
        format!("{count} {many}")
    }
}
