//! `POST /users`: sign up (contract §6.2).

use serde_json::json;

use crate::clock::Timestamp;
use crate::crypto::password;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::user_input::UserInput;
use crate::error::{ApiError, FieldErrors};
use crate::http::{ApiRequest, Reply};
use crate::params::Field;
use crate::service::auth::app_of_request;
use crate::service::users::{conflict_to_api, new_user};
use crate::store::rate::{Limit, retry_after};
use crate::store::{Claim, StoreError, Tx};

/// The signups-per-IP limit of `app_id` for a request from `ip`; guest sessions count
/// against it too.
pub async fn signup_limit(deps: &Deps, app_id: i64, ip: Option<&str>) -> Result<Limit, ApiError> {
    let app = deps.store.cached_app(app_id).await?.ok_or(ApiError::Unauthorized)?;
    Ok(signup_limit_of(&app, ip))
}

pub fn signup_limit_of(app: &App, ip: Option<&str>) -> Limit {
    Limit::new(format!("signup-ip#{}#{}", app.id, ip.unwrap_or("unknown")), app.settings.limits.signups_per_ip)
}

/// 429 when a transaction that counted against `limit` failed because it was exhausted.
pub fn limited(error: &StoreError, limit: &Limit, now: Timestamp) -> Option<ApiError> {
    error
        .is_conflict_on(Claim::RateLimit)
        .then(|| ApiError::TooManyRequests { retry_after_secs: retry_after(std::slice::from_ref(limit), now) })
}

/// Creates a user in the caller's application, found through `CB-Token` (any session) or
/// `CB-AuthKey` (no session). The session, if any, is not upgraded: clients log in next.
/// Login and email uniqueness hold through marker items written in the user's transaction.
pub async fn signup(deps: &Deps, req: &mut ApiRequest) -> Result<Reply, ApiError> {
    let (app_id, _caller) = app_of_request(deps, req).await?;
    let params = req.params()?;
    let user_fields = Field::of(&params).get("user");
    if !user_fields.is_object() {
        return Err(ApiError::field("user", "can't be blank"));
    }
    let input = UserInput::parse(user_fields).map_err(ApiError::Validation)?;
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
    // The limit may need the application read; that read hides behind the hash.
    let (limit, hash) = tokio::join!(signup_limit(deps, app_id, req.source_ip()), password::hash(password));
    let limit = limit?;
    let user = new_user(deps, app_id, &input, Some(hash), now).await?;
    let mut tx = Tx::new();
    deps.store.tx_insert_user(&mut tx, &user, now);
    deps.store.tx_hit(&mut tx, &limit, now);
    deps.store.commit(tx).await.map_err(|e| limited(&e, &limit, now).unwrap_or_else(|| conflict_to_api(e)))?;
    Ok(Reply::created(json!({ "user": user.to_json() })))
}
