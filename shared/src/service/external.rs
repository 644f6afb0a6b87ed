//! Signing in through an external identity (contract §4, §5): Firebase phone and email ID
//! tokens, and a customer's Custom Identity Provider. A user is found by the marker of its
//! identity (`provider:issuer:subject`), or created on first sign-in without a password.

#[cfg(any(feature = "outbound", test))]
use serde_json::{Map, Value, json};

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::user::User;
use crate::error::ApiError;
use crate::params::Field;
#[cfg(feature = "outbound")]
use crate::{
    domain::user::UniqueField,
    domain::user_input::{Change, UserInput},
    service::users::new_user,
    store::{Claim, StoreError, Tx},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirebaseProvider {
    Phone,
    Email,
}

impl FirebaseProvider {
    pub fn name(self) -> &'static str {
        match self {
            FirebaseProvider::Phone => "firebase_phone",
            FirebaseProvider::Email => "firebase_email",
        }
    }
}

/// `provider` + `firebase_phone` / `firebase_email` {`project_id`, `access_token`}.
#[derive(Debug, Clone)]
pub struct FirebaseLogin {
    pub provider: FirebaseProvider,
    pub project_id: String,
    pub token: String,
}

/// Reads the provider part of a session or login request. `Ok(None)` without `provider`.
/// Facebook and Twitter (and anything else) are not supported.
pub fn parse_provider(fields: Field<'_>) -> Result<Option<FirebaseLogin>, ApiError> {
    let Some(name) = fields.get("provider").non_blank() else { return Ok(None) };
    let provider = match name.trim() {
        "firebase_phone" => FirebaseProvider::Phone,
        "firebase_email" => FirebaseProvider::Email,
        other => {
            return Err(ApiError::Unprocessable(format!(
                "provider not supported: {}",
                other.chars().filter(|c| !c.is_control()).take(40).collect::<String>()
            )));
        }
    };
    let block = fields.get(provider.name());
    let token = block.get("access_token").non_blank();
    let project_id = block.get("project_id").non_blank();
    let missing: Vec<String> = [("access_token", token.is_none()), ("project_id", project_id.is_none())]
        .into_iter()
        .filter(|(_, absent)| *absent)
        .map(|(name, _)| format!("'{}[{name}]'", provider.name()))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::UnprocessableFlat(format!(
            "Bad Authentication data. Invalid input parameters provided: no {} parameters provided",
            missing.join(" and ")
        )));
    }
    Ok(Some(FirebaseLogin { provider, project_id: project_id.expect("checked"), token: token.expect("checked") }))
}

/// The user behind a verified Firebase ID token, created on first sign-in (login generated,
/// `phone` or `email` from the token, no password).
#[cfg(feature = "outbound")]
pub async fn firebase_user(deps: &Deps, app: &App, login: &FirebaseLogin, now: Timestamp) -> Result<User, ApiError> {
    use crate::identity::firebase::TokenError;

    let identity = deps.identity()?;
    if !app.settings.firebase_projects.contains(&login.project_id) {
        return Err(ApiError::Unprocessable("This Firebase project is not allowed for this application".into()));
    }
    let claims = identity.firebase.verify(&login.token, &login.project_id, now).await.map_err(|error| match error {
        TokenError::KeysUnavailable => ApiError::unavailable(error),
        other => ApiError::Unprocessable(format!("Invalid Firebase ID token: {other}")),
    })?;
    let mut profile = Map::new();
    match login.provider {
        FirebaseProvider::Phone => {
            let phone = claims.phone_number.clone().ok_or_else(|| {
                ApiError::Unprocessable("Invalid Firebase ID token: it carries no phone_number".into())
            })?;
            profile.insert("phone".into(), json!(phone));
        }
        FirebaseProvider::Email => {
            let email = claims
                .email
                .clone()
                .ok_or_else(|| ApiError::Unprocessable("Invalid Firebase ID token: it carries no email".into()))?;
            // An address nobody has proven is not the user's: the user is found by the
            // Firebase uid alone, and created without an email.
            if claims.email_verified {
                profile.insert("email".into(), json!(email));
            }
        }
    }
    let key = format!("{}:{}:{}", login.provider.name(), login.project_id, claims.sub);
    let generated_login = format!("firebase_{}", claims.sub).chars().take(70).collect::<String>();
    profile.insert("login".into(), json!(generated_login));
    let (user, _) = find_or_create(deps, app.id, &key, &profile, now).await?;
    Ok(user)
}

#[cfg(not(feature = "outbound"))]
pub async fn firebase_user(_: &Deps, _: &App, _: &FirebaseLogin, _: Timestamp) -> Result<User, ApiError> {
    Err(ApiError::unavailable(anyhow::anyhow!("this build signs nobody in through Firebase")))
}

/// The user the application's Custom Identity Provider vouches for: created on first login
/// (login `custom_<uid>` unless mapped, no password), its mapped fields refreshed on later ones.
#[cfg(feature = "outbound")]
pub async fn cidp_user(deps: &Deps, app: &App, token: &str, now: Timestamp) -> Result<User, ApiError> {
    let identity = deps.identity()?;
    let settings =
        app.settings.cidp.as_ref().ok_or_else(|| ApiError::Unprocessable("Custom Identity Provider is off".into()))?;
    let external = identity.ask_cidp(settings, token).await?;
    let mut profile = Map::new();
    for (field, value) in &external.fields {
        profile.insert(field.clone(), json!(value));
    }
    if !profile.contains_key("login") {
        profile.insert("login".into(), json!(format!("custom_{}", external.uid).chars().take(70).collect::<String>()));
    }
    let key = format!("cidp:{}:{}", app.id, external.uid);
    let (user, created) = find_or_create(deps, app.id, &key, &profile, now).await?;
    if created {
        return Ok(user);
    }
    refresh(deps, user, &profile, now).await
}

