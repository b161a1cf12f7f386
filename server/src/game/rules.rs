//! The game's rules as pure functions: given the state they need and the config, they
//! return the outcome. Systems call them; unit tests and property tests call them
//! directly.

use crate::config::{ActionRule, Config, StealConfig};
use canopy_shared::model::TreeStage;
use canopy_shared::{ErrorBody, ErrorCode, Millis};

/// One hour in milliseconds.
pub const HOUR_MS: u64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: u64 = 24 * HOUR_MS;
/// Days between the Julian day epoch and the Unix epoch.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// The game-local day number (days since 1970-01-01 in the game's time zone).
pub fn game_day(now: Millis, utc_offset_minutes: i64) -> i64 {
    (now as i64 + utc_offset_minutes * 60_000).div_euclid(DAY_MS as i64)
}

/// The instant a game-local day starts.
pub fn day_start(day: i64, utc_offset_minutes: i64) -> Millis {
    (day * DAY_MS as i64 - utc_offset_minutes * 60_000).max(0) as Millis
}

/// A number that changes exactly when the game-local calendar month changes.
pub fn month_key(day: i64) -> i32 {
    let julian = i32::try_from(day + UNIX_EPOCH_JULIAN_DAY).unwrap_or(i32::MAX);
    let date = time::Date::from_julian_day(julian).unwrap_or(time::Date::MAX);
    date.year() * 12 + i32::from(u8::from(date.month())) - 1
}

/// A number that changes exactly at Monday 00:00 game-local time.
pub fn week_key(day: i64) -> i64 {
    // 1970-01-01 was a Thursday, so Monday is day -3 of week 0.
    (day + 3).div_euclid(7)
}

/// When a ball created at `created` by an action of `rule` ripens: the next morning at
/// `ripen.hour` game-local time, or `ripen_after_minutes` after creation.
pub fn ripe_at(created: Millis, rule: &ActionRule, config: &Config) -> Millis {
    match rule.ripen_after_minutes {
        Some(minutes) => created + minutes * 60_000,
        None => {
            let offset = config.day.utc_offset_minutes;
            day_start(game_day(created, offset) + 1, offset)
                + u64::from(config.ripen.hour) * HOUR_MS
        }
    }
}

/// When a ball that ripens at `ripe_at` expires.
pub fn expires_at(ripe_at: Millis, config: &Config) -> Millis {
    ripe_at + config.ripen.ball_ttl_hours * HOUR_MS
}

/// The virtual tree's stage for an energy balance.
pub fn tree_stage(energy: u64, config: &Config) -> TreeStage {
    let cheapest = config
        .catalog
        .first()
        .map_or(u64::MAX, |species| species.grams);
    if energy < config.tree.seed_below {
        TreeStage::Seed
    } else if energy < config.tree.sprout_below {
        TreeStage::Sprout
    } else if energy < cheapest {
        TreeStage::Sapling
    } else {
        TreeStage::Tree
    }
}

/// How one kind's caps stand today and this month for one player.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KindUsage {
    /// Credited actions today (count kinds).
    pub today: u32,
    /// Credited actions this month (count kinds).
    pub this_month: u32,
    /// The highest cumulative step count reported today (step kinds).
    pub steps_today: u64,
    /// Grams credited today (step kinds).
    pub grams_today: u64,
}

/// What a green action report earns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionCredit {
    /// Credit `grams` into a ball; `usage` is the kind's usage afterwards.
    Credit {
        /// Grams for the ball.
        grams: u64,
        /// Usage after the credit.
        usage: KindUsage,
    },
    /// Accepted with nothing credited: a cap was reached or the step count did not grow.
    Nothing {
        /// Usage afterwards (a capped count action still counts as seen).
        usage: KindUsage,
    },
}

