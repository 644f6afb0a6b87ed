//! `DELETE /users/{id}` and `DELETE /users/external/{external_user_id}`: the caller deletes themself (contract §6.4).

use shared::routes::{Endpoint, Function};
use shared::service::context::Context;
use shared::service::profile;
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::DeleteUser;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    let route = shared::routes::route_for(req, FUNCTION)?;
    let id = route.param("id", req.segments()).unwrap_or_default();
    match route.endpoint {
        Endpoint::DeleteUserByExternalId => profile::delete_user_by_external_id(deps, ctx, id).await?,
        _ => profile::delete_user(deps, ctx, id).await?,
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
