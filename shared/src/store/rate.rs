//! Rate limits that hold across Lambda instances: fixed-window counters in DynamoDB, one
//! item per (key, window) with TTL. Several limits are checked and counted in one
//! transaction, so a request either counts against all of them or (when any is exhausted)
//! against none.

use crate::clock::Timestamp;
use crate::store::item::{key, n};
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

impl Limit {
    fn window_start(&self, now: Timestamp) -> Timestamp {
        now - now.rem_euclid(self.window_secs.max(1))
    }
}

impl Store {
    /// Counts one hit against every limit, unless any of them is exhausted.
    pub async fn hit(&self, limits: &[Limit], now: Timestamp) -> Result<RateDecision, StoreError> {
        let mut tx = Tx::new();
        for limit in limits {
            let start = limit.window_start(now);
            let item = key(format!("RATE#{}#{start}", limit.key), "#RATE");
            // The counter lives one window past its end, then TTL collects it.
            let set = Expr::new("ADD hits :one SET expires_at = :exp")
                .value(":one", n(1))
                .value(":exp", n(start + 2 * limit.window_secs));
            let room = Expr::new("attribute_not_exists(hits) OR hits < :max").value(":max", n(limit.max));
            tx.update(self.table(), item, set, Some((room, Claim::RateLimit)));
        }
        match self.commit(tx).await {
            Ok(()) => Ok(RateDecision::Allowed),
            Err(e) if e.is_conflict_on(Claim::RateLimit) => {
                let retry = limits.iter().map(|l| l.window_start(now) + l.window_secs - now).max().unwrap_or(1);
                Ok(RateDecision::Limited { retry_after_secs: retry.max(1) as u64 })
            }
            Err(e) => Err(e),
        }
    }
}
