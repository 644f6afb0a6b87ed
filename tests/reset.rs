//! Password reset end to end with a real SMTP server on loopback (aiosmtpd, started by
//! `make test`; `SMTP_SINK_PORT` and `SMTP_SINK_DIR` say where): request, mail, link, form,
//! on both DynamoDB engines.

use std::path::PathBuf;

use serde_json::json;
use shared::domain::app::{App, AppSettings};
use shared::mail::{Delivery, MailConfig, Mailer, SmtpConfig, SmtpSecurity};
use shared::service::reset::deliver_pending;
use testkit::{Answer, Env, Req, get, on_both_engines, post};

const PASSWORD: &str = "correct-horse-battery";
const NEW_PASSWORD: &str = "a-brand-new-passphrase";
const SESSION_MISSING: &str = r#"{"errors":{"base":["Required session does not exist"]}}"#;

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

fn text(resp: &Answer) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// The loopback SMTP server, or `None` (with a note) when it is not running.
fn sink() -> Option<(u16, PathBuf)> {
    match (std::env::var("SMTP_SINK_PORT"), std::env::var("SMTP_SINK_DIR")) {
        (Ok(port), Ok(dir)) => Some((port.parse().expect("SMTP_SINK_PORT"), PathBuf::from(dir))),
        _ => {
            assert_ne!(
                std::env::var("REQUIRE_SMTP_SINK").as_deref(),
                Ok("1"),
                "SMTP_SINK_PORT / SMTP_SINK_DIR are required"
            );
            eprintln!("note: no SMTP sink (SMTP_SINK_PORT); skipping");
            None
        }
    }
}

fn smtp_mailer(port: u16) -> Mailer {
    Mailer::new(&MailConfig {
        from: "Reset Tests <no-reply@example.test>".into(),
        public_base_url: "https://api.example.test".into(),
        delivery: Delivery::Smtp(SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
        }),
    })
    .unwrap()
}

/// Messages the sink received for `address` (decoded from quoted-printable if need be).
fn mails_to(dir: &std::path::Path, address: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    // The sink names files by arrival time, so name order is arrival order.
    let mut paths: Vec<PathBuf> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
    paths.sort();
    paths
        .iter()
        .map(|p| decode_quoted_printable(&std::fs::read_to_string(p).unwrap()))
        .filter(|m| m.lines().any(|l| l.starts_with("To:") && l.contains(address)))
        .collect()
}

fn decode_quoted_printable(mail: &str) -> String {
    if !mail.contains("quoted-printable") {
        return mail.to_string();
    }
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The reset link in a mail: its path and query, as the browser would request them.
fn link_in(mail: &str) -> String {
    let start = mail.find("https://api.example.test/password-reset?token=").expect("a reset link");
    let link: String = mail[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    link.trim_start_matches("https://api.example.test").to_string()
}

struct Fixture {
    app: App,
    email: String,
    sessions: Vec<String>,
    app_token: String,
}

async fn account(env: &Env, tag: &str) -> Fixture {
    let app = env.app(AppSettings::default()).await;
    let email = format!("{tag}-{}@example.com", shared::crypto::random::random_upper_hex::<4>().to_lowercase());
    let login = format!("{tag}_user");
    let signup = call(
        env,
        post("/users")
            .header("CB-AuthKey", &app.auth_key)
            .json(json!({"user": {"login": login, "email": email, "password": PASSWORD}})),
    )
    .await;
    assert_eq!(signup.status, 201, "{}", text(&signup));
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let body =
            json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"email": email, "password": PASSWORD}});
        sessions.push(
            call(env, post("/session").json(body)).await.json()["session"]["token"].as_str().unwrap().to_string(),
        );
    }
    let app_token = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key})))
        .await
        .json()["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    Fixture { app, email, sessions, app_token }
}

async fn log_in(env: &Env, f: &Fixture, password: &str) -> u16 {
    call(env, post("/session").json(json!({"application_id": f.app.id, "auth_key": f.app.auth_key, "user": {"email": f.email, "password": password}}))).await.status
}

