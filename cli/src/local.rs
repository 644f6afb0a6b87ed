//! The local data directory: an embedded DynamoDB in one SQLite file, the development
//! application's credentials, and a lock so that two processes never open the same file.
//!
//! While `cube-auth serve` holds the lock it writes `serve.json` (its pid, HTTP address and
//! embedded DynamoDB endpoint); other commands on the same directory then talk to that
//! running engine instead of opening the file themselves.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::Context;
use engines::{EmbeddedDynamo, EmbeddedS3};
use serde_json::json;
use shared::blobs::{BlobConfig, Blobs};
use shared::clock::Clock;
use shared::config::Config;
use shared::domain::app::{App, AppSettings};
use shared::store::{Store, schema};
use shared::{Deps, aws};

/// The table name inside the local engine.
pub const LOCAL_TABLE: &str = "cube-auth";
const DB_FILE: &str = "dynamodb.sqlite";
const LOCK_FILE: &str = ".lock";
const SERVE_FILE: &str = "serve.json";
pub const DEV_APP_FILE: &str = "dev-app.json";
/// The bucket inside the local S3 engine (a directory under `DIR/blobs/`).
pub const LOCAL_BUCKET: &str = "cube-auth-blobs";

/// An open data directory.
pub struct DataDir {
    pub dir: PathBuf,
    pub deps: Deps,
    /// Present when this process opened the file itself (holds the lock).
    pub engine: Option<EmbeddedDynamo>,
    /// The local S3 engine, started by [`DataDir::start_blob_storage`].
    pub s3: Option<EmbeddedS3>,
    _lock: Option<File>,
}

impl DataDir {
    /// Opens `dir` (creating it), taking the lock; if a running `serve` holds it, connects to
    /// that server's engine instead.
    pub async fn open(dir: &Path) -> anyhow::Result<DataDir> {
        fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {
                let _ = fs::remove_file(dir.join(SERVE_FILE));
                let engine = EmbeddedDynamo::in_file(&dir.join(DB_FILE)).await?;
                // This process runs the engine: its own requests reach it in process. The
                // engine still listens on loopback for the other commands (serve.json).
                let sdk = aws::sdk_config_in_process(engine.in_process_client());
                let deps = connect(aws::dynamodb_client(&sdk, Some(engine.endpoint())), engine.endpoint()).await?;
                Ok(DataDir { dir: dir.to_path_buf(), deps, engine: Some(engine), s3: None, _lock: Some(lock) })
            }
            Err(_) => {
                let running = fs::read_to_string(dir.join(SERVE_FILE)).with_context(|| {
                    format!("{} is locked by another cube-auth process that is not serving", dir.display())
                })?;
                let running: serde_json::Value = serde_json::from_str(&running)?;
                let endpoint = running["dynamodb_endpoint"].as_str().context("serve.json has no dynamodb_endpoint")?;
                let client = aws::dynamodb_client(&aws::sdk_config_local(), Some(endpoint));
                let deps = connect(client, endpoint).await?;
                Ok(DataDir { dir: dir.to_path_buf(), deps, engine: None, s3: None, _lock: None })
            }
        }
    }

    /// Starts the local S3 engine on `DIR/blobs/` (signature checks on, CORS for browsers)
    /// and gives the handlers blob storage on it.
    pub async fn start_blob_storage(&mut self) -> anyhow::Result<()> {
        let s3 = EmbeddedS3::start(&self.dir.join("blobs"), LOCAL_BUCKET, aws::LOCAL_ACCESS_KEY, aws::LOCAL_SECRET_KEY)
            .await?;
        let blobs = Blobs::new(&aws::sdk_config_local(), BlobConfig::local(LOCAL_BUCKET, s3.endpoint()));
        self.deps = self.deps.clone().with_blobs(blobs);
        self.s3 = Some(s3);
        Ok(())
    }

    /// Gives the handlers the identity providers' client (Firebase keys from
    /// `FIREBASE_CERTS_URL`, Google's by default).
    pub fn start_identity(&mut self) -> anyhow::Result<()> {
        let config = shared::identity::IdentityConfig::from_env()?;
        self.deps = self.deps.clone().with_identity(shared::identity::Identity::new(&config)?);
        Ok(())
    }

    /// Announces a running server (pid, address, engine endpoint) to other commands.
    pub fn write_serve_file(&self, addr: &str) -> anyhow::Result<()> {
        let endpoint = self.engine.as_ref().map(|e| e.endpoint().to_string()).unwrap_or_default();
        let info = json!({ "pid": std::process::id(), "addr": addr, "dynamodb_endpoint": endpoint });
        write_private(&self.dir.join(SERVE_FILE), &serde_json::to_string_pretty(&info)?)
    }

    pub fn remove_serve_file(&self) {
        let _ = fs::remove_file(self.dir.join(SERVE_FILE));
    }

    /// The development application: read back from `dev-app.json` if it still exists in the
    /// store, else created and written there.
    pub async fn dev_app(&self) -> anyhow::Result<(App, bool)> {
        let path = self.dir.join(DEV_APP_FILE);
        if let Ok(text) = fs::read_to_string(&path)
            && let Ok(saved) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(id) = saved["application_id"].as_i64()
            && let Some(app) = self.deps.store.get_app(id).await?
        {
            return Ok((app, false));
        }
        let app = self.deps.store.create_app("development", AppSettings::default(), self.deps.clock.now()).await?;
        let credentials = json!({
            "application_id": app.id,
            "auth_key": app.auth_key,
            "auth_secret": app.auth_secret,
        });
        write_private(&path, &serde_json::to_string_pretty(&credentials)?)?;
        Ok((app, true))
    }

    /// Stops the engines (if this process runs them), flushing the file.
    pub async fn close(self) {
        if let Some(s3) = self.s3 {
            s3.stop().await;
        }
        if let Some(engine) = self.engine {
            engine.stop().await;
        }
    }
}

async fn connect(client: aws_sdk_dynamodb::Client, endpoint: &str) -> anyhow::Result<Deps> {
    // Local mode delivers mail in process: nothing reads a stream here.
    schema::ensure_table(&client, LOCAL_TABLE, schema::Stream::Off).await?;
    let config = Config::for_table(LOCAL_TABLE, Some(endpoint.to_string()));
    let store = Store::new(client, LOCAL_TABLE, config.id_block_size);
    Ok(Deps::new(store, Clock::system(), config))
}

/// Writes a file readable only by its owner: it holds application secrets.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
