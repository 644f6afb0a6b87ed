//! Rate limits that hold across Lambda instances: fixed-window counters in DynamoDB, one
//! item per (key, window) with TTL. Several limits are checked and counted in one
//! transaction, so a request either counts against all of them or (when any is exhausted)
//! against none. Checks and counts can also ride in another transaction (a login's session
//! write, a signup), costing no round trip of their own.
//!
//! The account lockout is a different shape: one item per user whose count each attempt
//! takes a place in before its password is checked (a failure keeps it, a success gives it
//! back) and whose expiry each failure extends, so that a lock lasts its full duration after
//! the last failure whatever the clock says, and concurrent guesses cannot outrun it.

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

/// The outcome of asking for a place in an account's lockout count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockPlace {
    Taken,
    /// The account is locked; its count lapses in this many seconds.
    Locked {
        retry_after_secs: u64,
    },
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

/// The partition and sort key of `user_id`'s lockout item.
fn lock_key_parts(user_id: i64) -> (String, &'static str) {
    (format!("LOCK#{user_id}"), "#LOCK")
}

fn lock_key(user_id: i64) -> Item {
    let (pk, sk) = lock_key_parts(user_id);
    key(pk, sk)
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

    /// Takes a place in `user_id`'s lockout count for one password attempt, unless the
    /// account is locked (`lockout.max` places taken, the last failure within
    /// `lockout.window_secs`). A place counts as a failure until it is given back
    /// ([`Store::give_back_lock_place`]); a failure that keeps it moves the lock's end
    /// ([`Store::keep_lock_place`]), and nothing else does.
    ///
    /// Two conditional writes at most, each serialised by DynamoDB per item however many
    /// instances send them: a count that has lapsed (or none) starts again at one; a live one
    /// gains a place only while it has room. So no more attempts than the lockout allows ever
    /// get to a password check, however many arrive at once.
    pub async fn take_lock_place(&self, user_id: i64, lockout: Rate, now: Timestamp) -> Result<LockPlace, StoreError> {
        for _ in 0..3 {
            let (pk, sk) = lock_key_parts(user_id);
            let fresh = ItemBuilder::key(pk, sk).n("failures", 1).n("expires_at", now + lockout.window_secs).build();
            let mut restart = Tx::new();
            restart.put_new_or_expired(self.table(), fresh, now, Claim::Unchanged);
            match self.commit(restart).await {
                Err(e) if e.is_conflict_on(Claim::Unchanged) => {}
                other => return other.map(|()| LockPlace::Taken),
            }
            let add = Expr::new("ADD failures :one").value(":one", n(1));
            let room =
                Expr::new("expires_at > :now AND failures < :max").value(":now", n(now)).value(":max", n(lockout.max));
            let mut extend = Tx::new();
            extend.update(self.table(), lock_key(user_id), add, Some((room, Claim::Locked)));
            match self.commit(extend).await {
                Err(e) if e.is_conflict_on(Claim::Locked) => {
                    // Full, or lapsed between the two writes (then the next round restarts it).
                    if let Some(until) = self.lock_end(user_id, now).await? {
                        return Ok(LockPlace::Locked { retry_after_secs: (until - now).max(1) as u64 });
                    }
                }
                other => return other.map(|()| LockPlace::Taken),
            }
        }
        Ok(LockPlace::Locked { retry_after_secs: lockout.window_secs.max(1) as u64 })
    }

    /// When `user_id`'s lockout count lapses, if it is still running at `now`.
    async fn lock_end(&self, user_id: i64, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        use crate::store::item::ItemExt;
        let item = self.get(lock_key(user_id)).await?;
        Ok(item.and_then(|item| item.int("expires_at")).filter(|until| *until > now))
    }

    /// Keeps a place as a failure at `now`: the count runs on until `lockout.window_secs`
    /// after it. Best effort: a failure here shortens a lock, it never grants a check.
    pub async fn keep_lock_place(&self, user_id: i64, lockout: Rate, now: Timestamp) {
        let until = now + lockout.window_secs;
        let set = Expr::new("SET expires_at = :until").value(":until", n(until));
        let later = Expr::new("attribute_exists(failures) AND expires_at < :until").value(":until", n(until));
        let mut tx = Tx::new();
        tx.update(self.table(), lock_key(user_id), set, Some((later, Claim::Unchanged)));
        match self.commit(tx).await {
            // Unlocked by a reset meanwhile, or already running as long.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(error) => tracing::warn!(error = %error, "recording a failed login in the lockout failed"),
        }
    }

    /// Gives back a place taken by [`Store::take_lock_place`] (the attempt did not fail).
    /// Best effort: a place not given back counts as a failure, which errs towards locking.
    pub async fn give_back_lock_place(&self, user_id: i64) {
        let minus = Expr::new("ADD failures :minus").value(":minus", n(-1));
        let taken = Expr::new("failures > :zero").value(":zero", n(0));
        let mut tx = Tx::new();
        tx.update(self.table(), lock_key(user_id), minus, Some((taken, Claim::Unchanged)));
        match self.commit(tx).await {
            // Unlocked (a reset) or lapsed and restarted meanwhile: nothing of ours to give back.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(error) => tracing::warn!(error = %error, "giving back a lockout place failed"),
        }
    }

    /// Adds to `tx` the removal of `user_id`'s lockout (a password reset unlocks).
    pub fn tx_unlock(&self, tx: &mut Tx, user_id: i64) {
        tx.delete(self.table(), lock_key(user_id));
    }
}
