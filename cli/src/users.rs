//! `cube-auth users import|export`: a user base moved between ConnectyCube services, in the
//! format ConnectyCube's `GET /users/v2` returns users.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;
use shared::Deps;
use shared::domain::export::{Rejected, export_of, split_export, user_from_export};
use shared::domain::user::User;
use shared::store::ids::USERS;
use shared::store::import::Imported;
use shared::store::schema::USERS_BY_ID;
use tokio::task::JoinSet;

use crate::target::Target;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Write users into an application with the ids, fields and timestamps they had: one
    /// JSON object a line, or one JSON array, of the `items` of ConnectyCube's
    /// `GET /users/v2` (`-` reads standard input). Running it again changes nothing, so an
    /// interrupted import is resumed by running it again. Imported users have no password
    /// here yet: see `apps update --migrate-from`.
    Import {
        #[arg(long = "app", value_name = "ID")]
        app_id: i64,
        file: PathBuf,
    },
    /// Print every user of an application, one JSON object a line, in the format `import`
    /// reads (passwords never leave the table).
    Export {
        #[arg(long = "app", value_name = "ID")]
        app_id: i64,
    },
    /// Rewrite the search and tag items of every user of an application in the layout this
    /// version reads (after an upgrade whose notes ask for it; safe to repeat, and safe beside
    /// live traffic: a user changed meanwhile is read again).
    Reindex {
        #[arg(long = "app", value_name = "ID")]
        app_id: i64,
    },
    /// Keep user ids up to N for users moved from another service: users created here from
    /// now on get ids above N. Set N above any id the old service will hand out before it
    /// stops taking signups, so that a user moved later never finds their id taken.
    ReserveIds {
        #[arg(long, value_name = "N")]
        up_to: i64,
    },
}

/// Users written at once: enough to keep DynamoDB busy, few enough for DynamoDB Local.
const IN_FLIGHT: usize = 16;

