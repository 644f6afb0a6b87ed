//! Facebook and Twitter sign-in end to end, on both engines, against a Graph API and a
//! Twitter API played on loopback: a token of this application's own app signs in and
//! creates one user; another app's token, an expired or invalid one, a network that errs,
//! stalls or talks nonsense are each a 422 naming the cause, and create nothing; refusals
//! count against the login limits.

use std::time::Duration;

use serde_json::{Value, json};
use shared::deps::Deps;
use shared::domain::app::{App, AppSettings};
use shared::domain::limits::AbuseLimits;
use shared::domain::social::{FacebookApp, TwitterApp};
use shared::identity::oauth1::Signer;
use shared::identity::social::appsecret_proof;
use shared::store::item::ItemExt;
use testkit::stub::{Seen, reply, serve};
use testkit::{Answer, Env, Req, get, on_both_engines, post, put};

const FACEBOOK_APP: &str = "fb-app-1";
const FACEBOOK_SECRET: &str = "fb-app-secret";
const CONSUMER_KEY: &str = "tw-consumer-key";
const CONSUMER_SECRET: &str = "tw-consumer-secret";

fn json_reply(status: u16, body: Value) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    reply(status, &body.to_string(), &[("Content-Type", "application/json")])
}

/// Facebook's Graph API, played locally. A token is `kind:user`: `good` (this app's, with an
/// email), `noemail`, `other` (another Facebook app's), `expired`, `invalid`, `boom` (5xx),
/// `slow` (past the timeout), `garbage` (not JSON).
async fn graph_api(seen: Seen) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let now = chrono::Utc::now().timestamp();
    match seen.path() {
        "/debug_token" => {
            if seen.query("access_token").as_deref() != Some(&format!("{FACEBOOK_APP}|{FACEBOOK_SECRET}")) {
                return json_reply(400, json!({"error": {"message": "Invalid app access token", "code": 190}}));
            }
            let token = seen.query("input_token").unwrap_or_default();
            let (kind, user) = token.split_once(':').unwrap_or((token.as_str(), ""));
            let data = |app: &str, expires: i64| json!({"data": {"app_id": app, "type": "USER", "is_valid": true, "expires_at": expires, "user_id": user}});
            match kind {
                "good" | "noemail" => json_reply(200, data(FACEBOOK_APP, now + 3600)),
                "other" => json_reply(200, data("someone-elses-app", now + 3600)),
                "expired" => json_reply(200, data(FACEBOOK_APP, now - 60)),
                "boom" => reply(502, "bad gateway", &[]),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    json_reply(200, data(FACEBOOK_APP, 0))
                }
                "garbage" => reply(200, "<html>not json</html>", &[]),
                _ => json_reply(
                    400,
                    json!({"data": {"is_valid": false, "error": {"code": 190, "message": "Invalid OAuth access token"}}}),
                ),
            }
        }
        "/me" => {
            let token = seen.query("access_token").unwrap_or_default();
            if seen.query("appsecret_proof") != Some(appsecret_proof(FACEBOOK_SECRET, &token)) {
                return json_reply(400, json!({"error": {"message": "Invalid appsecret_proof", "code": 100}}));
            }
            let (kind, user) = token.split_once(':').unwrap_or_default();
            let mut me = json!({"id": user, "name": format!("Face {user}")});
            if kind == "good" {
                me["email"] = json!(format!("{user}@fb.example.com"));
            }
            json_reply(200, me)
        }
        _ => reply(404, "", &[]),
    }
}

/// The fields of an OAuth `Authorization` header, decoded.
fn oauth_fields(header: &str) -> Vec<(String, String)> {
    let header = header.strip_prefix("OAuth ").unwrap_or_default();
    header
        .split(", ")
        .filter_map(|part| {
            let (name, quoted) = part.split_once('=')?;
            let value = quoted.strip_prefix('"')?.strip_suffix('"')?;
            let encoded = format!("v={}", value.replace('+', "%2B"));
            let decoded = form_urlencoded::parse(encoded.as_bytes()).next()?.1.into_owned();
            Some((name.to_string(), decoded))
        })
        .collect()
}

