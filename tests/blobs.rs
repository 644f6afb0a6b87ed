//! Blobs end to end against an S3 server that checks signatures and POST policies (s3s):
//! upload through the issued presigned POST, complete, download through the redirect; and
//! every way of straying from the policy is refused by the server with nothing stored.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::blobs::post_policy::{SigningCredentials, UploadPolicy, form_fields};
use shared::domain::app::{App, AppSettings};
use testkit::wire::{multipart, send, upload_form};
use testkit::{Answer, Env, Req, TEST_BUCKET, delete, get, on_both_engines, post, put};

const PASSWORD: &str = "correct-horse-battery";
const PICTURE: &[u8] = b"\x89PNG\r\n\x1a\n pretend this is a picture";

async fn call(env: &Env, req: Req) -> Answer {
    Answer::from(cube_auth::router::dispatch(&env.deps, req.build()).await)
}

async fn user_with_token(env: &Env, app: &App, login: &str) -> (i64, String) {
    let signup = call(
        env,
        post("/users")
            .header("CB-AuthKey", &app.auth_key)
            .json(json!({"user": {"login": login, "password": PASSWORD}})),
    )
    .await;
    let id = signup.json()["user"]["id"].as_i64().unwrap();
    let session = call(
        env,
        post("/session").json(
            json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"login": login, "password": PASSWORD}}),
        ),
    )
    .await;
    (id, session.json()["session"]["token"].as_str().unwrap().to_string())
}

