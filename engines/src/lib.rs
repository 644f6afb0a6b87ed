//! Embedded engines that speak the real wire protocols on loopback ports, so that local mode
//! and tests run the production code paths (`aws-sdk-dynamodb` and `aws-sdk-s3` over HTTP)
//! unchanged.

mod engine;
mod guarded;
mod in_process;
pub mod listen;
mod reads;
mod s3;

pub use s3::EmbeddedS3;

use std::path::Path;

use tokio::sync::oneshot;

use crate::engine::Engine;
use tokio::task::JoinHandle;

/// Which server listens on the engine's loopback port.
enum Port {
    /// dynoxide's own: the full wire protocol as DynamoDB speaks it (tests cover the wire).
    #[cfg(feature = "wire")]
    Dynoxide,
    /// SDK and CLI requests only, refused to browsers (local mode's data).
    Guarded,
}

/// dynoxide serving the DynamoDB JSON protocol on `127.0.0.1:<random port>`.
pub struct EmbeddedDynamo {
    endpoint: String,
    engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl EmbeddedDynamo {
    /// An in-memory database on dynoxide's own server (tests; feature `wire`).
    #[cfg(feature = "wire")]
    pub async fn in_memory() -> anyhow::Result<Self> {
        let db = dynoxide::Database::memory().map_err(|e| anyhow::anyhow!("dynoxide: {e}"))?;
        Self::serve(Engine::shared_with_its_server(db), Port::Dynoxide).await
    }

    /// A database persisted in one SQLite file (local mode).
    pub async fn in_file(path: &Path) -> anyhow::Result<Self> {
        let path = path.to_str().ok_or_else(|| anyhow::anyhow!("data path is not UTF-8: {}", path.display()))?;
        let db = dynoxide::Database::new(path).map_err(|e| anyhow::anyhow!("dynoxide: opening {path}: {e}"))?;
        // WAL with `synchronous = NORMAL`: a commit survives cube-auth crashing or being killed,
        // and only an OS crash can lose the last few. SQLite's default fsyncs every commit,
        // which made each write cost milliseconds; a development server does not need that.
        db.disable_bulk_loading()
            .map_err(|e| anyhow::anyhow!("dynoxide: setting {path} to synchronous=NORMAL: {e}"))?;
        // Local mode: the port other commands use, closed to browsers (see `guarded`). Every
        // request reaches the engine through `Engine::answer`, so reads can be kept.
        Self::serve(Engine::sole_path(db), Port::Guarded).await
    }

    async fn serve(engine: Engine, port: Port) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let task = match port {
            #[cfg(feature = "wire")]
            Port::Dynoxide => {
                tokio::spawn(dynoxide::server::serve_with_shutdown(listener, engine.database().clone(), stopped))
            }
            Port::Guarded => tokio::spawn(guarded::serve(listener, engine.clone(), stopped)),
        };
        Ok(EmbeddedDynamo { endpoint, engine, stop: Some(stop), task: Some(task) })
    }

    /// `http://127.0.0.1:<port>`, for `DYNAMODB_ENDPOINT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK HTTP client that reaches this engine in process, without the loopback hop:
    /// for the process that runs the engine (local mode). Other processes, and tests that
    /// cover the wire, use [`endpoint`](Self::endpoint).
    pub fn in_process_client(&self) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
        in_process::client(self.engine.clone())
    }

    /// Deletes items whose TTL has passed (dynoxide only does so when asked; reads must not
    /// rely on it, exactly as with DynamoDB's lazy TTL).
    pub fn sweep_expired(&self) -> usize {
        self.engine.sweep_expired()
    }

    /// Stops serving and waits for in-flight requests to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
