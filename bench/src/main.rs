//! `make bench`: measures the release build and writes `docs/benchmarks.md`.
//!
//! `bench [--bin-dir DIR] [--profile NAME=DIR]... [--spawns N] [--seconds S] [--out FILE]`
//! - `--bin-dir`: the release function binaries, `hello` and `cube-auth` (`target/release`);
//! - `--profile`: another build of the comparison functions and `hello`, to compare profiles;
//! - `--spawns`: cold starts per binary (10); `--seconds`: each warm run (5);
//! - `--pocketbase`: the PocketBase binary to compare local mode with;
//! - `--only cold|profiles|warm|peer|cpu`: one section (repeatable), while tuning; writes no report;
//! - `--function NAME`: only this function's row in the CPU table (repeatable), while tuning.

mod cold;
mod cpu;
mod load;
mod peer;
mod process;
mod report;
mod stats;
mod warm;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

/// Workers of the warm load generator.
pub(crate) const CONCURRENCY: usize = 8;
/// Rounds per path of the PocketBase comparison.
const PEER_ROUNDS: usize = 2;
/// Invocations per process in the profile comparison.
const WARM_INVOCATIONS: usize = 500;
/// Invocations per function in the CPU table, over its rounds: /proc counts CPU in 10 ms
/// ticks, so a round's 500 invocations of ~300 µs read to about ±7%, and the median of the
/// rounds closer.
const CPU_INVOCATIONS: usize = 2_000;
/// Sequential samples of the hash and of login.
const LOGIN_SAMPLES: usize = 100;
/// Functions built under each compared profile: the smallest, a hashing one, a query.
const COMPARED: &[(&str, &str)] = &[
    ("get-session", "get-session"),
    ("create-session", "create-session-app"),
    ("list-users-v2", "list-users-v2-login"),
];

struct Options {
    bin_dir: PathBuf,
    profiles: Vec<(String, PathBuf)>,
    spawns: usize,
    seconds: u64,
    out: PathBuf,
    only: Vec<String>,
    functions: Vec<String>,
    pocketbase: Option<PathBuf>,
}

impl Options {
    fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        bin_dir: PathBuf::from("target/release"),
        profiles: Vec::new(),
        spawns: 10,
        seconds: 5,
        out: PathBuf::from("docs/benchmarks.md"),
        only: Vec::new(),
        functions: Vec::new(),
        pocketbase: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--bin-dir" => options.bin_dir = value()?.into(),
            "--profile" => {
                let spec = value()?;
                let (name, dir) = spec.split_once('=').context("--profile NAME=DIR")?;
                options.profiles.push((name.to_string(), dir.into()));
            }
            "--spawns" => options.spawns = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--out" => options.out = value()?.into(),
            "--only" => options.only.push(value()?),
            "--function" => options.functions.push(value()?),
            "--pocketbase" => options.pocketbase = Some(value()?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("sdk-floor") {
        // The SDK floor's own process, on the runtime a function runs on.
        let calls = args.get(2).context("sdk-floor CALLS")?.parse()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        return runtime.block_on(cpu::sdk_floor_child(calls));
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(options()?))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let mut verdicts = Vec::new();
    let mut document = format!(
        "# Benchmarks\n\nWritten by `make bench` (release profile; `bench/`). Re-run it to refresh.\n\n{}\n",
        report::machine()
    );
    let mut sections = String::new();

    if options.runs("cold") {
        sections += &format!("## Cold starts\n\n{}\n", cold_starts(&options, &mut verdicts).await?);
    }
    if options.runs("warm") {
        eprintln!("warm requests on cube-auth serve");
        let server = warm::Server::start(&options.bin_dir.join("cube-auth")).await?;
        let measured = warm::measure(&server, CONCURRENCY, Duration::from_secs(options.seconds), LOGIN_SAMPLES).await;
        server.stop().await;
        let (login, measured) = measured?;
        sections += &format!(
            "## Warm requests on `cube-auth serve`\n\n{}\n## Password hashing and login\n\n{}\n",
            report::warm(&measured, CONCURRENCY, &mut verdicts),
            report::login(&login, &mut verdicts)
        );
    }
    if options.runs("peer") {
        sections +=
            &format!("## Local mode beside PocketBase\n\n{}\n", peer_comparison(&options, &mut verdicts).await?);
    }
    if options.runs("cpu") {
        sections += &format!("## Warm CPU per invocation\n\n{}\n", cpu_per_invocation(&options, &mut verdicts).await?);
    }
    if options.runs("profiles") {
        sections += &format!("## Build profiles\n\n{}", build_profiles(&options).await?);
    }
    document += &format!("## Targets\n\n{}\n{sections}", report::verdicts(&verdicts));

    println!("{document}");
    if options.only.is_empty() && options.functions.is_empty() {
        if let Some(parent) = options.out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&options.out, &document).with_context(|| format!("writing {}", options.out.display()))?;
        eprintln!("written to {}", options.out.display());
    }
    Ok(())
}

