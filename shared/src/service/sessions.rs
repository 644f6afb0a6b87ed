//! Sessions: create (app, user, guest), read, destroy, and log a user in or out of an
//! application session (contract §3).

use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::crypto::password::{self, Password};
use crate::crypto::random::{new_session_token, random_upper_hex};
use crate::crypto::signature;
use crate::deps::Deps;
use crate::domain::app::{App, GUEST_LIFETIME_SECS};
use crate::domain::session::{Session, SessionKind};
use crate::domain::user::{UniqueField, User};
use crate::domain::user_input::{Change, UserInput, check_new_password};
use crate::error::{ApiError, FieldErrors};
use crate::params::Field;
use crate::service::auth::{authenticate, authenticate_prefetching, lookup};
use crate::service::context::Context;
use crate::service::credentials::PasswordLogin;
use crate::service::external::{self, ProviderLogin, parse_provider};
use crate::service::password_login::{LoggedIn, LoginTarget, finish_bind, password_login};
use crate::service::signup::{count_signup, signup_limit_of};
use crate::service::users::{conflict_to_api, new_user};
use crate::store::ids::SESSIONS;
use crate::store::prefetch::SessionHint;
use crate::store::users::user_key;
use crate::store::{Claim, StoreError, Tx};

/// How far a signed request's `timestamp` may be from our clock (contract §3.3).
pub const SIGNATURE_WINDOW_SECS: i64 = 3600;

/// What a `POST /session` asks for besides the application.
enum Intent {
    App,
    Password(PasswordLogin),
    /// `user[login]` with no password: a token for the application's identity provider.
    LoginToken(String),
    Guest {
        full_name: Option<String>,
    },
    Provider(ProviderLogin),
}

impl Intent {
    fn parse(params: Field<'_>) -> Result<Intent, ApiError> {
        if let Some(provider) = parse_provider(params)? {
            return Ok(Intent::Provider(provider));
        }
        let user = params.get("user");
        if user.get("guest").truthy() {
            let full_name = user.get("full_name").non_blank().map(|n| n.trim().to_string());
            return Ok(Intent::Guest { full_name });
        }
        if let Some(login) = user.get("login").non_blank()
            && user.get("password").text().is_none_or(|p| p.is_empty())
        {
            return Ok(Intent::LoginToken(login.trim().to_string()));
        }
        match PasswordLogin::parse(user)? {
            Some(login) => Ok(Intent::Password(login)),
            // A user part that names nobody (a blank login, a list for an email, a bare
            // string) is a failed sign-in, not a request for an application session: the
            // client would take the session for a signed-in one. No part, `null` or `{}`
            // ask for an application session, as the SDKs send it.
            None if user.is_present() && user.value().and_then(Value::as_object).is_none_or(|u| !u.is_empty()) => {
                Err(ApiError::Unprocessable("login or email and password are required".into()))
            }
            None => Ok(Intent::App),
        }
    }

    /// With a Custom Identity Provider on, a login goes to it (any password is ignored);
    /// without one, a login needs a password.
    fn for_app(self, app: &App) -> Result<Intent, ApiError> {
        match self {
            Intent::Password(login) if app.settings.cidp.is_some() && login.field == UniqueField::Login => {
                Ok(Intent::LoginToken(login.value))
            }
            Intent::LoginToken(_) if app.settings.cidp.is_none() => Err(ApiError::field("password", "can't be blank")),
            other => Ok(other),
        }
    }

    fn lookup(&self) -> Option<(UniqueField, &str)> {
        match self {
            Intent::Password(login) => Some((login.field, login.value.as_str())),
            _ => None,
        }
    }
}

/// A verified legacy signature's replay-protection inputs.
pub struct Signed {
    timestamp: i64,
    nonce: String,
}

/// `POST /session`, as sent.
pub struct CreateSession {
    application_id: i64,
    auth_key: String,
    intent: Intent,
    /// Every parameter as sent: the legacy signature covers them all.
    params: Value,
}

