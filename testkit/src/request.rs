//! Request builders for tests.

use serde_json::Value;
use shared::ApiRequest;

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

    pub fn build(self) -> ApiRequest {
        ApiRequest::new(
            &self.method,
            &self.path,
            &self.query,
            self.headers,
            self.body,
            Some(self.source_ip),
            "test".into(),
        )
    }
}
