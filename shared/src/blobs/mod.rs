//! Blob storage on S3: presigned POST uploads, reading an object's real size and type,
//! short-lived presigned downloads, deletes. Built once per cold start by the blob functions.

pub mod post_policy;

use std::time::{Duration, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::DateTime;

use crate::clock::Timestamp;
use crate::config::ConfigError;
use crate::error::ApiError;
use post_policy::{SigningCredentials, UploadPolicy};

/// Where and how blobs are stored.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    /// `BLOB_BUCKET`.
    pub bucket: String,
    /// `S3_ENDPOINT`: another S3 endpoint (local engines), addressed path-style.
    pub s3_endpoint: Option<String>,
    /// `BLOB_UPLOAD_URL`: the upload URL handed to clients. Default
    /// `https://<bucket>.s3.amazonaws.com/`, the form the SDKs recognise as S3 (they add no
    /// session headers to it, so browsers need no preflight for a simple POST).
    pub upload_url: Option<String>,
    /// `BLOB_MAX_BYTES`: the upload size cap signed into every policy (default 100 MiB).
    pub max_upload_bytes: u64,
    /// `BLOB_UPLOAD_TTL_SECS`: how long an upload policy is valid (default 1 hour).
    pub upload_ttl_secs: i64,
    /// `BLOB_DOWNLOAD_TTL_SECS`: how long a download link is valid (default 5 minutes).
    pub download_ttl_secs: u64,
}

pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;

impl BlobConfig {
    pub fn from_env() -> Result<BlobConfig, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or(ConfigError::Invalid(name, "a positive integer")),
            }
        };
        Ok(BlobConfig {
            bucket: var("BLOB_BUCKET").ok_or(ConfigError::Missing("BLOB_BUCKET"))?,
            s3_endpoint: var("S3_ENDPOINT"),
            upload_url: var("BLOB_UPLOAD_URL"),
            max_upload_bytes: number("BLOB_MAX_BYTES", DEFAULT_MAX_UPLOAD_BYTES)?,
            upload_ttl_secs: number("BLOB_UPLOAD_TTL_SECS", 3600)? as i64,
            download_ttl_secs: number("BLOB_DOWNLOAD_TTL_SECS", 300)?,
        })
    }

    /// Settings for a local S3 endpoint with every default.
    pub fn local(bucket: &str, s3_endpoint: &str) -> BlobConfig {
        BlobConfig {
            bucket: bucket.to_string(),
            s3_endpoint: Some(s3_endpoint.to_string()),
            upload_url: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            upload_ttl_secs: 3600,
            download_ttl_secs: 300,
        }
    }
}

#[derive(Clone)]
pub struct Blobs {
    s3: aws_sdk_s3::Client,
    sdk: SdkConfig,
    pub config: BlobConfig,
}

/// An object as S3 holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size: i64,
    pub content_type: Option<String>,
}

fn s3_error(context: &'static str, error: impl std::error::Error + Send + Sync + 'static) -> ApiError {
    ApiError::unavailable(anyhow::Error::new(error).context(context))
}

impl Blobs {
    pub fn new(sdk: &SdkConfig, config: BlobConfig) -> Blobs {
        let mut builder = aws_sdk_s3::config::Builder::from(sdk).interceptor(crate::trips::RoundTrips);
        if let Some(endpoint) = &config.s3_endpoint {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
        }
        Blobs { s3: aws_sdk_s3::Client::from_conf(builder.build()), sdk: sdk.clone(), config }
    }

    /// The same, with one more interceptor on the S3 client (tests inject faults with it).
    pub fn with_interceptor(
        mut self,
        interceptor: impl aws_smithy_runtime_api::client::interceptors::Intercept + 'static,
    ) -> Blobs {
        self.s3 = aws_sdk_s3::Client::from_conf(self.s3.config().to_builder().interceptor(interceptor).build());
        self
    }

    /// The URL clients upload to.
    pub fn upload_url(&self) -> String {
        match (&self.config.upload_url, &self.config.s3_endpoint) {
            (Some(url), _) => url.clone(),
            (None, Some(endpoint)) => format!("{}/{}", endpoint.trim_end_matches('/'), self.config.bucket),
            (None, None) => format!("https://{}.s3.amazonaws.com/", self.config.bucket),
        }
    }

