//! The injected game clock. The real server follows the wall clock; tests and
//! `--clock manual` move it only when told. Either way it never runs backwards, also
//! across restarts: it resumes from at least the last persisted game time.

use bevy_ecs::resource::Resource;
use canopy_shared::Millis;
use std::time::{SystemTime, UNIX_EPOCH};

/// How the game clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Follows the system clock (never backwards).
    Wall,
    /// Moves only through [`GameClock::advance`] (the admin call).
    Manual,
}

/// The game's notion of now.
#[derive(Resource, Clone, Debug)]
pub struct GameClock {
    mode: ClockMode,
    now: Millis,
}

/// The system clock in milliseconds since the Unix epoch.
pub fn wall_now() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as Millis)
}

impl GameClock {
    /// A clock starting at `start`, but never before `floor` (the last persisted time).
    pub fn new(mode: ClockMode, start: Millis, floor: Millis) -> Self {
        Self {
            mode,
            now: start.max(floor),
        }
    }

    /// The current game time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The clock's mode.
    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// Catches a wall clock up with the system clock; a manual clock stays put.
    pub fn refresh(&mut self) {
        if self.mode == ClockMode::Wall {
            self.now = self.now.max(wall_now());
        }
    }

    /// Moves a manual clock forward; `None` for a wall clock.
    pub fn advance(&mut self, ms: u64) -> Option<Millis> {
        (self.mode == ClockMode::Manual).then(|| {
            self.now = self.now.saturating_add(ms);
            self.now
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_from_the_persisted_time_and_never_goes_back() {
        let mut clock = GameClock::new(ClockMode::Manual, 1_000, 5_000);
        assert_eq!(clock.now(), 5_000);
        clock.refresh();
        assert_eq!(clock.now(), 5_000, "a manual clock ignores the wall clock");
        assert_eq!(clock.advance(250), Some(5_250));
        let mut wall = GameClock::new(ClockMode::Wall, 0, u64::MAX / 2);
        wall.refresh();
        assert_eq!(
            wall.now(),
            u64::MAX / 2,
            "a wall clock behind the floor waits"
        );
        assert_eq!(wall.advance(1), None);
    }
}