impl CreateSession {
    pub fn parse(params: Value) -> Result<CreateSession, ApiError> {
        let fields = Field::of(&params);
        let application_id = fields.get("application_id").integer().ok().flatten();
        let auth_key = fields.get("auth_key").non_blank();
        let (Some(application_id), Some(auth_key)) = (application_id, auth_key) else {
            return Err(ApiError::Unprocessable("application_id and auth_key are required".into()));
        };
        let intent = Intent::parse(fields)?;
        Ok(CreateSession { application_id, auth_key, intent, params })
    }
}

/// A new session: its token (revealed once, here), the session and its user.
pub struct NewSession {
    pub token: String,
    pub session: Session,
    pub user: Option<User>,
}

/// `POST /session`: an application session, a user session by login or email and password,
/// or a guest session. Any `CB-Token` sent along is ignored (the JS SDK sends its old one).
pub async fn create_session(deps: &Deps, ctx: &mut Context, command: CreateSession) -> Result<NewSession, ApiError> {
    let now = deps.clock.now();
    let CreateSession { application_id, auth_key, intent, params } = command;
    let (app, credential) = deps.store.app_and_credential(application_id, intent.lookup(), now).await?;
    let app = app.filter(|app| auth_key_matches(app, &auth_key)).ok_or(ApiError::Unauthorized)?;
    let signed = check_signature(&app, &params, now)?;
    let intent = intent.for_app(&app)?;

    let mut tx = Tx::new();
    if let Some(signed) = &signed {
        let expires = signed.timestamp.max(now) + SIGNATURE_WINDOW_SECS + 60;
        deps.store.tx_claim_nonce(&mut tx, app.id, signed.timestamp, &signed.nonce, expires, now);
    }
    let (user, kind) = match intent {
        Intent::App => (None, SessionKind::App),
        Intent::Provider(provider) => {
            let user = external::provider_user(deps, &app, ctx.source_ip(), &provider, now).await?;
            deps.store.tx_touch_user(&mut tx, user.id, now);
            (Some(user), SessionKind::User)
        }
        Intent::LoginToken(token) => {
            let user = external::cidp_user(deps, &app, &token, now).await?;
            deps.store.tx_touch_user(&mut tx, user.id, now);
            (Some(user), SessionKind::User)
        }
        Intent::Guest { full_name } => {
            count_signup(deps, &signup_limit_of(&app, ctx.source_ip()), now).await?;
            let guest = new_guest(deps, &app, full_name, now).await?;
            deps.store.tx_insert_user(&mut tx, &guest, now);
            (Some(guest), SessionKind::Guest)
        }
        Intent::Password(login) => {
            let target = LoginTarget::NewSession { tx, signed: signed.as_ref() };
            let logged_in = password_login(deps, &app, ctx.source_ip(), &login, credential, target, now);
            match Box::pin(logged_in).await? {
                LoggedIn::NewSession { token, session, user } => {
                    ctx.session_expires_at = Some(session.expires_at());
                    return Ok(NewSession { token, session, user: Some(user) });
                }
                LoggedIn::Bound { .. } => unreachable!("a new session's login binds nothing"),
                LoggedIn::UnknownUser { tx: returned } => {
                    tx = returned;
                    count_signup(deps, &signup_limit_of(&app, ctx.source_ip()), now).await?;
                    let user = auto_created_user(deps, &app, &login, now).await?;
                    deps.store.tx_insert_user(&mut tx, &user, now);
                    (Some(user), SessionKind::User)
                }
            }
        }
    };

    let (token, session) = new_session(deps, &app, user.as_ref().map(|u| u.id), kind, signed.as_ref(), now).await?;
    deps.store.tx_insert_session(&mut tx, &session);
    deps.store.commit(tx).await.map_err(session_write_error)?;
    ctx.session_expires_at = Some(session.expires_at());
    Ok(NewSession { token, session, user })
}

