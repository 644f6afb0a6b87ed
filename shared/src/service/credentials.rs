//! Login by login-or-email and password, shared by `POST /session` and `POST /login`.

use crate::crypto::password::{self, MAX_PASSWORD_BYTES, Password};
use crate::domain::user::{UniqueField, User};
use crate::error::ApiError;
use crate::params::Field;

/// A login attempt: which unique field identifies the user, its value, and the password.
#[derive(Debug, Clone)]
pub struct PasswordLogin {
    pub field: UniqueField,
    pub value: String,
    pub password: Password,
}

impl PasswordLogin {
    /// Reads `login` (preferred; Flutter may send both) or `email`, plus `password`.
    /// `Ok(None)` when neither login nor email is present.
    pub fn parse(fields: Field<'_>) -> Result<Option<PasswordLogin>, ApiError> {
        let (field, value) = match (fields.get("login").non_blank(), fields.get("email").non_blank()) {
            (Some(login), _) => (UniqueField::Login, login),
            (None, Some(email)) => (UniqueField::Email, email),
            (None, None) => return Ok(None),
        };
        let password = fields.get("password").text().filter(|p| !p.is_empty());
        let password = password.ok_or_else(|| ApiError::field("password", "can't be blank"))?;
        Ok(Some(PasswordLogin { field, value: value.trim().to_string(), password: Password::new(password) }))
    }
}

/// Checks `password` against `user`. Always costs one argon2id verification, also when the
/// user is unknown, a guest or has no password, so timing does not reveal which; returns the
/// user only on a match.
pub async fn verify_password(user: Option<User>, password: &Password) -> Option<User> {
    if password.expose().len() > MAX_PASSWORD_BYTES {
        return None;
    }
    let hash = user.as_ref().and_then(|u| hash_to_check(u, password));
    let matches = password::verify(password.clone(), hash).await;
    if matches { user } else { None }
}

/// The stored hash `password` could match: none for a guest, a user without a password, or
/// a password longer than any valid one.
pub fn hash_to_check(user: &User, password: &Password) -> Option<String> {
    if user.is_guest || password.expose().len() > MAX_PASSWORD_BYTES {
        return None;
    }
    user.password_hash.clone()
}
