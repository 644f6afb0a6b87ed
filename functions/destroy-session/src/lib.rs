//! `DELETE /session`: end the caller's session (contract §3.5); `DELETE /session/{id}`: end
//! one of the caller's own sessions; `DELETE /session/list`: end all the others (Flutter SDK).

use shared::routes::{Endpoint, Function};
use shared::service::context::Context;
use shared::service::sessions;
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::DestroySession;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    let route = shared::routes::route_for(req, FUNCTION)?;
    match route.endpoint {
        Endpoint::DestroySessionById => {
            let id = route.param("id", req.segments()).unwrap_or_default();
            sessions::destroy_session_by_id(deps, ctx, id).await?
        }
        Endpoint::DestroyOtherSessions => sessions::destroy_other_sessions(deps, ctx).await?,
        _ => sessions::destroy_session(deps, ctx).await?,
    }
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
