//! The one password login, for `POST /session` (a new user session) and `POST /login` (the
//! caller's application session bound to the user).
//!
//! Both count the attempt in the login limits before its answer can be known, verify the
//! password (argon2id) from the hash the login/email marker carries when it has one (so the
//! hash starts right after the first read), refuse a locked account whatever the password,
//! count a failure and give a success's places back. They differ only in when the session is
//! written, which follows from who knows its token:
//! - a new session's token is revealed only after a match, so it is written while the
//!   password is verified (the write hides behind the hash) and withdrawn on a mismatch;
//! - a bound session's token is already the caller's, so it is bound only after a match.
//!
//! Either write is conditional on the user's hash still being the one verified; a locked
//! account never gets that far (its lockout place is refused with the limits').

use crate::clock::Timestamp;
use crate::crypto::password::{self, MAX_PASSWORD_BYTES};
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::session::{Session, SessionKind};
use crate::domain::user::User;
use crate::error::ApiError;
use crate::service::credentials::{PasswordLogin, hash_to_check, verify_password};
use crate::service::migration::{asks_old_service, migrating_login};
use crate::service::sessions::{Signed, new_session, session_write_error};
use crate::service::throttle::{LoginThrottle, Reservation};
use crate::store::users::Credential;
use crate::store::{Claim, StoreError, Tx};

/// Where a verified login goes.
pub enum LoginTarget<'a> {
    /// `POST /session`: a new user session, written in `tx` (which may already hold the
    /// signature's nonce claim).
    NewSession { tx: Tx, signed: Option<&'a Signed> },
    /// `POST /login`: the caller's session, bound to the user.
    Bind { session: &'a Session },
}

/// A successful login.
pub enum LoggedIn {
    /// A new session: its token, the session and its user.
    NewSession { token: String, session: Session, user: User },
    /// The caller's session, now bound to `user`.
    Bound { session: Session, user: User },
    /// No user has this login or email. Only a new session gets this answer, and only when
    /// the application creates users on first login; the attempt's places were given back.
    /// (`tx` is the target's transaction, returned for the new user's writes.)
    UnknownUser { tx: Tx },
}

/// A password login of `login` on `app`: `credential` is what the login/email marker holds
/// (read with the application), `ip` the caller's.
pub async fn password_login(
    deps: &Deps,
    app: &App,
    ip: Option<&str>,
    login: &PasswordLogin,
    credential: Option<Credential>,
    target: LoginTarget<'_>,
    now: Timestamp,
) -> Result<LoggedIn, ApiError> {
    let user_id = credential.as_ref().map(|c| c.user_id);
    let throttle = LoginThrottle::new(app, ip, login.field, &login.value, user_id);
    let attempt = |user_id, hash, known| Attempt { login, user_id, hash, known, throttle: &throttle };
    // The marker carries the password hash: verify it while reading the user.
    if let Some(Credential { user_id, password_hash: Some(hash) }) = credential
        && login.password.expose().len() <= MAX_PASSWORD_BYTES
    {
        return Box::pin(attempt(user_id, hash, None).run(deps, app, target, now)).await;
    }
    let existing = match user_id {
        Some(id) => deps.store.get_user(id, now).await?,
        None => None,
    };
    if let Some(user) = existing.clone()
        && let Some(hash) = hash_to_check(&user, &login.password)
    {
        return Box::pin(attempt(user.id, hash, Some(user)).run(deps, app, target, now)).await;
    }
    // Unknown here, or imported without its password, while the application moves from
    // another service: that service decides.
    if asks_old_service(app, existing.as_ref()) && login.password.expose().len() <= MAX_PASSWORD_BYTES {
        return Box::pin(migrating_login(deps, app, login, existing, &throttle, target, now)).await;
    }
    // No hash to check (an unknown name, a guest, a user without a password): the same
    // verification's cost, counted before its answer.
    let known = existing.as_ref().map(|user| user.id);
    let (reserved, _) = tokio::join!(throttle.reserve(deps, now), verify_password(None, &login.password));
    let reservation = reserved?;
    match target {
        LoginTarget::NewSession { tx, .. } if known.is_none() && app.settings.allow_session_without_user => {
            // Not a failure: a new user.
            reservation.release(deps).await;
            Ok(LoggedIn::UnknownUser { tx })
        }
        LoginTarget::NewSession { .. } if known.is_none() => {
            Err(reservation.failed(deps, ApiError::NotFound("User not found".into())).await)
        }
        _ => Err(reservation.failed(deps, ApiError::Unauthorized).await),
    }
}

/// A login of a known user with a hash to verify.
struct Attempt<'a> {
    login: &'a PasswordLogin,
    user_id: i64,
    hash: String,
    /// The user, when already read.
    known: Option<User>,
    throttle: &'a LoginThrottle,
}

