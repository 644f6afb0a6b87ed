//! cube-auth serve beside PocketBase, the single-binary peer a small team would run instead:
//! the same users on both, then the same closed-loop load against each in alternating rounds
//! (cube-auth, PocketBase, cube-auth, …) so that a slow spell of the machine weighs on both.
//!
//! The paths compared are what a chat app does most: an authenticated read of the caller
//! (`GET /session` / the caller's own record), a search by login, a search by tag, and login.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::load::{Call, LoadRun, Loader, Plan};
use crate::warm::Server;

const PASSWORD: &str = "bench-password-correct-horse";
/// Users on each server; every fourth shares a group tag (16 match a tag search).
const POPULATION: usize = 64;
const GROUPS: usize = 4;
/// One page of results on both servers.
const PAGE: usize = 10;
const SUPERUSER: &str = "bench-admin@example.com";
const SUPERUSER_PASSWORD: &str = "bench-admin-password";

/// A compared path: its name, the cube-auth plan and the PocketBase plan, each with the status
/// every answer must have, and the ratio it is held to.
pub struct ComparedPath {
    pub name: &'static str,
    pub target: f64,
    ours: (Plan, u16),
    theirs: (Plan, u16),
}

/// One path's rounds on both servers.
pub struct Compared {
    pub name: &'static str,
    pub target: f64,
    pub ours: Vec<LoadRun>,
    pub theirs: Vec<LoadRun>,
}

impl Compared {
    /// Throughput ratio over all rounds (requests per second, summed runs).
    pub fn ratio(&self) -> f64 {
        rate(&self.ours) / rate(&self.theirs).max(f64::MIN_POSITIVE)
    }

    /// Server CPU per request, theirs over ours.
    pub fn cpu_ratio(&self) -> f64 {
        cpu_per_request(&self.theirs) / cpu_per_request(&self.ours).max(f64::MIN_POSITIVE)
    }
}

pub fn rate(runs: &[LoadRun]) -> f64 {
    let requests: usize = runs.iter().map(|r| r.requests).sum();
    let seconds: f64 = runs.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    requests as f64 / seconds.max(f64::MIN_POSITIVE)
}

pub fn cpu_per_request(runs: &[LoadRun]) -> f64 {
    let requests: usize = runs.iter().map(|r| r.requests).sum();
    let cpu: f64 = runs.iter().map(|r| r.server_cpu.as_secs_f64()).sum();
    cpu / requests.max(1) as f64
}

/// PocketBase on a loopback port over a fresh data directory, with the `users` collection
/// given a login, tags and rules that let any signed-in user read and search users (as
/// cube-auth's do); stopped by pid on drop.
pub struct PocketBase {
    child: Child,
    pub pid: u32,
    pub base: String,
    dir: PathBuf,
}

