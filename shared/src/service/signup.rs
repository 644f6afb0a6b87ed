//! `POST /users`: sign up (contract §6.2).

use serde_json::Value;

use crate::clock::Timestamp;
use crate::crypto::password;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::limits::source_key;
use crate::domain::user::User;
use crate::domain::user_input::UserInput;
use crate::error::{ApiError, FieldErrors};
use crate::service::auth::app_of_request;
use crate::service::context::Context;
use crate::service::users::{conflict_to_api, network_ids_are_server_owned, new_user};
use crate::store::rate::{Limit, RateDecision};
use crate::store::{Claim, StoreError, Tx};

/// The signups-per-IP limit of `app` for a request from `ip`; guest sessions count against
/// it too.
pub fn signup_limit_of(app: &App, ip: Option<&str>) -> Limit {
    Limit::new(format!("signup-ip#{}#{}", app.id, source_key(ip)), app.settings.limits.signups_per_ip)
}

/// Counts a signup attempt against `limit`: 429 once it is exhausted. A write of its own, not
/// part of the user's transaction: every signup from one address updates this one item, and
/// inside transactions those updates would conflict with each other (and fail the race for
/// a login with 503s instead of 422s).
pub async fn count_signup(deps: &Deps, limit: &Limit, now: Timestamp) -> Result<(), ApiError> {
    match deps.store.hit(std::slice::from_ref(limit), now).await? {
        RateDecision::Allowed => Ok(()),
        RateDecision::Limited { retry_after_secs } => Err(ApiError::TooManyRequests { retry_after_secs }),
    }
}

/// `POST /users`' body: the new user's fields.
pub struct Signup {
    input: UserInput,
}

impl Signup {
    pub fn parse(params: &Value) -> Result<Signup, ApiError> {
        Ok(Signup { input: UserInput::parse_user_param(params)? })
    }
}

/// Creates a user in the caller's application, found through `CB-Token` (any session) or
/// `CB-AuthKey` (no session). The session, if any, is not upgraded: clients log in next.
/// Login and email uniqueness hold through marker items written in the user's transaction.
///
/// `command` is checked after the caller's credentials.
pub async fn signup(
    deps: &Deps,
    ctx: &mut Context,
    command: impl FnOnce() -> Result<Signup, ApiError>,
) -> Result<User, ApiError> {
    let (app_id, _caller) = app_of_request(deps, ctx).await?;
    let Signup { input } = command()?;
    let mut errors = FieldErrors::default();
    if input.login.is_keep_or_clear() && input.email.is_keep_or_clear() {
        errors.add("base", "login or email is required");
    }
    if input.password.is_none() {
        errors.add("password", "can't be blank");
    }
    errors.into_result()?;
    let password = input.password.clone().expect("checked above");

    let now = deps.clock.now();
    // Counting (which may need the application read) hides behind the hash.
    let ip = ctx.source_ip();
    let counted = async {
        let app = deps.store.cached_app(app_id).await?.ok_or(ApiError::Unauthorized)?;
        network_ids_are_server_owned(&app, &input)?;
        count_signup(deps, &signup_limit_of(&app, ip), now).await
    };
    let (counted, hash) = tokio::join!(counted, password::hash(password));
    counted?;
    let mut attempts = 0;
    loop {
        let user = new_user(deps, app_id, &input, Some(hash.clone()), now).await?;
        let mut tx = Tx::new();
        deps.store.tx_insert_user(&mut tx, &user, now);
        match deps.store.commit(tx).await {
            Ok(()) => return Ok(user),
            // The id was taken by a user moved from another service (imported, or migrated
            // at first login) after this instance reserved its block of ids: draw the next.
            Err(StoreError::Conflict(claims)) if claims == [Claim::NewItem] && attempts < ID_RETRIES => attempts += 1,
            Err(error) => return Err(conflict_to_api(error)),
        }
    }
}

/// New ids drawn for one signup when the drawn one turns out to be taken.
const ID_RETRIES: usize = 3;