async fn create(env: &Env, token: &str, name: &str, content_type: &str, public: bool) -> Value {
    let resp = call(
        env,
        post("/blobs.json")
            .token(token)
            .json(json!({"blob": {"name": name, "content_type": content_type, "public": public}})),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    resp.json()["blob"].clone()
}

/// Posts the form as the SDK does: every field of the params URL in order, the file last.
async fn upload(url: &str, fields: &[(String, String)], file_type: &str, bytes: &[u8]) -> testkit::wire::WireResponse {
    let (content_type, body) = multipart(fields, "picture.png", file_type, bytes);
    send("POST", url, &[("Content-Type", &content_type)], &body).await
}

async fn stored(env: &Env, key: &str) -> bool {
    env.deps.blobs().unwrap().head(key).await.unwrap().is_some()
}

async fn follow(resp: &Answer) -> Vec<u8> {
    assert_eq!(resp.status, 302, "{}", String::from_utf8_lossy(&resp.body));
    let location = resp.header("Location").expect("a Location");
    let file = send("GET", location, &[], &[]).await;
    assert_eq!(file.status, 200, "{}", file.text());
    file.body
}

async fn upload_complete_and_download_round_trip(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let (owner, token) = user_with_token(env, &app, "uploader").await;
    let (_, other_token) = user_with_token(env, &app, "viewer").await;
    let blob = create(env, &token, "avatar.png", "image/png", false).await;
    let access = &blob["blob_object_access"];
    assert_eq!(access["object_access_type"], "Write");
    let (url, fields) = upload_form(access["params"].as_str().unwrap());
    assert!(url.ends_with(&format!("/{TEST_BUCKET}")), "{url}");
    let key = fields.iter().find(|(k, _)| k == "key").unwrap().1.clone();
    assert_eq!(key, blob["uid"].as_str().unwrap(), "the key is the server-chosen uid");
    assert!(!fields.iter().any(|(k, _)| k == "acl"));

    let uploaded = upload(&url, &fields, "image/png", PICTURE).await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    assert!(stored(env, &key).await);

    let id = blob["id"].as_i64().unwrap();
    let wrong_size = call(env, put(&format!("/blobs/{id}/complete.json")).token(&token).json(json!({"size": 3}))).await;
    assert_eq!(wrong_size.status, 422);
    let not_owner =
        call(env, put(&format!("/blobs/{id}/complete.json")).token(&other_token).json(json!({"size": PICTURE.len()})))
            .await;
    assert_eq!(not_owner.status, 404, "someone else's private file is as unknown as when read");
    let complete = call(
        env,
        put(&format!("/blobs/{id}/complete.json")).token(&token).json(json!({"blob": {"size": PICTURE.len()}})),
    )
    .await;
    assert_eq!((complete.status, complete.body.len()), (200, 0));
    // The record of a private file (with its uid) goes to its owner only.
    assert_eq!(call(env, get(&format!("/blobs/{id}.json")).token(&other_token)).await.status, 404);
    let record = call(env, get(&format!("/blobs/{id}.json")).token(&token)).await.json();
    assert_eq!(record["blob"]["size"], json!(PICTURE.len()));
    assert_eq!(record["blob"]["blob_status"], "complete");

    // The avatar is the uid; another user of the app reads it through the blob routes.
    let avatar =
        call(env, put(&format!("/users/{owner}.json")).token(&token).json(json!({"user": {"avatar": key}}))).await;
    assert_eq!(avatar.json()["user"]["avatar"], json!(key));
    let via_token_param = call(env, get(&format!("/blobs/{key}?token={other_token}"))).await;
    assert_eq!(follow(&via_token_param).await, PICTURE);
    let via_header = call(env, get(&format!("/blobs/{key}/download")).token(&other_token)).await;
    assert_eq!(follow(&via_header).await, PICTURE);
    let linked = call(env, get(&format!("/blobs/{key}/object.json?download_url=1")).token(&other_token)).await.json();
    let link = linked["blob"]["blob_object_access"]["download_url"].as_str().unwrap().to_string();
    assert_eq!(send("GET", &link, &[], &[]).await.body, PICTURE);

    // Private: no session, or a session of another application, gets nothing.
    assert_eq!(call(env, get(&format!("/blobs/{key}"))).await.status, 401);
    let stranger_app = env.app(AppSettings::default()).await;
    let (_, stranger) = user_with_token(env, &stranger_app, "stranger").await;
    assert_eq!(call(env, get(&format!("/blobs/{key}?token={stranger}"))).await.status, 404);
    assert_eq!(call(env, get(&format!("/blobs/{id}.json")).token(&stranger)).await.status, 404);

    // Delete: owner only; removes the object and the record. Someone else's private file is a
    // 404 (as reading its record is), a public one a 403 (its record is anyone's to read).
    assert_eq!(call(env, delete(&format!("/blobs/{id}.json")).token(&other_token)).await.status, 404);
    let public = create(env, &token, "public.png", "image/png", true).await["id"].as_i64().unwrap();
    let forbidden = call(env, delete(&format!("/blobs/{public}.json")).token(&other_token)).await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.json());
    let deleted = call(env, delete(&format!("/blobs/{id}.json")).token(&token)).await;
    assert_eq!((deleted.status, deleted.body.len()), (200, 0));
    assert!(!stored(env, &key).await, "the object is gone");
    assert_eq!(call(env, get(&format!("/blobs/{key}?token={other_token}"))).await.status, 404);
}

async fn public_blobs_need_no_session(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let (_, token) = user_with_token(env, &app, "publisher").await;
    let blob = create(env, &token, "banner.png", "image/png", true).await;
    let (url, fields) = upload_form(blob["blob_object_access"]["params"].as_str().unwrap());
    assert_eq!(upload(&url, &fields, "image/png", PICTURE).await.status, 201);
    let public = call(env, get(&format!("/blobs/{}", blob["uid"].as_str().unwrap()))).await;
    assert_eq!(follow(&public).await, PICTURE);
}

