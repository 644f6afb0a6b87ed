//! `make bench-scale`: what each user-search shape costs at 1,000, 10,000 and 100,000 matching
//! users, on AWS DynamoDB Local (`DYNAMODB_LOCAL_ENDPOINT`), through the release handlers.
//!
//! `scale [--sizes 1000,10000,100000] [--runs N] [--out FILE]`
//!
//! Each size gets its own application, seeded in bulk with exactly the items a signup writes
//! (every user matches the shapes' tag, phone and name prefix). Each shape is sent `--runs`
//! times; the table gives DynamoDB round trips, items and bytes read (from the SDK interceptor
//! that logs every request's calls) and the median latency. With `--out` the table replaces
//! the part of that file between `<!-- scale:begin -->` and `<!-- scale:end -->`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use shared::Deps;
use shared::domain::app::AppSettings;
use shared::domain::user::User;
use testkit::{Answer, Env, get, post};

/// A search shape: its label, and its path (`MID` is the median `created_at`, `FIRST` the
/// first user's id, `IDS` ten ids).
const SHAPES: &[(&str, &str)] = &[
    ("tag, id order", "/users/v2.json?user_tags=t&limit=10"),
    ("tag + created_at[gt]=0, id order", "/users/v2.json?user_tags=t&created_at[gt]=0&limit=10"),
    (
        "tag + created_at range, by created_at",
        "/users/v2.json?user_tags=t&created_at[gt]=MID&sort_asc=created_at&limit=10",
    ),
    ("tag + tag nin", "/users/v2.json?user_tags[in][]=t&user_tags[nin][]=even&limit=10"),
    ("tag, offset 900, limit 100", "/users/v2.json?user_tags=t&offset=900&limit=100"),
    ("exact phone", "/users/v2.json?phone=5550100&limit=10"),
    ("prefix, by full_name", "/users/v2.json?full_name[start_with]=scal&sort_asc=full_name"),
    (
        "prefix + id nin, by full_name",
        "/users/v2.json?full_name[start_with]=scaleperson%200&id[nin][]=FIRST&sort_desc=full_name",
    ),
    ("prefix, id order", "/users/v2.json?full_name[start_with]=scal"),
    ("login", "/users/v2.json?login=scale7"),
    ("ten ids", "/users/v2.json?IDS"),
    ("V1 by_tags", "/users/by_tags.json?tags=t&per_page=10"),
    ("V1 listing", "/users.json?per_page=10"),
    ("V1 listing by created_at desc", "/users.json?order=desc+date+created_at&per_page=10"),
    ("V1 listing, filter id > 0", "/users.json?filter[]=number+id+gt+0&per_page=10"),
];

struct Options {
    sizes: Vec<usize>,
    runs: usize,
    out: Option<PathBuf>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options { sizes: vec![1_000, 10_000, 100_000], runs: 10, out: None };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => options.sizes = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--runs" => options.runs = value.parse()?,
            "--out" => options.out = Some(PathBuf::from(value)),
            _ => bail!("unknown flag {flag}"),
        }
    }
    Ok(options)
}

/// One shape at one size.
struct Measured {
    status: u16,
    trips: usize,
    items: usize,
    bytes: usize,
    median: Duration,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let env = Env::dynamodb_local().await.context("set DYNAMODB_LOCAL_ENDPOINT (make bench-scale starts one)")?;
    let mut columns = Vec::new();
    for &size in &options.sizes {
        let started = Instant::now();
        let (token, users) = seed(&env, size).await;
        eprintln!("seeded {size} users in {:.1} s", started.elapsed().as_secs_f64());
        let mut column = Vec::new();
        for (label, path) in SHAPES {
            let path = fill(path, &users);
            let measured = measure(&env.deps, &token, &path, options.runs).await;
            eprintln!(
                "{size:>7} {label:<40} {} {:>3} trips {:>5} items {:>7} B {:>7.1} ms",
                measured.status,
                measured.trips,
                measured.items,
                measured.bytes,
                measured.median.as_secs_f64() * 1e3
            );
            column.push(measured);
        }
        columns.push((size, column));
    }
    let table = table(&columns);
    println!("{table}");
    if let Some(out) = options.out {
        let text = std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        let (Some(begin), Some(end)) = (text.find("<!-- scale:begin -->"), text.find("<!-- scale:end -->")) else {
            bail!("{} has no <!-- scale:begin --> … <!-- scale:end --> markers", out.display());
        };
        let begin = begin + "<!-- scale:begin -->".len();
        std::fs::write(&out, format!("{}\n{table}\n{}", &text[..begin], &text[end..]))?;
        eprintln!("wrote {}", out.display());
    }
    env.drop_table().await;
    Ok(())
}

