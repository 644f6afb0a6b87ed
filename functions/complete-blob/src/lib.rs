//! `PUT /blobs/{id}/complete`: declare an upload finished; size and type are read from S3 (contract §6.6).

use shared::routes::Function;
use shared::service::blobs::{self, CompleteBlob};
use shared::service::context::Context;
use shared::{ApiError, ApiRequest, Body, Deps, Reply, Request, Response};

pub const FUNCTION: Function = Function::CompleteBlob;

pub async fn handle(deps: &Deps, req: Request) -> Response<Body> {
    shared::http::serve(deps, req, |deps, req, ctx| Box::pin(answer(deps, req, ctx))).await
}

/// Reads the request into the use case's command and its outcome into the reply.
async fn answer(deps: &Deps, req: &ApiRequest, ctx: &mut Context) -> Result<Reply, ApiError> {
    let route = shared::routes::route_for(req, FUNCTION)?;
    let id = route.param("id", req.segments()).unwrap_or_default();
    let command = || req.params().and_then(|params| CompleteBlob::parse(&params));
    blobs::complete_blob(deps, ctx, id, command).await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixtures_in_events_produce_their_expected_responses() {
        testkit::fixtures::check_handler(FUNCTION, |deps, req| async move { handle(&deps, req).await }).await;
    }
}
