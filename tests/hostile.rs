//! Hostile input, generated from the contract: for every operation `openapi.yaml` documents
//! (the template tests hold it to the route table), every string it takes (path segments,
//! query parameters, body fields at any depth, and the credential headers its security
//! names) is sent as "" and as 1, 255, 1,025, 2,049 and 10,000 bytes of ASCII and of
//! multibyte text. Every answer must be below 500, an error must come in ConnectyCube's JSON
//! shape (the reset page answers with its HTML page), and a refused request must write
//! nothing. On both engines: DynamoDB Local enforces AWS's key and item size limits.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};
use shared::domain::app::{App, AppSettings};
use shared::domain::limits::{AbuseLimits, Rate};
use shared::store::item::ItemExt;
use testkit::{Answer, Env, Req, on_both_engines, post, put};
use yaml_rust2::{Yaml, YamlLoader};

const PASSWORD: &str = "correct-horse-battery";
const BYTE_LENGTHS: [usize; 6] = [0, 1, 255, 1025, 2049, 10_000];

/// Where an operation takes a string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Path,
    Query(String),
    /// A body field, as its path of property names.
    Body(Vec<String>),
    Header(&'static str),
}

#[derive(Debug)]
struct Operation {
    method: String,
    path: String,
    slots: BTreeSet<Slot>,
}

fn spec() -> Yaml {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("openapi.yaml")).expect("read openapi.yaml");
    YamlLoader::load_from_str(&text).expect("openapi.yaml parses").remove(0)
}