impl PocketBase {
    pub async fn start(binary: &Path) -> anyhow::Result<PocketBase> {
        let dir = crate::process::scratch_dir("cube-auth-bench-pocketbase")?;
        let data = dir.join("pb_data");
        let upsert = Command::new(binary)
            .args(["superuser", "upsert", SUPERUSER, SUPERUSER_PASSWORD, "--dir"])
            .arg(&data)
            .output()
            .await
            .with_context(|| format!("running {}", binary.display()))?;
        if !upsert.status.success() {
            bail!("pocketbase superuser upsert: {}", String::from_utf8_lossy(&upsert.stderr));
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let child = Command::new(binary)
            .args(["serve", "--http", &format!("127.0.0.1:{port}"), "--dir"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("pocketbase exited")?;
        let server = PocketBase { child, pid, base: format!("http://127.0.0.1:{port}"), dir };
        let loader = Loader::new(&server.base, pid);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(loader.send(&Call::get("/api/health")).await, Ok((200, _))) {
            if Instant::now() > deadline {
                bail!("pocketbase did not start; see {}", server.dir.join("serve.log").display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.shape_users(&loader).await?;
        Ok(server)
    }

    /// Adds `login` (unique) and `tags` to the built-in `users` collection, and lets signed-in
    /// users list and view users.
    async fn shape_users(&self, loader: &Loader) -> anyhow::Result<()> {
        let auth = json!({"identity": SUPERUSER, "password": SUPERUSER_PASSWORD});
        let (status, body) = loader.send(&Call::post("/api/collections/_superusers/auth-with-password", auth)).await?;
        let token = expect_json(status, 200, &body, "superuser login")?["token"].as_str().context("token")?.to_string();
        let (status, body) =
            loader.send(&Call::get("/api/collections/users").header("Authorization", token.clone())).await?;
        let collection = expect_json(status, 200, &body, "users collection")?;
        let mut fields = collection["fields"].as_array().context("fields")?.clone();
        fields.push(json!({"name": "login", "type": "text", "max": 64}));
        let values: Vec<String> =
            std::iter::once("bench".to_string()).chain((0..GROUPS).map(|g| format!("group{g}"))).collect();
        fields.push(json!({"name": "tags", "type": "select", "maxSelect": values.len(), "values": values}));
        let mut indexes = collection["indexes"].as_array().context("indexes")?.clone();
        indexes.push(json!("CREATE UNIQUE INDEX idx_users_login ON users (login) WHERE login != ''"));
        let patch = json!({
            "fields": fields,
            "indexes": indexes,
            "listRule": "@request.auth.id != ''",
            "viewRule": "@request.auth.id != ''",
        });
        let call = Call { method: hyper::Method::PATCH, ..Call::post("/api/collections/users", patch) };
        let (status, body) = loader.send(&call.header("Authorization", token)).await?;
        expect_json(status, 200, &body, "shaping the users collection")?;
        Ok(())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What `pocketbase --version` prints ("pocketbase version 0.40.6").
pub async fn version(binary: &Path) -> String {
    let printed = Command::new(binary).arg("--version").output().await;
    printed.map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string()).unwrap_or_default()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn expect_json(status: u16, expected: u16, body: &[u8], what: &str) -> anyhow::Result<Value> {
    if status != expected {
        bail!("{what}: {status} {}", String::from_utf8_lossy(body));
    }
    Ok(serde_json::from_slice(body)?)
}

/// A signed-in user: its id on the server and its token.
#[derive(Clone)]
struct Member {
    id: String,
    token: String,
}

fn user_fields(i: usize) -> (String, String, String) {
    (format!("bench{i}"), format!("bench{i}@example.com"), format!("Bench User {i}"))
}

/// Signs up the population on cube-auth and logs in one member per worker.
async fn populate_ours(loader: &Loader, server: &Server, workers: usize) -> anyhow::Result<Vec<Member>> {
    let mut members = Vec::new();
    for i in 0..POPULATION {
        let (login, email, full_name) = user_fields(i);
        let body = json!({"user": {"login": login, "email": email, "full_name": full_name, "password": PASSWORD,
                                   "tag_list": format!("bench,group{}", i % GROUPS)}});
        let (status, body) = loader.send(&Call::post("/users", body).header("CB-AuthKey", &server.auth_key)).await?;
        expect_json(status, 201, &body, "cube-auth signup")?;
    }
    for worker in 0..workers {
        let (status, body) = loader.send(&our_login(server, worker)).await?;
        let session = expect_json(status, 201, &body, "cube-auth login")?;
        members.push(Member {
            id: session["session"]["user_id"].to_string(),
            token: session["session"]["token"].as_str().context("token")?.to_string(),
        });
    }
    Ok(members)
}

/// Creates the same population on PocketBase and logs in one member per worker.
async fn populate_theirs(loader: &Loader, workers: usize) -> anyhow::Result<Vec<Member>> {
    for i in 0..POPULATION {
        let (login, email, full_name) = user_fields(i);
        let body = json!({"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD, "login": login,
                          "name": full_name, "tags": ["bench", format!("group{}", i % GROUPS)]});
        let (status, body) = loader.send(&Call::post("/api/collections/users/records", body)).await?;
        expect_json(status, 200, &body, "pocketbase signup")?;
    }
    let mut members = Vec::new();
    for worker in 0..workers {
        let (status, body) = loader.send(&their_login(worker)).await?;
        let auth = expect_json(status, 200, &body, "pocketbase login")?;
        members.push(Member {
            id: auth["record"]["id"].as_str().context("record id")?.to_string(),
            token: auth["token"].as_str().context("token")?.to_string(),
        });
    }
    Ok(members)
}

fn our_login(server: &Server, member: usize) -> Call {
    Call::post(
        "/session",
        json!({"application_id": server.app_id, "auth_key": server.auth_key,
               "user": {"login": format!("bench{member}"), "password": PASSWORD}}),
    )
}

fn their_login(member: usize) -> Call {
    Call::post(
        "/api/collections/users/auth-with-password",
        json!({"identity": format!("bench{member}@example.com"), "password": PASSWORD}),
    )
}

/// A PocketBase filter as a query parameter.
fn filter(expression: &str) -> String {
    form_urlencoded::byte_serialize(expression.as_bytes()).collect()
}

fn paths(server: &Server, ours: Vec<Member>, theirs: Vec<Member>) -> Vec<ComparedPath> {
    let (ours, theirs) = (Arc::new(ours), Arc::new(theirs));
    let plan = |f: Box<dyn Fn(usize, u64) -> Call + Send + Sync>| -> Plan { Arc::from(f) };
    let (o, t) = (ours.clone(), theirs.clone());
    let me = ComparedPath {
        name: "authenticated read of the caller",
        target: 2.0,
        ours: (plan(Box::new(move |w, _| Call::get("/session.json").token(&o[w].token))), 200),
        theirs: (
            plan(Box::new(move |w, _| {
                Call::get(format!("/api/collections/users/records/{}", t[w].id)).header("Authorization", &t[w].token)
            })),
            200,
        ),
    };
    let (o, t) = (ours.clone(), theirs.clone());
    let by_login = ComparedPath {
        name: "search by login",
        target: 2.0,
        ours: (
            plan(Box::new(move |w, n| {
                let login = format!("bench{}", (w * 7 + n as usize) % POPULATION);
                Call::get(format!("/users/v2.json?login={login}&limit={PAGE}")).token(&o[w].token)
            })),
            200,
        ),
        theirs: (
            plan(Box::new(move |w, n| {
                let login = format!("bench{}", (w * 7 + n as usize) % POPULATION);
                let query = filter(&format!("login='{login}'"));
                Call::get(format!("/api/collections/users/records?perPage={PAGE}&filter={query}"))
                    .header("Authorization", &t[w].token)
            })),
            200,
        ),
    };
    let (o, t) = (ours.clone(), theirs.clone());
    let by_tag = ComparedPath {
        name: "search by tag (16 of 64 users)",
        target: 1.5,
        ours: (
            plan(Box::new(move |w, n| {
                Call::get(format!("/users/v2.json?user_tags=group{}&limit={PAGE}", n as usize % GROUPS))
                    .token(&o[w].token)
            })),
            200,
        ),
        theirs: (
            plan(Box::new(move |w, n| {
                let query = filter(&format!("tags~'group{}'", n as usize % GROUPS));
                Call::get(format!("/api/collections/users/records?perPage={PAGE}&filter={query}"))
                    .header("Authorization", &t[w].token)
            })),
            200,
        ),
    };
    let (app_id, auth_key) = (server.app_id, server.auth_key.clone());
    let login = ComparedPath {
        name: "login (password check)",
        target: 1.5,
        ours: (
            plan(Box::new(move |w, _| {
                Call::post(
                    "/session",
                    json!({"application_id": app_id, "auth_key": auth_key,
                           "user": {"login": format!("bench{w}"), "password": PASSWORD}}),
                )
            })),
            201,
        ),
        theirs: (plan(Box::new(|w, _| their_login(w))), 200),
    };
    vec![me, by_login, by_tag, login]
}

/// The searches find the same users on both servers (a filter that matched nothing would be
/// fast and still answer 200): one login, and a page of ten of a tag's sixteen.
async fn answers_alike(paths: &[ComparedPath], ours: &Loader, theirs: &Loader) -> anyhow::Result<()> {
    for path in paths.iter().filter(|p| p.name.starts_with("search")) {
        let (_, body) = ours.send(&(path.ours.0)(0, 0)).await?;
        let ours: Value = serde_json::from_slice(&body)?;
        let (_, body) = theirs.send(&(path.theirs.0)(0, 0)).await?;
        let theirs: Value = serde_json::from_slice(&body)?;
        let counts = |v: &Value, items: &str, total: &str| (v[items].as_array().map_or(0, Vec::len), v[total].as_u64());
        let (ours, theirs) = (counts(&ours, "items", "total_entries"), counts(&theirs, "items", "totalItems"));
        let expected =
            if path.name.contains("tag") { (PAGE, Some((POPULATION / GROUPS) as u64)) } else { (1, Some(1)) };
        if ours != expected || theirs != expected {
            bail!("{}: cube-auth found {ours:?}, PocketBase {theirs:?}, expected {expected:?}", path.name);
        }
    }
    Ok(())
}

/// Both servers populated alike, then `rounds` rounds of every path on each, alternating which
/// goes first.
pub async fn compare(
    cube_auth: &Path,
    pocketbase: &Path,
    concurrency: usize,
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<Vec<Compared>> {
    let server = Server::start(cube_auth).await?;
    let peer = match PocketBase::start(pocketbase).await {
        Ok(peer) => peer,
        Err(error) => {
            server.stop().await;
            return Err(error);
        }
    };
    let measured = measure(&server, &peer, concurrency, duration, rounds).await;
    server.stop().await;
    peer.stop().await;
    measured
}

async fn measure(
    server: &Server,
    peer: &PocketBase,
    concurrency: usize,
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<Vec<Compared>> {
    let (ours, theirs) = (Loader::new(&server.base, server.pid), Loader::new(&peer.base, peer.pid));
    let our_members = populate_ours(&ours, server, concurrency).await?;
    let their_members = populate_theirs(&theirs, concurrency).await?;
    let paths = paths(server, our_members, their_members);
    answers_alike(&paths, &ours, &theirs).await?;
    let mut compared = Vec::new();
    for path in paths {
        let mut result = Compared { name: path.name, target: path.target, ours: Vec::new(), theirs: Vec::new() };
        for round in 0..rounds {
            for side in [round % 2, 1 - round % 2] {
                let (loader, (plan, expected)) = if side == 0 { (&ours, &path.ours) } else { (&theirs, &path.theirs) };
                loader.run(plan.clone(), concurrency, Duration::from_secs(1), *expected).await?;
                let run = loader.run(plan.clone(), concurrency, duration, *expected).await.context(path.name)?;
                let who = if side == 0 { "cube-auth" } else { "PocketBase" };
                eprintln!("  {}: {who} round {}: {:.0} req/s", path.name, round + 1, run.per_second());
                if side == 0 { &mut result.ours } else { &mut result.theirs }.push(run);
            }
        }
        compared.push(result);
    }
    Ok(compared)
}
