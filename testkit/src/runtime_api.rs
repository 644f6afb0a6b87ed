//! A minimal AWS Lambda Runtime API on a loopback port, for running the real function
//! binaries as Lambda would: the binary long-polls `…/invocation/next`, gets an event,
//! posts `…/response`. This proves each `main.rs`'s wiring and is where cold starts are
//! timed (spawn → first poll is the init phase).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

const PREFIX: &str = "/2018-06-01/runtime";

/// What a function answered for one invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Value),
    Error(String),
    InitError(String),
}

#[derive(Default)]
struct State {
    pending: Mutex<VecDeque<(String, Value)>>,
    outcomes: Mutex<Vec<(Instant, Outcome)>>,
    first_poll: Mutex<Option<Instant>>,
    changed: Notify,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Serves `events` in order, one per `next` poll.
    pub async fn start(events: Vec<Value>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind runtime API");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        {
            let mut pending = state.pending.lock().expect("lock");
            for (i, event) in events.into_iter().enumerate() {
                pending.push_back((format!("request-{i}"), event));
            }
        }
        let served = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = served.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi { addr, state, server }
    }

    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues more events, served after those given to [`RuntimeApi::start`].
    pub fn enqueue(&self, events: impl IntoIterator<Item = Value>) {
        {
            let mut pending = self.state.pending.lock().expect("lock");
            let offset = pending.len() + self.state.outcomes.lock().expect("lock").len();
            for (i, event) in events.into_iter().enumerate() {
                pending.push_back((format!("request-q{}", offset + i), event));
            }
        }
        self.state.changed.notify_waiters();
    }

    /// Waits until `count` invocations have finished (or `timeout` passes).
    pub async fn outcomes(&self, count: usize, timeout: Duration) -> Vec<(Instant, Outcome)> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            {
                let outcomes = self.state.outcomes.lock().expect("lock");
                let failed_init = outcomes.iter().any(|(_, o)| matches!(o, Outcome::InitError(_)));
                if outcomes.len() >= count || failed_init {
                    return outcomes.clone();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return self.state.outcomes.lock().expect("lock").clone();
            }
        }
    }

    /// When the function first asked for an event: the end of its init phase.
    pub fn first_poll(&self) -> Option<Instant> {
        *self.state.first_poll.lock().expect("lock")
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(404, "{}");
    };
    if rest == "/invocation/next" {
        state.first_poll.lock().expect("lock").get_or_insert_with(Instant::now);
        loop {
            let notified = state.changed.notified();
            if let Some((id, event)) = state.pending.lock().expect("lock").pop_front() {
                return Response::builder()
                    .status(200)
                    .header("Lambda-Runtime-Aws-Request-Id", id)
                    .header("Lambda-Runtime-Deadline-Ms", deadline_ms())
                    .header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:harness",
                    )
                    .header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
                    .body(Full::new(Bytes::from(event.to_string())))
                    .expect("valid response");
            }
            // No more events: hold the poll open, as Lambda does between invocations.
            notified.await;
        }
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let outcome = if rest == "/init/error" {
        Outcome::InitError(text)
    } else if rest.ends_with("/response") {
        Outcome::Response(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    } else if rest.ends_with("/error") {
        Outcome::Error(text)
    } else {
        return reply(404, "{}");
    };
    state.outcomes.lock().expect("lock").push((Instant::now(), outcome));
    state.changed.notify_waiters();
    reply(202, r#"{"status":"OK"}"#)
}

fn reply(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder().status(status).body(Full::new(Bytes::from_static(body.as_bytes()))).expect("valid response")
}

fn deadline_ms() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (now + Duration::from_secs(30)).as_millis().to_string()
}

/// Where the built function binaries are: `CUBE_AUTH_BIN_DIR`, else the profile directory
/// this test executable was built into (`target/<profile>/deps/..`).
pub fn binary_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CUBE_AUTH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Starts a function binary as Lambda would, against `api`, with the DynamoDB endpoint and
/// table and the S3 endpoint and bucket of `env`. Static local credentials keep the AWS SDK
/// off the instance-metadata address.
pub fn spawn_function(binary: &Path, api: &RuntimeApi, env: &crate::Env) -> Child {
    function_command(binary, api, env).spawn().expect("spawn function binary")
}

/// The command [`spawn_function`] runs (the environment Lambda gives a function, warnings
/// logged to stderr), for callers that change it before spawning.
pub fn function_command(binary: &Path, api: &RuntimeApi, env: &crate::Env) -> Command {
    assert!(
        binary.exists(),
        "{} is missing: build the function binaries first (cargo build --workspace --bins)",
        binary.display()
    );
    let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function");
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "harness")
        .env("AWS_LAMBDA_LOG_LEVEL", "warn")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", shared::aws::LOCAL_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", shared::aws::LOCAL_SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TABLE_NAME", env.table())
        .env("DYNAMODB_ENDPOINT", &env.endpoint)
        .env("BLOB_BUCKET", crate::TEST_BUCKET)
        .env("S3_ENDPOINT", &env.s3_endpoint)
        .env("MAIL_FROM", "Harness <no-reply@example.test>")
        .env("PUBLIC_BASE_URL", "https://api.example.test")
        .env("MAIL_OUTBOX_DIR", env.mail_outbox())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}
