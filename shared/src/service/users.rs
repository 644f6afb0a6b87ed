//! Creating users: ids, defaults, and the mapping of uniqueness conflicts to 422s.

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::user::User;
use crate::domain::user_input::{Change, UserInput};
use crate::error::{ApiError, FieldErrors};
use crate::store::ids::USERS;
use crate::store::{Claim, StoreError};

/// A new user of `app_id` built from validated input (not yet stored).
pub async fn new_user(
    deps: &Deps,
    app_id: i64,
    input: &UserInput,
    password_hash: Option<String>,
    now: Timestamp,
) -> Result<User, ApiError> {
    let id = deps.store.next_id(USERS).await?;
    let mut user = User { id, app_id, password_hash, created_at: now, updated_at: now, ..User::default() };
    input.apply(&mut user);
    Ok(user)
}

/// The 422 for taken unique values, or the error itself for anything else.
pub fn conflict_to_api(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(claims) => {
            let mut errors = FieldErrors::default();
            for claim in &claims {
                if let Claim::Unique(field) = claim {
                    errors.add(field.name(), "has already been taken");
                }
            }
            if errors.is_empty() {
                ApiError::unavailable(StoreError::Conflict(claims))
            } else {
                ApiError::Validation(errors)
            }
        }
        other => other.into(),
    }
}

/// Where the application signs users in through Facebook or Twitter, `facebook_id` and
/// `twitter_id` are the networks' to set: a client that could set them could pre-claim a
/// stranger's (public) network id, locking its owner out of sign-in and posing as them in
/// `by_facebook_id`/`by_twitter_id` lookups.
pub fn network_ids_are_server_owned(app: &App, input: &UserInput) -> Result<(), ApiError> {
    let mut errors = FieldErrors::default();
    let fields = [
        ("facebook_id", app.settings.facebook.is_some(), &input.facebook_id),
        ("twitter_id", app.settings.twitter.is_some(), &input.twitter_id),
    ];
    for (field, owned, change) in fields {
        if owned && !matches!(change, Change::Keep) {
            errors.add(field, "is set by sign-in through the network and cannot be changed");
        }
    }
    errors.into_result()
}
