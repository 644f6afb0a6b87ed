//! Where administrative commands act: the local data directory, or a real DynamoDB table.

use std::path::PathBuf;

use shared::clock::Clock;
use shared::config::Config;
use shared::store::{Store, schema};
use shared::{Deps, aws};

use crate::local::DataDir;

/// The default local data directory.
pub const DEFAULT_DATA_DIR: &str = ".cube-auth";

pub enum Target {
    Local(DataDir),
    Remote(Deps),
}

impl Target {
    /// `--data-dir` wins; else `TABLE_NAME` in the environment selects a real table (with
    /// `DYNAMODB_ENDPOINT`, AWS credentials and region from the environment); else the
    /// default data directory.
    pub async fn select(data_dir: Option<PathBuf>) -> anyhow::Result<Target> {
        if let Some(dir) = data_dir {
            return Ok(Target::Local(DataDir::open(&dir).await?));
        }
        if std::env::var("TABLE_NAME").is_ok_and(|t| !t.is_empty()) {
            let config = Config::from_env()?;
            let sdk = aws::sdk_config_default_chain().await;
            let client = aws::dynamodb_client(&sdk, config.dynamodb_endpoint.as_deref());
            let store = Store::new(client, &config.table_name, config.id_block_size);
            return Ok(Target::Remote(Deps::new(store, Clock::system(), config)));
        }
        Ok(Target::Local(DataDir::open(&PathBuf::from(DEFAULT_DATA_DIR)).await?))
    }

    pub fn deps(&self) -> &Deps {
        match self {
            Target::Local(dir) => &dir.deps,
            Target::Remote(deps) => deps,
        }
    }

    /// Creates (or completes) the table exactly as `template.yaml` declares it.
    pub async fn ensure_table(&self) -> anyhow::Result<()> {
        let deps = self.deps();
        // A real table is a deployment's (or stands in for one): its stream feeds send-mail.
        let stream = match self {
            Target::Local(_) => schema::Stream::Off,
            Target::Remote(_) => schema::Stream::On,
        };
        schema::ensure_table(deps.store.client(), deps.store.table(), stream).await
    }

    pub async fn close(self) {
        if let Target::Local(dir) = self {
            dir.close().await;
        }
    }
}
