//! Blob reads: `GET /blobs` (the caller's own files, paged), `GET /blobs/{id}` (record), `GET /blobs/{uid}` and `/download` (302 to a short-lived presigned GET), `GET /blobs/{uid}/object` (record with a download link), contract §6.6.

use serde_json::json;
use shared::params::Field;
use shared::routes::{Endpoint, Function};
use shared::service::blobs::{self, BlobRead, ListBlobs};
use shared::service::context::Context;
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::GetBlob;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    let route = shared::routes::route_for(req, FUNCTION)?;
    let id = route.param("id", req.segments()).unwrap_or_default();
    let link_token = link_token(req);
    match route.endpoint {
        Endpoint::ListBlobs => {
            let (listing, page) = blobs::list_blobs(deps, ctx, || ListBlobs::parse(&req.query()?)).await?;
            let items: Vec<_> = page.blobs.iter().map(|blob| json!({ "blob": blob.to_json() })).collect();
            Ok(Reply::ok(json!({
                "current_page": listing.page,
                "per_page": listing.per_page,
                "total_entries": page.total,
                "items": items,
            })))
        }
        Endpoint::DownloadBlob => Ok(Reply::redirect(blobs::download(deps, ctx, id, link_token, true).await?)),
        Endpoint::BlobObject => {
            let (blob, access) = blobs::object_with_link(deps, ctx, id, link_token).await?;
            Ok(Reply::ok(json!({ "blob": access.blob_json(&blob) })))
        }
        _ => match blobs::get_blob(deps, ctx, id, link_token).await? {
            BlobRead::Record(blob) => Ok(Reply::ok(json!({ "blob": blob.to_json() }))),
            BlobRead::Redirect(url) => Ok(Reply::redirect(url)),
        },
    }
}

/// The `token` query parameter: a session for links in `<img src>`, which carry no header.
fn link_token(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    Ok(Field::of(&req.query()?).get("token").non_blank())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
