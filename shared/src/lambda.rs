//! `lambda_http` behind a guard. Every HTTP function runs `lambda_http`'s own adapter (its
//! event types, its conversion into `http::Request`, its response encoding); this module
//! only puts one pre-step in front of it.
//!
//! Why a pre-step: `lambda_http` builds the request URI from `rawPath`, `rawQueryString`, the
//! `Host` and `X-Forwarded-Proto` headers and the stage, and panics (`expect("failed to build
//! request")`, `Url::parse(..).unwrap()`) when they do not make a valid URI: a raw `"` or
//! space in a query string is enough. A base64 body that does not decode panics too, and a
//! header that is not a valid `http` header fails the whole event. API Gateway forwards such
//! requests, so [`guard_event`] re-encodes what is not valid in a URI and drops what cannot be
//! a header before `lambda_http` sees the event. Re-encoding keeps the meaning: the Rails-style
//! parser decodes `%22` exactly as it reads a raw `"`. Whatever still fails to convert is
//! answered with a JSON 400 here, never a panic or an invocation error.
//!
//! Almost every event needs none of that, so the guard first reads the event straight into
//! `lambda_http`'s typed request and checks it ([`needs_no_guard`]); only an event that fails
//! the check or does not read goes the long way, through a JSON `Value` the guard can mend.
//! The long way parses the event three times (into a `Value`, back to text inside
//! `lambda_http`'s own deserializer, into the typed request), on every warm invocation.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, LambdaEvent, Request, Response, Service};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::ApiError;

pub use lambda_runtime::Error;

/// Serves API Gateway HTTP API events with `handler` until the runtime stops us: what
/// `lambda_http::run(service_fn(handler))` does, with [`guard_event`] in front.
pub async fn run<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    lambda_runtime::run(service(handler)).await
}

/// The service [`run`] serves: guard, then `lambda_http`'s adapter around `handler`. Tests
/// call it with raw events to go through the exact conversion Lambda runs.
pub fn service<'a, F, Fut>(handler: F) -> Guarded<'a, lambda_http::Adapter<'a, Response<Body>, Handler<'a, F>>>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'a,
{
    let handler = Handler { handler, future_lifetime: PhantomData };
    Guarded { inner: lambda_http::Adapter::from(handler), handler_lifetime: PhantomData }
}

/// A handler function as the `Service<Request>` `lambda_http` adapts, counting each
/// request's DynamoDB round trips for its log line.
pub struct Handler<'a, F> {
    handler: F,
    future_lifetime: PhantomData<&'a ()>,
}

impl<'a, F, Fut> Service<Request> for Handler<'a, F>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'a,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send + 'a>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let answer = crate::trips::tracked((self.handler)(req));
        Box::pin(async move { Ok(answer.await.0) })
    }
}

/// Sends one raw event through `service` and returns what Lambda would send back to API
/// Gateway, as JSON.
pub async fn invoke<'a, S, R>(service: &mut Guarded<'a, S>, event: Value) -> Value
where
    S: Service<LambdaEvent<LambdaRequest>, Response = R, Error = Infallible>,
    S::Future: Send + 'a,
    R: Serialize + Send + 'a,
{
    let event = serde_json::value::to_raw_value(&event).expect("a Value always serialises");
    let answer = service.call(LambdaEvent::new(event, lambda_runtime::Context::default())).await;
    let Ok(answer) = answer;
    serde_json::to_value(answer).unwrap_or(Value::Null)
}

/// `lambda_http`'s adapter with [`guard_event`] in front of it.
pub struct Guarded<'a, S> {
    inner: S,
    handler_lifetime: PhantomData<&'a ()>,
}

/// Either `lambda_http`'s response, or our 400 for an event it could not have converted.
#[derive(Serialize)]
#[serde(untagged)]
pub enum GuardedAnswer<R> {
    Converted(R),
    Refused(Value),
}

