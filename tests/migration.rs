//! Moving a live application from another ConnectyCube service, on both engines: an
//! application keeps its credentials; users come over by import (ids, fields and markers
//! kept, idempotent) and their passwords lazily, on their first login, checked by the old
//! service (played on loopback: it checks the application's signature as ConnectyCube does).
//! After a user is moved, the old service is never asked about them again; a refusal there
//! is a failed login here; an old service that is down, slow or talks nonsense writes nothing
//! and costs no place in the login limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use shared::crypto::signature::verify_message;
use shared::deps::Deps;
use shared::domain::app::{App, AppSettings};
use shared::domain::export::user_from_export;
use shared::domain::limits::{AbuseLimits, Rate};
use shared::store::import::Imported;
use shared::store::item::ItemExt;
use testkit::stub::{Seen, reply, serve};
use testkit::{Answer, Env, Req, on_both_engines, post};

const OLD_APP_ID: i64 = 4242;
const OLD_AUTH_KEY: &str = "old-auth-key-4242";
const OLD_SECRET: &str = "old-auth-secret-4242";

type Reply = hyper::Response<http_body_util::Full<hyper::body::Bytes>>;

fn json_reply(status: u16, body: Value) -> Reply {
    reply(status, &body.to_string(), &[("Content-Type", "application/json")])
}

/// The old service's users: (login, email, password, id).
const OLD_USERS: &[(&str, &str, &str, i64)] = &[
    ("marta", "marta@example.com", "marta-password-1", 7_000_001),
    ("imported", "imported@example.com", "imported-password-1", 7_000_002),
    ("liar", "liar@example.com", "liar-password-1", 7_000_003),
];

/// The old service, counting the logins it is asked. Its `POST /session.json` wants the
/// application's credentials, signed; `POST /login.json` the session's token. Logins named
/// `slow`, `boom` and `garbage` stall, fail and talk nonsense.
fn old_service(
    asked: Arc<AtomicUsize>,
) -> impl Fn(Seen) -> std::pin::Pin<Box<dyn Future<Output = Reply> + Send>> + Clone {
    move |seen: Seen| {
        let asked = asked.clone();
        Box::pin(async move {
            let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
            match seen.path() {
                "/session.json" => {
                    let signed = format!(
                        "application_id={}&auth_key={}&nonce={}&timestamp={}",
                        body["application_id"],
                        body["auth_key"].as_str().unwrap_or_default(),
                        body["nonce"],
                        body["timestamp"]
                    );
                    let signature = body["signature"].as_str().unwrap_or_default();
                    if body["application_id"] != OLD_APP_ID || !verify_message(OLD_SECRET, &signed, signature) {
                        return json_reply(422, json!({"errors": ["Unexpected signature"]}));
                    }
                    json_reply(
                        201,
                        json!({"session": {"token": "old-app-session-token", "application_id": OLD_APP_ID}}),
                    )
                }
                "/login.json" => {
                    asked.fetch_add(1, Ordering::SeqCst);
                    if seen.header("CB-Token") != Some("old-app-session-token") || body.get("password").is_none() {
                        return json_reply(401, json!({"errors": ["Unauthorized"]}));
                    }
                    let name = body["login"].as_str().or(body["email"].as_str()).unwrap_or_default();
                    match name {
                        "slow" => {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            return json_reply(401, json!({}));
                        }
                        "boom" => return reply(500, "internal error", &[]),
                        "garbage" => return reply(200, "<html>maintenance</html>", &[]),
                        _ => {}
                    }
                    let found = OLD_USERS.iter().find(|(login, email, password, _)| {
                        (name == *login || name == *email) && body["password"] == *password
                    });
                    match found {
                        // The liar answers for someone else.
                        Some(("liar", ..)) => {
                            json_reply(202, json!({"user": old_user("marta", "marta@example.com", 7_000_001)}))
                        }
                        Some((login, email, _, id)) => json_reply(202, json!({"user": old_user(login, email, *id)})),
                        None => json_reply(401, json!({"errors": ["Unauthorized"]})),
                    }
                }
                _ => json_reply(404, json!({"errors": ["not found"]})),
            }
        })
    }
}

