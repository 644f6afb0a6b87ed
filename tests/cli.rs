//! The `cube-auth` binary itself: application management on a real DynamoDB table (DynamoDB
//! Local) and on a local data dir, local mode surviving a restart and stopping cleanly on
//! Ctrl-C (SIGINT), and local mode at its open-file limit.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::runtime_api::binary_dir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

fn cube_auth() -> PathBuf {
    let bin = binary_dir().join("cube-auth");
    assert!(bin.exists(), "{} missing: cargo build --workspace --bins", bin.display());
    bin
}

/// Runs `cube-auth ARGS` with `env` and local AWS settings.
async fn output(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(cube_auth())
        .args(args)
        .envs(env.iter().copied())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("run cube-auth")
}

/// Runs `cube-auth ARGS` with `env`, returning stdout; panics with stderr on failure.
async fn run(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = output(args, env).await;
    assert!(out.status.success(), "cube-auth {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

async fn manage_apps(extra: &[&str], env: &[(&str, &str)]) {
    let with = |args: &[&str]| -> Vec<String> { args.iter().chain(extra).map(|s| s.to_string()).collect() };
    let args = with(&["tables", "create"]);
    assert!(run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await.contains("is ready"));

    let args = with(&["apps", "create", "--name", "cli-test", "--session-ttl", "900", "--require-signature", "--json"]);
    let created: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    let keys: Vec<&str> = created.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["application_id", "auth_key", "auth_secret"]);
    let id = created["application_id"].as_i64().unwrap().to_string();

    let args = with(&[
        "apps",
        "update",
        &id,
        "--require-signature=false",
        "--allow-session-without-user",
        "--users-v1-listing",
        "--limit-login-ip",
        "50/600",
        "--lockout",
        "5/900",
        "--limit-login-account-ip",
        "5/600",
        "--upload-quota",
        "10/1000",
        "--identity-change-without-password",
        "--facebook-app-id",
        "fb-app-7",
        "--facebook-app-secret",
        "fb-secret-never-shown",
        "--twitter-consumer-key",
        "tw-key-7",
        "--twitter-consumer-secret",
        "tw-secret-never-shown",
        "--migrate-from",
        "https://api.connectycube.com/",
        "--json",
    ]);
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await;
    assert!(!output.contains("never-shown"), "the networks' secrets are stored, never shown: {output}");
    let updated: Value = serde_json::from_str(&output).unwrap();
    assert_eq!(
        updated["settings"],
        json!({"allow_session_without_user": true, "require_signature": false,
        "session_ttl": 900, "session_max_lifetime": 2_592_000, "users_v1_listing": true,
        "identity_change_without_password": true,
        "firebase_projects": [], "cidp": null,
        "facebook": {"app_id": "fb-app-7"}, "twitter": {"consumer_key": "tw-key-7"},
        "reset_subject": null, "reset_body": null,
        "limits": {"login_failures_per_ip": "50/600", "login_failures_per_account_ip": "5/600",
            "login_failures_per_account": "100/3600", "uploads_per_user": "10/1000",
            "signups_per_ip": "30/3600", "searches_per_ip": "1200/60", "lockout": "5/900"},
        "migrate_from": "https://api.connectycube.com"})
    );
    let args = with(&["apps", "update", &id, "--no-lockout", "--no-migrate-from", "--json"]);
    let unlocked: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    assert_eq!(unlocked["settings"]["limits"]["lockout"], Value::Null);
    assert_eq!(unlocked["settings"]["migrate_from"], Value::Null);
    assert_eq!(unlocked["settings"]["limits"]["login_failures_per_ip"], "50/600", "other settings stay");

    let args = with(&["apps", "show", &id, "--json"]);
    let shown: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    assert_eq!(shown["auth_key"], created["auth_key"]);
    assert_eq!(shown["settings"]["allow_session_without_user"], true);

    // An application keeping the credentials it has elsewhere; a clash is refused.
    let kept = ["--application-id", "90210", "--auth-key", "kept-key-90210", "--auth-secret", "kept-secret-90210"];
    let args = with(&[&["apps", "create", "--name", "kept", "--json"][..], &kept[..]].concat());
    let created_kept: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    assert_eq!(
        created_kept,
        json!({"application_id": 90210, "auth_key": "kept-key-90210", "auth_secret": "kept-secret-90210"})
    );
    let args = with(&[&["apps", "create", "--name", "again"][..], &kept[..]].concat());
    let clash = run_failing(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await;
    assert!(clash.contains("already exists"), "{clash}");
    let taken_key = ["--application-id", "90211", "--auth-key", "kept-key-90210", "--auth-secret", "s"];
    let args = with(&[&["apps", "create", "--name", "again"][..], &taken_key[..]].concat());
    let clash = run_failing(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await;
    assert!(clash.contains("already application 90210's"), "{clash}");

    let args = with(&["apps", "list", "--json"]);
    let listed: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|a| a["application_id"] == created["application_id"]));
    assert!(listed.as_array().unwrap().iter().any(|a| a["application_id"] == 90210), "kept ids are listed");
}

/// Runs `cube-auth ARGS` expecting failure; returns stderr.
async fn run_failing(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = output(args, env).await;
    assert!(!out.status.success(), "cube-auth {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn apps_are_managed_on_a_real_dynamodb_table_from_the_environment() {
    let Some(endpoint) = std::env::var("DYNAMODB_LOCAL_ENDPOINT").ok() else {
        assert_ne!(std::env::var("REQUIRE_DYNAMODB_LOCAL").as_deref(), Ok("1"), "DYNAMODB_LOCAL_ENDPOINT is required");
        eprintln!("note: DYNAMODB_LOCAL_ENDPOINT unset; skipping");
        return;
    };
    let table = format!("cli-{}", shared::crypto::random::random_upper_hex::<6>().to_lowercase());
    manage_apps(&[], &[("TABLE_NAME", &table), ("DYNAMODB_ENDPOINT", &endpoint)]).await;
}

#[tokio::test]
async fn apps_are_managed_on_a_local_data_dir() {
    let dir = temp_dir("apps");
    manage_apps(&["--data-dir", dir.to_str().unwrap()], &[]).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// The development application local mode writes into its data dir (`dev-app.json`).
fn dev_app(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("dev-app.json")).unwrap()).unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cube-auth-{tag}-{}", shared::crypto::random::random_upper_hex::<6>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `cube-auth serve` on a free loopback port.
struct Server {
    child: tokio::process::Child,
    addr: String,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        Server::launch(dir, None, Stdio::piped()).await
    }

    /// `open_files`: the process's limit on open files (set by the shell that execs serve);
    /// `log`: where its log (standard output) goes.
    async fn launch(dir: &Path, open_files: Option<u32>, log: Stdio) -> Server {
        let serve_file = dir.join("serve.json");
        let mut command = match open_files {
            None => Command::new(cube_auth()),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell.args(["-c", r#"ulimit -n "$0" && exec "$@""#, &limit.to_string()]).arg(cube_auth());
                shell
            }
        };
        let child = command
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(log)
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&serve_file)
                && let Ok(info) = serde_json::from_str::<Value>(&text)
                && info["pid"].as_u64() == child.id().map(u64::from)
            {
                return Server { addr: info["addr"].as_str().unwrap().to_string(), child };
            }
            assert!(Instant::now() < deadline, "serve did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One HTTP/1.1 request; returns (status, JSON body).
    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> (u16, Value) {
        let mut stream = tokio::net::TcpStream::connect(&self.addr).await.expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Ctrl-C: SIGINT to the pid, then the exit status.
    async fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill -INT");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.expect("stops within 15 s").unwrap()
    }
}

/// A whole move, as a team would make it: the old service (a `cube-auth serve` standing in
/// for hosted ConnectyCube) has an application and users; its users are exported through its
/// own V2 API; the new service takes the application's credentials, imports the export and
/// moves passwords lazily; the SDK (same credentials) only changes its endpoint.
#[tokio::test]
async fn an_application_moves_between_services_without_a_new_app_build() {
    let (old_dir, new_dir) = (temp_dir("old"), temp_dir("new"));
    let old = Server::start(&old_dir).await;
    let credentials = dev_app(&old_dir);
    let auth_key = credentials["auth_key"].as_str().unwrap();
    let signup = |login: &str| {
        json!({"user": {"login": login, "email": format!("{login}@example.com"), "password": format!("{login}-password-1"),
            "full_name": format!("{login} Old"), "tag_list": "early"}})
    };
    let mut old_ids = std::collections::BTreeMap::new();
    for login in ["anna", "boris", "clara"] {
        let (status, body) = old.call("POST", "/users.json", &[("CB-AuthKey", auth_key)], Some(signup(login))).await;
        assert_eq!(status, 201, "{body}");
        old_ids.insert(login, body["user"]["id"].as_i64().unwrap());
    }
    // The export, as an operator takes it from the old service's V2 API.
    let app_session = json!({"application_id": credentials["application_id"], "auth_key": auth_key});
    let (_, session) = old.call("POST", "/session.json", &[], Some(app_session)).await;
    let token = session["session"]["token"].as_str().unwrap();
    let (status, page) =
        old.call("GET", "/users/v2.json?user_tags=early&limit=100", &[("CB-Token", token)], None).await;
    assert_eq!(status, 200, "{page}");
    let export: Vec<String> = page["items"].as_array().unwrap().iter().map(Value::to_string).collect();
    assert_eq!(export.len(), 3);
    // A user who signs up on the old service after the export is moved on first login too.
    let (status, late) = old.call("POST", "/users.json", &[("CB-AuthKey", auth_key)], Some(signup("dmitri"))).await;
    assert_eq!(status, 201, "{late}");
    old_ids.insert("dmitri", late["user"]["id"].as_i64().unwrap());
    let export_file = new_dir.join("export.jsonl");
    std::fs::write(&export_file, export.join("\n") + "\n").unwrap();
    std::fs::write(new_dir.join("credentials.json"), credentials.to_string()).unwrap();

    let data_dir = ["--data-dir", new_dir.to_str().unwrap()];
    let origin = format!("http://{}", old.addr);
    let creds = new_dir.join("credentials.json");
    let imported_app = run(
        &[&data_dir[..], &["apps", "import", creds.to_str().unwrap(), "--migrate-from", &origin, "--json"]].concat(),
        &[],
    )
    .await;
    let imported_app: Value = serde_json::from_str(&imported_app).unwrap();
    assert_eq!(imported_app, credentials, "the credentials the app builds carry are kept");
    let app_id = credentials["application_id"].to_string();
    let import = [&data_dir[..], &["users", "import", "--app", &app_id, export_file.to_str().unwrap()]].concat();
    let report = run(&import, &[]).await;
    assert!(report.contains("imported 3 users, 0 already here, 0 rejected"), "{report}");
    let again = run(&import, &[]).await;
    assert!(again.contains("imported 0 users, 3 already here, 0 rejected"), "idempotent: {again}");
    let exported = run(&[&data_dir[..], &["users", "export", "--app", &app_id]].concat(), &[]).await;
    let round_trip: Vec<Value> = exported.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let original: Vec<Value> = export.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(round_trip, original, "an export of the import is the export");

    let reserved = run(&[&data_dir[..], &["users", "reserve-ids", "--up-to", "1000"]].concat(), &[]).await;
    assert!(reserved.contains("new users get ids from 1001"), "{reserved}");

    let new = Server::start(&new_dir).await;
    let login = |login: &str, password: String| {
        json!({"application_id": credentials["application_id"], "auth_key": auth_key,
            "user": {"login": login, "password": password}})
    };
    for name in ["anna", "dmitri"] {
        let (status, body) =
            new.call("POST", "/session.json", &[], Some(login(name, format!("{name}-password-1")))).await;
        assert_eq!(status, 201, "{name}: {body}");
        assert_eq!(body["session"]["user"]["id"].as_i64(), old_ids.get(name).copied(), "{name} keeps the id");
        assert_eq!(body["session"]["user"]["user_tags"], "early");
    }
    let (status, _) = new.call("POST", "/session.json", &[], Some(login("boris", "not-his-password".into()))).await;
    assert_eq!(status, 401, "an imported user's wrong password is refused by the old service");
    let (status, body) = new.call("POST", "/users.json", &[("CB-AuthKey", auth_key)], Some(signup("erik"))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["id"], 1001, "new users get ids above the reserved ones");

    // The old service goes away: moved users still sign in; the others get a clear error.
    assert!(old.interrupt().await.success());
    let (status, body) = new.call("POST", "/session.json", &[], Some(login("anna", "anna-password-1".into()))).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = new.call("POST", "/session.json", &[], Some(login("clara", "clara-password-1".into()))).await;
    assert_eq!(status, 422, "{body}");
    assert!(new.interrupt().await.success());
    std::fs::remove_dir_all(&old_dir).ok();
    std::fs::remove_dir_all(&new_dir).ok();
}

#[tokio::test]
async fn local_mode_keeps_data_across_a_restart_and_stops_cleanly_on_ctrl_c() {
    let dir = temp_dir("serve");
    let first = Server::start(&dir).await;
    let dev = dev_app(&dir);
    let auth_key = dev["auth_key"].as_str().unwrap();
    let (status, _) = first
        .call(
            "POST",
            "/users.json",
            &[("CB-AuthKey", auth_key)],
            Some(json!({"user": {"login": "persisted", "password": "persist-me-please"}})),
        )
        .await;
    assert_eq!(status, 201);
    // Another command on the data dir while serve holds it: it goes through the running
    // engine's loopback port (serve.json), and serve sees what it wrote.
    let data_dir = ["--data-dir", dir.to_str().unwrap()];
    let created = run(&[&data_dir[..], &["apps", "create", "--name", "beside-serve", "--json"]].concat(), &[]).await;
    let created: Value = serde_json::from_str(&created).unwrap();
    let app_session = json!({"application_id": created["application_id"], "auth_key": created["auth_key"]});
    let (status, body) = first.call("POST", "/session.json", &[], Some(app_session)).await;
    assert_eq!(status, 201, "an application created beside serve signs in: {body}");
    let status = first.interrupt().await;
    assert!(status.success(), "serve exits 0 on Ctrl-C, got {status:?}");
    assert!(!dir.join("serve.json").exists(), "serve.json is removed on a clean stop");

    let second = Server::start(&dir).await;
    let again = dev_app(&dir);
    assert_eq!(again, dev, "the development app is kept");
    let credentials = json!({"application_id": dev["application_id"], "auth_key": auth_key,
        "user": {"login": "persisted", "password": "persist-me-please"}});
    let (status, body) = second.call("POST", "/session.json", &[], Some(credentials)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["session"]["user"]["login"], "persisted");
    assert!(second.interrupt().await.success());
    std::fs::remove_dir_all(&dir).ok();
}

/// At its open-file limit (more clients than descriptors), serve cannot accept: it must pause
/// between attempts instead of retrying in a tight loop (a core burnt and the log flooded
/// exactly when the machine is busiest), and answer again once clients let go.
#[tokio::test]
async fn local_mode_at_its_open_file_limit_pauses_instead_of_spinning_and_recovers() {
    const OPEN_FILES: u32 = 64;
    let dir = temp_dir("open-files");
    let log = dir.join("serve.log");
    let server = Server::launch(&dir, Some(OPEN_FILES), Stdio::from(std::fs::File::create(&log).unwrap())).await;
    let failed_accepts = || std::fs::read_to_string(&log).unwrap_or_default().matches("accept failed").count();

    // Idle connections, more than serve has descriptors: the kernel queues those it cannot take.
    let mut held = Vec::new();
    for _ in 0..OPEN_FILES {
        held.push(tokio::net::TcpStream::connect(&server.addr).await.expect("connect"));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while failed_accepts() == 0 {
        assert!(
            Instant::now() < deadline,
            "serve never ran out of descriptors: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A tight loop logs tens of thousands of failures a second; a pause of 50 ms, at most 20.
    let before = failed_accepts();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let in_a_second = failed_accepts() - before;
    assert!(in_a_second <= 100, "{in_a_second} failed accepts logged in one second: serve spins at its limit");

    drop(held);
    let dev = dev_app(&dir);
    let app_session = json!({"application_id": dev["application_id"], "auth_key": dev["auth_key"]});
    let (status, body) = server.call("POST", "/session.json", &[], Some(app_session)).await;
    assert_eq!(status, 201, "serve answers again once clients let go: {body}");
    assert!(server.interrupt().await.success());
    std::fs::remove_dir_all(&dir).ok();
}
