//! `GET /users/v2`: search users with filters and operators, from indexes only (contract §6.7).

use shared::routes::Function;
use shared::{ApiRequest, Body, Deps, Request, Response};

pub const FUNCTION: Function = Function::ListUsersV2;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let mut req = ApiRequest::from_http(req);
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(_) => shared::service::search::search_users(deps, &mut req).await,
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
