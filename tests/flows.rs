//! Session and signup flows through the local router (the same handlers Lambda runs), on
//! embedded dynoxide and on AWS DynamoDB Local.

use serde_json::{Value, json};
use shared::crypto::signature::{canonical_string, sign_sha1, sign_sha256};
use shared::domain::app::{App, AppSettings};
use testkit::{Answer, Env, Req, delete, get, on_both_engines, post};

const SESSION_MISSING: &str = r#"{"errors":{"base":["Required session does not exist"]}}"#;
const PASSWORD: &str = "correct-horse-battery";

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

fn body(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

async fn app_session(env: &Env, app: &App) -> String {
    let resp = call(env, post("/session.json").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    assert_eq!(resp.status, 201, "{}", body(&resp));
    resp.json()["session"]["token"].as_str().unwrap().to_string()
}

async fn signup(env: &Env, app: &App, user: Value) -> Answer {
    call(env, post("/users.json").header("CB-AuthKey", &app.auth_key).json(json!({ "user": user }))).await
}

async fn user_session(env: &Env, app: &App, credentials: Value) -> Answer {
    call(
        env,
        post("/session.json").json(json!({"application_id": app.id, "auth_key": app.auth_key, "user": credentials})),
    )
    .await
}

async fn app_session_signup_and_user_sessions_by_login_and_email(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let token = app_session(env, &app).await;
    let created = signup(
        env,
        &app,
        json!({"login": "john", "email": "John@Example.com", "password": PASSWORD, "tag_list": ["a", "b"]}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", body(&created));
    let user = created.json()["user"].clone();
    assert_eq!(user["login"], "john");
    assert_eq!(user["user_tags"], "a,b");
    assert_eq!(user["last_request_at"], Value::Null);
    assert!(user["id"].is_i64());
    assert!(!body(&created).contains("argon2") && !body(&created).contains(PASSWORD));

    for credentials in
        [json!({"login": "john", "password": PASSWORD}), json!({"email": "john@example.com", "password": PASSWORD})]
    {
        let resp = user_session(env, &app, credentials).await;
        assert_eq!(resp.status, 201, "{}", body(&resp));
        let session = &resp.json()["session"];
        assert_eq!(session["user_id"], user["id"]);
        assert_eq!(session["application_id"], json!(app.id));
        assert_eq!(session["user"]["login"], "john");
        assert!(session["user"]["last_request_at"].is_string());
        let token = session["token"].as_str().unwrap();
        assert_eq!(token.len(), 40);
        assert!(resp.header("CB-Token-ExpirationDate").unwrap().ends_with(" UTC"));
    }
    // The app session is still an app session: signup does not upgrade it.
    let resp = call(env, get("/session.json").token(&token)).await;
    assert_eq!(resp.json()["session"]["user_id"], Value::Null);
}

async fn wrong_password_is_401_and_unknown_user_is_404_when_auto_create_is_denied(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    assert_eq!(signup(env, &app, json!({"login": "mary", "password": PASSWORD})).await.status, 201);
    let wrong = user_session(env, &app, json!({"login": "mary", "password": "not-the-password"})).await;
    assert_eq!((wrong.status, body(&wrong).as_str()), (401, r#"{"errors":["Unauthorized"]}"#));
    let unknown = user_session(env, &app, json!({"login": "nobody", "password": PASSWORD})).await;
    assert_eq!((unknown.status, body(&unknown).as_str()), (404, r#"{"errors":["User not found"]}"#));
    // POST /login gives one identical 401 for both.
    let token = app_session(env, &app).await;
    let wrong =
        call(env, post("/login.json").token(&token).json(json!({"login": "mary", "password": "not-the-password"})))
            .await;
    let unknown =
        call(env, post("/login.json").token(&token).json(json!({"login": "nobody", "password": PASSWORD}))).await;
    assert_eq!((wrong.status, body(&wrong)), (unknown.status, body(&unknown)));
    assert_eq!(wrong.status, 401);
}

/// A password login writes the session while it verifies the password; a wrong password
/// must leave nothing of that behind: no session, no link, the user's activity unchanged.
async fn a_wrong_password_leaves_no_session_and_no_activity_behind(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let created = signup(env, &app, json!({"login": "vera", "password": PASSWORD})).await;
    let id = created.json()["user"]["id"].as_i64().unwrap();
    let right = user_session(env, &app, json!({"login": "vera", "password": PASSWORD})).await;
    assert_eq!(right.status, 201);
    let logged_in_at = env.store().get_user(id, env.clock().now()).await.unwrap().unwrap().last_request_at;
    assert!(logged_in_at.is_some(), "a login records activity");
    assert_eq!(env.store().user_session_hashes(id).await.unwrap().len(), 1);

    env.clock().advance(120);
    for i in 0..5 {
        let wrong = user_session(env, &app, json!({"login": "vera", "password": format!("wrong-{i}")})).await;
        assert_eq!((wrong.status, body(&wrong).as_str()), (401, r#"{"errors":["Unauthorized"]}"#));
    }
    let user = env.store().get_user(id, env.clock().now()).await.unwrap().unwrap();
    assert_eq!(user.last_request_at, logged_in_at, "failed attempts are not activity");
    assert_eq!(env.store().user_session_hashes(id).await.unwrap().len(), 1, "only the real session remains");

    let again = user_session(env, &app, json!({"login": "vera", "password": PASSWORD})).await;
    assert_eq!(again.status, 201);
    // The clock runs in real time (plus the offset), so compare with what the login reported
    // rather than with a later reading of the clock.
    let user = env.store().get_user(id, env.clock().now()).await.unwrap().unwrap();
    let reported = again.json()["session"]["user"]["last_request_at"].clone();
    assert!(user.last_request_at > logged_in_at, "a successful login records activity");
    assert_eq!(reported, json!(shared::clock::iso8601(user.last_request_at.unwrap())));
    assert_eq!(env.store().user_session_hashes(id).await.unwrap().len(), 2);
}

async fn bad_application_credentials_are_401(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let wrong_key = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": "nope"}))).await;
    assert_eq!((wrong_key.status, body(&wrong_key).as_str()), (401, r#"{"errors":["Unauthorized"]}"#));
    let unknown_app =
        call(env, post("/session").json(json!({"application_id": 999_999, "auth_key": app.auth_key}))).await;
    assert_eq!(unknown_app.status, 401);
    let missing = call(env, post("/session").json(json!({"auth_key": app.auth_key}))).await;
    assert_eq!(missing.status, 422);
}

async fn unknown_user_is_created_on_the_fly_when_the_app_allows_it(env: &Env) {
    let app = env.app(AppSettings { allow_session_without_user: true, ..AppSettings::default() }).await;
    let resp = user_session(env, &app, json!({"login": "fresh", "password": PASSWORD})).await;
    assert_eq!(resp.status, 201, "{}", body(&resp));
    let user_id = resp.json()["session"]["user_id"].clone();
    assert!(user_id.is_i64());
    // Next time the same credentials log into the same user; a wrong password does not.
    let again = user_session(env, &app, json!({"login": "fresh", "password": PASSWORD})).await;
    assert_eq!(again.json()["session"]["user_id"], user_id);
    assert_eq!(user_session(env, &app, json!({"login": "fresh", "password": "other-password-1"})).await.status, 401);
    // The signup password policy still applies.
    let weak = user_session(env, &app, json!({"login": "weakling", "password": "password"})).await;
    assert_eq!(weak.status, 422);
}

async fn guest_sessions_create_temporary_users_that_end_after_a_day(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let resp = user_session(env, &app, json!({"guest": "1", "full_name": "Guest Name "})).await;
    assert_eq!(resp.status, 201, "{}", body(&resp));
    let session = resp.json()["session"].clone();
    let user = &session["user"];
    assert!(user["login"].as_str().unwrap().starts_with("guest_login_"));
    assert!(user["login"].as_str().unwrap().len() >= "guest_login_".len() + 32);
    assert_eq!(user["is_guest"], true);
    assert_eq!(user["phone"], "");
    assert_eq!(user["full_name"], "Guest Name");
    let token = session["token"].as_str().unwrap().to_string();

    // Guests cannot log in with a password, even one they might guess.
    let login = user["login"].as_str().unwrap();
    assert_eq!(user_session(env, &app, json!({"login": login, "password": PASSWORD})).await.status, 401);

    // Active or not, a guest session ends one day after creation.
    env.clock().advance(23 * 3600);
    assert_eq!(call(env, get("/session").token(&token)).await.status, 200);
    env.clock().advance(3600);
    let ended = call(env, get("/session").token(&token)).await;
    assert_eq!((ended.status, body(&ended).as_str()), (401, SESSION_MISSING));
}

async fn sessions_slide_with_activity_and_stop_at_the_absolute_cap(env: &Env) {
    let app = env
        .app(AppSettings { session_ttl_secs: 7200, session_max_lifetime_secs: 5 * 3600, ..AppSettings::default() })
        .await;
    let token = app_session(env, &app).await;
    for _ in 0..2 {
        env.clock().advance(7000);
        let resp = call(env, get("/session.json").token(&token)).await;
        assert_eq!(resp.status, 200, "activity within the idle window keeps the session");
    }
    // 14000 s in: the hard cap (18000 s) is nearer than the idle window.
    env.clock().advance(3900);
    assert_eq!(call(env, get("/session.json").token(&token)).await.status, 200);
    env.clock().advance(200);
    let capped = call(env, get("/session.json").token(&token)).await;
    assert_eq!((capped.status, body(&capped).as_str()), (401, SESSION_MISSING));

    // Idle past the window: expired, although DynamoDB's TTL has not removed the item yet.
    let idle = app_session(env, &app).await;
    env.clock().advance(7201);
    let expired = call(env, get("/session.json").token(&idle)).await;
    assert_eq!((expired.status, body(&expired).as_str()), (401, SESSION_MISSING));
    let hash = shared::crypto::random::token_hash(&idle);
    assert!(env.store().get_session(&hash).await.unwrap().is_some(), "the item is still stored");
}

async fn activity_is_written_at_most_once_a_minute(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let token = app_session(env, &app).await;
    let hash = shared::crypto::random::token_hash(&token);
    let created = env.store().get_session(&hash).await.unwrap().unwrap().last_active;
    env.clock().advance(30);
    call(env, get("/session").token(&token)).await;
    assert_eq!(env.store().get_session(&hash).await.unwrap().unwrap().last_active, created);
    env.clock().advance(31);
    let resp = call(env, get("/session").token(&token)).await;
    let refreshed = env.store().get_session(&hash).await.unwrap().unwrap().last_active;
    assert!(
        (created + 61..created + 66).contains(&refreshed),
        "written at the request after a minute: {created} → {refreshed}"
    );
    assert_eq!(
        resp.header("CB-Token-ExpirationDate").unwrap(),
        shared::clock::expiration_header(refreshed + app.settings.session_ttl_secs)
    );
}

async fn destroyed_unknown_missing_and_empty_tokens_get_the_exact_401(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let token = app_session(env, &app).await;
    let destroyed = call(env, delete("/session.json").token(&token)).await;
    assert_eq!((destroyed.status, destroyed.body.len()), (200, 0));
    for req in [
        get("/session.json").token(&token),
        get("/session.json").token("0000000000000000000000000000000000000000"),
        get("/session.json"),
        get("/session.json").token(""),
        delete("/session.json").token(&token),
        delete("/login.json"),
    ] {
        let resp = call(env, req).await;
        assert_eq!((resp.status, body(&resp).as_str()), (401, SESSION_MISSING));
    }
}

/// A new session of `login` (password `PASSWORD`): its token and id.
async fn session_of(env: &Env, app: &App, login: &str) -> (String, i64) {
    let session = user_session(env, app, json!({"login": login, "password": PASSWORD})).await.json()["session"].clone();
    (session["token"].as_str().unwrap().to_string(), session["id"].as_i64().unwrap())
}

/// The Flutter SDK's session routes: one of the user's own sessions by id, and all but the
/// current one. Another user's session is a 404, whatever the id.
async fn one_session_by_id_or_all_but_the_current_one_end(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    for login in ["device_owner", "stranger"] {
        let created = signup(env, &app, json!({"login": login, "password": PASSWORD})).await;
        assert_eq!(created.status, 201, "{}", body(&created));
    }
    let (phone, _) = session_of(env, &app, "device_owner").await;
    let (laptop, laptop_id) = session_of(env, &app, "device_owner").await;
    let (tablet, _) = session_of(env, &app, "device_owner").await;
    let (stranger, stranger_id) = session_of(env, &app, "stranger").await;

    let foreign = call(env, delete(&format!("/session/{stranger_id}.json")).token(&phone)).await;
    assert_eq!(foreign.status, 404, "{}", body(&foreign));
    for garbage in ["0", "-1", "abc", "99999999999999999999"] {
        let resp = call(env, delete(&format!("/session/{garbage}")).token(&phone)).await;
        assert_eq!(resp.status, 404, "{garbage}: {}", body(&resp));
    }
    let ended = call(env, delete(&format!("/session/{laptop_id}.json")).token(&phone)).await;
    assert_eq!((ended.status, ended.body.len()), (200, 0), "{}", body(&ended));
    assert!(ended.header("CB-Token-ExpirationDate").is_some(), "the caller's session goes on, and says until when");
    assert_eq!(call(env, get("/session.json").token(&laptop)).await.status, 401, "the laptop is signed out");
    let again = call(env, delete(&format!("/session/{laptop_id}.json")).token(&phone)).await;
    assert_eq!(again.status, 404, "an ended session is gone");

    let others = call(env, delete("/session/list.json").token(&phone)).await;
    assert_eq!(others.status, 200, "{}", body(&others));
    assert!(others.header("CB-Token-ExpirationDate").is_some(), "the caller's session goes on");
    assert_eq!(call(env, get("/session.json").token(&tablet)).await.status, 401, "every other session ends");
    assert_eq!(call(env, get("/session.json").token(&phone)).await.status, 200, "the current one stays");
    assert_eq!(call(env, get("/session.json").token(&stranger)).await.status, 200, "other users' stay");
    let app_token = app_session(env, &app).await;
    assert_eq!(call(env, delete("/session/list").token(&app_token)).await.status, 403, "needs a user");
}

async fn login_and_logout_on_an_application_session(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let created =
        signup(env, &app, json!({"email": "kate@example.com", "password": PASSWORD, "full_name": "Kate"})).await;
    let user_id = created.json()["user"]["id"].clone();
    let token = app_session(env, &app).await;

    let login =
        call(env, post("/login.json").token(&token).json(json!({"email": "kate@example.com", "password": PASSWORD})))
            .await;
    assert_eq!(login.status, 200, "{}", body(&login));
    assert_eq!(login.json()["user"]["id"], user_id);
    assert!(login.header("CB-Token-ExpirationDate").is_some());
    let session = call(env, get("/session").token(&token)).await.json();
    assert_eq!(session["session"]["user_id"], user_id);
    assert_eq!(session["session"]["user"]["full_name"], "Kate");
    assert_eq!(session["session"]["token"], json!(token));

    let logout = call(env, delete("/login.json").token(&token)).await;
    assert_eq!((logout.status, logout.body.len()), (200, 0));
    let session = call(env, get("/session").token(&token)).await.json();
    assert_eq!(session["session"]["user_id"], Value::Null);
    assert!(session["session"].get("user").is_none());
}

async fn create_session_ignores_a_stale_cb_token(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let resp = call(
        env,
        post("/session.json")
            .token("ffffffffffffffffffffffffffffffffffffffff")
            .json(json!({"application_id": app.id, "auth_key": app.auth_key})),
    )
    .await;
    assert_eq!(resp.status, 201);
}

fn signed_body(app: &App, mut body: Value, timestamp: i64, nonce: Value) -> Value {
    body["application_id"] = json!(app.id);
    body["auth_key"] = json!(app.auth_key);
    body["timestamp"] = json!(timestamp);
    body["nonce"] = nonce;
    let message = canonical_string(body.as_object().unwrap());
    body["signature"] = json!(sign_sha1(&app.auth_secret, &message));
    body
}

async fn signed_requests_of_the_older_sdks_are_accepted(env: &Env) {
    let app = env.app(AppSettings { require_signature: true, ..AppSettings::default() }).await;
    assert_eq!(signup(env, &app, json!({"login": "signed_user", "password": PASSWORD})).await.status, 201);
    let now = env.clock().now();

    // JS SDK 3: numbers, JSON.
    let js3 = signed_body(&app, json!({"user": {"login": "signed_user", "password": PASSWORD}}), now, json!(931));
    let resp = call(env, post("/session.json").json(js3)).await;
    assert_eq!(resp.status, 201, "{}", body(&resp));
    assert_eq!(resp.json()["session"]["nonce"], json!(931));
    assert_eq!(resp.json()["session"]["ts"], json!(now));

    // Flutter: every scalar a string, empty CB-Token, no .json suffix.
    let mut flutter = json!({"application_id": app.id.to_string(), "auth_key": app.auth_key,
        "timestamp": now.to_string(), "nonce": "2186220645", "user": {"login": "signed_user", "password": PASSWORD}});
    let message = canonical_string(flutter.as_object().unwrap());
    flutter["signature"] = json!(sign_sha1(&app.auth_secret, &message));
    let resp = call(env, post("/session").token("").json(flutter)).await;
    assert_eq!(resp.status, 201, "{}", body(&resp));

    // iOS: a form-encoded body with bracket keys, and HMAC-SHA256.
    let pairs = [
        ("application_id", app.id.to_string()),
        ("auth_key", app.auth_key.clone()),
        ("nonce", "77".to_string()),
        ("timestamp", now.to_string()),
        ("user[login]", "signed_user".to_string()),
        ("user[password]", PASSWORD.to_string()),
    ];
    let mut message_pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    message_pairs.sort();
    let signature = sign_sha256(&app.auth_secret, &message_pairs.join("&"));
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", k.replace('[', "%5B").replace(']', "%5D"), v.replace(' ', "+")))
        .collect();
    let form = format!("{}&signature={signature}", encoded.join("&"));
    let resp = call(env, post("/session.json").form(&form)).await;
    assert_eq!(resp.status, 201, "{}", body(&resp));
}

async fn bad_stale_replayed_and_missing_signatures_are_422(env: &Env) {
    let app = env.app(AppSettings { require_signature: true, ..AppSettings::default() }).await;
    let now = env.clock().now();

    let mut tampered = signed_body(&app, json!({}), now, json!(1));
    tampered["signature"] = json!("0".repeat(40));
    let resp = call(env, post("/session").json(tampered)).await;
    assert_eq!((resp.status, body(&resp).as_str()), (422, r#"{"errors":{"base":["Unexpected signature"]}}"#));

    let stale = signed_body(&app, json!({}), now - 3601, json!(2));
    let resp = call(env, post("/session").json(stale)).await;
    assert_eq!((resp.status, body(&resp).as_str()), (422, r#"{"errors":{"base":["Timestamp is out of range"]}}"#));

    let fresh = signed_body(&app, json!({}), now, json!(3));
    assert_eq!(call(env, post("/session").json(fresh.clone())).await.status, 201);
    let replay = call(env, post("/session").json(fresh)).await;
    assert_eq!(
        (replay.status, body(&replay).as_str()),
        (422, r#"{"errors":{"base":["Nonce has already been used"]}}"#)
    );

    let unsigned = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    assert_eq!(unsigned.status, 422);
    assert!(body(&unsigned).contains("Signature is required"));
}

async fn signup_accepts_auth_key_or_any_session_and_refuses_neither(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let token = app_session(env, &app).await;
    let with_token =
        call(env, post("/users").token(&token).json(json!({"user": {"login": "via_token", "password": PASSWORD}})))
            .await;
    assert_eq!(with_token.status, 201);
    assert!(with_token.header("CB-Token-ExpirationDate").is_some());
    let session = user_session(env, &app, json!({"login": "via_token", "password": PASSWORD})).await;
    let user_token = session.json()["session"]["token"].as_str().unwrap().to_string();
    let with_user_token =
        call(env, post("/users").token(&user_token).json(json!({"user": {"login": "via_user", "password": PASSWORD}})))
            .await;
    assert_eq!(with_user_token.status, 201);

    let bad_key = call(
        env,
        post("/users").header("CB-AuthKey", "nope").json(json!({"user": {"login": "x1x", "password": PASSWORD}})),
    )
    .await;
    assert_eq!((bad_key.status, body(&bad_key).as_str()), (401, r#"{"errors":["Unauthorized"]}"#));
    let neither = call(env, post("/users").json(json!({"user": {"login": "x2x", "password": PASSWORD}}))).await;
    assert_eq!((neither.status, body(&neither).as_str()), (401, SESSION_MISSING));
}

async fn signup_validation_gives_422_field_errors_and_writes_nothing(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let cases = [
        (json!({"password": PASSWORD}), "login or email is required"),
        (json!({"login": "ab", "password": PASSWORD}), "is too short (minimum is 3 characters)"),
        (json!({"login": "okay_login", "password": "short"}), "is too short (minimum is 8 characters)"),
        (json!({"login": "okay_login", "password": "qwertyuiop"}), "is too common"),
        (json!({"login": "okay_login"}), "can't be blank"),
        (json!({"email": "not-an-email", "password": PASSWORD}), "is invalid"),
    ];
    for (user, message) in cases {
        let resp = signup(env, &app, user.clone()).await;
        assert_eq!(resp.status, 422, "{user}");
        assert!(body(&resp).contains(message), "{user}: {}", body(&resp));
    }
    // None of those left a user behind: the login is still free.
    assert_eq!(signup(env, &app, json!({"login": "okay_login", "password": PASSWORD})).await.status, 201);
    let taken =
        signup(env, &app, json!({"login": "OKAY_login", "email": "new@example.com", "password": PASSWORD})).await;
    assert_eq!((taken.status, body(&taken).as_str()), (422, r#"{"errors":{"login":["has already been taken"]}}"#));
    // The failed signup did not claim its email either.
    assert_eq!(
        signup(env, &app, json!({"login": "other", "email": "new@example.com", "password": PASSWORD})).await.status,
        201
    );
}

async fn malformed_bodies_are_400_in_the_error_shape(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let resp = call(
        env,
        post("/users.json")
            .header("CB-AuthKey", &app.auth_key)
            .header("Content-Type", "application/json")
            .raw_body(b"{\"user\":"),
    )
    .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["errors"]["base"][0], "Malformed JSON body");
    let resp = call(env, post("/session.json").form("a=1&a[b]=2")).await;
    assert_eq!(resp.status, 400);
}

async fn cors_preflight_and_headers(env: &Env) {
    let resp = call(env, Req::new("OPTIONS", "/users/v2.json")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("Access-Control-Allow-Headers").unwrap().contains("CB-Token"));
    let resp = call(env, get("/session")).await;
    assert_eq!(resp.header("Access-Control-Expose-Headers"), Some("CB-Token-ExpirationDate, Date"));
    assert_eq!(call(env, get("/nowhere.json")).await.status, 404);
}

on_both_engines!(
    app_session_signup_and_user_sessions_by_login_and_email,
    one_session_by_id_or_all_but_the_current_one_end,
    wrong_password_is_401_and_unknown_user_is_404_when_auto_create_is_denied,
    a_wrong_password_leaves_no_session_and_no_activity_behind,
    bad_application_credentials_are_401,
    unknown_user_is_created_on_the_fly_when_the_app_allows_it,
    guest_sessions_create_temporary_users_that_end_after_a_day,
    sessions_slide_with_activity_and_stop_at_the_absolute_cap,
    activity_is_written_at_most_once_a_minute,
    destroyed_unknown_missing_and_empty_tokens_get_the_exact_401,
    login_and_logout_on_an_application_session,
    create_session_ignores_a_stale_cb_token,
    signed_requests_of_the_older_sdks_are_accepted,
    bad_stale_replayed_and_missing_signatures_are_422,
    signup_accepts_auth_key_or_any_session_and_refuses_neither,
    signup_validation_gives_422_field_errors_and_writes_nothing,
    malformed_bodies_are_400_in_the_error_shape,
    cors_preflight_and_headers,
);
