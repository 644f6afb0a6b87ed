//! Secrets: random tokens and keys, password hashing, and the legacy request signature.

pub mod password;
pub mod random;
pub mod signature;
