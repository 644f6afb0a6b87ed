//! Request builders for tests.

use serde_json::Value;
use shared::{Body, Request, Response};

#[derive(Debug, Clone)]
pub struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    source_ip: String,
}

pub fn get(path: &str) -> Req {
    Req::new("GET", path)
}

pub fn post(path: &str) -> Req {
    Req::new("POST", path)
}

pub fn put(path: &str) -> Req {
    Req::new("PUT", path)
}

pub fn delete(path: &str) -> Req {
    Req::new("DELETE", path)
}

impl Req {
    pub fn new(method: &str, path_and_query: &str) -> Req {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        Req {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
            source_ip: "127.0.0.1".into(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn token(self, token: &str) -> Req {
        self.header("CB-Token", token)
    }

    pub fn json(mut self, body: Value) -> Req {
        self.body = body.to_string().into_bytes();
        self.header("Content-Type", "application/json;charset=utf-8")
    }

    pub fn form(mut self, body: &str) -> Req {
        self.body = body.as_bytes().to_vec();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    pub fn raw_body(mut self, body: &[u8]) -> Req {
        self.body = body.to_vec();
        self
    }

    pub fn from_ip(mut self, ip: &str) -> Req {
        self.source_ip = ip.into();
        self
    }

    /// The request as local mode builds it: a `lambda_http` request whose HTTP API context
    /// carries the source IP.
    pub fn build(self) -> Request {
        let path_and_query = if self.query.is_empty() { self.path } else { format!("{}?{}", self.path, self.query) };
        shared::http::local_request(
            &self.method,
            &path_and_query,
            &self.headers,
            self.body,
            Some(self.source_ip),
            "test".into(),
        )
    }
}

/// A response read for assertions: status, headers and body as bytes.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl From<Response<Body>> for Answer {
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let headers = shared::http::header_pairs(&parts.headers);
        Answer { status: parts.status.as_u16(), headers, body: shared::http::body_bytes(body) }
    }
}

impl Answer {
    /// What a Lambda function sent back to API Gateway (an HTTP API response as JSON).
    pub fn from_lambda(value: &Value) -> Self {
        use base64::Engine as _;
        let headers = value["headers"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let text = value["body"].as_str().unwrap_or_default();
        let body = if value["isBase64Encoded"] == Value::Bool(true) {
            base64::engine::general_purpose::STANDARD.decode(text).expect("a base64 body")
        } else {
            text.as_bytes().to_vec()
        };
        let status = value["statusCode"].as_u64().expect("an HTTP API response has a statusCode") as u16;
        Answer { status, headers, body }
    }
}

/// Sends every request at once, each built and handed to `send` on its own task, and returns
/// what each answered, in the order given: for races between requests.
pub async fn all_at_once<T, F, Fut>(reqs: Vec<Req>, send: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = reqs.into_iter().map(|req| tokio::spawn(send(req.build()))).collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("a request's task"));
    }
    answers
}
