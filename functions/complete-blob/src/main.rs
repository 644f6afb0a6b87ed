//! Lambda wiring for `complete-blob`: configuration and clients (DynamoDB and S3) once per cold
//! start, then serve.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::init_logging();
    let deps = shared::Deps::from_env_with_blobs().await?;
    shared::lambda::run(|req| complete_blob::handle(&deps, req)).await
}
