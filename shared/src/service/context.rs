//! What a use case knows of the request it serves, whatever carried it: the credentials the
//! caller presented (`CB-Token`, `CB-AuthKey`), the caller's IP, the request id for logs,
//! and, once a session is authenticated, when that session expires (the adapter turns it
//! into `CB-Token-ExpirationDate`, on errors too). No HTTP type reaches a use case.

use crate::clock::Timestamp;

#[derive(Debug, Default, Clone)]
pub struct Context {
    /// `CB-Token`, trimmed; blank counts as missing (Flutter always sends the header).
    pub token: Option<String>,
    /// `CB-AuthKey` (signup without a session).
    pub auth_key: Option<String>,
    /// The caller's IP as the gateway saw it.
    pub source_ip: Option<String>,
    pub request_id: String,
    /// Set by authentication: when the caller's session expires.
    pub session_expires_at: Option<Timestamp>,
}

impl Context {
    pub fn source_ip(&self) -> Option<&str> {
        self.source_ip.as_deref()
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}
