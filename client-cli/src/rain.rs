//! `canopy rain`: plays one energy rain round against the server's clock. The round's
//! balls come from the server (`canopy_shared::rain`); the CLI only decides which to
//! tap and when — by hand (a lane number and Enter catches that lane's lowest ball) or
//! with `--auto`, a player with human reaction times who misses some balls. The grams
//! are the server's: the CLI waits for the round to be settled and reads the balance.

use crate::commands::Context;
use crate::connection::{Connection, ReplyOutcome};
use crate::error::CliError;
use canopy_shared::rain::{RainBall, RainRoundView, RainStartResult, RainStatusResult};
use canopy_shared::reply::MeResult;
use canopy_shared::{Millis, Request};
use rand::RngExt;
use std::time::Duration;
use tokio::time::Instant;

/// The server's game clock as seen from here: one `ping`, corrected by half its round
/// trip, then the local monotonic clock.
pub struct ServerClock {
    at_ping: Millis,
    pinged: Instant,
}

impl ServerClock {
    async fn sync(conn: &Connection) -> Result<Self, CliError> {
        let sent = Instant::now();
        let time = crate::commands::game_time(conn).await?;
        Ok(Self::from_ping(time, sent))
    }

    /// The clock from a `ping` sent at `sent` whose reply, just in, read `time`.
    pub fn from_ping(time: Millis, sent: Instant) -> Self {
        let half_trip = sent.elapsed() / 2;
        Self {
            at_ping: time + half_trip.as_millis() as Millis,
            pinged: sent + half_trip,
        }
    }

    /// The server's clock now.
    pub fn now(&self) -> Millis {
        self.at_ping + self.pinged.elapsed().as_millis() as Millis
    }

    /// The local instant the server's clock reads `at`.
    pub fn instant_of(&self, at: Millis) -> Instant {
        self.pinged + Duration::from_millis(at.saturating_sub(self.at_ping))
    }
}

/// One planned tap of `--auto`: the ball and the server time to tap it at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedTap {
    /// The ball's index.
    pub ball: u32,
    /// When to tap, on the server's clock.
    pub at: Millis,
}

/// How `--auto` plays: it misses one ball in `miss_one_in`, and reacts 250–900 ms after
/// a ball appears (never after it lands).
pub fn plan_taps(round: &RainRoundView, rng: &mut impl rand::Rng) -> Vec<PlannedTap> {
    const MISS_ONE_IN: u32 = 5;
    let mut taps = Vec::new();
    for ball in &round.balls {
        if rng.random_range(0..MISS_ONE_IN) == 0 {
            continue;
        }
        let latest = ball.fall_ms.saturating_sub(150).max(1);
        let reaction = rng.random_range(250..900u64).min(latest);
        taps.push(PlannedTap {
            ball: ball.ball,
            at: round.starts_at + ball.appear_ms + reaction,
        });
    }
    taps.sort_by_key(|tap| tap.at);
    taps
}

/// The lowest ball on screen in `lane` at `offset_ms` into the round that is not caught
/// yet: the one a tap on that lane catches.
pub fn lowest_in_lane(balls: &[RainBall], lane: u8, offset_ms: u64, caught: &[u32]) -> Option<u32> {
    balls
        .iter()
        .filter(|ball| ball.lane == lane && ball.on_screen(offset_ms))
        .filter(|ball| !caught.contains(&ball.ball))
        .min_by_key(|ball| ball.appear_ms)
        .map(|ball| ball.ball)
}

/// Plays one round and returns what to print.
pub async fn play(conn: &Connection, ctx: &Context, auto: bool) -> Result<String, CliError> {
    let started: RainStartResult = conn.call_as(&Request::RainStart {}).await?;
    let round = started.round;
    let clock = ServerClock::sync(conn).await?;
    if ctx.output == crate::commands::OutputMode::Human && !auto {
        println!(
            "Round #{}: {} balls in {} lanes for {} s. Type a lane (1-{}) and Enter to catch \
             its lowest ball.",
            round.round_id,
            round.balls.len(),
            round.params.lanes,
            round.params.duration_ms / 1000,
            round.params.lanes
        );
    }
    let mut caught: Vec<u32> = Vec::new();
    let mut caught_grams = 0;
    let mut missed_taps = 0;
    if auto {
        let mut rng = rand::rng();
        for planned in plan_taps(&round, &mut rng) {
            tokio::time::sleep_until(clock.instant_of(planned.at)).await;
            match tap(conn, &round, planned.ball, clock.now()).await? {
                Some(grams) => {
                    caught.push(planned.ball);
                    caught_grams += grams;
                }
                None => missed_taps += 1,
            }
        }
    } else {
        let mut lanes = lane_input();
        let end = clock.instant_of(round.ends_at);
        while let Ok(Some(lane)) = tokio::time::timeout_at(end, lanes.recv()).await {
            let at = clock.now();
            let offset = at.saturating_sub(round.starts_at);
            let Some(ball) = lowest_in_lane(&round.balls, lane, offset, &caught) else {
                missed_taps += 1;
                println!("Nothing falling in lane {} now.", lane + 1);
                continue;
            };
            match tap(conn, &round, ball, at).await? {
                Some(grams) => {
                    caught.push(ball);
                    caught_grams += grams;
                    println!("Caught ball {ball}: +{grams} g ({caught_grams} g so far).");
                }
                None => missed_taps += 1,
            }
        }
    }
    let energy = settled_balance(conn, &clock, round.ends_at).await?;
    Ok(format!(
        "Round #{} over: {} of {} balls caught, {caught_grams} g ({missed_taps} taps missed). \
         The server credited them at the round's end: balance {energy} g.",
        round.round_id,
        caught.len(),
        round.balls.len()
    ))
}

