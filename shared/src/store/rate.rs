//! Rate limits that hold across Lambda instances: fixed-window counters in DynamoDB, one
//! item per (key, window) with TTL. Several limits are checked and counted in one
//! transaction, so a request either counts against all of them or (when any is exhausted)
//! against none. Checks and counts can also ride in another transaction (a login's session
//! write, a signup), costing no round trip of their own.
//!
//! The account lockout is a different shape: one item per user that each failure extends,
//! so that a lock lasts its full duration after the last failure whatever the clock says.

use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::domain::limits::Rate;
use crate::store::item::{Item, ItemBuilder, key, n};
use crate::store::{Claim, Expr, Store, StoreError, Tx};

/// One limit: at most `max` hits per `window_secs` for `key` (e.g. `reset-ip#203.0.113.9`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub max: i64,
    pub window_secs: i64,
}

/// The outcome of counting a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over a limit; retry after this many seconds (the end of the current window).
    Limited {
        retry_after_secs: u64,
    },
}

/// A short digest of a personal value (an email, a login) for use in a counter's key, so
/// that rate items never hold the value itself.
pub fn digest_key(value: &str) -> String {
    hex::encode(&Sha256::digest(value.as_bytes())[..16])
}

impl Limit {
    pub fn new(key: String, rate: Rate) -> Limit {
        Limit { key, max: rate.max, window_secs: rate.window_secs }
    }

    fn window_start(&self, now: Timestamp) -> Timestamp {
        now - now.rem_euclid(self.window_secs.max(1))
    }

    fn item_key(&self, now: Timestamp) -> Item {
        key(format!("RATE#{}#{}", self.key, self.window_start(now)), "#RATE")
    }

    fn room(&self) -> Expr {
        Expr::new("attribute_not_exists(hits) OR hits < :max").value(":max", n(self.max))
    }

    /// Seconds until this limit's window ends.
    fn retry_after(&self, now: Timestamp) -> i64 {
        self.window_start(now) + self.window_secs - now
    }
}

/// When to come back: the end of the longest of `limits`' current windows.
pub fn retry_after(limits: &[Limit], now: Timestamp) -> u64 {
    limits.iter().map(|l| l.retry_after(now)).max().unwrap_or(1).max(1) as u64
}

fn lock_key(user_id: i64) -> Item {
    key(format!("LOCK#{user_id}"), "#LOCK")
}

impl Store {
    /// Counts one hit against every limit, unless any of them is exhausted.
    pub async fn hit(&self, limits: &[Limit], now: Timestamp) -> Result<RateDecision, StoreError> {
        self.hit_n(limits, 1, now).await
    }

    /// Counts `hits` hits at once (a batch counted locally first), unless any limit has
    /// less than that left.
    pub async fn hit_n(&self, limits: &[Limit], hits: i64, now: Timestamp) -> Result<RateDecision, StoreError> {
        let mut tx = Tx::new();
        for limit in limits {
            self.tx_take(&mut tx, limit, hits, now);
        }
        match self.commit(tx).await {
            Ok(()) => Ok(RateDecision::Allowed),
            Err(e) if e.is_conflict_on(Claim::RateLimit) => {
                Ok(RateDecision::Limited { retry_after_secs: retry_after(limits, now) })
            }
            Err(e) => Err(e),
        }
    }

    /// Adds to `tx` the taking of `amount` of `limit`'s allowance, which fails the transaction
    /// with `Claim::RateLimit` unless that much is left (all of the transaction or none of it
    /// happens, so a refused request takes nothing).
    pub fn tx_take(&self, tx: &mut Tx, limit: &Limit, amount: i64, now: Timestamp) {
        let start = limit.window_start(now);
        let set = Expr::new("ADD hits :amount SET expires_at = :exp")
            .value(":amount", n(amount))
            .value(":exp", n(start + 2 * limit.window_secs));
        let room = Expr::new("attribute_not_exists(hits) OR hits <= :room").value(":room", n(limit.max - amount));
        tx.update(self.table(), limit.item_key(now), set, Some((room, Claim::RateLimit)));
    }

    /// Gives back `amount` of `limit` taken at `then` (in that window).
    pub async fn give_back(&self, limit: &Limit, amount: i64, then: Timestamp) -> Result<(), StoreError> {
        let start = limit.window_start(then);
        let set = Expr::new("ADD hits :minus SET expires_at = if_not_exists(expires_at, :exp)")
            .value(":minus", n(-amount))
            .value(":exp", n(start + 2 * limit.window_secs));
        let mut tx = Tx::new();
        tx.update(self.table(), limit.item_key(then), set, None);
        self.commit(tx).await
    }

    /// Gives back one hit of `limit` counted at `now` (the same window), as a plain update.
    /// Best effort: a refund that fails leaves the hit counted, which errs towards refusing.
    pub async fn refund(&self, limit: &Limit, now: Timestamp) {
        if let Err(error) = self.give_back(limit, 1, now).await {
            tracing::warn!(error = %error, "giving back a rate-limit hit failed");
        }
    }

    /// Adds to `tx` a check that `limit` has room, counting nothing.
    pub fn tx_check_room(&self, tx: &mut Tx, limit: &Limit, now: Timestamp) {
        tx.check(self.table(), limit.item_key(now), limit.room(), Claim::RateLimit);
    }

    /// Adds to `tx` a check that `user_id` is not locked out under `lockout`.
    pub fn tx_check_unlocked(&self, tx: &mut Tx, user_id: i64, lockout: Rate, now: Timestamp) {
        let open = Expr::new("attribute_not_exists(failures) OR failures < :max OR expires_at <= :now")
            .value(":max", n(lockout.max))
            .value(":now", n(now));
        tx.check(self.table(), lock_key(user_id), open, Claim::Locked);
    }

    /// Whether `user_id` is locked out under `lockout` now (for the paths whose write does not
    /// carry [`Store::tx_check_unlocked`]).
    pub async fn is_locked(&self, user_id: i64, lockout: Rate, now: Timestamp) -> Result<bool, StoreError> {
        let item = self.get(lock_key(user_id)).await?;
        Ok(item.is_some_and(|item| {
            use crate::store::item::ItemExt;
            item.int("failures").unwrap_or_default() >= lockout.max && item.int("expires_at").unwrap_or_default() > now
        }))
    }

    /// Records a failed login on `user_id`: the count goes on while failures come within
    /// the lockout duration of each other, and starts again after a quiet period.
    pub async fn count_lock_failure(&self, user_id: i64, lockout: Rate, now: Timestamp) -> Result<(), StoreError> {
        let expires = now + lockout.window_secs;
        let mut extend = Tx::new();
        let set = Expr::new("ADD failures :one SET expires_at = :exp").value(":one", n(1)).value(":exp", n(expires));
        let recent = Expr::new("expires_at > :now").value(":now", n(now));
        extend.update(self.table(), lock_key(user_id), set, Some((recent, Claim::Unchanged)));
        match self.commit(extend).await {
            Err(e) if e.is_conflict_on(Claim::Unchanged) => {
                let (pk, sk) = (format!("LOCK#{user_id}"), "#LOCK".to_string());
                let fresh = ItemBuilder::key(pk, sk).n("failures", 1).n("expires_at", expires).build();
                let mut restart = Tx::new();
                restart.put(self.table(), fresh);
                self.commit(restart).await
            }
            other => other,
        }
    }

    /// Adds to `tx` the removal of `user_id`'s lockout (a password reset unlocks).
    pub fn tx_unlock(&self, tx: &mut Tx, user_id: i64) {
        tx.delete(self.table(), lock_key(user_id));
    }
}
