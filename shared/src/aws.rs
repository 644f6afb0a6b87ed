//! AWS SDK clients, built once per cold start with explicit timeouts and retries (the SDK
//! has no default operation timeout).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

/// Whole-operation budget including retries; a Lambda request should fail fast with a 503
/// rather than hang until API Gateway's 30 s timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const MAX_ATTEMPTS: u32 = 3;

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(OPERATION_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

/// The shared SDK configuration from the environment (Lambda: role credentials and region).
pub async fn sdk_config_from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}

/// The static credentials of the local engines (they accept nothing else).
pub const LOCAL_ACCESS_KEY: &str = "local";
pub const LOCAL_SECRET_KEY: &str = "local-secret-key";

/// An SDK configuration for local engines: fixed region and static credentials, so that the
/// SDK never probes the instance-metadata endpoint.
pub fn sdk_config_local() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::new(
            LOCAL_ACCESS_KEY,
            LOCAL_SECRET_KEY,
            None,
            None,
            "static",
        )))
        .timeout_config(timeouts())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .build()
}

/// A DynamoDB client, on `endpoint` when given (local engines), else the regional one.
pub fn dynamodb_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(crate::trips::RoundTrips);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}
