//! What a handler needs, built once per cold start and borrowed by every request.

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub clock: Clock,
    pub config: Config,
    /// S3 blob storage, present only in the functions (and servers) that serve blobs.
    #[cfg(feature = "s3")]
    pub blobs: Option<crate::blobs::Blobs>,
    /// Outbound identity providers (Firebase keys, CIdP), in the functions that sign in.
    #[cfg(feature = "outbound")]
    pub identity: Option<std::sync::Arc<crate::identity::Identity>>,
}

impl Deps {
    pub fn new(store: Store, clock: Clock, config: Config) -> Self {
        Deps {
            store,
            clock,
            config,
            #[cfg(feature = "s3")]
            blobs: None,
            #[cfg(feature = "outbound")]
            identity: None,
        }
    }

    /// Everything from the environment, including the identity providers' client.
    #[cfg(feature = "outbound")]
    pub async fn from_env_with_identity() -> anyhow::Result<Deps> {
        let sdk = crate::aws::sdk_config_from_env()?;
        let identity = crate::identity::Identity::new(&crate::identity::IdentityConfig::from_env()?)?;
        Ok(Deps::from_sdk(&sdk)?.with_identity(identity))
    }

    /// The identity providers' client, or a 503 when this build or deployment has none.
    #[cfg(feature = "outbound")]
    pub fn identity(&self) -> Result<&crate::identity::Identity, crate::error::ApiError> {
        self.identity.as_deref().ok_or_else(|| {
            crate::error::ApiError::unavailable(anyhow::anyhow!("identity providers are not configured"))
        })
    }

    #[cfg(feature = "outbound")]
    pub fn with_identity(mut self, identity: crate::identity::Identity) -> Self {
        self.identity = Some(std::sync::Arc::new(identity));
        self
    }

    /// Everything from the environment, for a Lambda function's `main`.
    pub async fn from_env() -> anyhow::Result<Deps> {
        let sdk = crate::aws::sdk_config_from_env()?;
        Deps::from_sdk(&sdk)
    }

    /// Configuration from the environment on an already loaded SDK configuration.
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> anyhow::Result<Deps> {
        let config = Config::from_env()?;
        let client = crate::aws::dynamodb_client(sdk, config.dynamodb_endpoint.as_deref());
        let store = Store::new(client, &config.table_name, config.id_block_size);
        Ok(Deps::new(store, Clock::system(), config))
    }

    /// Everything from the environment, including blob storage (`BLOB_BUCKET`, …).
    #[cfg(feature = "s3")]
    pub async fn from_env_with_blobs() -> anyhow::Result<Deps> {
        let sdk = crate::aws::sdk_config_from_env()?;
        let blobs = crate::blobs::Blobs::new(&sdk, crate::blobs::BlobConfig::from_env()?);
        Ok(Deps::from_sdk(&sdk)?.with_blobs(blobs))
    }

    #[cfg(feature = "s3")]
    pub fn with_blobs(mut self, blobs: crate::blobs::Blobs) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Blob storage, or a 503 when this deployment has none configured.
    #[cfg(feature = "s3")]
    pub fn blobs(&self) -> Result<&crate::blobs::Blobs, crate::error::ApiError> {
        self.blobs
            .as_ref()
            .ok_or_else(|| crate::error::ApiError::unavailable(anyhow::anyhow!("blob storage is not configured")))
    }
}
