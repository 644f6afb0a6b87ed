//! Use cases: what each endpoint does, on top of the domain and the store. Handlers in the
//! function crates only parse the route and call these.

pub mod auth;
#[cfg(feature = "s3")]
pub mod blobs;
pub mod credentials;
pub mod external;
pub mod profile;
pub mod reset;
pub mod search;
pub mod sessions;
pub mod signup;
pub mod throttle;
pub mod users;
pub mod users_v1;