#[cfg(not(feature = "outbound"))]
pub async fn cidp_user(_: &Deps, _: &App, _: &str, _: Timestamp) -> Result<User, ApiError> {
    Err(ApiError::unavailable(anyhow::anyhow!("this build signs nobody in through a CIdP")))
}

#[cfg(feature = "outbound")]
/// The profile fields of `profile` that pass the usual validation (a provider's bad value is
/// skipped, not fatal).
fn valid_input(profile: &Map<String, Value>) -> UserInput {
    let mut input = UserInput::default();
    for (field, value) in profile {
        let single = Value::Object(Map::from_iter([(field.clone(), value.clone())]));
        if let Ok(parsed) = UserInput::parse(Field::of(&single)) {
            match field.as_str() {
                "login" => input.login = parsed.login,
                "email" => input.email = parsed.email,
                "full_name" => input.full_name = parsed.full_name,
                "phone" => input.phone = parsed.phone,
                "external_id" => input.external_id = parsed.external_id,
                _ => {}
            }
        } else {
            tracing::warn!(field = field.as_str(), "identity provider sent an invalid value; skipped");
        }
    }
    input
}

#[cfg(feature = "outbound")]
/// The user holding identity `key`, or a new one with `profile`. Values another user holds
/// already (a login, an email) are dropped rather than merged: an identity never takes over
/// an existing account by its email.
async fn find_or_create(
    deps: &Deps,
    app_id: i64,
    key: &str,
    profile: &Map<String, Value>,
    now: Timestamp,
) -> Result<(User, bool), ApiError> {
    let mut input = valid_input(profile);
    for _ in 0..4 {
        if let Some(id) = deps.store.find_user_id(app_id, UniqueField::Identity, key, now).await?
            && let Some(user) = deps.store.get_user(id, now).await?
        {
            return Ok((user, false));
        }
        let mut user = new_user(deps, app_id, &input, None, now).await?;
        user.identities = vec![key.to_string()];
        user.last_request_at = Some(now);
        if user.login.is_none() && user.email.is_none() {
            user.login = Some(format!("external_{}", crate::crypto::random::random_upper_hex::<8>().to_lowercase()));
        }
        let mut tx = Tx::new();
        deps.store.tx_insert_user(&mut tx, &user, now);
        match deps.store.commit(tx).await {
            Ok(()) => return Ok((user, true)),
            // Created meanwhile by a concurrent first sign-in: the next pass finds it.
            Err(e) if e.is_conflict_on(Claim::Unique(UniqueField::Identity)) => continue,
            Err(StoreError::Conflict(claims)) => {
                for claim in claims {
                    match claim {
                        Claim::Unique(UniqueField::Login) => input.login = Change::Set(fallback_login()),
                        Claim::Unique(UniqueField::Email) => input.email = Change::Keep,
                        Claim::Unique(UniqueField::ExternalId) => input.external_id = Change::Keep,
                        _ => {}
                    }
                }
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::unavailable(anyhow::anyhow!("could not create the user of an external identity")))
}

#[cfg(feature = "outbound")]
fn fallback_login() -> String {
    format!("external_{}", crate::crypto::random::random_upper_hex::<8>().to_lowercase())
}

#[cfg(feature = "outbound")]
/// Brings the mapped fields of an existing user up to date. Best effort: a value another
/// user holds, or a concurrent write, leaves the old values in place.
async fn refresh(deps: &Deps, current: User, profile: &Map<String, Value>, now: Timestamp) -> Result<User, ApiError> {
    let input = valid_input(profile);
    let mut updated = current.clone();
    input.apply(&mut updated);
    if updated == current {
        return Ok(current);
    }
    updated.updated_at = now;
    updated.version = current.version + 1;
    let mut tx = Tx::new();
    deps.store.tx_replace_user(&mut tx, &current, &updated, now);
    match deps.store.commit(tx).await {
        Ok(()) => Ok(updated),
        Err(StoreError::Conflict(_)) => Ok(current),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<Option<FirebaseLogin>, ApiError> {
        parse_provider(Field::of(&body))
    }

    #[test]
    fn nested_provider_parameters_parse() {
        let login =
            parse(json!({"provider": "firebase_phone", "firebase_phone": {"project_id": "p", "access_token": "t"}}))
                .unwrap()
                .unwrap();
        assert_eq!(
            (login.provider, login.project_id.as_str(), login.token.as_str()),
            (FirebaseProvider::Phone, "p", "t")
        );
        assert!(parse(json!({"login": "x"})).unwrap().is_none());
    }

    #[test]
    fn missing_parameters_give_connectycubes_message() {
        let error = parse(json!({"provider": "firebase_phone"})).unwrap_err();
        assert_eq!(
            error.body().to_string(),
            r#"{"errors":["Bad Authentication data. Invalid input parameters provided: no 'firebase_phone[access_token]' and 'firebase_phone[project_id]' parameters provided"]}"#
        );
        let error = parse(json!({"provider": "firebase_email", "firebase_email": {"access_token": "t"}})).unwrap_err();
        assert!(error.body().to_string().contains("no 'firebase_email[project_id]' parameters"));
    }

    #[test]
    fn facebook_and_twitter_are_not_supported() {
        for provider in ["facebook", "twitter", "myspace"] {
            let error = parse(json!({"provider": provider, "keys": {"token": "t"}})).unwrap_err();
            assert_eq!(error.status(), 422);
            assert!(error.body().to_string().contains("provider not supported"));
        }
    }
}
