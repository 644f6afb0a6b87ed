//! Logging for every function binary, and the plain `lambda_runtime` loop of the one
//! function that is not behind API Gateway (`send-mail`). HTTP functions run through
//! [`crate::lambda`].

use std::convert::Infallible;
use std::future::Future;

use lambda_runtime::{LambdaEvent, service_fn};

pub use lambda_runtime::Error;

/// Structured JSON logs on stdout (CloudWatch), level from `AWS_LAMBDA_LOG_LEVEL` or
/// `RUST_LOG`, `info` by default. A plain level, not an `EnvFilter`: directives would link a
/// regex engine into every function for a setting Lambda expresses as one word.
pub fn init_logging() {
    let level =
        std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    let _ = tracing::subscriber::set_global_default(json_logger(log_level(&level), std::io::stdout));
}

/// The JSON log format of every function (Lambda stamps the time itself), writing to
/// `writer`; tests capture a flow's logs through it.
pub fn json_logger<W>(
    level: tracing_subscriber::filter::LevelFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_target(false)
        .with_current_span(false)
        .without_time()
        .with_writer(writer)
        .finish()
}

/// A Lambda log level (`TRACE` … `FATAL`, any case); unknown words mean `info`.
fn log_level(level: &str) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match level.trim().to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "warn" => LevelFilter::WARN,
        "error" | "fatal" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

/// Serves events of type `E` (a DynamoDB stream batch, for `send-mail`) with `handler`
/// until the runtime stops us.
pub async fn run_events<E, R, F, Fut>(handler: F) -> Result<(), Error>
where
    E: serde::de::DeserializeOwned,
    R: serde::Serialize,
    F: Fn(E) -> Fut,
    Fut: Future<Output = R>,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<E>| {
        let response = crate::trips::tracked(handler(event.payload));
        async move { Ok::<_, Infallible>(response.await.0) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn lambda_log_levels_map_to_tracing_levels() {
        assert_eq!(log_level("DEBUG"), LevelFilter::DEBUG);
        assert_eq!(log_level("FATAL"), LevelFilter::ERROR);
        assert_eq!(log_level("warn"), LevelFilter::WARN);
        assert_eq!(log_level("shared=debug"), LevelFilter::INFO);
    }
}
