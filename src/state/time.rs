//! Timestamps for state.json, without a date crate.

/// The current UTC time as RFC 3339 with nanoseconds, e.g. `2026-11-25T14:00:00.123456789Z`.
pub fn now_rfc3339() -> String {
    // CLOCK_REALTIME cannot fail with a valid clock id; the epoch is a harmless fallback.
    let (secs, nanos) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
        .map(|t| (t.tv_sec(), t.tv_nsec() as u32))
        .unwrap_or((0, 0));
    format_rfc3339(secs, nanos)
}

/// `secs` since the Unix epoch plus `nanos`, as RFC 3339 in UTC.
fn format_rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{nanos:09}Z")
}

/// The proleptic Gregorian date of the day `days` after 1970-01-01.
///
/// Counts in 400-year eras that start on March 1st, so that the leap day falls at the end
/// of a counted year and every era has the same 146097 days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // 0000-03-01 is 719468 days before the epoch.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 = March … 11 = February; 153 days per 5 months.
    let march_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * march_month + 2) / 5 + 1) as u32;
    let month = if march_month < 10 { march_month + 3 } else { march_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_timestamps() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(format_rfc3339(-1, 5), "1969-12-31T23:59:59.000000005Z");
        assert_eq!(format_rfc3339(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(format_rfc3339(951_868_799, 0), "2000-02-29T23:59:59.000000000Z");
        assert_eq!(format_rfc3339(4_107_542_400, 0), "2100-03-01T00:00:00.000000000Z");
        assert_eq!(format_rfc3339(1_795_615_200, 123_456_789), "2026-11-25T14:00:00.123456789Z");
        assert_eq!(format_rfc3339(253_402_300_799, 999_999_999), "9999-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn now_has_rfc3339_shape() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-11-25T14:00:00.123456789Z".len());
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
        assert!(now.as_str() > "2024");
    }
}
