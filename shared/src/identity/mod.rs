//! Signing users in through someone else: Firebase ID tokens, Facebook and Twitter tokens,
//! and a customer's own identity provider. The only outbound network calls of the service
//! live here.

pub mod firebase;
pub mod http;
pub mod legacy;
pub mod oauth1;
pub mod social;

use std::time::Duration;

use crate::config::ConfigError;
use crate::domain::cidp::{CidpMethod, CidpSettings, ExternalIdentity};
use crate::error::ApiError;
use firebase::FirebaseKeys;
use http::OutboundClient;

/// Facebook's Graph API, where tokens are debugged and profiles read.
pub const FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com/v21.0";
/// Twitter's API origin (v1.1 `account/verify_credentials`).
pub const TWITTER_API_URL: &str = "https://api.twitter.com";

/// Outbound settings: `FIREBASE_CERTS_URL` (Google's x509 endpoint by default),
/// `FACEBOOK_GRAPH_URL`, `TWITTER_API_URL` (the networks' own, by default; tests point them
/// at local servers) and `OUTBOUND_TIMEOUT_MS` (3000: a provider that is slower fails the
/// login).
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub firebase_certs_url: String,
    pub facebook_graph_url: String,
    pub twitter_api_url: String,
    pub timeout: Duration,
    /// How often an unknown `kid` may refetch the keys (one minute).
    pub key_refetch_interval: Duration,
}

impl IdentityConfig {
    pub fn from_env() -> Result<IdentityConfig, ConfigError> {
        let timeout = match std::env::var("OUTBOUND_TIMEOUT_MS").ok().filter(|v| !v.is_empty()) {
            None => 3000,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid("OUTBOUND_TIMEOUT_MS", "a positive integer"))?,
        };
        let setting = |name: &str, default: &str| {
            std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
        };
        Ok(IdentityConfig {
            firebase_certs_url: setting("FIREBASE_CERTS_URL", firebase::GOOGLE_CERTS_URL),
            facebook_graph_url: setting("FACEBOOK_GRAPH_URL", FACEBOOK_GRAPH_URL),
            twitter_api_url: setting("TWITTER_API_URL", TWITTER_API_URL),
            timeout: Duration::from_millis(timeout),
            key_refetch_interval: firebase::REFETCH_INTERVAL,
        })
    }
}

/// Built once per cold start and shared (with its key cache) by every request.
pub struct Identity {
    pub http: OutboundClient,
    pub firebase: FirebaseKeys,
    pub facebook_graph_url: String,
    pub twitter_api_url: String,
}

impl Identity {
    pub fn new(config: &IdentityConfig) -> anyhow::Result<Identity> {
        let http = OutboundClient::new(config.timeout)?;
        let firebase = FirebaseKeys::new(&config.firebase_certs_url, http.clone(), config.key_refetch_interval);
        Ok(Identity {
            firebase,
            http,
            facebook_graph_url: config.facebook_graph_url.clone(),
            twitter_api_url: config.twitter_api_url.clone(),
        })
    }

    /// Asks the application's identity provider who `token` is. Fails closed: any non-2xx,
    /// timeout, unreachable host, malformed JSON or missing uid is a 422 in ConnectyCube's
    /// message format, and nothing is created.
    pub async fn ask_cidp(&self, settings: &CidpSettings, token: &str) -> Result<ExternalIdentity, ApiError> {
        let params = settings.request_params(token);
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let result = match settings.method {
            CidpMethod::Get => {
                let separator = if settings.url.contains('?') { '&' } else { '?' };
                self.http.get(&format!("{}{separator}{encoded}", settings.url)).await
            }
            CidpMethod::Post => self.http.post_form(&settings.url, encoded).await,
        };
        let response = result.map_err(|error| {
            tracing::warn!(error = %error, "custom identity provider call failed");
            ApiError::Unprocessable(format!("Custom Identity Provider {}", error.what_happened()))
        })?;
        if !(200..300).contains(&response.status) {
            return Err(ApiError::Unprocessable(format!(
                "Custom Identity Provider responded with an error = \"{}\". Status code = {}",
                error_text(&response.body),
                response.status
            )));
        }
        let answer: serde_json::Value = serde_json::from_slice(&response.body).map_err(|_| {
            ApiError::Unprocessable(format!(
                "Custom Identity Provider responded with malformed JSON. Status code = {}",
                response.status
            ))
        })?;
        settings
            .identity(&answer)
            .ok_or_else(|| ApiError::Unprocessable("Custom Identity Provider response has no uid".into()))
    }
}

/// A provider's error text: its JSON `error` or `message`, else the body, printable and short.
fn error_text(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| {
        ["error", "message", "errors"].iter().find_map(|k| v.get(*k).and_then(|e| e.as_str().map(str::to_string)))
    });
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    text.chars().filter(|c| !c.is_control() && *c != '"').take(200).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_come_from_json_or_the_body_and_stay_short() {
        assert_eq!(error_text(br#"{"error":"User token is invalid"}"#), "User token is invalid");
        assert_eq!(error_text(b"Token invalid"), "Token invalid");
        assert_eq!(error_text(b""), "");
        assert_eq!(error_text("x\"y\n".repeat(300).as_bytes()).len(), 200);
    }
}
