//! Test support shared by the function crates, the integration tests and the harness.
//!
//! An [`Env`] is a fresh, isolated DynamoDB table with the production `Store` on top, on
//! either engine: embedded dynoxide (fast tier) or AWS DynamoDB Local (reference tier, found
//! through `DYNAMODB_LOCAL_ENDPOINT`). The same test body runs on both via [`on_both_engines!`].

pub mod faults;
pub mod fixtures;
pub mod iam;
pub mod request;
pub mod runtime_api;
pub mod stub;
pub mod wire;

use std::path::PathBuf;

use engines::{EmbeddedDynamo, EmbeddedS3};
use shared::Deps;
use shared::blobs::{BlobConfig, Blobs};
use shared::clock::Clock;
use shared::config::Config;
use shared::domain::app::{App, AppSettings};
use shared::store::{Store, schema};

pub use request::{Answer, Req, all_at_once, delete, get, post, put};

/// Which DynamoDB engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Dynoxide,
    DynamoDbLocal,
}

/// The bucket every test environment's embedded S3 serves.
pub const TEST_BUCKET: &str = "test-blobs";

pub struct Env {
    pub deps: Deps,
    /// Fault injection on this environment's DynamoDB and S3 clients (disarmed).
    pub faults: faults::Faults,
    /// The IAM actions this environment's DynamoDB calls needed (see [`iam`]).
    pub iam_actions: iam::IamActions,
    pub kind: EngineKind,
    pub endpoint: String,
    /// The embedded S3 endpoint (signature checks on) behind `deps.blobs`.
    pub s3_endpoint: String,
    s3_root: PathBuf,
    _s3: EmbeddedS3,
    _embedded: Option<EmbeddedDynamo>,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.s3_root);
    }
}

impl Env {
    /// A fresh table on an in-memory dynoxide served on a loopback port.
    pub async fn dynoxide() -> Env {
        let engine = EmbeddedDynamo::in_memory().await.expect("start dynoxide");
        let endpoint = engine.endpoint().to_string();
        Env::on_endpoint(EngineKind::Dynoxide, endpoint, Some(engine)).await
    }

    /// A fresh table on DynamoDB Local, or `None` (with a note) when it is not running.
    /// `make test` sets `REQUIRE_DYNAMODB_LOCAL=1`, which turns its absence into a failure.
    pub async fn dynamodb_local() -> Option<Env> {
        match std::env::var("DYNAMODB_LOCAL_ENDPOINT").ok().filter(|e| !e.is_empty()) {
            Some(endpoint) => Some(Env::on_endpoint(EngineKind::DynamoDbLocal, endpoint, None).await),
            None if std::env::var("REQUIRE_DYNAMODB_LOCAL").as_deref() == Ok("1") => {
                panic!("REQUIRE_DYNAMODB_LOCAL=1 but DYNAMODB_LOCAL_ENDPOINT is not set")
            }
            None => {
                eprintln!("note: DYNAMODB_LOCAL_ENDPOINT unset; skipping the DynamoDB Local run of this test");
                None
            }
        }
    }

