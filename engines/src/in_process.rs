//! The embedded DynamoDB reached in process: an SDK `HttpClient` whose "connection" hands each
//! request's JSON body straight to dynoxide and wraps its answer as the HTTP response the
//! server would have written. The SDK above it is unchanged (the production client, its
//! serialisation, retries and error parsing); only the loopback TCP hop, the HTTP encoding on
//! both sides of it, and the server's request routing are gone.
//!
//! It serves the operations cube-auth sends. Anything else, a request that is not a DynamoDB
//! JSON POST or a body that does not parse, gets a DynamoDB error. The body is decoded straight
//! into dynoxide's request types, without the checks its HTTP server runs first for hostile
//! clients (type pre-checks, per-operation validation wording): a malformed body can get a
//! `SerializationException` where DynamoDB words a `ValidationException`. Only the SDK writes
//! these requests, and the store does not branch on either.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use dynoxide::actions;
use serde::Serialize;
use serde::de::DeserializeOwned;

const TARGET_PREFIX: &str = "DynamoDB_20120810.";
pub(crate) const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const UNKNOWN_OPERATION: &str = r#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#;
const INTERNAL_STREAMED_BODY: &str =
    r#"{"__type":"com.amazon.coral.service#InternalServerError","message":"a streamed request body"}"#;

/// An SDK HTTP client that answers every request from `db` in the calling task.
pub fn client(db: dynoxide::Database) -> SharedHttpClient {
    SharedHttpClient::new(InProcess { db })
}

#[derive(Clone)]
struct InProcess {
    db: dynoxide::Database,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess")
    }
}

impl HttpClient for InProcess {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for InProcess {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        // The engine answers synchronously (SQLite, microseconds), as its HTTP server does
        // inside its handler: there is nothing to wait for, so the future is ready. (Taking
        // turns on an async lock first, so that a waiting request parks as a task instead of
        // blocking its thread on the engine's lock, measured slower: 5,600 against 8,700
        // authenticated reads a second.)
        let (status, body) = answer(&self.db, &request);
        // dynoxide's statuses are HTTP's (400, 500, 501); 500 stands in should one not be.
        let status = StatusCode::try_from(status).or_else(|_| StatusCode::try_from(500)).expect("500 is a status");
        let mut response = HttpResponse::new(status, body.into());
        response.headers_mut().insert("content-type", CONTENT_TYPE);
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// The status and body dynoxide's server would answer `request` with.
fn answer(db: &dynoxide::Database, request: &HttpRequest) -> (u16, String) {
    let target = request.headers().get("x-amz-target");
    match request.body().bytes() {
        Some(_) if request.method() != "POST" => (400, UNKNOWN_OPERATION.to_string()),
        Some(body) => answer_parts(db, target, body),
        // The SDK buffers every DynamoDB request; a streamed body is a bug to see, not a
        // request to misread as empty.
        None => (500, INTERNAL_STREAMED_BODY.to_string()),
    }
}

/// The status and body for a POST made of its `X-Amz-Target` and body: what the in-process
/// client and the guarded loopback listener ([`crate::guarded`]) both answer.
pub(crate) fn answer_parts(db: &dynoxide::Database, target: Option<&str>, body: &[u8]) -> (u16, String) {
    let operation = target.and_then(|target| target.strip_prefix(TARGET_PREFIX));
    let Some(operation) = operation else {
        return (400, UNKNOWN_OPERATION.to_string());
    };
    match dispatch(db, operation, body) {
        Some(Ok(json)) => (200, json),
        Some(Err(error)) => (error.status_code(), error.to_json()),
        None => (400, UNKNOWN_OPERATION.to_string()),
    }
}

/// Runs one operation: the request body decoded into the engine's request type, the engine
/// called, its response encoded. `None` for an operation this transport does not serve.
fn dispatch(db: &dynoxide::Database, operation: &str, body: &[u8]) -> Option<dynoxide::Result<String>> {
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
