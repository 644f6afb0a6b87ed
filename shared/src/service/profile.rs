//! A user's own profile: update (`PUT /users/{id}`) and delete (`DELETE /users/{id}`,
//! `DELETE /users/external/{external_user_id}`), contract §6.3–6.4. Only the session's own
//! user may be changed.

use serde_json::Value;

use crate::crypto::password;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::user::{UniqueField, User};
use crate::domain::user_input::UserInput;
use crate::error::{ApiError, FieldErrors};
use crate::service::auth::{Caller, authenticate, lookup_token};
use crate::service::context::Context;
use crate::service::credentials::hash_to_check;
use crate::service::reset::sweep_sessions;
use crate::service::throttle::LoginThrottle;
use crate::service::users::{conflict_to_api, network_ids_are_server_owned};
use crate::store::{Claim, StoreError, Tx, backoff};

/// `PUT /users/{id}`'s body: the `user` fields to change.
pub struct UpdateUser {
    input: UserInput,
}

impl UpdateUser {
    pub fn parse(params: &Value) -> Result<UpdateUser, ApiError> {
        Ok(UpdateUser { input: UserInput::parse_user_param(params)? })
    }
}

/// How often a write that lost an optimistic-locking race is tried, each time from a fresh
/// read, with a jittered backoff between tries: enough for dozens of concurrent changes of
/// one user to all land (each round lets one win).
const RACE_RETRIES: u32 = 8;

/// Whether a write failed because the user changed since it was read (a retry from a fresh
/// read can succeed). A unique value taken alongside is judged again on that read.
fn lost_race(error: &StoreError) -> bool {
    matches!(error, StoreError::Conflict(claims) if claims.contains(&Claim::Unchanged))
}

/// The answer when every try lost its race: more changes of this user at once than can
/// land, which is the client's to slow down (a 429), not a failure of the service.
fn contended() -> ApiError {
    ApiError::TooManyRequests { retry_after_secs: 1 }
}

/// The caller's own user id, which `target` (a path segment) must name.
fn own_user_id(caller: &Caller, target: &str) -> Result<i64, ApiError> {
    let me = caller.user_id()?;
    match target.parse::<i64>() {
        Ok(id) if id == me => Ok(me),
        _ => Err(ApiError::ForbiddenBase("You can only change your own user".into())),
    }
}

