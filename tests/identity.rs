//! External identities end to end, on both engines: Firebase ID tokens against a local key
//! server (test keys, certificates in Google's x509 JSON format, tokens minted here), and a
//! Custom Identity Provider played by a local fake.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use serde_json::{Value, json};
use shared::domain::app::{App, AppSettings};
use shared::domain::cidp::CidpSettings;
use shared::store::item::ItemExt;
use testkit::stub::{reply, serve};
use testkit::{Answer, Env, Req, on_both_engines, post};

const PROJECT: &str = "cube-test-project";
const CERT_A: &str = include_str!("fixtures/firebase/test-cert-a.pem");
const CERT_B: &str = include_str!("fixtures/firebase/test-cert-b.pem");
const KEY_A: &str = include_str!("fixtures/firebase/test-key-a.pem");
const KEY_B: &str = include_str!("fixtures/firebase/test-key-b.pem");

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

fn text(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// Google's x509 endpoint, played locally: kid → certificate PEM, with a max-age.
struct KeyServer {
    url: String,
    fetches: Arc<AtomicUsize>,
    certificates: Arc<Mutex<HashMap<String, String>>>,
}

async fn key_server() -> KeyServer {
    let fetches = Arc::new(AtomicUsize::new(0));
    let certificates = Arc::new(Mutex::new(HashMap::from([("kid-a".to_string(), CERT_A.to_string())])));
    let (count, certs) = (fetches.clone(), certificates.clone());
    let base = serve(move |_| {
        let (count, certs) = (count.clone(), certs.clone());
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            let body = serde_json::to_string(&*certs.lock().unwrap()).unwrap();
            reply(
                200,
                &body,
                &[("Content-Type", "application/json"), ("Cache-Control", "public, max-age=300, must-revalidate")],
            )
        }
    })
    .await;
    KeyServer {
        url: format!("{base}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"),
        fetches,
        certificates,
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn pkcs8(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

/// An RS256 JWT signed with a test key.
fn rs256(key_pem: &str, header: Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let key = RsaKeyPair::from_pkcs8(&pkcs8(key_pem)).unwrap();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature).unwrap();
    format!("{signing_input}.{}", b64(&signature))
}

fn claims(env: &Env, uid: &str) -> Value {
    let now = env.clock().now();
    json!({
        "iss": format!("https://securetoken.google.com/{PROJECT}"), "aud": PROJECT, "auth_time": now - 30,
        "user_id": uid, "sub": uid, "iat": now - 30, "exp": now + 3600,
        "phone_number": "+15550123", "email": format!("{uid}@example.com"), "email_verified": true,
        "firebase": {"identities": {}, "sign_in_provider": "phone"}
    })
}

fn token(env: &Env, uid: &str) -> String {
    rs256(KEY_A, json!({"alg": "RS256", "kid": "kid-a", "typ": "JWT"}), &claims(env, uid))
}

async fn firebase_app(env: &Env) -> App {
    env.app(AppSettings { firebase_projects: vec![PROJECT.into()], ..AppSettings::default() }).await
}

fn firebase_session(app: &App, provider: &str, token: &str) -> Req {
    post("/session.json").json(json!({"application_id": app.id, "auth_key": app.auth_key, "provider": provider,
        provider: {"project_id": PROJECT, "access_token": token}}))
}

/// Every user item of the test table (tests only).
async fn users(env: &Env) -> Vec<shared::store::Item> {
    env.user_items().await
}

async fn firebase_phone_and_email_tokens_sign_in_and_create_one_user(env: &Env) {
    let keys = key_server().await;
    let deps = env.deps_with_firebase_keys(&keys.url, shared::identity::firebase::REFETCH_INTERVAL);
    let call = async |_: &Env, req: Req| Answer::from(cube_auth::router::dispatch(&deps, req.build()).await);
    let app = firebase_app(env).await;

    let first = call(env, firebase_session(&app, "firebase_phone", &token(env, "phone-uid-1"))).await;
    assert_eq!(first.status, 201, "{}", text(&first));
    let user = first.json()["session"]["user"].clone();
    assert_eq!(user["phone"], "+15550123");
    assert!(user["login"].as_str().unwrap().starts_with("firebase_"));
    for _ in 0..3 {
        let again = call(env, firebase_session(&app, "firebase_phone", &token(env, "phone-uid-1"))).await;
        assert_eq!(again.json()["session"]["user_id"], user["id"], "the same user every time");
    }
    assert_eq!(users(env).await.len(), 1, "exactly one user");
    assert!(users(env).await[0].str("password_hash").is_none(), "no password is stored");

    // Email, through POST /login on an application session, in the flat bracket form.
    let app_token = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key})))
        .await
        .json()["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let login = call(
        env,
        post("/login.json").token(&app_token).json(json!({"provider": "firebase_email",
        "firebase_email[project_id]": PROJECT, "firebase_email[access_token]": token(env, "email-uid-2")})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", text(&login));
    assert_eq!(login.json()["user"]["email"], "email-uid-2@example.com");
    assert_eq!(users(env).await.len(), 2);
    // Keys were fetched once and cached per max-age.
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1);
}

