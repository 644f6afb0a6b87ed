//! `POST /blobs`: a blob record and a presigned S3 POST upload (contract §6.6).

use serde_json::json;
use shared::routes::Function;
use shared::service::blobs::{self, CreateBlob};
use shared::service::context::Context;
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::CreateBlob;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    shared::routes::route_for(req, FUNCTION)?;
    let command = || req.params().and_then(|params| CreateBlob::parse(&params));
    let (blob, access) = blobs::create_blob(deps, ctx, command).await?;
    Ok(Reply::created(json!({ "blob": access.blob_json(&blob) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
