//! Round-trip budgets: how many DynamoDB and S3 calls each endpoint makes, counted by the
//! SDK interceptor, on both engines. Deterministic: no timing, only the calls sent.
//!
//! Budgets hold for a warm instance: the first create of a kind in a cold instance also
//! reserves a block of ids (one extra `UpdateItem` every `ID_BLOCK_SIZE` creates).

use serde_json::json;
use shared::domain::app::{App, AppSettings};
use shared::domain::user::User;
use shared::mail::{Delivery, MailConfig, Mailer};
use shared::service::reset::deliver_reset;
use shared::store::Tx;
use testkit::{Answer, Env, Req, get, on_both_engines, post, put};

const PASSWORD: &str = "correct-horse-battery";

async fn trips(env: &Env, req: Req) -> (Answer, Vec<String>) {
    let (resp, calls) = shared::trips::tracked(cube_auth::router::dispatch(&env.deps, req.build())).await;
    (Answer::from(resp), calls)
}

/// Asserts the call list and a ceiling, naming the endpoint.
fn budget(endpoint: &str, (resp, calls): &(Answer, Vec<String>), expected: &[&str], ceiling: usize) {
    assert!(resp.status < 300, "{endpoint}: {} {}", resp.status, String::from_utf8_lossy(&resp.body));
    assert_eq!(calls, expected, "{endpoint}");
    assert!(calls.len() <= ceiling, "{endpoint}: {} calls, budget {ceiling}", calls.len());
    assert!(!calls.iter().any(|c| c == "Scan"), "{endpoint}: no Scan");
}

async fn token(env: &Env, app: &App, login: &str) -> String {
    let body =
        json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": login, "password": PASSWORD}});
    trips(env, post("/session").json(body)).await.0.json()["session"]["token"].as_str().unwrap().to_string()
}

