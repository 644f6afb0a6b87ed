//! The Lambda entry point shared by every function binary.

use std::convert::Infallible;
use std::future::Future;

use lambda_runtime::{LambdaEvent, service_fn};

use crate::http::{ApiRequest, ApiResponse, HttpApiEvent};

pub use lambda_runtime::Error;

/// Structured JSON logs on stdout (CloudWatch), level from `AWS_LAMBDA_LOG_LEVEL` or
/// `RUST_LOG`, `info` by default.
pub fn init_logging() {
    let level =
        std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level.to_lowercase()))
        .with_target(false)
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// Serves API Gateway HTTP API events with `handler` until the runtime stops us.
pub async fn run<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(ApiRequest) -> Fut,
    Fut: Future<Output = ApiResponse>,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<HttpApiEvent>| {
        let response = handler(ApiRequest::from_event(event.payload));
        async move { Ok::<_, Infallible>(response.await.into_event()) }
    }))
    .await
}
