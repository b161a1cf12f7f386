//! Time as text: parsing durations typed by people (`1d`, `3h`, `1h30m`, `5000ms`) and
//! showing game-clock milliseconds as game-local dates and countdowns.
//!
//! Game time is milliseconds since the Unix epoch. The game day runs in a fixed UTC
//! offset (Canopy's default is UTC+8); the server does not publish it, so the CLI takes
//! it as a flag and uses the same default.

use canopy_shared::Millis;

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Parses a duration such as `1d`, `3h`, `90m`, `45s`, `5000ms` or `1h30m` into
/// milliseconds. Every number needs a unit; the total must be above zero.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a duration is needed, such as 1d, 3h, 90m, 45s or 5000ms".into());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number at `{rest}` (e.g. 1d, 3h, 90m, 5000ms)"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{}` is too large", &rest[..digits]))?;
        rest = &rest[digits..];
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ms" => 1,
            "s" => SECOND,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "" => {
                return Err(format!(
                    "`{text}` needs a unit after {number}: ms, s, m, h or d (e.g. {number}ms)"
                ));
            }
            other => {
                return Err(format!(
                    "`{other}` is not a time unit: use ms, s, m, h or d"
                ));
            }
        };
        total = number
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    if total == 0 {
        return Err("the duration must be longer than 0".into());
    }
    Ok(total)
}

/// A duration in the largest two units that matter: `1d 7h`, `21h 0m`, `4m 30s`, `250ms`.
pub fn format_duration(ms: u64) -> String {
    if ms >= DAY {
        format!("{}d {}h", ms / DAY, ms % DAY / HOUR)
    } else if ms >= HOUR {
        format!("{}h {}m", ms / HOUR, ms % HOUR / MINUTE)
    } else if ms >= MINUTE {
        format!("{}m {}s", ms / MINUTE, ms % MINUTE / SECOND)
    } else if ms >= SECOND {
        format!("{}s", ms / SECOND)
    } else {
        format!("{ms}ms")
    }
}

/// Year, month and day of a day count since 1970-01-01 (proleptic Gregorian calendar;
/// Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Game-local time: milliseconds since the epoch shifted by the UTC offset.
fn local_ms(ms: Millis, utc_offset_minutes: i32) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_add(i64::from(utc_offset_minutes) * 60_000)
}

/// The game-local date, `2026-11-25`.
pub fn local_date(ms: Millis, utc_offset_minutes: i32) -> String {
    let local = local_ms(ms, utc_offset_minutes);
    let (year, month, day) = civil_from_days(local.div_euclid(DAY as i64));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The game-local date and time to the minute, `2026-11-25 07:00`.
pub fn local_datetime(ms: Millis, utc_offset_minutes: i32) -> String {
    let local = local_ms(ms, utc_offset_minutes);
    let in_day = local.rem_euclid(DAY as i64) as u64;
    format!(
        "{} {:02}:{:02}",
        local_date(ms, utc_offset_minutes),
        in_day / HOUR,
        in_day % HOUR / MINUTE
    )
}

/// `2026-11-26 07:00 (in 21h 0m)` when `now` is known and `at` is ahead, else the date.
pub fn when(at: Millis, now: Option<Millis>, utc_offset_minutes: i32) -> String {
    let date = local_datetime(at, utc_offset_minutes);
    match now {
        Some(now) if at > now => format!("{date} (in {})", format_duration(at - now)),
        _ => date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration_ms("1d"), Ok(DAY));
        assert_eq!(parse_duration_ms("3h"), Ok(3 * HOUR));
        assert_eq!(parse_duration_ms("90m"), Ok(90 * MINUTE));
        assert_eq!(parse_duration_ms("45s"), Ok(45 * SECOND));
        assert_eq!(parse_duration_ms("5000ms"), Ok(5_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(90 * MINUTE));
        assert_eq!(parse_duration_ms("1d7h"), Ok(31 * HOUR));
        assert_eq!(parse_duration_ms(" 2s "), Ok(2_000));
    }

    #[test]
    fn durations_refuse_what_is_unclear() {
        for bad in [
            "",
            "5000",
            "1x",
            "h",
            "1.5h",
            "-1h",
            "0s",
            "1h-",
            "99999999999999999999d",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} should be refused");
        }
        let message = parse_duration_ms("5000").expect_err("no unit");
        assert!(message.contains("5000ms"), "{message}");
        assert!(parse_duration_ms(&format!("{}d", u64::MAX / DAY + 1)).is_err());
    }

    #[test]
    fn durations_format_in_two_units() {
        assert_eq!(format_duration(31 * HOUR), "1d 7h");
        assert_eq!(format_duration(21 * HOUR), "21h 0m");
        assert_eq!(format_duration(4 * MINUTE + 30 * SECOND), "4m 30s");
        assert_eq!(format_duration(12 * SECOND), "12s");
        assert_eq!(format_duration(250), "250ms");
    }

    #[test]
    fn dates_in_game_local_time() {
        // 2026-11-25 00:00 at UTC+8 is 2026-11-24 16:00 UTC.
        let start = 1_795_536_000_000;
        assert_eq!(local_date(start, 480), "2026-11-25");
        assert_eq!(local_datetime(start, 480), "2026-11-25 00:00");
        assert_eq!(local_datetime(start, 0), "2026-11-24 16:00");
        assert_eq!(local_datetime(start + 31 * HOUR, 480), "2026-11-26 07:00");
        assert_eq!(local_datetime(0, 0), "1970-01-01 00:00");
        assert_eq!(local_datetime(0, -60), "1969-12-31 23:00");
        // A leap day.
        assert_eq!(local_date(1_709_164_800_000, 0), "2024-02-29");
    }

    #[test]
    fn when_counts_down_only_to_the_future() {
        let start = 1_795_536_000_000;
        assert_eq!(
            when(start + 31 * HOUR, Some(start + 10 * HOUR), 480),
            "2026-11-26 07:00 (in 21h 0m)"
        );
        assert_eq!(when(start, Some(start + 1), 480), "2026-11-25 00:00");
        assert_eq!(when(start, None, 480), "2026-11-25 00:00");
    }
}
