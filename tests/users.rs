//! Users API flows (update, delete, V2 and V1 retrieval) through the local router, on
//! embedded dynoxide and on AWS DynamoDB Local.

use serde_json::{Value, json};
use shared::domain::app::{App, AppSettings};
use testkit::{Answer, Env, Req, delete, get, on_both_engines, post, put};

const SESSION_MISSING: &str = r#"{"errors":{"base":["Required session does not exist"]}}"#;
const PASSWORD: &str = "correct-horse-battery";

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

fn text(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

async fn app_session(env: &Env, app: &App) -> String {
    let resp = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    resp.json()["session"]["token"].as_str().unwrap().to_string()
}

async fn signup(env: &Env, app: &App, user: Value) -> Value {
    let resp = call(env, post("/users").header("CB-AuthKey", &app.auth_key).json(json!({ "user": user }))).await;
    assert_eq!(resp.status, 201, "{}", text(&resp));
    resp.json()["user"].clone()
}

async fn log_in(env: &Env, app: &App, login: &str, password: &str) -> Answer {
    call(
        env,
        post("/session").json(
            json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": login, "password": password}}),
        ),
    )
    .await
}

async fn token_of(env: &Env, app: &App, login: &str, password: &str) -> String {
    let resp = log_in(env, app, login, password).await;
    assert_eq!(resp.status, 201, "{}", text(&resp));
    resp.json()["session"]["token"].as_str().unwrap().to_string()
}

async fn v2(env: &Env, token: &str, query: &str) -> Answer {
    call(env, get(&format!("/users/v2.json?{query}")).token(token)).await
}

fn found(resp: &Answer) -> Vec<i64> {
    resp.json()["items"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect()
}

async fn a_password_change_needs_the_old_password_and_ends_the_other_sessions(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let user = signup(env, &app, json!({"login": "pat", "password": PASSWORD})).await;
    let id = user["id"].as_i64().unwrap();
    let (a, b, c) = (
        token_of(env, &app, "pat", PASSWORD).await,
        token_of(env, &app, "pat", PASSWORD).await,
        token_of(env, &app, "pat", PASSWORD).await,
    );
    let path = format!("/users/{id}.json");

    let missing = call(env, put(&path).token(&a).json(json!({"user": {"password": "a-new-password-1"}}))).await;
    assert_eq!((missing.status, text(&missing).as_str()), (422, r#"{"errors":{"old_password":["can't be blank"]}}"#));
    let wrong = call(
        env,
        put(&path).token(&a).json(json!({"user": {"password": "a-new-password-1", "old_password": "nope-nope-nope"}})),
    )
    .await;
    assert_eq!((wrong.status, text(&wrong).as_str()), (422, r#"{"errors":{"old_password":["is invalid"]}}"#));
    assert_eq!(log_in(env, &app, "pat", PASSWORD).await.status, 201, "failed changes changed nothing");
    assert_eq!(call(env, get("/session").token(&b)).await.status, 200, "failed changes ended no session");

    let changed = call(
        env,
        put(&path).token(&a).json(json!({"user": {"password": "a-new-password-1", "old_password": PASSWORD}})),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", text(&changed));
    assert!(!text(&changed).contains("argon2"));
    for other in [&b, &c] {
        let resp = call(env, get("/session").token(other)).await;
        assert_eq!((resp.status, text(&resp).as_str()), (401, SESSION_MISSING));
    }
    assert_eq!(call(env, get("/session").token(&a)).await.status, 200, "the changing session keeps working");
    assert_eq!(log_in(env, &app, "pat", PASSWORD).await.status, 401, "the old password fails");
    assert_eq!(log_in(env, &app, "pat", "a-new-password-1").await.status, 201, "the new one works");
    // Flutter's camelCase key works too.
    let flutter = call(
        env,
        put(&path)
            .token(&a)
            .json(json!({"user": {"password": "a-newer-password-2", "oldPassword": "a-new-password-1"}})),
    )
    .await;
    assert_eq!(flutter.status, 200);
}

async fn profile_updates_swap_unique_and_search_entries(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let ann = signup(env, &app, json!({"login": "ann", "email": "ann@example.com", "password": PASSWORD, "full_name": "Ann Original", "tag_list": "old"})).await;
    signup(env, &app, json!({"login": "bob", "password": PASSWORD})).await;
    let token = token_of(env, &app, "ann", PASSWORD).await;
    let path = format!("/users/{}", ann["id"]);

    let clash =
        call(env, put(&path).token(&token).json(json!({"user": {"login": "BOB", "old_password": PASSWORD}}))).await;
    assert_eq!((clash.status, text(&clash).as_str()), (422, r#"{"errors":{"login":["has already been taken"]}}"#));

    let resp = call(env, put(&path).token(&token).json(json!({"user": {"login": "annie", "old_password": PASSWORD, "full_name": "  Annie   Newname ",
        "tag_list": [" VIP ", "vip", "beta"], "website": "example.org", "custom_data": "{\"a\":1}", "id": 1, "is_guest": true}}))).await;
    assert_eq!(resp.status, 200, "{}", text(&resp));
    let user = resp.json()["user"].clone();
    assert_eq!(user["login"], "annie");
    assert_eq!(user["full_name"], "Annie   Newname");
    assert_eq!(user["user_tags"], "VIP,beta");
    assert_eq!(user["website"], "http://example.org");
    assert_eq!(user["id"], ann["id"], "id is not writable");
    assert_eq!(user["is_guest"], Value::Null, "is_guest is not writable");

    assert_eq!(found(&v2(env, &token, "login=annie").await), [ann["id"].as_i64().unwrap()]);
    assert!(found(&v2(env, &token, "login=ann").await).is_empty(), "the old login finds nothing");
    assert_eq!(found(&v2(env, &token, "full_name[start_with]=anni").await).len(), 1);
    assert!(found(&v2(env, &token, "full_name[start_with]=ann%20o").await).is_empty(), "the old name finds nothing");
    assert_eq!(found(&v2(env, &token, "user_tags=vip").await).len(), 1);
    assert!(found(&v2(env, &token, "user_tags=old").await).is_empty());
    // The old login is free again.
    signup(env, &app, json!({"login": "ann", "password": PASSWORD})).await;

    let too_many = call(env, put(&path).token(&token).json(json!({"user": {"tag_list": "a,b,c,d,e,f"}}))).await;
    assert_eq!(too_many.status, 422);
    let unconfirmed = call(env, put(&path).token(&token).json(json!({"user": {"login": null}}))).await;
    assert_eq!(
        text(&unconfirmed),
        r#"{"errors":{"old_password":["can't be blank"]}}"#,
        "dropping the login needs the password"
    );
    let neither =
        call(env, put(&path).token(&token).json(json!({"user": {"login": null, "old_password": PASSWORD}}))).await;
    assert_eq!(neither.status, 200, "email still identifies the user");
    let none =
        call(env, put(&path).token(&token).json(json!({"user": {"email": null, "old_password": PASSWORD}}))).await;
    assert_eq!(none.status, 422, "a user needs a login or an email");
}

async fn only_the_own_user_may_be_changed(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let me = signup(env, &app, json!({"login": "me_user", "password": PASSWORD})).await;
    let other = signup(env, &app, json!({"login": "other_user", "password": PASSWORD})).await;
    let token = token_of(env, &app, "me_user", PASSWORD).await;
    let app_token = app_session(env, &app).await;
    let resp =
        call(env, put(&format!("/users/{}", other["id"])).token(&token).json(json!({"user": {"full_name": "x"}})))
            .await;
    assert_eq!(resp.status, 403);
    let resp =
        call(env, put(&format!("/users/{}", me["id"])).token(&app_token).json(json!({"user": {"full_name": "x"}})))
            .await;
    assert_eq!((resp.status, text(&resp).as_str()), (403, r#"{"errors":["Forbidden. Need user."]}"#));
    let resp = call(env, delete(&format!("/users/{}.json", other["id"])).token(&token)).await;
    assert_eq!(resp.status, 403);
    let resp = call(env, get(&format!("/users/{}.json", other["id"])).token(&token)).await;
    assert_eq!(resp.status, 200, "reading others is allowed");
}

async fn a_deleted_user_leaves_nothing_behind(env: &Env) {
    let app = env.app(AppSettings { users_v1_listing: true, ..AppSettings::default() }).await;
    let gone = signup(
        env,
        &app,
        json!({"login": "gone", "email": "gone@example.com", "password": PASSWORD, "full_name": "Gone Person",
        "tag_list": "ghost", "phone": "+100", "facebook_id": "fb-gone", "external_user_id": 77}),
    )
    .await;
    let id = gone["id"].as_i64().unwrap();
    let (t1, t2) = (token_of(env, &app, "gone", PASSWORD).await, token_of(env, &app, "gone", PASSWORD).await);
    let watcher = app_session(env, &app).await;

    let resp = call(env, delete(&format!("/users/{id}.json")).token(&t1)).await;
    assert_eq!((resp.status, resp.body.len()), (200, 0));
    for token in [&t1, &t2] {
        let resp = call(env, get("/session.json").token(token)).await;
        assert_eq!((resp.status, text(&resp).as_str()), (401, SESSION_MISSING));
    }
    assert_eq!(log_in(env, &app, "gone", PASSWORD).await.status, 404, "login finds no user");
    for query in [
        format!("id={id}"),
        "login=gone".into(),
        "email=gone@example.com".into(),
        "user_tags=ghost".into(),
        "full_name[start_with]=gone".into(),
        "phone=%2B100".into(),
        "facebook_id=fb-gone".into(),
    ] {
        let resp = v2(env, &watcher, &query).await;
        assert_eq!(resp.json()["total_entries"], 0, "{query}: {}", text(&resp));
    }
    for path in [
        format!("/users/{id}"),
        "/users/by_login?login=gone".into(),
        "/users/by_email?email=gone@example.com".into(),
        "/users/external/77".into(),
        "/users/phone?phone=%2B100".into(),
        "/users/by_facebook_id?facebook_id=fb-gone".into(),
    ] {
        assert_eq!(call(env, get(&path).token(&watcher)).await.status, 404, "{path}");
    }
    let tags = call(env, get("/users/by_tags?tags=ghost").token(&watcher)).await;
    assert_eq!(tags.json()["total_entries"], 0);
    let listed = call(env, get("/users.json").token(&watcher)).await;
    assert_eq!(listed.json()["total_entries"], 0, "{}", text(&listed));
    // Every unique value is free again.
    signup(env, &app, json!({"login": "gone", "email": "gone@example.com", "password": PASSWORD, "facebook_id": "fb-gone", "external_user_id": 77})).await;
}

async fn delete_by_external_id_works_only_for_the_caller(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    signup(env, &app, json!({"login": "ext_one", "password": PASSWORD, "external_user_id": 501})).await;
    signup(env, &app, json!({"login": "ext_two", "password": PASSWORD, "external_user_id": 502})).await;
    let token = token_of(env, &app, "ext_one", PASSWORD).await;
    assert_eq!(call(env, delete("/users/external/502.json").token(&token)).await.status, 403);
    assert_eq!(call(env, delete("/users/external/503.json").token(&token)).await.status, 404);
    assert_eq!(call(env, delete("/users/external/501.json").token(&token)).await.status, 200);
    assert_eq!(log_in(env, &app, "ext_one", PASSWORD).await.status, 404);
}

/// Eight users with known names, tags and dates, for the operator checks.
async fn directory(env: &Env) -> (App, String, Vec<i64>) {
    let app = env.app(AppSettings { users_v1_listing: true, ..AppSettings::default() }).await;
    let mut ids = Vec::new();
    for (i, (name, tags)) in [
        ("Hunter Alpha", "vip,red"),
        ("Hunter Beta", "red"),
        ("Hunter Gamma", "blue"),
        ("Hunting Delta", ""),
        ("Hunter Epsilon", "vip"),
        ("Hunter Zeta", "vip,blue"),
        ("Hunter Eta", ""),
        ("Other Person", "vip"),
    ]
    .iter()
    .enumerate()
    {
        let user = signup(
            env,
            &app,
            json!({"login": format!("dir{i}"), "email": format!("dir{i}@example.com"), "password": PASSWORD,
            "full_name": name, "tag_list": tags, "phone": if i % 2 == 0 { "+200" } else { "+201" }}),
        )
        .await;
        ids.push(user["id"].as_i64().unwrap());
        env.clock().advance(100);
    }
    let token = app_session(env, &app).await;
    (app, token, ids)
}

async fn v2_serves_every_operator_class(env: &Env) {
    let (_, token, ids) = directory(env).await;
    let created: Vec<i64> = {
        let all = v2(
            env,
            &token,
            &format!("id[in][]={}", ids.iter().map(i64::to_string).collect::<Vec<_>>().join("&id[in][]=")),
        )
        .await;
        all.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| shared::domain::dates::parse_date(u["created_at"].as_str().unwrap()).unwrap())
            .collect()
    };
    // eq, in
    assert_eq!(found(&v2(env, &token, &format!("id={}", ids[2])).await), [ids[2]]);
    assert_eq!(found(&v2(env, &token, "login[in][]=dir1&login[in][]=dir3&login[in][]=nobody").await), [ids[1], ids[3]]);
    assert_eq!(found(&v2(env, &token, "email[in]=dir0@example.com,DIR7@example.com").await), [ids[0], ids[7]]);
    assert_eq!(found(&v2(env, &token, "phone=%2B201").await), [ids[1], ids[3], ids[5], ids[7]]);
    assert_eq!(found(&v2(env, &token, "full_name=hunter%20beta").await), [ids[1]]);
    // start_with: prefix, page capped at five, total counts all
    let resp = v2(env, &token, "full_name[start_with]=hunt&limit=50").await;
    assert_eq!(resp.json()["limit"], 5);
    assert_eq!(resp.json()["total_entries"], 7);
    assert_eq!(found(&resp), ids[..5]);
    let resp = v2(env, &token, "full_name[start_with]=hunte&offset=5").await;
    assert_eq!(found(&resp), [ids[6]]);
    // tags: eq, in, nin
    assert_eq!(found(&v2(env, &token, "user_tags=vip").await), [ids[0], ids[4], ids[5], ids[7]]);
    assert_eq!(
        found(&v2(env, &token, "user_tags[in][]=red&user_tags[in][]=blue&user_tags[nin][]=vip").await),
        [ids[1], ids[2]]
    );
    // nin on a stand-alone field beside a primary one
    assert_eq!(
        found(&v2(env, &token, &format!("user_tags=vip&id[nin][]={}&id[nin][]={}", ids[0], ids[7])).await),
        [ids[4], ids[5]]
    );
    // compare operators on dates (ISO, Unix seconds, JS Date text)
    let iso = shared::clock::iso8601(created[3]);
    assert_eq!(
        found(&v2(env, &token, &format!("full_name[start_with]=hunt&created_at[gt]={iso}&limit=5")).await),
        [ids[4], ids[5], ids[6]]
    );
    assert_eq!(
        found(&v2(env, &token, &format!("user_tags=vip&created_at[lte]={}", created[4])).await),
        [ids[0], ids[4]]
    );
    let js = chrono::DateTime::from_timestamp(created[5], 0)
        .unwrap()
        .format("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")
        .to_string();
    let js = js.replace(' ', "%20").replace('+', "%2B").replace(':', "%3A");
    assert_eq!(found(&v2(env, &token, &format!("user_tags=vip&created_at[gte]={js}")).await), [ids[5], ids[7]]);
    assert_eq!(found(&v2(env, &token, &format!("user_tags=vip&created_at[lt]={}", created[4])).await), [ids[0]]);
    // sorting and paging
    assert_eq!(found(&v2(env, &token, "user_tags=vip&sort_desc=id").await), [ids[7], ids[5], ids[4], ids[0]]);
    assert_eq!(found(&v2(env, &token, "user_tags=vip&sort_asc=full_name").await), [ids[0], ids[4], ids[5], ids[7]]);
    let page = v2(env, &token, "user_tags=vip&limit=2&offset=2").await;
    assert_eq!(
        (found(&page), page.json()["total_entries"].as_i64(), page.json()["skip"].as_i64()),
        (vec![ids[5], ids[7]], Some(4), Some(2))
    );
    // a user session may search too
    let user_token = token_of(env, &env_app(env, &token).await, "dir0", PASSWORD).await;
    assert_eq!(found(&v2(env, &user_token, "login=dir0").await), [ids[0]]);
}

/// The application behind a session (tests only).
async fn env_app(env: &Env, token: &str) -> App {
    let session = env.store().get_session(&shared::crypto::random::token_hash(token)).await.unwrap().unwrap();
    env.store().get_app(session.app_id).await.unwrap().unwrap()
}

async fn v2_rule_violations_say_which_rule(env: &Env) {
    let (_, token, _) = directory(env).await;
    for (query, rule) in [
        ("login[nin][]=dir1", "At least one of"),
        ("user_tags[nin][]=vip", "At least one of"),
        ("created_at[gte]=1690886495", "At least one of"),
        ("id=1&last_request_at=2018-12-06T09:21:41Z", "additional field"),
        ("login[start_with]=dir", "at least 4 characters"),
        ("id[gt]=3", "compare operators are for dates"),
        ("login=dir1&created_at[gt]=someday", "needs a date"),
        ("", "At least one of"),
    ] {
        let resp = v2(env, &token, query).await;
        assert_eq!(resp.status, 422, "{query}");
        assert!(text(&resp).contains(rule), "{query}: {}", text(&resp));
    }
}

async fn v1_routes_answer_in_their_shapes(env: &Env) {
    let (app, token, ids) = directory(env).await;
    let one = call(env, get(&format!("/users/{}.json", ids[1])).token(&token)).await;
    assert_eq!(one.json()["user"]["login"], "dir1");
    assert_eq!(call(env, get("/users/by_login.json?login=DIR2").token(&token)).await.json()["user"]["id"], ids[2]);
    assert_eq!(
        call(env, get("/users/by_email?email=dir3%40example.com").token(&token)).await.json()["user"]["id"],
        ids[3]
    );
    assert_eq!(
        call(env, get("/users/by_phone?phone=%2B200").token(&token)).await.json()["user"]["id"],
        ids[0],
        "lowest id first"
    );
    assert_eq!(call(env, get("/users/phone.json?phone=%2B201").token(&token)).await.json()["user"]["id"], ids[1]);
    for missing in
        ["/users/by_login?login=nobody", "/users/by_twitter_id?twitter_id=x", "/users/999999", "/users/not-a-number"]
    {
        let resp = call(env, get(missing).token(&token)).await;
        assert_eq!((resp.status, text(&resp).as_str()), (404, r#"{"errors":["Not found"]}"#), "{missing}");
    }
    let by_name = call(env, get("/users/by_full_name.json?full_name=hunter%20alpha").token(&token)).await.json();
    assert_eq!(by_name["total_entries"], 1);
    assert_eq!(by_name["items"][0]["user"]["id"], ids[0]);
    for query in ["tags[]=red&tags[]=blue", "tags=red,blue"] {
        let by_tags =
            call(env, get(&format!("/users/by_tags.json?{query}&per_page=2&page=2")).token(&token)).await.json();
        assert_eq!(
            (by_tags["current_page"].as_i64(), by_tags["per_page"].as_i64(), by_tags["total_entries"].as_i64()),
            (Some(2), Some(2), Some(4))
        );
        let page: Vec<i64> =
            by_tags["items"].as_array().unwrap().iter().map(|i| i["user"]["id"].as_i64().unwrap()).collect();
        assert_eq!(page, [ids[2], ids[5]]);
    }
    // Listing, as SDK 6 sends it: filter[], order, page, per_page.
    let filtered = call(
        env,
        get(&format!(
            "/users.json?filter[]=number%20id%20in%20{}%2C{}%2C{}&order=desc%20string%20id&page=1&per_page=2",
            ids[1], ids[4], ids[6]
        ))
        .token(&token),
    )
    .await
    .json();
    assert_eq!(filtered["total_entries"], 3);
    assert_eq!(
        filtered["items"].as_array().unwrap().iter().map(|i| i["user"]["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [ids[6], ids[4]]
    );
    let by_date = call(env, get("/users.json?order=desc+date+created_at&per_page=3").token(&token)).await.json();
    // Eight users, counted up to the next page and one more (3 + 3 + 1): "at least 7".
    assert_eq!(by_date["total_entries"], 7);
    assert_eq!(
        by_date["items"].as_array().unwrap().iter().map(|i| i["user"]["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [ids[7], ids[6], ids[5]]
    );
    let default = call(env, get("/users.json?page=2&per_page=3").token(&token)).await.json();
    assert_eq!(
        default["items"].as_array().unwrap().iter().map(|i| i["user"]["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        ids[3..6]
    );
    let by_param = call(env, get("/users.json?login=dir5").token(&token)).await.json();
    assert_eq!(by_param["total_entries"], 1);
    let bad = call(env, get("/users.json?filter[]=number%20custom_data%20eq%201").token(&token)).await;
    assert_eq!(bad.status, 422);

    // With V1 listing off, the documented 403.
    let mut off = app.clone();
    off.settings.users_v1_listing = false;
    env.store().update_app(&off, env.clock().now()).await.unwrap();
    let forbidden = call(env, get("/users.json").token(&token)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        text(&forbidden),
        format!(
            r#"{{"errors":{{"base":["Users retrieving forbidden in admin panel, application settings. Setup it here https://admin.connectycube.com/apps/{}/service/users/settings"]}}}}"#,
            app.id
        )
    );
}

async fn last_request_at_follows_activity(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let user = signup(env, &app, json!({"login": "active", "password": PASSWORD})).await;
    let token = token_of(env, &app, "active", PASSWORD).await;
    let seen = |resp: Answer| {
        shared::domain::dates::parse_date(resp.json()["items"][0]["last_request_at"].as_str().unwrap()).unwrap()
    };
    let first = seen(v2(env, &token, &format!("id={}", user["id"])).await);
    env.clock().advance(30);
    assert_eq!(seen(v2(env, &token, &format!("id={}", user["id"])).await), first, "at most one write a minute");
    env.clock().advance(45);
    let later = seen(v2(env, &token, &format!("id={}", user["id"])).await);
    assert!(later >= first + 75, "activity recorded: {first} → {later}");
}

async fn concurrent_renames_to_one_login_let_exactly_one_win(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let user = signup(env, &app, json!({"login": format!("renamer{i}"), "password": PASSWORD})).await;
        let token = token_of(env, &app, &format!("renamer{i}"), PASSWORD).await;
        let req = put(&format!("/users/{}", user["id"]))
            .token(&token)
            .json(json!({"user": {"login": "the_one", "old_password": PASSWORD}}))
            .build();
        let deps = env.deps.clone();
        tasks.push(tokio::spawn(async move { Answer::from(cube_auth::router::dispatch(&deps, req).await).status }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 9, "{statuses:?}");
    let token = app_session(env, &app).await;
    assert_eq!(v2(env, &token, "login=the_one").await.json()["total_entries"], 1);
    assert_eq!(
        v2(env, &token, "login[start_with]=rena").await.json()["total_entries"],
        9,
        "the losers kept their logins"
    );
}

/// Sends every request at once and returns the statuses in order.
async fn all_at_once(env: &Env, reqs: Vec<Req>) -> Vec<u16> {
    testkit::all_at_once(reqs, |req| {
        let deps = env.deps.clone();
        async move { Answer::from(cube_auth::router::dispatch(&deps, req).await).status }
    })
    .await
}

/// Changes of one user that race each other each land from a fresh read: none is answered
/// 5xx, a password change among a burst of renames and name changes lands, and so do they.
async fn concurrent_changes_of_one_user_all_land(env: &Env) {
    // Logins and emails change without the password here: one confirmed by the password would
    // rightly be refused once the password change beside it has landed.
    let app = env.app(AppSettings { identity_change_without_password: true, ..AppSettings::default() }).await;
    let user = signup(env, &app, json!({"login": "busy", "password": PASSWORD})).await;
    let path = format!("/users/{}", user["id"]);
    let token = token_of(env, &app, "busy", PASSWORD).await;
    let mut reqs: Vec<Req> =
        (0..16).map(|i| put(&path).token(&token).json(json!({"user": {"full_name": format!("Busy {i}")}}))).collect();
    reqs.push(put(&path).token(&token).json(json!({"user": {"login": "busier"}})));
    reqs.push(put(&path).token(&token).json(json!({"user": {"email": "busy@example.com"}})));
    let new_password = "a-brand-new-passphrase";
    reqs.push(put(&path).token(&token).json(json!({"user": {"password": new_password, "old_password": PASSWORD}})));
    let statuses = all_at_once(env, reqs).await;
    assert!(statuses.iter().all(|s| *s == 200), "every change lands: {statuses:?}");
    let me = call(env, get(&format!("{path}.json")).token(&token)).await.json();
    assert_eq!(
        (me["user"]["login"].as_str(), me["user"]["email"].as_str()),
        (Some("busier"), Some("busy@example.com"))
    );
    assert_eq!(log_in(env, &app, "busier", PASSWORD).await.status, 401, "the old password is gone");
    assert_eq!(log_in(env, &app, "busier", new_password).await.status, 201);
}

/// Two password changes that both give the right current password at once: one lands, and
/// the other, retried after losing the race, is checked again against the password now
/// stored, which it no longer names (no change rides on a check of a replaced password).
async fn a_retried_password_change_checks_the_current_password_again(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let user = signup(env, &app, json!({"login": "twice", "password": PASSWORD})).await;
    let path = format!("/users/{}", user["id"]);
    let token = token_of(env, &app, "twice", PASSWORD).await;
    let change = |to: &str| put(&path).token(&token).json(json!({"user": {"password": to, "old_password": PASSWORD}}));
    let statuses = all_at_once(env, vec![change("first-new-passphrase"), change("second-new-passphrase")]).await;
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [200, 422], "{statuses:?}");
    let winner = if statuses[0] == 200 { "first-new-passphrase" } else { "second-new-passphrase" };
    assert_eq!(log_in(env, &app, "twice", winner).await.status, 201);
}

/// Two logins that differ only in their kind of space (or a control character) are two
/// users, and an exact V2 or V1 lookup of either finds that one, never the other: a login's
/// marker is read by the value as sent, not as normalised for matching.
async fn logins_that_match_alike_are_still_looked_up_exactly(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let nbsp = signup(env, &app, json!({"login": "nb\u{a0}sp1", "password": PASSWORD})).await["id"].as_i64().unwrap();
    let plain = signup(env, &app, json!({"login": "nb sp1", "password": PASSWORD})).await["id"].as_i64().unwrap();
    let token = app_session(env, &app).await;
    assert_eq!(found(&v2(env, &token, "login=nb%C2%A0sp1").await), [nbsp]);
    assert_eq!(found(&v2(env, &token, "login=nb%20sp1").await), [plain]);
    assert_eq!(found(&v2(env, &token, "login[in][]=nb%C2%A0sp1&login[in][]=nb%20sp1").await), [nbsp, plain]);
    assert_eq!(found(&v2(env, &token, "login=nb%C2%A0%C2%A0sp1").await), Vec::<i64>::new());
    assert_eq!(found(&v2(env, &token, "login=nb%00%20sp1").await), Vec::<i64>::new());
    let by_login = call(env, get("/users/by_login.json?login=nb%C2%A0sp1").token(&token)).await;
    assert_eq!(by_login.json()["user"]["id"].as_i64(), Some(nbsp));
}

/// The iOS SDK posts form-encoded bodies with Rails brackets: signup, a profile change and a
/// login on an application session read them as they read JSON.
async fn form_encoded_bodies_sign_up_change_and_log_in(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let signup = format!("user[login]=formed&user[password]={PASSWORD}&user[tag_list]=a,b&user[full_name]=Form+Ed");
    let created = call(env, post("/users.json").header("CB-AuthKey", &app.auth_key).form(&signup)).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    assert_eq!(created.json()["user"]["full_name"], "Form Ed");
    assert_eq!(created.json()["user"]["user_tags"], "a,b");
    let id = created.json()["user"]["id"].as_i64().unwrap();
    let token = token_of(env, &app, "formed", PASSWORD).await;
    let change = "user[full_name]=Formed+Again&user[tag_list][]=c&user[tag_list][]=d";
    let changed = call(env, put(&format!("/users/{id}.json")).token(&token).form(change)).await;
    assert_eq!(changed.status, 200, "{}", text(&changed));
    assert_eq!(
        (changed.json()["user"]["full_name"].as_str(), changed.json()["user"]["user_tags"].as_str()),
        (Some("Formed Again"), Some("c,d"))
    );
    let app_token = app_session(env, &app).await;
    let login =
        call(env, post("/login.json").token(&app_token).form(&format!("login=formed&password={PASSWORD}"))).await;
    assert_eq!((login.status, login.json()["user"]["id"].as_i64()), (200, Some(id)), "{}", text(&login));
}

/// Items written before tag items carried dates and tags (and before their dated copies)
/// are brought to the current layout by `users reindex`; searches by date then find them.
async fn reindex_brings_older_index_items_to_the_current_layout(env: &Env) {
    use shared::store::item::ItemExt;
    let app = env.app(AppSettings::default()).await;
    let first = signup(
        env,
        &app,
        json!({"login": "older1", "password": PASSWORD, "tag_list": "legacy", "full_name": "Old One"}),
    )
    .await;
    let second = signup(env, &app, json!({"login": "older2", "password": PASSWORD, "tag_list": "legacy,x"})).await;
    let client = env.store().client();
    for item in env.all_items().await {
        let pk = item.str("pk").unwrap_or_default();
        let key = [("pk".to_string(), item["pk"].clone()), ("sk".to_string(), item["sk"].clone())];
        if pk.starts_with("TAGC#") {
            client.delete_item().table_name(env.table()).set_key(Some(key.into())).send().await.unwrap();
        } else if pk.starts_with("SEARCH#") {
            // The old key: `<value>#<id>`.
            let old_sk = item.str("sk").unwrap().replace('\u{1}', "#");
            let mut old = item.clone();
            old.insert("sk".into(), shared::store::item::s(old_sk));
            client.delete_item().table_name(env.table()).set_key(Some(key.into())).send().await.unwrap();
            client.put_item().table_name(env.table()).set_item(Some(old)).send().await.unwrap();
        } else if pk.starts_with("TAG#") {
            let mut bare: shared::store::Item = key.into();
            bare.insert("user_id".into(), item["user_id"].clone());
            client.put_item().table_name(env.table()).set_item(Some(bare)).send().await.unwrap();
        }
    }
    let token = app_session(env, &app).await;
    let by_date = "user_tags=legacy&sort_asc=created_at";
    let before = v2(env, &token, by_date).await;
    assert_eq!(before.status, 200, "{}", text(&before));
    assert_eq!(found(&before), Vec::<i64>::new(), "the dated items are gone");
    // Without the tags on the items, the exclusion is decided on the users: still right.
    let excluded = v2(env, &token, "user_tags[in][]=legacy&user_tags[nin][]=x").await;
    assert_eq!(excluded.status, 200, "{}", text(&excluded));
    assert_eq!(found(&excluded), [first["id"].as_i64().unwrap()]);

    assert_eq!(found(&v2(env, &token, "full_name=old%20one").await), Vec::<i64>::new(), "old keys: not found by value");
    assert_eq!(found(&v2(env, &token, "full_name[start_with]=old%20o").await), [first["id"].as_i64().unwrap()]);

    assert_eq!(cube_auth::users::reindex(&env.deps, app.id).await.unwrap(), 2);
    let ids = [first["id"].as_i64().unwrap(), second["id"].as_i64().unwrap()];
    assert_eq!(found(&v2(env, &token, "full_name=old%20one").await), [ids[0]]);
    let searched: Vec<_> =
        env.all_items().await.into_iter().filter(|i| i.str("pk").unwrap().starts_with("SEARCH#")).collect();
    assert!(searched.iter().all(|i| !i.str("sk").unwrap().contains('#')), "no old key left: {searched:?}");
    assert_eq!(found(&v2(env, &token, by_date).await), ids);
    assert_eq!(found(&v2(env, &token, "user_tags=legacy&sort_desc=created_at").await), [ids[1], ids[0]]);
    let tagged: Vec<_> =
        env.all_items().await.into_iter().filter(|i| i.str("pk").unwrap().starts_with("TAG#")).collect();
    assert_eq!(tagged.len(), 3);
    assert!(tagged.iter().all(|i| i.int("created_at").is_some() && !i.strings("tags").is_empty()));
    assert_eq!(cube_auth::users::reindex(&env.deps, app.id).await.unwrap(), 2, "running it again is harmless");
    assert_eq!(found(&v2(env, &token, by_date).await), ids);
}

/// Names that extend another name with a space or punctuation sort after it, page by page,
/// as a brute-force sort has them; an exact name finds that name only, also in a list.
async fn names_sharing_a_beginning_keep_their_order(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let mut ids = std::collections::BTreeMap::new();
    for (i, name) in
        ["Anna Maria", "Anna#!", "Anna", "Anna!", "Annabel", "Anna Maria", "Bob Smith", "Anna"].iter().enumerate()
    {
        let user =
            signup(env, &app, json!({"login": format!("named{i}"), "password": PASSWORD, "full_name": name})).await;
        ids.entry(name.to_lowercase()).or_insert_with(Vec::new).push(user["id"].as_i64().unwrap());
    }
    let token = app_session(env, &app).await;
    let by_name: Vec<i64> = ids.iter().filter(|(n, _)| n.starts_with("anna")).flat_map(|(_, v)| v.clone()).collect();
    let mut pages = Vec::new();
    for offset in [0, 5] {
        let resp = v2(env, &token, &format!("full_name[start_with]=anna&sort_asc=full_name&offset={offset}")).await;
        assert_eq!(resp.status, 200, "{}", text(&resp));
        pages.extend(found(&resp));
    }
    assert_eq!(pages, by_name, "ascending, ties by id");
    let resp = v2(env, &token, "full_name[start_with]=anna&sort_desc=full_name").await;
    let descending: Vec<i64> = by_name.iter().rev().take(5).copied().collect();
    assert_eq!(found(&resp), descending, "descending reverses ties too");
    let anna = ids["anna"].clone();
    let resp = v2(env, &token, "full_name[in][]=anna&full_name[in][]=bob%20smith&limit=1").await;
    assert_eq!(found(&resp), [anna[0]], "the lowest id of either name");
    let resp = v2(env, &token, "full_name=anna").await;
    assert_eq!((found(&resp), resp.json()["total_entries"].as_i64()), (anna.clone(), Some(2)));
}

on_both_engines!(
    names_sharing_a_beginning_keep_their_order,
    reindex_brings_older_index_items_to_the_current_layout,
    a_password_change_needs_the_old_password_and_ends_the_other_sessions,
    profile_updates_swap_unique_and_search_entries,
    only_the_own_user_may_be_changed,
    a_deleted_user_leaves_nothing_behind,
    delete_by_external_id_works_only_for_the_caller,
    v2_serves_every_operator_class,
    v2_rule_violations_say_which_rule,
    v1_routes_answer_in_their_shapes,
    last_request_at_follows_activity,
    concurrent_renames_to_one_login_let_exactly_one_win,
    concurrent_changes_of_one_user_all_land,
    a_retried_password_change_checks_the_current_password_again,
    logins_that_match_alike_are_still_looked_up_exactly,
    form_encoded_bodies_sign_up_change_and_log_in,
);