impl<'a, S, R> Service<LambdaEvent<Box<RawValue>>> for Guarded<'a, S>
where
    S: Service<LambdaEvent<LambdaRequest>, Response = R, Error = Infallible>,
    S::Future: Send + 'a,
    R: Send + 'a,
{
    type Response = GuardedAnswer<R>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<GuardedAnswer<R>, Infallible>> + Send + 'a>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<Box<RawValue>>) -> Self::Future {
        let LambdaEvent { payload, context } = event;
        match read_event(payload.get()) {
            Some(request) => {
                let answer = self.inner.call(LambdaEvent::new(request, context));
                Box::pin(async move { Ok(GuardedAnswer::Converted(answer.await?)) })
            }
            _ => Box::pin(std::future::ready(Ok(GuardedAnswer::Refused(refusal())))),
        }
    }
}

/// The event as `lambda_http`'s request: read directly when it needs no guard, otherwise
/// through [`guard_event`]. `None` for an event that is not an HTTP API request even then.
fn read_event(event: &str) -> Option<LambdaRequest> {
    if let Ok(request) = serde_json::from_str::<ApiGatewayV2httpRequest>(event)
        && needs_no_guard(&request)
    {
        return Some(LambdaRequest::ApiGatewayV2(request));
    }
    let guarded = guard_event(serde_json::from_str(event).ok()?)?;
    serde_json::from_value::<LambdaRequest>(guarded).ok()
}

/// Whether [`guard_event`] would leave this request as it is: a path and query string that
/// are URI characters already (and not too long), a usable `Host` and `X-Forwarded-Proto`, a
/// base64 body that decodes, and a host name and stage that fit in a URL. Header names and
/// values are valid already, or the typed request would not have read; a value that is not
/// visible ASCII goes the long way too, where the guard keeps it if `http` takes it.
pub fn needs_no_guard(request: &ApiGatewayV2httpRequest) -> bool {
    let path = request.raw_path.as_deref();
    let query = request.raw_query_string.as_deref();
    let path_is_clean = path.is_none_or(|path| guarded_path(path) == path);
    let query_is_clean = query.is_none_or(|query| encode_uri_part(query) == query);
    let uri_bytes = path.map_or(0, str::len) + query.map_or(0, str::len);
    let headers_are_usable = request
        .headers
        .iter()
        .all(|(name, value)| value.to_str().is_ok_and(|value| special_header_is_usable(name.as_str(), value)));
    let body_decodes = !request.is_base64_encoded
        || request
            .body
            .as_deref()
            .is_none_or(|body| base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).is_ok());
    let context = &request.request_context;
    path_is_clean
        && query_is_clean
        && uri_bytes <= MAX_URI_BYTES
        && headers_are_usable
        && body_decodes
        && context.domain_name.as_deref().is_none_or(is_host)
        && context.stage.as_deref().is_none_or(is_stage)
}

/// The HTTP API response for an event that is not an HTTP API request we can read.
fn refusal() -> Value {
    let error = ApiError::BadRequest("malformed request".into());
    let response = crate::http::error_response(error);
    let headers: Map<String, Value> = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), Value::String(String::from_utf8_lossy(value.as_bytes()).into())))
        .collect();
    let body = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    serde_json::json!({
        "statusCode": response.status().as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": false,
    })
}

/// The longest path and query string (re-encoded) the guard lets through: `http::Uri`
/// takes at most 65,534 bytes, with the scheme, host and stage to come.
pub const MAX_URI_BYTES: usize = 60 * 1024;

