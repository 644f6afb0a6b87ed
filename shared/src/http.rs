//! The HTTP edge every handler shares: reading a `lambda_http` request (path segments, the
//! raw query string through the Rails-style parser, JSON or form bodies, `CB-Token`), and
//! building the response with the headers every response carries.
//!
//! Lambda functions get their `lambda_http::Request` from `lambda_http`'s conversion (behind
//! [`crate::lambda`]'s guard); local mode builds the same type with [`local_request`]; both
//! answer with the `lambda_http::Response` built here, so local mode and Lambda cannot drift.

use std::future::Future;
use std::time::Instant;

use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;

use crate::clock::{Timestamp, expiration_header};
use crate::error::ApiError;
use crate::params::{self, ParamsError};
use crate::service::context::Context;

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

    /// Reads a request as `lambda_http` hands it over (or as local mode builds it with
    /// [`local_request`]): the raw path (API Gateway's `rawPath`, stage prefix removed), the
    /// raw query string, headers, body, and the caller's IP and request id from the HTTP API
    /// request context.
    pub fn from_http(req: Request) -> Self {
        let (stage, source_ip, request_id) = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => (
                ctx.stage.clone().unwrap_or_default(),
                ctx.http.source_ip.clone(),
                ctx.request_id.clone().unwrap_or_default(),
            ),
            _ => (String::new(), None, String::new()),
        };
        let raw_path = req.raw_http_path();
        let mut path = if raw_path.is_empty() { req.uri().path().to_string() } else { raw_path.to_string() };
        // On a named stage rawPath starts with "/<stage>"; routes never include it.
        if !stage.is_empty() && stage != "$default" {
            let prefix = format!("/{stage}");
            if path == prefix || path.starts_with(&format!("{prefix}/")) {
                path = path[prefix.len()..].to_string();
            }
        }
        let (parts, body) = req.into_parts();
        ApiRequest::new(
            parts.method.as_str(),
            &path,
            parts.uri.query().unwrap_or(""),
            header_pairs(&parts.headers),
            body_bytes(body),
            source_ip,
            request_id,
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

    /// What a use case is told of this request (see [`Context`]).
    pub fn context(&self) -> Context {
        Context {
            token: self.token().map(str::to_string),
            auth_key: self.auth_key().map(str::to_string),
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            session_expires_at: None,
        }
    }

    /// Turns a use case's result into the response, with the session expiry its context
    /// learned.
    pub fn respond_in(&mut self, ctx: &Context, result: Result<Reply, ApiError>) -> Response<Body> {
        if let Some(expires_at) = ctx.session_expires_at {
            self.session_expires_at = Some(expires_at);
        }
        self.respond(result)
    }

    /// Records when the session behind this request expires, for `CB-Token-ExpirationDate`.
    pub fn set_session_expiry(&mut self, expires_at: Timestamp) {
        self.session_expires_at = Some(expires_at);
    }

    /// Turns a handler's result into the response, with the headers every response carries.
    pub fn respond(&self, result: Result<Reply, ApiError>) -> Response<Body> {
        let response = match result {
            Ok(reply) => {
                let (body, content_type, location) = match reply.body {
                    ReplyBody::Json(value) => (value.to_string(), Some(JSON), None),
                    ReplyBody::JsonText(text) => (text, Some(JSON), None),
                    ReplyBody::Empty => (String::new(), None, None),
                    ReplyBody::Html(html) => (html, Some(HTML), None),
                    ReplyBody::Redirect(url) => (String::new(), None, Some(url)),
                };
                build(reply.status, body, content_type, location, self.session_expires_at)
            }
            Err(error) => {
                if let ApiError::Unavailable(cause) = &error {
                    // `{:#}` prints the cause chain on one line; SDK errors carry no item data.
                    tracing::error!(request_id = %self.request_id, error = format!("{cause:#}"), "dependency failure");
                }
                let not_allowed = matches!(error, ApiError::MethodNotAllowed);
                let mut response = error_with_expiry(error, self.session_expires_at);
                if not_allowed {
                    // HTTP requires a 405 to say which methods the resource takes.
                    let allowed = crate::routes::allowed_methods(&self.segments);
                    insert(&mut response, "Allow", &allowed.join(", "));
                }
                response
            }
        };
        self.log(response.status().as_u16());
        response
    }

    fn log(&self, status: u16) {
        // Never the query string, the body or the path's values: they can hold emails,
        // logins, passwords, reset tokens and blob uids. The route's pattern says enough.
        let route = crate::routes::resolve(&self.method, &self.segments).ok();
        tracing::info!(
            request_id = %self.request_id,
            function = route.map_or("none", |r| r.function.name()),
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

/// Path segments, percent-decoded, one trailing `.json` removed.
pub fn path_segments(raw_path: &str) -> Vec<String> {
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
    /// JSON serialised from the answer's own types, without a `Value` in between.
    JsonText(String),
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

    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Reply { status, body: ReplyBody::Json(body) }
    }

    /// 200 with `body` serialised as it is: the same JSON as `Reply::ok(json_value(body))`,
    /// without building a `Value` first (one allocation per key and per string).
    pub fn ok_of<T: Serialize>(body: &T) -> Self {
        Reply { status: 200, body: ReplyBody::JsonText(json_text(body)) }
    }

    /// 201 with `body` serialised as it is.
    pub fn created_of<T: Serialize>(body: &T) -> Self {
        Reply { status: 201, body: ReplyBody::JsonText(json_text(body)) }
    }

    /// `status` with an HTML page.
    pub fn html(status: u16, page: String) -> Self {
        Reply { status, body: ReplyBody::Html(page) }
    }

    /// 302 to `url` (blob downloads).
    pub fn redirect(url: String) -> Self {
        Reply { status: 302, body: ReplyBody::Redirect(url) }
    }
}

/// An object with one member, `{"<name>": value}`: the envelope of most answers
/// (`{"user": …}`, `{"session": …}`).
pub struct Member<T>(pub &'static str, pub T);

impl<T: Serialize> Serialize for Member<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &self.1)?;
        map.end()
    }
}

