//! Password hashing: argon2id with OWASP's parameters (19 MiB, t=2, p=1), always on a
//! blocking thread so a hash (tens of milliseconds of CPU) never stalls the async runtime.
//!
//! The 19 MiB of working memory are pooled, not allocated per hash: a fresh allocation is a
//! fresh mapping, and faulting in its ~4,900 pages cost about a fifth of each hash. At most
//! one hash per core runs at once; more would only share the cores and add 19 MiB each.

use std::sync::{LazyLock, Mutex};

use argon2::password_hash::{PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::crypto::random::random_bytes;

/// OWASP Password Storage Cheat Sheet minimum for argon2id.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
/// Digest length in the PHC string (argon2's default).
const OUTPUT_LEN: usize = 32;

/// The longest password we will hash at login. Anything longer cannot be a valid password
/// (the policy caps at 128 characters) and is refused before hashing to bound CPU cost.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Hashes allowed to run at once: one per core.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())));

/// Working memory of finished hashes, kept for the next ones.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Runs `work` on at least `blocks` blocks of pooled memory.
fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    let pooled = MEMORY.lock().map(|mut free| free.pop()).unwrap_or(None);
    let mut memory = match pooled {
        Some(memory) if memory.len() >= blocks => memory,
        _ => vec![Block::new(); blocks],
    };
    let result = work(&mut memory);
    if let Ok(mut free) = MEMORY.lock() {
        free.push(memory);
    }
    result
}

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

fn params() -> Params {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_LEN)).expect("static argon2 parameters are valid")
}

/// The argon2id PHC string of `password`, with a fresh 128-bit salt.
pub fn hash_blocking(password: &Password) -> String {
    let salt = random_bytes::<16>();
    let params = params();
    let mut digest = [0u8; OUTPUT_LEN];
    with_memory(params.block_count(), |memory| {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password.expose().as_bytes(), &salt, &mut digest, memory)
            .expect("argon2 with valid parameters and a 16-byte salt cannot fail")
    });
    format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(digest)
    )
}

/// Whether `password` matches `phc`. With no stored hash (unknown user, or a user who has no
/// password) it still runs one full verification against a dummy hash, so that response
/// time does not reveal whether the account exists.
pub fn verify_blocking(password: &Password, phc: Option<&str>) -> bool {
    let (phc, real) = match phc {
        Some(phc) => (phc, true),
        None => (DUMMY_HASH, false),
    };
    let matches = recompute(password, phc).is_some_and(|(computed, stored)| bool::from(computed.ct_eq(&stored)));
    matches && real
}

/// The digest of `password` under the algorithm, parameters and salt of `phc`, beside the
/// digest `phc` holds; `None` when `phc` is not an argon2 PHC string we can verify.
fn recompute(password: &Password, phc: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let parsed = PasswordHash::new(phc).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from).ok()?;
    let params = Params::try_from(&parsed).ok()?;
    let stored = parsed.hash?.as_bytes().to_vec();
    let mut salt = [0u8; Salt::MAX_LENGTH];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
    let mut computed = vec![0u8; stored.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password.expose().as_bytes(), salt, &mut computed, memory)
    })
    .ok()?;
    Some((computed, stored))
}

/// [`hash_blocking`] on tokio's blocking pool, one hash per core at a time.
pub async fn hash(password: Password) -> String {
    let _turn = HASHING.acquire().await.expect("the hashing semaphore is never closed");
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.expect("password hashing panicked")
}

/// [`verify_blocking`] on tokio's blocking pool, one hash per core at a time.
pub async fn verify(password: Password, phc: Option<String>) -> bool {
    let _turn = HASHING.acquire().await.expect("the hashing semaphore is never closed");
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
    fn hashes_verify_with_the_argon2_crates_own_verifier_and_its_hashes_with_ours() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
        let password = Password::new("correct horse battery".into());
        let ours = hash_blocking(&password);
        let library = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let parsed = PasswordHash::new(&ours).expect("our output is a PHC string");
        assert!(library.verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(library.verify_password(b"wrong horse battery", &parsed).is_err());
        let salt = SaltString::encode_b64(&random_bytes::<16>()).unwrap();
        let theirs = library.hash_password(b"correct horse battery", &salt).unwrap().to_string();
        assert!(verify_blocking(&password, Some(&theirs)));
        // Older parameters (a hash from before a parameter change) still verify.
        let weaker = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 1, 1, None).unwrap());
        let old = weaker.hash_password(b"correct horse battery", &salt).unwrap().to_string();
        assert!(verify_blocking(&password, Some(&old)));
        assert!(!verify_blocking(&password, Some("$argon2id$v=19$garbage")));
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
