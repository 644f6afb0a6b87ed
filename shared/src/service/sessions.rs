//! Sessions: create (app, user, guest), read, destroy, and log a user in or out of an
//! application session (contract §3).

use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::crypto::password::{self, MAX_PASSWORD_BYTES};
use crate::crypto::random::{new_session_token, random_upper_hex};
use crate::crypto::signature;
use crate::deps::Deps;
use crate::domain::app::{App, GUEST_LIFETIME_SECS};
use crate::domain::session::{Session, SessionKind};
use crate::domain::user::{UniqueField, User};
use crate::domain::user_input::{Change, UserInput, check_new_password};
use crate::error::{ApiError, FieldErrors};
use crate::http::{ApiRequest, Reply};
use crate::params::Field;
use crate::service::auth::{authenticate, lookup};
use crate::service::credentials::{PasswordLogin, hash_to_check, verify_password};
use crate::service::external::{self, FirebaseLogin, parse_provider};
use crate::service::signup::{count_signup, signup_limit_of};
use crate::service::throttle::LoginThrottle;
use crate::service::users::{conflict_to_api, new_user};
use crate::store::ids::SESSIONS;
use crate::store::users::Credential;
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
    Firebase(FirebaseLogin),
}

impl Intent {
    fn parse(params: Field<'_>) -> Result<Intent, ApiError> {
        if let Some(firebase) = parse_provider(params)? {
            return Ok(Intent::Firebase(firebase));
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
struct Signed {
    timestamp: i64,
    nonce: String,
}

/// `POST /session`: an application session, a user session by login or email and password,
/// or a guest session. Any `CB-Token` sent along is ignored (the JS SDK sends its old one).
pub async fn create_session(deps: &Deps, req: &mut ApiRequest) -> Result<Reply, ApiError> {
    let params = req.params()?;
    let fields = Field::of(&params);
    let now = deps.clock.now();

    let app_id = fields.get("application_id").integer().ok().flatten();
    let auth_key = fields.get("auth_key").non_blank();
    let (Some(app_id), Some(auth_key)) = (app_id, auth_key) else {
        return Err(ApiError::Unprocessable("application_id and auth_key are required".into()));
    };
    let intent = Intent::parse(fields)?;

    let (app, credential) = deps.store.app_and_credential(app_id, intent.lookup(), now).await?;
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
        Intent::Firebase(firebase) => {
            let user = external::firebase_user(deps, &app, &firebase, now).await?;
            deps.store.tx_touch_user(&mut tx, user.id, now);
            (Some(user), SessionKind::User)
        }
        Intent::LoginToken(token) => {
            let user = external::cidp_user(deps, &app, &token, now).await?;
            deps.store.tx_touch_user(&mut tx, user.id, now);
            (Some(user), SessionKind::User)
        }
        Intent::Guest { full_name } => {
            count_signup(deps, &signup_limit_of(&app, req.source_ip()), now).await?;
            let guest = new_guest(deps, &app, full_name, now).await?;
            deps.store.tx_insert_user(&mut tx, &guest, now);
            (Some(guest), SessionKind::Guest)
        }
        Intent::Password(login) => {
            let user_id = credential.as_ref().map(|c| c.user_id);
            let throttle = LoginThrottle::new(&app, req.source_ip(), login.field, &login.value, user_id);
            // The marker carries the password hash: verify it while reading the user.
            if let Some(Credential { user_id, password_hash: Some(hash) }) = credential.clone()
                && login.password.expose().len() <= MAX_PASSWORD_BYTES
            {
                let attempt = Attempt { login: &login, user_id, hash, throttle: &throttle };
                let (token, session, user) =
                    Box::pin(password_session(deps, &app, None, attempt, tx, signed, now)).await?;
                req.set_session_expiry(session.expires_at());
                return Ok(Reply::created(json!({ "session": session.to_json(&token, Some(&user)) })));
            }
            let existing = match user_id {
                Some(id) => deps.store.get_user(id, now).await?,
                None => None,
            };
            if let Some(user) = existing.clone()
                && let Some(hash) = hash_to_check(&user, &login.password)
            {
                let attempt = Attempt { login: &login, user_id: user.id, hash, throttle: &throttle };
                let (token, session, user) =
                    Box::pin(password_session(deps, &app, Some(user), attempt, tx, signed, now)).await?;
                req.set_session_expiry(session.expires_at());
                return Ok(Reply::created(json!({ "session": session.to_json(&token, Some(&user)) })));
            }
            // No hash to check (an unknown name, a guest, a user without a password): the
            // same verification's cost, counted before its answer.
            let known = existing.as_ref().map(|user| user.id);
            let (reserved, _) = tokio::join!(throttle.reserve(deps, now), verify_password(None, &login.password));
            let reservation = reserved?;
            if known.is_some() {
                return Err(throttle.failed(deps, known, ApiError::Unauthorized, now).await);
            }
            if !app.settings.allow_session_without_user {
                let unknown = ApiError::NotFound("User not found".into());
                return Err(throttle.failed(deps, None, unknown, now).await);
            }
            // Not a failure: a new user.
            reservation.release(deps).await;
            count_signup(deps, &signup_limit_of(&app, req.source_ip()), now).await?;
            let user = auto_created_user(deps, &app, &login, now).await?;
            deps.store.tx_insert_user(&mut tx, &user, now);
            (Some(user), SessionKind::User)
        }
    };

    let (token, session) = new_session(deps, &app, user.as_ref().map(|u| u.id), kind, signed.as_ref(), now).await?;
    deps.store.tx_insert_session(&mut tx, &session);
    deps.store.commit(tx).await.map_err(session_write_error)?;
    req.set_session_expiry(session.expires_at());
    Ok(Reply::created(json!({ "session": session.to_json(&token, user.as_ref()) })))
}

/// A password login of a known user: the credentials, the user and their stored hash, and
/// the limits the attempt counts against.
struct Attempt<'a> {
    login: &'a PasswordLogin,
    user_id: i64,
    hash: String,
    throttle: &'a LoginThrottle,
}

/// A user session for `user_id` if the attempt's password matches the hash. The attempt
/// takes its place in the login limits while the password is verified, and the session is
/// written then too (only once the place is taken), so that both round trips (and the read
/// of the user, when not yet `known`) hide behind the hash instead of following it; on a
/// mismatch the session is withdrawn. Its token is only ever revealed after a match, so the
/// session is unusable in between, and should the withdrawal fail, the session expires
/// unknown to anyone. The same write checks the lockout, and that the user's hash is still
/// the one verified.
async fn password_session(
    deps: &Deps,
    app: &App,
    known: Option<User>,
    attempt: Attempt<'_>,
    mut tx: Tx,
    signed: Option<Signed>,
    now: Timestamp,
) -> Result<(String, Session, User), ApiError> {
    let user_id = attempt.user_id;
    let (token, session) = new_session(deps, app, Some(user_id), SessionKind::User, signed.as_ref(), now).await?;
    deps.store.tx_touch_user_with_password(&mut tx, user_id, &attempt.hash, now);
    deps.store.tx_insert_session(&mut tx, &session);
    attempt.throttle.guard(deps, &mut tx, user_id, now);
    let verify = password::verify(attempt.login.password.clone(), Some(attempt.hash.clone()));
    // The user is read before the write, so that a withdrawal restores what it was.
    let reserve_read_write = async {
        let reservation = attempt.throttle.reserve(deps, now).await?;
        let user = match known {
            Some(user) => Ok(Some(user)),
            None => deps.store.get_user(user_id, now).await,
        };
        let written = match &user {
            Ok(Some(user)) if !user.is_guest => Some(deps.store.commit(tx).await),
            _ => None,
        };
        Ok::<_, ApiError>((reservation, user, written))
    };
    let (matches, reserved) = tokio::join!(verify, reserve_read_write);
    // No place in the limits: refused whatever the password, so a throttled guess learns
    // nothing; nothing was written.
    let (reservation, user, written) = reserved?;
    if let Some(Err(error)) = &written {
        // Locked out, or a replayed signature: refused whether or not the password matched.
        let refusal = attempt.throttle.refusal(error, now).or_else(|| {
            error.is_conflict_on(Claim::Nonce).then(|| ApiError::Unprocessable("Nonce has already been used".into()))
        });
        if let Some(refusal) = refusal {
            reservation.release(deps).await;
            return Err(refusal);
        }
    }
    match (matches, user?.filter(|user| !user.is_guest), written) {
        (true, Some(mut user), Some(written)) => {
            written.map_err(session_write_error)?;
            reservation.release(deps).await;
            user.last_request_at = Some(now);
            Ok((token, session, user))
        }
        (_, user, written) => {
            let failed = attempt.throttle.failed(deps, Some(user_id), ApiError::Unauthorized, now);
            if let (Some(user), Some(Ok(()))) = (&user, &written) {
                let withdrawn = deps.store.withdraw_login(&session, user.id, user.last_request_at, now);
                return Err(tokio::join!(withdrawn, failed).1);
            }
            Err(failed.await)
        }
    }
}

fn session_write_error(error: StoreError) -> ApiError {
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

async fn new_session(
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

/// `GET /session`: the caller's session, with its user.
pub async fn get_session(deps: &Deps, req: &mut ApiRequest) -> Result<Reply, ApiError> {
    let caller = authenticate(deps, req).await?;
    let user = match caller.session.user_id {
        Some(id) => Some(deps.store.get_user(id, deps.clock.now()).await?.ok_or(ApiError::SessionMissing)?),
        None => None,
    };
    Ok(Reply::ok(json!({ "session": caller.session.to_json(&caller.token, user.as_ref()) })))
}

/// `DELETE /session`: ends the caller's session. 200 with an empty body (read as text).
pub async fn destroy_session(deps: &Deps, req: &mut ApiRequest) -> Result<Reply, ApiError> {
    let caller = lookup(deps, req).await?;
    deps.store.delete_session(&caller.session).await?;
    Ok(Reply::empty())
}

/// `POST /login`: binds a user to the caller's (application) session; the token stays the
/// same. Replies `{"user":{…}}`. The credentials are a login or email and password, a
/// Firebase token, or (with a Custom Identity Provider on) the provider's token as `login`.
pub async fn login(deps: &Deps, req: &mut ApiRequest) -> Result<Reply, ApiError> {
    let caller = authenticate(deps, req).await?;
    let params = req.params()?;
    let fields = Field::of(&params);
    let now = deps.clock.now();
    // SDKs send the credentials unwrapped; accept a `user` wrapper as well.
    let credentials = if fields.get("user").is_object() { fields.get("user") } else { fields };
    // A password login's limits, checked in the write that binds the user.
    let mut guards = Tx::new();
    let mut throttled = None;
    let mut user = if let Some(firebase) = parse_provider(fields)? {
        let app = deps.store.get_app(caller.app_id()).await?.ok_or(ApiError::SessionMissing)?;
        external::firebase_user(deps, &app, &firebase, now).await?
    } else {
        let login = credentials.get("login").non_blank().map(|l| (UniqueField::Login, l));
        let email = credentials.get("email").non_blank().map(|e| (UniqueField::Email, e));
        let (field, value) = login
            .or(email)
            .ok_or_else(|| ApiError::Unprocessable("login or email and password are required".into()))?;
        // One round trip: the application (is a CIdP on?) and the user behind the login.
        let (app, credential) =
            deps.store.app_and_credential(caller.app_id(), Some((field, value.trim())), now).await?;
        let user_id = credential.map(|c| c.user_id);
        let app = app.ok_or(ApiError::SessionMissing)?;
        if app.settings.cidp.is_some() && field == UniqueField::Login {
            external::cidp_user(deps, &app, value.trim(), now).await?
        } else {
            let password = PasswordLogin::parse(credentials)?.expect("a login or an email is present").password;
            let throttle = LoginThrottle::new(&app, req.source_ip(), field, value.trim(), user_id);
            let existing = match user_id {
                Some(id) => deps.store.get_user(id, now).await?,
                None => None,
            };
            let known = existing.as_ref().map(|user| user.id);
            // Counted before the verification's answer can be given, and refused whatever the
            // password while the account is locked.
            let (reserved, verified, unlocked) = tokio::join!(
                throttle.reserve(deps, now),
                verify_password(existing, &password),
                throttle.lock_refusal(deps, known, now),
            );
            let reservation = reserved?;
            if let Err(locked) = unlocked {
                reservation.release(deps).await;
                return Err(locked);
            }
            match verified {
                Some(user) => {
                    throttle.guard(deps, &mut guards, user.id, now);
                    throttled = Some((throttle, reservation));
                    user
                }
                None => return Err(throttle.failed(deps, known, ApiError::Unauthorized, now).await),
            }
        }
    };
    // A password login binds only while the hash it verified is still the user's.
    let verified_hash = if throttled.is_some() { user.password_hash.clone() } else { None };
    let bound = deps.store.bind_session_user(&caller.session, user.id, verified_hash.as_deref(), guards, now).await;
    // The login did not fail on its password: its places in the limits go back.
    let refusal = match &throttled {
        Some((throttle, _)) => bound.as_ref().err().and_then(|e| throttle.refusal(e, now)),
        None => None,
    };
    if let Some((_, reservation)) = throttled {
        reservation.release(deps).await;
    }
    let session = bound.map_err(|e| {
        if e.is_conflict_on(Claim::SessionLive) {
            return ApiError::SessionMissing;
        }
        if e.is_conflict_on(Claim::UserExists) {
            // Deleted, or its password changed, since it was verified.
            return ApiError::Unauthorized;
        }
        refusal.unwrap_or_else(|| e.into())
    })?;
    req.set_session_expiry(session.expires_at());
    user.last_request_at = Some(now);
    Ok(Reply::ok(json!({ "user": user.to_json() })))
}

/// `DELETE /login`: detaches the user, leaving an application session. 200, empty body.
pub async fn logout(deps: &Deps, req: &mut ApiRequest) -> Result<Reply, ApiError> {
    let caller = authenticate(deps, req).await?;
    let now = deps.clock.now();
    let session = deps
        .store
        .unbind_session_user(&caller.session, now)
        .await
        .map_err(|e| if e.is_conflict_on(Claim::SessionLive) { ApiError::SessionMissing } else { e.into() })?;
    req.set_session_expiry(session.expires_at());
    Ok(Reply::empty())
}
