//! Warm CPU per invocation of every function through the runtime-API harness, beside two
//! floors: the `lambda_http` hello (what any Rust function costs per invocation) and the SDK's
//! own cost of one GetItem against the same embedded engine, measured alone in a process set
//! up exactly like a function. A function is held to twice hello's cost plus one floor per
//! DynamoDB round trip it makes: 2 × hello + trips × floor.
//!
//! Everything is measured in [`ROUNDS`] rounds, each taking every measure once in turn. A
//! shared machine's speed drifts by minutes (a cloud VM's steal time moved one floor from 145
//! to 400 µs between runs here); in rounds, a drift moves a function and the measures it is
//! held to together, and the table reports medians over the rounds.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use testkit::Env;
use testkit::fixtures::{event_json, seed};
use testkit::runtime_api::{RuntimeApi, function_command};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cold::{self, ColdCase};
use crate::process::cpu_time;

/// Rounds of the CPU table.
pub const ROUNDS: usize = 4;

/// Every measure of the CPU table, taken once.
pub struct Round {
    pub hello: Duration,
    pub floor: Duration,
    /// `None` when `one-call` was not built.
    pub one_call: Option<Duration>,
    pub functions: Vec<Warm>,
}

/// GetItems the floor process times in each round (after as many untimed ones): /proc counts
/// CPU in 10 ms ticks, and 2,000 GetItems of ~150 µs read to about ±3%, where a round's 500
/// would read to ±14%. They take a few seconds.
pub const FLOOR_CALLS: usize = 2_000;

/// One round: the floor, hello, one-call and the functions named in `only` (all, if it is
/// empty), `invocations` each.
pub async fn round(bin_dir: &Path, invocations: usize, only: &[String]) -> anyhow::Result<Round> {
    let floor = sdk_floor(FLOOR_CALLS).await?;
    let hello = warm(&bin_dir.join(cold::HELLO), cold::HELLO_EVENT, invocations, "info", Table::Reseeded).await?.cpu;
    let one_call = one_call(bin_dir, invocations).await?;
    let functions = every_function(bin_dir, invocations, only).await?;
    Ok(Round { hello, floor, one_call, functions })
}

/// One function's warm cost.
pub struct Warm {
    pub case: ColdCase,
    pub cpu: Duration,
    /// DynamoDB/S3 round trips per invocation, from the function's own request log.
    pub round_trips: f64,
}

/// What warm invocations of one process cost, each.
pub struct WarmCost {
    pub cpu: Duration,
    pub wall: Duration,
    /// Round trips each invocation logged (0 when the log level hides the request line).
    pub round_trips: f64,
}

/// How the invocations follow each other.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Back to back against the table as the requests leave it (idempotent requests only).
    AsLeft,
    /// One at a time, the table put back as seeded before each: a request that deletes or
    /// ends what it names (a session, a user, a blob) is answered as the first time, every
    /// time. Wall time then includes the restoring.
    Reseeded,
}

/// `count` warm invocations of `binary` on `event` in one process (after a first, cold one),
/// logging at `log_level`, every answer checked for the status its fixture expects.
pub async fn warm(binary: &Path, event: &str, count: usize, log_level: &str, table: Table) -> anyhow::Result<WarmCost> {
    let expected = cold::expected_status(binary, event);
    let env = Env::dynoxide().await;
    seed(&env.deps).await;
    let seeded = env.all_items().await;
    let api = RuntimeApi::start(vec![event_json(event)]).await;
    let mut command = function_command(binary, &api, &env);
    let mut child = command.env("AWS_LAMBDA_LOG_LEVEL", log_level).stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("function stdout")?;
    let trips = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut trips = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(log) = serde_json::from_str::<Value>(&line)
                && let Some(count) = log["fields"]["round_trips"].as_u64()
            {
                trips.push(count);
            }
        }
        trips
    });
    api.outcomes(1, Duration::from_secs(30)).await;
    let pid = child.id().context("the function exited")?;
    let before = cpu_time(pid).context("no /proc stat")?;
    let started = Instant::now();
    let outcomes = match table {
        Table::AsLeft => {
            api.enqueue(std::iter::repeat_n(event_json(event), count));
            api.outcomes(count + 1, Duration::from_secs(120)).await
        }
        Table::Reseeded => {
            let mut outcomes = Vec::new();
            for answered in 1..=count {
                env.restore(&seeded).await;
                api.enqueue([event_json(event)]);
                outcomes = api.outcomes(answered + 1, Duration::from_secs(30)).await;
                if outcomes.len() <= answered {
                    break;
                }
            }
            outcomes
        }
    };
    let wall = started.elapsed();
    let cpu = cpu_time(pid).context("no /proc stat")? - before;
    child.kill().await?;
    if outcomes.len() != count + 1 {
        bail!("{}: {} of {} invocations answered", binary.display(), outcomes.len(), count + 1);
    }
    for (_, outcome) in &outcomes {
        cold::check(binary, event, outcome, expected)?;
    }
    let trips = trips.await?;
    // The warm invocations' logs (the first, cold one may differ: a session refresh).
    let warm_trips = &trips[trips.len().saturating_sub(count)..];
    let round_trips = warm_trips.iter().sum::<u64>() as f64 / warm_trips.len().max(1) as f64;
    Ok(WarmCost { cpu: cpu / count as u32, wall: wall / count as u32, round_trips })
}

