//! Sessions and their lifetime rules.
//!
//! A session expires `idle_ttl` seconds after its last recorded activity, and never later
//! than its hard limit (the app's absolute lifetime, or one day for guests, whose sessions
//! do not slide). Activity is recorded at most once per refresh interval to spare writes, so
//! the observable expiry is "about `idle_ttl` after the last request".

use serde::Serialize;
use serde_json::Value;

use crate::clock::{Timestamp, iso8601};
use crate::domain::user::{User, UserJson};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Application session: no user; may read app data, sign up, log in.
    App,
    /// Bound to a user by password, provider token or `POST /login`.
    User,
    /// Bound to a temporary guest user.
    Guest,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::App => "app",
            SessionKind::User => "user",
            SessionKind::Guest => "guest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "app" => Some(SessionKind::App),
            "user" => Some(SessionKind::User),
            "guest" => Some(SessionKind::Guest),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the token, hex: the storage key. The token itself is never stored.
    pub token_hash: String,
    pub id: i64,
    pub app_id: i64,
    pub user_id: Option<i64>,
    pub kind: SessionKind,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Last recorded activity (written at most once per refresh interval).
    pub last_active: Timestamp,
    pub idle_ttl: i64,
    /// Absolute end, whatever the activity.
    pub hard_expires_at: Timestamp,
    /// The `ts` echoed to clients: the request's `timestamp` when signed, else creation time.
    pub ts: i64,
    /// The request's nonce, echoed back as the real service does.
    pub nonce: Option<String>,
}

impl Session {
    /// When the session ends if no further activity is recorded.
    pub fn expires_at(&self) -> Timestamp {
        match self.kind {
            SessionKind::Guest => self.hard_expires_at,
            _ => (self.last_active + self.idle_ttl).min(self.hard_expires_at),
        }
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at()
    }

    /// Whether this request should record activity: only once per `interval`, and never for
    /// a session that is already past its end.
    pub fn needs_refresh(&self, now: Timestamp, interval: i64) -> bool {
        self.is_live(now) && now - self.last_active >= interval
    }

    /// The session after recording activity at `now`.
    pub fn refreshed(&self, now: Timestamp) -> Session {
        Session { last_active: now, ..self.clone() }
    }

    /// The `{"session":{…}}` member. `token` comes from the request (we cannot read it back);
    /// `user` is embedded for user and guest sessions.
    pub fn json<'a>(&'a self, token: &'a str, user: Option<&'a User>) -> SessionJson<'a> {
        SessionJson {
            id: self.id,
            user_id: self.user_id,
            application_id: self.app_id,
            token,
            ts: self.ts,
            // Echo numbers as numbers: Dart casts `nonce` to int.
            nonce: self.nonce.as_deref().map(|nonce| nonce.parse().map_or(Nonce::Text(nonce), Nonce::Number)),
            created_at: iso8601(self.created_at),
            updated_at: iso8601(self.updated_at),
            user: user.map(User::json),
        }
    }

    /// [`Session::json`] as a `Value`.
    pub fn to_json(&self, token: &str, user: Option<&User>) -> Value {
        crate::http::json_value(&self.json(token, user))
    }
}

/// A session as the API shows it ([`Session::json`]); the fields serialise in declaration
/// order, `nonce` and `user` only when there is one.
#[derive(Debug, Serialize)]
pub struct SessionJson<'a> {
    id: i64,
    user_id: Option<i64>,
    application_id: i64,
    token: &'a str,
    ts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<Nonce<'a>>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserJson<'a>>,
}

/// The request's `nonce`, a number when it reads as one.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Nonce<'a> {
    Number(i64),
    Text(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(kind: SessionKind) -> Session {
        Session {
            token_hash: "h".into(),
            id: 1,
            app_id: 2,
            user_id: None,
            kind,
            created_at: 1000,
            updated_at: 1000,
            last_active: 1000,
            idle_ttl: 7200,
            hard_expires_at: 1000 + 30 * 86400,
            ts: 1000,
            nonce: None,
        }
    }

    #[test]
    fn idle_sessions_expire_two_hours_after_last_activity() {
        let s = session(SessionKind::User);
        assert!(s.is_live(8199));
        assert!(!s.is_live(8200));
        let later = s.refreshed(5000);
        assert_eq!(later.expires_at(), 12200);
    }

    #[test]
    fn the_hard_limit_wins_over_activity() {
        let mut s = session(SessionKind::User);
        s.hard_expires_at = 5000;
        assert_eq!(s.refreshed(4000).expires_at(), 5000);
    }

    #[test]
    fn guest_sessions_do_not_slide() {
        let mut s = session(SessionKind::Guest);
        s.hard_expires_at = 1000 + 86400;
        assert_eq!(s.refreshed(50_000).expires_at(), 87400);
    }

    #[test]
    fn refresh_happens_once_per_interval_and_never_after_expiry() {
        let s = session(SessionKind::App);
        assert!(!s.needs_refresh(1059, 60));
        assert!(s.needs_refresh(1060, 60));
        assert!(!s.needs_refresh(9000, 60));
    }

    #[test]
    fn json_echoes_numeric_nonce_as_a_number_and_app_sessions_have_null_user() {
        let mut s = session(SessionKind::App);
        s.nonce = Some("931".into());
        let v = s.to_json("tok", None);
        assert_eq!(v["nonce"], json!(931));
        assert_eq!(v["user_id"], Value::Null);
        assert!(v.get("user").is_none());
        assert_eq!(v["application_id"], json!(2));
    }

    /// The bytes a user session's answer carries: every member in the order ConnectyCube
    /// sends them, nulls written out, a text nonce as text, the user nested last.
    #[test]
    fn a_user_session_serialises_to_exactly_the_wire_bytes() {
        let mut s = session(SessionKind::User);
        s.user_id = Some(7);
        s.nonce = Some("n-1".into());
        let user = User {
            id: 7,
            login: Some("jo".into()),
            tags: vec!["a".into(), "b".into()],
            created_at: 1000,
            updated_at: 2000,
            custom_data: Some("{\"x\":\"é\"}".into()),
            ..User::default()
        };
        let expected = concat!(
            r#"{"session":{"id":1,"user_id":7,"application_id":2,"token":"tok","ts":1000,"nonce":"n-1","#,
            r#""created_at":"1970-01-01T00:16:40Z","updated_at":"1970-01-01T00:16:40Z","user":{"id":7,"#,
            r#""created_at":"1970-01-01T00:16:40Z","updated_at":"1970-01-01T00:33:20Z","login":"jo","#,
            r#""full_name":null,"last_request_at":null,"timezone":null,"email":null,"phone":null,"#,
            r#""website":null,"twitter_id":null,"external_user_id":null,"facebook_id":null,"#,
            r#""custom_data":"{\"x\":\"é\"}","user_tags":"a,b","avatar":null,"blob_id":null,"#,
            r#""external_id":null,"is_guest":null}}}"#
        );
        let reply = crate::http::Reply::ok_of(&crate::http::Member("session", s.json("tok", Some(&user))));
        let crate::http::ReplyBody::JsonText(text) = reply.body else { panic!("serialised text") };
        assert_eq!(text, expected);
        assert_eq!(json!({ "session": s.to_json("tok", Some(&user)) }).to_string(), expected);
    }
}
