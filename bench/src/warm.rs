//! Warm requests on `cube-auth serve` (release): a seeded population, then one timed run per
//! endpoint, and the login latency beside one argon2id hash.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::load::{Call, LoadRun, Loader, Plan};
use crate::stats::Samples;

const PASSWORD: &str = "bench-password-correct-horse";
/// Users in the population; every fourth shares a group tag.
const POPULATION: usize = 64;
const GROUPS: usize = 4;

/// `cube-auth serve` on a loopback port over a fresh data directory; stopped by pid on drop.
pub struct Server {
    child: Child,
    pub pid: u32,
    pub base: String,
    pub app_id: i64,
    pub auth_key: String,
    dir: PathBuf,
}

impl Server {
    pub async fn start(binary: &Path) -> anyhow::Result<Server> {
        let dir = crate::process::scratch_dir("cube-auth-bench")?;
        // The load is thousands of signups and searches from one address: an application
        // whose per-IP limits are out of the way (they are still counted, as in production).
        let created = Command::new(binary)
            .args(["--data-dir".as_ref(), dir.as_os_str()])
            .args(["apps", "create", "--name", "bench", "--json"])
            .args(["--limit-signup-ip", "100000000/3600", "--limit-search-ip", "100000000/60"])
            .args(["--limit-login-ip", "100000000/300", "--limit-login-account", "100000000/300"])
            .output()
            .await
            .with_context(|| format!("creating the bench application with {}", binary.display()))?;
        if !created.status.success() {
            bail!("apps create failed: {}", String::from_utf8_lossy(&created.stderr));
        }
        let app: Value = serde_json::from_slice(&created.stdout)?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let child = Command::new(binary)
            .args(["--data-dir".as_ref(), dir.as_os_str(), "serve".as_ref(), "--addr".as_ref(), "127.0.0.1:0".as_ref()])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("serve exited")?;
        let serve_file = dir.join("serve.json");
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&serve_file)
                && let Ok(info) = serde_json::from_str::<Value>(&text)
                && let Some(addr) = info["addr"].as_str()
            {
                break addr.to_string();
            }
            if Instant::now() > deadline {
                bail!("cube-auth serve did not start; see {}", dir.join("serve.log").display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Ok(Server {
            child,
            pid,
            base: format!("http://{addr}"),
            app_id: app["application_id"].as_i64().context("application_id")?,
            auth_key: app["auth_key"].as_str().context("auth_key")?.to_string(),
            dir,
        })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A signed-up user with a live session.
#[derive(Debug, Clone)]
struct Member {
    id: i64,
    token: String,
}

/// One endpoint's timed run.
pub struct Measured {
    pub name: &'static str,
    pub run: LoadRun,
}

/// Login latency beside the hash it is made of.
pub struct LoginCost {
    pub hash: Samples,
    pub login: Samples,
}

/// Signs up the population and logs in one member per worker.
async fn populate(loader: &Loader, server: &Server, workers: usize) -> anyhow::Result<(Vec<i64>, Vec<Member>)> {
    let mut ids = Vec::new();
    for i in 0..POPULATION {
        let body = json!({"user": {
            "login": format!("bench{i}"),
            "email": format!("bench{i}@example.com"),
            "full_name": format!("Bench User {i}"),
            "password": PASSWORD,
            "tag_list": format!("bench,group{}", i % GROUPS),
        }});
        let (status, body) = loader.send(&Call::post("/users", body).header("CB-AuthKey", &server.auth_key)).await?;
        if status != 201 {
            bail!("signup: {status} {}", String::from_utf8_lossy(&body));
        }
        ids.push(serde_json::from_slice::<Value>(&body)?["user"]["id"].as_i64().context("user id")?);
    }
    let mut members = Vec::new();
    for (worker, id) in ids.iter().enumerate().take(workers) {
        let (status, body) = loader.send(&login(server, worker)).await?;
        if status != 201 {
            bail!("login: {status} {}", String::from_utf8_lossy(&body));
        }
        let token = serde_json::from_slice::<Value>(&body)?["session"]["token"].as_str().context("token")?.to_string();
        members.push(Member { id: *id, token });
    }
    Ok((ids, members))
}

fn login(server: &Server, member: usize) -> Call {
    Call::post(
        "/session",
        json!({"application_id": server.app_id, "auth_key": server.auth_key,
               "user": {"login": format!("bench{member}"), "password": PASSWORD}}),
    )
}

/// The endpoints measured, each with the status every answer must have.
fn plans(server: &Server, ids: Vec<i64>, members: Vec<Member>) -> Vec<(&'static str, Plan, u16)> {
    let (app_id, auth_key) = (server.app_id, server.auth_key.clone());
    let (ids, members) = (Arc::new(ids), Arc::new(members));
    let m = members.clone();
    let get_session: Plan = Arc::new(move |w, _| Call::get("/session.json").token(&m[w].token));
    let (m, population) = (members.clone(), ids.clone());
    let get_user: Plan = Arc::new(move |w, n| {
        Call::get(format!("/users/{}.json", population[(w + n as usize) % POPULATION])).token(&m[w].token)
    });
    let m = members.clone();
    let by_login: Plan = Arc::new(move |w, n| {
        Call::get(format!("/users/v2.json?login=bench{}", (w * 7 + n as usize) % POPULATION)).token(&m[w].token)
    });
    let m = members.clone();
    let by_tag: Plan = Arc::new(move |w, n| {
        Call::get(format!("/users/v2.json?user_tags=group{}", n as usize % GROUPS)).token(&m[w].token)
    });
    let m = members.clone();
    let update: Plan = Arc::new(move |w, n| {
        Call::put(format!("/users/{}.json", m[w].id), json!({"user": {"full_name": format!("Bench {w} renamed {n}")}}))
            .token(&m[w].token)
    });
    let key = auth_key.clone();
    let log_in: Plan = Arc::new(move |w, _| {
        Call::post(
            "/session",
            json!({"application_id": app_id, "auth_key": key,
                   "user": {"login": format!("bench{w}"), "password": PASSWORD}}),
        )
    });
    // Unique across the warm-up and the measured run, which both count from zero.
    let signups = Arc::new(AtomicU64::new(0));
    let signup: Plan = Arc::new(move |_, _| {
        let n = signups.fetch_add(1, Ordering::Relaxed);
        Call::post("/users", json!({"user": {"login": format!("new{n}"), "password": PASSWORD}}))
            .header("CB-AuthKey", &auth_key)
    });
    vec![
        ("create session (login)", log_in, 201),
        ("signup", signup, 201),
        ("get session", get_session, 200),
        ("get user by id", get_user, 200),
        ("V2 by login", by_login, 200),
        ("V2 by tag (16 of 64 users)", by_tag, 200),
        ("update profile", update, 200),
    ]
}

/// Measurements on one server: first login against the hash (on a quiet, fresh server),
/// then every endpoint at `concurrency`, each after a warm-up of a second.
pub async fn measure(
    server: &Server,
    concurrency: usize,
    duration: Duration,
    login_samples: usize,
) -> anyhow::Result<(LoginCost, Vec<Measured>)> {
    let loader = Loader::new(&server.base, server.pid);
    let (ids, members) = populate(&loader, server, concurrency).await?;
    let cost = login_cost(&loader, server, login_samples).await?;
    let mut measured = Vec::new();
    for (name, plan, expected) in plans(server, ids, members) {
        loader.run(plan.clone(), concurrency, Duration::from_secs(1), expected).await?;
        let run = loader.run(plan, concurrency, duration, expected).await.with_context(|| name.to_string())?;
        eprintln!("  {name}: {:.0} req/s", run.per_second());
        measured.push(Measured { name, run });
    }
    Ok((cost, measured))
}

/// `samples` sequential logins and as many argon2id hashes at the production parameters,
/// in alternating blocks of ten so that both see the machine in the same state.
async fn login_cost(loader: &Loader, server: &Server, samples: usize) -> anyhow::Result<LoginCost> {
    // Alternate one hash and one login, so that drift on a shared machine weighs on both.
    const BLOCK: usize = 1;
    let (mut hashes, mut logins) = (Vec::new(), Vec::new());
    while hashes.len() < samples {
        for _ in 0..BLOCK {
            let password = shared::crypto::password::Password::new(PASSWORD.into());
            let started = Instant::now();
            tokio::task::spawn_blocking(move || shared::crypto::password::hash_blocking(&password)).await?;
            hashes.push(started.elapsed());
        }
        for _ in 0..BLOCK {
            let started = Instant::now();
            let (status, body) = loader.send(&login(server, 0)).await?;
            logins.push(started.elapsed());
            if status != 201 {
                bail!("login: {status} {}", String::from_utf8_lossy(&body));
            }
        }
    }
    Ok(LoginCost { hash: Samples::new(hashes), login: Samples::new(logins) })
}
