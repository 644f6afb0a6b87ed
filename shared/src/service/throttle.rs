//! Login throttling (ASVS 6.3.1). Each password attempt counts against three limits of its
//! application, in the model Auth0 documents for brute-force protection:
//!
//! - the account from this source (`login_failures_per_account_ip`): a guesser's own address
//!   runs out, while the owner, logging in from an address with no failures, still gets in;
//! - this source across accounts (`login_failures_per_ip`): one address spraying many
//!   accounts;
//! - the account from anywhere (`login_failures_per_account`): a higher ceiling that only a
//!   distributed attack reaches (and that then keeps the owner out too, the trade-off the
//!   README describes).
//!
//! An account is its user id when the login or email names one, so guesses at its login and
//! at its email count as one account; a name with no account behind it counts by a digest.
//!
//! The attempt is counted *before* its outcome can be learned: [`LoginThrottle::reserve`]
//! takes a place in every counter with a conditional update (which DynamoDB serialises per
//! item, however many instances send them at once) while the password is being verified,
//! and no verification's result reaches the client without a place. A failure keeps its
//! place; a success gives it back ([`Reservation::release`]). So the failures answered per
//! window are at most the limit, with no slack, whatever the concurrency; a place taken by
//! an attempt that was then refused by another counter is given back at once (until then it
//! can refuse others: it errs towards refusing).

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::limits::{Rate, source_key};
use crate::domain::user::UniqueField;
use crate::error::ApiError;
use crate::store::rate::{Limit, RateDecision, digest_key, retry_after};
use crate::store::{Claim, StoreError, Tx};

pub struct LoginThrottle {
    limits: [Limit; 3],
    lockout: Option<Rate>,
}

/// One attempt's places in the login limits.
#[must_use = "a successful login releases its reservation"]
pub struct Reservation {
    limits: [Limit; 3],
    now: Timestamp,
}

impl LoginThrottle {
    /// The limits of a login from `ip` naming `value` (a login or an email), which belongs to
    /// `user_id` when a user has it.
    pub fn new(app: &App, ip: Option<&str>, field: UniqueField, value: &str, user_id: Option<i64>) -> LoginThrottle {
        let limits = &app.settings.limits;
        let source = source_key(ip);
        let account = match user_id {
            Some(id) => format!("user-{id}"),
            None => digest_key(&format!("{}#{}", field.name(), field.normalise(value))),
        };
        LoginThrottle {
            limits: [
                Limit::new(
                    format!("login-account-ip#{}#{account}#{source}", app.id),
                    limits.login_failures_per_account_ip,
                ),
                Limit::new(format!("login-ip#{}#{source}", app.id), limits.login_failures_per_ip),
                Limit::new(format!("login-account#{}#{account}", app.id), limits.login_failures_per_account),
            ],
            lockout: limits.lockout,
        }
    }

    /// Takes this attempt's place in every limit, or answers 429 (holding none) when any is
    /// exhausted. Each counter is its own conditional update, not one transaction: updates
    /// of one item from many instances queue up in DynamoDB, where transactions would cancel
    /// each other.
    pub async fn reserve(&self, deps: &Deps, now: Timestamp) -> Result<Reservation, ApiError> {
        let [a, b, c] = &self.limits;
        let store = &deps.store;
        // Boxed: three SDK calls side by side would make every login's future (and stack) large.
        let (ra, rb, rc) = tokio::join!(
            Box::pin(store.hit(std::slice::from_ref(a), now)),
            Box::pin(store.hit(std::slice::from_ref(b), now)),
            Box::pin(store.hit(std::slice::from_ref(c), now)),
        );
        let outcomes = [ra, rb, rc];
        if outcomes.iter().all(|o| matches!(o, Ok(RateDecision::Allowed))) {
            return Ok(Reservation { limits: self.limits.clone(), now });
        }
        let taken = |i: usize| matches!(outcomes[i], Ok(RateDecision::Allowed)).then(|| &self.limits[i]);
        refund(deps, [taken(0), taken(1), taken(2)], now).await;
        let refused: Vec<Limit> = self
            .limits
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Ok(RateDecision::Limited { .. })))
            .map(|(limit, _)| limit.clone())
            .collect();
        if refused.is_empty() {
            let error = outcomes.into_iter().find_map(Result::err).expect("an outcome failed");
            return Err(error.into());
        }
        Err(ApiError::TooManyRequests { retry_after_secs: retry_after(&refused, now) })
    }

    /// The 429 of a locked account, when the application has a lockout and `user_id` is
    /// locked now: a read, for the paths that answer before any guarded write (whose answer
    /// must not depend on the password while the lock holds).
    pub async fn lock_refusal(&self, deps: &Deps, user_id: Option<i64>, now: Timestamp) -> Result<(), ApiError> {
        let (Some(user_id), Some(lockout)) = (user_id, self.lockout) else { return Ok(()) };
        if deps.store.is_locked(user_id, lockout, now).await? {
            return Err(ApiError::TooManyRequests { retry_after_secs: lockout.window_secs.max(1) as u64 });
        }
        Ok(())
    }

    /// Adds to `tx` (the transaction that completes a login of `user_id`) the check that the
    /// account is not locked out.
    pub fn guard(&self, deps: &Deps, tx: &mut Tx, user_id: i64, now: Timestamp) {
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

    /// A failed attempt (its reservation stays counted): counts it towards `user_id`'s
    /// lockout when the application has one, and returns `answer`. Counting the lockout is
    /// best effort: a store failure here must not turn a wrong password into a 5xx.
    pub async fn failed(&self, deps: &Deps, user_id: Option<i64>, answer: ApiError, now: Timestamp) -> ApiError {
        if let (Some(user_id), Some(lockout)) = (user_id, self.lockout)
            && let Err(error) = deps.store.count_lock_failure(user_id, lockout, now).await
        {
            tracing::warn!(error = %error, "counting a failed login towards the lockout failed");
        }
        answer
    }
}

impl Reservation {
    /// The attempt was not a failure (the password matched, or it was refused for another
    /// reason before any verification was revealed): its places go back.
    pub async fn release(self, deps: &Deps) {
        let [a, b, c] = &self.limits;
        refund(deps, [Some(a), Some(b), Some(c)], self.now).await;
    }
}

/// Gives back the places of `limits` taken at `now`, all at once.
async fn refund(deps: &Deps, limits: [Option<&Limit>; 3], now: Timestamp) {
    let [a, b, c] = limits;
    tokio::join!(refund_one(deps, a, now), refund_one(deps, b, now), refund_one(deps, c, now));
}

async fn refund_one(deps: &Deps, limit: Option<&Limit>, now: Timestamp) {
    if let Some(limit) = limit {
        Box::pin(deps.store.refund(limit, now)).await;
    }
}