/// Runs a `users` command; returns what to print at the end (nothing after an export,
/// whose output is the users).
pub async fn run(target: &Target, command: UsersCommand) -> anyhow::Result<String> {
    let deps = target.deps();
    match command {
        UsersCommand::Import { app_id, file } => {
            deps.store.get_app(app_id).await?.with_context(|| format!("no application {app_id}"))?;
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let values = split_export(&text).map_err(anyhow::Error::msg)?;
            Ok(import(deps, app_id, values).await?.to_string())
        }
        UsersCommand::Reindex { app_id } => {
            deps.store.get_app(app_id).await?.with_context(|| format!("no application {app_id}"))?;
            let count = reindex(deps, app_id).await?;
            Ok(format!("rewrote the search and tag items of {count} users of application {app_id}"))
        }
        UsersCommand::ReserveIds { up_to } => {
            anyhow::ensure!((1..=i64::from(i32::MAX)).contains(&up_to), "N must be between 1 and {}", i32::MAX);
            deps.store.raise_counter(USERS, up_to).await?;
            let next = deps.store.counter_value(USERS).await? + 1;
            Ok(format!("user ids up to {up_to} are kept for moved users; new users get ids from {next}"))
        }
        UsersCommand::Export { app_id } => {
            deps.store.get_app(app_id).await?.with_context(|| format!("no application {app_id}"))?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let exported = export(deps, app_id, &mut out).await?;
            out.flush()?;
            // Standard output is the export itself.
            eprintln!("exported {exported} users of application {app_id}");
            Ok(String::new())
        }
    }
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    pub written: usize,
    pub unchanged: usize,
    /// (line or array position from 1, id if it had one, reason)
    pub rejected: Vec<(usize, Option<i64>, String)>,
    pub elapsed: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (line, id, reason) in &self.rejected {
            match id {
                Some(id) => writeln!(f, "rejected #{line} (id {id}): {reason}")?,
                None => writeln!(f, "rejected #{line}: {reason}")?,
            }
        }
        let rate = self.written as f64 / self.elapsed.as_secs_f64().max(0.001);
        write!(
            f,
            "imported {} users, {} already here, {} rejected in {:.1} s ({rate:.0} users/s)",
            self.written,
            self.unchanged,
            self.rejected.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// Imports `values` into `app_id`, `IN_FLIGHT` at a time, each user in its own transaction
/// (never a partial user). The id counter is first raised past every id being imported, so
/// that no signup meanwhile or later is handed one of them.
pub async fn import(deps: &Deps, app_id: i64, values: Vec<Value>) -> anyhow::Result<Report> {
    let patient = patient(deps);
    let deps = &patient;
    let started = Instant::now();
    let now = deps.clock.now();
    let mut report = Report::default();
    let mut users: Vec<(usize, User)> = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let id = value.get("user").unwrap_or(value).get("id").and_then(Value::as_i64);
        if let Some(reason) = value.get("__unparsed").and_then(Value::as_str) {
            report.rejected.push((index + 1, None, format!("not JSON: {reason}")));
            continue;
        }
        match user_from_export(value, app_id, now) {
            Ok(user) => users.push((index + 1, user)),
            Err(Rejected(reason)) => report.rejected.push((index + 1, id, reason)),
        }
    }
    if let Some(highest) = users.iter().map(|(_, u)| u.id).max() {
        deps.store.raise_counter(USERS, highest).await?;
    }
    let total = users.len();
    let progress = Progress::new(total);
    let mut running = JoinSet::new();
    let mut pending = users.into_iter();
    // Users sent to the table so far (lines rejected before writing are not in `total`).
    let mut written_or_not = 0;
    loop {
        while running.len() < IN_FLIGHT {
            let Some((line, user)) = pending.next() else { break };
            let deps = deps.clone();
            running.spawn(async move { (line, user.id, deps.store.import_user(&user, now).await) });
        }
        let Some(done) = running.join_next().await else { break };
        let (line, id, outcome) = done.context("an import task failed")?;
        match outcome.with_context(|| format!("writing #{line} (id {id}); run the import again to resume"))? {
            Imported::Written => report.written += 1,
            Imported::Unchanged => report.unchanged += 1,
            Imported::Rejected(reason) => report.rejected.push((line, Some(id), reason)),
        }
        written_or_not += 1;
        progress.show(written_or_not, started);
    }
    progress.finish();
    report.rejected.sort_by_key(|(line, _, _)| *line);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// `deps` on a client that waits for a busy table: a bulk import keeps it saturated on
/// purpose, where a request's few-second budget would abort the import at the first queue.
fn patient(deps: &Deps) -> Deps {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(Duration::from_secs(120))
        .operation_attempt_timeout(Duration::from_secs(30))
        .connect_timeout(shared::aws::CONNECT_TIMEOUT)
        .build();
    let config = deps.store.client().config().to_builder().timeout_config(timeouts);
    let config = config.retry_config(RetryConfig::standard().with_max_attempts(6)).build();
    let mut patient = deps.clone();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    patient.store = shared::store::Store::new(client, deps.store.table(), deps.config.id_block_size);
    patient
}

/// Writes every user of `app_id` to `out`, one JSON object a line, in id order; returns how
/// many.
pub async fn export(deps: &Deps, app_id: i64, out: &mut impl Write) -> anyhow::Result<usize> {
    let mut ids = deps.store.all_app_user_ids(app_id, USERS_BY_ID).await?;
    ids.sort_unstable();
    let now = deps.clock.now();
    let mut exported = 0;
    for chunk in ids.chunks(100) {
        for user in deps.store.users_by_ids(app_id, chunk, now).await? {
            if user.is_guest {
                continue;
            }
            serde_json::to_writer(&mut *out, &export_of(&user))?;
            out.write_all(b"\n")?;
            exported += 1;
        }
    }
    Ok(exported)
}

/// Rewrites every user's search and tag items (see [`UsersCommand::Reindex`]); returns how
/// many users it rewrote.
pub async fn reindex(deps: &Deps, app_id: i64) -> anyhow::Result<usize> {
    let ids = deps.store.all_app_user_ids(app_id, USERS_BY_ID).await?;
    let progress = Progress::new(ids.len());
    let started = Instant::now();
    let mut done = 0;
    let mut writes = JoinSet::new();
    for id in ids {
        if writes.len() >= IN_FLIGHT {
            writes.join_next().await.expect("a write")??;
            done += 1;
            progress.show(done, started);
        }
        let deps = deps.clone();
        writes.spawn(async move { rewrite_one(&deps, app_id, id).await });
    }
    while let Some(written) = writes.join_next().await {
        written??;
        done += 1;
        progress.show(done, started);
    }
    progress.finish();
    Ok(done)
}

/// One user's items, written against the version read; a user changed meanwhile is read again.
async fn rewrite_one(deps: &Deps, app_id: i64, id: i64) -> anyhow::Result<()> {
    for _ in 0..5 {
        let Some(user) = deps.store.users_by_ids(app_id, &[id], deps.clock.now()).await?.pop() else {
            return Ok(());
        };
        let mut tx = shared::store::Tx::new();
        deps.store.tx_rewrite_index_items(&mut tx, &user);
        match deps.store.commit(tx).await {
            Ok(()) => return Ok(()),
            Err(shared::store::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("user {id} kept changing while its items were rewritten; run reindex again")
}

/// A one-line progress display on standard error, when it is a terminal.
struct Progress {
    total: usize,
    shown: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress { total, shown: std::io::stderr().is_terminal() && total > 0 }
    }

    fn show(&self, done: usize, started: Instant) {
        if !self.shown || !(done.is_multiple_of(100) || done == self.total) {
            return;
        }
        let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
        let width = 30;
        let filled = (width * done / self.total).min(width);
        eprint!("\r[{}{}] {done}/{} users ({rate:.0}/s)", "#".repeat(filled), " ".repeat(width - filled), self.total);
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}
