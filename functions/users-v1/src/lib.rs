//! The deprecated V1 retrieval family: `GET /users`, `/users/{id}`, `/users/by_*`, `/users/phone`, `/users/external/{id}` (contract §6.8).

use shared::routes::Function;
use shared::{ApiRequest, Body, Deps, Request, Response};

pub const FUNCTION: Function = Function::UsersV1;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let mut req = ApiRequest::from_http(req);
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(route) => shared::service::users_v1::retrieve(deps, &mut req, route).await,
        Err(error) => Err(error),
    };
    req.respond(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