/// An email/password Firebase account exists before its owner proves the address: a token
/// whose `email_verified` is not `true` neither matches the user who holds that email nor
/// gives its own user the address.
async fn unverified_firebase_emails_neither_match_nor_set_an_email(env: &Env) {
    let keys = key_server().await;
    let deps = env.deps_with_firebase_keys(&keys.url, shared::identity::firebase::REFETCH_INTERVAL);
    let call = async |_: &Env, req: Req| Answer::from(cube_auth::router::dispatch(&deps, req.build()).await);
    let app = firebase_app(env).await;
    let owner = json!({"user": {"login": "owner", "email": "owner@example.com", "password": "correct-horse-battery"}});
    let signup = call(env, post("/users").header("CB-AuthKey", &app.auth_key).json(owner)).await;
    assert_eq!(signup.status, 201, "{}", text(&signup));
    let owner_id = signup.json()["user"]["id"].clone();

    for verified in [json!(false), Value::Null, json!("true")] {
        let mut unverified = claims(env, "squatter-uid");
        unverified["email"] = json!("owner@example.com");
        match &verified {
            Value::Null => drop(unverified.as_object_mut().unwrap().remove("email_verified")),
            v => unverified["email_verified"] = v.clone(),
        }
        let token = rs256(KEY_A, json!({"alg": "RS256", "kid": "kid-a", "typ": "JWT"}), &unverified);
        let resp = call(env, firebase_session(&app, "firebase_email", &token)).await;
        assert_eq!(resp.status, 201, "{verified}: {}", text(&resp));
        let user = &resp.json()["session"]["user"];
        assert_ne!(user["id"], owner_id, "{verified}: an unverified address matched its holder");
        assert!(user["email"].is_null(), "{verified}: an unverified address was set: {user}");
    }
    // One user for the squatter's uid, and the owner's account is as it was.
    assert_eq!(users(env).await.len(), 2);
    let by_email =
        call(env, testkit::get("/users/by_email?email=owner@example.com").token(&app_token(env, &app).await)).await;
    assert_eq!(by_email.json()["user"]["id"], owner_id);

    // A fresh uid with a verified address gets it.
    let mut verified = claims(env, "verified-uid");
    verified["email"] = json!("verified@example.com");
    let token = rs256(KEY_A, json!({"alg": "RS256", "kid": "kid-a", "typ": "JWT"}), &verified);
    let resp = call(env, firebase_session(&app, "firebase_email", &token)).await;
    assert_eq!(resp.json()["session"]["user"]["email"], "verified@example.com", "{}", text(&resp));
}