/// Makes an HTTP API event safe for `lambda_http`'s conversion without changing what it
/// means: the path and query re-encoded to URI characters, invalid headers dropped, a `Host`
/// or `X-Forwarded-Proto` that cannot start a URL dropped, a stage name that cannot be a path
/// segment dropped, and an undecodable base64 body emptied (as a missing body). `None` for a
/// path and query too long to be a URI.
pub fn guard_event(mut event: Value) -> Option<Value> {
    let Some(fields) = event.as_object_mut() else { return Some(event) };
    let mut uri_bytes = 0;
    // `path` is the typed request's other name for `rawPath` (an event may carry either).
    for name in ["rawPath", "path"] {
        if let Some(Value::String(path)) = fields.get_mut(name) {
            *path = guarded_path(path);
            uri_bytes += path.len();
        }
    }
    if let Some(Value::String(query)) = fields.get_mut("rawQueryString") {
        *query = encode_uri_part(query);
        uri_bytes += query.len();
    }
    if uri_bytes > MAX_URI_BYTES {
        return None;
    }
    if let Some(Value::Object(headers)) = fields.get_mut("headers") {
        headers.retain(|name, value| header_is_usable(name, value));
    }
    if fields.get("isBase64Encoded") == Some(&Value::Bool(true))
        && let Some(Value::String(body)) = fields.get_mut("body")
        && base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).is_err()
    {
        body.clear();
    }
    if let Some(Value::Object(context)) = fields.get_mut("requestContext") {
        if context.get("domainName").and_then(Value::as_str).is_some_and(|host| !is_host(host)) {
            context.remove("domainName");
        }
        if context.get("stage").and_then(Value::as_str).is_some_and(|stage| !is_stage(stage)) {
            context.remove("stage");
        }
    }
    Some(event)
}

/// The path as the guard passes it: URI characters only, `?` encoded too (in a path it would
/// start the query string), and a leading `/`. One allocation for a path that needs neither
/// mend, as every event's path does on the direct read, which compares with it.
fn guarded_path(path: &str) -> String {
    let mut guarded = encode_uri_part(path);
    if guarded.contains('?') {
        guarded = guarded.replace('?', "%3F");
    }
    if !guarded.starts_with('/') {
        guarded.insert(0, '/');
    }
    guarded
}

/// A header the typed request reads without failing and `lambda_http` converts without
/// panicking: a valid name, and a string value (or, as the typed request also reads them, an
/// array of string values) each valid and usable.
fn header_is_usable(name: &str, value: &Value) -> bool {
    let lower_case = name.to_ascii_lowercase();
    let value_is_usable = |value: &Value| {
        value.as_str().is_some_and(|value| {
            lambda_http::http::HeaderValue::from_str(value).is_ok() && special_header_is_usable(&lower_case, value)
        })
    };
    let values_are_usable = match value {
        Value::Array(values) => values.iter().all(value_is_usable),
        value => value_is_usable(value),
    };
    lambda_http::http::HeaderName::from_bytes(name.as_bytes()).is_ok() && values_are_usable
}

/// The headers `lambda_http` builds the request URL from must fit in one: `Host` a host name,
/// `X-Forwarded-Proto` a scheme. `name` is lower case.
fn special_header_is_usable(name: &str, value: &str) -> bool {
    match name {
        "host" => is_host(value),
        "x-forwarded-proto" => matches!(value, "http" | "https"),
        _ => true,
    }
}

/// A host name or address with an optional port that may follow `https://`: plain ASCII
/// name characters, and what the URL parser `lambda_http` uses accepts (it refuses ports over
/// 65535, malformed IPv4 numbers and invalid IDNA labels, with a panic there).
fn is_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    // At most a DNS name's 253 bytes: with the stage's 128 and the path and query's
    // MAX_URI_BYTES, the URL stays within what `http::Uri` takes.
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        && url::Url::parse(&format!("https://{host}/")).is_ok()
}

