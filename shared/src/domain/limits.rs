//! Abuse limits of an application: how many failed logins, signups and searches a source IP
//! (or an account) gets per window, and the optional account lockout. Counted in DynamoDB so
//! that they hold across Lambda instances (see `store::rate`).

use std::fmt;
use std::str::FromStr;

/// At most `max` events per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub max: i64,
    pub window_secs: i64,
}

impl Rate {
    pub const fn new(max: i64, window_secs: i64) -> Rate {
        Rate { max, window_secs }
    }
}

/// `MAX/SECS`, e.g. `30/300`: what the CLI takes and what the application item stores.
impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Rate, String> {
        let invalid = || format!("{text:?} is not MAX/SECONDS (e.g. 30/300)");
        let (max, window) = text.trim().split_once('/').ok_or_else(invalid)?;
        let max: i64 = max.trim().parse().map_err(|_| invalid())?;
        let window_secs: i64 = window.trim().parse().map_err(|_| invalid())?;
        if max < 1 || !(1..=7 * 24 * 3600).contains(&window_secs) {
            return Err(format!("{text:?}: MAX must be at least 1 and SECONDS between 1 and 604800"));
        }
        Ok(Rate { max, window_secs })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.max, self.window_secs)
    }
}

/// The limits of one application. The defaults stop online guessing and signup floods
/// without getting in a real user's way (ASVS 6.3.1/6.1.1: no more than 100 failed attempts
/// per hour on one account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// Failed logins (wrong password or unknown user) from one source IP.
    pub login_failures_per_ip: Rate,
    /// Failed logins naming one login or email, from anywhere.
    pub login_failures_per_account: Rate,
    /// Signups and guest sessions from one source IP.
    pub signups_per_ip: Rate,
    /// User searches (V2 and V1) from one source IP.
    pub searches_per_ip: Rate,
    /// Account lockout: `max` failed logins, each within `window_secs` of the previous one,
    /// lock the account until `window_secs` after the last; a password reset unlocks it.
    /// Off unless the application turns it on.
    pub lockout: Option<Rate>,
}

pub const DEFAULT_LOGIN_FAILURES_PER_IP: Rate = Rate::new(30, 300);
pub const DEFAULT_LOGIN_FAILURES_PER_ACCOUNT: Rate = Rate::new(10, 300);
pub const DEFAULT_SIGNUPS_PER_IP: Rate = Rate::new(30, 3600);
pub const DEFAULT_SEARCHES_PER_IP: Rate = Rate::new(1200, 60);

impl Default for AbuseLimits {
    fn default() -> Self {
        AbuseLimits {
            login_failures_per_ip: DEFAULT_LOGIN_FAILURES_PER_IP,
            login_failures_per_account: DEFAULT_LOGIN_FAILURES_PER_ACCOUNT,
            signups_per_ip: DEFAULT_SIGNUPS_PER_IP,
            searches_per_ip: DEFAULT_SEARCHES_PER_IP,
            lockout: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_and_print_as_max_per_seconds() {
        let rate: Rate = " 30 / 300 ".parse().unwrap();
        assert_eq!(rate, Rate::new(30, 300));
        assert_eq!(rate.to_string(), "30/300");
    }

    #[test]
    fn nonsensical_rates_are_refused() {
        for text in ["", "30", "0/60", "5/0", "-1/60", "5/999999999", "a/b", "5/60/2"] {
            assert!(text.parse::<Rate>().is_err(), "{text}");
        }
    }
}
