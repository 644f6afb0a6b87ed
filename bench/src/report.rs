//! The Markdown report: the machine and build, one table per measurement, and the targets
//! the measurements are held to.

use std::fmt::Write;
use std::time::Duration;

use crate::cold::{ColdCase, ColdStart};
use crate::stats::ms;
use crate::warm::{LoginCost, Measured};

const MIB: f64 = 1024.0 * 1024.0;

/// A target and whether this run met it.
pub struct Verdict {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

/// The machine, toolchain, commit and date the numbers were taken on.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok())
        })
        .map_or_else(|| "unknown".into(), |kib| format!("{:.1} GiB", kib / MIB));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let commit = command("git", &["rev-parse", "--short=12", "HEAD"]);
    // The report itself (left over from an earlier run) does not make the measured code dirty.
    let changes = command("git", &["status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/benchmarks.md"]);
    let dirty = if changes.is_empty() { "" } else { " (with uncommitted changes)" };
    format!(
        "- Date: {}\n- Commit: {commit}{dirty}\n- Machine: {cores} cores ({cpu}), {memory} memory, Linux {}\n- Toolchain: {}\n",
        command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        kernel.trim(),
        command("rustc", &["--version"]),
    )
}

fn command(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB)
}

/// Cold starts of every function beside the baseline.
pub fn cold_starts(
    hello: &ColdStart,
    rows: &[(ColdCase, ColdStart)],
    spawns: usize,
    verdicts: &mut Vec<Verdict>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| function | request | init p50 ms | first response p50 ms | same request warm p50 ms | cold start p50 ms | × hello | first response × hello | size MiB | peak RSS MiB |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let base = hello.cold_start.median().as_secs_f64();
    let base_first = hello.first_response.median().as_secs_f64();
    let _ = writeln!(
        out,
        "| hello (lambda_http baseline) | any event | {} | {} | {} | {} | 1.00 | 1.00 | {} | {} |",
        ms(hello.init.median()),
        ms(hello.first_response.median()),
        ms(hello.warm.median()),
        ms(hello.cold_start.median()),
        mib(hello.size),
        mib(hello.peak_rss)
    );
    let mut worst: (f64, &str) = (0.0, "");
    let mut worst_first: (f64, &str) = (0.0, "");
    for (case, cold) in rows {
        let ratio = cold.cold_start.median().as_secs_f64() / base;
        let first_ratio = cold.first_response.median().as_secs_f64() / base_first;
        let request = if case.hashes { format!("{} (one argon2id hash)", case.event) } else { case.event.to_string() };
        let _ = writeln!(
            out,
            "| {} | {request} | {} | {} | {} | {} | {ratio:.2} | {first_ratio:.2} | {} | {} |",
            case.function,
            ms(cold.init.median()),
            ms(cold.first_response.median()),
            ms(cold.warm.median()),
            ms(cold.cold_start.median()),
            mib(cold.size),
            mib(cold.peak_rss)
        );
        if !case.hashes && ratio > worst.0 {
            worst = (ratio, case.function);
        }
        if !case.hashes && first_ratio > worst_first.0 {
            worst_first = (first_ratio, case.function);
        }
    }
    let _ = writeln!(
        out,
        "\nMedians of {spawns} spawns each, taken in rounds of one spawn per binary (the baseline included),"
    );
    let _ =
        writeln!(out, "so that a slow spell of the machine weighs on every row alike; every spawn is a new process");
    let _ = writeln!(
        out,
        "against a freshly seeded table, and every answer is checked against the status its fixture expects."
    );
    let _ =
        writeln!(out, "After its first answer, each process gets the same request again against a table seeded afresh");
    let _ = writeln!(
        out,
        "(\"same request warm\"). The cold start is what being cold adds: first response less warm answer,"
    );
    let _ = writeln!(
        out,
        "per spawn. The first response also holds the request's own storage round trips (three sequential"
    );
    let _ = writeln!(
        out,
        "ones for delete-user), which the hello baseline does not make and which a warm request pays too."
    );
    verdicts.push(Verdict {
        target: "every function's median cold start (first response less the same request warm) ≤ 3× hello's".into(),
        measured: format!("worst {:.2}× ({})", worst.0, worst.1),
        met: worst.0 <= 3.0,
    });
    verdicts.push(Verdict {
        target: "every function's median spawn-to-first-response ≤ 3× hello's (storage round trips included)".into(),
        measured: format!("worst {:.2}× ({})", worst_first.0, worst_first.1),
        met: worst_first.0 <= 3.0,
    });
    let biggest = rows.iter().max_by_key(|(_, c)| c.size).map(|(case, c)| (c.size, case.function)).unwrap_or((0, ""));
    verdicts.push(Verdict {
        target: "no function over 10 MB stripped".into(),
        measured: format!("largest {} MiB ({})", mib(biggest.0), biggest.1),
        met: biggest.0 <= 10_000_000,
    });
    let hungriest =
        rows.iter().max_by_key(|(_, c)| c.peak_rss).map(|(case, c)| (c.peak_rss, case.function)).unwrap_or((0, ""));
    verdicts.push(Verdict {
        target: "peak RSS under 64 MiB".into(),
        measured: format!("largest {} MiB ({})", mib(hungriest.0), hungriest.1),
        met: hungriest.0 < 64 * 1024 * 1024,
    });
    out
}

