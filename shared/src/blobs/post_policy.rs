//! S3 browser uploads: a SigV4-signed POST policy. The Rust AWS SDK cannot produce one
//! (awslabs/aws-sdk-rust#863), and the ConnectyCube SDKs upload only this way, so we sign it
//! here: the policy pins bucket, key, exact `Content-Type`, `success_action_status`, a
//! `content-length-range` and an expiry, and S3 refuses any form that strays from it.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use std::time::SystemTime;

use aws_sigv4::sign::v4;
use serde_json::{Value, json};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Credentials to sign with (Lambda's are temporary and carry a session token).
#[derive(Clone)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// What one upload may be.
#[derive(Debug, Clone)]
pub struct UploadPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    pub max_bytes: u64,
    pub region: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The hex signature of a base64 policy, signed on the day of `at` (SigV4's key derivation
/// and signature, from `aws-sigv4`, the SDK's own signer).
pub fn sign(secret: &str, at: DateTime<Utc>, region: &str, policy_base64: &str) -> String {
    let key = v4::generate_signing_key(secret, SystemTime::from(at), region, "s3");
    v4::calculate_signature(key, policy_base64.as_bytes())
}

/// The form fields of a presigned POST, in the order a client should send them (the file
/// goes last). Every field is pinned by a policy condition.
pub fn form_fields(policy: &UploadPolicy<'_>, credentials: &SigningCredentials) -> Vec<(String, String)> {
    let date = policy.now.format("%Y%m%d").to_string();
    let amz_date = policy.now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!("{}/{date}/{}/s3/aws4_request", credentials.access_key_id, policy.region);
    let mut conditions = vec![
        json!({ "bucket": policy.bucket }),
        json!({ "key": policy.key }),
        json!({ "Content-Type": policy.content_type }),
        json!({ "success_action_status": "201" }),
        json!(["content-length-range", 1, policy.max_bytes]),
        json!({ "x-amz-algorithm": ALGORITHM }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": amz_date }),
    ];
    if let Some(token) = &credentials.session_token {
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    let document = json!({
        "expiration": policy.expires_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "conditions": Value::Array(conditions),
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(document.to_string());
    let signature = sign(&credentials.secret_access_key, policy.now, policy.region, &encoded);
    let mut fields = vec![
        ("Content-Type".to_string(), policy.content_type.to_string()),
        ("key".to_string(), policy.key.to_string()),
        ("policy".to_string(), encoded),
        ("success_action_status".to_string(), "201".to_string()),
        ("x-amz-algorithm".to_string(), ALGORITHM.to_string()),
        ("x-amz-credential".to_string(), credential),
        ("x-amz-date".to_string(), amz_date),
    ];
    if let Some(token) = &credentials.session_token {
        fields.push(("x-amz-security-token".to_string(), token.clone()));
    }
    fields.push(("x-amz-signature".to_string(), signature));
    fields
}

/// `blob_object_access.params`: the upload URL with the form fields as its query string,
/// the shape the ConnectyCube SDKs parse back into a multipart form.
pub fn params_url(upload_url: &str, fields: &[(String, String)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    // `form_urlencoded` writes spaces as `+`; the SDK decodes with decodeURIComponent.
    format!("{upload_url}?{}", query.replace('+', "%20"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// AWS's published SigV4 POST example ("Example: Browser-Based Upload using HTTP POST"):
    /// the documented policy text (CRLF line ends), the example credentials and date, and the
    /// signature AWS states for them.
    #[test]
    fn signs_the_aws_published_example_identically() {
        let lines = [
            r#"{ "expiration": "2015-12-30T12:00:00.000Z","#,
            r#"  "conditions": ["#,
            r#"    {"bucket": "sigv4examplebucket"},"#,
            r#"    ["starts-with", "$key", "user/user1/"],"#,
            r#"    {"acl": "public-read"},"#,
            r#"    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},"#,
            r#"    ["starts-with", "$Content-Type", "image/"],"#,
            r#"    {"x-amz-meta-uuid": "14365123651274"},"#,
            r#"    {"x-amz-server-side-encryption": "AES256"},"#,
            r#"    ["starts-with", "$x-amz-meta-tag", ""],"#,
            "",
            r#"    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},"#,
            r#"    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},"#,
            r#"    {"x-amz-date": "20151229T000000Z" }"#,
            "  ]",
            "}",
        ];
        let policy = base64::engine::general_purpose::STANDARD.encode(lines.join("\r\n"));
        assert!(policy.starts_with("eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0K"));
        let signature = sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", day(2015, 12, 29), "us-east-1", &policy);
        assert_eq!(signature, "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e");
    }

    fn day(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(year, month, day).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc()
    }

    fn upload() -> UploadPolicy<'static> {
        UploadPolicy {
            bucket: "avatars",
            key: "0123abcd",
            content_type: "image/jpeg",
            max_bytes: 1000,
            region: "eu-west-1",
            now: Utc.with_ymd_and_hms(2026, 11, 26, 1, 2, 3).unwrap(),
            expires_at: Utc.with_ymd_and_hms(2026, 11, 26, 2, 2, 3).unwrap(),
        }
    }

    #[test]
    fn the_policy_pins_everything_and_carries_the_session_token() {
        let credentials = SigningCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: Some("TOKEN".into()),
        };
        let fields = form_fields(&upload(), &credentials);
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        let policy: Value =
            serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(get("policy")).unwrap()).unwrap();
        assert_eq!(policy["expiration"], "2026-11-26T02:02:03.000Z");
        let conditions = policy["conditions"].as_array().unwrap();
        for expected in [
            json!({"bucket": "avatars"}),
            json!({"key": "0123abcd"}),
            json!({"Content-Type": "image/jpeg"}),
            json!({"success_action_status": "201"}),
            json!(["content-length-range", 1, 1000]),
            json!({"x-amz-credential": "AKID/20261126/eu-west-1/s3/aws4_request"}),
            json!({"x-amz-date": "20261126T010203Z"}),
            json!({"x-amz-security-token": "TOKEN"}),
        ] {
            assert!(conditions.contains(&expected), "{expected}");
        }
        assert!(!fields.iter().any(|(k, _)| k == "acl"), "no acl: buckets keep ACLs disabled");
        assert_eq!(get("x-amz-signature"), sign("secret", day(2026, 11, 26), "eu-west-1", &get("policy")));
        assert_eq!(fields.last().unwrap().0, "x-amz-signature");
    }

    #[test]
    fn params_urls_round_trip_through_decoding() {
        let credentials =
            SigningCredentials { access_key_id: "A".into(), secret_access_key: "s".into(), session_token: None };
        let fields = form_fields(&upload(), &credentials);
        let url = params_url("https://avatars.s3.amazonaws.com/", &fields);
        let (base, query) = url.split_once('?').unwrap();
        assert_eq!(base, "https://avatars.s3.amazonaws.com/");
        let decoded: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        assert_eq!(decoded, fields);
        assert!(!query.contains('+'));
    }
}
