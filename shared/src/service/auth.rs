//! Who is calling: the session behind `CB-Token`, or the application behind `CB-AuthKey`.

use crate::crypto::random::token_hash;
use crate::deps::Deps;
use crate::domain::session::Session;
use crate::error::ApiError;
use crate::service::context::Context;
use crate::store::Item;
use crate::store::prefetch::{Prefetched, SessionHint};
use crate::store::users::user_key;

/// The authenticated session of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub session: Session,
    /// The token as the client sent it (we only store its hash).
    pub token: String,
}

impl Caller {
    /// The session's user, or the 403 ConnectyCube gives when an app session is used where
    /// a user is required.
    pub fn user_id(&self) -> Result<i64, ApiError> {
        self.session.user_id.ok_or_else(ApiError::forbidden_need_user)
    }

    pub fn app_id(&self) -> i64 {
        self.session.app_id
    }
}

/// The live session behind `CB-Token`, its activity recorded (at most once a minute), and
/// its expiry set on the response. Missing, unknown, destroyed and expired tokens all give
/// the one 401 the SDKs recognise.
pub async fn authenticate(deps: &Deps, ctx: &mut Context) -> Result<Caller, ApiError> {
    Ok(authenticate_prefetching(deps, ctx, |_| Vec::new()).await?.0)
}

/// [`authenticate`], with the keys `guess` names read in the session's round trip (see
/// [`crate::store::prefetch`]). When the session's activity is due to be recorded (a write
/// to the session and its user, by this request or one just before it), the user read ahead
/// is forgotten, so the answer is never older than that write.
pub async fn authenticate_prefetching(
    deps: &Deps,
    ctx: &mut Context,
    guess: impl FnOnce(SessionHint) -> Vec<Item>,
) -> Result<(Caller, Prefetched), ApiError> {
    let token = presented(ctx.token())?;
    let now = deps.clock.now();
    let (session, mut prefetched) = deps.store.get_live_session_prefetching(&token_hash(&token), now, guess).await?;
    let caller = Caller { session: session.ok_or(ApiError::SessionMissing)?, token };
    let session = if caller.session.needs_refresh(now, deps.config.session_refresh_secs) {
        if let Some(user_id) = caller.session.user_id {
            prefetched.forget(&user_key(user_id));
        }
        match deps.store.refresh_session(&caller.session, now).await {
            Ok(Some(refreshed)) => refreshed,
            // Another request recorded the activity a moment ago.
            Ok(None) => caller.session,
            Err(error) => {
                // Recording activity is best effort: the session is valid, so serve the request.
                tracing::warn!(request_id = %ctx.request_id, error = %error, "session refresh failed");
                caller.session
            }
        }
    } else {
        caller.session
    };
    ctx.session_expires_at = Some(session.expires_at());
    Ok((Caller { session, token: caller.token }, prefetched))
}

/// Like [`authenticate`] but records no activity (for destroying the session).
pub async fn lookup(deps: &Deps, ctx: &Context) -> Result<Caller, ApiError> {
    lookup_token(deps, ctx.token().ok_or(ApiError::SessionMissing)?).await
}

/// The live session behind `token` (from a header or, for download links, the query).
pub async fn lookup_token(deps: &Deps, token: &str) -> Result<Caller, ApiError> {
    let token = presented(Some(token))?;
    let now = deps.clock.now();
    let session = deps.store.get_session(&token_hash(&token)).await?;
    let session = session.filter(|s| s.is_live(now)).ok_or(ApiError::SessionMissing)?;
    Ok(Caller { session, token })
}

/// The token as presented, trimmed; none or a blank one is the 401.
fn presented(token: Option<&str>) -> Result<String, ApiError> {
    let token = token.map(str::trim).unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::SessionMissing);
    }
    Ok(token.to_string())
}

/// The application a request acts for: from its session when it has a token, else from
/// `CB-AuthKey` (signup without a session). Returns the caller when there is a session.
pub async fn app_of_request(deps: &Deps, ctx: &mut Context) -> Result<(i64, Option<Caller>), ApiError> {
    if ctx.token().is_some() {
        let caller = authenticate(deps, ctx).await?;
        return Ok((caller.app_id(), Some(caller)));
    }
    let Some(auth_key) = ctx.auth_key.as_deref() else {
        return Err(ApiError::SessionMissing);
    };
    let app_id = deps.store.app_id_for_auth_key(auth_key).await?.ok_or(ApiError::Unauthorized)?;
    Ok((app_id, None))
}
