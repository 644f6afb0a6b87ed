//! The logs of a full flow, captured in the functions' own JSON format: every request is
//! one line with its id, function, route, status, latency and round trips, and none of the
//! secrets the flow used (passwords, tokens, their hashes, the application's keys, the reset
//! token, email addresses) appears anywhere in them, failures included.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use shared::domain::app::AppSettings;
use shared::mail::{Delivery, MailConfig, Mailer};
use shared::service::reset::deliver_pending;
use testkit::faults::Fault;
use testkit::{Answer, Env, Req, get, on_both_engines, post, put};
use tracing_subscriber::filter::LevelFilter;

const PASSWORD: &str = "correct-horse-battery";
const NEW_PASSWORD: &str = "a-brand-new-passphrase";
const WRONG_PASSWORD: &str = "not-the-right-one-at-all";
const EMAIL: &str = "logged.person@example.com";

/// A log sink shared by every writer the subscriber makes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn call(env: &Env, req: Req) -> Answer {
    let (resp, _) = shared::trips::tracked(cube_auth::router::dispatch(&env.deps, req.build())).await;
    Answer::from(resp)
}

async fn a_full_flow_logs_every_request_and_no_secret(env: &Env) {
    let capture = Capture::default();
    let sink = capture.clone();
    let _logging =
        tracing::subscriber::set_default(shared::runtime::json_logger(LevelFilter::DEBUG, move || sink.clone()));

    let app = env.app(AppSettings::default()).await;
    let signup = json!({"user": {"login": "logged", "email": EMAIL, "password": PASSWORD}});
    let created = call(env, post("/users").header("CB-AuthKey", &app.auth_key).json(signup)).await;
    assert_eq!(created.status, 201);
    let id = created.json()["user"]["id"].as_i64().unwrap();
    let session = |email: &str, password: &str| {
        post("/session").json(
            json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"email": email, "password": password}}),
        )
    };
    assert_eq!(call(env, session(EMAIL, WRONG_PASSWORD)).await.status, 401);
    let logged_in = call(env, session(EMAIL, PASSWORD)).await;
    let token = logged_in.json()["session"]["token"].as_str().unwrap().to_string();
    assert_eq!(call(env, get("/session.json").token(&token)).await.status, 200);
    assert_eq!(call(env, get(&format!("/users/v2.json?email={EMAIL}")).token(&token)).await.status, 200);
    let change = json!({"user": {"password": NEW_PASSWORD, "old_password": PASSWORD}});
    assert_eq!(call(env, put(&format!("/users/{id}.json")).token(&token).json(change)).await.status, 200);
    let password_hash = env.store().get_user(id, env.clock().now()).await.unwrap().unwrap().password_hash.unwrap();
    let session_hashes = env.store().user_session_hashes(id).await.unwrap();

    // A password reset, by mail to a local outbox.
    let reset = call(env, post("/users/password/reset.json").token(&token).json(json!({"email": EMAIL}))).await;
    assert_eq!(reset.status, 200);
    let mailer = Mailer::new(&MailConfig {
        from: "Log Tests <no-reply@example.test>".into(),
        public_base_url: "https://api.example.test".into(),
        delivery: Delivery::Files(env.mail_outbox().join("logs")),
    })
    .unwrap();
    let links = deliver_pending(&env.deps, &mailer).await.unwrap();
    let reset_token = links[0].split("token=").nth(1).unwrap().to_string();
    // A failure on the way: the dependency error is logged, with nothing of the request.
    env.faults.fail_from(1, Fault::Refuse);
    let failed =
        call(env, post("/password-reset.json").json(json!({"token": reset_token, "password": PASSWORD}))).await;
    env.faults.disarm();
    assert_eq!(failed.status, 503);
    let done = call(env, post("/password-reset.json").json(json!({"token": reset_token, "password": PASSWORD}))).await;
    assert_eq!(done.status, 200);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = logs.lines().map(|line| serde_json::from_str(line).expect("every line is JSON")).collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "request").collect();
    assert_eq!(requests.len(), 9, "one line per request:\n{logs}");
    for line in &requests {
        let fields = &line["fields"];
        for key in ["request_id", "function", "method", "route", "status", "latency_ms"] {
            assert!(!fields[key].is_null(), "{key} missing in {line}");
        }
        // A call refused before it left is no round trip; every answered request made some.
        let least = if fields["status"] == 503 { 0 } else { 1 };
        assert!(fields["round_trips"].as_u64().is_some_and(|n| n >= least), "round trips counted: {line}");
    }
    let functions: Vec<&str> = requests.iter().map(|l| l["fields"]["function"].as_str().unwrap()).collect();
    assert_eq!(functions[..3], ["signup", "create-session", "create-session"]);
    assert!(lines.iter().any(|l| l["level"] == "ERROR" && l["fields"]["message"] == "dependency failure"));

    let secrets = [
        ("password", PASSWORD.to_string()),
        ("new password", NEW_PASSWORD.to_string()),
        ("wrong password", WRONG_PASSWORD.to_string()),
        ("email", EMAIL.to_string()),
        ("email's local part", "logged.person".to_string()),
        ("session token", token.clone()),
        ("password hash", password_hash.clone()),
        ("argon2 salt and hash", password_hash.rsplit('$').take(2).collect::<Vec<_>>().join("$")),
        ("auth key", app.auth_key.clone()),
        ("auth secret", app.auth_secret.clone()),
        ("reset token", reset_token.clone()),
    ];
    let mut secrets = secrets.to_vec();
    secrets.extend(session_hashes.iter().map(|h| ("session token hash", h.clone())));
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "the {what} appears in the logs:\n{logs}");
    }
}

on_both_engines!(a_full_flow_logs_every_request_and_no_secret);
