//! Password hashing: argon2id with OWASP's parameters (19 MiB, t=2, p=1), always on a
//! blocking thread so a hash (tens of milliseconds of CPU) never stalls the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::crypto::random::random_bytes;

/// OWASP Password Storage Cheat Sheet minimum for argon2id.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

/// The longest password we will hash at login. Anything longer cannot be a valid password
/// (the policy caps at 128 characters) and is refused before hashing to bound CPU cost.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A password in memory. `Debug` never shows it, so it cannot leak through a log line.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn new(text: String) -> Self {
        Password(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id PHC string of `password`, with a fresh 128-bit salt.
pub fn hash_blocking(password: &Password) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt length");
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .expect("argon2 with valid parameters cannot fail")
        .to_string()
}

/// Whether `password` matches `phc`. With no stored hash (unknown user, or a user who has no
/// password) it still runs one full verification against a dummy hash, so that response
/// time does not reveal whether the account exists.
pub fn verify_blocking(password: &Password, phc: Option<&str>) -> bool {
    let (phc, real) = match phc {
        Some(phc) => (phc, true),
        None => (DUMMY_HASH, false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = hasher().verify_password(password.expose().as_bytes(), &parsed).is_ok();
    matches && real
}

/// [`hash_blocking`] on tokio's blocking pool.
pub async fn hash(password: Password) -> String {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.expect("password hashing panicked")
}

/// [`verify_blocking`] on tokio's blocking pool.
pub async fn verify(password: Password, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify_blocking(&password, phc.as_deref()))
        .await
        .expect("password verification panicked")
}

/// A well-formed argon2id PHC string with the production parameters whose digest is random
/// bytes, so no password matches it. Verifying against it costs what a real verification costs.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c3VwZXJzZWNyZXRzYWx0MQ$4k3uW4a9Y3Q6m1cXyqv0oXJ3ZJ2rQyqk4XlqJk3oLxs";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let password = Password::new("correct horse battery".into());
        let phc = hash_blocking(&password);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking(&password, Some(&phc)));
        assert!(!verify_blocking(&Password::new("wrong horse battery".into()), Some(&phc)));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let password = Password::new("correct horse battery".into());
        assert_ne!(hash_blocking(&password), hash_blocking(&password));
    }

    #[test]
    fn the_dummy_hash_parses_with_production_parameters_and_never_matches() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("dummy hash is a valid PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(Params::try_from(&parsed).unwrap().m_cost(), MEMORY_KIB);
        assert!(!verify_blocking(&Password::new("anything".into()), None));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", Password::new("hunter2hunter2".into()));
        assert!(!shown.contains("hunter2"));
    }
}
