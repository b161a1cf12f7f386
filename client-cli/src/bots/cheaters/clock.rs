//! The scenario's clock: the director moves the server's manual clock through the
//! scripted day, and the cheaters read it as their phones' clock.

use crate::admin::OpsClient;
use crate::bots::setup::{DAY_MS, advance_clock};
use crate::error::CliError;
use canopy_shared::Millis;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// One step of the clock while it runs at real speed.
const REAL_TIME_STEP_MS: u64 = 100;
/// How long to let the game loop catch up after a jump (ripening runs on ticks).
const SETTLE: Duration = Duration::from_millis(200);

/// The server's manual clock, moved only forward, and a channel the cheaters read.
pub struct Director {
    ops: Arc<OpsClient>,
    now: Millis,
    utc_offset: i32,
    tell: watch::Sender<Millis>,
}

impl Director {
    /// A director of a manual clock that reads `now`.
    pub fn new(ops: Arc<OpsClient>, now: Millis, utc_offset: i32) -> Self {
        let (tell, _) = watch::channel(now);
        Self {
            ops,
            now,
            utc_offset,
            tell,
        }
    }

    /// The game time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// The clock as a phone sees it.
    pub fn watch(&self) -> watch::Receiver<Millis> {
        self.tell.subscribe()
    }

    /// The game-local date, `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        crate::time_text::local_date(self.now, self.utc_offset)
    }

    /// The first instant after now at `ms_of_day` past local midnight.
    pub fn next_local(&self, ms_of_day: u64) -> Millis {
        let offset = i64::from(self.utc_offset) * 60_000;
        let local = self.now as i64 + offset;
        let midnight = local - local.rem_euclid(DAY_MS as i64);
        let mut at = midnight + ms_of_day as i64 - offset;
        if at <= self.now as i64 {
            at += DAY_MS as i64;
        }
        at.max(0) as Millis
    }

    /// Moves the clock to `at` (nothing when it is already there) and lets the game
    /// loop catch up.
    pub async fn jump_to(&mut self, at: Millis) -> Result<(), CliError> {
        self.step_to(at).await?;
        tokio::time::sleep(SETTLE).await;
        Ok(())
    }

    /// Lets the clock run at real speed from now until `until`, in steps of 100 ms. If
    /// the clock cannot be moved, the phones read the end of time, so every camp ends.
    pub async fn run_real_time(&mut self, until: Millis) -> Result<(), CliError> {
        let mut ticker = tokio::time::interval(Duration::from_millis(REAL_TIME_STEP_MS));
        // A late step is not made up for with a burst: the game clock never runs ahead
        // of real time.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while self.now < until {
            ticker.tick().await;
            let step = (self.now + REAL_TIME_STEP_MS).min(until);
            if let Err(err) = self.step_to(step).await {
                self.tell.send_replace(Millis::MAX);
                return Err(err);
            }
        }
        Ok(())
    }

    async fn step_to(&mut self, at: Millis) -> Result<(), CliError> {
        if at > self.now {
            self.now = advance_clock(self.ops.clone(), at - self.now).await?;
            self.tell.send_replace(self.now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_local_time_is_always_ahead() -> Result<(), CliError> {
        let ops = Arc::new(OpsClient::new(
            "127.0.0.1:9",
            None,
            &crate::trust::Trust::default(),
        )?);
        // 2026-11-26 00:00 UTC is 08:00 at UTC+8.
        let midnight_utc = 1_795_651_200_000;
        let director = Director::new(ops, midnight_utc, 480);
        let five_past = 5 * 60_000;
        assert_eq!(
            director.next_local(five_past),
            midnight_utc + 16 * 3_600_000 + five_past,
            "local 00:05 of the next day"
        );
        assert_eq!(
            director.next_local(9 * 3_600_000),
            midnight_utc + 3_600_000,
            "local 09:00 later today"
        );
        assert_eq!(
            director.next_local(8 * 3_600_000),
            midnight_utc + DAY_MS,
            "now is not ahead"
        );
        Ok(())
    }
}
