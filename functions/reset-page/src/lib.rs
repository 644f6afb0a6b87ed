//! The password-reset page: `GET /password-reset?token=…` shows the form, `POST /password-reset` sets the new password (HTML, or JSON for apps with their own screen).

use shared::routes::{Endpoint, Function};
use shared::{ApiRequest, Body, Deps, Request, Response};

pub const FUNCTION: Function = Function::ResetPage;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let req = ApiRequest::from_http(req);
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(route) if route.endpoint == Endpoint::ResetPage => shared::service::reset::reset_page(deps, &req).await,
        Ok(_) => shared::service::reset::reset_submit(deps, &req).await,
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
