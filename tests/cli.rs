//! The `cube-auth` binary itself: application management on a real DynamoDB table (DynamoDB
//! Local) and on a local data dir, and local mode surviving a restart and stopping cleanly
//! on Ctrl-C (SIGINT).

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

/// Runs `cube-auth ARGS` with `env`, returning stdout; panics with stderr on failure.
async fn run(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(cube_auth())
        .args(args)
        .envs(env.iter().copied())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("run cube-auth");
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
            "signups_per_ip": "30/3600", "searches_per_ip": "1200/60", "lockout": "5/900"}})
    );
    let args = with(&["apps", "update", &id, "--no-lockout", "--json"]);
    let unlocked: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    assert_eq!(unlocked["settings"]["limits"]["lockout"], Value::Null);
    assert_eq!(unlocked["settings"]["limits"]["login_failures_per_ip"], "50/600", "other settings stay");

    let args = with(&["apps", "show", &id, "--json"]);
    let shown: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    assert_eq!(shown["auth_key"], created["auth_key"]);
    assert_eq!(shown["settings"]["allow_session_without_user"], true);

    let args = with(&["apps", "list", "--json"]);
    let listed: Value =
        serde_json::from_str(&run(&args.iter().map(String::as_str).collect::<Vec<_>>(), env).await).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|a| a["application_id"] == created["application_id"]));
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
        let serve_file = dir.join("serve.json");
        let child = Command::new(cube_auth())
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
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

#[tokio::test]
async fn local_mode_keeps_data_across_a_restart_and_stops_cleanly_on_ctrl_c() {
    let dir = temp_dir("serve");
    let first = Server::start(&dir).await;
    let dev: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("dev-app.json")).unwrap()).unwrap();
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
    let status = first.interrupt().await;
    assert!(status.success(), "serve exits 0 on Ctrl-C, got {status:?}");
    assert!(!dir.join("serve.json").exists(), "serve.json is removed on a clean stop");

    let second = Server::start(&dir).await;
    let again: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("dev-app.json")).unwrap()).unwrap();
    assert_eq!(again, dev, "the development app is kept");
    let credentials = json!({"application_id": dev["application_id"], "auth_key": auth_key,
        "user": {"login": "persisted", "password": "persist-me-please"}});
    let (status, body) = second.call("POST", "/session.json", &[], Some(credentials)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["session"]["user"]["login"], "persisted");
    assert!(second.interrupt().await.success());
    std::fs::remove_dir_all(&dir).ok();
}
