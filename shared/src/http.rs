//! The only HTTP glue: our request and response types, their conversion from and to API
//! Gateway HTTP API (payload 2.0) events, and the headers every response carries.
//!
//! Lambda functions and the local server both build an [`ApiRequest`] and turn the handler's
//! result into an [`ApiResponse`] here, so local mode and Lambda cannot drift. We read API
//! Gateway's event ourselves instead of going through `lambda_http`, which builds an
//! `http::Uri` from `rawQueryString` and panics on characters such as a raw `"` or space:
//! every malformed input must become a 4xx, never a crashed instance.

use std::collections::HashMap;
use std::time::Instant;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{Timestamp, expiration_header};
use crate::error::ApiError;
use crate::params::{self, ParamsError};

/// Largest request body we read. The biggest legitimate body is a profile update with a
/// 64 KiB `custom_data`; API Gateway itself stops at 10 MB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Headers a browser may send cross-origin (contract §2.4).
pub const CORS_ALLOW_HEADERS: &str = "CB-Token, CB-AuthKey, CB-SDK, Content-Type, ConnectyCube-REST-API-Version, CB-OS";
pub const CORS_ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Without this a browser app cannot read the session expiry header.
pub const CORS_EXPOSE_HEADERS: &str = "CB-Token-ExpirationDate, Date";

/// An HTTP request as every handler sees it.
#[derive(Debug)]
pub struct ApiRequest {
    method: String,
    segments: Vec<String>,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    body_too_large: bool,
    source_ip: Option<String>,
    request_id: String,
    received: Instant,
    session_expires_at: Option<Timestamp>,
}

impl ApiRequest {
    /// Builds a request from plain parts. `path` is the raw (still percent-encoded) path.
    pub fn new(
        method: &str,
        path: &str,
        raw_query: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        source_ip: Option<String>,
        request_id: String,
    ) -> Self {
        let body_too_large = body.len() > MAX_BODY_BYTES;
        ApiRequest {
            method: method.to_ascii_uppercase(),
            segments: path_segments(path),
            raw_query: raw_query.to_string(),
            headers: headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect(),
            body: if body_too_large { Vec::new() } else { body },
            body_too_large,
            source_ip,
            request_id,
            received: Instant::now(),
            session_expires_at: None,
        }
    }

