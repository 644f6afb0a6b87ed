//! A stolen session token must not become a permanent takeover, and no session may outlive
//! the credentials it was made with, on both engines:
//!
//! - changing `email` or `login` needs `old_password` (unless the application opts out), a
//!   wrong one counts against the account's login limits, and a change of email or password
//!   voids any outstanding reset link;
//! - logins racing a password reset, a password change or a delete leave no session behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};
use shared::Deps;
use shared::domain::app::{App, AppSettings};
use shared::domain::limits::{AbuseLimits, Rate};
use shared::mail::{Delivery, MailConfig, Mailer};
use shared::service::reset::deliver_pending;
use testkit::{Answer, Env, Req, delete, get, on_both_engines, post, put};

const PASSWORD: &str = "correct-horse-battery";
const NEW_PASSWORD: &str = "a-brand-new-passphrase";

async fn call(deps: &Deps, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(deps, req.build()).await)
}

fn text(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

async fn signup(env: &Env, app: &App, login: &str) -> i64 {
    let user = json!({"user": {"login": login, "email": format!("{login}@example.com"), "password": PASSWORD}});
    let resp = call(&env.deps, post("/users").header("CB-AuthKey", &app.auth_key).json(user)).await;
    assert_eq!(resp.status, 201, "{}", text(&resp));
    resp.json()["user"]["id"].as_i64().unwrap()
}

fn login_request(app: &App, login: &str, password: &str) -> Req {
    post("/session").json(
        json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": login, "password": password}}),
    )
}

async fn token(env: &Env, app: &App, login: &str, password: &str) -> String {
    let resp = call(&env.deps, login_request(app, login, password)).await;
    assert_eq!(resp.status, 201, "{}", text(&resp));
    resp.json()["session"]["token"].as_str().unwrap().to_string()
}

/// Requests a reset for `email` and sends it: the link's token.
async fn reset_link(env: &Env, session: &str, email: &str) -> String {
    let resp = call(&env.deps, post("/users/password/reset").token(session).json(json!({"email": email}))).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let mailer = Mailer::new(&MailConfig {
        from: "Takeover Tests <no-reply@example.test>".into(),
        public_base_url: "https://api.example.test".into(),
        delivery: Delivery::Files(env.mail_outbox().join("takeover")),
    })
    .unwrap();
    let links = deliver_pending(&env.deps, &mailer).await.unwrap();
    links.last().expect("a reset mail was sent").split("token=").nth(1).unwrap().to_string()
}

async fn use_reset(deps: &Deps, token: &str, password: &str) -> Answer {
    call(deps, post("/password-reset").json(json!({"token": token, "password": password}))).await
}

async fn a_stolen_token_cannot_move_the_email_or_login(env: &Env) {
    let limits = AbuseLimits { login_failures_per_account_ip: Rate::new(3, 900), ..AbuseLimits::default() };
    let app = env.app(AppSettings { limits, ..AppSettings::default() }).await;
    let id = signup(env, &app, "owner").await;
    let stolen = token(env, &app, "owner", PASSWORD).await;
    let path = format!("/users/{id}.json");
    let change = |user: Value| put(&path).token(&stolen).from_ip("203.0.113.50").json(json!({ "user": user }));

    let recased = json!({"email": "OWNER@example.com"});
    for user in [json!({"email": "thief@example.com"}), json!({"login": "thief"}), json!({"email": null}), recased] {
        let resp = call(&env.deps, change(user.clone())).await;
        assert_eq!(
            (resp.status, text(&resp).as_str()),
            (422, r#"{"errors":{"old_password":["can't be blank"]}}"#),
            "{user}"
        );
    }
    // Wrong current passwords are failed logins: the account's limit from this address runs
    // out, and then even the right one is refused from here.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let resp = call(&env.deps, change(json!({"email": "thief@example.com", "old_password": format!("guess-{i}")})));
        statuses.push(resp.await.status);
    }
    assert_eq!(statuses, [422, 422, 422, 429]);
    let right = call(&env.deps, change(json!({"email": "thief@example.com", "old_password": PASSWORD}))).await;
    assert_eq!(right.status, 429);
    // Logins from that address are held back too: it is one limit.
    let login = call(&env.deps, login_request(&app, "owner", PASSWORD).from_ip("203.0.113.50")).await;
    assert_eq!(login.status, 429);

    // Nothing changed, and the owner, with the password, may change both.
    let me = call(&env.deps, get(&path).token(&stolen)).await.json()["user"].clone();
    assert_eq!((me["email"].as_str(), me["login"].as_str()), (Some("owner@example.com"), Some("owner")));
    let own = put(&path).token(&stolen).from_ip("198.51.100.60");
    let resp = call(
        &env.deps,
        own.json(json!({"user": {"email": "new@example.com", "login": "owner2", "old_password": PASSWORD}})),
    );
    let resp = resp.await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    assert_eq!(resp.json()["user"]["email"], "new@example.com");
    // Other fields never needed it.
    let name = call(&env.deps, put(&path).token(&stolen).json(json!({"user": {"full_name": "Still Me"}}))).await;
    assert_eq!(name.status, 200);
}

async fn applications_may_opt_out_of_confirming_identity_changes(env: &Env) {
    let app = env.app(AppSettings { identity_change_without_password: true, ..AppSettings::default() }).await;
    let id = signup(env, &app, "legacy").await;
    let session = token(env, &app, "legacy", PASSWORD).await;
    let resp = call(
        &env.deps,
        put(&format!("/users/{id}")).token(&session).json(json!({"user": {"email": "moved@example.com"}})),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    // A password change still needs the current one.
    let resp =
        call(&env.deps, put(&format!("/users/{id}")).token(&session).json(json!({"user": {"password": NEW_PASSWORD}})));
    assert_eq!(resp.await.status, 422);
}

async fn an_email_or_password_change_voids_outstanding_reset_links(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    for (login, change) in [
        ("mover", json!({"email": "elsewhere@example.com", "old_password": PASSWORD})),
        ("changer", json!({"password": NEW_PASSWORD, "old_password": PASSWORD})),
    ] {
        let id = signup(env, &app, login).await;
        let session = token(env, &app, login, PASSWORD).await;
        let link = reset_link(env, &session, &format!("{login}@example.com")).await;
        let resp = call(&env.deps, put(&format!("/users/{id}")).token(&session).json(json!({ "user": change })));
        assert_eq!(resp.await.status, 200);
        let used = use_reset(&env.deps, &link, "the-attackers-choice").await;
        assert_eq!(
            (used.status, text(&used).as_str()),
            (422, r#"{"errors":{"token":["is invalid or has expired"]}}"#),
            "{login}: the link of before the change still worked"
        );
        let attacker = call(&env.deps, login_request(&app, login, "the-attackers-choice")).await;
        assert_eq!(attacker.status, 401, "{login}");
    }
    // A link of after the change works.
    let session = token(env, &app, "mover", PASSWORD).await;
    let link = reset_link(env, &session, "elsewhere@example.com").await;
    assert_eq!(use_reset(&env.deps, &link, "fresh-and-long-enough").await.status, 200);
}

/// Logs `login` in with `password` in a tight loop on `tasks` tasks until `stop`; returns the
/// tokens it was given.
fn login_loop(
    deps: &Deps,
    app: &App,
    login: &str,
    tasks: usize,
    stop: &Arc<AtomicBool>,
    made: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..tasks)
        .map(|t| {
            let (deps, app, login) = (deps.clone(), app.clone(), login.to_string());
            let (stop, made) = (stop.clone(), made.clone());
            tokio::spawn(async move {
                let mut tokens = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let req = login_request(&app, &login, PASSWORD).from_ip(&format!("198.51.100.{}", 100 + t));
                    let resp = call(&deps, req).await;
                    if resp.status == 201 {
                        made.fetch_add(1, Ordering::SeqCst);
                        tokens.push(resp.json()["session"]["token"].as_str().unwrap().to_string());
                    }
                }
                tokens
            })
        })
        .collect()
}

/// Every token handed out before `change` committed answers 401 afterwards.
async fn race_logins_against(env: &Env, app: &App, login: &str, change: impl AsyncFnOnce(&Deps) -> u16) {
    let deps = env.patient_deps();
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let loops = login_loop(&deps, app, login, 4, &stop, &made);
    // Let the loops get going, so that logins are in flight when the change commits.
    for _ in 0..600 {
        if made.load(Ordering::SeqCst) >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = change(&deps).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    let mut tokens = Vec::new();
    for task in loops {
        tokens.extend(task.await.unwrap());
    }
    assert_eq!(status, 200, "{login}: the change itself");
    assert!(!tokens.is_empty(), "{login}: no login got through before the change");
    for token in &tokens {
        let resp = call(&deps, get("/session.json").token(token)).await;
        assert_eq!(resp.status, 401, "{login}: a session of the old password outlived the change");
    }
    eprintln!("{login}: {} sessions made during the race, none left", tokens.len());
}

async fn no_session_survives_a_reset_a_password_change_or_a_delete(env: &Env) {
    let wide = Rate::new(100_000, 900);
    let limits = AbuseLimits { login_failures_per_account_ip: wide, ..AbuseLimits::default() };
    let app = env.app(AppSettings { limits, ..AppSettings::default() }).await;

    signup(env, &app, "reset-racer").await;
    let session = token(env, &app, "reset-racer", PASSWORD).await;
    let link = reset_link(env, &session, "reset-racer@example.com").await;
    race_logins_against(env, &app, "reset-racer", async |deps| use_reset(deps, &link, NEW_PASSWORD).await.status).await;

    let id = signup(env, &app, "change-racer").await;
    let keeper = token(env, &app, "change-racer", PASSWORD).await;
    let change = json!({"user": {"password": NEW_PASSWORD, "old_password": PASSWORD}});
    let path = format!("/users/{id}");
    race_logins_against(env, &app, "change-racer", async |deps| {
        call(deps, put(&path).token(&keeper).json(change)).await.status
    })
    .await;
    assert_eq!(call(&env.deps, get("/session").token(&keeper)).await.status, 200, "the changing session stays");

    let id = signup(env, &app, "delete-racer").await;
    let own = token(env, &app, "delete-racer", PASSWORD).await;
    let path = format!("/users/{id}");
    race_logins_against(env, &app, "delete-racer", async |deps| call(deps, delete(&path).token(&own)).await.status)
        .await;
}

/// Users without a password (Firebase, identity provider) have none to confirm a change of
/// address with; a reset must then not give them one, or a stolen session token could move
/// the address and obtain a password through it.
async fn a_reset_never_gives_a_passwordless_user_a_password(env: &Env) {
    use shared::domain::user::User;
    let app = env.app(AppSettings::default()).await;
    let now = env.clock().now();
    let id = env.store().next_id("users").await.unwrap();
    let user = User {
        id,
        app_id: app.id,
        login: Some("federated".into()),
        email: Some("federated@example.com".into()),
        created_at: now,
        updated_at: now,
        ..User::default()
    };
    let mut tx = shared::store::Tx::new();
    env.store().tx_insert_user(&mut tx, &user, now);
    env.store().commit(tx).await.unwrap();
    let body = json!({"application_id": app.id, "auth_key": app.auth_key});
    let session =
        call(&env.deps, post("/session").json(body)).await.json()["session"]["token"].as_str().unwrap().to_string();
    let resp =
        call(&env.deps, post("/users/password/reset").token(&session).json(json!({"email": "federated@example.com"})));
    assert_eq!(resp.await.status, 200, "the same answer as for any address");
    let queued = env.store().pending_resets(env.clock().now()).await.unwrap();
    assert!(queued.iter().all(|r| r.user_id != id), "a reset mail was queued for a user without a password");
}

on_both_engines!(
    a_reset_never_gives_a_passwordless_user_a_password,
    a_stolen_token_cannot_move_the_email_or_login,
    applications_may_opt_out_of_confirming_identity_changes,
    an_email_or_password_change_voids_outstanding_reset_links,
    no_session_survives_a_reset_a_password_change_or_a_delete,
);
