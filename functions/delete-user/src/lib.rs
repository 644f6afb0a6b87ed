//! `DELETE /users/{id}` and `DELETE /users/external/{external_user_id}`: the caller deletes themself (contract §6.4).

use shared::routes::{Endpoint, Function};
use shared::{ApiRequest, Body, Deps, Request, Response};

pub const FUNCTION: Function = Function::DeleteUser;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let mut req = ApiRequest::from_http(req);
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(route) => {
            let id = route.param("id", req.segments()).unwrap_or_default().to_string();
            if route.endpoint == Endpoint::DeleteUserByExternalId {
                shared::service::profile::delete_user_by_external_id(deps, &mut req, &id).await
            } else {
                shared::service::profile::delete_user(deps, &mut req, &id).await
            }
        }
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