async fn every_endpoint_stays_within_its_round_trip_budget(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    // Warm the instance: reserve the first id blocks of users and sessions.
    let signup = |login: &str| {
        post("/users").header("CB-AuthKey", &app.auth_key).json(json!({"user": {"login": login, "email": format!("{login}@example.com"), "password": PASSWORD, "tag_list": "budget"}}))
    };
    trips(env, signup("warmup")).await;
    let me = token(env, &app, "warmup").await;

    let signed_up = trips(env, signup("measured")).await;
    // The signups-per-IP counter is a write of its own, sent while the password hashes: in the
    // user's transaction, concurrent signups from one address would conflict on it.
    budget("signup", &signed_up, &["GetItem", "UpdateItem", "TransactWriteItems"], 3);
    let id = signed_up.0.json()["user"]["id"].as_i64().unwrap();

    let login = trips(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": "measured", "password": PASSWORD}}))).await;
    // The attempt takes its place in the three login limits (a conditional update each, at
    // once) before the user read and the session write, all while the password hashes; a
    // match gives the places back (three updates at once, after the hash).
    const RESERVE: [&str; 3] = ["UpdateItem", "UpdateItem", "UpdateItem"];
    let expected = [&["BatchGetItem"][..], &RESERVE, &["GetItem", "TransactWriteItems"], &RESERVE].concat();
    budget("login (POST /session)", &login, &expected, 9);

    let app_session =
        trips(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    budget("application session", &app_session, &["GetItem", "PutItem"], 2);

    // The instance made the session, so it reads the session's user with it.
    budget("get session", &trips(env, get("/session.json").token(&me)).await, &["BatchGetItem"], 1);
    // The users named by id go with the session whatever the instance knows.
    budget("get user by id", &trips(env, get(&format!("/users/{id}.json")).token(&me)).await, &["BatchGetItem"], 1);
    // The login's marker goes with the session (the instance knows its application).
    budget(
        "V2 by login",
        &trips(env, get("/users/v2.json?login=measured").token(&me)).await,
        &["BatchGetItem", "BatchGetItem"],
        2,
    );
    budget(
        "V2 by tag",
        &trips(env, get("/users/v2.json?user_tags=budget").token(&me)).await,
        &["GetItem", "Query", "BatchGetItem"],
        3,
    );
    budget(
        "V1 by login",
        &trips(env, get("/users/by_login.json?login=measured").token(&me)).await,
        &["GetItem", "GetItem", "BatchGetItem"],
        3,
    );

    let update =
        trips(env, put(&format!("/users/{id}.json")).token(&me).json(json!({"user": {"full_name": "Renamed"}}))).await;
    assert_eq!(update.0.status, 403, "only one's own user");
    let my_id = trips(env, get("/session").token(&me)).await.0.json()["session"]["user_id"].as_i64().unwrap();
    let update =
        trips(env, put(&format!("/users/{my_id}.json")).token(&me).json(json!({"user": {"full_name": "Renamed"}})))
            .await;
    budget("update profile", &update, &["GetItem", "GetItem", "TransactWriteItems"], 3);

    let login_on_app_session = {
        let app_token = app_session.0.json()["session"]["token"].as_str().unwrap().to_string();
        trips(env, post("/login.json").token(&app_token).json(json!({"login": "measured", "password": PASSWORD}))).await
    };
    // The session, then the application and the login's marker (with the password hash);
    // then, while the password hashes, the attempt's places and the read of the user, which
    // go out together and may come back in any order; after a match, the bind and the
    // places given back.
    let (resp, calls) = &login_on_app_session;
    let mut concurrent = calls.get(2..6).unwrap_or_default().to_vec();
    concurrent.sort();
    let in_order = [&calls[..2.min(calls.len())], &concurrent[..], calls.get(6..).unwrap_or_default()].concat();
    let expected =
        [&["GetItem", "BatchGetItem"][..], &["GetItem"], &RESERVE, &["TransactWriteItems"], &RESERVE].concat();
    budget("POST /login", &(resp.clone(), in_order), &expected, 10);
}

async fn v2_by_login_costs_the_same_whatever_the_application_size(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let now = env.clock().now();
    let mut work = Vec::new();
    for i in 0..300 {
        let id = env.store().next_id("users").await.unwrap();
        let user = User {
            id,
            app_id: app.id,
            login: Some(format!("crowd{i}")),
            full_name: Some(format!("Crowd Member {i}")),
            tags: vec!["crowd".into()],
            password_hash: Some("x".into()),
            created_at: now,
            updated_at: now,
            ..User::default()
        };
        let mut tx = Tx::new();
        env.store().tx_insert_user(&mut tx, &user, now);
        work.push(tx);
    }
    for tx in work {
        env.store().commit(tx).await.unwrap();
    }
    let session = trips(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    let me = session.0.json()["session"]["token"].as_str().unwrap().to_string();
    let small = trips(env, get("/users/v2.json?login=crowd7").token(&me)).await;
    budget("V2 by login among 300", &small, &["BatchGetItem", "BatchGetItem"], 2);
    let list = trips(env, get("/users/v2.json?login[in]=crowd1,crowd2,crowd250").token(&me)).await;
    budget("V2 by three logins among 300", &list, &["BatchGetItem", "BatchGetItem"], 2);
    // A tag that 300 users carry: one query of its items, then only the page of users.
    let tagged = trips(env, get("/users/v2.json?user_tags=crowd&limit=20").token(&me)).await;
    budget("V2 by a popular tag", &tagged, &["GetItem", "Query", "BatchGetItem"], 3);
    // Counted up to the next page and one more (counted_matches), not all 300.
    assert_eq!(tagged.0.json()["total_entries"], 41);
}

async fn blob_endpoints_make_few_calls_and_presigning_none(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    trips(
        env,
        post("/users")
            .header("CB-AuthKey", &app.auth_key)
            .json(json!({"user": {"login": "filer", "password": PASSWORD}})),
    )
    .await;
    let me = token(env, &app, "filer").await;
    let body = json!({"blob": {"name": "a.png", "content_type": "image/png", "public": true}});
    trips(env, post("/blobs.json").token(&me).json(body.clone())).await;
    let created = trips(env, post("/blobs.json").token(&me).json(body)).await;
    budget("create blob (presigned POST signed locally)", &created, &["GetItem", "TransactWriteItems"], 2);
    let uid = created.0.json()["blob"]["uid"].as_str().unwrap().to_string();
    // Listing one's files: the session, then the page's links beside the count, then the
    // page's records, whatever the number of files.
    let listed = trips(env, get("/blobs.json?per_page=1").token(&me)).await;
    assert_eq!(listed.0.status, 200, "{}", String::from_utf8_lossy(&listed.0.body));
    assert_eq!(
        (listed.0.json()["total_entries"].as_i64(), listed.0.json()["items"].as_array().map(Vec::len)),
        (Some(2), Some(1))
    );
    let mut calls = listed.1.clone();
    calls.sort();
    assert_eq!(calls, ["BatchGetItem", "GetItem", "GetItem", "Query"], "list blobs");
    let deep = trips(env, get("/blobs.json?page=1001&per_page=1").token(&me)).await;
    assert_eq!(
        (deep.0.status, deep.1.as_slice()),
        (422, ["GetItem".to_string()].as_slice()),
        "a page too deep reads nothing"
    );
    let download = trips(env, get(&format!("/blobs/{uid}"))).await;
    assert_eq!(download.0.status, 302);
    assert_eq!(download.1, ["GetItem"], "a public download is one read; the presigned GET costs nothing");
}

async fn a_reset_request_does_the_same_calls_for_known_and_unknown_addresses(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    trips(
        env,
        post("/users")
            .header("CB-AuthKey", &app.auth_key)
            .json(json!({"user": {"login": "known", "email": "known@example.com", "password": PASSWORD}})),
    )
    .await;
    let session = trips(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    let me = session.0.json()["session"]["token"].as_str().unwrap().to_string();
    let known =
        trips(env, post("/users/password/reset.json").token(&me).json(json!({"email": "known@example.com"}))).await;
    let unknown =
        trips(env, post("/users/password/reset.json").token(&me).json(json!({"email": "unknown@example.com"}))).await;
    assert_eq!((known.0.status, unknown.0.status), (200, 200));
    assert_eq!(known.0.body, unknown.0.body);
    // The counters and the address lookup go out together, so they may come back in either
    // order: compare the calls as sets with counts.
    let sorted = |(resp, calls): &(Answer, Vec<String>)| {
        let mut calls = calls.clone();
        calls.sort();
        (resp.clone(), calls)
    };
    let (known, unknown) = (sorted(&known), sorted(&unknown));
    assert_eq!(known.1, unknown.1, "the same calls");
    budget("reset request", &known, &["GetItem", "GetItem", "GetItem", "PutItem", "TransactWriteItems"], 5);

    // The mail sender, which the stream gives only the outbox key: one read of everything
    // it needs, the token's transaction, and the dequeue after the mail went out.
    let queued = env.store().pending_resets(env.clock().now()).await.unwrap();
    assert_eq!(queued.len(), 1, "the known address queued one mail, the unknown one none");
    let mailer = Mailer::new(&MailConfig {
        from: "Budgets <no-reply@example.test>".into(),
        public_base_url: "https://api.example.test".into(),
        delivery: Delivery::Files(env.mail_outbox().join("budgets")),
    })
    .unwrap();
    let (sent, calls) = shared::trips::tracked(deliver_reset(&env.deps, &mailer, &queued[0].sk)).await;
    assert!(sent.unwrap().is_some_and(|link| link.contains("token=")), "mailed");
    assert_eq!(calls, ["BatchGetItem", "TransactWriteItems", "DeleteItem"], "sending a reset mail");
}

/// This test's instance beside another one (its own caches and hints) on the same table.
fn another_instance(env: &Env) -> shared::Deps {
    let mut deps = env.deps.clone();
    deps.store = shared::store::Store::new(env.store().client().clone(), env.table(), env.deps.config.id_block_size);
    deps
}

async fn trips_on(deps: &shared::Deps, req: Req) -> (Answer, Vec<String>) {
    let (resp, calls) = shared::trips::tracked(cube_auth::router::dispatch(deps, req.build())).await;
    (Answer::from(resp), calls)
}

/// What an instance reads with a session is a guess from the last time it saw the session;
/// the answer comes from the session read, and a wrong guess costs one read more.
async fn reads_with_the_session_never_answer_for_another_user(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let mut ids = Vec::new();
    for login in ["first", "second"] {
        let body = json!({"user": {"login": login, "password": PASSWORD}});
        let (signed_up, _) = trips(env, post("/users").header("CB-AuthKey", &app.auth_key).json(body)).await;
        ids.push(signed_up.json()["user"]["id"].as_i64().unwrap());
    }
    let (session, _) =
        trips(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    let token = session.json()["session"]["token"].as_str().unwrap().to_string();
    let other = another_instance(env);
    let login_as =
        |login: &'static str| post("/login.json").token(&token).json(json!({"login": login, "password": PASSWORD}));
    let user_of = |answer: &Answer| answer.json()["session"]["user"]["id"].as_i64();

    // The other instance logs the application session in; this one last saw it without a user.
    assert_eq!(trips_on(&other, login_as("first")).await.0.status, 200);
    let (seen, calls) = trips(env, get("/session.json").token(&token)).await;
    assert_eq!(user_of(&seen), Some(ids[0]));
    assert_eq!(calls, ["GetItem", "GetItem"], "no guess: the session, then its user");

    // Now it guesses "first"; the other instance logs the session in as "second" meanwhile.
    assert_eq!(trips_on(&other, login_as("second")).await.0.status, 200);
    let (seen, calls) = trips(env, get("/session.json").token(&token)).await;
    assert_eq!(user_of(&seen), Some(ids[1]), "the session's user, not the guessed one");
    assert_eq!(seen.json()["session"]["user"]["login"], "second");
    assert_eq!(calls, ["BatchGetItem", "GetItem"], "the guess missed: the user read after the session");
    let (seen, calls) = trips(env, get("/session.json").token(&token)).await;
    assert_eq!(user_of(&seen), Some(ids[1]));
    assert_eq!(calls, ["BatchGetItem"], "the guess holds again");

    // A search by login: the marker goes with the session only where the application is known.
    let search = || get("/users/v2.json?login=first").token(&token);
    let (found, calls) = trips(env, search()).await;
    assert_eq!(found.json()["items"][0]["id"].as_i64(), Some(ids[0]), "{}", String::from_utf8_lossy(&found.body));
    assert_eq!(calls, ["BatchGetItem", "BatchGetItem"]);
    let (found, calls) = trips_on(&another_instance(env), search()).await;
    assert_eq!(found.json()["items"][0]["id"].as_i64(), Some(ids[0]));
    // The session alone; then the marker beside the application (for the search limit: a new
    // instance has not cached it); then the user.
    let (first, mut rest) = (calls[0].clone(), calls[1..].to_vec());
    rest.sort();
    assert_eq!(first, "GetItem");
    assert_eq!(rest, ["BatchGetItem", "BatchGetItem", "GetItem"]);

    // A token no instance has seen reads its session alone, whatever its request names.
    let made_up =
        get(&format!("/users/v2.json?id[in]={},{}", ids[0], ids[1])).token("0123456789abcdef0123456789abcdef");
    let (refused, calls) = trips(env, made_up).await;
    assert_eq!(refused.status, 401);
    assert_eq!(calls, ["GetItem"]);

    // An ended session answers 401 however much was read with it.
    let (ended, _) = trips_on(&other, testkit::delete("/session.json").token(&token)).await;
    assert!(ended.status < 300, "{}", ended.status);
    let (seen, calls) = trips(env, get("/session.json").token(&token)).await;
    assert_eq!(seen.status, 401);
    assert_eq!(calls, ["BatchGetItem"]);
    let (seen, calls) = trips(env, get("/session.json").token(&token)).await;
    assert_eq!(seen.status, 401);
    assert_eq!(calls, ["GetItem"], "the ended session is forgotten");

    // Recording the activity (at most once a minute) writes the user: the user read with the
    // session is older than that write, so it is read again.
    let mine = crate::token(env, &app, "first").await;
    let (seen, calls) = trips(env, get("/session.json").token(&mine)).await;
    assert_eq!((user_of(&seen), calls), (Some(ids[0]), vec!["BatchGetItem".to_string()]));
    env.clock().advance(120);
    // The clock runs on in real time: the write's second lies between these two readings.
    let before = shared::clock::iso8601(env.clock().now());
    let (seen, calls) = trips(env, get("/session.json").token(&mine)).await;
    let after = shared::clock::iso8601(env.clock().now());
    assert_eq!(calls, ["BatchGetItem", "TransactWriteItems", "GetItem"]);
    let answered = seen.json()["session"]["user"]["last_request_at"].as_str().unwrap_or_default().to_string();
    assert!(
        before <= answered && answered <= after,
        "the answer holds the write: {answered} not in {before}..={after}"
    );

    // So is an expired one: its holder cannot have reads made for it over and over.
    let (session, _) =
        trips(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    let expiring = session.json()["session"]["token"].as_str().unwrap().to_string();
    let by_ids = || get(&format!("/users/v2.json?id[in]={},{}", ids[0], ids[1])).token(&expiring);
    assert_eq!(trips(env, by_ids()).await.1, ["BatchGetItem"], "known live: the users go with the session");
    env.clock().advance(3 * 3600);
    let (refused, calls) = trips(env, by_ids()).await;
    assert_eq!((refused.status, calls), (401, vec!["BatchGetItem".to_string()]));
    let (refused, calls) = trips(env, by_ids()).await;
    assert_eq!((refused.status, calls), (401, vec!["GetItem".to_string()]), "the expired session is forgotten");
}

on_both_engines!(
    every_endpoint_stays_within_its_round_trip_budget,
    v2_by_login_costs_the_same_whatever_the_application_size,
    blob_endpoints_make_few_calls_and_presigning_none,
    a_reset_request_does_the_same_calls_for_known_and_unknown_addresses,
    reads_with_the_session_never_answer_for_another_user,
);

/// The IAM policies, held to the actions the same requests need.
mod policies;