async fn creating_a_blob_needs_a_user_session(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let body = json!({"blob": {"name": "x.png", "content_type": "image/png"}});
    let none = call(env, post("/blobs.json").json(body.clone())).await;
    assert_eq!(
        (none.status, String::from_utf8_lossy(&none.body).as_ref()),
        (401, r#"{"errors":{"base":["Required session does not exist"]}}"#)
    );
    let app_token = call(env, post("/session").json(json!({"application_id": app.id, "auth_key": app.auth_key})))
        .await
        .json()["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let app_only = call(env, post("/blobs.json").token(&app_token).json(body)).await;
    assert_eq!(
        (app_only.status, String::from_utf8_lossy(&app_only.body).as_ref()),
        (403, r#"{"errors":["Forbidden. Need user."]}"#)
    );
}

/// Every tampering is refused by S3 itself, and nothing is stored.
async fn the_server_refuses_every_form_that_strays_from_the_policy(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let (_, token) = user_with_token(env, &app, "tamperer").await;
    let blob = create(env, &token, "avatar.png", "image/png", false).await;
    let (url, fields) = upload_form(blob["blob_object_access"]["params"].as_str().unwrap());
    let key = blob["uid"].as_str().unwrap().to_string();
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        fields.iter().map(|(k, v)| (k.clone(), if k == name { value.to_string() } else { v.clone() })).collect()
    };
    let policy = fields.iter().find(|(k, _)| k == "policy").unwrap().1.clone();
    let mut tampered_policy = policy.clone().into_bytes();
    tampered_policy[10] = if tampered_policy[10] == b'A' { b'B' } else { b'A' };
    let cases = [
        (
            "tampered policy",
            with("policy", &String::from_utf8(tampered_policy).unwrap()),
            "image/png",
            PICTURE.to_vec(),
        ),
        ("changed key", with("key", "someone-elses-key"), "image/png", PICTURE.to_vec()),
        ("wrong content type", with("Content-Type", "text/html"), "text/html", b"<script>alert(1)</script>".to_vec()),
        ("empty file", fields.clone(), "image/png", Vec::new()),
    ];
    for (what, form, file_type, bytes) in cases {
        let resp = upload(&url, &form, file_type, &bytes).await;
        assert!((400..500).contains(&resp.status), "{what}: {} {}", resp.status, resp.text());
        assert!(!stored(env, &key).await, "{what}: nothing stored");
        assert!(!stored(env, "someone-elses-key").await, "{what}: nothing stored elsewhere");
    }

    // A policy with a small cap, and an expired one, signed exactly as the server signs.
    let credentials = SigningCredentials {
        access_key_id: shared::aws::LOCAL_ACCESS_KEY.into(),
        secret_access_key: shared::aws::LOCAL_SECRET_KEY.into(),
        session_token: None,
    };
    let now: DateTime<Utc> = DateTime::from_timestamp(env.clock().now(), 0).unwrap();
    let policy = |max_bytes: u64, expires_at: DateTime<Utc>| UploadPolicy {
        bucket: TEST_BUCKET,
        key: &key,
        content_type: "image/png",
        max_bytes,
        region: "us-east-1",
        now,
        expires_at,
    };
    let too_big =
        upload(&url, &form_fields(&policy(16, now + chrono::Duration::hours(1)), &credentials), "image/png", PICTURE)
            .await;
    assert!((400..500).contains(&too_big.status), "over the size cap: {}", too_big.text());
    assert!(too_big.text().contains("EntityTooLarge"), "{}", too_big.text());
    assert!(!stored(env, &key).await);
    let expired = upload(
        &url,
        &form_fields(&policy(1000, now - chrono::Duration::seconds(1)), &credentials),
        "image/png",
        PICTURE,
    )
    .await;
    assert!((400..500).contains(&expired.status), "expired: {}", expired.text());
    assert!(!stored(env, &key).await);
    // The untouched form still works, so the refusals above were the policy's doing.
    assert_eq!(upload(&url, &fields, "image/png", PICTURE).await.status, 201);
    assert!(stored(env, &key).await);
}

/// Ids are sequential: a guest session walking them must not find private files' uids.
async fn private_records_are_not_enumerable_by_id(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let (_, owner) = user_with_token(env, &app, "keeper").await;
    let private = create(env, &owner, "secret.pdf", "application/pdf", false).await;
    let public = create(env, &owner, "open.png", "image/png", true).await;
    let guest = json!({"application_id": app.id, "auth_key": app.auth_key, "user": {"guest": true}});
    let guest = call(env, post("/session").json(guest)).await.json()["session"]["token"].as_str().unwrap().to_string();
    let first = private["id"].as_i64().unwrap();
    for id in first - 2..first + 5 {
        let resp = call(env, get(&format!("/blobs/{id}.json")).token(&guest)).await;
        if id == public["id"].as_i64().unwrap() {
            assert_eq!(resp.json()["blob"]["uid"], public["uid"], "a public record is for the whole application");
        } else {
            assert_eq!(resp.status, 404, "blob {id}: {}", String::from_utf8_lossy(&resp.body));
        }
    }
    let own = call(env, get(&format!("/blobs/{first}.json")).token(&owner)).await;
    assert_eq!(own.json()["blob"]["uid"], private["uid"]);
}

/// Per user and day: so many files, and so many bytes (an upload form sets aside its size
/// cap until the file is completed, when what it did not use goes back).
async fn uploads_are_held_to_the_daily_quota(env: &Env) {
    use shared::domain::limits::{AbuseLimits, UploadQuota};
    let max = env.deps.blobs().unwrap().config.max_upload_bytes as i64;
    let quota = |files, bytes| AbuseLimits { uploads_per_user: UploadQuota { files, bytes }, ..AbuseLimits::default() };
    let by_count = env.app(AppSettings { limits: quota(2, 100 * max), ..AppSettings::default() }).await;
    let (_, token) = user_with_token(env, &by_count, "counted").await;
    create(env, &token, "a.png", "image/png", false).await;
    create(env, &token, "b.png", "image/png", false).await;
    let third =
        call(env, post("/blobs").token(&token).json(json!({"blob": {"name": "c.png", "content_type": "image/png"}})));
    let third = third.await;
    assert_eq!(third.status, 429, "{}", String::from_utf8_lossy(&third.body));
    let (_, someone_else) = user_with_token(env, &by_count, "other-uploader").await;
    create(env, &someone_else, "d.png", "image/png", false).await;

    let by_bytes = env.app(AppSettings { limits: quota(100, max + max / 2), ..AppSettings::default() }).await;
    let (_, token) = user_with_token(env, &by_bytes, "sized").await;
    let first = create(env, &token, "a.png", "image/png", false).await;
    let second = json!({"blob": {"name": "b.png", "content_type": "image/png"}});
    assert_eq!(
        call(env, post("/blobs").token(&token).json(second.clone())).await.status,
        429,
        "the first form's cap is set aside"
    );
    let (url, fields) = upload_form(first["blob_object_access"]["params"].as_str().unwrap());
    assert_eq!(upload(&url, &fields, "image/png", PICTURE).await.status, 201);
    let id = first["id"].as_i64().unwrap();
    assert_eq!(
        call(env, put(&format!("/blobs/{id}/complete")).token(&token).json(json!({"size": PICTURE.len()})))
            .await
            .status,
        200
    );
    assert_eq!(call(env, post("/blobs").token(&token).json(second)).await.status, 201, "the unused part came back");

    // A quota below the size cap lowers the form's cap to it.
    let small = env.app(AppSettings { limits: quota(100, 1000), ..AppSettings::default() }).await;
    let (_, token) = user_with_token(env, &small, "small").await;
    let blob = create(env, &token, "tiny.png", "image/png", false).await;
    let (url, fields) = upload_form(blob["blob_object_access"]["params"].as_str().unwrap());
    assert_eq!(upload(&url, &fields, "image/png", &[7u8; 1001]).await.status / 100, 4, "over the quota's cap");
    assert_eq!(upload(&url, &fields, "image/png", &[7u8; 1000]).await.status, 201);
}

on_both_engines!(
    private_records_are_not_enumerable_by_id,
    uploads_are_held_to_the_daily_quota,
    upload_complete_and_download_round_trip,
    public_blobs_need_no_session,
    creating_a_blob_needs_a_user_session,
    the_server_refuses_every_form_that_strays_from_the_policy,
);