async fn submit(env: &Env, link: &str, password: &str) -> Answer {
    let token = link.split("token=").nth(1).unwrap();
    let form = format!("token={token}&password={password}&password_confirmation={password}");
    call(env, post("/password-reset").header("Accept", "text/html").form(&form)).await
}

async fn a_reset_by_mail_sets_the_password_and_ends_every_session(env: &Env) {
    let Some((port, dir)) = sink() else { return };
    let mailer = smtp_mailer(port);
    let f = account(env, "reset").await;

    // SDK 6 posts JSON; older SDKs GET with the address in the query. Both answer 200, empty.
    let asked = call(env, post("/users/password/reset.json").token(&f.app_token).json(json!({"email": f.email}))).await;
    assert_eq!((asked.status, asked.body.len()), (200, 0));
    let unknown = format!("nobody-{}", f.email);
    let also = call(env, get(&format!("/users/password/reset?email={unknown}")).token(&f.sessions[0])).await;
    assert_eq!((also.status, also.body.len()), (200, 0), "an unknown address gets the same answer");

    assert_eq!(deliver_pending(&env.deps, &mailer).await.unwrap().len(), 1, "one mail, for the known address only");
    let mails = mails_to(&dir, &f.email);
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("Subject: Reset your password"), "{}", mails[0]);
    assert!(mails_to(&dir, &unknown).is_empty(), "no mail for an unknown address");
    let link = link_in(&mails[0]);

    let page = call(env, get(&link).header("Accept", "text/html")).await;
    assert_eq!(page.status, 200);
    assert!(page.header("Content-Security-Policy").unwrap().starts_with("default-src 'none'"));
    assert_eq!(page.header("Referrer-Policy"), Some("no-referrer"));
    assert!(text(&page).contains("<form method=\"post\" action=\"/password-reset\">"));

    let done = submit(env, &link, NEW_PASSWORD).await;
    assert_eq!(done.status, 200, "{}", text(&done));
    assert!(text(&done).contains("Password changed"));
    assert_eq!(log_in(env, &f, PASSWORD).await, 401, "the old password fails");
    assert_eq!(log_in(env, &f, NEW_PASSWORD).await, 201, "the new one works");
    for token in &f.sessions {
        let resp = call(env, get("/session.json").token(token)).await;
        assert_eq!((resp.status, text(&resp).as_str()), (401, SESSION_MISSING), "old sessions are gone");
    }
    let again = submit(env, &link, "yet-another-password-4").await;
    assert_eq!(again.status, 400, "the same token cannot be used twice");
    assert!(text(&again).contains("no longer valid"));
    assert_eq!(log_in(env, &f, NEW_PASSWORD).await, 201);
}

async fn expired_and_superseded_links_are_refused(env: &Env) {
    let Some((port, dir)) = sink() else { return };
    let mailer = smtp_mailer(port);
    let f = account(env, "expiry").await;
    for _ in 0..2 {
        call(env, post("/users/password/reset.json").token(&f.app_token).json(json!({"email": f.email}))).await;
        deliver_pending(&env.deps, &mailer).await.unwrap();
    }
    let mails = mails_to(&dir, &f.email);
    assert_eq!(mails.len(), 2);
    let (first, second) = (link_in(&mails[0]), link_in(&mails[1]));
    assert_ne!(first, second);
    assert_eq!(
        submit(env, &first, NEW_PASSWORD).await.status,
        400,
        "an earlier token stops working when a new one is sent"
    );
    env.clock().advance(3601);
    let late = submit(env, &second, NEW_PASSWORD).await;
    assert_eq!(late.status, 400, "an expired token is refused");
    assert_eq!(call(env, get(&second).header("Accept", "text/html")).await.status, 400);
    assert_eq!(log_in(env, &f, PASSWORD).await, 201, "nothing changed");
}

