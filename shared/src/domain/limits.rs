//! Abuse limits of an application: how many failed logins, signups and searches a source IP
//! (or an account) gets per window, and the optional account lockout. Counted in DynamoDB so
//! that they hold across Lambda instances (see `store::rate`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// How a source address is counted in per-IP limits: an IPv4 address (or an IPv4-mapped
/// IPv6 one) as itself, any other IPv6 address by its /64, since one subscriber commonly
/// holds a whole /64 and could otherwise rotate through 2⁶⁴ "addresses".
pub fn source_key(ip: Option<&str>) -> String {
    match ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        // API Gateway always gives an address; anything else shares one bucket.
        None => "unknown".to_string(),
    }
}

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
///
/// Failed logins are counted the way Auth0's brute-force protection counts them, so that an
/// anonymous attacker cannot keep a chosen user out: per account *and* source (the attacker's
/// own address runs out long before the owner's does), per source across accounts, and a
/// higher account-wide ceiling that only a distributed attack reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// Failed logins (wrong password or unknown user) from one source IP, any account.
    pub login_failures_per_ip: Rate,
    /// Failed logins on one account from one source IP.
    pub login_failures_per_account_ip: Rate,
    /// Failed logins on one account from anywhere: the ceiling.
    pub login_failures_per_account: Rate,
    /// Signups and guest sessions from one source IP.
    pub signups_per_ip: Rate,
    /// User searches (V2 and V1) from one source IP.
    pub searches_per_ip: Rate,
    /// Account lockout: `max` failed logins, each within `window_secs` of the previous one,
    /// lock the account until `window_secs` after the last; a password reset unlocks it.
    /// Off unless the application turns it on.
    pub lockout: Option<Rate>,
    /// Uploads (`POST /blobs`) per user per day: how many files, and how many bytes they may
    /// declare in all.
    pub uploads_per_user: UploadQuota,
}

/// A user's upload allowance per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadQuota {
    pub files: i64,
    pub bytes: i64,
}

pub const UPLOAD_QUOTA_WINDOW_SECS: i64 = 24 * 3600;
pub const DEFAULT_UPLOAD_QUOTA: UploadQuota = UploadQuota { files: 500, bytes: 10 * 1024 * 1024 * 1024 };

/// `FILES/BYTES`, e.g. `200/1073741824`: what the CLI takes and the application item stores.
impl FromStr for UploadQuota {
    type Err = String;

    fn from_str(text: &str) -> Result<UploadQuota, String> {
        let invalid = || format!("{text:?} is not FILES/BYTES per day (e.g. 200/1073741824)");
        let (files, bytes) = text.trim().split_once('/').ok_or_else(invalid)?;
        let files: i64 = files.trim().parse().map_err(|_| invalid())?;
        let bytes: i64 = bytes.trim().parse().map_err(|_| invalid())?;
        if files < 1 || bytes < 1 {
            return Err(format!("{text:?}: FILES and BYTES must be at least 1"));
        }
        Ok(UploadQuota { files, bytes })
    }
}

impl fmt::Display for UploadQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.files, self.bytes)
    }
}

pub const DEFAULT_LOGIN_FAILURES_PER_IP: Rate = Rate::new(30, 300);
pub const DEFAULT_LOGIN_FAILURES_PER_ACCOUNT_IP: Rate = Rate::new(10, 900);
pub const DEFAULT_LOGIN_FAILURES_PER_ACCOUNT: Rate = Rate::new(100, 3600);
pub const DEFAULT_SIGNUPS_PER_IP: Rate = Rate::new(30, 3600);
pub const DEFAULT_SEARCHES_PER_IP: Rate = Rate::new(1200, 60);

impl Default for AbuseLimits {
    fn default() -> Self {
        AbuseLimits {
            login_failures_per_ip: DEFAULT_LOGIN_FAILURES_PER_IP,
            login_failures_per_account_ip: DEFAULT_LOGIN_FAILURES_PER_ACCOUNT_IP,
            login_failures_per_account: DEFAULT_LOGIN_FAILURES_PER_ACCOUNT,
            signups_per_ip: DEFAULT_SIGNUPS_PER_IP,
            searches_per_ip: DEFAULT_SEARCHES_PER_IP,
            lockout: None,
            uploads_per_user: DEFAULT_UPLOAD_QUOTA,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_count_by_their_slash_64() {
        assert_eq!(source_key(Some("203.0.113.9")), "203.0.113.9");
        assert_eq!(source_key(Some("::ffff:203.0.113.9")), "203.0.113.9");
        let a = source_key(Some("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, source_key(Some("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(a, source_key(Some("2001:db8:1:3::1")));
        assert_eq!(source_key(Some("not an address")), "unknown");
        assert_eq!(source_key(None), "unknown");
    }

    #[test]
    fn rates_read_and_print_as_max_per_seconds() {
        let rate: Rate = " 30 / 300 ".parse().unwrap();
        assert_eq!(rate, Rate::new(30, 300));
        assert_eq!(rate.to_string(), "30/300");
    }

    #[test]
    fn upload_quotas_read_and_print_as_files_per_bytes() {
        let quota: UploadQuota = "5/1000".parse().unwrap();
        assert_eq!(quota, UploadQuota { files: 5, bytes: 1000 });
        assert_eq!(quota.to_string(), "5/1000");
        for text in ["", "5", "0/10", "5/0", "a/b"] {
            assert!(text.parse::<UploadQuota>().is_err(), "{text}");
        }
    }

    #[test]
    fn nonsensical_rates_are_refused() {
        for text in ["", "30", "0/60", "5/0", "-1/60", "5/999999999", "a/b", "5/60/2"] {
            assert!(text.parse::<Rate>().is_err(), "{text}");
        }
    }
}