pub(crate) fn session_write_error(error: StoreError) -> ApiError {
    if error.is_conflict_on(Claim::Nonce) {
        return ApiError::Unprocessable("Nonce has already been used".into());
    }
    if error.is_conflict_on(Claim::UserExists) {
        // The user was deleted between the password check and the write.
        return ApiError::Unauthorized;
    }
    conflict_to_api(error)
}

/// Compares auth keys through their SHA-256 digests: constant time, fixed length.
fn auth_key_matches(app: &App, given: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let expected = Sha256::digest(app.auth_key.as_bytes());
    let given = Sha256::digest(given.trim().as_bytes());
    expected.ct_eq(&given).into()
}

/// Verifies a legacy signature when present (or required): HMAC, then the timestamp
/// window. The nonce is claimed in the session's own transaction.
fn check_signature(app: &App, params: &Value, now: Timestamp) -> Result<Option<Signed>, ApiError> {
    let fields = Field::of(params);
    let Some(sig) = fields.get("signature").non_blank() else {
        if app.settings.require_signature {
            return Err(ApiError::Unprocessable("Signature is required".into()));
        }
        return Ok(None);
    };
    let map = params.as_object().expect("params are an object");
    if !signature::verify(&app.auth_secret, map, &sig) {
        return Err(ApiError::Unprocessable("Unexpected signature".into()));
    }
    let timestamp = fields.get("timestamp").integer().ok().flatten();
    // `abs_diff`: a timestamp near i64::MIN or MAX must not overflow the subtraction.
    let timestamp = timestamp.filter(|ts| now.abs_diff(*ts) <= SIGNATURE_WINDOW_SECS as u64);
    let timestamp = timestamp.ok_or_else(|| ApiError::Unprocessable("Timestamp is out of range".into()))?;
    let nonce = fields.get("nonce").non_blank().ok_or_else(|| ApiError::Unprocessable("Nonce is required".into()))?;
    if nonce.len() > 64 {
        return Err(ApiError::Unprocessable("Nonce is invalid".into()));
    }
    Ok(Some(Signed { timestamp, nonce }))
}

pub(crate) async fn new_session(
    deps: &Deps,
    app: &App,
    user_id: Option<i64>,
    kind: SessionKind,
    signed: Option<&Signed>,
    now: Timestamp,
) -> Result<(String, Session), ApiError> {
    let (token, token_hash) = new_session_token();
    let hard_expires_at = match kind {
        SessionKind::Guest => now + GUEST_LIFETIME_SECS,
        _ => now + app.settings.session_max_lifetime_secs,
    };
    let session = Session {
        token_hash,
        id: deps.store.next_id(SESSIONS).await?,
        app_id: app.id,
        user_id,
        kind,
        created_at: now,
        updated_at: now,
        last_active: now,
        idle_ttl: app.settings.session_ttl_secs,
        hard_expires_at,
        ts: signed.map_or(now, |s| s.timestamp),
        nonce: signed.map(|s| s.nonce.clone()),
    };
    Ok((token, session))
}

/// A temporary guest user: generated login, `phone` "", gone after a day (contract §3.2).
async fn new_guest(deps: &Deps, app: &App, full_name: Option<String>, now: Timestamp) -> Result<User, ApiError> {
    let mut errors = FieldErrors::default();
    if full_name.as_ref().is_some_and(|n| n.chars().count() > crate::domain::user_input::NAME_MAX) {
        errors.add("full_name", "is too long (maximum is 255 characters)");
    }
    errors.into_result()?;
    let input = UserInput {
        login: Change::Set(format!("guest_login_{}", random_upper_hex::<16>())),
        full_name: full_name.map_or(Change::Keep, Change::Set),
        phone: Change::Set(String::new()),
        ..UserInput::default()
    };
    let mut guest = new_user(deps, app.id, &input, None, now).await?;
    guest.is_guest = true;
    guest.last_request_at = Some(now);
    guest.expires_at = Some(now + GUEST_LIFETIME_SECS);
    Ok(guest)
}

