//! Pacing: the per-connection token bucket that keeps each bot under the server's rate
//! limit, and the open-loop schedule that spreads a total rate over the bots.

use std::time::Duration;
use tokio::time::Instant;

/// A client-side token bucket: `rate` requests a second, bursts of at most `burst`.
///
/// The server refuses requests past its own per-connection bucket (default 20/s, burst
/// 40) with `RATE_LIMITED`, and closes the connection after 50 in a row. Bots stay just
/// under it with a smaller burst, so the server's bucket never runs dry.
#[derive(Debug)]
pub struct TokenBucket {
    /// Tokens per second; 0 means no limit.
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 (or less) lets everything through.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            tokens: burst.max(1.0),
            refilled: now,
        }
    }

    /// Takes a token at `now`, or says how long to wait before one is there.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// Waits until a token is there and takes it.
    pub async fn take(&mut self) {
        while let Err(wait) = self.try_take(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// When each request of one bot is due.
#[derive(Clone, Copy, Debug)]
pub enum Schedule {
    /// Closed loop: the next request goes as soon as the previous reply is in.
    Closed,
    /// Open loop: one request every `interval`, starting at `next`. A bot that falls
    /// behind sends as soon as its previous reply is in, and its latency counts from
    /// when the request was due (no coordinated omission).
    Open {
        /// When the next request is due.
        next: Instant,
        /// Time between two requests of this bot.
        interval: Duration,
    },
}

impl Schedule {
    /// The schedule of one of `bots` bots sharing `total_rate` requests a second, with
    /// its first request at `start + phase` (`phase` in [0, 1) of the interval, so the
    /// bots do not fire together).
    pub fn open(total_rate: f64, bots: usize, start: Instant, phase: f64) -> Self {
        let interval = Duration::from_secs_f64(bots as f64 / total_rate);
        Self::Open {
            next: start + interval.mul_f64(phase.clamp(0.0, 1.0)),
            interval,
        }
    }

    /// When the next request is due, in open loop (and moves on to the one after);
    /// `None` in closed loop, where it is due as soon as the previous reply is in.
    pub fn next_due(&mut self) -> Option<Instant> {
        match self {
            Self::Closed => None,
            Self::Open { next, interval } => {
                let due = *next;
                *next += *interval;
                Some(due)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(20.0, 5.0, start);
        for _ in 0..5 {
            assert_eq!(bucket.try_take(start), Ok(()));
        }
        let wait = bucket.try_take(start).expect_err("the burst is spent");
        assert!(
            wait <= Duration::from_millis(50) && wait > Duration::ZERO,
            "{wait:?}"
        );
        let later = start + Duration::from_millis(100);
        assert_eq!(bucket.try_take(later), Ok(()), "2 tokens in 100 ms");
        assert_eq!(bucket.try_take(later), Ok(()));
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn a_zero_rate_never_waits() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.0, 1.0, start);
        for _ in 0..1_000 {
            assert_eq!(bucket.try_take(start), Ok(()));
        }
    }

    #[test]
    fn open_loop_spreads_the_rate_over_the_bots() {
        let start = Instant::now();
        let mut schedule = Schedule::open(500.0, 1_000, start, 0.5);
        // Each bot: 0.5 requests a second, the first half an interval in.
        assert_eq!(schedule.next_due(), Some(start + Duration::from_secs(1)));
        assert_eq!(schedule.next_due(), Some(start + Duration::from_secs(3)));
        assert_eq!(Schedule::Closed.next_due(), None);
    }
}