async fn bad_firebase_tokens_are_refused_and_create_nothing(env: &Env) {
    let keys = key_server().await;
    let deps = env.deps_with_firebase_keys(&keys.url, shared::identity::firebase::REFETCH_INTERVAL);
    let call = async |_: &Env, req: Req| Answer::from(cube_auth::router::dispatch(&deps, req.build()).await);
    let app = firebase_app(env).await;
    let other_app = env.app(AppSettings::default()).await;
    let good = claims(env, "uid-x");
    let now = env.clock().now();
    let header = json!({"alg": "RS256", "kid": "kid-a", "typ": "JWT"});
    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        rs256(KEY_A, header.clone(), &c)
    };
    let valid = rs256(KEY_A, header.clone(), &good);
    let mut tampered = valid.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let public_key_pem = CERT_A;
    let hs256 = {
        use hmac::{Hmac, Mac};
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "HS256", "kid": "kid-a"}).to_string().as_bytes()),
            b64(good.to_string().as_bytes())
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public_key_pem.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(&mac.finalize().into_bytes()))
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "kid": "kid-a"}).to_string().as_bytes()),
        b64(good.to_string().as_bytes())
    );
    let cases: Vec<(&str, &App, String, &str)> = vec![
        ("expired", &app, with("exp", json!(now - 120)), "expired"),
        ("not yet valid", &app, with("iat", json!(now + 600)), "not valid yet"),
        ("auth_time in the future", &app, with("auth_time", json!(now + 600)), "not valid yet"),
        ("wrong aud", &app, with("aud", json!("someone-else")), "another Firebase project"),
        (
            "wrong iss",
            &app,
            with("iss", json!("https://securetoken.google.com/someone-else")),
            "not issued by Firebase",
        ),
        ("empty sub", &app, with("sub", json!("")), "no valid subject"),
        ("sub too long", &app, with("sub", json!("x".repeat(129))), "no valid subject"),
        ("project not allowed", &other_app, valid.clone(), "not allowed for this application"),
        (
            "unknown kid",
            &app,
            rs256(KEY_B, json!({"alg": "RS256", "kid": "kid-unknown"}), &good),
            "not signed by a known Firebase key",
        ),
        ("signed by another key", &app, rs256(KEY_B, header.clone(), &good), "signature does not verify"),
        ("tampered signature", &app, String::from_utf8(tampered).unwrap(), "signature does not verify"),
        ("alg none", &app, none, "only RS256"),
        ("HS256 with the public key", &app, hs256, "only RS256"),
        ("not a JWT", &app, "abc.def".into(), "not a JWT"),
    ];
    for (what, target_app, bad, reason) in cases {
        let resp = call(env, firebase_session(target_app, "firebase_phone", &bad)).await;
        assert_eq!(resp.status, 422, "{what}: {}", text(&resp));
        assert!(text(&resp).contains(reason), "{what}: {}", text(&resp));
    }
    let no_phone = {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove("phone_number");
        rs256(KEY_A, header.clone(), &c)
    };
    assert_eq!(call(env, firebase_session(&app, "firebase_phone", &no_phone)).await.status, 422);
    let missing = call(
        env,
        post("/session")
            .json(json!({"application_id": app.id, "auth_key": app.auth_key, "provider": "firebase_phone"})),
    )
    .await;
    assert_eq!(missing.status, 422);
    assert!(
        text(&missing)
            .contains("no 'firebase_phone[access_token]' and 'firebase_phone[project_id]' parameters provided")
    );
    let facebook = call(
        env,
        post("/session").json(
            json!({"application_id": app.id, "auth_key": app.auth_key, "provider": "facebook", "keys": {"token": "x"}}),
        ),
    )
    .await;
    // An application without a Facebook app takes no Facebook token (tests/social.rs has the rest).
    assert_eq!(
        (facebook.status, text(&facebook).contains("Facebook sign-in is not configured for this application")),
        (422, true)
    );
    assert!(users(env).await.is_empty(), "no bad token created a user");

    // An unknown kid within a minute of the last fetch refetches nothing: forged kids cannot
    // make us hammer the key endpoint.
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1);
    for _ in 0..3 {
        call(
            env,
            firebase_session(&app, "firebase_phone", &rs256(KEY_B, json!({"alg": "RS256", "kid": "kid-b"}), &good)),
        )
        .await;
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1, "no refetch storm within the interval");
}

