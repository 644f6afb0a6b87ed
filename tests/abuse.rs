//! Abuse limits on both DynamoDB engines: online password guessing meets 429 long before it
//! gets far, signups and searches are counted per source IP, and the optional account
//! lockout locks and unlocks as configured.

use serde_json::{Value, json};
use shared::domain::app::{App, AppSettings};
use shared::domain::limits::{AbuseLimits, DEFAULT_LOGIN_FAILURES_PER_ACCOUNT_IP, Rate};
use testkit::{Answer, Env, Req, get, on_both_engines, post, put};

const PASSWORD: &str = "correct-horse-battery";
const TOO_MANY: &str = r#"{"errors":{"base":["Too many requests, please retry later"]}}"#;

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

fn text(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// An application with these limits; the test clock moves to the start of an hour first, so
/// that every fixed window (300 s, 600 s, an hour) starts afresh and cannot roll over while
/// the test counts.
async fn app_with(env: &Env, limits: AbuseLimits) -> App {
    let now = env.clock().now();
    env.clock().advance(3600 - now.rem_euclid(3600));
    env.app(AppSettings { limits, ..AppSettings::default() }).await
}

async fn signup(env: &Env, app: &App, login: &str, ip: &str) -> Answer {
    let user = json!({"user": {"login": login, "password": PASSWORD}});
    call(env, post("/users").header("CB-AuthKey", &app.auth_key).from_ip(ip).json(user)).await
}

fn login_request(app: &App, login: &str, password: &str, ip: &str) -> Req {
    let body =
        json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": login, "password": password}});
    post("/session").from_ip(ip).json(body)
}

/// A new application session's token.
async fn app_session(env: &Env, app: &App) -> String {
    let resp = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    resp.json()["session"]["token"].as_str().unwrap().to_string()
}

/// A 429 in ConnectyCube's error shape with a sensible `Retry-After`.
fn assert_throttled(resp: &Answer, at_most_secs: u64) {
    assert_eq!((resp.status, text(resp).as_str()), (429, TOO_MANY));
    let retry: u64 = resp.header("Retry-After").expect("Retry-After").parse().unwrap();
    assert!((1..=at_most_secs).contains(&retry), "Retry-After {retry}");
}

async fn two_hundred_wrong_passwords_from_one_ip_meet_429_long_before_the_end(env: &Env) {
    let app = app_with(env, AbuseLimits::default()).await;
    assert_eq!(signup(env, &app, "victim", "198.51.100.20").await.status, 201);
    let attacker = "203.0.113.66";
    let mut statuses = Vec::new();
    for i in 0..200 {
        let resp = call(env, login_request(&app, "victim", &format!("guess-{i:03}"), attacker)).await;
        if resp.status == 429 {
            assert_throttled(&resp, 900);
        }
        statuses.push(resp.status);
    }
    let first_429 = statuses.iter().position(|s| *s == 429).expect("throttled at some point");
    let allowed = DEFAULT_LOGIN_FAILURES_PER_ACCOUNT_IP.max as usize;
    assert_eq!(first_429, allowed, "the first {allowed} failures are 401s, then 429: {statuses:?}");
    assert!(statuses[first_429..].iter().all(|s| *s == 429), "{statuses:?}");

    // While throttled, even the right password is refused from the attacker's address, so
    // the 429 tells a guesser nothing; no session is written.
    let right_there = call(env, login_request(&app, "victim", PASSWORD, attacker)).await;
    assert_throttled(&right_there, 900);
    // The owner, from an address with no failures, gets in while the attacker is refused.
    let owner = call(env, login_request(&app, "victim", PASSWORD, "198.51.100.20")).await;
    assert_eq!(owner.status, 201, "{}", text(&owner));
    assert_eq!(call(env, login_request(&app, "victim", "guess-again", attacker)).await.status, 429);
    // After the window the right password works from anywhere.
    env.clock().advance(DEFAULT_LOGIN_FAILURES_PER_ACCOUNT_IP.window_secs);
    let later = call(env, login_request(&app, "victim", PASSWORD, attacker)).await;
    assert_eq!(later.status, 201, "{}", text(&later));
}

/// Guesses naming the account's login and guesses naming its email are one account's.
async fn login_and_email_guesses_count_as_one_account(env: &Env) {
    let limits = AbuseLimits { login_failures_per_account_ip: Rate::new(4, 900), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    let user = json!({"user": {"login": "dana", "email": "dana@example.com", "password": PASSWORD}});
    let created =
        call(env, post("/users").header("CB-AuthKey", &app.auth_key).from_ip("198.51.100.7").json(user)).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let mut statuses = Vec::new();
    for i in 0..6 {
        let user = if i % 2 == 0 {
            json!({"login": "dana", "password": "wrong-password"})
        } else {
            json!({"email": "DANA@example.com", "password": "wrong-password"})
        };
        let body = json!({"application_id": app.id, "auth_key": app.auth_key, "user": user});
        statuses.push(call(env, post("/session").from_ip("203.0.113.8").json(body)).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
}

/// The account-wide ceiling: an attack spread over many addresses reaches it, and then it
/// keeps everyone out of that account until its window ends (the documented trade-off).
async fn a_distributed_attack_meets_the_account_ceiling(env: &Env) {
    let limits = AbuseLimits {
        login_failures_per_account_ip: Rate::new(3, 900),
        login_failures_per_account: Rate::new(7, 3600),
        ..AbuseLimits::default()
    };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "erin", "198.51.100.9").await.status, 201);
    let mut statuses = Vec::new();
    for ip in ["203.0.113.11", "203.0.113.12", "203.0.113.13"] {
        for _ in 0..4 {
            statuses.push(call(env, login_request(&app, "erin", "wrong-password", ip)).await.status);
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 401, 401, 401, 429, 401, 429, 429, 429]);
    assert_throttled(&call(env, login_request(&app, "erin", PASSWORD, "198.51.100.9")).await, 3600);
    env.clock().advance(3600);
    assert_eq!(call(env, login_request(&app, "erin", PASSWORD, "198.51.100.9")).await.status, 201);
}

async fn one_ip_guessing_across_many_accounts_is_throttled_and_others_are_not(env: &Env) {
    let limits = AbuseLimits { login_failures_per_ip: Rate::new(5, 600), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "alice", "198.51.100.1").await.status, 201);
    let mut statuses = Vec::new();
    for i in 0..8 {
        // Unknown logins and wrong passwords count alike.
        let login = if i % 2 == 0 { format!("nobody{i}") } else { "alice".to_string() };
        statuses.push(call(env, login_request(&app, &login, "wrong-password", "203.0.113.9")).await.status);
    }
    assert_eq!(statuses, [404, 401, 404, 401, 404, 429, 429, 429]);
    let elsewhere = call(env, login_request(&app, "alice", PASSWORD, "198.51.100.1")).await;
    assert_eq!(elsewhere.status, 201, "another IP is not affected");
    let here = call(env, login_request(&app, "alice", PASSWORD, "203.0.113.9")).await;
    assert_throttled(&here, 600);
}

async fn login_on_an_application_session_is_throttled_too(env: &Env) {
    let limits = AbuseLimits { login_failures_per_account: Rate::new(3, 300), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "bob", "198.51.100.1").await.status, 201);
    let token = app_session(env, &app).await;
    let attempt = |password: &str| {
        post("/login.json").token(&token).from_ip("203.0.113.5").json(json!({"login": "bob", "password": password}))
    };
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for i in 0..5 {
            out.push(call(env, attempt(&format!("wrong-{i}"))).await.status);
        }
        out
    };
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    assert_throttled(&call(env, attempt(PASSWORD)).await, 300);
    let session = call(env, get("/session.json").token(&token)).await;
    assert_eq!(session.json()["session"]["user_id"], Value::Null, "the refused login bound no user");
    env.clock().advance(300);
    assert_eq!(call(env, attempt(PASSWORD)).await.status, 200);
}

