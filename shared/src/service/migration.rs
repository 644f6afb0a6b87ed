//! Lazy migration (`AppSettings::migrate_from`): a password login of a user this service
//! does not know, or imported without a password, is decided by the ConnectyCube service the
//! application is moving from. On a yes, the user is created here with the old service's id
//! and fields, or the imported user completed, with the argon2id hash of the password just
//! verified, in the same transaction as the new session; from then on the old service is
//! never asked about that user again. The attempt takes its place in the login limits
//! before the old service is called; a refusal there is a failed login here; an old service
//! that is down, slow or answers garbage gives the place back and writes nothing.

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::user::User;
use crate::error::ApiError;
use crate::service::credentials::PasswordLogin;
use crate::service::password_login::{LoggedIn, LoginTarget};
use crate::service::throttle::LoginThrottle;
#[cfg(feature = "outbound")]
use crate::{
    crypto::password,
    domain::export::user_from_export,
    domain::session::SessionKind,
    domain::user::UniqueField,
    identity::legacy::OldAnswer,
    service::sessions::{new_session, session_write_error},
    store::ids::USERS,
    store::{Claim, StoreError, Tx},
};

/// Whether this login goes to the old service: the application is moving, and the user is
/// unknown here or still awaits the password it had there.
pub fn asks_old_service(app: &App, existing: Option<&User>) -> bool {
    app.settings.migrate_from.is_some()
        && existing.is_none_or(|user| user.awaiting_password && user.password_hash.is_none() && !user.is_guest)
}

#[cfg(feature = "outbound")]
pub async fn migrating_login(
    deps: &Deps,
    app: &App,
    login: &PasswordLogin,
    existing: Option<User>,
    throttle: &LoginThrottle,
    target: LoginTarget<'_>,
    now: Timestamp,
) -> Result<LoggedIn, ApiError> {
    let reservation = throttle.reserve(deps, now).await?;
    match move_user(deps, app, login, existing, throttle, target, now).await {
        // The places are kept: a failed login.
        Err(Failed::Refused(refusal)) => Err(reservation.failed(deps, refusal).await),
        // Not a failed login (moved, or nothing learned): the place goes back.
        Err(Failed::Other(error)) => {
            reservation.release(deps).await;
            Err(error)
        }
        Ok(logged_in) => {
            reservation.release(deps).await;
            Ok(logged_in)
        }
    }
}

/// Why a move did not happen.
#[cfg(feature = "outbound")]
enum Failed {
    /// The old service said no: a failed login.
    Refused(ApiError),
    /// Anything else: nothing was learned about the password, nothing written.
    Other(ApiError),
}

#[cfg(feature = "outbound")]
impl From<ApiError> for Failed {
    fn from(error: ApiError) -> Self {
        Failed::Other(error)
    }
}

/// Asks the old service and, on a yes, writes the user here with the login's session.
#[cfg(feature = "outbound")]
async fn move_user(
    deps: &Deps,
    app: &App,
    login: &PasswordLogin,
    existing: Option<User>,
    throttle: &LoginThrottle,
    target: LoginTarget<'_>,
    now: Timestamp,
) -> Result<LoggedIn, Failed> {
    let origin = app.settings.migrate_from.as_deref().expect("asks_old_service checked it");
    let identity = deps.identity()?;
    // The hash is made while the old service answers: on a yes, it is what is kept.
    let asked = identity.ask_old_service(origin, app, login.field, &login.value, login.password.expose(), now);
    let (answer, hash) = tokio::join!(asked, password::hash(login.password.clone()));
    let old_user = match answer? {
        OldAnswer::User(user) => user,
        // A failed login, whatever the application's "session without user" setting: the old
        // service says no both to a wrong password and to an unknown user, so creating the
        // user here would let a guess squat a not-yet-moved user's name, and would answer
        // guesses outside the login limits.
        OldAnswer::Refused => {
            return Err(Failed::Refused(match target {
                LoginTarget::NewSession { .. } if existing.is_none() => ApiError::NotFound("User not found".into()),
                _ => ApiError::Unauthorized,
            }));
        }
    };
    let moved = moved_user(&old_user, app, login, existing.as_ref(), hash, now)?;
    let mut user_tx = Tx::new();
    match &existing {
        Some(stored) => deps.store.tx_replace_user(&mut user_tx, stored, &moved, now),
        None => deps.store.tx_insert_user(&mut user_tx, &moved, now),
    }
    let written = match target {
        LoginTarget::NewSession { mut tx, signed } => {
            let (token, session) = new_session(deps, app, Some(moved.id), SessionKind::User, signed, now).await?;
            tx.append(user_tx);
            deps.store.tx_insert_session(&mut tx, &session);
            deps.store.commit(tx).await.map(|()| LoggedIn::NewSession { token, session, user: moved.clone() })
        }
        LoginTarget::Bind { session } => match deps.store.commit(user_tx).await {
            Ok(()) => {
                let hash = moved.password_hash.as_deref();
                let bound = deps.store.bind_session_user(session, moved.id, hash, now).await;
                bound.map(|session| LoggedIn::Bound { session, user: moved.clone() })
            }
            Err(error) => Err(error),
        },
    };
    let logged_in = written.map_err(|error| write_refusal(error, throttle, moved.id, now))?;
    if let Err(error) = deps.store.raise_counter(USERS, moved.id).await {
        // Ids are then still checked on every write; this only keeps new ones clear of it.
        tracing::warn!(error = %error, "raising the user id counter past a moved user failed");
    }
    tracing::info!(user_id = moved.id, app_id = app.id, "user moved from the previous service");
    Ok(logged_in)
}

