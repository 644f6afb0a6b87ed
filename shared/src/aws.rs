//! AWS SDK clients, built once per cold start with explicit timeouts and retries (the SDK
//! has no default operation timeout).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

/// Whole-operation budget including retries; a Lambda request should fail fast with a 503
/// rather than hang until API Gateway's 30 s timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const MAX_ATTEMPTS: u32 = 3;

/// No stalled-stream protection: it wraps every response body in a throughput monitor with
/// its own timer, for downloads that stall mid-stream. DynamoDB's and S3's answers here are a
/// few kilobytes read at once, and the attempt timeout already bounds a stalled one.
fn stalled_streams() -> StalledStreamProtectionConfig {
    StalledStreamProtectionConfig::disabled()
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(OPERATION_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

/// The SDK configuration of a Lambda function: the region and the execution role's
/// credentials from the environment, which is all Lambda provides. The SDK's default chain
/// (profile files, SSO, web identity, instance metadata) would only add init time and code.
pub fn sdk_config_from_env() -> anyhow::Result<SdkConfig> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .map_err(|_| anyhow::anyhow!("AWS_REGION is not set"))?;
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .http_client(https_client()?)
        .timeout_config(timeouts())
        .stalled_stream_protection(stalled_streams())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .build())
}

/// The SDK's full default chain (profiles, SSO, …), for the command line on a workstation.
pub async fn sdk_config_default_chain() -> SdkConfig {
    let client = https_client().unwrap_or_else(|_| local_client());
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(client)
        .timeout_config(timeouts())
        .stalled_stream_protection(stalled_streams())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}

/// The roots of Amazon Trust Services, which issue the certificates of every AWS endpoint.
const AMAZON_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// HTTPS to AWS trusting only Amazon's roots: parsing five certificates instead of the
/// system's few hundred takes milliseconds off every cold start. An `https://` endpoint
/// override (`DYNAMODB_ENDPOINT`, `S3_ENDPOINT`) may be anyone's, so it gets the system roots.
fn https_client() -> anyhow::Result<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    let custom_https = ["DYNAMODB_ENDPOINT", "S3_ENDPOINT"]
        .iter()
        .any(|var| std::env::var(var).is_ok_and(|url| url.starts_with("https://")));
    let roots = if custom_https { system_roots() } else { amazon_roots()? };
    Ok(crate::sdk_http::client(crate::sdk_http::tls_config(roots)?))
}

fn amazon_roots() -> anyhow::Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(AMAZON_ROOTS.as_bytes()) {
        roots.add(certificate?)?;
    }
    Ok(roots)
}

/// Amazon's roots, for tests of the HTTPS client.
#[cfg(test)]
pub(crate) fn amazon_roots_for_tests() -> rustls::RootCertStore {
    amazon_roots().expect("the bundled roots parse")
}

fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!("no usable system root certificates: HTTPS endpoint overrides will fail");
    }
    roots
}

/// The HTTP client of the local engines (plain HTTP on loopback).
fn local_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let tls =
        crate::sdk_http::tls_config(rustls::RootCertStore::empty()).expect("aws-lc supports the default versions");
    crate::sdk_http::client(tls)
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
        .http_client(local_client())
        .timeout_config(timeouts())
        .stalled_stream_protection(stalled_streams())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .build()
}

/// An SDK configuration for an engine embedded in this process, reached through `client`
/// (an in-process transport): no credentials, so no request is signed; the engine has
/// nothing to check a signature against. No timeouts and no retries either: the engine
/// answers in the calling task, so there is nothing to wait for, and what it refuses (a
/// failed condition, a validation error) it refuses again on a second attempt. Each would
/// otherwise cost every call a timer or a retry token for nothing.
pub fn sdk_config_in_process(client: aws_smithy_runtime_api::client::http::SharedHttpClient) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .http_client(client)
        .timeout_config(TimeoutConfig::disabled())
        .stalled_stream_protection(stalled_streams())
        .retry_config(RetryConfig::disabled())
        .build()
}

/// A DynamoDB client, on `endpoint` when given (local engines), else the regional one. A
/// configuration without credentials ([`sdk_config_in_process`]) sends its requests unsigned:
/// SigV4 cannot apply without them, and the SDK would otherwise fail the call.
pub fn dynamodb_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(crate::trips::RoundTrips);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    if sdk.credentials_provider().is_none() {
        builder = builder.allow_no_auth();
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_amazon_roots_are_the_five_trust_services_roots() {
        let blocks = AMAZON_ROOTS.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(blocks, 5);
        for name in ["Amazon Root CA 1", "Amazon Root CA 4", "Starfield Services Root Certificate Authority - G2"] {
            assert!(AMAZON_ROOTS.contains(&format!("# {name}")), "{name}");
        }
        for block in AMAZON_ROOTS.split("-----BEGIN CERTIFICATE-----").skip(1) {
            let body: String =
                block.split("-----END CERTIFICATE-----").next().unwrap_or("").split_whitespace().collect();
            let der =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).expect("base64 PEM body");
            assert_eq!(der.first(), Some(&0x30), "a DER certificate is an ASN.1 SEQUENCE");
        }
        assert_eq!(amazon_roots().expect("the bundled roots parse").len(), 5);
        assert!(https_client().is_ok());
    }
}