/// Twitter's `account/verify_credentials`, played locally: the request must carry this app's
/// consumer key and be signed with its consumer secret and the token's own secret
/// (`secret-of-<token>`); a token is `kind:user` as for Facebook.
async fn twitter_api(seen: Seen) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    if seen.path() != "/1.1/account/verify_credentials.json" {
        return reply(404, "", &[]);
    }
    let fields = oauth_fields(seen.authorization.as_deref().unwrap_or_default());
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let token = field("oauth_token");
    let secret = format!("secret-of-{token}");
    let signer =
        Signer { consumer_key: CONSUMER_KEY, consumer_secret: CONSUMER_SECRET, token: &token, token_secret: &secret };
    let url = format!("http://{}{}", seen.host.clone().unwrap_or_default(), seen.path());
    let query = [("include_email", "true"), ("skip_status", "true")];
    let timestamp = field("oauth_timestamp").parse().unwrap_or_default();
    let expected = oauth_fields(&signer.authorization("GET", &url, &query, timestamp, &field("oauth_nonce")));
    let expected_signature = expected.iter().find(|(n, _)| n == "oauth_signature").map(|(_, v)| v.clone());
    let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() < 300;
    if field("oauth_consumer_key") != CONSUMER_KEY || Some(field("oauth_signature")) != expected_signature || !fresh {
        return json_reply(401, json!({"errors": [{"code": 32, "message": "Could not authenticate you."}]}));
    }
    let (kind, user) = token.split_once(':').unwrap_or((token.as_str(), ""));
    match kind {
        "good" => json_reply(
            200,
            json!({"id": 7, "id_str": user, "name": format!("Tweety {user}"), "screen_name": format!("tw_{user}"),
                   "email": format!("{user}@tw.example.com")}),
        ),
        "boom" => reply(503, "over capacity", &[]),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            json_reply(200, json!({"id_str": user}))
        }
        "garbage" => reply(200, "nope", &[]),
        _ => json_reply(401, json!({"errors": [{"code": 89, "message": "Invalid or expired token."}]})),
    }
}

/// Dependencies whose Graph API and Twitter API are the local ones (one-second timeout).
async fn social_deps(env: &Env) -> Deps {
    let graph = serve(graph_api).await;
    let twitter = serve(twitter_api).await;
    env.deps_with_social(&graph, &twitter, Duration::from_secs(1))
}

async fn social_app(env: &Env, limits: AbuseLimits) -> App {
    let settings = AppSettings {
        facebook: Some(FacebookApp { app_id: FACEBOOK_APP.into(), app_secret: FACEBOOK_SECRET.into() }),
        twitter: Some(TwitterApp { consumer_key: CONSUMER_KEY.into(), consumer_secret: CONSUMER_SECRET.into() }),
        users_v1_listing: true,
        limits,
        ..AppSettings::default()
    };
    env.app(settings).await
}

async fn call(deps: &Deps, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(deps, req.build()).await)
}

fn text(answer: &Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

fn session_with(app: &App, provider: &str, keys: Value) -> Req {
    post("/session.json")
        .json(json!({"application_id": app.id, "auth_key": app.auth_key, "provider": provider, "keys": keys}))
}

async fn app_token(deps: &Deps, app: &App) -> String {
    let answer = call(deps, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    answer.json()["session"]["token"].as_str().expect("an application session").to_string()
}

async fn users(env: &Env) -> Vec<shared::store::Item> {
    env.user_items().await
}

async fn facebook_tokens_of_this_app_sign_in_and_create_one_user(env: &Env) {
    let deps = social_deps(env).await;
    let app = social_app(env, AbuseLimits::default()).await;
    let created = call(&deps, session_with(&app, "facebook", json!({"token": "good:f1"}))).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let user_id = created.json()["session"]["user_id"].clone();
    let token = app_token(&deps, &app).await;
    let logged_in = call(
        &deps,
        post("/login.json").token(&token).json(json!({"provider": "facebook", "keys": {"token": "good:f1"}})),
    )
    .await;
    assert_eq!(logged_in.status, 200, "{}", text(&logged_in));
    let user = logged_in.json()["user"].clone();
    assert_eq!(user["id"], user_id, "found again, not created twice");
    assert_eq!((user["facebook_id"].as_str(), user["full_name"].as_str()), (Some("f1"), Some("Face f1")));
    assert_eq!(user["email"], "f1@fb.example.com");
    let found = call(&deps, get("/users/by_facebook_id.json?facebook_id=f1").token(&token)).await;
    assert_eq!(found.json()["user"]["id"], user_id, "{}", text(&found));
    // No email from Facebook: none set.
    let quiet = call(&deps, session_with(&app, "facebook", json!({"token": "noemail:f2"}))).await;
    assert_eq!(quiet.status, 201, "{}", text(&quiet));
    let all = users(env).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|u| u.str("password_hash").is_none()), "social users have no password");
    assert!(all.iter().any(|u| u.str("facebook_id").as_deref() == Some("f2") && u.str("email").is_none()));
}