fn old_user(login: &str, email: &str, id: i64) -> Value {
    json!({"id": id, "login": login, "email": email, "full_name": format!("{login} from before"),
           "created_at": "2020-02-03T04:05:06Z", "updated_at": "2021-02-03T04:05:06Z", "user_tags": "moved,vip",
           "custom_data": "{\"plan\":\"gold\"}", "external_user_id": id + 1})
}

struct Moving {
    deps: Deps,
    app: App,
    asked: Arc<AtomicUsize>,
}

/// An application with the old service's credentials, moving from a played old service
/// (one-second timeout).
async fn moving(env: &Env, limits: AbuseLimits) -> Moving {
    let asked = Arc::new(AtomicUsize::new(0));
    let origin = serve(old_service(asked.clone())).await;
    let deps = env.deps_with_social("http://127.0.0.1:9", "http://127.0.0.1:9", Duration::from_secs(1));
    let settings = AppSettings { migrate_from: Some(origin), limits, ..AppSettings::default() };
    let now = deps.clock.now();
    let app = App::with_credentials(OLD_APP_ID, "moved".into(), OLD_AUTH_KEY, OLD_SECRET, settings, now).unwrap();
    deps.store.insert_kept_app(&app, now).await.expect("a kept application");
    Moving { deps, app, asked }
}

async fn call(deps: &Deps, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(deps, req.build()).await)
}

fn text(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

fn login_session(app: &App, name: (&str, &str), password: &str) -> Req {
    post("/session.json").json(json!({"application_id": app.id, "auth_key": app.auth_key,
        "user": {name.0: name.1, "password": password}}))
}

async fn a_user_moves_on_their_first_login_and_the_old_service_is_never_asked_again(env: &Env) {
    let m = moving(env, AbuseLimits::default()).await;
    let first = call(&m.deps, login_session(&m.app, ("login", "marta"), "marta-password-1")).await;
    assert_eq!(first.status, 201, "{}", text(&first));
    let user = &first.json()["session"]["user"];
    assert_eq!(user["id"], 7_000_001, "the old service's id is kept");
    assert_eq!(
        (user["full_name"].as_str(), user["user_tags"].as_str()),
        (Some("marta from before"), Some("moved,vip"))
    );
    assert_eq!(user["created_at"], "2020-02-03T04:05:06Z");
    assert_eq!(m.asked.load(Ordering::SeqCst), 1);
    let stored = env.user_items().await;
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].str("password_hash").is_some_and(|h| h.starts_with("$argon2id$")),
        "the verified password is kept, hashed"
    );

    // From now on the password is checked here, by login or by email; the old service hears nothing.
    let again = call(&m.deps, login_session(&m.app, ("email", "MARTA@example.com"), "marta-password-1")).await;
    assert_eq!(again.status, 201, "{}", text(&again));
    let wrong = call(&m.deps, login_session(&m.app, ("login", "marta"), "not-her-password")).await;
    assert_eq!(wrong.status, 401, "{}", text(&wrong));
    assert_eq!(m.asked.load(Ordering::SeqCst), 1, "a moved user is never asked about again");
    // Found by the fields it came with.
    let token = again.json()["session"]["token"].as_str().unwrap().to_string();
    let found = call(&m.deps, testkit::get("/users/by_login.json?login=marta").token(&token)).await;
    assert_eq!(found.json()["user"]["external_user_id"], 7_000_002, "{}", text(&found));

    // New users here are never handed a moved user's id.
    let signup = post("/users.json")
        .header("CB-AuthKey", OLD_AUTH_KEY)
        .json(json!({"user": {"login": "newcomer", "password": "newcomer-password-1"}}));
    let created = call(&m.deps, signup).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    assert!(created.json()["user"]["id"].as_i64().unwrap() > 7_000_001);
}

