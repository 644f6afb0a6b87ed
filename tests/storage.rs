//! Storage guarantees on both engines: uniqueness under concurrency with no orphan markers,
//! id allocation across instances, TTL-pending items treated as gone.

use std::collections::HashSet;

use serde_json::json;
use shared::domain::app::AppSettings;
use shared::domain::user::UniqueField;
use shared::store::Store;
use shared::store::item::{Item, ItemExt};
use shared::store::{Claim, Tx};
use testkit::{Answer, Env, on_both_engines, post, put};

const PASSWORD: &str = "correct-horse-battery";

fn with_prefix<'a>(items: &'a [Item], prefix: &str) -> Vec<&'a Item> {
    items
        .iter()
        .filter(|i| {
            i.str("pk").is_some_and(|pk| pk.starts_with(prefix)) && i.str("sk").is_some_and(|sk| sk.starts_with('#'))
        })
        .collect()
}

/// 50 signups race for one value of `field`; exactly one may win.
async fn race_signups(env: &Env, field: &str) {
    let app = env.app(AppSettings::default()).await;
    let patient = env.patient_deps();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let deps = patient.clone();
        let mut user = json!({"password": PASSWORD});
        match field {
            "login" => {
                user["login"] = json!("racer");
                user["email"] = json!(format!("racer{i}@example.com"));
            }
            _ => {
                user["login"] = json!(format!("racer{i}"));
                user["email"] = json!("Racer@Example.com");
            }
        }
        // Fifty clients, each from its own address: each counts one signup against its own
        // per-IP limit, so the race is for the login or email alone.
        let req = post("/users.json")
            .header("CB-AuthKey", &app.auth_key)
            .from_ip(&format!("198.51.100.{i}"))
            .json(json!({ "user": user }))
            .build();
        tasks.push(tokio::spawn(async move { Answer::from(cube_auth::router::dispatch(&deps, req).await) }));
    }
    let mut created = Vec::new();
    let mut taken = 0;
    for task in tasks {
        let resp = task.await.expect("task");
        match resp.status {
            201 => created.push(resp.json()["user"]["id"].as_i64().unwrap()),
            422 => {
                assert_eq!(resp.json()["errors"][field][0], "has already been taken");
                taken += 1;
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&resp.body)),
        }
    }
    assert_eq!((created.len(), taken), (1, 49), "exactly one signup wins the {field}");

    // No orphans: one user item, and every marker points at a user that exists.
    let items = env.all_items().await;
    let users = with_prefix(&items, "USER#");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].int("id"), Some(created[0]));
    let markers = with_prefix(&items, "UNIQUE#");
    assert_eq!(markers.len(), 2, "one login and one email marker");
    assert!(markers.iter().all(|m| m.int("user_id") == Some(created[0])));
}

async fn fifty_parallel_signups_with_one_login_create_one_user_and_no_orphans(env: &Env) {
    race_signups(env, "login").await;
}

async fn fifty_parallel_signups_with_one_email_create_one_user_and_no_orphans(env: &Env) {
    race_signups(env, "email").await;
}

async fn ids_stay_unique_across_instances_that_reserve_blocks(env: &Env) {
    // Two "warm instances" with their own id blocks on one table.
    let client = env.patient_deps().store.client().clone();
    let other = Store::new(client.clone(), env.table(), 4);
    let mine = Store::new(client, env.table(), 4);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { other.clone() } else { mine.clone() };
        tasks.push(tokio::spawn(async move { store.next_id("users").await.unwrap() }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        assert!(ids.insert(task.await.unwrap()), "duplicate id");
    }
    assert_eq!(ids.len(), 40);
}

async fn an_expired_guests_login_marker_does_not_block_a_new_user(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let resp = Answer::from(
        cube_auth::router::dispatch(
            &env.deps,
            post("/session")
                .json(json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"guest": "1"}}))
                .build(),
        )
        .await,
    );
    let login = resp.json()["session"]["user"]["login"].as_str().unwrap().to_string();
    let taken = Answer::from(
        cube_auth::router::dispatch(
            &env.deps,
            post("/users")
                .header("CB-AuthKey", &app.auth_key)
                .json(json!({"user": {"login": login, "password": PASSWORD}}))
                .build(),
        )
        .await,
    );
    assert_eq!(taken.status, 422, "a live guest holds its login");
    env.clock().advance(24 * 3600 + 1);
    let free = Answer::from(
        cube_auth::router::dispatch(
            &env.deps,
            post("/users")
                .header("CB-AuthKey", &app.auth_key)
                .json(json!({"user": {"login": login, "password": PASSWORD}}))
                .build(),
        )
        .await,
    );
    assert_eq!(free.status, 201, "{}", String::from_utf8_lossy(&free.body));
}