/// Every function's most common request that does not hash a password (only the functions
/// named in `only`, unless it is empty).
pub async fn every_function(bin_dir: &Path, count: usize, only: &[String]) -> anyhow::Result<Vec<Warm>> {
    let mut rows = Vec::new();
    let chosen = |case: &&ColdCase| only.is_empty() || only.iter().any(|name| name == case.function);
    for case in cold::CASES.iter().filter(|case| !case.hashes).filter(chosen) {
        eprintln!("  warm CPU: {}", case.function);
        let cost = warm(&bin_dir.join(case.function), case.event, count, "info", Table::Reseeded).await?;
        rows.push(Warm { case: *case, cpu: cost.cpu, round_trips: cost.round_trips });
    }
    Ok(rows)
}

/// The smallest function that makes one call (`one-call`: hello plus one GetItem), measured
/// like the functions; `None` when it was not built into `bin_dir`.
pub async fn one_call(bin_dir: &Path, count: usize) -> anyhow::Result<Option<Duration>> {
    let binary = bin_dir.join(cold::ONE_CALL);
    if !binary.exists() {
        return Ok(None);
    }
    eprintln!("  warm CPU: {}", cold::ONE_CALL);
    Ok(Some(warm(&binary, cold::HELLO_EVENT, count, "info", Table::Reseeded).await?.cpu))
}

/// The SDK floor: this benchmark binary started as a function would be (`sdk-floor`), timing
/// `calls` GetItems of the fixture user through the production client (`Deps::from_env`).
pub async fn sdk_floor(calls: usize) -> anyhow::Result<Duration> {
    let env = Env::dynoxide().await;
    seed(&env.deps).await;
    let api = RuntimeApi::start(Vec::new()).await;
    let this = std::env::current_exe()?;
    let output = function_command(&this, &api, &env)
        .args(["sdk-floor", &calls.to_string()])
        .stdout(Stdio::piped())
        .output()
        .await?;
    if !output.status.success() {
        bail!("sdk-floor failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let nanos: u64 = String::from_utf8(output.stdout)?.trim().parse().context("sdk-floor's answer")?;
    Ok(Duration::from_nanos(nanos))
}

/// The floor process: prints the CPU nanoseconds one GetItem costs this process.
pub async fn sdk_floor_child(calls: usize) -> anyhow::Result<()> {
    let deps = shared::Deps::from_env().await?;
    let (pk, sk) = shared::store::keys::user(shared::fixtures::USER_ID);
    let key = shared::store::item::key(pk, sk);
    for _ in 0..calls {
        deps.store.get(key.clone()).await?.context("the fixture user")?;
    }
    let pid = std::process::id();
    let before = cpu_time(pid).context("no /proc stat")?;
    for _ in 0..calls {
        deps.store.get(key.clone()).await?.context("the fixture user")?;
    }
    let cpu = cpu_time(pid).context("no /proc stat")? - before;
    println!("{}", cpu.as_nanos() / calls as u128);
    Ok(())
}