/// An application with `size` users who all carry the tag `t` (half also `even`), one phone
/// and names starting with "Scaleperson"; returns an application session's token.
async fn seed(env: &Env, size: usize) -> (String, Vec<User>) {
    let app = env.app(AppSettings { users_v1_listing: true, ..AppSettings::default() }).await;
    let base = env.clock().now() - 10_000_000;
    let mut users = Vec::with_capacity(size);
    for i in 0..size {
        let id = env.store().next_id("users").await.expect("an id");
        let mut tags = vec!["t".to_string()];
        if i % 2 == 0 {
            tags.push("even".into());
        }
        users.push(User {
            id,
            app_id: app.id,
            login: Some(format!("scale{i}")),
            full_name: Some(format!("Scaleperson {:06}", (i * 7919) % size)),
            phone: Some("5550100".into()),
            tags,
            created_at: base + ((i * 37) % size) as i64,
            updated_at: base,
            version: 1,
            ..User::default()
        });
    }
    env.seed_users(&users).await;
    let body = json!({"application_id": app.id, "auth_key": app.auth_key});
    let resp = Answer::from(create_session::handle(&env.deps, post("/session").json(body).build()).await);
    (resp.json()["session"]["token"].as_str().expect("an application session").to_string(), users)
}

fn fill(path: &str, users: &[User]) -> String {
    let mut dates: Vec<i64> = users.iter().map(|u| u.created_at).collect();
    dates.sort_unstable();
    let ids: Vec<String> =
        users.iter().step_by(users.len() / 10).take(10).map(|u| format!("id[in][]={}", u.id)).collect();
    path.replace("MID", &dates[dates.len() / 2].to_string())
        .replace("FIRST", &users[0].id.to_string())
        .replace("IDS", &ids.join("&"))
}

async fn measure(deps: &Deps, token: &str, path: &str, runs: usize) -> Measured {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let req = get(path).token(token).build();
        let started = Instant::now();
        let (resp, log) = if path.starts_with("/users/v2") {
            shared::trips::logged(list_users_v2::handle(deps, req)).await
        } else {
            shared::trips::logged(users_v1::handle(deps, req)).await
        };
        times.push(started.elapsed());
        last = Some((Answer::from(resp).status, log));
    }
    times.sort_unstable();
    let (status, log) = last.expect("one run");
    Measured { status, trips: log.operations.len(), items: log.items, bytes: log.bytes, median: times[times.len() / 2] }
}

fn table(columns: &[(usize, Vec<Measured>)]) -> String {
    let mut out = String::from("| query |");
    for (size, _) in columns {
        out.push_str(&format!(" {} users: items · trips · KiB · ms |", thousands(*size)));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for (row, (label, _)) in SHAPES.iter().enumerate() {
        out.push_str(&format!("| {label} |"));
        for (_, column) in columns {
            let m = &column[row];
            let refused = if m.status == 200 { String::new() } else { format!(" ({})", m.status) };
            out.push_str(&format!(
                " {} · {} · {:.1} · {:.1}{refused} |",
                m.items,
                m.trips,
                m.bytes as f64 / 1024.0,
                m.median.as_secs_f64() * 1e3
            ));
        }
        out.push('\n');
    }
    out
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
