//! Applications: the tenants. Every user and session belongs to exactly one.

use crate::clock::Timestamp;
use crate::crypto::random::random_alphanumeric;
use crate::domain::cidp::CidpSettings;
use crate::domain::limits::AbuseLimits;
use crate::domain::social::{FacebookApp, TwitterApp};

/// Two hours of inactivity, ConnectyCube's documented session lifetime.
pub const DEFAULT_SESSION_TTL_SECS: i64 = 7200;
/// Absolute session lifetime: 30 days (NIST SP 800-63B AAL1 re-authentication bound).
/// ConnectyCube documents only the idle rule; ASVS 7.3.2 asks for an absolute one.
pub const DEFAULT_SESSION_MAX_LIFETIME_SECS: i64 = 30 * 24 * 3600;
/// Guest sessions and guest users end one day after creation (contract §3.2).
pub const GUEST_LIFETIME_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: i64,
    pub name: String,
    /// Globally unique: signup may arrive with only `CB-AuthKey`.
    pub auth_key: String,
    /// HMAC key for legacy signed `POST /session` requests.
    pub auth_secret: String,
    pub settings: AppSettings,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    /// "Session creation without an existing user entity": when on, `POST /session` with an
    /// unknown login creates that user. Off by default, as ConnectyCube recommends.
    pub allow_session_without_user: bool,
    /// Refuse unsigned `POST /session`. Off by default, or SDK ≥ 4 could not log in.
    pub require_signature: bool,
    /// Idle lifetime of a session; each request slides it.
    pub session_ttl_secs: i64,
    /// Absolute lifetime of a session, however active.
    pub session_max_lifetime_secs: i64,
    /// Allow the deprecated V1 listing `GET /users` (ConnectyCube's "DISABLE LIST USERS API
    /// V1" unchecked). Off by default: it reads the whole application.
    pub users_v1_listing: bool,
    /// Let `PUT /users/{id}` change `login` or `email` without `old_password`, as earlier
    /// versions did. Off by default: with it on, a stolen session token can move the
    /// account's email to the thief's address and take the account over by a reset.
    pub identity_change_without_password: bool,
    /// Firebase projects whose ID tokens may sign users in; none by default, so no Firebase
    /// project can mint users until the application names it.
    pub firebase_projects: Vec<String>,
    /// The Custom Identity Provider; when set, logins by `login` go to it.
    pub cidp: Option<CidpSettings>,
    /// The Facebook app whose tokens may sign users in (`provider: facebook`); none by default.
    pub facebook: Option<FacebookApp>,
    /// The Twitter app whose tokens may sign users in (`provider: twitter`); none by default.
    pub twitter: Option<TwitterApp>,
    /// Subject of the password-reset mail (default: "Reset your password").
    pub reset_subject: Option<String>,
    /// Text of the password-reset mail; `{link}`, `{name}` and `{app}` are filled in.
    pub reset_body: Option<String>,
    /// Failed-login, signup and search limits, and the optional account lockout.
    pub limits: AbuseLimits,
    /// The API origin of the ConnectyCube service this application is moving from: a
    /// password login of a user unknown here (or imported without a password) is checked
    /// there, and on success the user is kept here with that password (lazy migration).
    pub migrate_from: Option<String>,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            allow_session_without_user: false,
            require_signature: false,
            session_ttl_secs: DEFAULT_SESSION_TTL_SECS,
            session_max_lifetime_secs: DEFAULT_SESSION_MAX_LIFETIME_SECS,
            users_v1_listing: false,
            identity_change_without_password: false,
            firebase_projects: Vec::new(),
            cidp: None,
            facebook: None,
            twitter: None,
            reset_subject: None,
            reset_body: None,
            limits: AbuseLimits::default(),
            migrate_from: None,
        }
    }
}

