//! Cold starts: each release binary started the way Lambda starts it, against the runtime-API
//! harness and a freshly seeded embedded DynamoDB, once per sample.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use testkit::Env;
use testkit::fixtures::{event_json, expectations, seed};
use testkit::runtime_api::{Outcome, RuntimeApi, spawn_function};

use crate::process::peak_rss;
use crate::stats::Samples;

/// The baseline binary, fed an API Gateway event it answers with 200.
pub const HELLO: &str = "hello";
pub const HELLO_EVENT: &str = "get-session";
/// hello plus one GetItem per invocation (`bench/src/bin/one-call.rs`).
pub const ONE_CALL: &str = "one-call";

/// One binary and the fixture it is started with.
#[derive(Debug, Clone, Copy)]
pub struct ColdCase {
    pub function: &'static str,
    pub event: &'static str,
    /// Whether the request hashes a password: argon2id is the request's work, the same cold or
    /// warm, so those rows are shown but not held to the cold-start ratio.
    pub hashes: bool,
}

const fn case(function: &'static str, event: &'static str) -> ColdCase {
    ColdCase { function, event, hashes: false }
}

const fn hashing(function: &'static str, event: &'static str) -> ColdCase {
    ColdCase { function, event, hashes: true }
}

/// Every function, with its most common request that does not hash a password; then the
/// password paths, for the record.
pub const CASES: &[ColdCase] = &[
    case("create-session", "create-session-app"),
    case("get-session", "get-session"),
    case("destroy-session", "destroy-session"),
    case("login", "login-firebase-project-not-allowed"),
    case("logout", "logout"),
    case("signup", "signup-unknown-auth-key"),
    case("update-user", "update-user"),
    case("delete-user", "delete-user"),
    case("list-users-v2", "list-users-v2-login"),
    case("users-v1", "users-v1-by-id"),
    case("create-blob", "create-blob"),
    case("complete-blob", "complete-blob-not-uploaded"),
    case("get-blob", "get-blob-download"),
    case("delete-blob", "delete-blob"),
    case("reset-password", "reset-password-post"),
    case("reset-page", "reset-page-form"),
    case("send-mail", "send-mail-outbox"),
    hashing("create-session", "create-session-user"),
    hashing("signup", "signup"),
];

/// The medians and peaks of one binary's cold starts.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// Spawn to the first `GET …/invocation/next`: the init phase.
    pub init: Samples,
    /// Spawn to the first response posted.
    pub first_response: Samples,
    /// The same request answered warm, in the same process against a freshly seeded table:
    /// the request's own work (its storage round trips), which a cold start does not add.
    pub warm: Samples,
    /// What being cold costs the request: first response less the warm answer, per spawn.
    pub cold_start: Samples,
    pub peak_rss: u64,
    pub size: u64,
}

/// Starts `binary` `spawns` times, each against a fresh seeded table, feeding it `event`.
pub async fn measure(binary: &Path, event: &str, spawns: usize) -> anyhow::Result<ColdStart> {
    let mut measured = measure_interleaved(&[(binary, event)], spawns).await?;
    Ok(measured.remove(0))
}

/// Cold starts of several binaries, taken in rounds (one spawn of each per round), so that
/// a slow spell of a shared machine weighs on every binary alike instead of on whichever was
/// being measured then. Returned in the order given.
pub async fn measure_interleaved(binaries: &[(&Path, &str)], spawns: usize) -> anyhow::Result<Vec<ColdStart>> {
    let mut taken = Vec::new();
    for (binary, event) in binaries {
        let size = std::fs::metadata(binary).with_context(|| format!("{} is not built", binary.display()))?.len();
        taken.push((Vec::new(), 0, size, expected_status(binary, event)));
    }
    for _ in 0..spawns {
        for ((binary, event), (spawned, peak, _, expected)) in binaries.iter().zip(&mut taken) {
            let spawn = spawn_once(binary, event, *expected).await?;
            *peak = (*peak).max(spawn.peak_rss);
            spawned.push(spawn);
        }
    }
    Ok(taken
        .into_iter()
        .map(|(spawns, peak_rss, size, _)| {
            let samples = |pick: fn(&Spawn) -> Duration| Samples::new(spawns.iter().map(pick).collect());
            ColdStart {
                init: samples(|s| s.init),
                first_response: samples(|s| s.first_response),
                warm: samples(|s| s.warm),
                cold_start: samples(|s| s.first_response.saturating_sub(s.warm)),
                peak_rss,
                size,
            }
        })
        .collect())
}

/// What one spawn measured.
struct Spawn {
    init: Duration,
    first_response: Duration,
    warm: Duration,
    peak_rss: u64,
}

/// One cold start, then the same request again warm: the table is seeded afresh in between,
/// so that the second request finds what the first did (the user it deletes, …).
async fn spawn_once(binary: &Path, event: &str, expected: u16) -> anyhow::Result<Spawn> {
    let env = Env::dynoxide().await;
    seed(&env.deps).await;
    let seeded = env.all_items().await;
    let api = RuntimeApi::start(vec![event_json(event)]).await;
    let spawned = Instant::now();
    let mut child = spawn_function(binary, &api, &env);
    let outcomes = api.outcomes(1, Duration::from_secs(30)).await;
    let Some((answered, outcome)) = outcomes.first() else { bail!("{}: no response", binary.display()) };
    check(binary, event, outcome, expected)?;
    env.restore(&seeded).await;
    let sent = Instant::now();
    api.enqueue([event_json(event)]);
    let outcomes = api.outcomes(2, Duration::from_secs(30)).await;
    let pid = child.id().context("the function exited")?;
    let peak = peak_rss(pid).unwrap_or(0);
    child.kill().await?;
    let Some((answered_warm, outcome)) = outcomes.get(1) else { bail!("{}: no warm response", binary.display()) };
    check(binary, event, outcome, expected)?;
    let polled = api.first_poll().context("no poll")?;
    Ok(Spawn {
        init: polled - spawned,
        first_response: *answered - spawned,
        warm: *answered_warm - sent,
        peak_rss: peak,
    })
}

/// The status `events/expectations.json` names for this function's fixture (200 for hello
/// and for the stream-driven `send-mail`, which answers a batch).
pub(crate) fn expected_status(binary: &Path, event: &str) -> u16 {
    let function = binary.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if function == HELLO || function == ONE_CALL || function == "send-mail" {
        return 200;
    }
    expectations(function).iter().find(|c| c.event == event).map_or(200, |c| c.status)
}

/// A benchmark of failing requests measures nothing: every answer must be the expected one.
pub(crate) fn check(binary: &Path, event: &str, outcome: &Outcome, expected: u16) -> anyhow::Result<()> {
    let status = match outcome {
        Outcome::Response(value) => value["statusCode"].as_u64().map(|s| s as u16),
        Outcome::Error(_) | Outcome::InitError(_) => None,
    };
    let batch_ok = matches!(outcome, Outcome::Response(value) if value["batchItemFailures"] == Value::Array(vec![]));
    if status == Some(expected) || (batch_ok && expected == 200) {
        Ok(())
    } else {
        bail!("{} on {event}: expected {expected}, got {outcome:?}", binary.display())
    }
}
