//! The password-reset page: `GET /password-reset?token=…` shows the form, `POST /password-reset` sets the new password (HTML, or JSON for apps with their own screen).

use serde_json::json;
use shared::params::Field;
use shared::routes::{Endpoint, Function};
use shared::service::context::Context;
use shared::service::reset::{self, ResetOutcome, ResetPage, ResetSubmit};
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response, pages};

pub const FUNCTION: Function = Function::ResetPage;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, _ctx: &mut Context) -> Result<Reply, ApiError> {
    let route = shared::routes::route_for(req, FUNCTION)?;
    if route.endpoint == Endpoint::ResetPage {
        let token = Field::of(&req.query()?).get("token").text().unwrap_or_default();
        return match reset::reset_page(deps, token).await? {
            ResetPage::Form { token } => Ok(Reply::html(200, pages::reset_form(&token, &[]))),
            ResetPage::InvalidLink => Ok(invalid_link(false)),
        };
    }
    let json = wants_json(req);
    let command = ResetSubmit::parse(&req.params()?);
    match reset::reset_submit(deps, command).await? {
        ResetOutcome::Done if json => Ok(Reply::ok(json!({ "success": true }))),
        ResetOutcome::Done => Ok(Reply::html(200, pages::reset_done())),
        ResetOutcome::InvalidLink => Ok(invalid_link(json)),
        ResetOutcome::Rejected { errors, .. } if json => Err(ApiError::Validation(errors)),
        ResetOutcome::Rejected { token, messages, .. } => Ok(Reply::html(422, pages::reset_form(&token, &messages))),
    }
}

/// Whether the client wants JSON (apps that build their own reset screen) rather than HTML.
fn wants_json(req: &ApiRequest) -> bool {
    let content_type = req.header("content-type").unwrap_or("");
    let accept = req.header("accept").unwrap_or("");
    content_type.contains("json") || (accept.contains("application/json") && !accept.contains("text/html"))
}

/// A malformed, used or expired link: 422 in JSON, or the page that says so.
fn invalid_link(json: bool) -> Reply {
    if json {
        Reply::json(422, ApiError::field("token", "is invalid or has expired").body())
    } else {
        Reply::html(400, pages::reset_invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
