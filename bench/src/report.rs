//! The Markdown report: the machine and build, one table per measurement, and the targets
//! the measurements are held to.

use std::fmt::Write;
use std::time::Duration;

use crate::cold::{ColdCase, ColdStart};
use crate::stats::{median_f64, ms};
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

/// The warm CPU table from [`crate::cpu::ROUNDS`] rounds: each measure's median over the
/// rounds, and each function against its budget, 2 × hello + trips × floor, taken within each
/// round and reported as the median ratio with its range. Beside it, the same budget with
/// the floor one GetItem costs inside a function (one-call less hello, same round), when
/// one-call was built.
pub fn cpu(rounds: &[crate::cpu::Round], invocations: usize, verdicts: &mut Vec<Verdict>) -> String {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median_us = |of: &dyn Fn(&crate::cpu::Round) -> Duration| median_f64(rounds.iter().map(|r| us(of(r))));
    // A round's budget for `trips` round trips, with the floor it is given.
    let budget = |round: &crate::cpu::Round, trips: f64, floor: f64| 2.0 * us(round.hello) + trips * floor;
    let in_function_floor = |round: &crate::cpu::Round| round.one_call.map(|one_call| us(one_call) - us(round.hello));
    let has_one_call = rounds.iter().all(|r| r.one_call.is_some());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| function | request | round trips | warm CPU µs/invocation | budget µs: 2 × hello + trips × floor | × budget (range over rounds) | × budget with the in-function floor |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    let _ = writeln!(out, "| hello (lambda_http baseline) | any event | 0 | {:.0} | | | |", median_us(&|r| r.hello));
    let _ = writeln!(
        out,
        "| SDK floor: one GetItem in a tight loop | the fixture user | 1 | {:.0} | | | |",
        median_us(&|r| r.floor)
    );
    if has_one_call {
        let one_call = |r: &crate::cpu::Round| r.one_call.unwrap_or_default();
        let _ = writeln!(
            out,
            "| SDK floor in a function: one-call less hello | the fixture user | 1 | {:.0} | | | |",
            median_f64(rounds.iter().filter_map(in_function_floor))
        );
        let ratios: Vec<f64> = rounds.iter().map(|r| us(one_call(r)) / budget(r, 1.0, us(r.floor))).collect();
        let _ = writeln!(
            out,
            "| one-call (hello + one GetItem, nothing else) | the fixture user | 1 | {:.0} | {:.0} | {} | |",
            median_us(&|r| one_call(r)),
            median_f64(rounds.iter().map(|r| budget(r, 1.0, us(r.floor)))),
            ratio_with_range(&ratios)
        );
    }
    let functions = rounds.first().map(|r| r.functions.as_slice()).unwrap_or_default();
    for (index, first) in functions.iter().enumerate() {
        // (round, this function's row in it)
        let measured: Vec<_> = rounds.iter().filter_map(|r| r.functions.get(index).map(|row| (r, row))).collect();
        let trips = median_f64(measured.iter().map(|(_, row)| row.round_trips));
        let cpu = median_f64(measured.iter().map(|(_, row)| us(row.cpu)));
        let budgets = median_f64(measured.iter().map(|(r, row)| budget(r, row.round_trips, us(r.floor))));
        let ratios: Vec<f64> =
            measured.iter().map(|(r, row)| us(row.cpu) / budget(r, row.round_trips, us(r.floor))).collect();
        let in_function: Vec<f64> = measured
            .iter()
            .filter_map(|(r, row)| in_function_floor(r).map(|floor| us(row.cpu) / budget(r, row.round_trips, floor)))
            .collect();
        let in_function_column =
            if in_function.len() == measured.len() { ratio_with_range(&in_function) } else { String::new() };
        let _ = writeln!(
            out,
            "| {} | {} | {trips:.1} | {cpu:.0} | {budgets:.0} | {} | {in_function_column} |",
            first.case.function,
            first.case.event,
            ratio_with_range(&ratios)
        );
        if first.case.function == "get-session" {
            verdicts.push(Verdict {
                target: "get-session warm CPU ≤ 2 × hello + one SDK floor (tight loop) per round trip".into(),
                measured: format!(
                    "{cpu:.0} µs against {budgets:.0} µs: × {} over {} rounds",
                    ratio_with_range(&ratios),
                    rounds.len()
                ),
                met: median_f64(ratios.iter().copied()) <= 1.0,
            });
            if !in_function_column.is_empty() {
                verdicts.push(Verdict {
                    target: "for comparison, the same with the floor measured in a function (one-call less hello)"
                        .into(),
                    measured: format!("× {in_function_column} over {} rounds", rounds.len()),
                    met: median_f64(in_function) <= 1.0,
                });
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} rounds; in each, every measure in turn: {invocations} invocations of the same request per function after a first (cold) one,",
        rounds.len()
    );
    let _ = writeln!(
        out,
        "one at a time with the table put back as seeded before each (so every answer is the fixture's expected one), through"
    );
    let _ = writeln!(
        out,
        "the runtime-API harness, logging at `info` as Lambda does; CPU is the function process's own (user + system). Each"
    );
    let _ = writeln!(
        out,
        "figure is the median over the rounds; a ratio is taken within each round (a function against the hello and floor of"
    );
    let _ = writeln!(
        out,
        "its own round) and given as the median with its range. The tight-loop floor is one GetItem through the production"
    );
    let _ = writeln!(
        out,
        "client (`Deps::from_env`, the same engine over loopback HTTP), timed {} times back to back in each round, in a process started",
        crate::cpu::FLOOR_CALLS
    );
    let _ = writeln!(out, "like a function. Round trips are what each invocation logged.");
    if has_one_call {
        let _ = writeln!(
            out,
            "\nThe in-function floor is the same GetItem measured as the functions are: `one-call` (hello plus one GetItem)"
        );
        let _ = writeln!(
            out,
            "less hello, in the same round. Between two invocations the harness restores the table, so a function's caches are"
        );
        let _ = writeln!(
            out,
            "cold on every invocation, which a tight loop's never are; the last column holds each function to its budget with"
        );
        let _ = writeln!(out, "that floor instead.");
    }
    out
}

/// A median ratio and the range it comes from: `1.12 (0.98–1.30)`.
fn ratio_with_range(ratios: &[f64]) -> String {
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2} ({low:.2}–{high:.2})", median_f64(ratios.iter().copied()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Round, Warm};

    fn round(hello: u64, floor: u64, one_call: u64, get_session: u64) -> Round {
        let case = *crate::cold::CASES.iter().find(|case| case.function == "get-session").unwrap();
        let micros = Duration::from_micros;
        Round {
            hello: micros(hello),
            floor: micros(floor),
            one_call: Some(micros(one_call)),
            functions: vec![Warm { case, cpu: micros(get_session), round_trips: 1.0 }],
        }
    }

    #[test]
    fn the_verdict_is_the_median_of_ratios_taken_within_each_round() {
        // Budgets 2 × hello + floor: 700, 700, 1,400 (a slow round); ratios 0.9, 0.95, 1.5.
        let rounds = [round(250, 200, 600, 630), round(250, 200, 600, 665), round(500, 400, 1_200, 2_100)];
        let mut verdicts = Vec::new();
        let table = cpu(&rounds, 500, &mut verdicts);
        assert_eq!(verdicts.len(), 2);
        assert!(verdicts[0].met, "the median round is within budget: {}", verdicts[0].measured);
        assert!(verdicts[0].measured.contains("0.95 (0.90–1.50)"), "{}", verdicts[0].measured);
        // In-function floor: one-call less hello (350, 350, 700); budgets 850, 850, 1,700.
        assert!(table.contains("| 0.78 (0.74–1.24) |"), "{table}");
        assert!(verdicts[1].met, "{}", verdicts[1].measured);
    }

    #[test]
    fn a_function_over_budget_in_most_rounds_fails() {
        let rounds = [round(250, 200, 600, 800), round(250, 200, 600, 650), round(250, 200, 600, 900)];
        let mut verdicts = Vec::new();
        cpu(&rounds, 500, &mut verdicts);
        assert!(!verdicts[0].met, "{}", verdicts[0].measured);
    }
}