    async fn on_endpoint(kind: EngineKind, endpoint: String, embedded: Option<EmbeddedDynamo>) -> Env {
        let table = format!("test-{}", shared::crypto::random::random_upper_hex::<8>().to_lowercase());
        let sdk = shared::aws::sdk_config_local();
        let faults = faults::Faults::new(faults::silent_peer().await);
        let client = shared::aws::dynamodb_client(&sdk, Some(&endpoint));
        // Production retry counts and timeouts, but a short first backoff: fault tests make
        // the SDK retry hundreds of times.
        let retry = aws_sdk_dynamodb::config::retry::RetryConfig::standard()
            .with_max_attempts(shared::aws::MAX_ATTEMPTS)
            .with_initial_backoff(std::time::Duration::from_millis(5));
        let iam_actions = iam::IamActions::default();
        let client = aws_sdk_dynamodb::Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(faults.interceptor())
                .interceptor(iam_actions.clone())
                .retry_config(retry)
                .build(),
        );
        // No test reads a live stream (send-mail is fed its events); see schema::Stream.
        schema::ensure_table(&client, &table, schema::Stream::Off).await.expect("create test table");
        let config = Config::for_table(&table, Some(endpoint.clone()));
        let store = Store::new(client, &table, config.id_block_size);
        let s3_root = std::env::temp_dir().join(format!("cube-auth-{table}"));
        let s3 = EmbeddedS3::start(&s3_root, TEST_BUCKET, shared::aws::LOCAL_ACCESS_KEY, shared::aws::LOCAL_SECRET_KEY)
            .await
            .expect("start embedded S3");
        let s3_endpoint = s3.endpoint().to_string();
        let blobs =
            Blobs::new(&sdk, BlobConfig::local(TEST_BUCKET, &s3_endpoint)).with_interceptor(faults.interceptor());
        let identity = shared::identity::Identity::new(&shared::identity::IdentityConfig {
            firebase_certs_url: "http://127.0.0.1:9/no-key-server-configured".into(),
            facebook_graph_url: "http://127.0.0.1:9/no-graph-api-configured".into(),
            twitter_api_url: "http://127.0.0.1:9/no-twitter-api-configured".into(),
            timeout: std::time::Duration::from_secs(2),
            key_refetch_interval: shared::identity::firebase::REFETCH_INTERVAL,
        })
        .expect("identity client");
        let deps = Deps::new(store, Clock::system(), config).with_blobs(blobs).with_identity(identity);
        Env { deps, faults, iam_actions, kind, endpoint, s3_endpoint, s3_root, _s3: s3, _embedded: embedded }
    }

    /// These dependencies with Firebase keys fetched from `certs_url` (a test key server),
    /// an unknown `kid` refetching them at most once per `key_refetch_interval`.
    pub fn deps_with_firebase_keys(&self, certs_url: &str, key_refetch_interval: std::time::Duration) -> Deps {
        let config = shared::identity::IdentityConfig {
            firebase_certs_url: certs_url.to_string(),
            facebook_graph_url: "http://127.0.0.1:9/no-graph-api-configured".into(),
            twitter_api_url: "http://127.0.0.1:9/no-twitter-api-configured".into(),
            timeout: std::time::Duration::from_secs(2),
            key_refetch_interval,
        };
        self.deps.clone().with_identity(shared::identity::Identity::new(&config).expect("identity client"))
    }

    /// These dependencies with Facebook's Graph API and Twitter's API at `graph_url` and
    /// `twitter_url` (test servers), giving up on them after `timeout`.
    pub fn deps_with_social(&self, graph_url: &str, twitter_url: &str, timeout: std::time::Duration) -> Deps {
        let config = shared::identity::IdentityConfig {
            firebase_certs_url: "http://127.0.0.1:9/no-key-server-configured".into(),
            facebook_graph_url: graph_url.to_string(),
            twitter_api_url: twitter_url.to_string(),
            timeout,
            key_refetch_interval: shared::identity::firebase::REFETCH_INTERVAL,
        };
        self.deps.clone().with_identity(shared::identity::Identity::new(&config).expect("identity client"))
    }

    /// These dependencies on a client that waits up to 30 s per attempt. For races that send
    /// dozens of requests at once: DynamoDB Local sharing a two-core CI runner with the test
    /// then answers some of them after more than the production attempt timeout (2 s), which
    /// is a fact about the emulator, not what a race test is about.
    pub fn patient_deps(&self) -> Deps {
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .operation_timeout(std::time::Duration::from_secs(60))
            .operation_attempt_timeout(std::time::Duration::from_secs(30))
            .connect_timeout(shared::aws::CONNECT_TIMEOUT)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(
            self.store().client().config().to_builder().timeout_config(timeouts).build(),
        );
        let mut deps = self.deps.clone();
        deps.store = Store::new(client, self.table(), self.deps.config.id_block_size);
        deps
    }

    /// Writes `users` (new ids, an empty application) with exactly the items a signup writes
    /// (user, markers, search and tag items), in BatchWriteItem requests of 25 with eight in
    /// flight: 100,000 users in minutes, where signups would take hours.
    pub async fn seed_users(&self, users: &[shared::domain::user::User]) {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let store = self.patient_deps().store;
        let mut items = Vec::new();
        for user in users {
            let mut tx = shared::store::Tx::new();
            store.tx_insert_user(&mut tx, user, user.created_at);
            items.extend(tx.into_puts());
        }
        let mut batches = tokio::task::JoinSet::new();
        for chunk in items.chunks(25) {
            if batches.len() >= 8 {
                batches.join_next().await.expect("a batch").expect("seed batch");
            }
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build().expect("item");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect();
            let (client, table) = (store.client().clone(), self.table().to_string());
            batches.spawn(async move {
                let mut pending = Some(requests);
                while let Some(requests) = pending.take() {
                    let out = client
                        .batch_write_item()
                        .request_items(&table, requests)
                        .send()
                        .await
                        .expect("seed batch write");
                    pending = out.unprocessed_items.and_then(|mut u| u.remove(&table)).filter(|r| !r.is_empty());
                    if pending.is_some() {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            });
        }
        while let Some(done) = batches.join_next().await {
            done.expect("seed batch");
        }
    }

    /// Where a function spawned for this environment writes mail (`MAIL_OUTBOX_DIR`).
    pub fn mail_outbox(&self) -> PathBuf {
        self.s3_root.join("mail-outbox")
    }

    pub fn store(&self) -> &Store {
        &self.deps.store
    }

    pub fn clock(&self) -> &Clock {
        &self.deps.clock
    }

    pub fn table(&self) -> &str {
        &self.deps.config.table_name
    }

    /// Every item of this environment's table (a Scan: tests only, never a request path), on
    /// the patient client: a table of thousands of users takes longer than a request's budget
    /// to scan on a busy machine.
    pub async fn all_items(&self) -> Vec<shared::store::Item> {
        let patient = self.patient_deps();
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = patient
                .store
                .client()
                .scan()
                .table_name(self.table())
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan the test table");
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// Deletes this environment's table. Tests that write thousands of users call it at the
    /// end: DynamoDB Local keeps every table of a run in one in-memory database, and a few
    /// large ones left behind slow every later test down.
    pub async fn drop_table(&self) {
        // On the patient client: deleting a large in-memory table takes DynamoDB Local longer
        // than an attempt's timeout, and the retry then finds the table gone, which is done.
        let store = self.patient_deps().store;
        match store.client().delete_table().table_name(self.table()).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(e) => panic!("delete the test table: {e:?}"),
        }
    }

    /// Puts the table back to `snapshot` (items from [`Env::all_items`]): what was written
    /// since is deleted, what was changed or deleted is written back. For benchmarks that
    /// send one request twice against the same state.
    pub async fn restore(&self, snapshot: &[shared::store::Item]) {
        let key = |item: &shared::store::Item| (item.get("pk").cloned(), item.get("sk").cloned());
        let kept: Vec<_> = snapshot.iter().map(key).collect();
        let client = self.store().client();
        for item in self.all_items().await {
            if !kept.contains(&key(&item)) {
                let (pk, sk) = key(&item);
                let request = client
                    .delete_item()
                    .table_name(self.table())
                    .set_key(Some([("pk".to_string(), pk.expect("pk")), ("sk".to_string(), sk.expect("sk"))].into()));
                request.send().await.expect("delete an item written since the snapshot");
            }
        }
        for item in snapshot {
            let request = client.put_item().table_name(self.table()).set_item(Some(item.clone()));
            request.send().await.expect("write a snapshot item back");
        }
    }

    /// A new application with `settings`.
    /// Every user item in the table (a consistent scan of every page: tests only).
    pub async fn user_items(&self) -> Vec<shared::store::Item> {
        use shared::store::item::ItemExt;
        self.all_items().await.into_iter().filter(|i| i.str("sk").as_deref() == Some("#USER")).collect()
    }

    pub async fn app(&self, settings: AppSettings) -> App {
        self.store().create_app("test", settings, self.clock().now()).await.expect("create app")
    }
}

/// Runs each listed `async fn name(env: &testkit::Env)` once on dynoxide and once on
/// DynamoDB Local, as `dynoxide::name` and `dynamodb_local::name`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod dynoxide {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = $crate::Env::dynoxide().await;
                    super::$name(&env).await;
                }
            )*
        }
        mod dynamodb_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(env) = $crate::Env::dynamodb_local().await {
                        super::$name(&env).await;
                    }
                }
            )*
        }
    };
}
