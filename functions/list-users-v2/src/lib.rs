//! `GET /users/v2`: search users with filters and operators, from indexes only (contract §6.7).

use serde::Serialize;
use shared::domain::user::{User, UserJson};
use shared::domain::user_query::UserQuery;
use shared::routes::Function;
use shared::service::context::Context;
use shared::service::search;
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::ListUsersV2;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    shared::routes::route_for(req, FUNCTION)?;
    let query = || req.query().and_then(|query| UserQuery::parse(&query));
    let page = search::search_users(deps, ctx, query).await?;
    Ok(Reply::ok_of(&Page {
        limit: page.limit,
        skip: page.skip,
        total_entries: page.total,
        items: page.users.iter().map(User::json).collect(),
    }))
}

/// The V2 answer: the page's bounds and its users, in this order.
#[derive(Serialize)]
struct Page<'a> {
    limit: usize,
    skip: usize,
    total_entries: usize,
    items: Vec<UserJson<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