async fn an_email_or_facebook_id_someone_else_holds_is_never_taken_over(env: &Env) {
    let deps = social_deps(env).await;
    let app = social_app(env, AbuseLimits::default()).await;
    let signup = |login: &str, extra: Value| {
        let mut user = json!({"login": login, "password": "long-enough-password-1"});
        user.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        post("/users.json").header("CB-AuthKey", &app.auth_key).json(json!({"user": user}))
    };
    let owner = call(&deps, signup("mail_owner", json!({"email": "taken@fb.example.com"}))).await;
    assert_eq!(owner.status, 201, "{}", text(&owner));
    // Facebook says the address is this person's: a new user is made without it.
    let created = call(&deps, session_with(&app, "facebook", json!({"token": "good:taken"}))).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    assert_ne!(created.json()["session"]["user_id"], owner.json()["user"]["id"]);
    let all = users(env).await;
    let owners: Vec<_> = all.iter().filter(|u| u.str("email").as_deref() == Some("taken@fb.example.com")).collect();
    assert_eq!(owners.len(), 1, "the existing user keeps the address; the new one has none");
    // With Facebook and Twitter on, their ids are theirs to set: no client pre-claims one.
    let claimed = call(&deps, signup("claimer", json!({"facebook_id": "someone-elses"}))).await;
    assert_eq!(claimed.status, 422, "{}", text(&claimed));
    assert!(text(&claimed).contains("is set by sign-in through the network"), "{}", text(&claimed));
    let token = created.json()["session"]["token"].as_str().unwrap().to_string();
    let me = created.json()["session"]["user_id"].as_i64().unwrap();
    let update = put(&format!("/users/{me}.json")).token(&token).json(json!({"user": {"twitter_id": "tw-claim"}}));
    let refused = call(&deps, update).await;
    assert_eq!(refused.status, 422, "{}", text(&refused));
    assert_eq!(users(env).await.len(), 2, "nothing created by the refusals");

    // An id set by hand before the application turned Facebook on is not a Facebook
    // sign-in: a login for it is refused, not handed that account.
    let earlier = env.app(AppSettings::default()).await;
    let squat = json!({"user": {"login": "squatter", "password": "long-enough-password-1", "facebook_id": "squat"}});
    let squatter = call(&deps, post("/users.json").header("CB-AuthKey", &earlier.auth_key).json(squat)).await;
    assert_eq!(squatter.status, 201, "{}", text(&squatter));
    let facebook = Some(FacebookApp { app_id: FACEBOOK_APP.into(), app_secret: FACEBOOK_SECRET.into() });
    let later = App { settings: AppSettings { facebook, ..earlier.settings.clone() }, ..earlier };
    env.store().update_app(&later, env.clock().now()).await.unwrap();
    let refused = call(&deps, session_with(&later, "facebook", json!({"token": "good:squat"}))).await;
    assert_eq!(refused.status, 422, "{}", text(&refused));
    assert!(text(&refused).contains("facebook_id is already set on another user"), "{}", text(&refused));
    assert_eq!(users(env).await.len(), 3, "nothing created by the refusal");
}

