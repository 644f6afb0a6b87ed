//! The data behind `events/*.json`: one application, one user, one user session and one
//! application session with fixed credentials, so that the same fixture files drive the
//! handler tests, the runtime-API harness and `sam local invoke` against a seeded table.

use std::path::PathBuf;

use shared::crypto::password::{self, Password};
use shared::crypto::random::token_hash;
use shared::domain::app::{App, AppSettings};
use shared::domain::session::{Session, SessionKind};
use shared::domain::user::User;
use shared::http::HttpApiEvent;
use shared::store::Tx;
use shared::{ApiRequest, Deps};

pub const APP_ID: i64 = 9001;
pub const AUTH_KEY: &str = "FixtureAuthKey00001x";
pub const AUTH_SECRET: &str = "FixtureAuthSecretForSignatures01";
pub const USER_ID: i64 = 9101;
pub const USER_LOGIN: &str = "fixture_user";
pub const USER_EMAIL: &str = "fixture.user@example.com";
pub const USER_PASSWORD: &str = "fixture-password-42";
/// A user session of the fixture user.
pub const USER_TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";
/// An application session of the fixture app.
pub const APP_TOKEN: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// The workspace's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// Loads `events/<name>.json` as an API Gateway event and converts it like the runtime does.
pub fn event(name: &str) -> ApiRequest {
    let path = events_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let event: HttpApiEvent =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    ApiRequest::from_event(event)
}

/// Writes the fixture application, user and sessions.
pub async fn seed(deps: &Deps) {
    let now = deps.clock.now();
    let app = App {
        id: APP_ID,
        name: "fixtures".into(),
        auth_key: AUTH_KEY.into(),
        auth_secret: AUTH_SECRET.into(),
        settings: AppSettings::default(),
        created_at: now,
    };
    deps.store
        .insert_app(&app, now)
        .await
        .expect("seed fixture app");
    let user = User {
        id: USER_ID,
        app_id: APP_ID,
        login: Some(USER_LOGIN.into()),
        email: Some(USER_EMAIL.into()),
        full_name: Some("Fixture User".into()),
        password_hash: Some(password::hash(Password::new(USER_PASSWORD.into())).await),
        created_at: now,
        updated_at: now,
        ..User::default()
    };
    let mut tx = Tx::new();
    deps.store.tx_insert_user(&mut tx, &user, now);
    for (id, token, user_id, kind) in [
        (1, USER_TOKEN, Some(USER_ID), SessionKind::User),
        (2, APP_TOKEN, None, SessionKind::App),
    ] {
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
    deps.store
        .commit(tx)
        .await
        .expect("seed fixture user and sessions");
}