/// Sends one tap; `Some(grams)` when the server accepted it, `None` when it refused it
/// as a miss (a ball off screen, already caught, or a tap too late).
async fn tap(
    conn: &Connection,
    round: &RainRoundView,
    ball: u32,
    at: Millis,
) -> Result<Option<u64>, CliError> {
    let request = Request::RainTap {
        round_id: round.round_id,
        ball,
        at,
    };
    match conn.call(&request).await? {
        ReplyOutcome::Ok(fields) => {
            let tapped: canopy_shared::rain::RainTapResult = crate::connection::typed(fields)?;
            Ok(Some(tapped.grams))
        }
        ReplyOutcome::Err(error)
            if matches!(
                error.code,
                canopy_shared::ErrorCode::OffScreen
                    | canopy_shared::ErrorCode::Gone
                    | canopy_shared::ErrorCode::BadTiming
            ) =>
        {
            Ok(None)
        }
        ReplyOutcome::Err(error) => Err(CliError::Server(error)),
    }
}

/// Waits until the server settled the round (it does on its own tick at `ends_at`) and
/// returns the balance then.
async fn settled_balance(
    conn: &Connection,
    clock: &ServerClock,
    ends_at: Millis,
) -> Result<u64, CliError> {
    tokio::time::sleep_until(clock.instant_of(ends_at)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: RainStatusResult = conn.call_as(&Request::Rain {}).await?;
        if status.round.is_none() {
            let me: MeResult = conn.call_as(&Request::Me {}).await?;
            return Ok(me.player.energy);
        }
        if Instant::now() > deadline {
            return Err(CliError::Local(
                "the server has not settled the round 30 s after its end".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Lane numbers typed on stdin (1-based on screen, 0-based here), read on a thread of
/// their own so the round's clock never waits for the keyboard.
fn lane_input() -> tokio::sync::mpsc::UnboundedReceiver<u8> {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            let Ok(lane) = line.trim().parse::<u8>() else {
                continue;
            };
            if lane == 0 || sender.send(lane - 1).is_err() {
                continue;
            }
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_shared::rain::{RainParams, schedule};
    use rand::SeedableRng;

    fn round() -> RainRoundView {
        let params = RainParams {
            duration_ms: 15_000,
            lanes: 5,
            balls: 30,
            total_grams: 120,
            fall_ms_min: 1_800,
            fall_ms_max: 3_000,
        };
        RainRoundView {
            round_id: 1,
            seed: 5,
            params,
            starts_at: 10_000,
            ends_at: 25_000,
            tolerance_ms: 1_000,
            balls: schedule(5, &params),
            caught: Vec::new(),
        }
    }

    #[test]
    fn auto_taps_every_ball_it_plays_while_it_falls_and_misses_some() {
        let round = round();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let taps = plan_taps(&round, &mut rng);
        assert!(taps.len() < 30 && taps.len() > 15, "{} taps", taps.len());
        for tap in &taps {
            let ball = round.balls[tap.ball as usize];
            assert!(ball.on_screen(tap.at - round.starts_at), "{tap:?}");
        }
        assert!(taps.windows(2).all(|pair| pair[0].at <= pair[1].at));
    }

    #[test]
    fn a_lane_tap_catches_the_lowest_ball_not_yet_caught() {
        let ball = |ball, lane, appear_ms| RainBall {
            ball,
            lane,
            appear_ms,
            fall_ms: 2_000,
            grams: 4,
        };
        let balls = [ball(0, 1, 0), ball(1, 1, 500), ball(2, 2, 600)];
        assert_eq!(lowest_in_lane(&balls, 1, 700, &[]), Some(0));
        assert_eq!(lowest_in_lane(&balls, 1, 700, &[0]), Some(1));
        assert_eq!(lowest_in_lane(&balls, 1, 2_600, &[]), None);
        assert_eq!(lowest_in_lane(&balls, 3, 700, &[]), None);
    }
}
