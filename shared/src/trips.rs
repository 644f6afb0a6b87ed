//! Round trips to AWS, per request: an SDK interceptor records every attempt an SDK client
//! sends (DynamoDB or S3, retries included) into the log of the request being served, kept in
//! a task-local, with the DynamoDB items and the response bytes each brought back. Requests
//! log their count; tests and the scale benchmark assert budgets on them.

use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

tokio::task_local! {
    static TRIPS: Arc<Mutex<Log>>;
}

/// What one request's SDK calls cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    /// Each attempt's operation, in order.
    pub operations: Vec<String>,
    /// DynamoDB items returned (GetItem, BatchGetItem, Query, Scan).
    pub items: usize,
    /// Response body bytes.
    pub bytes: usize,
}

fn items_in(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> usize {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput, scan::ScanOutput,
    };
    if let Some(out) = output.downcast_ref::<QueryOutput>() {
        out.items().len()
    } else if let Some(out) = output.downcast_ref::<BatchGetItemOutput>() {
        out.responses().map_or(0, |tables| tables.values().map(Vec::len).sum())
    } else if let Some(out) = output.downcast_ref::<GetItemOutput>() {
        usize::from(out.item().is_some())
    } else if let Some(out) = output.downcast_ref::<ScanOutput>() {
        out.items().len()
    } else {
        0
    }
}

/// Records each attempt's operation (`GetItem`, `HeadObject`, …) in the current request's log.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundTrips;

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    /// After a response arrived: presigning, which stops before sending, is not a round trip.
    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map_or_else(|| "unknown".to_string(), |m| m.name().to_string());
        let _ = TRIPS.try_with(|log| log.lock().expect("trip log").operations.push(operation));
        Ok(())
    }

    /// After the (buffered) response was read: what it brought back.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let bytes = context.response().body().bytes().map_or(0, <[u8]>::len);
        let items = context.output_or_error().map_or(0, items_in);
        let _ = TRIPS.try_with(|log| {
            let mut log = log.lock().expect("trip log");
            log.items += items;
            log.bytes += bytes;
        });
        Ok(())
    }
}

/// Runs `work` with a fresh round-trip log; returns its output and the operations sent.
pub async fn tracked<F: Future>(work: F) -> (F::Output, Vec<String>) {
    let (output, log) = logged(work).await;
    (output, log.operations)
}

/// Runs `work` with a fresh round-trip log; returns its output and the whole log.
pub async fn logged<F: Future>(work: F) -> (F::Output, Log) {
    let log = Arc::new(Mutex::new(Log::default()));
    let output = TRIPS.scope(log.clone(), work).await;
    let log = log.lock().expect("trip log").clone();
    (output, log)
}

/// Round trips so far in the current request (`None` outside [`tracked`]).
pub fn count() -> Option<usize> {
    TRIPS.try_with(|log| log.lock().expect("trip log").operations.len()).ok()
}