/// The answer for a move whose write was refused.
#[cfg(feature = "outbound")]
fn write_refusal(error: StoreError, throttle: &LoginThrottle, id: i64, now: Timestamp) -> ApiError {
    if let Some(refusal) = throttle.refusal(&error, now) {
        return refusal;
    }
    if error.is_conflict_on(Claim::Nonce) {
        return ApiError::Unprocessable("Nonce has already been used".into());
    }
    if error.is_conflict_on(Claim::SessionLive) {
        return ApiError::SessionMissing;
    }
    if error.is_conflict_on(Claim::UserExists) {
        // Deleted meanwhile (a bind checks the user it binds).
        return ApiError::Unauthorized;
    }
    match error {
        StoreError::Conflict(claims) => moving_conflict(&claims, id),
        other => session_write_error(other),
    }
}

/// Why a moved user could not be written.
#[cfg(feature = "outbound")]
fn moving_conflict(claims: &[Claim], id: i64) -> ApiError {
    let taken = Claim::taken_fields(claims);
    if !taken.is_empty() {
        return ApiError::Unprocessable(format!(
            "The user cannot be moved from the previous service: its {} is taken here",
            taken.join(", ")
        ));
    }
    if claims.contains(&Claim::NewItem) {
        return ApiError::Unprocessable(format!(
            "The user cannot be moved from the previous service: id {id} is in use here"
        ));
    }
    ApiError::Unprocessable("The user is being moved by another request; try again".into())
}

/// The user to keep: the old service's, or the imported one completed.
#[cfg(feature = "outbound")]
fn moved_user(
    old_user: &serde_json::Value,
    app: &App,
    login: &PasswordLogin,
    existing: Option<&User>,
    hash: String,
    now: Timestamp,
) -> Result<User, ApiError> {
    let unreadable = |why: String| {
        tracing::warn!(reason = %why, "the previous service's user could not be kept");
        ApiError::Unprocessable("The user cannot be moved from the previous service: its record is invalid here".into())
    };
    let mut moved = match existing {
        Some(stored) => {
            let id = old_user.get("id").and_then(serde_json::Value::as_i64);
            if id != Some(stored.id) {
                return Err(unreadable(format!("imported as {} but {id:?} there", stored.id)));
            }
            let mut completed = stored.clone();
            completed.version += 1;
            completed.updated_at = now;
            completed
        }
        None => user_from_export(old_user, app.id, now).map_err(|rejected| unreadable(rejected.0))?,
    };
    // The old service must have answered for the name that was asked.
    let asked = login.field.normalise(&login.value);
    let named = match login.field {
        UniqueField::Email => moved.email.as_deref(),
        _ => moved.login.as_deref(),
    };
    if named.map(|name| login.field.normalise(name)) != Some(asked) {
        return Err(unreadable("the old service answered for another user".into()));
    }
    moved.password_hash = Some(hash);
    moved.awaiting_password = false;
    moved.last_request_at = Some(now);
    Ok(moved)
}

#[cfg(not(feature = "outbound"))]
pub async fn migrating_login(
    _deps: &Deps,
    _app: &App,
    _login: &PasswordLogin,
    _existing: Option<User>,
    _throttle: &LoginThrottle,
    _target: LoginTarget<'_>,
    _now: Timestamp,
) -> Result<LoggedIn, ApiError> {
    Err(ApiError::unavailable(anyhow::anyhow!("this build makes no outbound calls")))
}
