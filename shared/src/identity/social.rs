//! Facebook and Twitter sign-in: asking the network whether a user's token is good *for this
//! application's own app*, and who its owner is. A token the network refuses is the user's
//! failure (it counts against the login limits); a network that cannot be asked is not.

use serde_json::Value;

use crate::clock::Timestamp;
use crate::domain::social::{FacebookApp, Network, SocialIdentity, TwitterApp};
use crate::identity::http::{OutboundClient, OutboundError, OutboundResponse};
use crate::identity::oauth1::{Signer, encode};

/// Why a social sign-in failed; the text names the cause and is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocialError {
    /// The network looked at the token and refused it (invalid, expired, another app's).
    Refused(String),
    /// The network could not be asked, or answered nonsense.
    Unavailable(String),
}

/// Facebook: `debug_token` with the app's access token (valid, this app's, not expired),
/// then `/me` with `appsecret_proof` for the id, name and email.
pub async fn facebook(
    http: &OutboundClient,
    graph: &str,
    app: &FacebookApp,
    token: &str,
    now: Timestamp,
) -> Result<SocialIdentity, SocialError> {
    let graph = graph.trim_end_matches('/');
    let app_token = format!("{}|{}", app.app_id, app.app_secret);
    let url = format!("{graph}/debug_token?input_token={}&access_token={}", encode(token), encode(&app_token));
    let debug = answer_of(Network::Facebook, http.get(&url).await)?;
    // A 400 about the token itself still carries `data`; one without it is about the app's
    // own credentials, which is this deployment's problem, not the user's.
    if debug.status == 400 && debug.json.get("data").is_none() {
        return Err(SocialError::Unavailable("Facebook refused this application's Facebook app credentials".into()));
    }
    let debug = debug.expect(Network::Facebook, &[200, 400])?;
    let data = &debug["data"];
    if data["is_valid"] != Value::Bool(true) {
        return Err(SocialError::Refused("Facebook access token is invalid".into()));
    }
    if text_of(&data["app_id"]).as_deref() != Some(app.app_id.as_str()) {
        return Err(SocialError::Refused("Facebook access token was issued to another Facebook app".into()));
    }
    let expires_at = data["expires_at"].as_i64().unwrap_or(0);
    if expires_at != 0 && expires_at <= now {
        return Err(SocialError::Refused("Facebook access token has expired".into()));
    }
    let user_id = text_of(&data["user_id"])
        .ok_or_else(|| SocialError::Refused("Facebook access token belongs to no user".into()))?;
    let proof = appsecret_proof(&app.app_secret, token);
    let url = format!("{graph}/me?fields=id,name,email&access_token={}&appsecret_proof={proof}", encode(token));
    let me = answer_of(Network::Facebook, http.get(&url).await)?.expect(Network::Facebook, &[200])?;
    if text_of(&me["id"]).as_deref() != Some(user_id.as_str()) {
        return Err(SocialError::Unavailable("Facebook answered for another user".into()));
    }
    Ok(SocialIdentity {
        network: Network::Facebook,
        id: user_id,
        name: me["name"].as_str().map(str::to_string),
        email: me["email"].as_str().map(str::to_string),
    })
}

/// `appsecret_proof`: HMAC-SHA256 of the user's token keyed by the app secret, in hex, so
/// that a stolen token alone cannot call the Graph API as this app.
pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Twitter: `account/verify_credentials` signed with OAuth 1.0a by the app's consumer key and
/// the user's token and secret.
pub async fn twitter(
    http: &OutboundClient,
    api: &str,
    app: &TwitterApp,
    token: &str,
    secret: &str,
    now: Timestamp,
) -> Result<SocialIdentity, SocialError> {
    let url = format!("{}/1.1/account/verify_credentials.json", api.trim_end_matches('/'));
    let query = [("include_email", "true"), ("skip_status", "true")];
    let signer =
        Signer { consumer_key: &app.consumer_key, consumer_secret: &app.consumer_secret, token, token_secret: secret };
    let nonce = crate::crypto::random::random_alphanumeric(32);
    let authorization = signer.authorization("GET", &url, &query, now, &nonce);
    let encoded: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    let full = format!("{url}?{}", encoded.join("&"));
    let answer = answer_of(Network::Twitter, http.get_authorized(&full, &authorization).await)?;
    if answer.status == 401 {
        return Err(SocialError::Refused("Twitter access token or secret is invalid".into()));
    }
    let me = answer.expect(Network::Twitter, &[200])?;
    let id = text_of(&me["id_str"])
        .or_else(|| text_of(&me["id"]))
        .ok_or_else(|| SocialError::Unavailable("Twitter answered without a user id".into()))?;
    Ok(SocialIdentity {
        network: Network::Twitter,
        id,
        name: me["name"].as_str().map(str::to_string),
        email: me["email"].as_str().map(str::to_string),
    })
}

/// A network's answer: its status and its body, if that was a JSON object.
struct Answer {
    status: u16,
    json: Value,
}

impl Answer {
    /// The JSON object when the status is one of `expected`. Another 4xx (but 429) is the
    /// network refusing what it was given, so it counts as a failed sign-in; a 429, a 5xx or
    /// a body that is not JSON is the network failing.
    fn expect(self, network: Network, expected: &[u16]) -> Result<Value, SocialError> {
        let title = network.title();
        if !expected.contains(&self.status) {
            let message = format!("{title} responded with status {}", self.status);
            let refused = (400..500).contains(&self.status) && self.status != 429;
            return Err(if refused { SocialError::Refused(message) } else { SocialError::Unavailable(message) });
        }
        if !self.json.is_object() {
            return Err(SocialError::Unavailable(format!("{title} responded with malformed JSON")));
        }
        Ok(self.json)
    }
}

/// The answer to a call, or why there was none, naming what went wrong without echoing
/// the network's body.
fn answer_of(network: Network, answer: Result<OutboundResponse, OutboundError>) -> Result<Answer, SocialError> {
    let title = network.title();
    let response = answer.map_err(|error| {
        tracing::warn!(network = network.name(), error = %error, "social network call failed");
        SocialError::Unavailable(format!("{title} {}", error.what_happened()))
    })?;
    let json = serde_json::from_slice::<Value>(&response.body).unwrap_or(Value::Null);
    Ok(Answer { status: response.status, json })
}

/// An id given as a string or a number.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_is_hmac_sha256_hex() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231-style vector.
        assert_eq!(
            appsecret_proof("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn ids_are_read_from_strings_or_numbers() {
        assert_eq!(text_of(&serde_json::json!("12")), Some("12".into()));
        assert_eq!(text_of(&serde_json::json!(12)), Some("12".into()));
        assert_eq!(text_of(&serde_json::json!("")), None);
        assert_eq!(text_of(&serde_json::json!(null)), None);
    }
}
