//! Password reset by email (contract §6.5): the request, the mail, and the page that sets the
//! new password.
//!
//! The request answers 200 with an empty body whatever the address, and does the same work
//! either way (rate counters, a marker read, a user read, one queued write), so neither the
//! answer nor its timing tells whether an account exists. The mail is sent later by the mail
//! sender, which issues the single-use token (256 random bits, only its hash stored, one hour,
//! replacing any earlier token of the user). The page consumes the token, sets the password
//! under the signup policy and ends every session of the user, in one transaction.

use serde_json::Value;

use crate::clock::Timestamp;
use crate::crypto::password::{self, Password};
use crate::crypto::random::{random_upper_hex, token_hash};
use crate::deps::Deps;
use crate::domain::limits::source_key;
use crate::domain::user::UniqueField;
use crate::domain::user_input::{EMAIL_MAX, check_new_password};
use crate::error::{ApiError, FieldErrors};
use crate::params::Field;
use crate::service::auth::authenticate;
use crate::service::context::Context;
use crate::store::rate::{Limit, RateDecision, digest_key};
use crate::store::resets::{OutboxReset, ResetToken};
use crate::store::{Claim, StoreError, Tx};

/// Reset requests per address per hour (stops inbox flooding).
pub const PER_EMAIL_PER_HOUR: i64 = 3;
/// Reset requests per source IP per hour (stops address probing at scale).
pub const PER_IP_PER_HOUR: i64 = 20;
/// How long a reset link works.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

