//! The token bucket of each connection (and of each partner), and the
//! strike count that turns sustained abuse into a closed connection.

use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens a second up to `burst`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
    strikes: u32,
}

/// What the limiter says about one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse with `RATE_LIMITED`.
    Limit,
    /// Refuse and close the connection: too many refusals in a row.
    Close,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            refilled: now,
            strikes: 0,
        }
    }

    /// How long after the last check the next token is there: a `Retry-After`.
    pub fn time_to_next_token(&self) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0))
    }

    /// Takes one token for a request at `now`; `strikes_to_close` refusals in a row
    /// close the connection.
    pub fn check(&mut self, now: Instant, strikes_to_close: u32) -> Verdict {
        if self.take(now) {
            self.strikes = 0;
            return Verdict::Allow;
        }
        self.strikes += 1;
        if self.strikes >= strikes_to_close {
            Verdict::Close
        } else {
            Verdict::Limit
        }
    }

    /// Takes one token at `now` if there is one.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(20.0, 40.0, start);
        for _ in 0..40 {
            assert_eq!(bucket.check(start, 50), Verdict::Allow);
        }
        assert_eq!(bucket.check(start, 50), Verdict::Limit);
        let later = start + Duration::from_millis(100);
        assert_eq!(
            bucket.check(later, 50),
            Verdict::Allow,
            "2 tokens refilled in 100 ms"
        );
        assert_eq!(bucket.check(later, 50), Verdict::Allow);
        assert_eq!(bucket.check(later, 50), Verdict::Limit);
        let wait = bucket.time_to_next_token();
        assert!(
            wait > Duration::from_millis(49) && wait <= Duration::from_millis(50),
            "one token at 20/s is 50 ms away: {wait:?}"
        );
    }

    #[test]
    fn sustained_abuse_closes_and_good_behaviour_forgives() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1.0, 1.0, start);
        assert_eq!(bucket.check(start, 3), Verdict::Allow);
        assert_eq!(bucket.check(start, 3), Verdict::Limit);
        assert_eq!(bucket.check(start, 3), Verdict::Limit);
        let later = start + Duration::from_secs(1);
        assert_eq!(
            bucket.check(later, 3),
            Verdict::Allow,
            "a granted request resets strikes"
        );
        assert_eq!(bucket.check(later, 3), Verdict::Limit);
        assert_eq!(bucket.check(later, 3), Verdict::Limit);
        assert_eq!(bucket.check(later, 3), Verdict::Close);
    }
}
