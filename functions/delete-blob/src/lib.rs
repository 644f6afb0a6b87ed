//! `DELETE /blobs/{id}`: the owner deletes a file and its record (contract §6.6).

use shared::routes::Function;
use shared::{ApiRequest, Body, Deps, Request, Response};

pub const FUNCTION: Function = Function::DeleteBlob;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let mut req = ApiRequest::from_http(req);
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(route) => {
            let id = route.param("id", req.segments()).unwrap_or_default().to_string();
            shared::service::blobs::delete_blob(deps, &mut req, &id).await
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