/// The origin of the service to migrate from, as stored: `https://host[:port][/path]`
/// without a trailing slash, or `http://` to a loopback address (a test or a tunnel on
/// this machine); no credentials, query or fragment.
pub fn migration_origin(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("the migration origin is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        "http" => return Err("the migration origin must be https:// (http:// only to a loopback address)".into()),
        _ => return Err("the migration origin must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("the migration origin takes no credentials, query or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

impl AppSettings {
    /// Rejects settings that would make sessions unusable.
    pub fn validate(&self) -> Result<(), String> {
        if self.session_ttl_secs < 1 {
            return Err("session TTL must be at least 1 second".into());
        }
        if self.session_max_lifetime_secs < self.session_ttl_secs {
            return Err("session maximum lifetime must be at least the session TTL".into());
        }
        Ok(())
    }
}

impl App {
    /// A new application with fresh random credentials. `auth_key` uniqueness is enforced
    /// by the store when the app is saved.
    pub fn new(id: i64, name: String, settings: AppSettings, now: Timestamp) -> Self {
        App {
            id,
            name,
            auth_key: random_alphanumeric(20),
            auth_secret: random_alphanumeric(32),
            settings,
            created_at: now,
        }
    }

    /// An application that keeps the credentials it had on another ConnectyCube service, so
    /// that app builds already in users' hands keep working. The SDKs hold the id in a 32-bit
    /// integer on Android; keys and secrets are sent in headers and signed strings, so they
    /// must be printable ASCII without spaces.
    pub fn with_credentials(
        id: i64,
        name: String,
        auth_key: &str,
        auth_secret: &str,
        settings: AppSettings,
        now: Timestamp,
    ) -> Result<Self, String> {
        if !(1..=i64::from(i32::MAX)).contains(&id) {
            return Err(format!("application id must be between 1 and {}", i32::MAX));
        }
        for (what, value) in [("auth key", auth_key), ("auth secret", auth_secret)] {
            if value.is_empty() || value.len() > CREDENTIAL_MAX || !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("{what} must be 1 to {CREDENTIAL_MAX} printable ASCII characters without spaces"));
            }
        }
        Ok(App { id, name, auth_key: auth_key.into(), auth_secret: auth_secret.into(), settings, created_at: now })
    }
}

/// The longest auth key or auth secret accepted from another service.
pub const CREDENTIAL_MAX: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_origins_are_https_or_loopback_http() {
        assert_eq!(migration_origin("https://api.connectycube.com/").unwrap(), "https://api.connectycube.com");
        assert_eq!(migration_origin("https://cc.example.com/api").unwrap(), "https://cc.example.com/api");
        assert_eq!(migration_origin("http://127.0.0.1:8788").unwrap(), "http://127.0.0.1:8788");
        assert_eq!(migration_origin("http://localhost:9").unwrap(), "http://localhost:9");
        assert_eq!(migration_origin("http://[::1]:9/").unwrap(), "http://[::1]:9");
        for bad in [
            "http://api.connectycube.com",
            "ftp://x",
            "https://u:p@x",
            "https://x/?a=1",
            "not a url",
            "http://10.0.0.1",
        ] {
            assert!(migration_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kept_credentials_must_fit_the_sdks() {
        let app =
            |id, key: &str, secret: &str| App::with_credentials(id, "a".into(), key, secret, AppSettings::default(), 0);
        let kept = app(385, "Ak9-x_Y2", "s3cr3t-VALUE").expect("valid");
        assert_eq!((kept.id, kept.auth_key.as_str(), kept.auth_secret.as_str()), (385, "Ak9-x_Y2", "s3cr3t-VALUE"));
        assert!(app(0, "k", "s").is_err());
        assert!(app(i64::from(i32::MAX) + 1, "k", "s").is_err());
        assert!(app(1, "", "s").is_err());
        assert!(app(1, "k y", "s").is_err());
        assert!(app(1, "k", "s\n").is_err());
        assert!(app(1, "k", &"s".repeat(CREDENTIAL_MAX + 1)).is_err());
        assert!(app(1, "ключ", "s").is_err());
    }

    #[test]
    fn defaults_deny_auto_create_and_do_not_require_signatures() {
        let s = AppSettings::default();
        assert!(!s.allow_session_without_user);
        assert!(!s.require_signature);
        assert_eq!(s.session_ttl_secs, 7200);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn nonsensical_lifetimes_are_rejected() {
        let s = AppSettings { session_ttl_secs: 0, ..AppSettings::default() };
        assert!(s.validate().is_err());
        let s = AppSettings { session_ttl_secs: 100, session_max_lifetime_secs: 50, ..AppSettings::default() };
        assert!(s.validate().is_err());
    }

    #[test]
    fn new_apps_get_distinct_random_credentials() {
        let a = App::new(1, "a".into(), AppSettings::default(), 0);
        let b = App::new(2, "b".into(), AppSettings::default(), 0);
        assert_ne!(a.auth_key, b.auth_key);
        assert_ne!(a.auth_secret, b.auth_secret);
        assert_eq!(a.auth_key.len(), 20);
    }
}