async fn with_lockout_on_the_account_locks_and_unlocks_as_configured(env: &Env) {
    let lockout = Rate::new(3, 900);
    let limits = AbuseLimits { lockout: Some(lockout), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "carol", "198.51.100.1").await.status, 201);
    // Failures spread over several IPs and over more than one rate window still lock.
    for (i, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"].iter().enumerate() {
        let wrong = call(env, login_request(&app, "carol", "not-her-password", ip)).await;
        assert_eq!(wrong.status, 401, "failure {i}");
        env.clock().advance(400);
    }
    let locked = call(env, login_request(&app, "carol", PASSWORD, "198.51.100.1")).await;
    assert_throttled(&locked, 900);
    // Still locked shortly before the duration has passed since the last failure…
    env.clock().advance(900 - 400 - 10);
    assert_eq!(call(env, login_request(&app, "carol", PASSWORD, "198.51.100.1")).await.status, 429);
    // …and open after it.
    env.clock().advance(20);
    assert_eq!(call(env, login_request(&app, "carol", PASSWORD, "198.51.100.1")).await.status, 201);

    // Failures far apart never add up to a lock.
    for _ in 0..4 {
        assert_eq!(call(env, login_request(&app, "carol", "nope-nope", "203.0.113.1")).await.status, 401);
        env.clock().advance(901);
    }
    assert_eq!(call(env, login_request(&app, "carol", PASSWORD, "198.51.100.1")).await.status, 201);
}

