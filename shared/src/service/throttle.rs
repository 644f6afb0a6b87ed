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
//!
//! The optional account lockout is a fourth place of the same kind, in the account's lockout
//! count ([`Store::take_lock_place`](crate::store::Store::take_lock_place)): a locked account
//! is refused before its password is checked, on every path, and a burst of guesses cannot
//! get more checks than the lockout allows by arriving at once.

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::limits::{Rate, source_key};
use crate::domain::user::UniqueField;
use crate::error::ApiError;
use crate::store::rate::{Limit, LockPlace, RateDecision, digest_key, retry_after};
use crate::store::{Claim, StoreError};

pub struct LoginThrottle {
    limits: [Limit; 3],
    /// The account and its lockout, when the application has one and the name is a user's.
    lockout: Option<(i64, Rate)>,
}

/// One attempt's places in the login limits (and the account's lockout).
#[must_use = "a login releases its reservation, or keeps it as a failure"]
pub struct Reservation {
    limits: [Limit; 3],
    /// The user whose lockout count holds a place, and the lockout.
    lock_place: Option<(i64, Rate)>,
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
            lockout: limits.lockout.zip(user_id).map(|(rate, id)| (id, rate)),
        }
    }

    /// Takes this attempt's place in every limit and in the account's lockout, or answers
    /// 429 (holding none) when any is exhausted. Each counter is its own conditional update,
    /// not one transaction: updates of one item from many instances queue up in DynamoDB,
    /// where transactions would cancel each other.
    pub async fn reserve(&self, deps: &Deps, now: Timestamp) -> Result<Reservation, ApiError> {
        let [a, b, c] = &self.limits;
        let store = &deps.store;
        let lock = async {
            match self.lockout {
                Some((user_id, rate)) => store.take_lock_place(user_id, rate, now).await.map(Some),
                None => Ok(None),
            }
        };
        // Boxed: four SDK calls side by side would make every login's future (and stack) large.
        let (ra, rb, rc, locked) = tokio::join!(
            Box::pin(store.hit(std::slice::from_ref(a), now)),
            Box::pin(store.hit(std::slice::from_ref(b), now)),
            Box::pin(store.hit(std::slice::from_ref(c), now)),
            Box::pin(lock),
        );
        let outcomes = [ra, rb, rc];
        let lock_place = match &locked {
            Ok(Some(LockPlace::Taken)) => self.lockout,
            _ => None,
        };
        let lock_ok = matches!(locked, Ok(None) | Ok(Some(LockPlace::Taken)));
        if lock_ok && outcomes.iter().all(|o| matches!(o, Ok(RateDecision::Allowed))) {
            return Ok(Reservation { limits: self.limits.clone(), lock_place, now });
        }
        let taken = |i: usize| matches!(outcomes[i], Ok(RateDecision::Allowed)).then(|| &self.limits[i]);
        Reservation::give_back(deps, [taken(0), taken(1), taken(2)], lock_place, now).await;
        let locked = locked?;
        let refused: Vec<Limit> = self
            .limits
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Ok(RateDecision::Limited { .. })))
            .map(|(limit, _)| limit.clone())
            .collect();
        if let Some(LockPlace::Locked { retry_after_secs }) = locked {
            let limits_retry = if refused.is_empty() { 0 } else { retry_after(&refused, now) };
            return Err(ApiError::TooManyRequests { retry_after_secs: retry_after_secs.max(limits_retry) });
        }
        if refused.is_empty() {
            let error = outcomes.into_iter().find_map(Result::err).expect("an outcome failed");
            return Err(error.into());
        }
        Err(ApiError::TooManyRequests { retry_after_secs: retry_after(&refused, now) })
    }

    /// The answer for a login whose transaction failed: 429 when a rate limit it carries
    /// refused it.
    pub fn refusal(&self, error: &StoreError, now: Timestamp) -> Option<ApiError> {
        if error.is_conflict_on(Claim::RateLimit) {
            return Some(ApiError::TooManyRequests { retry_after_secs: retry_after(&self.limits, now) });
        }
        None
    }
}

impl Reservation {
    /// The attempt was not a failure (the password matched, or it was refused for another
    /// reason before any verification was revealed): its places go back.
    pub async fn release(self, deps: &Deps) {
        let [a, b, c] = &self.limits;
        Reservation::give_back(deps, [Some(a), Some(b), Some(c)], self.lock_place, self.now).await;
    }

    /// The attempt failed: its places stay taken, counting the failure in every limit and in
    /// the account's lockout, whose lock then runs its full duration from now. Returns
    /// `answer`.
    pub async fn failed(self, deps: &Deps, answer: ApiError) -> ApiError {
        if let Some((user_id, lockout)) = self.lock_place {
            deps.store.keep_lock_place(user_id, lockout, deps.clock.now()).await;
        }
        answer
    }

    /// Gives back the places of `limits` and the lockout place of `lock_place`, taken at
    /// `now`, all at once.
    async fn give_back(deps: &Deps, limits: [Option<&Limit>; 3], lock_place: Option<(i64, Rate)>, now: Timestamp) {
        let [a, b, c] = limits;
        let lock = async {
            if let Some((user_id, _)) = lock_place {
                Box::pin(deps.store.give_back_lock_place(user_id)).await;
            }
        };
        tokio::join!(refund_one(deps, a, now), refund_one(deps, b, now), refund_one(deps, c, now), lock);
    }
}

async fn refund_one(deps: &Deps, limit: Option<&Limit>, now: Timestamp) {
    if let Some(limit) = limit {
        Box::pin(deps.store.refund(limit, now)).await;
    }
}
