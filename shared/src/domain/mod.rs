//! Entities and rules, free of storage and transport types.

pub mod app;
pub mod blob;
pub mod cidp;
pub mod dates;
pub mod export;
pub mod limits;
pub mod search;
pub mod search_budget;
pub mod session;
pub mod social;
pub mod user;
pub mod user_input;
pub mod user_query;
pub mod v1_filter;
