//! `PUT /users/{id}`: update the caller's own profile; a password change needs `old_password` (contract §6.3).

use shared::http::Member;
use shared::routes::Function;
use shared::service::context::Context;
use shared::service::profile::{self, UpdateUser};
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::UpdateUser;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    let route = shared::routes::route_for(req, FUNCTION)?;
    let target = route.param("id", req.segments()).unwrap_or_default();
    let command = || req.params().and_then(|params| UpdateUser::parse(&params));
    let user = profile::update_user(deps, ctx, target, command).await?;
    Ok(Reply::ok_of(&Member("user", user.json())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