    /// Builds a request from an API Gateway HTTP API (payload 2.0) event.
    pub fn from_event(event: HttpApiEvent) -> Self {
        let ctx = event.request_context;
        let mut path = event.raw_path;
        // On a named stage rawPath starts with "/<stage>"; routes never include it.
        if !ctx.stage.is_empty() && ctx.stage != "$default" {
            let prefix = format!("/{}", ctx.stage);
            if path == prefix || path.starts_with(&format!("{prefix}/")) {
                path = path[prefix.len()..].to_string();
            }
        }
        let body = match event.body {
            None => Vec::new(),
            Some(text) if event.is_base64_encoded => {
                base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).unwrap_or_default()
            }
            Some(text) => text.into_bytes(),
        };
        let headers = event.headers.into_iter().collect();
        ApiRequest::new(
            &ctx.http.method,
            &path,
            &event.raw_query_string,
            headers,
            body,
            ctx.http.source_ip,
            ctx.request_id,
        )
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    /// Path segments, percent-decoded, with one trailing `.json` removed from the last one:
    /// `/users/5.json` and `/users/5` both give `["users", "5"]`.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    pub fn segment(&self, index: usize) -> Option<&str> {
        self.segments.get(index).map(String::as_str)
    }

    /// The normalised path, `/users/5` for `/users/5.json`.
    pub fn route_path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `CB-Token`, where an empty or blank value counts as missing (Flutter always sends it).
    pub fn token(&self) -> Option<&str> {
        self.header("cb-token").map(str::trim).filter(|t| !t.is_empty())
    }

    /// `CB-AuthKey`, used by signup without a session.
    pub fn auth_key(&self) -> Option<&str> {
        self.header("cb-authkey").map(str::trim).filter(|t| !t.is_empty())
    }

    /// The caller's IP as API Gateway saw it (never `X-Forwarded-For`, which a client sets).
    pub fn source_ip(&self) -> Option<&str> {
        self.source_ip.as_deref()
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Query-string parameters only.
    pub fn query(&self) -> Result<Value, ApiError> {
        params::parse_urlencoded(self.raw_query.as_bytes()).map_err(params_error)
    }

    /// Query parameters with body parameters laid over them. The body is JSON or
    /// form-encoded by `Content-Type`, and sniffed when the type is missing or odd.
    pub fn params(&self) -> Result<Value, ApiError> {
        if self.body_too_large {
            return Err(ApiError::PayloadTooLarge);
        }
        let mut all = self.query()?;
        if !self.body.iter().all(u8::is_ascii_whitespace) {
            params::merge(&mut all, self.body_params()?);
        }
        Ok(all)
    }

    fn body_params(&self) -> Result<Value, ApiError> {
        let content_type = self.header("content-type").unwrap_or("").to_ascii_lowercase();
        let looks_json = self.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let parsed = if content_type.contains("json") || (!content_type.contains("form-urlencoded") && looks_json) {
            params::parse_json(&self.body)
        } else {
            params::parse_urlencoded(&self.body)
        };
        parsed.map_err(params_error)
    }

    /// Records when the session behind this request expires, for `CB-Token-ExpirationDate`.
    pub fn set_session_expiry(&mut self, expires_at: Timestamp) {
        self.session_expires_at = Some(expires_at);
    }

    /// Turns a handler's result into the response, with the headers every response carries.
    pub fn respond(&self, result: Result<Reply, ApiError>) -> ApiResponse {
        let response = match result {
            Ok(reply) => {
                let (body, content_type, location) = match reply.body {
                    ReplyBody::Json(value) => (value.to_string().into_bytes(), Some(JSON), None),
                    ReplyBody::Empty => (Vec::new(), None, None),
                    ReplyBody::Html(html) => (html.into_bytes(), Some(HTML), None),
                    ReplyBody::Redirect(url) => (Vec::new(), None, Some(url)),
                };
                ApiResponse::build(reply.status, body, content_type, location, self.session_expires_at)
            }
            Err(error) => self.error_response(error),
        };
        self.log(response.status);
        response
    }

    fn error_response(&self, error: ApiError) -> ApiResponse {
        if let ApiError::Unavailable(cause) = &error {
            // `{:#}` prints the cause chain on one line; SDK errors carry no item data.
            tracing::error!(request_id = %self.request_id, error = format!("{cause:#}"), "dependency failure");
        }
        let body = error.body().to_string().into_bytes();
        let mut response = ApiResponse::build(error.status(), body, Some(JSON), None, self.session_expires_at);
        if let ApiError::TooManyRequests { retry_after_secs } = error {
            response.headers.push(("Retry-After".into(), retry_after_secs.to_string()));
        }
        response
    }

    fn log(&self, status: u16) {
        // Never the query string, the body or the path's values: they can hold emails,
        // logins, passwords, reset tokens and blob uids. The route's pattern says enough.
        let route = crate::routes::resolve(&self.method, &self.segments).ok();
        tracing::info!(
            request_id = %self.request_id,
            function = route.map_or("none", |r| r.function),
            method = %self.method,
            route = route.map_or("unmatched", |r| r.path),
            status,
            latency_ms = self.received.elapsed().as_secs_f64() * 1000.0,
            round_trips = crate::trips::count(),
            "request"
        );
    }
}

fn params_error(error: ParamsError) -> ApiError {
    ApiError::BadRequest(error.to_string())
}

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

fn path_segments(raw_path: &str) -> Vec<String> {
    let mut segments: Vec<String> = raw_path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    if let Some(last) = segments.last_mut()
        && let Some(stripped) = last.strip_suffix(".json")
    {
        *last = stripped.to_string();
    }
    segments
}