async fn an_imported_user_gets_their_password_on_first_login_through_an_app_session(env: &Env) {
    let m = moving(env, AbuseLimits::default()).await;
    let now = m.deps.clock.now();
    let exported = old_user("imported", "imported@example.com", 7_000_002);
    let user = user_from_export(&exported, m.app.id, now).unwrap();
    assert_eq!(m.deps.store.import_user(&user, now).await.unwrap(), Imported::Written);
    assert_eq!(m.deps.store.import_user(&user, now).await.unwrap(), Imported::Unchanged, "idempotent");

    let app_session =
        call(&m.deps, post("/session").json(json!({"application_id": m.app.id, "auth_key": OLD_AUTH_KEY}))).await;
    let token = app_session.json()["session"]["token"].as_str().unwrap().to_string();
    let bad = call(
        &m.deps,
        post("/login.json").token(&token).json(json!({"login": "imported", "password": "a-wrong-password"})),
    )
    .await;
    assert_eq!(bad.status, 401, "{}", text(&bad));
    let bound = call(
        &m.deps,
        post("/login.json").token(&token).json(json!({"login": "imported", "password": "imported-password-1"})),
    )
    .await;
    assert_eq!(bound.status, 200, "{}", text(&bound));
    assert_eq!(bound.json()["user"]["id"], 7_000_002);
    let stored = env.user_items().await;
    assert_eq!(stored.len(), 1, "completed, not created again");
    assert!(stored[0].str("password_hash").is_some() && !stored[0].flag("awaiting_password"));
    assert_eq!(m.asked.load(Ordering::SeqCst), 2);
    let later = call(&m.deps, login_session(&m.app, ("login", "imported"), "imported-password-1")).await;
    assert_eq!(later.status, 201, "{}", text(&later));
    assert_eq!(m.asked.load(Ordering::SeqCst), 2);
}

async fn refusals_count_against_the_limits_before_the_old_service_is_asked(env: &Env) {
    let limits = AbuseLimits { login_failures_per_account_ip: Rate::new(3, 900), ..AbuseLimits::default() };
    let m = moving(env, limits).await;
    for attempt in 0..3 {
        let refused =
            call(&m.deps, login_session(&m.app, ("login", "marta"), &format!("guess-number-{attempt}"))).await;
        assert_eq!(refused.status, 404, "unknown on both sides: {}", text(&refused));
    }
    let throttled = call(&m.deps, login_session(&m.app, ("login", "marta"), "marta-password-1")).await;
    assert_eq!(throttled.status, 429, "{}", text(&throttled));
    assert_eq!(m.asked.load(Ordering::SeqCst), 3, "the throttled attempt never reached the old service");
    assert!(env.user_items().await.is_empty());
}

async fn an_old_service_down_slow_or_talking_nonsense_writes_nothing_and_costs_no_place(env: &Env) {
    let limits = AbuseLimits { login_failures_per_account_ip: Rate::new(2, 900), ..AbuseLimits::default() };
    let m = moving(env, limits).await;
    for name in ["slow", "boom", "garbage", "boom", "garbage"] {
        let failed = call(&m.deps, login_session(&m.app, ("login", name), "any-password-1")).await;
        assert_eq!(failed.status, 422, "{name}: {}", text(&failed));
        assert!(text(&failed).contains("moving from"), "{name}: {}", text(&failed));
        assert!(!text(&failed).contains("any-password-1"));
    }
    // The old service answering for someone else is not a yes.
    let lie = call(&m.deps, login_session(&m.app, ("login", "liar"), "liar-password-1")).await;
    assert_eq!(lie.status, 422, "{}", text(&lie));
    assert!(env.user_items().await.is_empty(), "nothing written");

    // Down altogether.
    let mut gone = m.app.clone();
    gone.settings.migrate_from = Some("http://127.0.0.1:9".into());
    m.deps.store.update_app(&gone, m.deps.clock.now()).await.unwrap();
    let deps = env.deps_with_social("http://127.0.0.1:9", "http://127.0.0.1:9", Duration::from_secs(1));
    let down = call(&deps, login_session(&gone, ("login", "marta"), "marta-password-1")).await;
    assert_eq!(down.status, 422, "{}", text(&down));
    assert!(text(&down).contains("could not be reached"), "{}", text(&down));
}