/// `body` as a `Value`. The answer types serialise to objects with string keys and no
/// floats, which cannot fail; `null` would stand in if one did.
pub fn json_value<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// `body` as JSON text, on the same terms as [`json_value`].
fn json_text<T: Serialize>(body: &T) -> String {
    serde_json::to_string(body).unwrap_or_else(|_| "null".into())
}

/// What a function crate answers a request with: its adapter from the request to the use
/// case and back (it checks the route itself).
pub type Answer = for<'a> fn(
    &'a crate::Deps,
    &'a ApiRequest,
    &'a mut Context,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send + 'a>>;

/// Serves one request with `answer`: reads it, gives the use case its [`Context`], and
/// builds the response (with the session expiry the context learned, on errors too).
pub async fn serve(deps: &crate::Deps, req: Request, answer: Answer) -> Response<Body> {
    let mut req = ApiRequest::from_http(req);
    let mut ctx = req.context();
    let result = answer(deps, &req, &mut ctx).await;
    req.respond_in(&ctx, result)
}

/// The response for `error`, in ConnectyCube's JSON error shape.
pub fn error_response(error: ApiError) -> Response<Body> {
    error_with_expiry(error, None)
}

fn error_with_expiry(error: ApiError, session_expires_at: Option<Timestamp>) -> Response<Body> {
    let mut response = build(error.status(), error.body().to_string(), Some(JSON), None, session_expires_at);
    if let ApiError::TooManyRequests { retry_after_secs } = error {
        insert(&mut response, "Retry-After", &retry_after_secs.to_string());
    }
    response
}

fn build(
    status: u16,
    body: String,
    content_type: Option<&str>,
    location: Option<String>,
    session_expires_at: Option<Timestamp>,
) -> Response<Body> {
    let body = if body.is_empty() { Body::Empty } else { Body::Text(body) };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    common_headers(&mut response);
    insert(&mut response, "Content-Type", content_type.unwrap_or("text/plain; charset=utf-8"));
    if let Some(expires_at) = session_expires_at {
        insert(&mut response, "CB-Token-ExpirationDate", &expiration_header(expires_at));
    }
    if let Some(url) = location {
        insert(&mut response, "Location", &url);
    }
    if content_type == Some(HTML) {
        // Pages carry reset tokens: nothing may load, frame them, or see them in a Referer.
        insert(&mut response, "Content-Security-Policy", crate::pages::content_security_policy());
        insert(&mut response, "Referrer-Policy", "no-referrer");
        insert(&mut response, "X-Frame-Options", "DENY");
    }
    response
}

/// The answer to a CORS preflight (`OPTIONS` on any route).
pub fn preflight() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    common_headers(&mut response);
    insert(&mut response, "Access-Control-Allow-Methods", CORS_ALLOW_METHODS);
    insert(&mut response, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
    insert(&mut response, "Access-Control-Max-Age", "86400");
    insert(&mut response, "Content-Type", "text/plain; charset=utf-8");
    response
}

