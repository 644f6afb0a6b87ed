//! Round trips to AWS, per request: an SDK interceptor records every attempt an SDK client
//! sends (DynamoDB or S3, retries included) into the log of the request being served, kept in
//! a task-local. Requests log their count; tests assert budgets on it.

use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

tokio::task_local! {
    static TRIPS: Arc<Mutex<Vec<String>>>;
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
        let _ = TRIPS.try_with(|log| log.lock().expect("trip log").push(operation));
        Ok(())
    }
}

/// Runs `work` with a fresh round-trip log; returns its output and the operations sent.
pub async fn tracked<F: Future>(work: F) -> (F::Output, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let output = TRIPS.scope(log.clone(), work).await;
    let trips = log.lock().expect("trip log").clone();
    (output, trips)
}

/// Round trips so far in the current request (`None` outside [`tracked`]).
pub fn count() -> Option<usize> {
    TRIPS.try_with(|log| log.lock().expect("trip log").len()).ok()
}