/// Percent-decodes one path segment (`+` stays a plus in paths).
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
        {
            out.push(high << 4 | low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// What a handler returns on success.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: ReplyBody,
}

#[derive(Debug)]
pub enum ReplyBody {
    Json(Value),
    /// For the routes the SDKs read as text (DELETEs, reset, blob complete): 200, no body.
    Empty,
    Html(String),
    /// A redirect to this URL (blob downloads).
    Redirect(String),
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply { status: 200, body: ReplyBody::Json(body) }
    }

    pub fn created(body: Value) -> Self {
        Reply { status: 201, body: ReplyBody::Json(body) }
    }

    pub fn empty() -> Self {
        Reply { status: 200, body: ReplyBody::Empty }
    }

    /// 302 to `url` (blob downloads).
    pub fn redirect(url: String) -> Self {
        Reply { status: 302, body: ReplyBody::Redirect(url) }
    }
}

/// A finished response.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    fn build(
        status: u16,
        body: Vec<u8>,
        content_type: Option<&str>,
        location: Option<String>,
        session_expires_at: Option<Timestamp>,
    ) -> Self {
        let mut headers = common_headers();
        headers.push(("Content-Type".into(), content_type.unwrap_or("text/plain; charset=utf-8").into()));
        if let Some(expires_at) = session_expires_at {
            headers.push(("CB-Token-ExpirationDate".into(), expiration_header(expires_at)));
        }
        if let Some(url) = location {
            headers.push(("Location".into(), url));
        }
        if content_type == Some(HTML) {
            // Pages carry reset tokens: nothing may load, frame them, or see them in a Referer.
            headers.push(("Content-Security-Policy".into(), crate::pages::content_security_policy().into()));
            headers.push(("Referrer-Policy".into(), "no-referrer".into()));
            headers.push(("X-Frame-Options".into(), "DENY".into()));
        }
        ApiResponse { status, headers, body }
    }

    /// The answer to a CORS preflight (`OPTIONS` on any route).
    pub fn preflight() -> Self {
        let mut headers = common_headers();
        headers.push(("Access-Control-Allow-Methods".into(), CORS_ALLOW_METHODS.into()));
        headers.push(("Access-Control-Allow-Headers".into(), CORS_ALLOW_HEADERS.into()));
        headers.push(("Access-Control-Max-Age".into(), "86400".into()));
        headers.push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
        ApiResponse { status: 200, headers, body: Vec::new() }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when empty or not JSON). For tests and tools.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn into_event(self) -> HttpApiResponse {
        let mut headers = HashMap::new();
        for (name, value) in self.headers {
            headers
                .entry(name)
                .and_modify(|existing: &mut String| {
                    existing.push_str(", ");
                    existing.push_str(&value);
                })
                .or_insert(value);
        }
        HttpApiResponse {
            status_code: self.status,
            headers,
            body: String::from_utf8_lossy(&self.body).into_owned(),
            is_base64_encoded: false,
        }
    }
}

fn common_headers() -> Vec<(String, String)> {
    vec![
        ("Access-Control-Allow-Origin".into(), "*".into()),
        ("Access-Control-Expose-Headers".into(), CORS_EXPOSE_HEADERS.into()),
        ("ConnectyCube-REST-API-Version".into(), "0.1.1".into()),
        // Session and user replies carry tokens and personal data: never cache them.
        ("Cache-Control".into(), "no-store".into()),
        ("X-Content-Type-Options".into(), "nosniff".into()),
    ]
}

