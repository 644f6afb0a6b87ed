//! Login limits under real concurrency: in production every concurrent request runs in its
//! own Lambda instance, with its own caches, and nothing but DynamoDB in common. Here eight
//! independent instances (each its own runtime thread and its own `Store`, caches included)
//! share one table and take a burst of 200 simultaneous wrong guesses at one account,
//! spread over `/session`, `/session.json`, `/login` and `/login.json` and over its login
//! and its email, with the right password among the last. At most the limit's worth of
//! guesses may learn their answer (401); the rest get 429. Concurrent attempts err towards
//! refusing, so a burst may leave places free (a right password that takes one gets in, as
//! it should); topped up to the limit, every guess, the right password included, gets 429
//! while the limit holds.

use std::time::Duration;

use serde_json::json;
use shared::Deps;
use shared::domain::app::{App, AppSettings};
use shared::domain::limits::{AbuseLimits, Rate};
use testkit::{Answer, Env, Req, on_both_engines, post};

const PASSWORD: &str = "correct-horse-battery";
const INSTANCES: usize = 8;
const WRONG_GUESSES: usize = 190;
const RIGHT_GUESSES: usize = 10;
const ATTACKER: &str = "203.0.113.99";
const LIMIT: Rate = Rate::new(10, 900);

async fn call(deps: &Deps, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(deps, req.build()).await)
}

/// Guess number `i`: which route, which name, which password.
fn guess(app: &App, app_token: &str, i: usize, password: &str) -> Req {
    let name = if i.is_multiple_of(2) { json!({"login": "target"}) } else { json!({"email": "target@example.com"}) };
    let mut user = name.clone();
    user["password"] = json!(password);
    let session = json!({"application_id": app.id, "auth_key": app.auth_key, "user": user});
    let req = match i % 4 {
        0 => post("/session").json(session),
        1 => post("/session.json").json(session),
        2 => post("/login").token(app_token).json(user),
        _ => post("/login.json").token(app_token).json(user),
    };
    req.from_ip(ATTACKER)
}

/// One instance's share of the burst: its wrong guesses at once, then (a moment later, so
/// that they are among the last) its right ones. Returns the statuses, wrong then right.
fn run_instance(deps: Deps, app: App, index: usize) -> std::thread::JoinHandle<(Vec<u16>, Vec<u16>)> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async move {
            let app_session = json!({"application_id": app.id, "auth_key": app.auth_key});
            let resp = call(&deps, post("/session").from_ip("198.51.100.200").json(app_session)).await;
            let app_token = resp.json()["session"]["token"].as_str().unwrap().to_string();
            let mut wrong = Vec::new();
            for i in (index..WRONG_GUESSES).step_by(INSTANCES) {
                let (deps, req) = (deps.clone(), guess(&app, &app_token, i, &format!("wrong-{i:03}")));
                wrong.push(tokio::spawn(async move { call(&deps, req).await.status }));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
            let mut right = Vec::new();
            for i in (index..RIGHT_GUESSES).step_by(INSTANCES) {
                let (deps, req) = (deps.clone(), guess(&app, &app_token, i, PASSWORD));
                right.push(tokio::spawn(async move { call(&deps, req).await.status }));
            }
            let mut statuses = (Vec::new(), Vec::new());
            for task in wrong {
                statuses.0.push(task.await.unwrap());
            }
            for task in right {
                statuses.1.push(task.await.unwrap());
            }
            statuses
        })
    })
}