async fn a_rotated_signing_key_is_picked_up_by_refetching_on_its_unknown_kid(env: &Env) {
    let keys = key_server().await;
    // A zero interval: every unknown kid may refetch.
    let deps = env.deps_with_firebase_keys(&keys.url, Duration::ZERO);
    let call = async |req: Req| Answer::from(cube_auth::router::dispatch(&deps, req.build()).await);
    let app = firebase_app(env).await;
    assert_eq!(call(firebase_session(&app, "firebase_phone", &token(env, "before"))).await.status, 201);
    let rotated = rs256(KEY_B, json!({"alg": "RS256", "kid": "kid-b"}), &claims(env, "after"));
    assert_eq!(
        call(firebase_session(&app, "firebase_phone", &rotated)).await.status,
        422,
        "kid-b is not published yet"
    );
    keys.certificates.lock().unwrap().insert("kid-b".into(), CERT_B.into());
    let resp = call(firebase_session(&app, "firebase_phone", &rotated)).await;
    assert_eq!(resp.status, 201, "{}", text(&resp));
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 3);
}

/// The customer's identity provider, played locally; records the tokens it was sent.
async fn fake_provider(seen: Arc<Mutex<Vec<String>>>) -> String {
    serve(move |request| {
        let seen = seen.clone();
        async move {
            let method = request.method;
            let query = request.uri.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default();
            let params = if method == "POST" { String::from_utf8_lossy(&request.body).into_owned() } else { query };
            let token = form_urlencoded::parse(params.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).unwrap_or_default();
            seen.lock().unwrap().push(format!("{method} {token}"));
            match token.split_once(':').map_or((token.as_str(), ""), |(a, b)| (a, b)) {
                ("good", uid) => {
                    let name = if uid.ends_with("renamed") { "Renamed Person" } else { "External Person" };
                    let body = json!({"user": {"id": uid, "login": format!("ext_{uid}"), "email": format!("{uid}@idp.example.com"), "name": name}});
                    reply(200, &body.to_string(), &[("Content-Type", "application/json")])
                }
                ("minimal", uid) => reply(200, &json!({"user": {"id": uid}}).to_string(), &[]),
                ("deny", _) => reply(404, r#"{"error":"Token invalid"}"#, &[]),
                ("boom", _) => reply(500, "oops", &[]),
                ("slow", _) => {
                    tokio::time::sleep(Duration::from_secs(4)).await;
                    reply(200, r#"{"user":{"id":"late"}}"#, &[])
                }
                ("garbage", _) => reply(200, "this is not json", &[]),
                ("nouid", _) => reply(200, r#"{"user":{"login":"nobody"}}"#, &[]),
                ("redirect", _) => reply(302, "", &[("Location", "http://127.0.0.1:9/elsewhere")]),
                _ => reply(400, "", &[]),
            }
        }
    })
    .await
}

async fn cidp_app(env: &Env, base: &str, method: &str) -> App {
    let cidp = CidpSettings::parse(
        &format!("{base}/user/verify"),
        method,
        r##"{"token":"#{login}"}"##,
        r##"{"uid":"#{user.id}","login":"#{user.login}","email":"#{user.email}","full_name":"#{user.name}"}"##,
    )
    .unwrap();
    env.app(AppSettings { cidp: Some(cidp), ..AppSettings::default() }).await
}

async fn app_token(env: &Env, app: &App) -> String {
    call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key}))).await.json()["session"]["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn cidp_logins_create_users_once_map_fields_and_store_no_password(env: &Env) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let base = fake_provider(seen.clone()).await;
    for method in ["GET", "POST"] {
        let app = cidp_app(env, &base, method).await;
        let token = app_token(env, &app).await;
        let uid = format!("u-{method}");
        let first = call(
            env,
            post("/login.json").token(&token).json(json!({"login": format!("good:{uid}"), "password": "ignored"})),
        )
        .await;
        assert_eq!(first.status, 200, "{}", text(&first));
        let user = first.json()["user"].clone();
        assert_eq!(user["login"], format!("ext_{uid}"));
        assert_eq!(user["email"], format!("{uid}@idp.example.com"));
        assert_eq!(user["full_name"], "External Person");
        assert_eq!(
            seen.lock().unwrap().last().unwrap(),
            &format!("{method} good:{uid}"),
            "the token reached the provider, encoded"
        );
        // Again, through POST /session with user[login] and no password (the Flutter form).
        let again = call(
            env,
            post("/session").json(
                json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": format!("good:{uid}")}}),
            ),
        )
        .await;
        assert_eq!(again.status, 201, "{}", text(&again));
        assert_eq!(again.json()["session"]["user_id"], user["id"], "created once, found after");
    }
    // Later logins refresh the mapped fields.
    let app = cidp_app(env, &base, "GET").await;
    let token = app_token(env, &app).await;
    let before =
        call(env, post("/login").token(&token).json(json!({"login": "good:same-renamed", "password": "x"}))).await;
    assert_eq!(before.json()["user"]["full_name"], "Renamed Person");
    // Without a login mapping the login is custom_<uid>.
    let minimal = call(env, post("/login").token(&token).json(json!({"login": "minimal:m1", "password": "x"}))).await;
    assert_eq!(minimal.json()["user"]["login"], "custom_m1");
    let all = users(env).await;
    assert_eq!(all.len(), 4, "one user per external uid");
    assert!(all.iter().all(|u| u.str("password_hash").is_none()), "no password is stored for CIdP users");
}

