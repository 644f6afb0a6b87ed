//! One embedded DynamoDB and what every path into it shares: each DynamoDB JSON request,
//! from the in-process client or the guarded port, is decoded into dynoxide's request type,
//! run, and its answer encoded, with repeated reads answered from [`crate::reads`] where
//! nothing but this dispatch can change the engine.
//!
//! It serves the operations cube-auth sends. Anything else, a request that is not a DynamoDB
//! JSON POST or a body that does not parse, gets a DynamoDB error. The body is decoded straight
//! into dynoxide's request types, without the checks its HTTP server runs first for hostile
//! clients (type pre-checks, per-operation validation wording): a malformed body can get a
//! `SerializationException` where DynamoDB words a `ValidationException`. Only the SDK writes
//! these requests, and the store does not branch on either.

use dynoxide::{Database, actions};
use hyper::body::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::reads::{Lookup, Read, ReadCache, is_read, written};

const TARGET_PREFIX: &str = "DynamoDB_20120810.";
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
pub(crate) const UNKNOWN_OPERATION: &str = r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#;

/// The engine and its kept reads.
#[derive(Clone)]
pub(crate) struct Engine {
    db: Database,
    /// `None` when something else reaches `db` (dynoxide's own server, in tests): a write
    /// that does not pass through [`Engine::answer`] would leave kept answers stale.
    reads: Option<ReadCache>,
}

impl Engine {
    /// An engine that only this crate's dispatch reaches (local mode): reads are kept.
    pub(crate) fn sole_path(db: Database) -> Engine {
        Engine { db, reads: Some(ReadCache::default()) }
    }

    /// An engine that dynoxide's own server also serves: every request runs on the engine.
    #[cfg(feature = "wire")]
    pub(crate) fn shared_with_its_server(db: Database) -> Engine {
        Engine { db, reads: None }
    }

    #[cfg(feature = "wire")]
    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    /// The status and body for a POST made of its `X-Amz-Target` and body.
    pub(crate) fn answer(&self, target: Option<&str>, body: &[u8]) -> (u16, Bytes) {
        let operation = target.and_then(|target| target.strip_prefix(TARGET_PREFIX));
        let Some(operation) = operation else {
            return (400, Bytes::from_static(UNKNOWN_OPERATION.as_bytes()));
        };
        let Some(reads) = &self.reads else {
            return run(&self.db, operation, body);
        };
        if let Some(read) = Read::of(operation, body) {
            return match reads.lookup(read) {
                Lookup::Hit(answer) => (200, answer),
                Lookup::Miss(pending) => {
                    let (status, answer) = run(&self.db, operation, body);
                    if status == 200 {
                        reads.store(pending, &answer);
                    }
                    (status, answer)
                }
            };
        }
        if is_read(operation) {
            return run(&self.db, operation, body);
        }
        // Anything else may change what the engine holds.
        let write = reads.begin_write(written(operation, body));
        let answered = run(&self.db, operation, body);
        write.finish();
        answered
    }

    /// Deletes items whose TTL has passed; kept reads go with them.
    pub(crate) fn sweep_expired(&self) -> usize {
        let Some(reads) = &self.reads else {
            return self.db.sweep_ttl().unwrap_or(0);
        };
        let sweep = reads.begin_write(None);
        let swept = self.db.sweep_ttl().unwrap_or(0);
        sweep.finish();
        swept
    }
}

/// The status and body the engine answers `operation` with.
fn run(db: &Database, operation: &str, body: &[u8]) -> (u16, Bytes) {
    match dispatch(db, operation, body) {
        Some(Ok(json)) => (200, Bytes::from(json)),
        Some(Err(error)) => (error.status_code(), Bytes::from(error.to_json())),
        None => (400, Bytes::from_static(UNKNOWN_OPERATION.as_bytes())),
    }
}

/// Runs one operation: the request body decoded into the engine's request type, the engine
/// called, its response encoded. `None` for an operation this transport does not serve.
fn dispatch(db: &Database, operation: &str, body: &[u8]) -> Option<dynoxide::Result<String>> {
    fn run<Req: DeserializeOwned, Resp: Serialize>(
        body: &[u8],
        call: impl FnOnce(Req) -> dynoxide::Result<Resp>,
    ) -> dynoxide::Result<String> {
        let request = serde_json::from_slice(body).map_err(|error| decode_error(&error))?;
        let response = call(request)?;
        serde_json::to_string(&response)
            .map_err(|error| dynoxide::DynoxideError::InternalServerError(error.to_string()))
    }
    Some(match operation {
        "GetItem" => run(body, |r: actions::get_item::GetItemRequest| db.get_item(r)),
        "PutItem" => run(body, |r: actions::put_item::PutItemRequest| db.put_item(r)),
        "UpdateItem" => run(body, |r: actions::update_item::UpdateItemRequest| db.update_item(r)),
        "DeleteItem" => run(body, |r: actions::delete_item::DeleteItemRequest| db.delete_item(r)),
        "Query" => run(body, |r: actions::query::QueryRequest| db.query(r)),
        "Scan" => run(body, |r: actions::scan::ScanRequest| db.scan(r)),
        "BatchGetItem" => run(body, |r: actions::batch_get_item::BatchGetItemRequest| db.batch_get_item(r)),
        "BatchWriteItem" => run(body, |r: actions::batch_write_item::BatchWriteItemRequest| db.batch_write_item(r)),
        "TransactWriteItems" => {
            run(body, |r: actions::transact_write_items::TransactWriteItemsRequest| db.transact_write_items(r))
        }
        "TransactGetItems" => {
            run(body, |r: actions::transact_get_items::TransactGetItemsRequest| db.transact_get_items(r))
        }
        "CreateTable" => run(body, |r: actions::create_table::CreateTableRequest| db.create_table(r)),
        "DescribeTable" => run(body, |r: actions::describe_table::DescribeTableRequest| db.describe_table(r)),
        "UpdateTable" => run(body, |r: actions::update_table::UpdateTableRequest| db.update_table(r)),
        "DeleteTable" => run(body, |r: actions::delete_table::DeleteTableRequest| db.delete_table(r)),
        "ListTables" => run(body, |r: actions::list_tables::ListTablesRequest| db.list_tables(r)),
        "UpdateTimeToLive" => {
            run(body, |r: actions::update_time_to_live::UpdateTimeToLiveRequest| db.update_time_to_live(r))
        }
        "DescribeTimeToLive" => {
            run(body, |r: actions::describe_time_to_live::DescribeTimeToLiveRequest| db.describe_time_to_live(r))
        }
        _ => return None,
    })
}

/// What DynamoDB answers a body its schema refuses: a missing field or a wrong value is a
/// validation error, anything else (not JSON, a wrong type) a serialization error.
fn decode_error(error: &serde_json::Error) -> dynoxide::DynoxideError {
    let message = error.to_string();
    if message.contains("missing field")
        || message.contains("unknown variant")
        || message.contains("invalid type: null")
    {
        dynoxide::DynoxideError::ValidationException(message)
    } else {
        dynoxide::DynoxideError::SerializationException(message)
    }
}