/// `PUT /users/{id}`. A password change needs the current password (`old_password`, or
/// Flutter's `oldPassword`) and ends every other session of the user; a change of login or
/// email needs it too, unless the application allows those without it (a stolen session
/// token must not be able to move the account's address and take it over by a reset). A wrong
/// current password counts against the account's login limits. A change of password or email
/// voids any outstanding reset link; a change of login, email or another unique field swaps
/// its marker in the same transaction.
///
/// `command` is checked after the session: a request without one gets the 401, whatever its
/// body.
pub async fn update_user(
    deps: &Deps,
    ctx: &mut Context,
    target: &str,
    command: impl FnOnce() -> Result<UpdateUser, ApiError>,
) -> Result<User, ApiError> {
    // The target's read goes out beside the session's, as for a delete; it is used only once
    // the session shows that the target is the caller.
    let early = async {
        match target.parse::<i64>() {
            Ok(id) => Some((id, deps.store.get_user(id, deps.clock.now()).await)),
            Err(_) => None,
        }
    };
    let (caller, early) = tokio::join!(authenticate(deps, ctx), early);
    let caller = caller?;
    let me = own_user_id(&caller, target)?;
    let mut early = early.filter(|(id, _)| *id == me).map(|(_, read)| read);
    let UpdateUser { input } = command()?;
    let app = deps.store.cached_app(caller.app_id()).await?.ok_or(ApiError::SessionMissing)?;
    network_ids_are_server_owned(&app, &input)?;
    let mut new_hash = None;
    // The stored hash the current password was checked against: a retry that reads another
    // (a password changed meanwhile) checks it again, so no change rides on a stale check.
    let mut confirmed_against: Option<Option<String>> = None;
    for attempt in 1..=RACE_RETRIES {
        let now = deps.clock.now();
        let read = match early.take() {
            Some(read) => read,
            None => {
                let (read, signed_in) = tokio::join!(deps.store.get_user(me, now), still_signed_in(deps, &caller));
                signed_in?;
                read
            }
        };
        let current = read?.ok_or(ApiError::SessionMissing)?;
        let mut updated = current.clone();
        input.apply(&mut updated);
        let mut errors = FieldErrors::default();
        if updated.login.is_none() && updated.email.is_none() {
            errors.add("base", "login or email is required");
        }
        errors.into_result()?;
        // The address exactly as stored and mailed: a change of case is a change of address.
        let email_changed = current.email != updated.email;
        let identity_changed = email_changed || changed(UniqueField::Login, &current.login, &updated.login);
        // A user without a password (Firebase, identity provider) has none to confirm.
        let confirm = input.password.is_some()
            || (identity_changed && !app.settings.identity_change_without_password && current.password_hash.is_some());
        if confirm && confirmed_against.as_ref() != Some(&current.password_hash) {
            check_current_password(deps, &app, ctx.source_ip(), &input, &current).await?;
            confirmed_against = Some(current.password_hash.clone());
        }
        if let Some(new_password) = &input.password {
            if new_hash.is_none() {
                new_hash = Some(password::hash(new_password.clone()).await);
            }
            updated.password_hash = new_hash.clone();
        }
        updated.updated_at = now;
        updated.version = current.version + 1;

        let mut tx = Tx::new();
        deps.store.tx_replace_user(&mut tx, &current, &updated, now);
        if input.password.is_some() || email_changed {
            deps.store.tx_void_reset(&mut tx, me);
        }
        let ends_sessions = input.password.is_some();
        let result = if ends_sessions {
            let others = other_sessions(deps.store.user_session_hashes(me).await?, &caller);
            deps.store.commit_ending_sessions(tx, me, &others).await
        } else {
            deps.store.commit(tx).await
        };
        match result {
            Ok(()) => {
                if ends_sessions {
                    // Sessions made between the listing and the commit (see `end_sessions`).
                    sweep_sessions(deps, me, Some(&caller.session.token_hash)).await;
                }
                return Ok(updated);
            }
            Err(error) if lost_race(&error) && attempt < RACE_RETRIES => backoff(attempt).await,
            Err(error) if lost_race(&error) => return Err(contended()),
            Err(error) => return Err(conflict_to_api(error)),
        }
    }
    unreachable!("the last attempt returns")
}

/// Before a retry: the caller's session must still be live, so that a change that lost its
/// race to, say, a password change elsewhere (which ends every other session) does not land
/// after the session that asked for it has ended.
async fn still_signed_in(deps: &Deps, caller: &Caller) -> Result<(), ApiError> {
    let now_signed_in = lookup_token(deps, &caller.token).await?;
    if now_signed_in.session.user_id != caller.session.user_id {
        return Err(ApiError::SessionMissing);
    }
    Ok(())
}

fn other_sessions(hashes: Vec<String>, caller: &Caller) -> Vec<String> {
    hashes.into_iter().filter(|hash| *hash != caller.session.token_hash).collect()
}

/// Whether a unique field's value changes (case-insensitively, as uniqueness counts it).
fn changed(field: UniqueField, before: &Option<String>, after: &Option<String>) -> bool {
    before.as_deref().map(|v| field.normalise(v)) != after.as_deref().map(|v| field.normalise(v))
}

