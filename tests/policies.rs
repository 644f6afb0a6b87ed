//! Each function's IAM policy in `template.yaml` against the DynamoDB actions its requests
//! need, recorded by `testkit::iam` on a tour of every function, failure paths included
//! (wrong passwords counted, a lockout, a throttled login, taken logins, a reset end to end).
//! A call the policy does not grant is an `AccessDeniedException` on AWS that no local run
//! would otherwise show; a grant no request needs is privilege to take away.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use shared::domain::app::{App, AppSettings};
use shared::domain::limits::{AbuseLimits, Rate};
use shared::mail::{Delivery, MailConfig, Mailer};
use shared::store::meter;
use testkit::wire::{multipart, send, upload_form};
use testkit::{Answer, Env, Req, delete, get, on_both_engines, post, put};
use yaml_rust2::YamlLoader;

const PASSWORD: &str = "correct-horse-battery";
const NEW_PASSWORD: &str = "another-horse-battery";
const PICTURE: &[u8] = b"\x89PNG\r\n\x1a\n a tour's picture";

/// The `dynamodb:` actions each function's policy grants, by function crate.
fn granted() -> BTreeMap<String, BTreeSet<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let template = YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap().remove(0);
    let mut granted = BTreeMap::new();
    for (_, resource) in template["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = resource["Properties"]["CodeUri"].as_str().unwrap().trim_start_matches("functions/");
        let actions: BTreeSet<String> = resource["Properties"]["Policies"][0]["Statement"]
            .as_vec()
            .unwrap()
            .iter()
            .flat_map(|statement| statement["Action"].as_vec().unwrap().iter())
            .filter_map(|action| action.as_str())
            .filter(|action| action.starts_with("dynamodb:"))
            .map(str::to_string)
            .collect();
        granted.insert(function.to_string(), actions);
    }
    granted
}

/// Requests sent through the local router, with the actions each function needed.
struct Tour<'a> {
    env: &'a Env,
    needed: BTreeMap<String, BTreeSet<String>>,
}

impl Tour<'_> {
    /// Sends `req` a minute after the previous request, so that every session-bound request
    /// also records the session's activity (a write at most once a minute).
    async fn call(&mut self, req: Req) -> Answer {
        self.env.clock().advance(61);
        self.call_now(req).await
    }

    /// Sends `req` at once (within one window of the rate limits).
    async fn call_now(&mut self, req: Req) -> Answer {
        let request = req.build();
        let function = shared::routes::resolve_request(&request).expect("a routed request").function.name();
        self.env.iam_actions.take();
        let resp = Answer::from(cube_auth::router::dispatch(&self.env.deps, request).await);
        self.needed.entry(function.to_string()).or_default().extend(self.env.iam_actions.take());
        resp
    }

    async fn expect(&mut self, req: Req, status: u16) -> Value {
        let resp = self.call(req).await;
        assert_eq!(resp.status, status, "{}", String::from_utf8_lossy(&resp.body));
        if resp.body.is_empty() { Value::Null } else { resp.json() }
    }

    async fn token(&mut self, app: &App, login: &str, password: &str) -> String {
        let body =
            json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": login, "password": password}});
        self.expect(post("/session").json(body), 201).await["session"]["token"].as_str().unwrap().to_string()
    }
}

