//! Blob reads: `GET /blobs/{id}` (record), `GET /blobs/{uid}` and `/download` (302 to a short-lived presigned GET), `GET /blobs/{uid}/object` (record with a download link), contract §6.6.

use shared::routes::{Endpoint, Function};
use shared::{ApiRequest, Body, Deps, Request, Response};

pub const FUNCTION: Function = Function::GetBlob;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    let mut req = ApiRequest::from_http(req);
    let result = match shared::routes::route_for(&req, FUNCTION) {
        Ok(route) => {
            let id = route.param("id", req.segments()).unwrap_or_default().to_string();
            match route.endpoint {
                Endpoint::DownloadBlob => shared::service::blobs::download(deps, &mut req, &id, true).await,
                Endpoint::BlobObject => shared::service::blobs::object_with_link(deps, &mut req, &id).await,
                _ => shared::service::blobs::get_blob(deps, &mut req, &id).await,
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
