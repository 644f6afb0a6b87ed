//! The one error type at the HTTP edge and its mapping to ConnectyCube's JSON error shapes.
//!
//! ConnectyCube answers errors in two Rails-style shapes: `{"errors":{"field":["msg"]}}` and
//! `{"errors":["msg"]}`. The only text any SDK inspects is the 401
//! `{"errors":{"base":["Required session does not exist"]}}`, which triggers the SDK's
//! session-expired callback, so that body is produced in exactly one place.

use serde_json::{Map, Value, json};

/// The exact message the SDKs test for on a 401 (contract §3.8).
pub const SESSION_MISSING: &str = "Required session does not exist";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Token missing, unknown, destroyed or expired: the SDK-recognised 401.
    #[error("session missing")]
    SessionMissing,
    /// Bad application credentials, wrong password or unknown user: one 401 for all of them.
    #[error("unauthorized")]
    Unauthorized,
    /// 403 with a flat message list, e.g. `Forbidden. Need user.`
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 403 with a `base` message.
    #[error("forbidden: {0}")]
    ForbiddenBase(String),
    /// 404 with a flat message list, e.g. `User not found`.
    #[error("not found: {0}")]
    NotFound(String),
    /// 422 with field errors, in the order they were found.
    #[error("validation failed")]
    Validation(FieldErrors),
    /// 422 with a `base` message.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// 422 with a flat message list (the provider-parameter errors of contract §4).
    #[error("unprocessable: {0}")]
    UnprocessableFlat(String),
    /// 400: the request could not be read at all (malformed JSON, conflicting params).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 404 for a route this function does not serve.
    #[error("no route")]
    NoRoute,
    /// 405 for a known route with the wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413: request body over the cap.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 408: the body did not arrive in time (local mode; API Gateway buffers bodies itself).
    #[error("request timeout")]
    RequestTimeout,
    /// 429 with the seconds after which a retry may succeed.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// 503: a dependency (DynamoDB, S3, SMTP) failed or timed out. The cause is logged, never
    /// sent to the client.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::SessionMissing | ApiError::Unauthorized => 401,
            ApiError::Forbidden(_) | ApiError::ForbiddenBase(_) => 403,
            ApiError::NotFound(_) | ApiError::NoRoute => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Validation(_) | ApiError::Unprocessable(_) | ApiError::UnprocessableFlat(_) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::PayloadTooLarge => 413,
            ApiError::RequestTimeout => 408,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// The response body, always JSON in one of ConnectyCube's two shapes.
    pub fn body(&self) -> Value {
        match self {
            ApiError::SessionMissing => base(SESSION_MISSING),
            ApiError::Unauthorized => flat("Unauthorized"),
            ApiError::Forbidden(msg) | ApiError::NotFound(msg) | ApiError::UnprocessableFlat(msg) => flat(msg),
            ApiError::ForbiddenBase(msg) | ApiError::Unprocessable(msg) | ApiError::BadRequest(msg) => base(msg),
            ApiError::Validation(errors) => json!({ "errors": errors.to_json() }),
            ApiError::NoRoute => base("Route not found"),
            ApiError::MethodNotAllowed => base("Method not allowed"),
            ApiError::PayloadTooLarge => base("Request body is too large"),
            ApiError::RequestTimeout => base("Request body was not received in time"),
            ApiError::TooManyRequests { .. } => base("Too many requests, please retry later"),
            ApiError::Unavailable(_) => base("Service temporarily unavailable, please retry"),
        }
    }

    pub fn forbidden_need_user() -> Self {
        ApiError::Forbidden("Forbidden. Need user.".into())
    }

    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        ApiError::Unavailable(cause.into())
    }

    /// A single-field validation error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        ApiError::Validation(errors)
    }
}

fn base(msg: &str) -> Value {
    json!({ "errors": { "base": [msg] } })
}

fn flat(msg: &str) -> Value {
    json!({ "errors": [msg] })
}

/// Field errors in the order found; a field may carry several messages.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, Vec<String>)>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.0.iter_mut().find(|(f, _)| f == field) {
            Some((_, messages)) => messages.push(message),
            None => self.0.push((field.to_string(), vec![message])),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(f, _)| f == field)
    }

    /// `Ok(())` when empty, else the 422 error.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() { Ok(()) } else { Err(ApiError::Validation(self)) }
    }

    fn to_json(&self) -> Value {
        let map: Map<String, Value> = self.0.iter().map(|(field, messages)| (field.clone(), json!(messages))).collect();
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_missing_is_the_exact_body_the_sdks_test_for() {
        let e = ApiError::SessionMissing;
        assert_eq!(e.status(), 401);
        assert_eq!(e.body().to_string(), r#"{"errors":{"base":["Required session does not exist"]}}"#);
    }

    #[test]
    fn flat_and_base_shapes() {
        assert_eq!(ApiError::Unauthorized.body().to_string(), r#"{"errors":["Unauthorized"]}"#);
        assert_eq!(ApiError::NotFound("User not found".into()).body().to_string(), r#"{"errors":["User not found"]}"#);
        assert_eq!(ApiError::forbidden_need_user().status(), 403);
        assert_eq!(
            ApiError::Unprocessable("Unexpected signature".into()).body().to_string(),
            r#"{"errors":{"base":["Unexpected signature"]}}"#
        );
    }

    #[test]
    fn field_errors_keep_order_and_group_messages() {
        let mut errors = FieldErrors::default();
        errors.add("login", "has already been taken");
        errors.add("password", "is too short (minimum is 8 characters)");
        errors.add("login", "is too long (maximum is 70 characters)");
        let body = ApiError::Validation(errors).body().to_string();
        assert_eq!(
            body,
            r#"{"errors":{"login":["has already been taken","is too long (maximum is 70 characters)"],"password":["is too short (minimum is 8 characters)"]}}"#
        );
    }

    #[test]
    fn unavailable_never_shows_its_cause() {
        let e = ApiError::unavailable(anyhow::anyhow!("dynamodb at 10.0.0.1 said secret-thing"));
        assert_eq!(e.status(), 503);
        assert!(!e.body().to_string().contains("secret"));
    }
}
