//! The deprecated V1 retrieval family: `GET /users`, `/users/{id}`, `/users/by_*`, `/users/phone`, `/users/external/{id}` (contract §6.8).

use serde::Serialize;
use shared::domain::user::UserJson;
use shared::http::Member;
use shared::routes::Function;
use shared::service::context::Context;
use shared::service::users_v1::{self, V1Answer, V1Lookup};
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::UsersV1;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    let route = shared::routes::route_for(req, FUNCTION)?;
    let path_id = route.param("id", req.segments()).map(str::to_string);
    let lookup = || req.query().map(|query| V1Lookup { endpoint: route.endpoint, path_id, query });
    match users_v1::retrieve(deps, ctx, lookup).await? {
        V1Answer::One(user) => Ok(Reply::ok_of(&Member("user", user.json()))),
        V1Answer::Page { page, per_page, total, users } => Ok(Reply::ok_of(&Page {
            current_page: page,
            per_page,
            total_entries: total,
            items: users.iter().map(|user| Member("user", user.json())).collect(),
        })),
    }
}

/// The V1 answer: the page's place and its users, each in its own `{"user": …}`.
#[derive(Serialize)]
struct Page<'a> {
    current_page: usize,
    per_page: usize,
    total_entries: usize,
    items: Vec<Member<UserJson<'a>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