async fn every_function_is_granted_exactly_the_actions_its_requests_need(env: &Env) {
    let limits = AbuseLimits {
        login_failures_per_account: Rate::new(3, 300),
        lockout: Some(Rate::new(2, 300)),
        ..AbuseLimits::default()
    };
    let app = env.app(AppSettings { limits, users_v1_listing: true, ..AppSettings::default() }).await;
    let mut tour = Tour { env, needed: BTreeMap::new() };
    let signup = |login: &str| {
        post("/users").header("CB-AuthKey", &app.auth_key).json(
            json!({"user": {"login": login, "email": format!("{login}@example.com"), "password": PASSWORD, "tag_list": "tour"}}),
        )
    };

    // Sessions and signup, with their failure paths.
    let me = tour.expect(signup("walker"), 201).await["user"]["id"].as_i64().unwrap();
    tour.expect(signup("walker"), 422).await;
    let token = tour.token(&app, "walker", PASSWORD).await;
    // A wrong password on POST /session: the session written while the hash was checked is
    // withdrawn (deleted) again.
    let wrong = json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": "walker", "password": "not-the-one"}});
    tour.expect(post("/session").from_ip("198.51.100.77").json(wrong), 401).await;
    // Blobs first: the tour's clock runs ahead of the real one, and the S3 server refuses a
    // presigned upload dated more than 15 minutes away from its own time.
    let blob = json!({"blob": {"name": "a.png", "content_type": "image/png", "public": true}});
    let created = tour.expect(post("/blobs").token(&token).json(blob), 201).await;
    let (id, uid) = (created["blob"]["id"].as_i64().unwrap(), created["blob"]["uid"].as_str().unwrap().to_string());
    let (url, fields) = upload_form(created["blob"]["blob_object_access"]["params"].as_str().unwrap());
    let (content_type, body) = multipart(&fields, "a.png", "image/png", PICTURE);
    assert_eq!(send("POST", &url, &[("Content-Type", &content_type)], &body).await.status, 201);
    let size = json!({"blob": {"size": PICTURE.len()}});
    tour.expect(put(&format!("/blobs/{id}/complete")).token(&token).json(size), 200).await;
    tour.expect(get(&format!("/blobs/{uid}")).token(&token), 302).await;
    tour.expect(get(&format!("/blobs/{id}")).token(&token), 200).await;
    tour.expect(get("/blobs").token(&token), 200).await;
    tour.expect(delete(&format!("/blobs/{id}")).token(&token), 200).await;

    tour.expect(signup("other"), 201).await;
    tour.expect(signup("third"), 201).await;
    let app_session = json!({"application_id": app.id, "auth_key": app.auth_key});
    let app_token =
        tour.expect(post("/session").json(app_session), 201).await["session"]["token"].as_str().unwrap().to_string();
    tour.expect(
        post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"guest": "1"}})),
        201,
    )
    .await;
    tour.expect(get("/session").token(&token), 200).await;
    // Wrong passwords until the account's limit (or its lockout) answers 429, all at the
    // start of one five-minute counting window.
    let now = env.clock().now();
    env.clock().advance(300 - now.rem_euclid(300));
    let wrong = json!({"login": "other", "password": "wrong-horse-battery"});
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < 6 {
        statuses.push(tour.call_now(post("/login").token(&app_token).json(wrong.clone())).await.status);
    }
    assert!(statuses.starts_with(&[401, 401]) && statuses.ends_with(&[429]), "{statuses:?}");
    let wrong = json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": "other", "password": "x-wrong-horse"}});
    assert_eq!(tour.call_now(post("/session").json(wrong)).await.status, 429);
    tour.expect(post("/login").token(&app_token).json(json!({"login": "walker", "password": PASSWORD})), 200).await;
    // Logging another user in on the same session moves it from one user to the other.
    tour.expect(post("/login").token(&app_token).json(json!({"login": "third", "password": PASSWORD})), 200).await;
    tour.expect(delete("/login").token(&app_token), 200).await;

    // Users: reads, searches, updates.
    // Searches are counted per address ten at a time: ten of each kind write the counter once.
    for query in ["login=walker", "user_tags=tour"].into_iter().cycle().take(meter::BATCH as usize) {
        tour.expect(get(&format!("/users/v2?{query}")).token(&token).from_ip("198.51.100.2"), 200).await;
    }
    let v1 = [format!("/users/{me}"), "/users/by_login?login=walker".into(), "/users?per_page=10".into()];
    for path in v1.iter().cycle().take(meter::BATCH as usize) {
        tour.expect(get(path).token(&token).from_ip("198.51.100.3"), 200).await;
    }
    tour.expect(
        put(&format!("/users/{me}"))
            .token(&token)
            .json(json!({"user": {"full_name": "Walker", "login": "walker2", "tag_list": "tour,more", "old_password": PASSWORD}})),
        200,
    )
    .await;
    let taken = json!({"user": {"login": "other", "old_password": PASSWORD}});
    tour.expect(put(&format!("/users/{me}")).token(&token).json(taken), 422).await;
    // A wrong current password is a failed login attempt.
    let wrong = json!({"user": {"email": "walker-new@example.com", "old_password": "not-the-password"}});
    tour.expect(put(&format!("/users/{me}")).token(&token).json(wrong), 422).await;
    let change = json!({"user": {"old_password": PASSWORD, "password": NEW_PASSWORD}});
    tour.expect(put(&format!("/users/{me}")).token(&token).json(change), 200).await;
    let token = tour.token(&app, "walker2", NEW_PASSWORD).await;

    // A password reset end to end: request, the mail sender, the page.
    tour.expect(post("/users/password/reset").token(&token).json(json!({"email": "walker@example.com"})), 200).await;
    tour.expect(post("/users/password/reset").token(&token).json(json!({"email": "nobody@example.com"})), 200).await;
    let mailer = Mailer::new(&MailConfig {
        from: "Tour <no-reply@example.test>".into(),
        public_base_url: "https://api.example.test".into(),
        delivery: Delivery::Files(env.mail_outbox().join("policies")),
    })
    .unwrap();
    let queued = env.store().pending_resets(env.clock().now()).await.unwrap();
    env.iam_actions.take();
    let link = shared::service::reset::deliver_reset(&env.deps, &mailer, &queued[0].sk).await.unwrap().unwrap();
    tour.needed.insert("send-mail".into(), env.iam_actions.take());
    let reset_token = link.split("token=").nth(1).unwrap().to_string();
    tour.expect(get(&format!("/password-reset?token={reset_token}")).header("Accept", "text/html"), 200).await;
    tour.expect(post("/password-reset").json(json!({"token": reset_token, "password": PASSWORD})), 200).await;

    // Ending: sessions and the user.
    let token = tour.token(&app, "walker2", PASSWORD).await;
    let other = tour.token(&app, "walker2", PASSWORD).await;
    let other_id = tour.expect(get("/session").token(&other), 200).await["session"]["id"].as_i64().unwrap();
    tour.expect(delete(&format!("/session/{other_id}")).token(&token), 200).await;
    tour.token(&app, "walker2", PASSWORD).await;
    tour.expect(delete("/session/list").token(&token), 200).await;
    tour.expect(delete(&format!("/users/{me}")).token(&token), 200).await;
    tour.expect(delete("/session").token(&app_token), 200).await;

    let granted = granted();
    let mut findings = Vec::new();
    for (function, needed) in &tour.needed {
        let grants = &granted[function];
        let missing: Vec<_> = needed.difference(grants).collect();
        if !missing.is_empty() {
            findings.push(format!("{function} needs {missing:?} beyond its policy {grants:?}"));
        }
        let unused: Vec<_> = grants.difference(needed).collect();
        if !unused.is_empty() {
            findings.push(format!("{function}'s policy grants {unused:?} that no request needed ({needed:?})"));
        }
    }
    assert!(findings.is_empty(), "{findings:#?}");
    let toured: BTreeSet<&String> = tour.needed.keys().collect();
    assert_eq!(toured, granted.keys().collect(), "the tour visits every function");
}

on_both_engines!(every_function_is_granted_exactly_the_actions_its_requests_need);
