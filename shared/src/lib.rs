//! cube-auth's domain crate: everything the Lambda functions and the local server share.
//!
//! - [`lambda`]: `lambda_http` behind a guard for inputs its conversion cannot take;
//! - [`http`]: reading a `lambda_http` request and building its response (CORS, errors);
//! - [`params`]: JSON, form and Rails-style bracket parameters as one tree;
//! - [`error`]: [`ApiError`](error::ApiError) and ConnectyCube's JSON error shapes;
//! - [`domain`]: applications, users, sessions and their rules;
//! - [`crypto`]: tokens, argon2id passwords, the legacy HMAC signature;
//! - [`store`]: DynamoDB, the one storage implementation;
//! - [`service`]: the use cases each endpoint calls;
//! - [`runtime`], [`deps`], [`config`], [`aws`]: wiring built once per cold start.

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
pub mod service;
pub mod store;
pub mod trips;

pub use deps::Deps;
pub use error::ApiError;
pub use http::{ApiRequest, Reply};
pub use lambda_http::{Body, Request, Response};
