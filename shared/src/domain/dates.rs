//! Dates as clients send them in search filters: ISO-8601, Unix seconds (or milliseconds),
//! and the text of a JavaScript `Date` (`String(date)`, which SDK 6 sends when an app passes a
//! `Date` object, contract §2.3).

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::clock::Timestamp;

/// The dates we accept: years 1 to 9999 (what ISO-8601 and every SDK can write), so that
/// no arithmetic on a date can overflow.
const MIN_DATE: Timestamp = -62_135_596_800;
const MAX_DATE: Timestamp = 253_402_300_799;

/// Unix seconds for a date in any accepted form, between years 1 and 9999.
pub fn parse_date(text: &str) -> Option<Timestamp> {
    parse_any(text).filter(|seconds| (MIN_DATE..=MAX_DATE).contains(seconds))
}

fn parse_any(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(number) = text.parse::<f64>() {
        if !number.is_finite() {
            return None;
        }
        // Beyond year 5000 in seconds, the number is milliseconds (`Date.getTime()`).
        let seconds = if number.abs() > 100_000_000_000.0 { number / 1000.0 } else { number };
        return Some(seconds.floor() as i64);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp());
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(text) {
        return Some(dt.timestamp());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(dt.and_utc().timestamp());
        }
    }
    for format in ["%Y-%m-%d", "%Y.%m.%d"] {
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp());
        }
    }
    // `Fri Nov 10 2017 00:00:00 GMT+0000 (Coordinated Universal Time)`
    let without_zone_name = text.split(" (").next().unwrap_or(text);
    DateTime::parse_from_str(without_zone_name, "%a %b %d %Y %H:%M:%S GMT%z").ok().map(|dt| dt.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_10_2017: i64 = 1_510_272_000;

    #[test]
    fn every_accepted_form_gives_the_same_instant() {
        for text in [
            "2017-11-10T00:00:00Z",
            "2017-11-10T02:00:00+02:00",
            "2017-11-10T00:00:00.000Z",
            "2017-11-10T00:00:00",
            "2017-11-10 00:00:00",
            "2017-11-10",
            "2017.11.10",
            "1510272000",
            "1510272000000",
            "Fri Nov 10 2017 00:00:00 GMT+0000 (Coordinated Universal Time)",
            "Fri Nov 10 2017 01:00:00 GMT+0100 (Central European Standard Time)",
            "Fri, 10 Nov 2017 00:00:00 GMT",
        ] {
            assert_eq!(parse_date(text), Some(NOV_10_2017), "{text}");
        }
    }

    #[test]
    fn nonsense_is_not_a_date() {
        for text in ["", "tomorrow", "2017-13-45", "NaN", "inf"] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }

    #[test]
    fn dates_beyond_the_calendar_are_refused() {
        for text in [
            "1e300",
            "-1e300",
            "9223372036854775807",
            "-9223372036854775808",
            "253402300800000",
            "-62135596801",
            "1e20",
        ] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }
}