/// Decides what a report of `quantity` earns, given the kind's usage so far today and
/// this month. Refuses implausible step counts and quantities other than 1 for count
/// kinds with `BAD_REQUEST`.
pub fn credit_action(
    rule: &ActionRule,
    usage: &KindUsage,
    quantity: Option<u64>,
) -> Result<ActionCredit, ErrorBody> {
    let mut after = usage.clone();
    if let Some(steps_per_gram) = rule.steps_per_gram {
        let steps = quantity.ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::BadRequest,
                "`quantity` (the day's step count) is required",
            )
        })?;
        if let Some(max) = rule.max_steps_per_day
            && steps > max
        {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!("{steps} steps in a day is implausible (the limit is {max})"),
            ));
        }
        if steps <= usage.steps_today {
            return Ok(ActionCredit::Nothing { usage: after });
        }
        after.steps_today = steps;
        let earned = (steps / steps_per_gram).min(rule.daily_cap_grams.unwrap_or(u64::MAX));
        let grams = earned.saturating_sub(usage.grams_today);
        after.grams_today = usage.grams_today + grams;
        return Ok(if grams == 0 {
            ActionCredit::Nothing { usage: after }
        } else {
            ActionCredit::Credit {
                grams,
                usage: after,
            }
        });
    }
    match quantity {
        None | Some(1) => {}
        Some(other) => {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!("`quantity` must be 1 for this kind, not {other}"),
            ));
        }
    }
    let over_day = rule.daily_cap.is_some_and(|cap| usage.today >= cap);
    let over_month = rule.monthly_cap.is_some_and(|cap| usage.this_month >= cap);
    if over_day || over_month {
        return Ok(ActionCredit::Nothing { usage: after });
    }
    after.today += 1;
    after.this_month += 1;
    Ok(ActionCredit::Credit {
        grams: rule.grams.unwrap_or(0),
        usage: after,
    })
}

/// Grams a thief could still take from a ball, before the thief's own daily cap: the
/// ball gives up at most `1 - owner_keeps` of its full amount to thieves.
pub fn stealable_grams(full: u64, stolen: u64, left: u64, steal: &StealConfig) -> u64 {
    // Rounded down, but not below a whole number that floating point misses by a hair:
    // 90 · (1 − 0.3) is 62.999…, and the thieves' share of 90 g is 63 g.
    let exact = full as f64 * (1.0 - steal.owner_keeps);
    let thieves_share = (exact * (1.0 + 1e-12)).floor() as u64;
    thieves_share.saturating_sub(stolen).min(left)
}

