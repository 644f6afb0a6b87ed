//! DynamoDB storage: the one storage implementation, used against Amazon DynamoDB in
//! production, dynoxide in local mode and tests, and DynamoDB Local in the reference tests.
//!
//! Key layout: [`keys`]. Every multi-item write is one transaction ([`Tx`]) whose conditions
//! carry [`Claim`]s, so callers learn which guard failed.

mod app_cache;
pub mod apps;
pub mod blobs;
pub mod cursor;
pub mod ids;
pub mod import;
pub mod item;
pub mod keys;
pub mod listing;
pub mod meter;
pub mod prefetch;
pub mod rate;
pub mod resets;
pub mod schema;
pub mod sessions;
pub mod tx;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, TransactWriteItem};

use crate::error::ApiError;
pub use item::{Item, ItemBuilder, ItemExt};
pub use tx::{Claim, Expr, Tx};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Conditions failed: the claims whose guards did not hold.
    #[error("conditional write failed: {0:?}")]
    Conflict(Vec<Claim>),
    /// A stored item could not be read back into its type.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// DynamoDB failed, throttled or timed out.
    #[error("dynamodb: {0}")]
    Backend(String),
    /// A write named a key DynamoDB cannot store (see [`keys::fits`]); nothing was sent.
    #[error("key too long")]
    KeyTooLong,
}

impl StoreError {
    fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(err: SdkError<E, R>) -> Self {
        StoreError::Backend(DisplayErrorContext(err).to_string())
    }

    /// Whether a conflict includes `claim`.
    pub fn is_conflict_on(&self, claim: Claim) -> bool {
        matches!(self, StoreError::Conflict(claims) if claims.contains(&claim))
    }
}

impl From<StoreError> for ApiError {
    /// Unhandled store errors are dependency failures: 503, cause logged, never shown. A key
    /// too long to store is the client's value, not a failure: 422.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::KeyTooLong => ApiError::Unprocessable("A value is too long".into()),
            other => ApiError::unavailable(other),
        }
    }
}

/// DynamoDB's limit of keys in one `BatchGetItem`.
pub const MAX_BATCH_GET: usize = 100;

/// Keys a `BatchGetItem` leaves unprocessed (throttling) are asked for again this many times.
const UNPROCESSED_RETRIES: u32 = 8;

/// Transactions cancelled by a concurrent transaction on the same items are retried this
/// many times (they wrote nothing, so a retry is safe).
const CONFLICT_RETRIES: u32 = 6;

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: Arc<str>,
    ids: Arc<ids::IdBlocks>,
    apps: Arc<app_cache::AppCache>,
    meter: Arc<meter::Meter>,
    session_hints: Arc<prefetch::SessionHints>,
}