async fn cold_starts(options: &Options, verdicts: &mut Vec<report::Verdict>) -> anyhow::Result<String> {
    let spawns = options.spawns;
    eprintln!("cold starts ({spawns} rounds of one spawn per binary, the baseline included)");
    let paths: Vec<std::path::PathBuf> = std::iter::once(cold::HELLO)
        .chain(cold::CASES.iter().map(|case| case.function))
        .map(|function| options.bin_dir.join(function))
        .collect();
    let events = std::iter::once(cold::HELLO_EVENT).chain(cold::CASES.iter().map(|case| case.event));
    let binaries: Vec<(&std::path::Path, &str)> = paths.iter().map(|p| p.as_path()).zip(events).collect();
    let mut measured = cold::measure_interleaved(&binaries, spawns).await?;
    let hello = measured.remove(0);
    let rows: Vec<_> = cold::CASES.iter().copied().zip(measured).collect();
    Ok(report::cold_starts(&hello, &rows, spawns, verdicts))
}

async fn cpu_per_invocation(options: &Options, verdicts: &mut Vec<report::Verdict>) -> anyhow::Result<String> {
    let per_round = CPU_INVOCATIONS / cpu::ROUNDS;
    eprintln!("warm CPU per invocation ({} rounds of {per_round} invocations per function)", cpu::ROUNDS);
    let mut rounds = Vec::new();
    for round in 1..=cpu::ROUNDS {
        eprintln!("  round {round}");
        rounds.push(cpu::round(&options.bin_dir, per_round, &options.functions).await?);
    }
    Ok(report::cpu(&rounds, per_round, verdicts))
}

async fn peer_comparison(options: &Options, verdicts: &mut Vec<report::Verdict>) -> anyhow::Result<String> {
    let Some(pocketbase) = &options.pocketbase else {
        return Ok("Not measured: no `--pocketbase` binary given (`make bench` installs one).\n".to_string());
    };
    eprintln!("cube-auth serve beside PocketBase ({PEER_ROUNDS} rounds)");
    let cube_auth = options.bin_dir.join("cube-auth");
    let compared =
        peer::compare(&cube_auth, pocketbase, CONCURRENCY, Duration::from_secs(options.seconds), PEER_ROUNDS).await?;
    Ok(report::peer(&compared, &peer::version(pocketbase).await, PEER_ROUNDS, verdicts))
}

async fn build_profiles(options: &Options) -> anyhow::Result<String> {
    eprintln!("build profiles");
    let mut rows = Vec::new();
    let release = ("release".to_string(), options.bin_dir.clone());
    for (profile, dir) in std::iter::once(&release).chain(&options.profiles) {
        for &(function, event) in [(cold::HELLO, cold::HELLO_EVENT)].iter().chain(COMPARED) {
            eprintln!("  {profile}: {function}");
            let binary = dir.join(function);
            let cold = cold::measure(&binary, event, options.spawns).await?;
            let warm = cpu::warm(&binary, event, WARM_INVOCATIONS, "warn", cpu::Table::AsLeft).await?;
            rows.push(report::ProfileRow {
                profile: profile.clone(),
                function,
                cold,
                warm_cpu: warm.cpu,
                warm_wall: warm.wall,
            });
        }
    }
    Ok(report::profiles(&rows, WARM_INVOCATIONS))
}
