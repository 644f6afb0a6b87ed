//! Fixture runs: the data behind `events/*.json` (from [`shared::fixtures`], which
//! `cube-auth fixtures seed` writes for `sam local invoke`), what each fixture must produce,
//! and the per-function handler test that sends each event through Lambda's conversion.

use std::path::PathBuf;

use shared::routes::Function;
use shared::{Body, Deps, Request, Response};

pub use shared::fixtures::*;

/// The workspace's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Writes the fixture data (see [`shared::fixtures`]) into a test table.
pub async fn seed(deps: &Deps) {
    shared::fixtures::seed(deps).await.expect("seeding the fixtures");
}

/// One fixture and what it must produce (`events/expectations.json`).
#[derive(Debug, Clone)]
pub struct Expectation {
    pub event: String,
    pub status: u16,
    pub contains: Vec<String>,
}

/// The fixtures of `function`, in the order they must run.
pub fn expectations(function: &str) -> Vec<Expectation> {
    let path = events_dir().join("expectations.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let all: serde_json::Value = serde_json::from_str(&text).expect("expectations.json is JSON");
    let cases = all[function].as_array().unwrap_or_else(|| panic!("no expectations for {function}"));
    cases
        .iter()
        .map(|case| Expectation {
            event: case["event"].as_str().expect("event").to_string(),
            status: case["status"].as_u64().expect("status") as u16,
            contains: case["contains"]
                .as_array()
                .map(|c| c.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// Asserts that a response meets an expectation, naming the fixture on failure.
pub fn assert_meets(expectation: &Expectation, status: u16, body: &str) {
    assert_eq!(status, expectation.status, "{}: status (body {body})", expectation.event);
    for needle in &expectation.contains {
        assert!(body.contains(needle.as_str()), "{}: body lacks {needle}: {body}", expectation.event);
    }
}

/// Runs every fixture of `function` through `handle` against a freshly seeded dynoxide,
/// each event going through the conversion Lambda runs (the guard, then `lambda_http`): the
/// per-function handler test.
pub async fn check_handler<F, Fut>(function: Function, handle: F)
where
    F: Fn(Deps, Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>> + Send,
{
    let env = crate::Env::dynoxide().await;
    seed(&env.deps).await;
    let deps = env.deps.clone();
    let mut service = shared::lambda::service(|req| handle(deps.clone(), req));
    for expectation in expectations(function.name()) {
        let answer = shared::lambda::invoke(&mut service, event_json(&expectation.event)).await;
        let answer = crate::Answer::from_lambda(&answer);
        assert_meets(&expectation, answer.status, &String::from_utf8_lossy(&answer.body));
    }
}

/// The raw API Gateway event of `events/<name>.json`.
pub fn event_json(name: &str) -> serde_json::Value {
    let path = events_dir().join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read event")).expect("event is JSON")
}