/// The grams one hit takes: `share` of the full amount (rounded down, at least 1 g),
/// never past the ball's stealable grams nor the thief's remaining daily allowance.
pub fn steal_hit_grams(full: u64, share: f64, stealable: u64, allowance: u64) -> u64 {
    let take = ((full as f64 * share).floor() as u64).max(1);
    take.min(stealable).min(allowance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config() -> Config {
        Config::default_embedded()
    }

    const BEIJING: i64 = 480;

    #[test]
    fn game_days_follow_the_configured_time_zone() {
        // 2026-11-25 15:59:59 UTC is 23:59:59 in UTC+8; one second later is the next day.
        let before = 1_795_622_399_000;
        assert_eq!(
            game_day(before + 1000, BEIJING),
            game_day(before, BEIJING) + 1
        );
        assert_eq!(game_day(before + 1000, 0), game_day(before, 0));
        assert_eq!(
            day_start(game_day(before, BEIJING) + 1, BEIJING),
            before + 1000
        );
    }

    #[test]
    fn balls_ripen_next_morning_at_seven_local() {
        let config = config();
        let walk = config.action("walk").expect("walk");
        // 2026-11-25 01:00 local (17:00 UTC on the 24th) → 2026-11-26 07:00 local.
        let created = 1_795_539_600_000;
        let expected = 1_795_647_600_000;
        assert_eq!(ripe_at(created, walk, &config), expected);
        // Late evening of the same local day ripens at the same moment.
        assert_eq!(ripe_at(created + 20 * HOUR_MS, walk, &config), expected);
        assert_eq!(expires_at(expected, &config), expected + 72 * HOUR_MS);
    }

    #[test]
    fn ripen_after_minutes_replaces_next_morning() {
        let config = config();
        let mut rule = config.action("metro").expect("metro").clone();
        rule.ripen_after_minutes = Some(30);
        assert_eq!(ripe_at(1_000, &rule, &config), 1_000 + 30 * 60_000);
    }

    #[test]
    fn months_and_weeks_roll_on_the_calendar() {
        // Game day 20_423 is 2025-12-01 (a Monday).
        let dec_first = 20_423;
        assert_eq!(month_key(dec_first), month_key(dec_first + 30));
        assert_ne!(month_key(dec_first - 1), month_key(dec_first));
        assert_ne!(week_key(dec_first - 1), week_key(dec_first));
        assert_eq!(week_key(dec_first), week_key(dec_first + 6));
        assert_ne!(week_key(dec_first + 6), week_key(dec_first + 7));
    }

    #[test]
    fn tree_stages_follow_the_balance() {
        let config = config();
        assert_eq!(tree_stage(999, &config), TreeStage::Seed);
        assert_eq!(tree_stage(1_000, &config), TreeStage::Sprout);
        assert_eq!(tree_stage(5_000, &config), TreeStage::Sapling);
        assert_eq!(tree_stage(16_929, &config), TreeStage::Sapling);
        assert_eq!(tree_stage(16_930, &config), TreeStage::Tree);
    }

    #[test]
    fn walk_credits_one_gram_per_fifty_cumulative_steps_up_to_the_cap() {
        let config = config();
        let walk = config.action("walk").expect("walk");
        let credit = |usage: &KindUsage, steps| credit_action(walk, usage, Some(steps));
        let Ok(ActionCredit::Credit { grams, usage }) = credit(&KindUsage::default(), 10_000)
        else {
            panic!("10,000 steps credit energy");
        };
        assert_eq!(grams, 200);
        let Ok(ActionCredit::Credit { grams, usage }) = credit(&usage, 20_000) else {
            panic!("more steps credit the difference");
        };
        assert_eq!(grams, 96, "capped at 296 g a day");
        assert_eq!(usage.grams_today, 296);
        assert!(matches!(
            credit(&usage, 15_000),
            Ok(ActionCredit::Nothing { .. })
        ));
        assert!(matches!(
            credit(&usage, 30_000),
            Ok(ActionCredit::Nothing { .. })
        ));
        let err = credit(&usage, 100_001).expect_err("implausible");
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(
            credit_action(walk, &usage, None).is_err(),
            "steps are required"
        );
    }

    #[test]
    fn count_kinds_stop_crediting_at_their_daily_or_monthly_cap() {
        let config = config();
        let metro = config.action("metro").expect("metro");
        let mut usage = KindUsage::default();
        for _ in 0..5 {
            match credit_action(metro, &usage, Some(1)) {
                Ok(ActionCredit::Credit {
                    grams: 52,
                    usage: next,
                }) => usage = next,
                other => panic!("under the cap: {other:?}"),
            }
        }
        assert!(matches!(
            credit_action(metro, &usage, None),
            Ok(ActionCredit::Nothing { .. })
        ));
        let bill = config.action("utility_bill").expect("bill");
        let month_full = KindUsage {
            this_month: 10,
            ..KindUsage::default()
        };
        assert!(matches!(
            credit_action(bill, &month_full, None),
            Ok(ActionCredit::Nothing { .. })
        ));
        assert_eq!(
            credit_action(metro, &KindUsage::default(), Some(3)).map_err(|e| e.code),
            Err(ErrorCode::BadRequest)
        );
    }

    #[test]
    fn thieves_never_take_the_owners_kept_share() {
        let steal = config().steal;
        assert_eq!(stealable_grams(100, 0, 100, &steal), 70);
        assert_eq!(stealable_grams(100, 65, 35, &steal), 5);
        assert_eq!(stealable_grams(100, 70, 30, &steal), 0);
        for full in [90, 170, 180, 330, 700, 1_460, 2_620] {
            assert_eq!(
                stealable_grams(full, 0, full, &steal),
                full * 7 / 10,
                "70 % of {full} g is a whole number"
            );
        }
        assert_eq!(steal_hit_grams(100, 0.25, 5, 1_500), 5);
        assert_eq!(steal_hit_grams(3, 0.1, 2, 1_500), 1, "at least one gram");
        assert_eq!(
            steal_hit_grams(100, 0.3, 70, 7),
            7,
            "the thief's daily allowance caps it"
        );
    }

    proptest! {
        #[test]
        fn walk_never_exceeds_its_daily_cap(steps in proptest::collection::vec(0u64..=100_000, 1..30)) {
            let config = config();
            let walk = config.action("walk").expect("walk");
            let mut usage = KindUsage::default();
            let mut credited = 0;
            for s in steps {
                match credit_action(walk, &usage, Some(s)) {
                    Ok(ActionCredit::Credit { grams, usage: next }) => { credited += grams; usage = next; }
                    Ok(ActionCredit::Nothing { usage: next }) => usage = next,
                    Err(err) => prop_assert!(false, "{err}"),
                }
                prop_assert!(credited <= 296);
                prop_assert_eq!(credited, usage.grams_today);
                prop_assert_eq!(credited, (usage.steps_today / 50).min(296));
            }
        }

        #[test]
        fn repeated_steals_leave_the_owner_their_share(full in 1u64..100_000, shares in proptest::collection::vec(0.1f64..=0.3, 1..20)) {
            let steal = config().steal;
            let (mut stolen, mut left) = (0, full);
            for share in shares {
                let available = stealable_grams(full, stolen, left, &steal);
                if available == 0 { break; }
                let hit = steal_hit_grams(full, share, available, u64::MAX);
                prop_assert!(hit >= 1 && hit <= available);
                stolen += hit;
                left -= hit;
            }
            prop_assert!(left as f64 >= full as f64 * 0.3 - 1.0);
            prop_assert_eq!(stolen + left, full);
        }
    }
}
