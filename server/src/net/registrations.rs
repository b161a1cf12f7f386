//! Limits on `register` per source address, so one machine cannot build an account
//! farm: a rate (a token bucket per source) and a daily cap (a count per source over a
//! rolling day). An IPv6 source counts per /64, the block one subscriber usually holds;
//! an IPv4 source (or an IPv4-mapped IPv6 one) per address.
//!
//! The limits live in the network layer, before the game thread sees the request, so a
//! farm script costs the game nothing. Sources whose allowance is back to full are
//! forgotten, so the table holds only addresses that registered recently.

use crate::config::AccountsConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window of the daily cap.
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// [`DAY`] in milliseconds, the unit of an [`Allowance`]'s timeline.
const DAY_MS: u64 = DAY.as_millis() as u64;
/// An hour in milliseconds (as a float: the rate is per hour).
const HOUR_MS: f64 = 3_600_000.0;

/// Sources tracked before the table is swept of the forgettable ones (the threshold
/// doubles when a sweep frees little, so sweeps stay rare under a real spread).
const FIRST_SWEEP_AT: usize = 4096;

/// Where registrations are counted: an IPv4 address, or the /64 of an IPv6 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source a peer address counts under.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(prefix.into()))
            }
            v4 => Self(v4),
        }
    }

    /// A name for the source made of letters, digits and `-` only (a NATS KV key).
    pub fn key(self) -> String {
        match self.0 {
            IpAddr::V4(v4) => format!("v4-{}", u32::from(v4)),
            IpAddr::V6(v6) => format!("v6-{:032x}", u128::from(v6)),
        }
    }
}

/// Why a registration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many in a short time from this source.
    Rate,
    /// The source reached its daily cap.
    DailyCap,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::DailyCap => "daily_cap",
        }
    }

    /// The message of the `RATE_LIMITED` answer.
    pub fn message(self, config: &AccountsConfig) -> String {
        match self {
            Self::Rate => format!(
                "too many registrations from your network (at most {} at once, then {} an \
                 hour); try again later",
                config.register_burst, config.register_per_hour
            ),
            Self::DailyCap => format!(
                "your network reached its limit of {} registrations a day; try again tomorrow",
                config.register_daily_cap
            ),
        }
    }
}

/// One source's allowance: a token bucket for the rate and a count over the day. Times
/// are milliseconds on the caller's timeline (this process's monotonic clock here, Unix
/// time when the shards of a cluster share allowances), so one piece of code serves both;
/// whole milliseconds keep the refill exact (an hourly rate's token arrives on time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allowance {
    tokens: f64,
    refilled_at: u64,
    day_started_at: u64,
    today: u32,
}

impl Allowance {
    /// The allowance of a source that has not registered lately: a full bucket.
    pub fn fresh(config: &AccountsConfig, now: u64) -> Self {
        Self {
            tokens: f64::from(config.register_burst),
            refilled_at: now,
            day_started_at: now,
            today: 0,
        }
    }

    /// Counts one registration at `now`, or says why it is refused (a refusal takes
    /// nothing). The rate and the cap are read from `config` each time, so a reload
    /// retunes every allowance.
    pub fn admit(&mut self, config: &AccountsConfig, now: u64) -> Result<(), Refusal> {
        self.refill(config, now);
        if now.saturating_sub(self.day_started_at) >= DAY_MS {
            self.day_started_at = now;
            self.today = 0;
        }
        if self.today >= config.register_daily_cap {
            return Err(Refusal::DailyCap);
        }
        if self.tokens < 1.0 {
            return Err(Refusal::Rate);
        }
        self.tokens -= 1.0;
        self.today += 1;
        Ok(())
    }

    fn refill(&mut self, config: &AccountsConfig, now: u64) {
        let elapsed = now.saturating_sub(self.refilled_at) as f64;
        let gained = elapsed * config.register_per_hour / HOUR_MS;
        self.tokens = (self.tokens + gained).min(f64::from(config.register_burst));
        self.refilled_at = self.refilled_at.max(now);
    }

    /// Whether forgetting this allowance at `now` changes nothing: its day is over and
    /// its bucket would be full again.
    fn is_forgettable(&self, config: &AccountsConfig, now: u64) -> bool {
        let mut refilled = self.clone();
        refilled.refill(config, now);
        now.saturating_sub(self.day_started_at) >= DAY_MS
            && refilled.tokens >= f64::from(config.register_burst)
    }
}