/// The current password must accompany the change, and match. The check counts against the
/// account's login limits like a login: its place is taken before the answer can be given,
/// kept on a mismatch and given back on a match.
async fn check_current_password(
    deps: &Deps,
    app: &App,
    ip: Option<&str>,
    input: &UserInput,
    current: &User,
) -> Result<(), ApiError> {
    let Some(old) = &input.old_password else {
        return Err(ApiError::field("old_password", "can't be blank"));
    };
    let now = deps.clock.now();
    let name = current.login.as_deref().or(current.email.as_deref()).unwrap_or_default();
    let throttle = LoginThrottle::new(app, ip, UniqueField::Login, name, Some(current.id));
    let (reserved, matches) =
        tokio::join!(throttle.reserve(deps, now), password::verify(old.clone(), hash_to_check(current, old)));
    let reservation = reserved?;
    if !matches {
        return Err(reservation.failed(deps, ApiError::field("old_password", "is invalid")).await);
    }
    reservation.release(deps).await;
    Ok(())
}

/// `DELETE /users/{id}`: the caller deletes themself, with every marker, search and tag item
/// and every session.
pub async fn delete_user(deps: &Deps, ctx: &mut Context, target: &str) -> Result<(), ApiError> {
    // The target's reads go out beside the session's; they are used only once the session
    // shows that the target is the caller.
    let early = async {
        match target.parse::<i64>() {
            Ok(id) => Some((id, deletion_reads(deps, id).await)),
            Err(_) => None,
        }
    };
    let (caller, early) = tokio::join!(authenticate(deps, ctx), early);
    let caller = caller?;
    let me = own_user_id(&caller, target)?;
    let early = early.filter(|(id, _)| *id == me).map(|(_, reads)| reads);
    delete_own_user(deps, &caller, me, early).await
}

/// What deleting user `id` reads first: the user and the hashes of their sessions.
type DeletionReads = (Result<Option<User>, StoreError>, Result<Vec<String>, StoreError>);

async fn deletion_reads(deps: &Deps, id: i64) -> DeletionReads {
    let now = deps.clock.now();
    tokio::join!(deps.store.get_user(id, now), deps.store.user_session_hashes(id))
}

/// `DELETE /users/external/{external_user_id}`: the same, when that external id is the
/// caller's.
pub async fn delete_user_by_external_id(deps: &Deps, ctx: &mut Context, external: &str) -> Result<(), ApiError> {
    let caller = authenticate(deps, ctx).await?;
    let me = caller.user_id()?;
    let now = deps.clock.now();
    let owner = deps.store.find_user_id(caller.app_id(), UniqueField::ExternalUserId, external, now).await?;
    match owner {
        None => Err(ApiError::NotFound("Not found".into())),
        Some(id) if id == me => delete_own_user(deps, &caller, me, None).await,
        Some(_) => Err(ApiError::ForbiddenBase("You can only change your own user".into())),
    }
}

/// Deletes user `me` with every session, from `early` reads if made (a retry reads afresh,
/// and goes on only while `caller`'s session is still among the user's).
async fn delete_own_user(
    deps: &Deps,
    caller: &Caller,
    me: i64,
    mut early: Option<DeletionReads>,
) -> Result<(), ApiError> {
    for attempt in 1..=RACE_RETRIES {
        let (user, sessions) = match early.take() {
            Some(reads) => reads,
            None => deletion_reads(deps, me).await,
        };
        let user = user?.ok_or(ApiError::SessionMissing)?;
        let sessions = sessions?;
        if attempt > 1 && !sessions.contains(&caller.session.token_hash) {
            return Err(ApiError::SessionMissing);
        }
        let mut tx = Tx::new();
        deps.store.tx_delete_user(&mut tx, &user);
        match deps.store.commit_ending_sessions(tx, me, &sessions).await {
            Ok(()) => {
                sweep_sessions(deps, me, None).await;
                return Ok(());
            }
            Err(error) if lost_race(&error) && attempt < RACE_RETRIES => backoff(attempt).await,
            Err(error) if lost_race(&error) => return Err(contended()),
            Err(error) => return Err(error.into()),
        }
    }
    unreachable!("the last attempt returns")
}
