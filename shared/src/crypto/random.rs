//! Random values from the operating system's CSPRNG, and the one-way hash under which
//! tokens are stored (the token itself is never written anywhere).

use sha2::{Digest, Sha256};

/// Fills a buffer from the OS CSPRNG. Failure here means the machine cannot make secrets at
/// all, which no request can recover from.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// A session token: 160 random bits as 40 lowercase hex characters, the format of
/// ConnectyCube's documented tokens. Returns `(token, sha256_hex(token))`.
pub fn new_session_token() -> (String, String) {
    let token = hex::encode(random_bytes::<20>());
    let hash = token_hash(&token);
    (token, hash)
}

/// A single-use token for links (password reset): 256 random bits, URL-safe hex.
pub fn new_link_token() -> (String, String) {
    let token = hex::encode(random_bytes::<32>());
    let hash = token_hash(&token);
    (token, hash)
}

/// SHA-256 of a token, hex. Lookups go by this hash, so a table read never yields a live
/// token and no token comparison happens in our code.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random alphanumeric string (used for `auth_key` and `auth_secret`). Rejection sampling
/// keeps every character uniform: 62 does not divide 256.
pub fn random_alphanumeric(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<64>() {
            if byte < 248 && out.len() < len {
                out.push(ALPHANUMERIC[(byte % 62) as usize] as char);
            }
        }
    }
    out
}

/// Uppercase hex of `N` random bytes (guest logins look like `guest_login_<hex>`).
pub fn random_upper_hex<const N: usize>() -> String {
    hex::encode_upper(random_bytes::<N>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_are_40_lowercase_hex_and_hash_to_sha256() {
        let (token, hash) = new_session_token();
        assert_eq!(token.len(), 40);
        assert!(token.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_eq!(hash, token_hash(&token));
        assert_eq!(hash.len(), 64);
        assert_ne!(new_session_token().0, token);
    }

    #[test]
    fn known_sha256() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn alphanumeric_keys_have_the_asked_length_and_alphabet() {
        let key = random_alphanumeric(24);
        assert_eq!(key.len(), 24);
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