/// "Session creation without an existing user entity": the unknown login or email becomes a
/// new user with this password, under the signup password policy.
async fn auto_created_user(deps: &Deps, app: &App, login: &PasswordLogin, now: Timestamp) -> Result<User, ApiError> {
    let mut user_fields = serde_json::Map::new();
    user_fields.insert(login.field.name().into(), json!(login.value));
    let body = Value::Object(user_fields);
    let input = UserInput::parse(Field::of(&body)).map_err(ApiError::Validation)?;
    let mut errors = FieldErrors::default();
    check_new_password(login.password.expose(), &mut errors);
    errors.into_result()?;
    let hash = password::hash(login.password.clone()).await;
    let mut user = new_user(deps, app.id, &input, Some(hash), now).await?;
    user.last_request_at = Some(now);
    Ok(user)
}

/// The caller's session and its user.
pub struct SessionView {
    pub token: String,
    pub session: Session,
    pub user: Option<User>,
}

/// `GET /session`: the caller's session, with its user (read with the session when this
/// instance has seen the session before: one round trip).
pub async fn get_session(deps: &Deps, ctx: &mut Context) -> Result<SessionView, ApiError> {
    let guess = |hint: SessionHint| hint.user_id.map(user_key).into_iter().collect();
    let (caller, prefetched) = authenticate_prefetching(deps, ctx, guess).await?;
    let user = match caller.session.user_id {
        Some(id) => {
            Some(deps.store.get_user_from(&prefetched, id, deps.clock.now()).await?.ok_or(ApiError::SessionMissing)?)
        }
        None => None,
    };
    Ok(SessionView { token: caller.token, session: caller.session, user })
}

/// `DELETE /session`: ends the caller's session.
pub async fn destroy_session(deps: &Deps, ctx: &Context) -> Result<(), ApiError> {
    let caller = lookup(deps, ctx).await?;
    deps.store.delete_session(&caller.session).await?;
    Ok(())
}

/// `DELETE /session/{id}`: ends one of the caller's own sessions by the `id` its JSON carries
/// (the caller's current one included). Another user's session, an ended one and an id that
/// is not a number are all the same 404, so that ids cannot be probed.
pub async fn destroy_session_by_id(deps: &Deps, ctx: &mut Context, id: &str) -> Result<(), ApiError> {
    let caller = lookup(deps, ctx).await?;
    let not_found = || ApiError::NotFound("Session not found".into());
    let id: i64 = id.parse().map_err(|_| not_found())?;
    if id == caller.session.id {
        return Ok(deps.store.delete_session(&caller.session).await?);
    }
    // The caller's session goes on: its answers say until when, as every session-bound one does.
    ctx.session_expires_at = Some(caller.session.expires_at());
    // An application session has no sessions but itself.
    let user_id = caller.session.user_id.ok_or_else(not_found)?;
    let now = deps.clock.now();
    let session = deps
        .store
        .user_session_by_id(user_id, id)
        .await?
        .filter(|s| s.is_live(now) && s.app_id == caller.app_id() && s.user_id == Some(user_id))
        .ok_or_else(not_found)?;
    deps.store.delete_session(&session).await?;
    Ok(())
}

/// `DELETE /session/list`: ends every session of the caller's user except the one it is
/// sent with (a "sign out everywhere else"). Needs a user session.
pub async fn destroy_other_sessions(deps: &Deps, ctx: &mut Context) -> Result<(), ApiError> {
    let caller = lookup(deps, ctx).await?;
    ctx.session_expires_at = Some(caller.session.expires_at());
    let user_id = caller.user_id()?;
    deps.store.end_sessions(user_id, Some(&caller.session.token_hash)).await?;
    Ok(())
}