/// Only failures move the lock's end: a successful login between two failures far apart does
/// not keep the count running (each failure must come within the duration of the previous).
async fn only_failures_keep_the_lockout_count_running(env: &Env) {
    let lockout = Rate::new(3, 600);
    let app = app_with(env, AbuseLimits { lockout: Some(lockout), ..AbuseLimits::default() }).await;
    assert_eq!(signup(env, &app, "fay", "198.51.100.1").await.status, 201);
    for ip in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(call(env, login_request(&app, "fay", "a-typo-of-hers", ip)).await.status, 401);
    }
    env.clock().advance(540);
    assert_eq!(call(env, login_request(&app, "fay", PASSWORD, "198.51.100.1")).await.status, 201);
    // 540 s after the success, 1,080 s after the last failure: the count has lapsed.
    env.clock().advance(540);
    assert_eq!(call(env, login_request(&app, "fay", "a-typo-of-hers", "203.0.113.3")).await.status, 401);
    assert_eq!(call(env, login_request(&app, "fay", PASSWORD, "198.51.100.1")).await.status, 201);
}

/// A burst of simultaneous wrong guesses, on every login path and from many addresses, gets
/// no more password checks than the lockout's threshold: each takes its place in the
/// account's lockout count before its check (the login limits are set out of reach, so the
/// lockout is the only thing that can stop them). The account is then locked.
async fn a_burst_of_guesses_gets_no_more_checks_than_the_lockout_allows(env: &Env) {
    let out_of_reach = Rate::new(10_000, 900);
    let lockout = Rate::new(5, 600);
    let limits = AbuseLimits {
        lockout: Some(lockout),
        login_failures_per_account_ip: out_of_reach,
        login_failures_per_ip: out_of_reach,
        login_failures_per_account: out_of_reach,
        ..AbuseLimits::default()
    };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "erin", "198.51.100.1").await.status, 201);
    let app_token = app_session(env, &app).await;
    let guesses = (0..30)
        .map(|i| {
            let ip = format!("203.0.113.{}", i + 1);
            let password = format!("guess-{i:02}");
            match i % 2 {
                0 => login_request(&app, "erin", &password, &ip),
                _ => post("/login.json")
                    .token(&app_token)
                    .from_ip(&ip)
                    .json(json!({"login": "erin", "password": password})),
            }
        })
        .collect();
    let statuses = testkit::all_at_once(guesses, |req| {
        let deps = env.deps.clone();
        async move { Answer::from(cube_auth::router::dispatch(&deps, req).await).status }
    })
    .await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(checked as i64 <= lockout.max, "{checked} guesses were checked, lockout {}: {statuses:?}", lockout.max);
    // Topped up one at a time, exactly the threshold's worth fail; then the account is locked,
    // the right password included.
    let mut failures = checked;
    while call(env, login_request(&app, "erin", "one-more-guess", "203.0.113.200")).await.status == 401 {
        failures += 1;
        assert!(failures as i64 <= lockout.max, "{failures} failures, lockout {}", lockout.max);
    }
    assert_eq!(failures as i64, lockout.max, "{statuses:?}");
    assert_throttled(&call(env, login_request(&app, "erin", PASSWORD, "198.51.100.1")).await, 600);
    env.clock().advance(lockout.window_secs);
    assert_eq!(call(env, login_request(&app, "erin", PASSWORD, "198.51.100.1")).await.status, 201);
}

async fn signups_are_counted_per_ip_and_a_refused_one_writes_nothing(env: &Env) {
    let limits = AbuseLimits { signups_per_ip: Rate::new(2, 3600), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "first", "203.0.113.40").await.status, 201);
    assert_eq!(signup(env, &app, "second", "203.0.113.40").await.status, 201);
    let third = signup(env, &app, "third", "203.0.113.40").await;
    assert_throttled(&third, 3600);
    // Guest sessions create users as well, so they count against the same limit.
    let guest = json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"guest": true}});
    assert_throttled(&call(env, post("/session").from_ip("203.0.113.40").json(guest.clone())).await, 3600);
    // Nothing of the refused signup remains: its login is free, and another IP may sign up.
    assert_eq!(signup(env, &app, "third", "198.51.100.41").await.status, 201);
    assert_eq!(call(env, post("/session").from_ip("198.51.100.41").json(guest)).await.status, 201);
}

