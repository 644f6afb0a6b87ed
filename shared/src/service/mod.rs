//! Use cases: what each endpoint does, on top of the domain and the store. Each takes the
//! request's [`context::Context`] and a typed command, and returns a typed outcome; none sees
//! an HTTP type or builds a reply. The function crates own the HTTP side: they read the
//! request into a command, call the use case, and turn its outcome into the response.
//!
//! Where ConnectyCube answers a missing session before a bad body, the use case takes the
//! command's parser (`impl FnOnce() -> Result<Command, ApiError>`) and runs it after
//! authenticating: the errors keep their order on the wire, and a request without a session
//! costs no parsing (a new password's check scans the common-password list).

pub mod auth;
#[cfg(feature = "s3")]
pub mod blobs;
pub mod context;
pub mod credentials;
pub mod external;
pub mod finder;
pub mod migration;
pub mod password_login;
pub mod profile;
pub mod reset;
pub mod search;
pub mod sessions;
pub mod signup;
pub mod throttle;
pub mod users;
pub mod users_v1;