/// Sets a header. A value that is not a valid header (a redirect URL never is one: presigned
/// URLs are ASCII) is left out rather than failing the response.
fn insert(response: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// Headers as (name, value) pairs; a value that is not UTF-8 is read lossily.
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect()
}

/// A `lambda_http` body's bytes (none for an empty one).
pub fn body_bytes(body: Body) -> Vec<u8> {
    match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    }
}

/// A request as API Gateway would hand it to `lambda_http`, for local mode and tests: the
/// HTTP API request context carries the caller's IP and the request id.
pub fn local_request(
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    source_ip: Option<String>,
    request_id: String,
) -> Request {
    let mut description = ApiGatewayV2httpRequestContextHttpDescription::default();
    description.method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    description.source_ip = source_ip;
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.request_id = Some(request_id);
    context.stage = Some("$default".into());
    context.http = description;
    let uri = lambda_http::http::Uri::try_from(crate::lambda::encode_uri_part(path_and_query))
        .unwrap_or_else(|_| lambda_http::http::Uri::from_static("/"));
    let mut request = Request::new(if body.is_empty() { Body::Empty } else { Body::Binary(body) });
    *request.method_mut() = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    *request.uri_mut() = uri;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            request.headers_mut().append(name, value);
        }
    }
    request.with_request_context(RequestContext::ApiGatewayV2(context))
}

fn common_headers(response: &mut Response<Body>) {
    insert(response, "Access-Control-Allow-Origin", "*");
    insert(response, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    insert(response, "ConnectyCube-REST-API-Version", "0.1.1");
    // Session and user replies carry tokens and personal data: never cache them.
    insert(response, "Cache-Control", "no-store");
    insert(response, "X-Content-Type-Options", "nosniff");
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
        assert_eq!(plain.headers()["Access-Control-Allow-Origin"], "*");
        assert_eq!(plain.headers()["Access-Control-Expose-Headers"], CORS_EXPOSE_HEADERS);
        assert!(plain.headers().get("CB-Token-ExpirationDate").is_none());
        r.set_session_expiry(1_700_000_000);
        let bound = r.respond(Err(ApiError::SessionMissing));
        assert_eq!(bound.headers()["CB-Token-ExpirationDate"], "2023-11-14 22:13:20 UTC");
        assert_eq!(bound.status(), 401);
        assert_eq!(bound.headers()["Content-Type"], JSON);
    }

    #[test]
    fn rate_limited_responses_say_when_to_retry() {
        let r = req("POST", "/session", "", &[], "");
        let resp = r.respond(Err(ApiError::TooManyRequests { retry_after_secs: 42 }));
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["Retry-After"], "42");
    }

    #[test]
    fn api_gateway_events_convert_including_stage_prefix_and_base64_bodies() {
        let event = json!({
            "version": "2.0", "routeKey": "GET /users/v2", "rawPath": "/prod/users/v2.json",
            "rawQueryString": "id[in][]=1&x=\"q\" y",
            "headers": {"cb-token": "t"}, "body": "e30=", "isBase64Encoded": true,
            "requestContext": {"requestId": "r1", "stage": "prod", "http": {"method": "GET", "sourceIp": "1.2.3.4"}}
        });
        let guarded = crate::lambda::guard_event(event).expect("a URI of a reasonable length");
        let converted = serde_json::from_value::<lambda_http::request::LambdaRequest>(guarded);
        let r = ApiRequest::from_http(Request::from(converted.expect("an HTTP API event")));
        assert_eq!(r.segments(), ["users", "v2"]);
        assert_eq!(r.token(), Some("t"));
        assert_eq!(r.source_ip(), Some("1.2.3.4"));
        assert_eq!(r.request_id(), "r1");
        assert_eq!(r.query().unwrap()["x"], json!("\"q\" y"));
        assert_eq!(r.params().unwrap()["id"], json!({"in": ["1"]}));
    }

    #[test]
    fn local_requests_read_like_lambda_ones() {
        let headers = vec![("CB-Token".to_string(), "t".to_string())];
        let local =
            local_request("PUT", "/users/5.json?a=%22b", &headers, b"{}".to_vec(), Some("::1".into()), "r".into());
        let r = ApiRequest::from_http(local);
        assert_eq!((r.method(), r.segments()), ("PUT", &["users".to_string(), "5".to_string()][..]));
        assert_eq!((r.token(), r.source_ip(), r.request_id()), (Some("t"), Some("::1"), "r"));
        assert_eq!(r.query().unwrap()["a"], json!("\"b"));
    }
}
