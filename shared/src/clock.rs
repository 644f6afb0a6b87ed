//! Time. Everything in the domain reads "now" from a [`Clock`] so that tests can move time
//! forward (sliding expiry, guest lifetime, signature windows) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

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
    datetime(ts).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2023-08-25 13:29:29 UTC`: the `CB-Token-ExpirationDate` header format.
pub fn expiration_header(ts: Timestamp) -> String {
    datetime(ts).format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_wire() {
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(expiration_header(1_700_000_000), "2023-11-14 22:13:20 UTC");
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
