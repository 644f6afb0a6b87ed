//! Lambda wiring for `reset-password`: configuration and clients once per cold start, then serve.
#![recursion_limit = "256"]

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), shared::runtime::Error> {
    shared::runtime::init_logging();
    let deps = shared::Deps::from_env().await?;
    shared::lambda::run(|req| reset_password::handle(&deps, req)).await
}
