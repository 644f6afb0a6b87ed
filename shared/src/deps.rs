//! What a handler needs, built once per cold start and borrowed by every request.

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub clock: Clock,
    pub config: Config,
}

impl Deps {
    pub fn new(store: Store, clock: Clock, config: Config) -> Self {
        Deps { store, clock, config }
    }

    /// Everything from the environment, for a Lambda function's `main`.
    pub async fn from_env() -> anyhow::Result<Deps> {
        let config = Config::from_env()?;
        let sdk = crate::aws::sdk_config_from_env().await;
        let client = crate::aws::dynamodb_client(&sdk, config.dynamodb_endpoint.as_deref());
        let store = Store::new(client, &config.table_name, config.id_block_size);
        Ok(Deps::new(store, Clock::system(), config))
    }
}
