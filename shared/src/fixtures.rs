//! The data behind `events/*.json`: one application (V1 listing on), one user, one user
//! session and one application session with fixed credentials, two blob records, a live
//! reset token and a queued reset mail. `cube-auth fixtures seed` writes them into a table so
//! that `sam local invoke` and `cargo lambda invoke` of each fixture get the answer
//! `events/expectations.json` records; the handler tests and the runtime-API harness seed
//! the same data. Only the CLI and tests enable this module (feature `fixtures`).

use anyhow::Context as _;

use crate::Deps;
use crate::crypto::password::{self, Password};
use crate::crypto::random::token_hash;
use crate::domain::app::{App, AppSettings};
use crate::domain::blob::Blob;
use crate::domain::session::{Session, SessionKind};
use crate::domain::user::User;
use crate::store::Tx;
use crate::store::resets::{OutboxReset, ResetToken};

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
/// A second user session of the fixture user (id 900003), for `DELETE /session/{id}`.
pub const OTHER_USER_TOKEN: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// Writes the fixture application, user and sessions.
pub async fn seed(deps: &Deps) -> anyhow::Result<()> {
    let now = deps.clock.now();
    let app = App {
        id: APP_ID,
        name: "fixtures".into(),
        auth_key: AUTH_KEY.into(),
        auth_secret: AUTH_SECRET.into(),
        settings: AppSettings { users_v1_listing: true, ..AppSettings::default() },
        created_at: now,
    };
    deps.store.insert_app(&app, now).await.context("writing the fixture application")?;
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
    for (id, token, user_id, kind) in [
        (1, USER_TOKEN, Some(USER_ID), SessionKind::User),
        (2, APP_TOKEN, None, SessionKind::App),
        (3, OTHER_USER_TOKEN, Some(USER_ID), SessionKind::User),
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
    let mut blobs = Vec::new();
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
            listed: true,
        };
        // One transaction a blob: each counts itself into the owner's number of files.
        let mut blob_tx = Tx::new();
        deps.store.tx_insert_blob(&mut blob_tx, &blob);
        blobs.push(blob_tx);
    }
    deps.store.commit(tx).await.context("writing the fixture user and sessions")?;
    for blob_tx in blobs {
        deps.store.commit(blob_tx).await.context("writing a fixture blob")?;
    }
    let queued = OutboxReset { sk: OUTBOX_SK.into(), app_id: APP_ID, user_id: USER_ID, email: USER_EMAIL.into() };
    deps.store.queue_reset(Some(&queued), "fixture", now + 3600).await.context("queueing the fixture reset mail")?;
    let token =
        ResetToken { token_hash: token_hash(RESET_TOKEN), app_id: APP_ID, user_id: USER_ID, expires_at: now + 3600 };
    deps.store.issue_reset(&queued, &token, None, None).await.context("issuing the fixture reset token")?;
    Ok(())
}