/// An API Gateway HTTP API event, payload format 2.0 (only the members we use).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiEvent {
    #[serde(default)]
    pub raw_path: String,
    #[serde(default)]
    pub raw_query_string: String,
    #[serde(default)]
    pub headers: HashMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
    pub request_context: HttpApiContext,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiContext {
    #[serde(default)]
    pub request_id: String,
    #[serde(default)]
    pub stage: String,
    pub http: HttpApiDescription,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiDescription {
    pub method: String,
    #[serde(default)]
    pub source_ip: Option<String>,
}

/// The response an HTTP API Lambda integration returns.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpApiResponse {
    pub status_code: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: &str) -> ApiRequest {
        ApiRequest::new(
            method,
            path,
            query,
            headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body.as_bytes().to_vec(),
            Some("127.0.0.1".into()),
            "test".into(),
        )
    }

    #[test]
    fn json_suffix_is_optional_and_segments_are_decoded() {
        assert_eq!(req("GET", "/users/5.json", "", &[], "").segments(), ["users", "5"]);
        assert_eq!(req("GET", "/users/5", "", &[], "").segments(), ["users", "5"]);
        assert_eq!(req("GET", "/session.json", "", &[], "").route_path(), "/session");
        assert_eq!(req("GET", "/users/external/a%20b.json", "", &[], "").segments(), ["users", "external", "a b"]);
        assert_eq!(req("GET", "/users/%zz", "", &[], "").segments(), ["users", "%zz"]);
        assert_eq!(req("GET", "/users/%é1", "", &[], "").segments(), ["users", "%é1"]);
    }

    #[test]
    fn empty_cb_token_counts_as_missing() {
        assert_eq!(req("POST", "/session", "", &[("CB-Token", "")], "").token(), None);
        assert_eq!(req("POST", "/session", "", &[("cb-token", "  ")], "").token(), None);
        assert_eq!(req("GET", "/session", "", &[("CB-Token", "abc")], "").token(), Some("abc"));
    }

    #[test]
    fn json_form_and_sniffed_bodies_parse_alike() {
        let json_body = req(
            "POST",
            "/session",
            "",
            &[("Content-Type", "application/json;charset=utf-8")],
            r#"{"user":{"login":"a"}}"#,
        );
        let form_body =
            req("POST", "/session", "", &[("Content-Type", "application/x-www-form-urlencoded")], "user%5Blogin%5D=a");
        let untyped = req("POST", "/session", "", &[], r#"{"user":{"login":"a"}}"#);
        for r in [json_body, form_body, untyped] {
            assert_eq!(r.params().unwrap(), json!({"user": {"login": "a"}}));
        }
    }

    #[test]
    fn malformed_bodies_are_400_and_oversized_bodies_413() {
        let bad = req("POST", "/users", "", &[("Content-Type", "application/json")], "{nope");
        assert_eq!(bad.params().unwrap_err().status(), 400);
        let big = req("POST", "/users", "", &[], &"x".repeat(MAX_BODY_BYTES + 1));
        assert_eq!(big.params().unwrap_err().status(), 413);
    }

    #[test]
    fn responses_carry_cors_and_the_expiry_header_when_session_bound() {
        let mut r = req("GET", "/session", "", &[], "");
        let plain = r.respond(Ok(Reply::ok(json!({}))));
        assert_eq!(plain.header("Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(plain.header("Access-Control-Expose-Headers"), Some(CORS_EXPOSE_HEADERS));
        assert_eq!(plain.header("CB-Token-ExpirationDate"), None);
        r.set_session_expiry(1_700_000_000);
        let bound = r.respond(Err(ApiError::SessionMissing));
        assert_eq!(bound.header("CB-Token-ExpirationDate"), Some("2023-11-14 22:13:20 UTC"));
        assert_eq!(bound.status, 401);
        assert_eq!(bound.header("Content-Type"), Some(JSON));
    }

    #[test]
    fn rate_limited_responses_say_when_to_retry() {
        let r = req("POST", "/session", "", &[], "");
        let resp = r.respond(Err(ApiError::TooManyRequests { retry_after_secs: 42 }));
        assert_eq!(resp.status, 429);
        assert_eq!(resp.header("Retry-After"), Some("42"));
    }

    #[test]
    fn api_gateway_events_convert_including_stage_prefix_and_base64_bodies() {
        let event: HttpApiEvent = serde_json::from_value(json!({
            "version": "2.0", "rawPath": "/prod/users/v2.json", "rawQueryString": "id[in][]=1&x=\"q\" y",
            "headers": {"cb-token": "t"}, "body": "e30=", "isBase64Encoded": true,
            "requestContext": {"requestId": "r1", "stage": "prod", "http": {"method": "GET", "sourceIp": "1.2.3.4"}}
        }))
        .unwrap();
        let r = ApiRequest::from_event(event);
        assert_eq!(r.segments(), ["users", "v2"]);
        assert_eq!(r.token(), Some("t"));
        assert_eq!(r.source_ip(), Some("1.2.3.4"));
        assert_eq!(r.query().unwrap()["x"], json!("\"q\" y"));
        assert_eq!(r.params().unwrap()["id"], json!({"in": ["1"]}));
    }
}