async fn searches_are_counted_per_ip(env: &Env) {
    // A limit that is not a multiple of the batch (ten, or a tenth of a smaller limit).
    let limits = AbuseLimits { searches_per_ip: Rate::new(25, 3600), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "searcher", "198.51.100.1").await.status, 201);
    let body = json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": "searcher", "password": PASSWORD}});
    let token = call(env, post("/session").json(body)).await.json()["session"]["token"].as_str().unwrap().to_string();
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let resp = call(env, get("/users/v2.json?login=searcher").token(&token).from_ip("203.0.113.77")).await;
        statuses.push(resp.status);
    }
    let first_429 = statuses.iter().position(|s| *s == 429).expect("throttled");
    // Counted per instance in batches of a tenth of this limit (two), each written only if
    // all of it fits: the limit holds to within a batch, never more.
    assert!((25..=26).contains(&first_429), "first 429 at {first_429}: {statuses:?}");
    assert!(statuses[first_429..].iter().all(|s| *s == 429), "{statuses:?}");
    let v1 = call(env, get("/users/by_login.json?login=searcher").token(&token).from_ip("203.0.113.77")).await;
    assert_eq!(v1.status, 429, "V1 lookups are searches too");
    let other = call(env, get("/users/v2.json?login=searcher").token(&token).from_ip("198.51.100.2")).await;
    assert_eq!(other.status, 200, "another IP is not affected");
}

/// Reset requests count per application: an address or an address's source running out in
/// one application holds up nothing in another.
async fn reset_limits_are_per_application(env: &Env) {
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let app = app_with(env, AbuseLimits::default()).await;
        let body = json!({"application_id": app.id, "auth_key": app.auth_key});
        tokens.push(
            call(env, post("/session").json(body)).await.json()["session"]["token"].as_str().unwrap().to_string(),
        );
    }
    let reset = |token: &str| {
        post("/users/password/reset").token(token).from_ip("203.0.113.30").json(json!({"email": "someone@example.com"}))
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(call(env, reset(&tokens[0])).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "three per address per hour");
    assert_eq!(call(env, reset(&tokens[1])).await.status, 200, "the other application is not held up");
}

/// An IPv6 subscriber commonly holds a whole /64: addresses in one /64 share the per-IP limits.
async fn ipv6_sources_count_by_their_slash_64(env: &Env) {
    let limits = AbuseLimits { login_failures_per_ip: Rate::new(3, 600), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let ip = format!("2001:db8:aa:bb:{i:x}::{}", i + 1);
        statuses.push(call(env, login_request(&app, &format!("nobody{i}"), "wrong-password", &ip)).await.status);
    }
    assert_eq!(statuses, [404, 404, 404, 429]);
    let next_subnet = call(env, login_request(&app, "nobody9", "wrong-password", "2001:db8:aa:bc::1")).await;
    assert_eq!(next_subnet.status, 404, "another /64 is another source");
}

/// While an account is locked every path that checks its password answers 429 whatever the
/// password, so the lock is no oracle: `POST /session`, `POST /login`, and a profile change
/// confirmed with `old_password`.
async fn a_locked_account_answers_429_whatever_the_password_on_every_path(env: &Env) {
    let limits = AbuseLimits { lockout: Some(Rate::new(3, 900)), ..AbuseLimits::default() };
    let app = app_with(env, limits).await;
    assert_eq!(signup(env, &app, "dave", "198.51.100.1").await.status, 201);
    let own = call(env, login_request(&app, "dave", PASSWORD, "198.51.100.1")).await;
    let own = own.json()["session"]["token"].as_str().unwrap().to_string();
    let id = call(env, get("/session").token(&own)).await.json()["session"]["user_id"].as_i64().unwrap();
    let body = json!({"application_id": app.id, "auth_key": app.auth_key});
    let app_token =
        call(env, post("/session").json(body)).await.json()["session"]["token"].as_str().unwrap().to_string();
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(call(env, login_request(&app, "dave", "not-his-password", ip)).await.status, 401);
    }
    for password in ["not-his-password", PASSWORD] {
        let session = call(env, login_request(&app, "dave", password, "198.51.100.9")).await;
        assert_throttled(&session, 900);
        let login = post("/login.json").token(&app_token).from_ip("198.51.100.9");
        assert_throttled(&call(env, login.json(json!({"login": "dave", "password": password}))).await, 900);
        let change = json!({"user": {"email": "dave@elsewhere.example", "old_password": password}});
        let update = call(env, put(&format!("/users/{id}")).token(&own).from_ip("198.51.100.9").json(change)).await;
        assert_throttled(&update, 900);
    }
}

on_both_engines!(
    a_locked_account_answers_429_whatever_the_password_on_every_path,
    reset_limits_are_per_application,
    ipv6_sources_count_by_their_slash_64,
    two_hundred_wrong_passwords_from_one_ip_meet_429_long_before_the_end,
    login_and_email_guesses_count_as_one_account,
    a_distributed_attack_meets_the_account_ceiling,
    one_ip_guessing_across_many_accounts_is_throttled_and_others_are_not,
    login_on_an_application_session_is_throttled_too,
    with_lockout_on_the_account_locks_and_unlocks_as_configured,
    a_burst_of_guesses_gets_no_more_checks_than_the_lockout_allows,
    only_failures_keep_the_lockout_count_running,
    signups_are_counted_per_ip_and_a_refused_one_writes_nothing,
    searches_are_counted_per_ip,
);