fn resolve<'a>(spec: &'a Yaml, schema: &'a Yaml) -> &'a Yaml {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().expect("a $ref names a schema");
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Whether a schema admits a string (`type: string`, a type list with it, or a `oneOf`
/// option that does), or is a V2 filter (a value or an operator object).
fn takes_string(spec: &Yaml, schema: &Yaml) -> bool {
    if schema["$ref"].as_str().is_some_and(|r| r.ends_with("/Filter")) {
        return true;
    }
    let schema = resolve(spec, schema);
    let typed = |t: &Yaml| t.as_str() == Some("string");
    typed(&schema["type"])
        || schema["type"].as_vec().is_some_and(|types| types.iter().any(typed))
        || schema["oneOf"].as_vec().is_some_and(|options| options.iter().any(|o| takes_string(spec, o)))
}

/// Every string leaf of a body schema, as property paths.
fn body_slots(spec: &Yaml, schema: &Yaml, prefix: &[String], out: &mut BTreeSet<Slot>) {
    let schema = resolve(spec, schema);
    if prefix.len() > 3 {
        return;
    }
    let Some(properties) = schema["properties"].as_hash() else { return };
    for (name, property) in properties {
        let mut path = prefix.to_vec();
        path.push(name.as_str().expect("property name").to_string());
        if resolve(spec, property)["properties"].as_hash().is_some() {
            body_slots(spec, property, &path, out);
        } else if takes_string(spec, property) {
            out.insert(Slot::Body(path));
        }
    }
}

fn operations(spec: &Yaml) -> Vec<Operation> {
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_hash().expect("paths") {
        let path = path.as_str().expect("path").to_string();
        for (method, operation) in item.as_hash().expect("path item") {
            let method = method.as_str().expect("method");
            if !["get", "put", "post", "delete"].contains(&method) {
                continue;
            }
            let mut slots = BTreeSet::new();
            let parameters = item["parameters"].as_vec().into_iter().chain(operation["parameters"].as_vec()).flatten();
            for parameter in parameters {
                match parameter["in"].as_str() {
                    Some("path") => drop(slots.insert(Slot::Path)),
                    Some("query") if takes_string(spec, &parameter["schema"]) => {
                        slots.insert(Slot::Query(parameter["name"].as_str().expect("name").to_string()));
                    }
                    _ => {}
                }
            }
            let body = &operation["requestBody"]["content"]["application/json"]["schema"];
            body_slots(spec, body, &[], &mut slots);
            // Credential headers: what the operation's security (or the default) names.
            let security = if operation["security"].is_badvalue() { &spec["security"] } else { &operation["security"] };
            for requirement in security.as_vec().into_iter().flatten() {
                for (scheme, _) in requirement.as_hash().into_iter().flatten() {
                    match scheme.as_str() {
                        Some("token") => drop(slots.insert(Slot::Header("CB-Token"))),
                        Some("authKey") => drop(slots.insert(Slot::Header("CB-AuthKey"))),
                        _ => {}
                    }
                }
            }
            operations.push(Operation { method: method.to_uppercase(), path: path.clone(), slots });
        }
    }
    operations
}

/// The hostile values: each byte length in ASCII and in multibyte text (three-byte
/// characters, padded with ASCII to the exact length).
fn values() -> Vec<String> {
    let mut values = Vec::new();
    for bytes in BYTE_LENGTHS {
        values.push("a".repeat(bytes));
        if bytes > 1 {
            let text = "€".repeat(bytes / 3) + &"x".repeat(bytes % 3);
            assert_eq!(text.len(), bytes);
            values.push(text);
        }
    }
    values
}

/// What the requests stand on: an application, a user and its session, a blob.
struct Scene {
    app: App,
    user_id: i64,
    token: String,
    blob_id: i64,
    blob_uid: String,
}

async fn scene(env: &Env) -> Scene {
    // Limits out of the way (each request also comes from an address of its own): the
    // corpus is about where values go, not about counting.
    let wide = Rate::new(1_000_000, 60);
    let limits = AbuseLimits {
        login_failures_per_ip: wide,
        login_failures_per_account_ip: wide,
        login_failures_per_account: wide,
        signups_per_ip: wide,
        searches_per_ip: wide,
        ..AbuseLimits::default()
    };
    let app = env.app(AppSettings { limits, users_v1_listing: true, ..AppSettings::default() }).await;
    let user = json!({"user": {"login": "hostile-host", "email": "host@example.com", "password": PASSWORD}});
    let created = call(env, post("/users").header("CB-AuthKey", &app.auth_key).json(user)).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let user_id = created.json()["user"]["id"].as_i64().unwrap();
    let login = json!({"application_id": app.id, "auth_key": app.auth_key,
        "user": {"login": "hostile-host", "password": PASSWORD}});
    let token = call(env, post("/session").json(login)).await.json()["session"]["token"].as_str().unwrap().to_string();
    let blob = json!({"blob": {"content_type": "image/png", "name": "a.png", "public": true}});
    let created = call(env, post("/blobs").token(&token).json(blob)).await;
    assert_eq!(created.status, 201, "{}", text(&created));
    let blob = created.json()["blob"].clone();
    Scene { app, user_id, token, blob_id: blob["id"].as_i64().unwrap(), blob_uid: blob["uid"].as_str().unwrap().into() }
}

/// A request of `op` that would be valid (or at least reach its handler's work), before
/// one of its strings is replaced.
fn baseline_body(op: &Operation, scene: &Scene, n: usize) -> Value {
    match (op.method.as_str(), op.path.as_str()) {
        ("POST", "/session") => json!({"application_id": scene.app.id, "auth_key": scene.app.auth_key,
            "user": {"login": "hostile-host", "password": "not-the-password"}}),
        ("POST", "/login") => json!({"login": "hostile-host", "password": "not-the-password"}),
        ("POST", "/users") => json!({"user": {"email": format!("new{n}@example.com"), "password": PASSWORD}}),
        ("PUT", "/users/{id}") => json!({"user": {"full_name": "Host"}}),
        ("POST", "/blobs") => json!({"blob": {"content_type": "image/png", "name": "b.png"}}),
        ("PUT", "/blobs/{id}/complete") => json!({"size": 3}),
        ("POST", "/users/password/reset") => json!({"email": "host@example.com"}),
        ("POST", "/password-reset") => json!({"token": "0".repeat(64), "password": "a-new-password-1"}),
        _ => json!({}),
    }
}

fn baseline_path_value(op: &Operation, scene: &Scene) -> String {
    match op.path.as_str() {
        "/blobs/{id}/download" | "/blobs/{id}/object" => scene.blob_uid.clone(),
        p if p.starts_with("/blobs/") => scene.blob_id.to_string(),
        "/users/external/{id}" => "424242".into(),
        _ => scene.user_id.to_string(),
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn set_at(body: &mut Value, path: &[String], value: &str) {
    let mut node = body;
    for name in &path[..path.len() - 1] {
        if !node[name.as_str()].is_object() {
            node[name.as_str()] = Value::Object(Map::new());
        }
        node = &mut node[name.as_str()];
    }
    node[path[path.len() - 1].as_str()] = json!(value);
}

fn request(op: &Operation, scene: &Scene, slot: &Slot, value: &str, n: usize) -> Req {
    let ip = format!("198.18.{}.{}", n / 250, n % 250);
    let id = if *slot == Slot::Path { encode(value) } else { baseline_path_value(op, scene) };
    let mut path = op.path.replace("{id}", &id);
    if let Slot::Query(name) = slot {
        path = format!("{path}?{name}={}", encode(value));
    } else if op.path == "/users/v2" {
        path.push_str("?login=hostile-host");
    }
    let mut body = baseline_body(op, scene, n);
    if let Slot::Body(at) = slot {
        set_at(&mut body, at, value);
    }
    let mut req = Req::new(&op.method, &path).from_ip(&ip);
    match slot {
        Slot::Header(name) => req = req.header(name, value),
        _ if op.slots.contains(&Slot::Header("CB-Token")) => req = req.token(&scene.token),
        _ if op.slots.contains(&Slot::Header("CB-AuthKey")) => req = req.header("CB-AuthKey", &scene.app.auth_key),
        _ => {}
    }
    if op.method == "GET" || op.method == "DELETE" { req } else { req.json(body) }
}

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

fn text(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).chars().take(300).collect()
}

/// The keys of every item a request could have written, leaving out rate counters and id
/// counters (which a refused request may move without storing anything of the caller's).
async fn stored_keys(env: &Env) -> BTreeSet<(String, String)> {
    env.all_items()
        .await
        .iter()
        .map(|item| (item.str("pk").unwrap_or_default(), item.str("sk").unwrap_or_default()))
        .filter(|(pk, _)| !pk.starts_with("RATE#") && !pk.starts_with("COUNTER#"))
        .collect()
}

/// The answer's shape: JSON with `errors` for an error (the reset page's HTML page for its
/// own errors), JSON or nothing for a success.
fn shape_problem(op: &Operation, resp: &Answer) -> Option<String> {
    let content_type = resp.header("Content-Type").unwrap_or("");
    if resp.status >= 400 {
        if op.path == "/password-reset" && content_type.starts_with("text/html") {
            return None;
        }
        let body: Value = serde_json::from_slice(&resp.body).ok()?;
        return match body.get("errors") {
            Some(Value::Array(_) | Value::Object(_)) => None,
            _ => Some(format!("error body without errors: {}", text(resp))),
        };
    }
    if !resp.body.is_empty() && content_type.contains("json") && serde_json::from_slice::<Value>(&resp.body).is_err() {
        return Some("success body is not JSON".into());
    }
    None
}

async fn no_input_gets_a_5xx_or_writes_when_refused(env: &Env) {
    let spec = spec();
    let operations = operations(&spec);
    assert!(operations.len() >= 30, "every documented operation: {}", operations.len());
    let scene = scene(env).await;
    let values = values();
    let (mut sent, mut failures) = (0usize, Vec::new());
    for op in &operations {
        assert!(!op.slots.is_empty(), "{} {} takes no string?", op.method, op.path);
        for slot in &op.slots {
            for value in &values {
                sent += 1;
                let before = stored_keys(env).await;
                let resp = call(env, request(op, &scene, slot, value, sent)).await;
                let what = format!("{} {} {slot:?} = {} bytes", op.method, op.path, value.len());
                if resp.status >= 500 {
                    failures.push(format!("{what}: {} {}", resp.status, text(&resp)));
                    continue;
                }
                if let Some(problem) = shape_problem(op, &resp) {
                    failures.push(format!("{what}: {} {problem}", resp.status));
                }
                if resp.status >= 400 {
                    let after = stored_keys(env).await;
                    if after != before {
                        let added: Vec<_> = after.difference(&before).collect();
                        let removed: Vec<_> = before.difference(&after).collect();
                        failures.push(format!("{what}: {} wrote {added:?}, removed {removed:?}", resp.status));
                    }
                }
            }
        }
    }
    eprintln!("hostile corpus: {sent} requests over {} operations, {} problems", operations.len(), failures.len());
    assert!(failures.is_empty(), "{} of {sent} requests misbehaved:\n{}", failures.len(), failures.join("\n"));
}

/// Numbers at the edges of i64 where paging, dates and the signature window do arithmetic:
/// a 422 each, never an overflow (a panic in debug builds, a wrapped value in release).
async fn numbers_at_the_edges_get_422s(env: &Env) {
    let scene = scene(env).await;
    let max = i64::MAX.to_string();
    let paths = [
        format!("/users?page={max}&per_page=100"),
        format!("/users/by_tags?tags=x&page={max}&per_page=100"),
        "/users?filter[]=date+created_at+gt+1e300".to_string(),
        format!("/users?filter[]=date+created_at+eq+{max}"),
        "/users?filter[]=date+updated_at+between+-1e300,1e300".to_string(),
        "/users/v2?login=hostile-host&created_at[gt]=1e300".to_string(),
        format!("/users/v2?login=hostile-host&updated_at[lte]=-{max}"),
    ];
    for path in paths {
        let resp = call(env, testkit::get(&path).token(&scene.token)).await;
        assert_eq!(resp.status, 422, "{path}: {}", text(&resp));
        assert!(shape_problem_free(&resp), "{path}: {}", text(&resp));
    }
    // A number beyond 64 bits is read as a float, whose text is not the digits sent: refused
    // where text is wanted, never stored as "1.1805916207174113e21".
    let huge = "1180591620717411303424";
    for field in ["full_name", "facebook_id", "password"] {
        let mut user = json!({"login": format!("huge-{field}"), "password": "correct-horse-battery"});
        user[field] = json!("PLACEHOLDER");
        let body = json!({ "user": user }).to_string().replace("\"PLACEHOLDER\"", huge);
        let req = post("/users").header("CB-AuthKey", &scene.app.auth_key).header("Content-Type", "application/json");
        let resp = call(env, req.raw_body(body.as_bytes())).await;
        assert_eq!(resp.status, 422, "{field}: {}", text(&resp));
        assert!(shape_problem_free(&resp), "{field}: {}", text(&resp));
    }
    let app = env.app(AppSettings { require_signature: true, ..AppSettings::default() }).await;
    for timestamp in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
        let mut body = json!({"application_id": app.id, "auth_key": app.auth_key, "timestamp": timestamp, "nonce": 7});
        let message = shared::crypto::signature::canonical_string(body.as_object().unwrap());
        body["signature"] = json!(shared::crypto::signature::sign_sha1(&app.auth_secret, &message));
        let resp = call(env, post("/session").json(body)).await;
        assert_eq!(
            (resp.status, text(&resp).as_str()),
            (422, r#"{"errors":{"base":["Timestamp is out of range"]}}"#),
            "{timestamp}"
        );
    }
}

/// Local mode answers what hyper refuses before the router (a URL over 64 KiB, a head over
/// its buffer, a malformed request line) in JSON as well.
async fn local_mode_answers_unparseable_requests_in_json(env: &Env) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let timeouts = cube_auth::server::Timeouts { head: Duration::from_secs(1), body: Duration::from_secs(1) };
    let server = tokio::spawn(cube_auth::server::serve_with(listener, env.deps.clone(), timeouts, async {
        let _ = stopped.await;
    }));
    let long_url = format!("GET /users/v2?login={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let huge_head = format!("GET /session HTTP/1.1\r\nHost: x\r\nCB-Token: {}\r\n\r\n", "t".repeat(500_000));
    let bad_line = "GET /session HTTP/1.1\r\nHo st: x\r\n\r\n".to_string();
    let chunked =
        |chunk: &str| format!("POST /session HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}");
    let bad_chunk = chunked("zz\r\nabc\r\n0\r\n\r\n");
    let negative_chunk = chunked("-1\r\nabc\r\n0\r\n\r\n");
    // A body that stops short of its length is a 408 once the body timeout passes.
    let stalled_body = "POST /session HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{".to_string();
    let cases = [
        (long_url, 414),
        (huge_head, 431),
        (bad_line, 400),
        (bad_chunk, 400),
        (negative_chunk, 400),
        (stalled_body, 408),
    ];
    for (request, status) in cases {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        // The server may answer (and close) before it has read everything we send.
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let body: Value = serde_json::from_str(body).expect("a JSON body");
        assert!(body["errors"]["base"][0].is_string(), "{body}");
    }
    // A method the path has no route for: a 405 that says which it has.
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(b"PATCH /users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(
        answer.starts_with("http/1.1 405 ") && answer.contains("\r\nallow: get, put, delete, options\r\n"),
        "{answer}"
    );
    // A head that never ends, and a connection that never sends one, are closed once the head
    // timeout passes, with nothing to read.
    for stalled in ["GET /session HTTP/1.1\r\nHost: x\r\n", ""] {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(stalled.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(closed.is_ok(), "{stalled:?}: still open after 10 s");
    }
    // An ordinary request still goes through on a fresh connection.
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /session HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401 "));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Search items keep at most 1,011 bytes of a value in their sort key: two long names that
/// differ only after that share the key, and replacing one by the other must still work.
async fn long_values_sharing_a_sort_key_replace_each_other(env: &Env) {
    let scene = scene(env).await;
    let path = format!("/users/{}.json", scene.user_id);
    for last in ["a", "b", "a"] {
        let name = "😀".repeat(254) + last;
        for field in ["full_name", "external_id", "facebook_id", "twitter_id"] {
            let value = name.clone();
            let resp = call(env, put(&path).token(&scene.token).json(json!({"user": { field: value }}))).await;
            assert_eq!(resp.status, 200, "{field} ending in {last}: {}", text(&resp));
        }
        let search = format!("/users/v2?full_name={}", encode(&name));
        let found = call(env, testkit::get(&search).token(&scene.token)).await.json();
        assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{last}: {found}");
    }
}

/// A refusal that comes from the request, not the password, must not depend on the password:
/// a replayed signature is refused alike for a right and a wrong one.
async fn a_replayed_signature_is_refused_whatever_the_password(env: &Env) {
    let scene = scene(env).await;
    let app = &scene.app;
    let now = env.clock().now();
    let signed = |password: &str| {
        let user = json!({"login": "hostile-host", "password": password});
        let mut body =
            json!({"application_id": app.id, "auth_key": app.auth_key, "timestamp": now, "nonce": 4242, "user": user});
        let message = shared::crypto::signature::canonical_string(body.as_object().unwrap());
        body["signature"] = json!(shared::crypto::signature::sign_sha1(&app.auth_secret, &message));
        post("/session").json(body)
    };
    assert_eq!(call(env, signed(PASSWORD)).await.status, 201);
    let mut answers = Vec::new();
    for password in [PASSWORD, "not-the-password"] {
        let resp = call(env, signed(password)).await;
        answers.push((resp.status, text(&resp)));
    }
    assert_eq!(answers[0], answers[1], "the answer to a replay told the password apart");
    assert_eq!(answers[0].0, 422, "{answers:?}");
}

/// A `user` part that names nobody is a failed sign-in (422), never an application session
/// the client would take for a signed-in one; no part, `null` or `{}` still ask for an
/// application session.
async fn a_user_part_naming_nobody_is_refused_not_an_app_session(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let with_user = |user: Value| json!({"application_id": app.id, "auth_key": app.auth_key, "user": user});
    for user in [
        json!({"login": ["bob"], "password": "correct-horse-battery"}),
        json!({"login": {"a": 1}, "password": "correct-horse-battery"}),
        json!({"login": "", "password": "correct-horse-battery"}),
        json!({"email": [], "password": "correct-horse-battery"}),
        json!({"password": "correct-horse-battery"}),
        json!("bob"),
        json!(["bob", "correct-horse-battery"]),
    ] {
        let resp = call(env, post("/session").json(with_user(user.clone()))).await;
        assert_eq!(resp.status, 422, "{user}: {}", text(&resp));
        assert!(shape_problem_free(&resp), "{user}: {}", text(&resp));
    }
    let form = format!("application_id={}&auth_key={}&user[login][]=bob&user[password]=x", app.id, app.auth_key);
    let resp = call(env, post("/session").form(&form)).await;
    assert_eq!(resp.status, 422, "{}", text(&resp));
    for user in [Value::Null, json!({})] {
        let resp = call(env, post("/session").json(with_user(user.clone()))).await;
        assert_eq!((resp.status, resp.json()["session"]["user_id"].clone()), (201, Value::Null), "{user}");
    }
    let plain = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await;
    assert_eq!(plain.status, 201);
}

fn shape_problem_free(resp: &Answer) -> bool {
    serde_json::from_slice::<Value>(&resp.body).is_ok_and(|body| body.get("errors").is_some())
}

on_both_engines!(
    no_input_gets_a_5xx_or_writes_when_refused,
    numbers_at_the_edges_get_422s,
    local_mode_answers_unparseable_requests_in_json,
    long_values_sharing_a_sort_key_replace_each_other,
    a_replayed_signature_is_refused_whatever_the_password,
    a_user_part_naming_nobody_is_refused_not_an_app_session,
);
