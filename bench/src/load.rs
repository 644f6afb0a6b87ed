//! A bounded, closed-loop HTTP load generator: a fixed number of workers, each sending its
//! next request only when the previous answer has been read, for a fixed time, over kept-alive
//! loopback connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::process::cpu_time;
use crate::stats::Samples;

/// One request to send.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call { method: Method::GET, path: path.into(), headers: Vec::new(), body: None }
    }

    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Call {
        Call { method: Method::POST, path: path.into(), headers: Vec::new(), body: Some(body) }
    }

    pub fn put(path: impl Into<String>, body: serde_json::Value) -> Call {
        Call { method: Method::PUT, path: path.into(), headers: Vec::new(), body: Some(body) }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Call {
        self.headers.push((name, value.into()));
        self
    }

    pub fn token(self, token: &str) -> Call {
        self.header("CB-Token", token)
    }
}

/// Builds the request a worker sends next, from the worker's number and its request count.
pub type Plan = Arc<dyn Fn(usize, u64) -> Call + Send + Sync>;

/// What one measured run saw.
#[derive(Debug)]
pub struct LoadRun {
    pub requests: usize,
    pub elapsed: Duration,
    pub latencies: Samples,
    /// CPU the server process spent during the run.
    pub server_cpu: Duration,
    /// CPU the load generator (this process) spent during the run.
    pub client_cpu: Duration,
}

impl LoadRun {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn server_cpu_per_request(&self) -> Duration {
        self.server_cpu / self.requests.max(1) as u32
    }

    pub fn client_cpu_per_request(&self) -> Duration {
        self.client_cpu / self.requests.max(1) as u32
    }
}

/// An HTTP/1.1 client of one server.
#[derive(Clone)]
pub struct Loader {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    server_pid: u32,
}

impl Loader {
    pub fn new(base: &str, server_pid: u32) -> Loader {
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build_http();
        Loader { base: base.trim_end_matches('/').to_string(), client, server_pid }
    }

    /// Sends one request; returns its status and body.
    pub async fn send(&self, call: &Call) -> anyhow::Result<(u16, Bytes)> {
        let mut request =
            hyper::Request::builder().method(call.method.clone()).uri(format!("{}{}", self.base, call.path));
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        let body = match &call.body {
            Some(json) => {
                request = request.header("Content-Type", "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let response = self.client.request(request.body(Full::new(body))?).await.context("sending a request")?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.context("reading a response")?.to_bytes();
        Ok((status, body))
    }

    /// Runs `plan` on `concurrency` workers for `duration`; every answer must have `expected`
    /// status, or the run fails (a benchmark of errors measures nothing).
    pub async fn run(
        &self,
        plan: Plan,
        concurrency: usize,
        duration: Duration,
        expected: u16,
    ) -> anyhow::Result<LoadRun> {
        let server_before = cpu_time(self.server_pid).context("server /proc stat")?;
        let client_before = cpu_time(std::process::id()).context("own /proc stat")?;
        let started = Instant::now();
        let deadline = started + duration;
        let workers: Vec<_> = (0..concurrency)
            .map(|worker| {
                let (loader, plan) = (self.clone(), plan.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut sequence = 0;
                    while Instant::now() < deadline {
                        let call = plan(worker, sequence);
                        sequence += 1;
                        let sent = Instant::now();
                        let (status, body) = loader.send(&call).await?;
                        latencies.push(sent.elapsed());
                        if status != expected {
                            bail!("{} {}: {status} {}", call.method, call.path, String::from_utf8_lossy(&body));
                        }
                    }
                    Ok(latencies)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for worker in workers {
            latencies.extend(worker.await??);
        }
        let elapsed = started.elapsed();
        let server_cpu = cpu_time(self.server_pid).context("server /proc stat")? - server_before;
        let client_cpu = cpu_time(std::process::id()).context("own /proc stat")? - client_before;
        Ok(LoadRun { requests: latencies.len(), elapsed, latencies: Samples::new(latencies), server_cpu, client_cpu })
    }
}
