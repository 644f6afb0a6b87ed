//! Entities and rules, free of storage and transport types.

pub mod app;
pub mod session;
pub mod user;
pub mod user_input;
