//! cube-auth's domain crate: everything the Lambda functions and the local server share.
//!
//! - [`lambda`]: `lambda_http` behind a guard for inputs its conversion cannot take;
//! - [`http`]: the HTTP edge the function crates share: reading a `lambda_http` request
//!   (segments, the Rails-style query and body, `CB-Token`) and building its response
//!   (CORS, errors, `CB-Token-ExpirationDate`);
//! - [`routes`]: the typed route table ([`routes::Function`], [`routes::Endpoint`]);
//! - [`params`]: JSON, form and Rails-style bracket parameters as one tree;
//! - [`error`]: [`ApiError`](error::ApiError) and ConnectyCube's JSON error shapes;
//! - [`domain`]: applications, users, sessions and their rules, and users in ConnectyCube's
//!   export format (import and export);
//! - [`crypto`]: tokens, argon2id passwords, the legacy HMAC signature;
//! - [`store`]: DynamoDB, the one storage implementation;
//! - [`service`]: the use cases: typed commands in, typed outcomes out, no HTTP type and no
//!   reply built (the function crates do that);
//! - [`identity`]: the outbound calls that sign users in: Firebase keys, Facebook's Graph API,
//!   Twitter's API, a customer's identity provider, and the ConnectyCube service an
//!   application is moving from (lazy password migration) (feature `outbound`);
//! - [`fixtures`]: the data behind `events/*.json` (feature `fixtures`: CLI and tests);
//! - [`runtime`], [`deps`], [`config`], [`aws`], [`sdk_http`]: wiring built once per cold
//!   start, and the AWS SDK's HTTP/1.1 client.

pub mod aws;
#[cfg(feature = "s3")]
pub mod blobs;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod deps;
pub mod domain;
pub mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod http;
#[cfg(feature = "outbound")]
pub mod identity;
pub mod lambda;
#[cfg(feature = "mail")]
pub mod mail;
pub mod pages;
pub mod params;
pub mod routes;
pub mod runtime;
pub mod sdk_http;
pub mod service;
pub mod store;
pub mod trips;

pub use deps::Deps;
pub use error::ApiError;
pub use http::{ApiRequest, Reply};
pub use lambda_http::{Body, Request, Response};