async fn facebook_refusals_are_422s_that_name_the_cause_and_create_nothing(env: &Env) {
    let deps = social_deps(env).await;
    let app = social_app(env, AbuseLimits::default()).await;
    let cases = [
        ("other:f", "Facebook access token was issued to another Facebook app"),
        ("expired:f", "Facebook access token has expired"),
        ("invalid", "Facebook access token is invalid"),
        ("boom:f", "Facebook responded with status 502"),
        ("slow:f", "Facebook did not respond within 1000 ms"),
        ("garbage:f", "Facebook responded with malformed JSON"),
    ];
    for (token, message) in cases {
        let answer = call(&deps, session_with(&app, "facebook", json!({"token": token}))).await;
        assert_eq!(answer.status, 422, "{token}: {}", text(&answer));
        assert!(text(&answer).starts_with(r#"{"errors":{"base":["#), "{token}: {}", text(&answer));
        assert!(text(&answer).contains(message), "{token}: {}", text(&answer));
    }
    // The application's own Facebook credentials refused: the deployment's problem, said so.
    let misconfigured = env
        .app(AppSettings {
            facebook: Some(FacebookApp { app_id: FACEBOOK_APP.into(), app_secret: "a-stale-secret".into() }),
            ..AppSettings::default()
        })
        .await;
    let answer = call(&deps, session_with(&misconfigured, "facebook", json!({"token": "good:f"}))).await;
    assert_eq!(answer.status, 422);
    assert!(
        text(&answer).contains("Facebook refused this application's Facebook app credentials"),
        "{}",
        text(&answer)
    );
    let unconfigured = env.app(AppSettings::default()).await;
    let answer = call(&deps, session_with(&unconfigured, "facebook", json!({"token": "good:f"}))).await;
    assert_eq!(answer.status, 422);
    assert!(text(&answer).contains("Facebook sign-in is not configured for this application"), "{}", text(&answer));
    let down = env.deps_with_social("http://127.0.0.1:9", "http://127.0.0.1:9", Duration::from_secs(1));
    let answer = call(&down, session_with(&app, "facebook", json!({"token": "good:f"}))).await;
    assert_eq!(
        (answer.status, text(&answer).contains("Facebook could not be reached")),
        (422, true),
        "{}",
        text(&answer)
    );
    assert!(users(env).await.is_empty(), "no failure created a user");
}

async fn twitter_tokens_are_checked_with_a_signed_request(env: &Env) {
    let deps = social_deps(env).await;
    let app = social_app(env, AbuseLimits::default()).await;
    let keys = |token: &str, secret: &str| json!({"token": token, "secret": secret});
    let created = call(&deps, session_with(&app, "twitter", keys("good:t1", "secret-of-good:t1"))).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let token = app_token(&deps, &app).await;
    let again = call(
        &deps,
        post("/login.json")
            .token(&token)
            .json(json!({"provider": "twitter", "keys": keys("good:t1", "secret-of-good:t1")})),
    )
    .await;
    assert_eq!(again.status, 200, "{}", text(&again));
    let user = again.json()["user"].clone();
    assert_eq!(user["id"], created.json()["session"]["user_id"]);
    assert_eq!((user["twitter_id"].as_str(), user["full_name"].as_str()), (Some("t1"), Some("Tweety t1")));
    let cases = [
        (keys("good:t2", "a-wrong-secret"), "Twitter access token or secret is invalid"),
        (keys("revoked:t2", "secret-of-revoked:t2"), "Twitter access token or secret is invalid"),
        (keys("boom:t2", "secret-of-boom:t2"), "Twitter responded with status 503"),
        (keys("slow:t2", "secret-of-slow:t2"), "Twitter did not respond within 1000 ms"),
        (keys("garbage:t2", "secret-of-garbage:t2"), "Twitter responded with malformed JSON"),
    ];
    for (keys, message) in cases {
        let answer = call(&deps, session_with(&app, "twitter", keys.clone())).await;
        assert_eq!(answer.status, 422, "{keys}: {}", text(&answer));
        assert!(text(&answer).contains(message), "{keys}: {}", text(&answer));
    }
    let missing = call(&deps, session_with(&app, "twitter", json!({"token": "good:t3"}))).await;
    assert_eq!(missing.status, 422);
    assert!(text(&missing).contains("no 'keys[secret]' parameters provided"), "{}", text(&missing));
    assert_eq!(users(env).await.len(), 1, "only the good token made a user");
}

async fn refused_social_tokens_count_against_the_login_limits(env: &Env) {
    let deps = social_deps(env).await;
    let limits = AbuseLimits { login_failures_per_ip: "3/300".parse().unwrap(), ..AbuseLimits::default() };
    let app = social_app(env, limits).await;
    for attempt in 0..3 {
        let answer = call(&deps, session_with(&app, "facebook", json!({"token": format!("invalid-{attempt}")}))).await;
        assert_eq!(answer.status, 422, "{}", text(&answer));
    }
    // The source has used its failures: even a good token waits, and nothing is created.
    let limited = call(&deps, session_with(&app, "facebook", json!({"token": "good:f9"}))).await;
    assert_eq!(limited.status, 429, "{}", text(&limited));
    assert!(users(env).await.is_empty());
    // Another source is not held up; a success gives its place back.
    for _ in 0..4 {
        let fine = call(&deps, session_with(&app, "facebook", json!({"token": "good:f9"})).from_ip("192.0.2.77")).await;
        assert_eq!(fine.status, 201, "{}", text(&fine));
    }
}

on_both_engines!(
    facebook_tokens_of_this_app_sign_in_and_create_one_user,
    an_email_or_facebook_id_someone_else_holds_is_never_taken_over,
    facebook_refusals_are_422s_that_name_the_cause_and_create_nothing,
    twitter_tokens_are_checked_with_a_signed_request,
    refused_social_tokens_count_against_the_login_limits,
);
