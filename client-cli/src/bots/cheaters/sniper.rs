//! `sniper`: steals fired the instant a friend's ball ripens. XQuickEnergy polls the
//! friends' balls and fires 0.5 s before a ripening time, retrying until the ball is
//! ripe; Sesame's `EnergyWaitingManager` keeps every ball's ripening time and camps on
//! it. A sniper here does both: it looks at each friend's balls (its poll), keeps the
//! balls that ripen within the hour, and fires at each when its phone's clock reaches
//! half a second before the ripening time, again at every clock step while the answer
//! is `NOT_RIPE`, then moves to the next.

use crate::bots::setup::{Seat, setup_call};
use crate::error::CliError;
use canopy_shared::reply::BallsResult;
use canopy_shared::{BallId, ErrorCode, Millis, PlayerId, Request};
use tokio::sync::watch;

/// How early a steal is fired before the ball ripens (XQuickEnergy's default).
const FIRE_EARLY_MS: u64 = 500;
/// Balls ripening later than this are left for the next poll.
const CAMP_AHEAD_MS: u64 = 3_600_000;

/// A friend's ball a sniper camps on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// When it ripens.
    pub ripe_at: Millis,
    /// Its owner.
    pub friend: PlayerId,
    /// The ball.
    pub ball: BallId,
}

/// What one sniper did in its camp.
#[derive(Clone, Copy, Debug, Default)]
pub struct Camp {
    /// Steals that took energy.
    pub steals: u64,
    /// Steals fired too early (`NOT_RIPE`), as the tools do.
    pub early: u64,
}

/// Looks at every friend's balls; returns those ripening within the hour, soonest first.
pub async fn poll(seat: &mut Seat, now: Millis) -> Result<Vec<Target>, CliError> {
    let mut targets = Vec::new();
    for friend in seat.know.friends.clone() {
        let shown: BallsResult =
            setup_call(seat, &Request::FriendBalls { friend_id: friend }).await?;
        targets.extend(
            shown
                .balls
                .iter()
                .filter(|ball| ball.source != "water")
                .filter(|ball| ball.ripe_at > now && ball.ripe_at <= now + CAMP_AHEAD_MS)
                .map(|ball| Target {
                    ripe_at: ball.ripe_at,
                    friend,
                    ball: ball.ball_id,
                }),
        );
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
) -> Camp {
    let mut camp = Camp::default();
    for target in targets {
        loop {
            let now = *clock.borrow_and_update();
            if now >= until {
                return camp;
            }
            if now + FIRE_EARLY_MS < target.ripe_at {
                if clock.changed().await.is_err() {
                    return camp;
                }
                continue;
            }
            let steal = Request::Steal {
                friend_id: target.friend,
                ball_id: target.ball,
            };
            match seat.call(&steal).await {
                Ok(Ok(_)) => camp.steals += 1,
                Ok(Err(refused)) if refused.code == ErrorCode::NotRipe => {
                    camp.early += 1;
                    if clock.changed().await.is_err() {
                        return camp;
                    }
                    continue;
                }
                Ok(Err(refused)) if refused.code == ErrorCode::LimitReached => return camp,
                Ok(Err(_)) => {}
                Err(_) => return camp,
            }
            break;
        }
    }
    camp
}