impl Store {
    pub fn new(client: Client, table: &str, id_block_size: i64) -> Self {
        Store {
            client,
            table: Arc::from(table),
            ids: Arc::new(ids::IdBlocks::new(id_block_size)),
            apps: Arc::default(),
            meter: Arc::default(),
            session_hints: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads one item with a strongly consistent read (a session or user written a moment
    /// ago must be visible to the very next request).
    ///
    /// A key DynamoDB could never store (a client's oversized value in it) finds nothing,
    /// without a request: DynamoDB would refuse it with a validation error.
    pub async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        if !keys::fits(&key) {
            return Ok(None);
        }
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::backend)?;
        Ok(out.item)
    }

    /// Reads many items in one round trip per 100 keys (strongly consistent), retrying
    /// unprocessed keys. Order of the result is unspecified. Keys DynamoDB could never store
    /// are left out (they find nothing).
    pub async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let keys: Vec<Item> = keys.into_iter().filter(keys::fits).collect();
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_BATCH_GET) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set"),
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .send()
                    .await
                    .map_err(StoreError::backend)?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(self.table()).unwrap_or_default());
                }
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(self.table()));
                attempt += 1;
                if pending.is_some() {
                    if attempt > UNPROCESSED_RETRIES {
                        // Throttled throughout: fail like any other overloaded read, not hang.
                        return Err(StoreError::Backend("keys left unprocessed after retries".into()));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(found)
    }

    /// Writes a transaction. A single action goes out as a plain conditional write (half the
    /// cost of a transaction, same guarantee); several go out as `TransactWriteItems`.
    /// A key too long for DynamoDB fails the whole write before anything is sent.
    pub async fn commit(&self, tx: Tx) -> Result<(), StoreError> {
        if !tx.keys().all(keys::fits) {
            return Err(StoreError::KeyTooLong);
        }
        match tx.actions.len() {
            0 => Ok(()),
            1 => {
                let action = tx.actions.into_iter().next().expect("one action");
                self.write_one(action.write, action.claim).await
            }
            _ => self.transact(tx).await,
        }
    }

    async fn transact(&self, tx: Tx) -> Result<(), StoreError> {
        let claims: Vec<Option<Claim>> = tx.actions.iter().map(|a| a.claim).collect();
        let writes: Vec<TransactWriteItem> = tx.actions.into_iter().map(|a| a.write).collect();
        let mut attempt = 0;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(writes.clone())).send().await;
            let Err(err) = result else { return Ok(()) };
            let failed = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                    let reasons = cancel.cancellation_reasons();
                    let conflicting = reasons.iter().any(|r| r.code() == Some("TransactionConflict"));
                    let failed: Vec<Claim> = reasons
                        .iter()
                        .zip(&claims)
                        .filter(|(r, _)| r.code() == Some("ConditionalCheckFailed"))
                        .filter_map(|(_, claim)| *claim)
                        .collect();
                    if !failed.is_empty() {
                        return Err(StoreError::Conflict(failed));
                    }
                    conflicting
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
                _ => false,
            };
            attempt += 1;
            if !failed || attempt > CONFLICT_RETRIES {
                return Err(StoreError::backend(err));
            }
            backoff(attempt).await;
        }
    }

    async fn write_one(&self, write: TransactWriteItem, claim: Option<Claim>) -> Result<(), StoreError> {
        let conflict = || StoreError::Conflict(claim.into_iter().collect());
        if let Some(put) = write.put {
            let result = self
                .client
                .put_item()
                .table_name(put.table_name)
                .set_item(Some(put.item))
                .set_condition_expression(put.condition_expression)
                .set_expression_attribute_names(put.expression_attribute_names)
                .set_expression_attribute_values(put.expression_attribute_values)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    Err(conflict())
                }
                Err(e) => Err(StoreError::backend(e)),
            };
        }
        if let Some(delete) = write.delete {
            let result = self
                .client
                .delete_item()
                .table_name(delete.table_name)
                .set_key(Some(delete.key))
                .set_condition_expression(delete.condition_expression)
                .set_expression_attribute_names(delete.expression_attribute_names)
                .set_expression_attribute_values(delete.expression_attribute_values)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    Err(conflict())
                }
                Err(e) => Err(StoreError::backend(e)),
            };
        }
        if let Some(update) = write.update {
            let result = self
                .client
                .update_item()
                .table_name(update.table_name)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    Err(conflict())
                }
                Err(e) => Err(StoreError::backend(e)),
            };
        }
        // A lone condition check writes nothing; run it as a (one-item) transaction.
        let mut tx = Tx::new();
        tx.actions.push(tx::Action { write, claim });
        self.transact(tx).await
    }
}

/// Exponential backoff with "equal jitter": attempt n sleeps between half and all of
/// 10 ms × 2ⁿ (capped at 640 ms). The random half spreads out writers that collided, so
/// fifty losers of one race do not all retry in the same millisecond and collide again.
/// Also paces the use cases that retry an optimistic write from a fresh read.
pub async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let random = u64::from(u16::from_le_bytes(crate::crypto::random::random_bytes::<2>()));
    let jitter = random % (base / 2 + 1);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}