/// Warm throughput and latency on `cube-auth serve`.
pub fn warm(measured: &[Measured], concurrency: usize, verdicts: &mut Vec<Verdict>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| endpoint | requests | req/s | p50 ms | p99 ms | server CPU ms/req | load generator CPU ms/req |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for m in measured {
        let run = &m.run;
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {} | {} | {:.3} | {:.3} |",
            m.name,
            run.requests,
            run.per_second(),
            ms(run.latencies.median()),
            ms(run.latencies.percentile(99.0)),
            run.server_cpu_per_request().as_secs_f64() * 1000.0,
            run.client_cpu_per_request().as_secs_f64() * 1000.0,
        );
        if matches!(m.name, "get session" | "get user by id") {
            let p99 = run.latencies.percentile(99.0);
            verdicts.push(Verdict {
                target: format!("{}: ≥ 2,500 req/s with p99 < 10 ms", m.name),
                measured: format!("{:.0} req/s, p99 {} ms", run.per_second(), ms(p99)),
                met: run.per_second() >= 2500.0 && p99 < Duration::from_millis(10),
            });
        }
    }
    let _ = writeln!(
        out,
        "\nClosed loop at concurrency {concurrency}, kept-alive loopback connections, load generator on the same"
    );
    let _ = writeln!(out, "machine; each endpoint after a one-second warm-up, every answer checked for its status.");
    out
}

/// Login latency as a multiple of one hash.
pub fn login(cost: &LoginCost, verdicts: &mut Vec<Verdict>) -> String {
    let ratio = cost.login.median().as_secs_f64() / cost.hash.median().as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(out, "| measurement | samples | p50 ms | p99 ms |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for (name, samples) in
        [("argon2id hash (19 MiB, t=2, p=1)", &cost.hash), ("login (POST /session), concurrency 1", &cost.login)]
    {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            samples.len(),
            ms(samples.median()),
            ms(samples.percentile(99.0))
        );
    }
    let _ = writeln!(out, "\nLogin p50 is {ratio:.3}× one hash.");
    verdicts.push(Verdict {
        target: "login latency ≤ 1.15× one argon2id hash".into(),
        measured: format!("{ratio:.3}×"),
        met: ratio <= 1.15,
    });
    out
}

/// One row of the build-profile comparison.
pub struct ProfileRow {
    pub profile: String,
    pub function: &'static str,
    pub cold: ColdStart,
    pub warm_cpu: Duration,
    pub warm_wall: Duration,
}

pub fn profiles(rows: &[ProfileRow], invocations: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| profile | function | size MiB | init p50 ms | first response p50 ms | warm CPU µs/invocation | warm wall µs/invocation |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} |",
            row.profile,
            row.function,
            mib(row.cold.size),
            ms(row.cold.init.median()),
            ms(row.cold.first_response.median()),
            row.warm_cpu.as_secs_f64() * 1e6,
            row.warm_wall.as_secs_f64() * 1e6,
        );
    }
    let _ = writeln!(
        out,
        "\nWarm figures: {invocations} invocations of the same request in one process, through the runtime-API"
    );
    let _ = writeln!(out, "harness (wall time includes the harness and the embedded table in the benchmark process).");
    out
}