async fn a_burst_over_eight_instances_learns_at_most_the_limit(env: &Env) {
    // The account-from-this-source limit is the one under test; the others are set out of
    // reach, so that the first attempt to reach it is never refused by another counter.
    let out_of_reach = Rate::new(10_000, 900);
    let limits = AbuseLimits {
        login_failures_per_account_ip: LIMIT,
        login_failures_per_ip: out_of_reach,
        login_failures_per_account: out_of_reach,
        ..AbuseLimits::default()
    };
    // A fresh window: the burst must not straddle two.
    let now = env.clock().now();
    env.clock().advance(900 - now.rem_euclid(900));
    let app = env.app(AppSettings { limits, ..AppSettings::default() }).await;
    let user = json!({"user": {"login": "target", "email": "target@example.com", "password": PASSWORD}});
    let created = call(&env.deps, post("/users").header("CB-AuthKey", &app.auth_key).json(user)).await;
    assert_eq!(created.status, 201);

    let instances: Vec<_> = (0..INSTANCES).map(|i| run_instance(env.patient_deps(), app.clone(), i)).collect();
    let (mut wrong, mut right) = (Vec::new(), Vec::new());
    for instance in instances {
        let (w, r) = tokio::task::spawn_blocking(move || instance.join().unwrap()).await.unwrap();
        wrong.extend(w);
        right.extend(r);
    }
    let learned = wrong.iter().filter(|s| **s == 401).count();
    let refused = wrong.iter().filter(|s| **s == 429).count();
    eprintln!(
        "burst of {WRONG_GUESSES} wrong guesses on {INSTANCES} instances: {learned} answered 401, {refused} 429; right: {right:?}"
    );
    assert_eq!(learned + refused, WRONG_GUESSES, "only 401s and 429s: {wrong:?}");
    assert!(learned as i64 <= LIMIT.max, "{learned} guesses learned their answer, limit {}: {wrong:?}", LIMIT.max);
    assert!(right.iter().all(|s| *s == 429 || *s == 201), "a right guess is refused or gets in: {right:?}");
    // The first attempt to reach the counter took a place and was answered: a wrong guess
    // that learned its answer or a right one that got in. (On a loaded machine the right
    // guesses may get there first; their places then refuse the wrong guesses of the burst
    // until they are given back, which is the limit erring towards refusing, not a fault.)
    let got_in = right.iter().filter(|s| **s == 201).count();
    assert!(learned + got_in >= 1, "the limit let nothing through at all: {wrong:?} {right:?}");

    // Top the limit up: wrong guesses learn their answer until exactly the limit's worth has.
    let app_token = {
        let app_session = json!({"application_id": app.id, "auth_key": app.auth_key});
        let resp = call(&env.deps, post("/session").from_ip("198.51.100.201").json(app_session)).await;
        resp.json()["session"]["token"].as_str().unwrap().to_string()
    };
    let mut topped = learned;
    loop {
        let status = call(&env.deps, guess(&app, &app_token, topped, "wrong-topping-up")).await.status;
        if status == 429 {
            break;
        }
        assert_eq!(status, 401);
        topped += 1;
        assert!(topped as i64 <= LIMIT.max, "{topped} guesses learned their answer, limit {}", LIMIT.max);
    }
    assert_eq!(topped as i64, LIMIT.max, "the limit's worth of guesses, no more, learned their answer");
    // While it holds, the right password from that address is refused, however many ask.
    let mut right = Vec::new();
    for i in 0..RIGHT_GUESSES {
        let (deps, req) = (env.patient_deps(), guess(&app, &app_token, i, PASSWORD));
        right.push(tokio::spawn(async move { call(&deps, req).await.status }));
    }
    for task in right {
        assert_eq!(task.await.unwrap(), 429, "the right password is refused while the limit holds");
    }

    // The owner, from an address with no failures, still gets in; after the window, so does
    // anyone with the password.
    let owner =
        json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": "target", "password": PASSWORD}});
    assert_eq!(call(&env.deps, post("/session").from_ip("198.51.100.7").json(owner.clone())).await.status, 201);
    env.clock().advance(LIMIT.window_secs);
    assert_eq!(call(&env.deps, post("/session").from_ip(ATTACKER).json(owner)).await.status, 201);
}

on_both_engines!(a_burst_over_eight_instances_learns_at_most_the_limit);