impl Attempt<'_> {
    async fn run(self, deps: &Deps, app: &App, target: LoginTarget<'_>, now: Timestamp) -> Result<LoggedIn, ApiError> {
        match target {
            LoginTarget::NewSession { tx, signed } => self.new_session(deps, app, tx, signed, now).await,
            LoginTarget::Bind { session } => self.bind(deps, session, now).await,
        }
    }

    /// The user, as known or read now.
    async fn user(&self, deps: &Deps, now: Timestamp) -> Result<Option<User>, StoreError> {
        match &self.known {
            Some(user) => Ok(Some(user.clone())),
            None => deps.store.get_user(self.user_id, now).await,
        }
    }

    /// A new session, written while the password is verified (only once the attempt has its
    /// place in the limits), so that both round trips (and the read of the user, when not
    /// yet known) hide behind the hash; withdrawn on a mismatch. Its token is only revealed
    /// after a match, so the session is unusable in between, and should the withdrawal fail,
    /// it expires unknown to anyone.
    async fn new_session(
        self,
        deps: &Deps,
        app: &App,
        mut tx: Tx,
        signed: Option<&Signed>,
        now: Timestamp,
    ) -> Result<LoggedIn, ApiError> {
        let user_id = self.user_id;
        let (token, session) = new_session(deps, app, Some(user_id), SessionKind::User, signed, now).await?;
        deps.store.tx_touch_user_with_password(&mut tx, user_id, &self.hash, now);
        deps.store.tx_insert_session(&mut tx, &session);
        let verify = password::verify(self.login.password.clone(), Some(self.hash.clone()));
        // The user is read before the write, so that a withdrawal restores what it was.
        let reserve_read_write = async {
            let reservation = self.throttle.reserve(deps, now).await?;
            let user = self.user(deps, now).await;
            let written = match &user {
                Ok(Some(user)) if !user.is_guest => Some(deps.store.commit(tx).await),
                _ => None,
            };
            Ok::<_, ApiError>((reservation, user, written))
        };
        let (matches, reserved) = tokio::join!(verify, reserve_read_write);
        // No place in the limits: refused whatever the password, so a throttled guess
        // learns nothing; nothing was written.
        let (reservation, user, written) = reserved?;
        if let Some(Err(error)) = &written {
            // Over a limit, or a replayed signature: refused whether or not the password matched.
            let refusal = self.throttle.refusal(error, now).or_else(|| {
                error
                    .is_conflict_on(Claim::Nonce)
                    .then(|| ApiError::Unprocessable("Nonce has already been used".into()))
            });
            if let Some(refusal) = refusal {
                reservation.release(deps).await;
                return Err(refusal);
            }
        }
        let user = match user {
            Ok(user) => user.filter(|user| !user.is_guest),
            Err(error) => {
                // Not a failed login: the read failed.
                reservation.release(deps).await;
                return Err(error.into());
            }
        };
        match (matches, user, written) {
            (true, Some(mut user), Some(written)) => {
                // The password matched: not a failure, whatever became of the write.
                reservation.release(deps).await;
                written.map_err(session_write_error)?;
                user.last_request_at = Some(now);
                Ok(LoggedIn::NewSession { token, session, user })
            }
            (_, user, written) => {
                let failed = reservation.failed(deps, ApiError::Unauthorized);
                if let (Some(user), Some(Ok(()))) = (&user, &written) {
                    // The withdrawal and the failure's count go out side by side.
                    let withdrawn = deps.store.withdraw_login(&session, user.id, user.last_request_at, now);
                    return Err(tokio::join!(withdrawn, failed).1);
                }
                Err(failed.await)
            }
        }
    }

    /// The caller's session bound to the user, only after a match: the attempt's places
    /// (the lockout's among them), the verification and the read of the user run together.
    async fn bind(self, deps: &Deps, session: &Session, now: Timestamp) -> Result<LoggedIn, ApiError> {
        let verify = password::verify(self.login.password.clone(), Some(self.hash.clone()));
        let (reserved, matches, user) = tokio::join!(self.throttle.reserve(deps, now), verify, self.user(deps, now));
        let reservation = reserved?;
        let user = match user {
            Ok(user) => user.filter(|user| matches && !user.is_guest),
            Err(error) => {
                // Not a failed login: the read failed.
                reservation.release(deps).await;
                return Err(error.into());
            }
        };
        let Some(mut user) = user else {
            return Err(reservation.failed(deps, ApiError::Unauthorized).await);
        };
        // Binds only while the hash it verified is still the user's.
        let bound = deps.store.bind_session_user(session, user.id, Some(&self.hash), now).await;
        let session = finish_bind(deps, bound, Some((self.throttle, reservation)), now).await?;
        user.last_request_at = Some(now);
        Ok(LoggedIn::Bound { session, user })
    }
}

/// The answer to a bind: the bound session, or why not. A password login's places in the
/// limits go back (it did not fail on its password).
pub async fn finish_bind(
    deps: &Deps,
    bound: Result<Session, StoreError>,
    throttled: Option<(&LoginThrottle, Reservation)>,
    now: Timestamp,
) -> Result<Session, ApiError> {
    let refusal = match &throttled {
        Some((throttle, _)) => bound.as_ref().err().and_then(|e| throttle.refusal(e, now)),
        None => None,
    };
    if let Some((_, reservation)) = throttled {
        reservation.release(deps).await;
    }
    bound.map_err(|e| {
        if e.is_conflict_on(Claim::SessionLive) {
            return ApiError::SessionMissing;
        }
        if e.is_conflict_on(Claim::UserExists) {
            // Deleted, or its password changed, since it was verified.
            return ApiError::Unauthorized;
        }
        refusal.unwrap_or_else(|| e.into())
    })
}