/// The allowances of every source that registered recently on this server.
#[derive(Debug)]
pub struct RegistrationLimits {
    /// The zero of this table's timeline.
    epoch: Instant,
    sources: Mutex<Table>,
}

impl Default for RegistrationLimits {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            sources: Mutex::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    allowances: HashMap<Source, Allowance>,
    sweep_at: usize,
}

impl RegistrationLimits {
    /// Counts a registration from `ip` at `now`, or says why it is refused. Always
    /// admits when `accounts.register_limits` is off.
    pub fn admit(&self, ip: IpAddr, config: &AccountsConfig, now: Instant) -> Result<(), Refusal> {
        if !config.register_limits {
            return Ok(());
        }
        let now = millis(now.saturating_duration_since(self.epoch));
        // A panic elsewhere while holding the lock leaves the table usable.
        let mut table = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        table.sweep(config, now);
        table
            .allowances
            .entry(Source::of(ip))
            .or_insert_with(|| Allowance::fresh(config, now))
            .admit(config, now)
    }

    /// How many sources are tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .allowances
            .len()
    }
}

/// Whole milliseconds of `span`.
pub fn millis(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}

impl Table {
    /// Forgets the sources whose day is over and whose bucket is full again, once the
    /// table has grown past its threshold.
    fn sweep(&mut self, config: &AccountsConfig, now: u64) {
        if self.allowances.len() < self.sweep_at.max(FIRST_SWEEP_AT) {
            return;
        }
        self.allowances
            .retain(|_, allowance| !allowance.is_forgettable(config, now));
        self.sweep_at = (self.allowances.len() * 2).max(FIRST_SWEEP_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32, per_hour: f64, daily_cap: u32) -> AccountsConfig {
        AccountsConfig {
            register_burst: burst,
            register_per_hour: per_hour,
            register_daily_cap: daily_cap,
            ..AccountsConfig::default()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a test address parses")
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2:aaaa::1")),
            Source::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:10.0.0.1")),
            Source::of(ip("10.0.0.1"))
        );
        assert_ne!(Source::of(ip("10.0.0.1")), Source::of(ip("10.0.0.2")));
    }

    #[test]
    fn the_burst_then_the_rate_then_the_daily_cap() {
        let config = limits(2, 3600.0, 4);
        let table = RegistrationLimits::default();
        let start = Instant::now();
        let farm = ip("203.0.113.7");
        assert_eq!(table.admit(farm, &config, start), Ok(()));
        assert_eq!(table.admit(farm, &config, start), Ok(()));
        assert_eq!(table.admit(farm, &config, start), Err(Refusal::Rate));
        assert_eq!(
            table.admit(ip("203.0.113.8"), &config, start),
            Ok(()),
            "another address has its own allowance"
        );
        let later = start + Duration::from_secs(1);
        assert_eq!(
            table.admit(farm, &config, later),
            Ok(()),
            "one an hour-second"
        );
        let much_later = start + Duration::from_secs(60);
        assert_eq!(table.admit(farm, &config, much_later), Ok(()));
        assert_eq!(
            table.admit(farm, &config, much_later + Duration::from_secs(60)),
            Err(Refusal::DailyCap),
            "4 a day, whatever the rate allows"
        );
        let tomorrow = start + DAY;
        assert_eq!(table.admit(farm, &config, tomorrow), Ok(()));
    }

    #[test]
    fn switched_off_admits_everything_and_tracks_nothing() {
        let config = AccountsConfig {
            register_limits: false,
            ..limits(1, 1.0, 1)
        };
        let table = RegistrationLimits::default();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(table.admit(ip("127.0.0.1"), &config, now), Ok(()));
        }
        assert_eq!(table.tracked(), 0);
    }

    #[test]
    fn sources_back_to_full_are_forgotten_when_the_table_grows() {
        let config = limits(1, 3600.0, 10);
        let table = RegistrationLimits::default();
        let start = Instant::now();
        for n in 0..FIRST_SWEEP_AT as u32 {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x0A00_0000u32 + n));
            assert_eq!(table.admit(source, &config, start), Ok(()));
        }
        let after_a_day = start + DAY;
        assert_eq!(table.admit(ip("192.0.2.1"), &config, after_a_day), Ok(()));
        assert_eq!(table.tracked(), 1, "only the newest source is kept");
    }
}
