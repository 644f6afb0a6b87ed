//! Lambda wiring for `create-session`: configuration and clients (DynamoDB, the identity providers'
//! HTTPS client) once per cold start, then serve.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::init_logging();
    let deps = shared::Deps::from_env_with_identity().await?;
    shared::lambda::run(|req| create_session::handle(&deps, req)).await
}