    /// The form fields of a presigned POST for `key` of at most `max_bytes`, valid from `now`
    /// for the upload TTL.
    pub async fn upload_form(
        &self,
        key: &str,
        content_type: &str,
        max_bytes: u64,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>, ApiError> {
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| ApiError::unavailable(anyhow::anyhow!("no AWS credentials")))?;
        let credentials = provider.provide_credentials().await.map_err(|e| s3_error("loading credentials", e))?;
        let signing = SigningCredentials {
            access_key_id: credentials.access_key_id().to_string(),
            secret_access_key: credentials.secret_access_key().to_string(),
            session_token: credentials.session_token().map(str::to_string),
        };
        let region = self.sdk.region().map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        let policy = UploadPolicy {
            bucket: &self.config.bucket,
            key,
            content_type,
            max_bytes: max_bytes.min(self.config.max_upload_bytes),
            region: &region,
            now: DateTime::from_timestamp(now, 0).unwrap_or_default(),
            expires_at: DateTime::from_timestamp(now + self.config.upload_ttl_secs, 0).unwrap_or_default(),
        };
        Ok(post_policy::form_fields(&policy, &signing))
    }

    /// The object's real size and type, or `None` when nothing was uploaded.
    pub async fn head(&self, key: &str) -> Result<Option<StoredObject>, ApiError> {
        match self.s3.head_object().bucket(&self.config.bucket).key(key).send().await {
            Ok(out) => Ok(Some(StoredObject { size: out.content_length.unwrap_or(0), content_type: out.content_type })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(s3_error("reading object metadata", e)),
        }
    }

    /// A presigned GET valid for the download TTL from `now`; `attachment` asks browsers to
    /// save the file under that name instead of showing it.
    pub async fn download_url(&self, key: &str, now: Timestamp, attachment: Option<&str>) -> Result<String, ApiError> {
        let presigning = PresigningConfig::builder()
            .start_time(UNIX_EPOCH + Duration::from_secs(now.max(0) as u64))
            .expires_in(Duration::from_secs(self.config.download_ttl_secs))
            .build()
            .map_err(|e| s3_error("presigning", e))?;
        let mut request = self.s3.get_object().bucket(&self.config.bucket).key(key);
        if let Some(name) = attachment {
            let safe: String = name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
            request = request.response_content_disposition(format!("attachment; filename=\"{safe}\""));
        }
        let presigned = request.presigned(presigning).await.map_err(|e| s3_error("presigning", e))?;
        Ok(presigned.uri().to_string())
    }

    /// Deletes the object (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.s3
            .delete_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error("deleting object", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(config: BlobConfig) -> Blobs {
        Blobs::new(&crate::aws::sdk_config_local(), config)
    }

    #[test]
    fn production_uploads_go_to_the_global_bucket_host_the_sdks_recognise() {
        let config = BlobConfig { s3_endpoint: None, ..BlobConfig::local("avatars-prod", "unused") };
        let url = blobs(config).upload_url();
        assert_eq!(url, "https://avatars-prod.s3.amazonaws.com/");
        assert!(url.contains("s3.amazonaws.com"), "the JS SDK adds no session headers to such URLs");
    }

    #[test]
    fn local_uploads_are_path_style_and_overrides_win() {
        assert_eq!(blobs(BlobConfig::local("b", "http://127.0.0.1:9000/")).upload_url(), "http://127.0.0.1:9000/b");
        let config =
            BlobConfig { upload_url: Some("https://files.example.com/".into()), ..BlobConfig::local("b", "x") };
        assert_eq!(blobs(config).upload_url(), "https://files.example.com/");
    }

    #[tokio::test]
    async fn upload_forms_are_signed_with_the_configured_credentials() {
        let form = blobs(BlobConfig::local("b", "http://127.0.0.1:9000"))
            .upload_form("k3y", "image/png", u64::MAX, 1_800_000_000)
            .await
            .unwrap();
        let credential = form.iter().find(|(k, _)| k == "x-amz-credential").unwrap();
        assert!(
            credential.1.starts_with(&format!("{}/20270115/us-east-1/s3/", crate::aws::LOCAL_ACCESS_KEY)),
            "{}",
            credential.1
        );
    }
}