async fn cidp_failures_fail_closed_with_422_and_create_nothing(env: &Env) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let base = fake_provider(seen).await;
    let app = cidp_app(env, &base, "POST").await;
    let token = app_token(env, &app).await;
    let cases = [
        ("deny:1", r#"Custom Identity Provider responded with an error = \"Token invalid\". Status code = 404"#),
        ("boom:1", r#"Custom Identity Provider responded with an error = \"oops\". Status code = 500"#),
        ("garbage:1", "Custom Identity Provider responded with malformed JSON. Status code = 200"),
        ("nouid:1", "Custom Identity Provider response has no uid"),
        ("redirect:1", "Status code = 302"),
        ("slow:1", "Custom Identity Provider did not respond within"),
    ];
    for (login, message) in cases {
        let resp = call(env, post("/login.json").token(&token).json(json!({"login": login, "password": "x"}))).await;
        assert_eq!(resp.status, 422, "{login}: {}", text(&resp));
        assert!(text(&resp).contains(message), "{login}: {}", text(&resp));
        assert!(text(&resp).starts_with(r#"{"errors":{"base":["#), "{login}: {}", text(&resp));
    }
    let unreachable = cidp_app(env, "http://127.0.0.1:9", "GET").await;
    let token = app_token(env, &unreachable).await;
    let resp = call(env, post("/login.json").token(&token).json(json!({"login": "good:z", "password": "x"}))).await;
    assert_eq!((resp.status, text(&resp).contains("could not be reached")), (422, true), "{}", text(&resp));
    assert!(users(env).await.is_empty(), "no failure created a user");
}

on_both_engines!(
    firebase_phone_and_email_tokens_sign_in_and_create_one_user,
    unverified_firebase_emails_neither_match_nor_set_an_email,
    bad_firebase_tokens_are_refused_and_create_nothing,
    a_rotated_signing_key_is_picked_up_by_refetching_on_its_unknown_kid,
    cidp_logins_create_users_once_map_fields_and_store_no_password,
    cidp_failures_fail_closed_with_422_and_create_nothing,
);