/// API Gateway stage names: letters, digits, `-`, `_` (at most 128), and `$default`.
fn is_stage(stage: &str) -> bool {
    stage == "$default"
        || (!stage.is_empty()
            && stage.len() <= 128
            && stage.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Percent-encodes every byte that is not an RFC 3986 unreserved character, sub-delimiter,
/// `:`, `@`, `/`, `?`, or the `%` of a valid escape. Percent-decoding the result gives back
/// the same bytes as decoding the input.
pub fn encode_uri_part(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for (i, &byte) in bytes.iter().enumerate() {
        let valid_escape = byte == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if valid_escape || byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use serde_json::json;

    fn event(raw_path: &str, raw_query: &str) -> Value {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": raw_query,
            "headers": {"host": "api.example.com"},
            "requestContext": {"requestId": "r", "stage": "$default", "http": {"method": "GET", "path": raw_path, "sourceIp": "1.2.3.4"}},
            "isBase64Encoded": false
        })
    }

    fn convert(event: Value) -> Request {
        let guarded = guard_event(event).expect("a URI of a reasonable length");
        Request::from(serde_json::from_value::<LambdaRequest>(guarded).expect("converts"))
    }

    #[test]
    fn raw_quotes_spaces_and_hashes_are_encoded_and_valid_escapes_kept() {
        assert_eq!(encode_uri_part("x=\"q\" y#z"), "x=%22q%22%20y%23z");
        assert_eq!(encode_uri_part("a%2Bb%zz%4"), "a%2Bb%25zz%254");
        assert_eq!(encode_uri_part("é"), "%C3%A9");
        assert_eq!(encode_uri_part("user[login]=a&b=c+d"), "user%5Blogin%5D=a&b=c+d");
    }

    #[test]
    fn the_known_panics_convert_instead() {
        let req = convert(event("/users/v2 x", "login=\"a b\"#frag"));
        assert_eq!(req.uri().query(), Some("login=%22a%20b%22%23frag"));
        let mut bad = event("no-slash:99", "");
        bad["headers"] = json!({"host": "bad host", "x-forwarded-proto": "a b", "x-bad": "\u{1}", "cb-token": "t"});
        bad["requestContext"]["stage"] = json!("st age#");
        bad["body"] = json!("***");
        bad["isBase64Encoded"] = json!(true);
        let req = convert(bad);
        assert_eq!(req.headers().get("cb-token").unwrap(), "t");
        assert!(req.headers().get("x-bad").is_none());
        assert!(req.body().is_empty());
    }

    #[test]
    fn a_path_under_its_other_name_is_guarded_too() {
        let mut renamed = event("/users/v2 x", "");
        let path = renamed.as_object_mut().unwrap().remove("rawPath").unwrap();
        renamed["path"] = path;
        assert!(typed(&renamed).is_some_and(|request| !needs_no_guard(&request)));
        assert_eq!(convert(renamed).raw_http_path(), "/users/v2%20x");
    }

    #[test]
    fn a_question_mark_in_the_path_stays_in_the_path_and_overlong_uris_are_refused() {
        let req = convert(event("/users/a?b", "c=d"));
        assert_eq!(req.uri().query(), Some("c=d"));
        assert_eq!(crate::http::ApiRequest::from_http(req).segments(), ["users", "a?b"]);
        assert!(guard_event(event("/users", &"x".repeat(MAX_URI_BYTES + 1))).is_none());
    }

    fn typed(event: &Value) -> Option<ApiGatewayV2httpRequest> {
        serde_json::from_value(event.clone()).ok()
    }

    #[test]
    fn ordinary_events_are_read_directly_and_the_known_panics_are_not() {
        let mut ordinary = event("/users/v2", "login=a&per_page=10");
        ordinary["headers"] = json!({"host": "api.example.com", "cb-token": "t", "x-forwarded-proto": "https"});
        ordinary["body"] = json!("eyJhIjoxfQ==");
        ordinary["isBase64Encoded"] = json!(true);
        assert!(needs_no_guard(&typed(&ordinary).unwrap()));
        assert!(matches!(read_event(&ordinary.to_string()), Some(LambdaRequest::ApiGatewayV2(_))));

        let mended = [
            ("rawPath", json!("/users/v2 x")),
            ("rawPath", json!("users")),
            ("rawPath", json!("/users/a?b")),
            ("rawQueryString", json!("login=\"a\"")),
            ("rawQueryString", json!("x".repeat(MAX_URI_BYTES))),
            ("headers", json!({"host": "h:65536"})),
            ("headers", json!({"x-forwarded-proto": "a b"})),
            ("headers", json!({"x-name": "caf\u{e9}"})),
            ("body", json!("***")),
        ];
        for (field, value) in mended {
            let mut event = ordinary.clone();
            event[field] = value;
            assert!(typed(&event).is_none_or(|request| !needs_no_guard(&request)), "{field}: {}", event[field]);
        }
        for (field, value) in [("domainName", "a b"), ("stage", "st age")] {
            let mut event = ordinary.clone();
            event["requestContext"][field] = json!(value);
            assert!(!needs_no_guard(&typed(&event).unwrap()), "{field}");
        }
    }

    #[test]
    fn hosts_and_stages_are_checked() {
        assert!(is_host("api.example.com") && is_host("127.0.0.1:3000"));
        assert!(!is_host("a b") && !is_host("h:") && !is_host("h:123456") && !is_host("x@y"));
        // Refused by the URL parser `lambda_http` unwraps.
        for host in ["h:65536", "1.2.3.256", "9.999.9", "4294967296", "xn--"] {
            assert!(!is_host(host), "{host}");
        }
        assert!(is_stage("$default") && is_stage("prod_2") && !is_stage("a/b"));
        assert!(is_host(&"a".repeat(253)) && !is_host(&"a".repeat(254)) && !is_stage(&"s".repeat(129)));
    }

    /// The longest path and query the guard passes, with the longest host and stage it
    /// passes, still make a URI `lambda_http` converts.
    #[test]
    fn the_longest_parts_allowed_still_convert() {
        let mut longest = event(&format!("/{}", "p".repeat(MAX_URI_BYTES / 2)), &"q".repeat(MAX_URI_BYTES / 2 - 1));
        longest["headers"] = json!({"host": format!("{}:65535", "h".repeat(253))});
        longest["requestContext"]["stage"] = json!("s".repeat(128));
        assert!(convert(longest).uri().to_string().len() > MAX_URI_BYTES);
    }

    /// Header arrays (which the typed request reads as several values) are kept when every
    /// value is usable, so a direct read and the long way agree on them.
    #[test]
    fn header_arrays_are_kept_or_dropped_as_a_whole() {
        let mut clean = event("/session", "");
        clean["headers"] = json!({"host": ["api.example.com"], "cb-token": ["t1", "t2"]});
        assert!(typed(&clean).is_some_and(|request| needs_no_guard(&request)));
        assert_eq!(guard_event(clean.clone()).unwrap(), clean);
        let mut mixed = clean.clone();
        mixed["headers"]["x-bad"] = json!(["ok", "\u{1}"]);
        mixed["headers"]["x-number"] = json!([1]);
        assert_eq!(guard_event(mixed.clone()).unwrap()["headers"], clean["headers"]);
        assert_eq!(convert(mixed).headers().get_all("cb-token").iter().count(), 2);
    }

    /// A small deterministic generator: the same cases on every run. While `tame`, most
    /// texts are letters, digits and `-` (fine in a URI, a host name and a stage), so that events are also near the guard's boundary
    /// (clean but for one field) and not only far past it.
    struct Cases(u64, bool);

    impl Cases {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn one_in(&mut self, n: u64) -> bool {
            self.next().is_multiple_of(n)
        }

        /// Up to `max` characters, mostly the ones URIs, headers and JSON treat specially.
        fn text(&mut self, max: u64) -> String {
            const SPECIAL: &[char] = &[
                '"', ' ', '#', '%', '?', '&', '=', '[', ']', '{', '}', '|', '\\', '^', '`', '<', '>', '/', ':', '@',
                '+', '.', '\u{0}', '\u{1}', '\t', '\n', '\r', '\u{7f}', '\u{80}', 'é', '€', '\u{fffd}', '😀', 'a', 'Z',
                '9',
            ];
            let len = self.next() % (max + 1);
            if self.1 && !self.one_in(12) {
                const PLAIN: &[u8] = b"abcxyzABZ0129-";
                return (0..len).map(|_| PLAIN[(self.next() % PLAIN.len() as u64) as usize] as char).collect();
            }
            (0..len)
                .map(|_| match self.next() % 4 {
                    0 => char::from_u32((self.next() % 0x11_0000) as u32).unwrap_or('x'),
                    _ => SPECIAL[(self.next() % SPECIAL.len() as u64) as usize],
                })
                .collect()
        }
    }

    /// Arbitrary text in the raw path, query string, stage, method, headers (names and
    /// values) and body, base64 or not, goes through the guard and `lambda_http`'s
    /// conversion into a handler that reads it as every handler does: never a panic, always
    /// an HTTP API response whose body is JSON. An event read directly, without the guard, is
    /// one the guard would have left as it is, and converts to the same request.
    #[tokio::test]
    async fn arbitrary_events_always_get_a_json_answer() {
        let handler = |req: Request| async move {
            let req = crate::http::ApiRequest::from_http(req);
            let result = crate::routes::resolve(req.method(), req.segments())
                .and_then(|_| req.params())
                .map(|params| crate::http::Reply::ok(serde_json::json!({ "params": params })));
            req.respond(result)
        };
        let mut service = service(handler);
        let mut cases = Cases(0x9E37_79B9_7F4A_7C15, false);
        let mut read_directly = 0;
        for _ in 0..3000 {
            cases.1 = cases.one_in(2);
            let mut headers = Map::new();
            for _ in 0..cases.next() % 4 {
                headers.insert(cases.text(12), Value::String(cases.text(40)));
            }
            if cases.one_in(3) {
                headers.insert("host".into(), Value::String(cases.text(20)));
            } else if cases.one_in(3) {
                const HOSTS: [&str; 6] = ["h:65536", "1.2.3.256", "xn--", "09", "a.b:0", "[::1]"];
                headers.insert("host".into(), Value::String(HOSTS[(cases.next() % 6) as usize].into()));
            }
            let method = ["GET", "POST", "PUT", "DELETE", "OPTIONS"][(cases.next() % 5) as usize].to_string();
            let event = json!({
                "version": "2.0", "routeKey": "$default",
                "rawPath": if cases.one_in(2) { format!("/users/{}", cases.text(30)) } else { cases.text(30) },
                "rawQueryString": cases.text(80),
                "headers": headers,
                "body": cases.text(60),
                "isBase64Encoded": cases.one_in(4),
                "requestContext": {
                    "requestId": "r", "stage": if cases.one_in(3) { cases.text(8) } else { "$default".into() },
                    "domainName": cases.text(10),
                    "http": {"method": if cases.one_in(10) { cases.text(6) } else { method }, "sourceIp": "1.2.3.4"}
                }
            });
            // Read directly only when the guard would change nothing, into the same request.
            if let Some(request) = typed(&event).filter(needs_no_guard) {
                let guarded = guard_event(event.clone()).expect("a URI of a reasonable length");
                assert_eq!(guarded, event);
                let direct = Request::from(LambdaRequest::ApiGatewayV2(request));
                let long_way = convert(event.clone());
                assert_eq!((direct.uri(), direct.headers()), (long_way.uri(), long_way.headers()));
                assert_eq!(direct.body().as_ref(), long_way.body().as_ref());
                read_directly += 1;
            }
            let answer = invoke(&mut service, event.clone()).await;
            let status = answer["statusCode"].as_u64().unwrap_or_else(|| panic!("no status for {event}: {answer}"));
            assert!((200..500).contains(&status), "{status} for {event}: {answer}");
            let body = answer["body"].as_str().unwrap_or_else(|| panic!("no body for {event}: {answer}"));
            assert!(serde_json::from_str::<Value>(body).is_ok(), "{body} for {event}");
        }
        assert!(read_directly > 100, "only {read_directly} events were clean enough to read directly");
    }
}
