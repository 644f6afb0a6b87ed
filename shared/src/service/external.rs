//! Signing in through an external identity (contract §4, §5): Firebase phone and email ID
//! tokens, Facebook and Twitter tokens, and a customer's Custom Identity Provider. A user is
//! found by the marker of its identity (`provider:issuer:subject`), or created on first
//! sign-in without a password.

#[cfg(feature = "outbound")]
use serde_json::Map;
#[cfg(any(feature = "outbound", test))]
use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::social::Network;
use crate::domain::user::User;
use crate::error::ApiError;
use crate::params::Field;
#[cfg(feature = "outbound")]
use crate::{
    domain::user::UniqueField,
    domain::user_input::{Change, UserInput},
    identity::social::{self, SocialError},
    service::throttle::LoginThrottle,
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

/// `provider: facebook` with `keys[token]`, or `provider: twitter` with `keys[token]` and
/// `keys[secret]`.
#[derive(Debug, Clone)]
pub struct SocialLogin {
    pub network: Network,
    pub token: String,
    pub secret: Option<String>,
}

pub const MAX_SOCIAL_TOKEN_BYTES: usize = 1024;
pub const MAX_SOCIAL_SECRET_BYTES: usize = 256;

/// The `provider` part of a session or login request.
#[derive(Debug, Clone)]
pub enum ProviderLogin {
    Firebase(FirebaseLogin),
    Social(SocialLogin),
}

/// Reads the provider part of a session or login request. `Ok(None)` without `provider`.
pub fn parse_provider(fields: Field<'_>) -> Result<Option<ProviderLogin>, ApiError> {
    let Some(name) = fields.get("provider").non_blank() else { return Ok(None) };
    let provider = match name.trim() {
        "firebase_phone" => FirebaseProvider::Phone,
        "firebase_email" => FirebaseProvider::Email,
        "facebook" => return parse_social(fields, Network::Facebook).map(Some),
        "twitter" => return parse_social(fields, Network::Twitter).map(Some),
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
    missing_parameters(&[
        (format!("{}[access_token]", provider.name()), token.is_none()),
        (format!("{}[project_id]", provider.name()), project_id.is_none()),
    ])?;
    let login = FirebaseLogin { provider, project_id: project_id.expect("checked"), token: token.expect("checked") };
    Ok(Some(ProviderLogin::Firebase(login)))
}

fn parse_social(fields: Field<'_>, network: Network) -> Result<ProviderLogin, ApiError> {
    let keys = fields.get("keys");
    let token = keys.get("token").non_blank();
    let secret = keys.get("secret").non_blank();
    missing_parameters(&[
        ("keys[token]".to_string(), token.is_none()),
        ("keys[secret]".to_string(), network == Network::Twitter && secret.is_none()),
    ])?;
    // Bounds far above any real token: a longer one is refused before it costs a call.
    if token.as_ref().is_some_and(|t| t.len() > MAX_SOCIAL_TOKEN_BYTES)
        || secret.as_ref().is_some_and(|s| s.len() > MAX_SOCIAL_SECRET_BYTES)
    {
        return Err(ApiError::Unprocessable(format!("{} token is too long", network.title())));
    }
    Ok(ProviderLogin::Social(SocialLogin { network, token: token.expect("checked"), secret }))
}

/// ConnectyCube's message for absent provider parameters.
fn missing_parameters(checks: &[(String, bool)]) -> Result<(), ApiError> {
    let missing: Vec<String> =
        checks.iter().filter(|(_, absent)| *absent).map(|(name, _)| format!("'{name}'")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::UnprocessableFlat(format!(
        "Bad Authentication data. Invalid input parameters provided: no {} parameters provided",
        missing.join(" and ")
    )))
}

/// The user behind a verified provider login: Firebase, Facebook or Twitter.
pub async fn provider_user(
    deps: &Deps,
    app: &App,
    source_ip: Option<&str>,
    login: &ProviderLogin,
    now: Timestamp,
) -> Result<User, ApiError> {
    match login {
        ProviderLogin::Firebase(firebase) => firebase_user(deps, app, firebase, now).await,
        ProviderLogin::Social(social) => social_user(deps, app, source_ip, social, now).await,
    }
}

/// The user behind a Facebook or Twitter token that the network vouches for, for this
/// application's own app: found by the network's user id, or created on first sign-in
/// (`facebook_id`/`twitter_id`, `full_name`, and the email if the network gave one and no
/// other user has it). An existing user's fields are never overwritten. Each attempt takes
/// its place in the login limits of its source before the network is asked; a token the
/// network refuses keeps it there.
#[cfg(feature = "outbound")]
async fn social_user(
    deps: &Deps,
    app: &App,
    source_ip: Option<&str>,
    login: &SocialLogin,
    now: Timestamp,
) -> Result<User, ApiError> {
    let identity = deps.identity()?;
    let not_configured =
        || ApiError::Unprocessable(format!("{} sign-in is not configured for this application", login.network.title()));
    let (facebook, twitter) = match login.network {
        Network::Facebook => (Some(app.settings.facebook.as_ref().ok_or_else(not_configured)?), None),
        Network::Twitter => (None, Some(app.settings.twitter.as_ref().ok_or_else(not_configured)?)),
    };
    // Each token counts as its own account: the limits that bite are those of the source.
    let account = format!("{}:{}", login.network.name(), login.token);
    let throttle = LoginThrottle::new(app, source_ip, UniqueField::Identity, &account, None);
    let reservation = throttle.reserve(deps, now).await?;
    let verified = match (facebook, twitter) {
        (Some(facebook), _) => {
            social::facebook(&identity.http, &identity.facebook_graph_url, facebook, &login.token, now).await
        }
        (_, Some(twitter)) => {
            let secret = login.secret.as_deref().unwrap_or_default();
            social::twitter(&identity.http, &identity.twitter_api_url, twitter, &login.token, secret, now).await
        }
        (None, None) => unreachable!("one network is configured"),
    };
    let person = match verified {
        Ok(person) => person,
        Err(SocialError::Refused(message)) => {
            return Err(reservation.failed(deps, ApiError::Unprocessable(message)).await);
        }
        Err(SocialError::Unavailable(message)) => {
            reservation.release(deps).await;
            return Err(ApiError::Unprocessable(message));
        }
    };
    reservation.release(deps).await;
    let network = login.network.name();
    let mut profile = Map::new();
    profile.insert(format!("{network}_id"), json!(person.id));
    profile.insert("login".into(), json!(format!("{network}_{}", person.id).chars().take(70).collect::<String>()));
    if let Some(name) = &person.name {
        profile.insert("full_name".into(), json!(name));
    }
    if let Some(email) = &person.email {
        profile.insert("email".into(), json!(email));
    }
    let key = format!("{network}:{}", person.id);
    let (user, _) = find_or_create(deps, app.id, &key, &profile, now).await?;
    Ok(user)
}

#[cfg(not(feature = "outbound"))]
async fn social_user(_: &Deps, _: &App, _: Option<&str>, _: &SocialLogin, _: Timestamp) -> Result<User, ApiError> {
    Err(ApiError::unavailable(anyhow::anyhow!("this build signs nobody in through a social network")))
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
                "facebook_id" => input.facebook_id = parsed.facebook_id,
                "twitter_id" => input.twitter_id = parsed.twitter_id,
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
                        // A network id someone set on their own profile by hand: taking that
                        // user over would let them pre-claim a stranger's account, and
                        // creating a second user with the id would break its uniqueness.
                        Claim::Unique(field @ (UniqueField::FacebookId | UniqueField::TwitterId)) => {
                            return Err(ApiError::Unprocessable(format!(
                                "This {} is already set on another user",
                                field.name()
                            )));
                        }
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

    fn parse(body: Value) -> Result<Option<ProviderLogin>, ApiError> {
        parse_provider(Field::of(&body))
    }

    #[test]
    fn nested_provider_parameters_parse() {
        let login =
            parse(json!({"provider": "firebase_phone", "firebase_phone": {"project_id": "p", "access_token": "t"}}))
                .unwrap()
                .unwrap();
        let ProviderLogin::Firebase(login) = login else { panic!("a Firebase login") };
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
    fn facebook_and_twitter_take_their_keys_and_others_are_not_supported() {
        let Some(ProviderLogin::Social(facebook)) =
            parse(json!({"provider": "facebook", "keys": {"token": "t"}})).unwrap()
        else {
            panic!("a Facebook login")
        };
        assert_eq!((facebook.network, facebook.token.as_str(), facebook.secret), (Network::Facebook, "t", None));
        let twitter = json!({"provider": "twitter", "keys": {"token": "t", "secret": "s"}});
        let Some(ProviderLogin::Social(twitter)) = parse(twitter).unwrap() else { panic!("a Twitter login") };
        assert_eq!((twitter.network, twitter.secret.as_deref()), (Network::Twitter, Some("s")));
        let error = parse(json!({"provider": "twitter", "keys": {"token": "t"}})).unwrap_err();
        assert!(error.body().to_string().contains("no 'keys[secret]' parameters provided"), "{}", error.body());
        let error = parse(json!({"provider": "facebook"})).unwrap_err();
        assert!(error.body().to_string().contains("no 'keys[token]' parameters provided"), "{}", error.body());
        let error = parse(json!({"provider": "myspace", "keys": {"token": "t"}})).unwrap_err();
        assert_eq!(error.status(), 422);
        assert!(error.body().to_string().contains("provider not supported"));
    }
}
