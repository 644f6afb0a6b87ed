//! Integer ids. ConnectyCube ids are small integers (Android SDKs hold them in 32-bit
//! `Integer`s), so they come from atomic counters. To keep a round trip off every create,
//! each warm instance reserves a block of ids with one `ADD` and hands them out locally;
//! unused ids of a block are simply skipped when the instance ends.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::ReturnValue;
use tokio::sync::Mutex;

use crate::store::item::{ItemExt, key, n};
use crate::store::{Store, StoreError, keys};

pub struct IdBlocks {
    block_size: i64,
    /// Per counter: the next id to hand out and the last id of the reserved block.
    ranges: Mutex<HashMap<&'static str, (i64, i64)>>,
}

impl IdBlocks {
    pub fn new(block_size: i64) -> Self {
        IdBlocks { block_size: block_size.max(1), ranges: Mutex::new(HashMap::new()) }
    }
}

/// Counter names.
pub const USERS: &str = "users";
pub const SESSIONS: &str = "sessions";
pub const APPS: &str = "apps";

impl Store {
    /// The next id of `counter`. Costs a round trip only when the local block is used up.
    pub async fn next_id(&self, counter: &'static str) -> Result<i64, StoreError> {
        // Apps are few and listed by id range, so they are never reserved in blocks.
        let block = if counter == APPS { 1 } else { self.ids.block_size };
        let mut ranges = self.ids.ranges.lock().await;
        if let Some((next, last)) = ranges.get_mut(counter)
            && *next <= *last
        {
            let id = *next;
            *next += 1;
            return Ok(id);
        }
        let last = self.reserve(counter, block).await?;
        let first = last - block + 1;
        ranges.insert(counter, (first + 1, last));
        Ok(first)
    }

    /// Adds `count` to the counter and returns its new value (the last id reserved).
    async fn reserve(&self, counter: &str, count: i64) -> Result<i64, StoreError> {
        let (pk, sk) = keys::counter(counter);
        let out = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD #v :n")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":n", n(count))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::backend)?;
        out.attributes
            .and_then(|a| a.int("value"))
            .ok_or_else(|| StoreError::Corrupt(format!("counter {counter} returned no value")))
    }

    /// The highest id ever reserved for `counter` (0 when none).
    pub async fn counter_value(&self, counter: &str) -> Result<i64, StoreError> {
        let (pk, sk) = keys::counter(counter);
        Ok(self.get(key(pk, sk)).await?.and_then(|item| item.int("value")).unwrap_or(0))
    }
}
