//! The smallest function that makes one DynamoDB call: `hello`, plus one GetItem of the
//! fixture user through the production client (`Deps::from_env`) per invocation. Measured the
//! way the functions are (one invocation at a time, caches as cold as between real
//! invocations), its warm CPU less hello's is what one SDK call costs a function, beside the
//! floor the same GetItem costs in a tight loop.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let deps = shared::Deps::from_env().await?;
    let (pk, sk) = shared::store::keys::user(shared::fixtures::USER_ID);
    let key = shared::store::item::key(pk, sk);
    let (deps, key) = (&deps, &key);
    run(service_fn(move |_request: Request| async move {
        let found = deps.store.get(key.clone()).await.map_err(|e| Error::from(e.to_string()))?;
        let status = if found.is_some() { 200 } else { 404 };
        Response::builder()
            .status(status)
            .header("Content-Type", "application/json")
            .body(Body::from(r#"{"hello":"world"}"#))
            .map_err(Error::from)
    }))
    .await
}