async fn the_json_variant_and_the_password_policy(env: &Env) {
    let Some((port, dir)) = sink() else { return };
    let mailer = smtp_mailer(port);
    let f = account(env, "json").await;
    call(env, post("/users/password/reset.json").token(&f.app_token).json(json!({"email": f.email}))).await;
    deliver_pending(&env.deps, &mailer).await.unwrap();
    let link = link_in(&mails_to(&dir, &f.email)[0]);
    let token = link.split("token=").nth(1).unwrap().to_string();
    let weak = call(env, post("/password-reset.json").json(json!({"token": token, "password": "password1"}))).await;
    assert_eq!((weak.status, text(&weak).as_str()), (422, r#"{"errors":{"password":["is too common"]}}"#));
    let short =
        call(env, post("/password-reset").header("Accept", "text/html").form(&format!("token={token}&password=short")))
            .await;
    assert_eq!(short.status, 422);
    assert!(text(&short).contains("The password is too short (minimum is 8 characters)."), "{}", text(&short));
    let ok = call(env, post("/password-reset.json").json(json!({"token": token, "password": NEW_PASSWORD}))).await;
    assert_eq!((ok.status, ok.json()), (200, json!({"success": true})));
    assert_eq!(log_in(env, &f, NEW_PASSWORD).await, 201);
}

async fn requests_are_rate_limited_per_address_and_per_ip(env: &Env) {
    let f = account(env, "limits").await;
    let ask = |email: &str, ip: &str| {
        post("/users/password/reset.json").token(&f.app_token).from_ip(ip).json(json!({"email": email}))
    };
    for _ in 0..shared::service::reset::PER_EMAIL_PER_HOUR {
        assert_eq!(call(env, ask(&f.email, "198.51.100.1")).await.status, 200);
    }
    let limited = call(env, ask(&f.email, "198.51.100.2")).await;
    assert_eq!(limited.status, 429, "per address, whatever the IP");
    let retry: u64 = limited.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    assert_eq!(limited.json(), json!({"errors": {"base": ["Too many requests, please retry later"]}}));
    // Per IP: many addresses from one source.
    let mut statuses = Vec::new();
    for i in 0..shared::service::reset::PER_IP_PER_HOUR + 1 {
        statuses.push(call(env, ask(&format!("probe{i}@example.com"), "203.0.113.7")).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 1, "{statuses:?}");
    // A new window opens after the hour.
    env.clock().advance(3600);
    assert_eq!(call(env, ask(&f.email, "198.51.100.1")).await.status, 200);
}

/// With the application's lockout on, a reset (proof of the mailbox) unlocks the account
/// at once, without waiting out the lockout.
async fn a_reset_lifts_an_account_lockout(env: &Env) {
    let Some((port, dir)) = sink() else { return };
    let mailer = smtp_mailer(port);
    let mut f = account(env, "locked").await;
    f.app.settings.limits.lockout = Some(shared::domain::limits::Rate::new(2, 3600));
    env.store().update_app(&f.app, env.clock().now()).await.unwrap();
    assert_eq!(log_in(env, &f, "wrong-password-1").await, 401);
    assert_eq!(log_in(env, &f, "wrong-password-2").await, 401);
    assert_eq!(log_in(env, &f, PASSWORD).await, 429, "locked");
    call(env, post("/users/password/reset.json").token(&f.app_token).json(json!({"email": f.email}))).await;
    deliver_pending(&env.deps, &mailer).await.unwrap();
    let link = link_in(&mails_to(&dir, &f.email)[0]);
    assert_eq!(submit(env, &link, NEW_PASSWORD).await.status, 200);
    assert_eq!(log_in(env, &f, NEW_PASSWORD).await, 201, "the reset unlocked the account");
}

on_both_engines!(
    a_reset_lifts_an_account_lockout,
    a_reset_by_mail_sets_the_password_and_ends_every_session,
    expired_and_superseded_links_are_refused,
    the_json_variant_and_the_password_policy,
    requests_are_rate_limited_per_address_and_per_ip,
);