/// `POST /users/password/reset` (`{"email":…}`) and `GET /users/password/reset?email=…`,
/// with an application or user session. 200, empty body, always (after the rate limits).
///
/// The command is checked after the session.
pub async fn request_reset(
    deps: &Deps,
    ctx: &mut Context,
    command: impl FnOnce() -> Result<RequestReset, ApiError>,
) -> Result<(), ApiError> {
    let caller = authenticate(deps, ctx).await?;
    let RequestReset { email } = command()?;
    let now = deps.clock.now();
    let app_id = caller.app_id();
    // Per application: requests in one application never hold up resets in another.
    let ip = source_key(ctx.source_ip());
    let limits = [
        Limit {
            key: format!("reset-email#{app_id}#{}", digest_key(&email)),
            max: PER_EMAIL_PER_HOUR,
            window_secs: 3600,
        },
        Limit { key: format!("reset-ip#{app_id}#{ip}"), max: PER_IP_PER_HOUR, window_secs: 3600 },
    ];
    // Counting and the address lookup are independent: one round trip's wait for both.
    let (decision, user_id) =
        tokio::join!(deps.store.hit(&limits, now), deps.store.find_user_id(app_id, UniqueField::Email, &email, now));
    if let RateDecision::Limited { retry_after_secs } = decision? {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let user = match user_id? {
        Some(id) => deps.store.get_user(id, now).await?,
        None => {
            deps.store.read_nothing().await?;
            None
        }
    };
    // A reset replaces a password: users without one (Firebase, identity provider) sign in
    // elsewhere, and a reset must not give them one (with a stolen session token, someone
    // could set the address to theirs and so obtain a password for the account).
    let resettable = |u: &crate::domain::user::User| !u.is_guest && u.password_hash.is_some();
    let reset = user.filter(resettable).and_then(|u| Some(OutboxReset::new(now, app_id, u.id, u.email?)));
    deps.store.queue_reset(reset.as_ref(), &random_upper_hex::<16>(), now + TOKEN_LIFETIME_SECS).await?;
    Ok(())
}

/// A reset request: the address, lowercased.
pub struct RequestReset {
    email: String,
}

impl RequestReset {
    pub fn parse(params: &Value) -> Result<RequestReset, ApiError> {
        let email =
            Field::of(params).get("email").non_blank().ok_or_else(|| ApiError::field("email", "can't be blank"))?;
        let email = email.trim().to_lowercase();
        if email.chars().count() > EMAIL_MAX {
            // No account can have it: refused before anything is counted or read.
            return Err(ApiError::field("email", format!("is too long (maximum is {EMAIL_MAX} characters)")));
        }
        Ok(RequestReset { email })
    }
}

/// The mail text for an application, with its templates (or the defaults) filled in.
pub fn reset_mail(app: &crate::domain::app::App, name: &str, link: &str) -> (String, String) {
    let subject = app.settings.reset_subject.clone().unwrap_or_else(|| "Reset your password".to_string());
    let body = app.settings.reset_body.clone().unwrap_or_else(|| {
        "Hello {name},\n\nWe received a request to reset the password of your {app} account. To choose a new password, open this link within one hour:\n\n{link}\n\nIf you did not ask for this, ignore this message: your password stays as it is.\n".to_string()
    });
    let fill = |text: &str| text.replace("{name}", name).replace("{app}", &app.name).replace("{link}", link);
    (fill(&subject), fill(&body))
}

/// Sends the reset mail queued under `sk`: issues the token, mails the link, dequeues.
/// Returns the link (local mode prints it), or `None` when there was nothing (left) to send.
#[cfg(feature = "mail")]
pub async fn deliver_reset(deps: &Deps, mailer: &crate::mail::Mailer, sk: &str) -> Result<Option<String>, ApiError> {
    let now = deps.clock.now();
    let Some(delivery) = deps.store.reset_delivery(sk, now).await? else { return Ok(None) };
    let reset = &delivery.reset;
    let current = delivery.user.filter(|u| u.email.as_deref() == Some(reset.email.as_str()));
    let (Some(user), Some(app)) = (current, delivery.app) else {
        // The user or the address went away meanwhile: nothing to send.
        deps.store.delete_outbox(&reset.sk).await?;
        return Ok(None);
    };
    let previous = delivery.previous;
    let (token, hash) = crate::crypto::random::new_link_token();
    let record =
        ResetToken { token_hash: hash, app_id: app.id, user_id: user.id, expires_at: now + TOKEN_LIFETIME_SECS };
    match deps.store.issue_reset(reset, &record, previous.as_deref(), Some(user.version)).await {
        Ok(()) => {}
        // Another sender took this mail first, or the user changed since it was read: no
        // link for an address or password that may no longer hold (the queued mail expires).
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(other) => return Err(other.into()),
    }
    let link = format!("{}/password-reset?token={token}", mailer.public_base_url);
    let name = user.full_name.clone().or_else(|| user.login.clone()).unwrap_or_else(|| "there".into());
    let (subject, body) = reset_mail(&app, &name, &link);
    mailer
        .send(&crate::mail::Mail { to: reset.email.clone(), subject, body })
        .await
        .map_err(|e| ApiError::unavailable(e.context("sending the password reset mail")))?;
    deps.store.delete_outbox(&reset.sk).await?;
    tracing::info!(user_id = user.id, "password reset mail sent");
    Ok(Some(link))
}

/// Sends every queued reset mail (local mode and tests; on AWS the table's stream drives
/// `send-mail` instead). Returns the links sent.
#[cfg(feature = "mail")]
pub async fn deliver_pending(deps: &Deps, mailer: &crate::mail::Mailer) -> Result<Vec<String>, ApiError> {
    let mut links = Vec::new();
    for reset in deps.store.pending_resets(deps.clock.now()).await? {
        if let Some(link) = deliver_reset(deps, mailer, &reset.sk).await? {
            links.push(link);
        }
    }
    Ok(links)
}

/// Reset tokens are 64 lowercase hex digits; anything else is not worth a lookup.
fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What the reset page shows.
pub enum ResetPage {
    /// The form for this (live) token.
    Form { token: String },
    /// The link is malformed, used or expired.
    InvalidLink,
}

/// `GET /password-reset?token=…`: the form (looking at a link never uses it up, so mail
/// scanners that open links do no harm).
pub async fn reset_page(deps: &Deps, token: String) -> Result<ResetPage, ApiError> {
    let now = deps.clock.now();
    if !well_formed(&token) || deps.store.reset_token(&token_hash(&token), now).await?.is_none() {
        return Ok(ResetPage::InvalidLink);
    }
    Ok(ResetPage::Form { token })
}

/// `POST /password-reset`, as sent (form or JSON): `token`, `password`, and optionally
/// `password_confirmation`.
pub struct ResetSubmit {
    token: String,
    password: String,
    confirmation: Option<String>,
}

impl ResetSubmit {
    pub fn parse(params: &Value) -> ResetSubmit {
        let fields = Field::of(params);
        ResetSubmit {
            token: fields.get("token").text().unwrap_or_default(),
            password: fields.get("password").text().unwrap_or_default(),
            confirmation: fields.get("password_confirmation").text(),
        }
    }
}

/// How a reset submission ended.
pub enum ResetOutcome {
    /// The password is set and every session of the user ended.
    Done,
    /// The link is malformed, used or expired.
    InvalidLink,
    /// The new password breaks the policy (the form shows it again with `messages`).
    Rejected { token: String, errors: FieldErrors, messages: Vec<String> },
}

/// `POST /password-reset`: sets the password and ends every session of the user; the token
/// works once.
pub async fn reset_submit(deps: &Deps, command: ResetSubmit) -> Result<ResetOutcome, ApiError> {
    let ResetSubmit { token, password, confirmation } = command;
    let now = deps.clock.now();
    if !well_formed(&token) {
        return Ok(ResetOutcome::InvalidLink);
    }
    let Some(record) = deps.store.reset_token(&token_hash(&token), now).await? else {
        return Ok(ResetOutcome::InvalidLink);
    };
    let mut errors = FieldErrors::default();
    check_new_password(&password, &mut errors);
    if let Some(confirmation) = confirmation
        && confirmation != password
    {
        errors.add("password_confirmation", "doesn't match the password");
    }
    if !errors.is_empty() {
        let messages = human(&errors);
        return Ok(ResetOutcome::Rejected { token, errors, messages });
    }
    let hash = password::hash(Password::new(password)).await;
    match set_password(deps, &record, hash, now).await? {
        true => Ok(ResetOutcome::Done),
        false => Ok(ResetOutcome::InvalidLink),
    }
}

/// Ends the sessions that slipped in while a committed credential change was under way
/// (see [`crate::store::Store::end_sessions`]). The change has happened: a failure here is
/// logged, not answered, so that a client does not retry a change that took effect.
pub async fn sweep_sessions(deps: &Deps, user_id: i64, keep: Option<&str>) {
    for attempt in 1..=3 {
        match deps.store.end_sessions(user_id, keep).await {
            Ok(()) => return,
            Err(error) if attempt == 3 => {
                tracing::error!(user_id, error = %error, "ending sessions after a credential change failed");
            }
            Err(_) => {}
        }
    }
}

/// Password-policy messages as sentences for the page.
fn human(errors: &FieldErrors) -> Vec<String> {
    let body = ApiError::Validation(errors.clone()).body();
    let mut out = Vec::new();
    if let Some(map) = body["errors"].as_object() {
        for (field, messages) in map {
            let label = if field == "password" { "The password" } else { "The repeated password" };
            for message in messages.as_array().into_iter().flatten().filter_map(|m| m.as_str()) {
                out.push(format!("{label} {message}."));
            }
        }
    }
    out
}

/// Uses the token, sets the password and ends every session, in one transaction (sessions
/// beyond one transaction's capacity are ended first). `false` when the token was used or
/// replaced meanwhile, or the user is gone.
async fn set_password(deps: &Deps, record: &ResetToken, hash: String, now: Timestamp) -> Result<bool, ApiError> {
    for _ in 0..3 {
        let Some(user) = deps.store.get_user(record.user_id, now).await? else { return Ok(false) };
        if user.password_hash.is_none() {
            return Ok(false);
        }
        let mut updated = user.clone();
        updated.password_hash = Some(hash.clone());
        updated.updated_at = now;
        updated.version = user.version + 1;
        let mut tx = Tx::new();
        deps.store.tx_consume_reset(&mut tx, record, now);
        deps.store.tx_replace_user(&mut tx, &user, &updated, now);
        // A reset proves control of the mailbox: it lifts an account lockout.
        deps.store.tx_unlock(&mut tx, user.id);
        let sessions = deps.store.user_session_hashes(user.id).await?;
        match deps.store.commit_ending_sessions(tx, user.id, &sessions).await {
            Ok(()) => {
                sweep_sessions(deps, user.id, None).await;
                return Ok(true);
            }
            Err(e) if e.is_conflict_on(Claim::ResetToken) => return Ok(false),
            // The profile changed meanwhile: read it again.
            Err(StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::unavailable(anyhow::anyhow!("the user kept changing during a password reset")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::app::{App, AppSettings};

    #[test]
    fn mail_templates_fill_link_name_and_app() {
        let mut app = App::new(1, "Chatty".into(), AppSettings::default(), 0);
        let (subject, body) = reset_mail(&app, "Ann", "https://x/password-reset?token=t");
        assert_eq!(subject, "Reset your password");
        assert!(
            body.contains("Hello Ann")
                && body.contains("your Chatty account")
                && body.contains("https://x/password-reset?token=t")
        );
        app.settings.reset_subject = Some("{app}: new password".into());
        app.settings.reset_body = Some("Go to {link}".into());
        assert_eq!(reset_mail(&app, "Ann", "L"), ("Chatty: new password".to_string(), "Go to L".to_string()));
    }

    #[test]
    fn only_well_formed_tokens_are_looked_up() {
        assert!(well_formed(&"a1".repeat(32)));
        assert!(!well_formed("abc") && !well_formed(&"A1".repeat(32)) && !well_formed(&"g1".repeat(32)));
    }
}
