//! `POST /session`: create an application, user or guest session (contract §3.2).

use shared::http::Member;
use shared::routes::Function;
use shared::service::context::Context;
use shared::service::sessions::{self, CreateSession};
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::CreateSession;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    shared::routes::route_for(req, FUNCTION)?;
    let command = CreateSession::parse(req.params()?)?;
    let created = sessions::create_session(deps, ctx, command).await?;
    Ok(Reply::created_of(&Member("session", created.session.json(&created.token, created.user.as_ref()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
