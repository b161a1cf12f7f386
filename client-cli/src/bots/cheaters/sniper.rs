//! `sniper`: what XQuickEnergy and Sesame do. Every two minutes of game time (their
//! poll) a sniper reads its friends list, with each friend's protection cover end, and
//! every friend's balls; it takes every ripe ball it can there and then (the sweep),
//! and keeps the balls it can take before the next poll: those ripening then, and
//! those whose owner's cover ends then (Sesame's `EnergyWaitingManager` camps on both).
//! It fires at each half a second before its time, again at every clock step while
//! the answer is `NOT_RIPE` or `PROTECTED`, then moves to the next. Once the daily
//! steal cap answers `LIMIT_REACHED` it stops until the next day.

use crate::bots::setup::{Seat, setup_call};
use crate::error::CliError;
use canopy_shared::reply::{BallsResult, FriendsResult};
use canopy_shared::{BallId, ErrorCode, Millis, PlayerId, Request};
use tokio::sync::watch;

/// How often the tools poll the friends' balls (XQuickEnergy's default).
pub const POLL_MS: u64 = 120_000;
/// How early a steal is fired before a ball can be taken (XQuickEnergy's default).
const FIRE_EARLY_MS: u64 = 500;

/// A friend's ball a sniper camps on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// When it can be taken: the later of its ripening and its owner's cover end.
    pub at: Millis,
    /// Its owner.
    pub friend: PlayerId,
    /// The ball.
    pub ball: BallId,
}

/// What one sniper did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Haul {
    /// Steals that took energy on a poll (balls found ripe).
    pub swept: u64,
    /// Steals that took energy in a camp (balls fired at as they became takeable).
    pub sniped: u64,
    /// Camp shots fired too early (`NOT_RIPE` or `PROTECTED`), as the tools do.
    pub early: u64,
    /// Whether the daily steal cap stopped it.
    pub capped: bool,
}

/// What a steal answered, as a sniper sees it.
enum Shot {
    Took,
    TooEarly,
    Capped,
    Missed,
}

async fn shoot(seat: &mut Seat, friend: PlayerId, ball: BallId) -> Shot {
    let steal = Request::Steal {
        friend_id: friend,
        ball_id: ball,
    };
    match seat.call(&steal).await {
        Ok(Ok(_)) => Shot::Took,
        Ok(Err(refused)) => match refused.code {
            ErrorCode::NotRipe | ErrorCode::Protected => Shot::TooEarly,
            ErrorCode::LimitReached => Shot::Capped,
            _ => Shot::Missed,
        },
        Err(_) => Shot::Missed,
    }
}

/// One poll at game time `now`: takes every ripe ball of every friend it can, and
/// returns the balls it can take before the next poll, soonest first.
pub async fn poll(seat: &mut Seat, now: Millis, haul: &mut Haul) -> Result<Vec<Target>, CliError> {
    let mut targets = Vec::new();
    if haul.capped {
        return Ok(targets);
    }
    let friends: FriendsResult = setup_call(seat, &Request::Friends {}).await?;
    for friend in friends.friends {
        let shown: BallsResult = setup_call(
            seat,
            &Request::FriendBalls {
                friend_id: friend.player_id,
            },
        )
        .await?;
        let cover_end = friend.protected_until.unwrap_or(0);
        for ball in shown.balls.iter().filter(|ball| ball.source != "water") {
            let at = ball.ripe_at.max(cover_end);
            if ball.stealable > 0 {
                match shoot(seat, friend.player_id, ball.ball_id).await {
                    Shot::Took => haul.swept += 1,
                    Shot::Capped => {
                        haul.capped = true;
                        return Ok(Vec::new());
                    }
                    Shot::TooEarly | Shot::Missed => {}
                }
            } else if at > now && at <= now + POLL_MS {
                targets.push(Target {
                    at,
                    friend: friend.player_id,
                    ball: ball.ball_id,
                });
            }
        }
    }
    targets.sort_unstable();
    Ok(targets)
}

/// Fires at each target as `clock` reaches it, until the clock reaches `until`.
pub async fn camp(
    seat: &mut Seat,
    targets: &[Target],
    mut clock: watch::Receiver<Millis>,
    until: Millis,
    haul: &mut Haul,
) {
    for target in targets {
        loop {
            let now = *clock.borrow_and_update();
            if now >= until || haul.capped {
                return;
            }
            if now + FIRE_EARLY_MS < target.at {
                if clock.changed().await.is_err() {
                    return;
                }
                continue;
            }
            match shoot(seat, target.friend, target.ball).await {
                Shot::Took => haul.sniped += 1,
                Shot::TooEarly => {
                    haul.early += 1;
                    if clock.changed().await.is_err() {
                        return;
                    }
                    continue;
                }
                Shot::Capped => haul.capped = true,
                Shot::Missed => {}
            }
            break;
        }
    }
}