/// `POST /login`, as sent: a Firebase token, or a login or email with a password (or, with a
/// Custom Identity Provider on, the provider's token as `login`).
pub enum Login {
    Provider(ProviderLogin),
    Name { field: UniqueField, value: String, password: Option<Password> },
}

impl Login {
    pub fn parse(params: &Value) -> Result<Login, ApiError> {
        let fields = Field::of(params);
        if let Some(provider) = parse_provider(fields)? {
            return Ok(Login::Provider(provider));
        }
        // SDKs send the credentials unwrapped; accept a `user` wrapper as well.
        let credentials = if fields.get("user").is_object() { fields.get("user") } else { fields };
        let login = credentials.get("login").non_blank().map(|l| (UniqueField::Login, l));
        let email = credentials.get("email").non_blank().map(|e| (UniqueField::Email, e));
        let (field, value) = login
            .or(email)
            .ok_or_else(|| ApiError::Unprocessable("login or email and password are required".into()))?;
        let password = credentials.get("password").text().filter(|p| !p.is_empty()).map(Password::new);
        Ok(Login::Name { field, value: value.trim().to_string(), password })
    }
}

/// `POST /login`: binds a user to the caller's (application) session; the token stays the
/// same. Returns the user. The command is checked after the session.
pub async fn login(
    deps: &Deps,
    ctx: &mut Context,
    command: impl FnOnce() -> Result<Login, ApiError>,
) -> Result<User, ApiError> {
    let caller = authenticate(deps, ctx).await?;
    let now = deps.clock.now();
    let (field, value, password) = match command()? {
        Login::Provider(provider) => {
            let app = deps.store.get_app(caller.app_id()).await?.ok_or(ApiError::SessionMissing)?;
            let user = external::provider_user(deps, &app, ctx.source_ip(), &provider, now).await?;
            return bind_external(deps, ctx, &caller.session, user, now).await;
        }
        Login::Name { field, value, password } => (field, value, password),
    };
    // One round trip: the application (is a CIdP on?) and the user behind the login.
    let (app, credential) = deps.store.app_and_credential(caller.app_id(), Some((field, &value)), now).await?;
    let app = app.ok_or(ApiError::SessionMissing)?;
    if app.settings.cidp.is_some() && field == UniqueField::Login {
        let user = external::cidp_user(deps, &app, &value, now).await?;
        return bind_external(deps, ctx, &caller.session, user, now).await;
    }
    let password = password.ok_or_else(|| ApiError::field("password", "can't be blank"))?;
    let login = PasswordLogin { field, value, password };
    let target = LoginTarget::Bind { session: &caller.session };
    match Box::pin(password_login(deps, &app, ctx.source_ip(), &login, credential, target, now)).await? {
        LoggedIn::Bound { session, user } => {
            ctx.session_expires_at = Some(session.expires_at());
            Ok(user)
        }
        LoggedIn::NewSession { .. } | LoggedIn::UnknownUser { .. } => unreachable!("a bind creates no session"),
    }
}

/// Binds a user signed in through an external identity (no password, no login limits).
async fn bind_external(
    deps: &Deps,
    ctx: &mut Context,
    session: &Session,
    mut user: User,
    now: Timestamp,
) -> Result<User, ApiError> {
    let bound = deps.store.bind_session_user(session, user.id, None, now).await;
    let session = finish_bind(deps, bound, None, now).await?;
    ctx.session_expires_at = Some(session.expires_at());
    user.last_request_at = Some(now);
    Ok(user)
}

/// `DELETE /login`: detaches the user, leaving an application session.
pub async fn logout(deps: &Deps, ctx: &mut Context) -> Result<(), ApiError> {
    let caller = authenticate(deps, ctx).await?;
    let now = deps.clock.now();
    let session = deps
        .store
        .unbind_session_user(&caller.session, now)
        .await
        .map_err(|e| if e.is_conflict_on(Claim::SessionLive) { ApiError::SessionMissing } else { e.into() })?;
    ctx.session_expires_at = Some(session.expires_at());
    Ok(())
}