async fn wrong_credentials_at_the_old_service_and_turning_migration_off(env: &Env) {
    let m = moving(env, AbuseLimits::default()).await;
    // Credentials the old service does not accept (a mistyped secret here).
    let mut mistyped = m.app.clone();
    mistyped.auth_secret = "not-the-secret".into();
    m.deps.store.update_app(&mistyped, m.deps.clock.now()).await.unwrap();
    let deps = env.deps_with_social("http://127.0.0.1:9", "http://127.0.0.1:9", Duration::from_secs(1));
    let refused = call(&deps, login_session(&mistyped, ("login", "marta"), "marta-password-1")).await;
    assert_eq!(refused.status, 422, "{}", text(&refused));
    assert!(text(&refused).contains("refused its credentials"), "{}", text(&refused));

    let mut off = m.app.clone();
    off.settings.migrate_from = None;
    m.deps.store.update_app(&off, m.deps.clock.now()).await.unwrap();
    let deps = env.deps_with_social("http://127.0.0.1:9", "http://127.0.0.1:9", Duration::from_secs(1));
    let unknown = call(&deps, login_session(&off, ("login", "marta"), "marta-password-1")).await;
    assert_eq!(unknown.status, 404, "{}", text(&unknown));
    assert_eq!(m.asked.load(Ordering::SeqCst), 0);
    assert!(env.user_items().await.is_empty());
}

async fn a_refusal_never_creates_the_user_even_where_sessions_may_create_users(env: &Env) {
    let limits = AbuseLimits { login_failures_per_account_ip: Rate::new(2, 900), ..AbuseLimits::default() };
    let mut m = moving(env, limits).await;
    m.app.settings.allow_session_without_user = true;
    m.deps.store.update_app(&m.app, m.deps.clock.now()).await.unwrap();
    let deps = env.deps_with_social("http://127.0.0.1:9", "http://127.0.0.1:9", Duration::from_secs(1));
    for guess in ["squat-password-1", "squat-password-2"] {
        let refused = call(&deps, login_session(&m.app, ("login", "marta"), guess)).await;
        assert_eq!(refused.status, 404, "{}", text(&refused));
    }
    let throttled = call(&deps, login_session(&m.app, ("login", "marta"), "squat-password-3")).await;
    assert_eq!(throttled.status, 429, "guesses count against the login limits: {}", text(&throttled));
    assert!(env.user_items().await.is_empty(), "a not-yet-moved user's name is never squatted");
}

async fn a_signup_drawing_the_id_of_a_moved_user_draws_again(env: &Env) {
    let m = moving(env, AbuseLimits::default()).await;
    let signup = |login: &str| {
        post("/users.json")
            .header("CB-AuthKey", OLD_AUTH_KEY)
            .json(json!({"user": {"login": login, "password": format!("{login}-password-1")}}))
    };
    let first = call(&m.deps, signup("first")).await;
    assert_eq!(first.status, 201, "{}", text(&first));
    let next = first.json()["user"]["id"].as_i64().unwrap() + 1;
    // A user moved in with the very id this instance would hand out next.
    let now = m.deps.clock.now();
    let moved = user_from_export(&old_user("mover", "mover@example.com", next), m.app.id, now).unwrap();
    assert_eq!(m.deps.store.import_user(&moved, now).await.unwrap(), Imported::Written);
    let second = call(&m.deps, signup("second")).await;
    assert_eq!(second.status, 201, "{}", text(&second));
    assert!(second.json()["user"]["id"].as_i64().unwrap() > next, "{}", text(&second));
    assert_eq!(env.user_items().await.len(), 3);
}

