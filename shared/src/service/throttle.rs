//! Login throttling (ASVS 6.3.1): failed password logins count against the source IP and
//! the login or email they named, and, with the application's lockout on, against the
//! user. A login that would succeed is refused with 429 while any of those is exhausted, so
//! guessing stops paying off whatever the guesses are; a real user's next login after the
//! window goes through.
//!
//! The checks ride in the transaction that writes the session, costing no round trip of
//! their own; only a failure pays for its count.

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::limits::Rate;
use crate::domain::user::UniqueField;
use crate::error::ApiError;
use crate::store::rate::{Limit, RateDecision, digest_key, retry_after};
use crate::store::{Claim, StoreError, Tx};

pub struct LoginThrottle {
    limits: [Limit; 2],
    lockout: Option<Rate>,
}

impl LoginThrottle {
    /// The limits of a login naming `value` (a login or an email) from `ip`.
    pub fn new(app: &App, ip: Option<&str>, field: UniqueField, value: &str) -> LoginThrottle {
        let limits = &app.settings.limits;
        let ip = ip.unwrap_or("unknown");
        let account = digest_key(&format!("{}#{}", field.name(), field.normalise(value)));
        LoginThrottle {
            limits: [
                Limit::new(format!("login-ip#{}#{ip}", app.id), limits.login_failures_per_ip),
                Limit::new(format!("login-account#{}#{account}", app.id), limits.login_failures_per_account),
            ],
            lockout: limits.lockout,
        }
    }

    /// Adds to `tx` (the transaction that completes a login of `user_id`) the checks that no
    /// limit is exhausted and the account is not locked.
    pub fn guard(&self, deps: &Deps, tx: &mut Tx, user_id: i64, now: Timestamp) {
        for limit in &self.limits {
            deps.store.tx_check_room(tx, limit, now);
        }
        if let Some(lockout) = self.lockout {
            deps.store.tx_check_unlocked(tx, user_id, lockout, now);
        }
    }

    /// The answer for a login whose guarded transaction failed: 429 when a guard refused it.
    pub fn refusal(&self, error: &StoreError, now: Timestamp) -> Option<ApiError> {
        if error.is_conflict_on(Claim::RateLimit) {
            return Some(ApiError::TooManyRequests { retry_after_secs: retry_after(&self.limits, now) });
        }
        if error.is_conflict_on(Claim::Locked) {
            let retry = self.lockout.map_or(1, |l| l.window_secs.max(1) as u64);
            return Some(ApiError::TooManyRequests { retry_after_secs: retry });
        }
        None
    }

    /// Counts a failed attempt (on `user_id`'s lock too, when the login named a user) and
    /// returns what to answer: `answer`, or 429 once a limit is exhausted. Counting is
    /// best effort: a store failure here must not turn a wrong password into a 5xx.
    pub async fn failed(&self, deps: &Deps, user_id: Option<i64>, answer: ApiError, now: Timestamp) -> ApiError {
        let lock = async {
            if let (Some(user_id), Some(lockout)) = (user_id, self.lockout)
                && let Err(error) = deps.store.count_lock_failure(user_id, lockout, now).await
            {
                tracing::warn!(error = %error, "counting a failed login towards the lockout failed");
            }
        };
        let (decision, ()) = tokio::join!(deps.store.hit(&self.limits, now), lock);
        match decision {
            Ok(RateDecision::Limited { retry_after_secs }) => ApiError::TooManyRequests { retry_after_secs },
            Ok(RateDecision::Allowed) => answer,
            Err(error) => {
                tracing::warn!(error = %error, "counting a failed login failed");
                answer
            }
        }
    }
}
