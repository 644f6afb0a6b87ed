//! Faults without loss, on both DynamoDB engines: every multi-step operation (signup, an
//! update of unique fields, a password change, delete, a password reset) is run with its
//! Nth AWS call failing (and every later one), for every N until the operation no longer
//! reaches the fault, and for each kind of fault. Each time the client gets the operation's
//! success or a 503 in the JSON error shape with nothing internal in it, and afterwards the
//! data holds either the whole change or none of it.

use serde_json::json;
use shared::domain::app::{App, AppSettings};
use shared::domain::limits::{AbuseLimits, Rate};
use shared::mail::{Delivery, MailConfig, Mailer};
use shared::service::reset::deliver_pending;
use testkit::faults::Fault;
use testkit::{Answer, Env, Req, delete, get, on_both_engines, post, put};

const PASSWORD: &str = "correct-horse-battery";
const NEW_PASSWORD: &str = "a-brand-new-passphrase";
const UNAVAILABLE: &str = r#"{"errors":{"base":["Service temporarily unavailable, please retry"]}}"#;
const SESSION_MISSING: u16 = 401;
/// The kinds every call point is tried with (`Hang` waits out timeouts: tried once below).
const FAULTS: [Fault; 3] = [Fault::Refuse, Fault::LoseResponse, Fault::Throttle];

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