/// Tags of the import test's users.
const TAGS: &[&str] = &["red", "blue", "green", "vip", "beta"];

/// User `i` of the import test's export, as ConnectyCube's V2 shows users.
fn exported_user(i: i64) -> Value {
    let tags: Vec<&str> = (0..(i % 3)).map(|k| TAGS[((i + k * 2) % 5) as usize]).collect();
    let names = ["Maria", "Mark", "Olga", "Akira", "Peter"];
    json!({"id": 5_000_000 + i * 3, "created_at": "2019-06-01T10:00:00Z", "updated_at": "2020-06-01T10:00:00Z",
        "login": format!("imp{i}"), "full_name": format!("{} Import {i}", names[(i % 5) as usize]),
        "last_request_at": null, "timezone": null, "email": format!("imp{i}@example.com"),
        "phone": format!("+1555{i:07}"), "website": null, "twitter_id": null, "external_user_id": 900_000 + i,
        "facebook_id": null, "custom_data": format!("{{\"n\":{i}}}"),
        "user_tags": if tags.is_empty() { Value::Null } else { json!(tags.join(",")) },
        "avatar": null, "blob_id": null, "external_id": null, "is_guest": null})
}

/// Every id a V2 query returns over all its pages.
async fn v2_ids(deps: &Deps, token: &str, query: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    loop {
        let path = format!("/users/v2.json?{query}&limit=100&offset={}", ids.len());
        let page = call(deps, testkit::get(&path).token(token)).await;
        assert_eq!(page.status, 200, "{query}: {}", text(&page));
        let items: Vec<i64> =
            page.json()["items"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
        if items.is_empty() {
            return ids;
        }
        ids.extend(items);
    }
}

async fn an_import_of_2000_users_reports_is_idempotent_searchable_and_round_trips(env: &Env) {
    const COUNT: i64 = 2000;
    let app = env.app(AppSettings::default()).await;
    let mut lines: Vec<Value> = (0..COUNT).map(exported_user).collect();
    // The same user twice (an export taken over overlapping pages): already here.
    lines.extend((0..20).map(|i| exported_user(i * 7)));
    // Another user with a login already taken: rejected, nothing of it written.
    lines.extend((0..10).map(|i| {
        let mut clash = exported_user(i);
        clash["id"] = json!(6_000_000 + i);
        clash["email"] = json!(format!("other{i}@example.com"));
        clash["external_user_id"] = json!(null);
        clash
    }));
    lines.push(json!({"id": 6_100_000, "login": "bademail", "email": "not-an-email"}));
    lines.push(json!({"login": "noid"}));
    lines.push(json!({"id": 6_100_001, "login": "guest_1", "is_guest": true}));
    lines.push(json!({"__unparsed": "expected value at line 1 column 1"}));
    lines.push(json!({"id": 6_100_002, "full_name": "Nameless"}));

    let report = cube_auth::users::import(&env.deps, app.id, lines.clone()).await.unwrap();
    assert_eq!((report.written, report.unchanged), (COUNT as usize, 20), "{report}");
    let reasons: Vec<&str> = report.rejected.iter().map(|(_, _, reason)| reason.as_str()).collect();
    assert_eq!(reasons.len(), 15, "{report}");
    assert_eq!(
        reasons.iter().filter(|r| r.contains("login, email") || r.contains("login already taken")).count(),
        10,
        "{report}"
    );
    for expected in ["email", "id must be", "guest", "not JSON", "neither login nor email"] {
        assert!(reasons.iter().any(|r| r.contains(expected)), "{expected}: {report}");
    }
    let items = env.all_items().await;
    let stored = items.iter().filter(|item| item.str("sk").as_deref() == Some("#USER")).count();
    assert_eq!(stored, COUNT as usize, "no rejected user was written, even in part");
    let clashing = items
        .iter()
        .filter(|item| {
            item.str("email").is_some_and(|e| e.starts_with("other"))
                || item.str("pk").is_some_and(|pk| pk.contains("#other"))
        })
        .count();
    assert_eq!(clashing, 0, "nothing of a rejected user, not even a marker of its free email");

    let again = cube_auth::users::import(&env.deps, app.id, lines).await.unwrap();
    assert_eq!((again.written, again.unchanged, again.rejected.len()), (0, COUNT as usize + 20, 15), "{again}");

    // V2 over the imported users equals a brute-force filter over the export.
    let app_session =
        call(&env.deps, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    let token = app_session.json()["session"]["token"].as_str().unwrap().to_string();
    let all: Vec<Value> = (0..COUNT).map(exported_user).collect();
    let brute = |keep: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        let mut ids: Vec<i64> = all.iter().filter(|u| keep(u)).map(|u| u["id"].as_i64().unwrap()).collect();
        ids.sort_unstable();
        ids
    };
    let has_tag = |u: &Value, tag: &str| u["user_tags"].as_str().is_some_and(|t| t.split(',').any(|x| x == tag));
    for tag in TAGS {
        assert_eq!(v2_ids(&env.deps, &token, &format!("user_tags={tag}")).await, brute(&|u| has_tag(u, tag)), "{tag}");
    }
    let picked: Vec<i64> = (0..COUNT).step_by(97).map(|i| 5_000_000 + i * 3).collect();
    let query = picked.iter().map(|id| format!("id[in][]={id}")).collect::<Vec<_>>().join("&");
    assert_eq!(v2_ids(&env.deps, &token, &query).await, brute(&|u| picked.contains(&u["id"].as_i64().unwrap())));
    assert_eq!(v2_ids(&env.deps, &token, "login=IMP1234").await, brute(&|u| u["login"] == "imp1234"));
    assert_eq!(
        v2_ids(&env.deps, &token, "email=imp77@example.com").await,
        brute(&|u| u["email"] == "imp77@example.com")
    );
    let prefix = v2_ids(&env.deps, &token, "full_name[start_with]=olga%20import%2012").await;
    assert_eq!(prefix, brute(&|u| u["full_name"].as_str().unwrap().to_lowercase().starts_with("olga import 12")));

    // Export, import into an empty table, export again: the same bytes.
    let mut first = Vec::new();
    assert_eq!(cube_auth::users::export(&env.deps, app.id, &mut first).await.unwrap(), COUNT as usize);
    let empty = match env.kind {
        testkit::EngineKind::Dynoxide => Env::dynoxide().await,
        testkit::EngineKind::DynamoDbLocal => Env::dynamodb_local().await.expect("DynamoDB Local"),
    };
    let target = empty.app(AppSettings::default()).await;
    let values = shared::domain::export::split_export(&String::from_utf8(first.clone()).unwrap()).unwrap();
    let restored = cube_auth::users::import(&empty.deps, target.id, values).await.unwrap();
    assert_eq!((restored.written, restored.rejected.len()), (COUNT as usize, 0), "{restored}");
    let mut second = Vec::new();
    cube_auth::users::export(&empty.deps, target.id, &mut second).await.unwrap();
    assert!(first == second, "export → import → export is byte-equal");
    empty.drop_table().await;
    env.drop_table().await;
}

on_both_engines!(
    a_refusal_never_creates_the_user_even_where_sessions_may_create_users,
    a_signup_drawing_the_id_of_a_moved_user_draws_again,
    a_user_moves_on_their_first_login_and_the_old_service_is_never_asked_again,
    an_imported_user_gets_their_password_on_first_login_through_an_app_session,
    refusals_count_against_the_limits_before_the_old_service_is_asked,
    an_old_service_down_slow_or_talking_nonsense_writes_nothing_and_costs_no_place,
    wrong_credentials_at_the_old_service_and_turning_migration_off,
    an_import_of_2000_users_reports_is_idempotent_searchable_and_round_trips
);
