//! Cheap counting for frequent requests (user searches): each instance counts hits locally
//! and adds them to the shared DynamoDB counter a batch at a time (ten, or a tenth of a
//! smaller limit), so that nine searches in ten cost no write. A batch is written only when
//! all of it fits under the limit, and the searches counted towards it were answered before
//! it was written: the shared limit is thus exceeded by less than a batch per instance (at
//! most nine, and under a tenth of the limit). Once the counter refuses a batch, the
//! instance refuses that key itself until the window ends.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Timestamp;
use crate::store::rate::{Limit, RateDecision};
use crate::store::{Store, StoreError};

/// Hits counted locally before they are written, at most.
pub const BATCH: i64 = 10;

/// The batch for `limit`: [`BATCH`], or a tenth of a limit under a hundred (at least one), so
/// that what a batch can let through beyond the limit stays under a tenth of it.
fn batch_for(limit: &Limit) -> i64 {
    (limit.max / 10).clamp(1, BATCH)
}

/// A bound on memory: an instance seeing more keys than this starts counting afresh.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct Meter {
    keys: Mutex<HashMap<String, Tally>>,
}

#[derive(Default)]
struct Tally {
    pending: i64,
    refused_until: Timestamp,
}

enum Next {
    Allow,
    Refuse(Timestamp),
    Flush,
}

impl Meter {
    fn count(&self, key: &str, batch: i64, now: Timestamp) -> Next {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.len() >= CAPACITY && !keys.contains_key(key) {
            keys.clear();
        }
        let tally = keys.entry(key.to_string()).or_default();
        if tally.refused_until > now {
            return Next::Refuse(tally.refused_until);
        }
        tally.pending += 1;
        if tally.pending < batch {
            return Next::Allow;
        }
        tally.pending = 0;
        Next::Flush
    }

    fn refuse(&self, key: &str, until: Timestamp) {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.entry(key.to_string()).or_default().refused_until = until;
    }
}

impl Store {
    /// Counts one hit against `limit`, writing only every batch's last.
    pub async fn metered_hit(&self, limit: &Limit, now: Timestamp) -> Result<RateDecision, StoreError> {
        let batch = batch_for(limit);
        match self.meter.count(&limit.key, batch, now) {
            Next::Allow => Ok(RateDecision::Allowed),
            Next::Refuse(until) => Ok(RateDecision::Limited { retry_after_secs: (until - now).max(1) as u64 }),
            Next::Flush => {
                let decision = self.hit_n(std::slice::from_ref(limit), batch, now).await?;
                if let RateDecision::Limited { retry_after_secs } = decision {
                    self.meter.refuse(&limit.key, now + retry_after_secs as i64);
                }
                Ok(decision)
            }
        }
    }
}