fn text(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// One account in a fresh application, with a session.
struct Account {
    app: App,
    id: i64,
    login: String,
    email: String,
    token: String,
}

async fn account(env: &Env, login: &str) -> Account {
    let app = env.app(AppSettings::default()).await;
    let email = format!("{login}@example.com");
    let user = json!({"user": {"login": login, "email": email, "password": PASSWORD, "tag_list": "faulty"}});
    let created = call(env, post("/users").header("CB-AuthKey", &app.auth_key).json(user)).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let id = created.json()["user"]["id"].as_i64().unwrap();
    let token = log_in(env, &app, login, PASSWORD).await.expect("log in");
    Account { app, id, login: login.into(), email, token }
}

async fn log_in(env: &Env, app: &App, login: &str, password: &str) -> Option<String> {
    let body =
        json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": login, "password": password}});
    let resp = call(env, post("/session").json(body)).await;
    (resp.status == 201).then(|| resp.json()["session"]["token"].as_str().unwrap().to_string())
}

async fn app_token(env: &Env, app: &App) -> String {
    let resp = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    resp.json()["session"]["token"].as_str().unwrap().to_string()
}

/// The users a V2 search finds (through the uniqueness markers and tag items).
async fn found(env: &Env, token: &str, query: &str) -> Vec<i64> {
    let resp = call(env, get(&format!("/users/v2.json?{query}")).token(token)).await;
    assert_eq!(resp.status, 200, "{query}: {}", text(&resp));
    resp.json()["items"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect()
}

/// The operation answered `success`, or 503 with the generic body and nothing more.
fn assert_success_or_unavailable(resp: &Answer, success: u16, context: &str) -> bool {
    if resp.status == success {
        return true;
    }
    assert_eq!((resp.status, text(resp).as_str()), (503, UNAVAILABLE), "{context}");
    false
}

/// Runs `attempt(nth)` with the Nth call failing for N = 1, 2, … until the attempt makes
/// fewer than N calls (it no longer reaches the fault), for each fault kind. `attempt` sets
/// up its own state, arms the faults through `env.faults.fail_from`, and checks the outcome.
async fn at_every_call<F, Fut>(env: &Env, mut attempt: F)
where
    F: FnMut(usize, Fault) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for fault in FAULTS {
        for nth in 1.. {
            attempt(nth, fault).await;
            let calls = env.faults.calls();
            env.faults.disarm();
            if calls < nth {
                break;
            }
            assert!(nth < 40, "an operation that keeps calling");
        }
    }
}

async fn signup_is_all_or_nothing(env: &Env) {
    // Dozens of signups from one address: the per-IP signup limit is not what is tested here.
    let limits = AbuseLimits { signups_per_ip: Rate::new(10_000, 3600), ..AbuseLimits::default() };
    let app = env.app(AppSettings { limits, ..AppSettings::default() }).await;
    let watcher = app_token(env, &app).await;
    let mut round = 0;
    at_every_call(env, |nth, fault| {
        round += 1;
        let (login, watcher, app) = (format!("new{round}"), watcher.clone(), app.clone());
        async move {
            let email = format!("{login}@example.com");
            let user = json!({"user": {"login": login, "email": email, "password": PASSWORD, "tag_list": login}});
            env.faults.fail_from(nth, fault);
            let resp = call(env, post("/users").header("CB-AuthKey", &app.auth_key).json(user.clone())).await;
            env.faults.disarm();
            let context = format!("signup, call {nth} {fault:?}");
            assert_success_or_unavailable(&resp, 201, &context);
            let by_login = found(env, &watcher, &format!("login={login}")).await;
            let by_email = found(env, &watcher, &format!("email={email}")).await;
            let by_tag = found(env, &watcher, &format!("user_tags={login}")).await;
            if by_login.is_empty() {
                assert!(by_email.is_empty() && by_tag.is_empty(), "{context}: a partial user");
                // Nothing is left holding the login or the email.
                let again = call(env, post("/users").header("CB-AuthKey", &app.auth_key).json(user)).await;
                assert_eq!(again.status, 201, "{context}: {}", text(&again));
            } else {
                assert!(by_email == by_login && by_tag == by_login, "{context}: a partial user");
                assert!(log_in(env, &app, &login, PASSWORD).await.is_some(), "{context}");
            }
        }
    })
    .await;
}

async fn a_unique_field_update_is_all_or_nothing(env: &Env) {
    let mut round = 0;
    at_every_call(env, |nth, fault| {
        round += 1;
        async move {
            let me = account(env, &format!("old{round}")).await;
            let (new_login, new_email) = (format!("renamed{round}"), format!("renamed{round}@example.com"));
            let change = json!({"user": {"login": new_login, "email": new_email, "old_password": PASSWORD}});
            env.faults.fail_from(nth, fault);
            let resp = call(env, put(&format!("/users/{}.json", me.id)).token(&me.token).json(change)).await;
            env.faults.disarm();
            let context = format!("update, call {nth} {fault:?}");
            assert_success_or_unavailable(&resp, 200, &context);
            let user = call(env, get(&format!("/users/{}.json", me.id)).token(&me.token)).await.json()["user"].clone();
            let old_markers = (
                found(env, &me.token, &format!("login={}", me.login)).await,
                found(env, &me.token, &format!("email={}", me.email)).await,
            );
            let new_markers = (
                found(env, &me.token, &format!("login={new_login}")).await,
                found(env, &me.token, &format!("email={new_email}")).await,
            );
            if user["login"] == json!(new_login) {
                assert_eq!(user["email"], json!(new_email), "{context}: half an update");
                assert_eq!(new_markers, (vec![me.id], vec![me.id]), "{context}");
                assert_eq!(old_markers, (vec![], vec![]), "{context}: the old values are free");
            } else {
                assert_eq!(
                    (user["login"].clone(), user["email"].clone()),
                    (json!(me.login), json!(me.email)),
                    "{context}"
                );
                assert_eq!(old_markers, (vec![me.id], vec![me.id]), "{context}");
                assert_eq!(new_markers, (vec![], vec![]), "{context}: the new values are not held");
            }
        }
    })
    .await;
}

async fn a_password_change_is_all_or_nothing(env: &Env) {
    let mut round = 0;
    at_every_call(env, |nth, fault| {
        round += 1;
        async move {
            let me = account(env, &format!("pw{round}")).await;
            let other_session = log_in(env, &me.app, &me.login, PASSWORD).await.unwrap();
            let change = json!({"user": {"password": NEW_PASSWORD, "old_password": PASSWORD}});
            env.faults.fail_from(nth, fault);
            let resp = call(env, put(&format!("/users/{}.json", me.id)).token(&me.token).json(change)).await;
            env.faults.disarm();
            let context = format!("password change, call {nth} {fault:?}");
            assert_success_or_unavailable(&resp, 200, &context);
            let other = call(env, get("/session.json").token(&other_session)).await.status;
            if log_in(env, &me.app, &me.login, NEW_PASSWORD).await.is_some() {
                assert!(log_in(env, &me.app, &me.login, PASSWORD).await.is_none(), "{context}");
                assert_eq!(other, SESSION_MISSING, "{context}: other sessions end with the change");
            } else {
                assert!(log_in(env, &me.app, &me.login, PASSWORD).await.is_some(), "{context}");
                assert_eq!(other, 200, "{context}: nothing changed, so nothing ended");
            }
        }
    })
    .await;
}

async fn delete_is_all_or_nothing(env: &Env) {
    let mut round = 0;
    at_every_call(env, |nth, fault| {
        round += 1;
        async move {
            let me = account(env, &format!("gone{round}")).await;
            let watcher = app_token(env, &me.app).await;
            env.faults.fail_from(nth, fault);
            let resp = call(env, delete(&format!("/users/{}.json", me.id)).token(&me.token)).await;
            env.faults.disarm();
            let context = format!("delete, call {nth} {fault:?}");
            assert_success_or_unavailable(&resp, 200, &context);
            let record = call(env, get(&format!("/users/{}.json", me.id)).token(&watcher)).await.status;
            let session = call(env, get("/session.json").token(&me.token)).await.status;
            let by_login = found(env, &watcher, &format!("login={}", me.login)).await;
            let by_email = found(env, &watcher, &format!("email={}", me.email)).await;
            let by_tag = found(env, &watcher, "user_tags=faulty").await;
            if record == 404 {
                assert_eq!(session, SESSION_MISSING, "{context}: the user's sessions end with it");
                assert!(by_login.is_empty() && by_email.is_empty() && by_tag.is_empty(), "{context}: leftovers");
                let again = json!({"user": {"login": me.login, "email": me.email, "password": PASSWORD}});
                let signup = call(env, post("/users").header("CB-AuthKey", &me.app.auth_key).json(again)).await;
                assert_eq!(signup.status, 201, "{context}: the login and email are free again");
            } else {
                assert_eq!((record, session), (200, 200), "{context}");
                assert!(by_login == vec![me.id] && by_email == vec![me.id] && by_tag == vec![me.id], "{context}");
            }
        }
    })
    .await;
}

async fn a_password_reset_is_all_or_nothing(env: &Env) {
    let outbox = env.mail_outbox().join("faults");
    let mailer = Mailer::new(&MailConfig {
        from: "Fault Tests <no-reply@example.test>".into(),
        public_base_url: "https://api.example.test".into(),
        delivery: Delivery::Files(outbox),
    })
    .unwrap();
    let mut round = 0;
    at_every_call(env, |nth, fault| {
        round += 1;
        let mailer = &mailer;
        async move {
            let me = account(env, &format!("reset{round}")).await;
            let asked = call(env, post("/users/password/reset.json").token(&me.token).json(json!({"email": me.email})));
            assert_eq!(asked.await.status, 200);
            let links = deliver_pending(&env.deps, mailer).await.unwrap();
            let token = links[0].split("token=").nth(1).unwrap().to_string();
            let form = json!({"token": token, "password": NEW_PASSWORD});
            env.faults.fail_from(nth, fault);
            let resp = call(env, post("/password-reset.json").json(form)).await;
            env.faults.disarm();
            let context = format!("reset, call {nth} {fault:?}");
            assert_success_or_unavailable(&resp, 200, &context);
            let session = call(env, get("/session.json").token(&me.token)).await.status;
            let page = call(env, get(&format!("/password-reset?token={token}")).header("Accept", "text/html")).await;
            if log_in(env, &me.app, &me.login, NEW_PASSWORD).await.is_some() {
                assert_eq!(session, SESSION_MISSING, "{context}: sessions end with the reset");
                assert_eq!(page.status, 400, "{context}: the token is used up");
            } else {
                assert!(log_in(env, &me.app, &me.login, PASSWORD).await.is_some(), "{context}");
                assert_eq!((session, page.status), (200, 200), "{context}: nothing changed, the link still works");
            }
        }
    })
    .await;
}

/// A call that never gets an answer runs into the attempt timeout; the SDK retries and the
/// client gets its 503 within the operation timeout, with nothing written.
async fn a_hanging_call_times_out_into_a_503(env: &Env) {
    let me = account(env, "patient").await;
    let probe = call(
        env,
        put(&format!("/users/{}.json", me.id)).token(&me.token).json(json!({"user": {"full_name": "Probe"}})),
    );
    assert_eq!(probe.await.status, 200);
    env.faults.fail_from(1, Fault::Hang);
    let started = std::time::Instant::now();
    let change = json!({"user": {"full_name": "Never Written"}});
    let resp = call(env, put(&format!("/users/{}.json", me.id)).token(&me.token).json(change)).await;
    env.faults.disarm();
    assert_eq!((resp.status, text(&resp).as_str()), (503, UNAVAILABLE));
    assert!(started.elapsed() <= shared::aws::OPERATION_TIMEOUT + std::time::Duration::from_secs(2));
    let user = call(env, get(&format!("/users/{}.json", me.id)).token(&me.token)).await.json()["user"].clone();
    assert_eq!(user["full_name"], json!("Probe"));
}

on_both_engines!(
    signup_is_all_or_nothing,
    a_unique_field_update_is_all_or_nothing,
    a_password_change_is_all_or_nothing,
    delete_is_all_or_nothing,
    a_password_reset_is_all_or_nothing,
    a_hanging_call_times_out_into_a_503,
);
