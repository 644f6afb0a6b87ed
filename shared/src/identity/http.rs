//! The outbound HTTP client for identity providers: HTTPS (rustls, Mozilla's roots compiled
//! in, so a cold start parses no certificate files) or
//! plain HTTP (local test servers), built once per cold start and shared by every request.
//! It never follows redirects, gives up after a short timeout, and reads at most a small
//! body: a misbehaving provider must fail the login, not hang or exhaust the function.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response body read from a provider.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct OutboundClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

#[derive(Debug)]
pub struct OutboundResponse {
    pub status: u16,
    pub cache_control: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("did not respond within {0:?}")]
    Timeout(Duration),
    #[error("could not be reached")]
    Unreachable(#[source] anyhow::Error),
    #[error("sent a response larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl OutboundError {
    /// What the other side did, for a client-facing message ("Facebook did not respond
    /// within 3000 ms"): never the error's detail, which names addresses.
    pub fn what_happened(&self) -> String {
        match self {
            OutboundError::Timeout(limit) => format!("did not respond within {} ms", limit.as_millis()),
            OutboundError::TooLarge => "sent too large a response".to_string(),
            _ => "could not be reached".to_string(),
        }
    }
}

impl OutboundClient {
    pub fn new(timeout: Duration) -> anyhow::Result<OutboundClient> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(OutboundClient { client: Client::builder(TokioExecutor::new()).build(https), timeout })
    }

    /// How long one call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub async fn get(&self, url: &str) -> Result<OutboundResponse, OutboundError> {
        self.send(hyper::Method::GET, url, None, &[]).await
    }

    /// GETs `url` with an `Authorization` header (an OAuth 1.0a signature).
    pub async fn get_authorized(&self, url: &str, authorization: &str) -> Result<OutboundResponse, OutboundError> {
        self.send(hyper::Method::GET, url, None, &[("Authorization", authorization)]).await
    }

    /// POSTs an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, url: &str, body: String) -> Result<OutboundResponse, OutboundError> {
        self.send(hyper::Method::POST, url, Some(("application/x-www-form-urlencoded", body)), &[]).await
    }

    /// POSTs a JSON body with extra `headers` (a ConnectyCube API call with its `CB-Token`).
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Result<OutboundResponse, OutboundError> {
        self.send(hyper::Method::POST, url, Some(("application/json", body.to_string())), headers).await
    }

    async fn send(
        &self,
        method: hyper::Method,
        url: &str,
        body: Option<(&str, String)>,
        headers: &[(&str, &str)],
    ) -> Result<OutboundResponse, OutboundError> {
        let mut request = hyper::Request::builder().method(method).uri(url).header("Accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some((content_type, body)) => {
                request = request.header("Content-Type", content_type);
                body
            }
            None => String::new(),
        };
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| OutboundError::Invalid(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| OutboundError::Unreachable(e.into()))?;
            let status = response.status().as_u16();
            let cache_control =
                response.headers().get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|_| OutboundError::TooLarge)?
                .to_bytes()
                .to_vec();
            Ok(OutboundResponse { status, cache_control, body })
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| OutboundError::Timeout(self.timeout))?
    }
}

/// `max-age` of a `Cache-Control` header, in seconds.
pub fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .filter_map(|directive| directive.trim().strip_prefix("max-age="))
        .find_map(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        assert_eq!(max_age("public, max-age=19302, must-revalidate, no-transform"), Some(19302));
        assert_eq!(max_age("no-cache"), None);
    }
}
