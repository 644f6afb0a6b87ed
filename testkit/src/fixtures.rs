//! The data behind `events/*.json`: one application (V1 listing on), one user, one user
//! session and one application session with fixed credentials, so that the same fixture files drive the
//! handler tests, the runtime-API harness and `sam local invoke` against a seeded table.

use std::path::PathBuf;

use shared::crypto::password::{self, Password};
use shared::crypto::random::token_hash;
use shared::domain::app::{App, AppSettings};
use shared::domain::blob::Blob;
use shared::domain::session::{Session, SessionKind};
use shared::domain::user::User;
use shared::routes::Function;
use shared::store::Tx;
use shared::store::resets::{OutboxReset, ResetToken};
use shared::{Body, Deps, Request, Response};

pub const APP_ID: i64 = 9001;
pub const AUTH_KEY: &str = "FixtureAuthKey00001x";
pub const AUTH_SECRET: &str = "FixtureAuthSecretForSignatures01";
pub const USER_ID: i64 = 9101;
pub const USER_LOGIN: &str = "fixture_user";
pub const USER_EMAIL: &str = "fixture.user@example.com";
pub const USER_PASSWORD: &str = "fixture-password-42";
pub const USER_PHONE: &str = "+15550100";
/// A public and a private blob of the fixture user (records only; no object is uploaded).
pub const PUBLIC_BLOB_ID: i64 = 9201;
pub const PUBLIC_BLOB_UID: &str = "f1x7e0000000000000000000000abc01";
pub const PRIVATE_BLOB_ID: i64 = 9202;
pub const PRIVATE_BLOB_UID: &str = "f1x7e0000000000000000000000abc02";
/// A live password-reset token of the fixture user, and a queued reset mail for it.
pub const RESET_TOKEN: &str = "5e7f1c2d3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
pub const OUTBOX_SK: &str = "000000000001#9001#9101#FIXTURE";
pub const USER_EXTERNAL_ID: i64 = 555;
/// A user session of the fixture user.
pub const USER_TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
/// An application session of the fixture app.
pub const APP_TOKEN: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// The workspace's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Writes the fixture application, user and sessions.
pub async fn seed(deps: &Deps) {
    let now = deps.clock.now();
    let app = App {
        id: APP_ID,
        name: "fixtures".into(),
        auth_key: AUTH_KEY.into(),
        auth_secret: AUTH_SECRET.into(),
        settings: AppSettings { users_v1_listing: true, ..AppSettings::default() },
        created_at: now,
    };
    deps.store.insert_app(&app, now).await.expect("seed fixture app");
    let user = User {
        id: USER_ID,
        app_id: APP_ID,
        login: Some(USER_LOGIN.into()),
        email: Some(USER_EMAIL.into()),
        full_name: Some("Fixture User".into()),
        phone: Some(USER_PHONE.into()),
        external_user_id: Some(USER_EXTERNAL_ID),
        facebook_id: Some("fb-9101".into()),
        tags: vec!["fixture".into(), "seed".into()],
        password_hash: Some(password::hash(Password::new(USER_PASSWORD.into())).await),
        created_at: now,
        updated_at: now,
        ..User::default()
    };
    let mut tx = Tx::new();
    deps.store.tx_insert_user(&mut tx, &user, now);
    for (id, token, user_id, kind) in
        [(1, USER_TOKEN, Some(USER_ID), SessionKind::User), (2, APP_TOKEN, None, SessionKind::App)]
    {
        let session = Session {
            token_hash: token_hash(token),
            id: 900_000 + id,
            app_id: APP_ID,
            user_id,
            kind,
            created_at: now,
            updated_at: now,
            last_active: now,
            idle_ttl: app.settings.session_ttl_secs,
            hard_expires_at: now + app.settings.session_max_lifetime_secs,
            ts: now,
            nonce: None,
        };
        deps.store.tx_insert_session(&mut tx, &session);
    }
    for (id, uid, public) in [(PUBLIC_BLOB_ID, PUBLIC_BLOB_UID, true), (PRIVATE_BLOB_ID, PRIVATE_BLOB_UID, false)] {
        let blob = Blob {
            id,
            uid: uid.into(),
            app_id: APP_ID,
            owner_id: USER_ID,
            name: format!("{uid}.png"),
            content_type: "image/png".into(),
            public,
            size: None,
            reserved_bytes: 0,
            created_at: now,
            updated_at: now,
            completed_at: None,
        };
        deps.store.tx_insert_blob(&mut tx, &blob);
    }
    deps.store.commit(tx).await.expect("seed fixture user, sessions and blobs");
    let queued = OutboxReset { sk: OUTBOX_SK.into(), app_id: APP_ID, user_id: USER_ID, email: USER_EMAIL.into() };
    deps.store.queue_reset(Some(&queued), "fixture", now + 3600).await.expect("seed a queued reset mail");
    let token =
        ResetToken { token_hash: token_hash(RESET_TOKEN), app_id: APP_ID, user_id: USER_ID, expires_at: now + 3600 };
    deps.store.issue_reset(&queued, &token, None, None).await.expect("seed a reset token");
}

/// One fixture and what it must produce (`events/expectations.json`).
#[derive(Debug, Clone)]
pub struct Expectation {
    pub event: String,
    pub status: u16,
    pub contains: Vec<String>,
}

/// The fixtures of `function`, in the order they must run.
pub fn expectations(function: &str) -> Vec<Expectation> {
    let path = events_dir().join("expectations.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let all: serde_json::Value = serde_json::from_str(&text).expect("expectations.json is JSON");
    let cases = all[function].as_array().unwrap_or_else(|| panic!("no expectations for {function}"));
    cases
        .iter()
        .map(|case| Expectation {
            event: case["event"].as_str().expect("event").to_string(),
            status: case["status"].as_u64().expect("status") as u16,
            contains: case["contains"]
                .as_array()
                .map(|c| c.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// Asserts that a response meets an expectation, naming the fixture on failure.
pub fn assert_meets(expectation: &Expectation, status: u16, body: &str) {
    assert_eq!(status, expectation.status, "{}: status (body {body})", expectation.event);
    for needle in &expectation.contains {
        assert!(body.contains(needle.as_str()), "{}: body lacks {needle}: {body}", expectation.event);
    }
}

/// Runs every fixture of `function` through `handle` against a freshly seeded dynoxide,
/// each event going through the conversion Lambda runs (the guard, then `lambda_http`): the
/// per-function handler test.
pub async fn check_handler<F, Fut>(function: Function, handle: F)
where
    F: Fn(Deps, Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>> + Send,
{
    let env = crate::Env::dynoxide().await;
    seed(&env.deps).await;
    let deps = env.deps.clone();
    let mut service = shared::lambda::service(|req| handle(deps.clone(), req));
    for expectation in expectations(function.name()) {
        let answer = shared::lambda::invoke(&mut service, event_json(&expectation.event)).await;
        let answer = crate::Answer::from_lambda(&answer);
        assert_meets(&expectation, answer.status, &String::from_utf8_lossy(&answer.body));
    }
}

/// The raw API Gateway event of `events/<name>.json`.
pub fn event_json(name: &str) -> serde_json::Value {
    let path = events_dir().join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read event")).expect("event is JSON")
}
