//! The ConnectyCube service an application is moving from (lazy migration): it is asked,
//! as the legacy SDKs ask it, whether a login and password are right. First an application
//! session there with the application's own credentials, signed with its `auth_secret`
//! (HMAC-SHA1 of the sorted parameters), then `POST /login` with that session's token.
//! Outbound rules as for the identity providers: short timeout, small body, no redirects;
//! anything but a clear answer is an error, never a yes.

use serde_json::{Value, json};

use crate::crypto::random::random_bytes;
use crate::crypto::signature::sign_sha1;
use crate::domain::app::App;
use crate::domain::user::UniqueField;
use crate::error::ApiError;
use crate::identity::Identity;
use crate::identity::http::{OutboundError, OutboundResponse};

/// What the old service said about a login.
#[derive(Debug)]
pub enum OldAnswer {
    /// The credentials are right: the user as the old service shows it.
    User(Value),
    /// Wrong password, or no such user there.
    Refused,
}

impl Identity {
    /// Asks the service at `origin` whether `password` is right for the user whose `field`
    /// is `value`, on `app`'s credentials there.
    pub async fn ask_old_service(
        &self,
        origin: &str,
        app: &App,
        field: UniqueField,
        value: &str,
        password: &str,
        now: i64,
    ) -> Result<OldAnswer, ApiError> {
        // One deadline over both calls: a login waits at most one outbound timeout.
        let limit = self.http.timeout();
        let asked = async {
            let token = self.old_app_session(origin, app, now).await?;
            let body = json!({ field.name(): value, "password": password });
            let response = self
                .http
                .post_json(&format!("{origin}/login.json"), &body, &[("CB-Token", token.as_str())])
                .await
                .map_err(unreachable)?;
            match response.status {
                200..=299 => match json_body(&response).and_then(|v| v.get("user").cloned()) {
                    Some(user) if user.get("id").is_some_and(Value::is_i64) => Ok(OldAnswer::User(user)),
                    _ => Err(garbled("its login answer has no user")),
                },
                401 | 404 | 422 => Ok(OldAnswer::Refused),
                status => Err(garbled(&format!("its login answered HTTP {status}"))),
            }
        };
        tokio::time::timeout(limit, asked).await.map_err(|_| unreachable(OutboundError::Timeout(limit)))?
    }

    /// An application session on the old service: its token.
    async fn old_app_session(&self, origin: &str, app: &App, now: i64) -> Result<String, ApiError> {
        let nonce = u32::from_be_bytes(random_bytes::<4>()) % 1_000_000_000;
        let signed = format!("application_id={}&auth_key={}&nonce={nonce}&timestamp={now}", app.id, app.auth_key);
        let body = json!({
            "application_id": app.id,
            "auth_key": app.auth_key,
            "nonce": nonce,
            "timestamp": now,
            "signature": sign_sha1(&app.auth_secret, &signed),
        });
        let response = self.http.post_json(&format!("{origin}/session.json"), &body, &[]).await.map_err(unreachable)?;
        if !(200..=299).contains(&response.status) {
            tracing::warn!(status = response.status, "the service this application moves from refused its session");
            return Err(ApiError::Unprocessable(format!(
                "The service this application is moving from refused its credentials (HTTP {})",
                response.status
            )));
        }
        json_body(&response)
            .and_then(|v| v["session"]["token"].as_str().map(str::to_string))
            .filter(|token| !token.is_empty() && token.len() <= 1024)
            .ok_or_else(|| garbled("its session answer has no token"))
    }
}

fn json_body(response: &OutboundResponse) -> Option<Value> {
    serde_json::from_slice(&response.body).ok()
}

fn unreachable(error: OutboundError) -> ApiError {
    tracing::warn!(error = %error, "the service this application moves from failed");
    ApiError::Unprocessable(format!("The service this application is moving from {}", error.what_happened()))
}

fn garbled(detail: &str) -> ApiError {
    tracing::warn!(detail, "the service this application moves from answered garbage");
    ApiError::Unprocessable("The service this application is moving from gave an answer that could not be read".into())
}