async fn apps_are_found_by_auth_key_and_listed_by_id(env: &Env) {
    let a = env.app(AppSettings::default()).await;
    let b = env.app(AppSettings { require_signature: true, ..AppSettings::default() }).await;
    assert_eq!(env.store().app_id_for_auth_key(&b.auth_key).await.unwrap(), Some(b.id));
    assert_eq!(env.store().app_id_for_auth_key("nope").await.unwrap(), None);
    let listed = env.store().list_apps().await.unwrap();
    assert_eq!(listed, vec![a.clone(), b.clone()]);
    let mut changed = b.clone();
    changed.settings.session_ttl_secs = 2;
    env.store().update_app(&changed, env.clock().now()).await.unwrap();
    assert_eq!(env.store().get_app(b.id).await.unwrap().unwrap().settings.session_ttl_secs, 2);
}

/// Login and email markers carry the user's password hash (a login verifies while it reads
/// the user); a password change moves every marker to the new hash in its own transaction,
/// and a login that verified the old hash gets no session.
async fn markers_follow_password_changes_and_a_stale_verification_writes_nothing(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let call = async |req: testkit::Req| Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await);
    let user = json!({"user": {"login": "keeper", "email": "keeper@example.com", "password": PASSWORD}});
    let id = call(post("/users").header("CB-AuthKey", &app.auth_key).json(user)).await.json()["user"]["id"]
        .as_i64()
        .unwrap();
    let credential = |field: UniqueField, value: &'static str| async move {
        env.store().app_and_credential(app.id, Some((field, value)), env.clock().now()).await.unwrap().1.unwrap()
    };
    let before = credential(UniqueField::Login, "keeper").await;
    let stored = env.store().get_user(id, env.clock().now()).await.unwrap().unwrap().password_hash;
    assert_eq!((before.user_id, &before.password_hash), (id, &stored));
    assert_eq!(credential(UniqueField::Email, "keeper@example.com").await, before);

    let login =
        json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": "keeper", "password": PASSWORD}});
    let token = call(post("/session").json(login)).await.json()["session"]["token"].as_str().unwrap().to_string();
    let change = json!({"user": {"old_password": PASSWORD, "password": "a-brand-new-horse"}});
    assert_eq!(call(put(&format!("/users/{id}")).token(&token).json(change)).await.status, 200);
    let after = credential(UniqueField::Login, "keeper").await;
    let stored = env.store().get_user(id, env.clock().now()).await.unwrap().unwrap().password_hash;
    assert_ne!(after.password_hash, before.password_hash);
    assert_eq!(after.password_hash, stored);
    assert_eq!(credential(UniqueField::Email, "keeper@example.com").await, after);

    let touch = |hash: String| async move {
        let mut tx = Tx::new();
        env.store().tx_touch_user_with_password(&mut tx, id, &hash, env.clock().now());
        env.store().commit(tx).await
    };
    let stale = touch(before.password_hash.unwrap()).await;
    assert!(stale.unwrap_err().is_conflict_on(Claim::UserExists), "verified against the replaced hash");
    touch(after.password_hash.unwrap()).await.expect("verified against the current hash");
}

on_both_engines!(
    fifty_parallel_signups_with_one_login_create_one_user_and_no_orphans,
    fifty_parallel_signups_with_one_email_create_one_user_and_no_orphans,
    ids_stay_unique_across_instances_that_reserve_blocks,
    an_expired_guests_login_marker_does_not_block_a_new_user,
    apps_are_found_by_auth_key_and_listed_by_id,
    markers_follow_password_changes_and_a_stale_verification_writes_nothing,
);
