//! Time. Everything in the domain reads "now" from a [`Clock`] so that tests can move time
//! forward (sliding expiry, guest lifetime, signature windows) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Unix seconds.
pub type Timestamp = i64;

/// The system clock plus an offset that only tests change.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> Timestamp {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        secs + self.offset_secs.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

fn datetime(ts: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap_or_default()
}

/// `2018-12-05T11:58:02Z`: the date format of every JSON date field.
pub fn iso8601(ts: Timestamp) -> String {
    date_time(ts, 'T', "Z")
}

/// `2023-08-25 13:29:29 UTC`: the `CB-Token-ExpirationDate` header format.
pub fn expiration_header(ts: Timestamp) -> String {
    date_time(ts, ' ', " UTC")
}

/// The date, `separator`, the time and `suffix`. Written out field by field: chrono's
/// `format` parses its pattern on every call, and a session's answer formats half a dozen
/// dates. Years outside four digits (never a stored time) take chrono's own form.
fn date_time(ts: Timestamp, separator: char, suffix: &str) -> String {
    let dt = datetime(ts);
    if !(0..=9999).contains(&dt.year()) {
        return dt.format(&format!("%Y-%m-%d{separator}%H:%M:%S{suffix}")).to_string();
    }
    format!(
        "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}{suffix}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_wire() {
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(expiration_header(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        // Outside four-digit years, chrono's own form (a sign and more digits).
        assert_eq!(iso8601(253_402_300_800), "+10000-01-01T00:00:00Z");
        assert_eq!(iso8601(i64::MAX), "1970-01-01T00:00:00Z", "out of chrono's range: the epoch");
    }

    #[test]
    fn advancing_moves_every_clone() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now();
        clock.advance(3600);
        assert!(other.now() >= before + 3600);
    }
}
