//! `POST /users/password/reset` (`{"email":…}`, SDK 6) and `GET /users/password/reset?email=…` (older SDKs): queue a reset mail; 200 whatever the address (contract §6.5).

use shared::routes::Function;
use shared::{ApiRequest, Body, Deps, Request, Response};

pub const FUNCTION: Function = Function::ResetPassword;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let mut req = ApiRequest::from_http(req);
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(_) => shared::service::reset::request_reset(deps, &mut req).await,
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
