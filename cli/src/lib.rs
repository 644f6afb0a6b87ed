//! The `cube-auth` command line as a library, so that tests can mount the same router and
//! drive the same commands.

pub mod apps;
pub mod bare_errors;
pub mod local;
pub mod router;
pub mod serve;
pub mod server;
pub mod target;
pub mod users;