/// Warm CPU per invocation against hello and the SDK floor.
pub fn cpu(
    hello: Duration,
    floor: Duration,
    one_call: Option<Duration>,
    rows: &[crate::cpu::Warm],
    invocations: usize,
    verdicts: &mut Vec<Verdict>,
) -> String {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    // What a function making `trips` DynamoDB round trips is held to.
    let budget_for = |trips: f64| 2.0 * us(hello) + trips * us(floor);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| function | request | round trips | warm CPU µs/invocation | budget µs: 2 × hello + trips × floor | × budget |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    let _ = writeln!(out, "| hello (lambda_http baseline) | any event | 0 | {:.0} | | |", us(hello));
    let _ = writeln!(out, "| SDK floor: one GetItem | the fixture user | 1 | {:.0} | | |", us(floor));
    if let Some(one_call) = one_call {
        let budget = budget_for(1.0);
        let _ = writeln!(
            out,
            "| one-call (hello + one GetItem, nothing else) | the fixture user | 1 | {:.0} | {budget:.0} | {:.2} |",
            us(one_call),
            us(one_call) / budget
        );
    }
    for row in rows {
        let budget = budget_for(row.round_trips);
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.0} | {:.0} | {:.2} |",
            row.case.function,
            row.case.event,
            row.round_trips,
            us(row.cpu),
            budget,
            us(row.cpu) / budget
        );
        if row.case.function == "get-session" {
            verdicts.push(Verdict {
                target: "get-session warm CPU ≤ 2 × hello + one SDK floor per round trip".into(),
                measured: format!("{:.0} µs against {budget:.0} µs", us(row.cpu)),
                met: us(row.cpu) <= budget,
            });
        }
    }
    let _ = writeln!(
        out,
        "\n{invocations} invocations of the same request per function after a first (cold) one, one at a time with the table"
    );
    let _ = writeln!(
        out,
        "put back as seeded before each (so every answer is the fixture's expected one), through the runtime-API"
    );
    let _ = writeln!(
        out,
        "harness, logging at `info` as Lambda does; CPU is the function process's own (user + system). The floor is one"
    );
    let _ = writeln!(
        out,
        "GetItem through the production client (`Deps::from_env`, the same engine over loopback HTTP), timed alone in a"
    );
    let _ = writeln!(out, "process started like a function. Round trips are what each invocation logged.");
    if let Some(one_call) = one_call {
        let in_function = us(one_call) - us(hello);
        let _ = writeln!(
            out,
            "\n`one-call` is hello plus one GetItem, measured like the functions: one SDK call costs a function {in_function:.0} µs"
        );
        let _ = writeln!(
            out,
            "per invocation ({:.1} × the floor timed in a tight loop), and the smallest function that makes one call is at {:.2} × the",
            in_function / us(floor),
            us(one_call) / budget_for(1.0)
        );
        let _ = writeln!(out, "budget a one-round-trip function is held to.");
    }
    out
}

/// cube-auth serve against PocketBase: ratios only (the machine sets the absolute numbers).
pub fn peer(compared: &[crate::peer::Compared], version: &str, rounds: usize, verdicts: &mut Vec<Verdict>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| path | throughput × PocketBase, each round | throughput × PocketBase, all rounds | target | PocketBase's server CPU per request ÷ cube-auth's |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for c in compared {
        let rounds: Vec<String> = c
            .ours
            .iter()
            .zip(&c.theirs)
            .map(|(ours, theirs)| format!("{:.2}", ours.per_second() / theirs.per_second().max(f64::MIN_POSITIVE)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | ≥ {:.1} | {:.2} |",
            c.name,
            rounds.join(" / "),
            c.ratio(),
            c.target,
            c.cpu_ratio()
        );
        verdicts.push(Verdict {
            target: format!("cube-auth serve ≥ {:.1}× PocketBase: {}", c.target, c.name),
            measured: format!("{:.2}×", c.ratio()),
            met: c.ratio() >= c.target,
        });
    }
    let _ =
        writeln!(out, "\nThe same 64 users on both ({version}), the same closed-loop load generator at concurrency");
    let _ = writeln!(
        out,
        "{} over kept-alive loopback connections, {rounds} rounds per path alternating which server goes first,",
        crate::CONCURRENCY
    );
    let _ = writeln!(
        out,
        "each run after a one-second warm-up and every answer checked for its status. Both servers use both cores."
    );
    out
}

pub fn verdicts(verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| target | measured | met |");
    let _ = writeln!(out, "|---|---|---|");
    for v in verdicts {
        let _ = writeln!(out, "| {} | {} | {} |", v.target, v.measured, if v.met { "yes" } else { "**no**" });
    }
    out
}
