//! Firebase ID tokens (phone and email sign-in), verified the way Firebase's admin SDK does,
//! with `jsonwebtoken`: RS256 only, `kid` among Google's signing certificates, the signature
//! checked before any claim is trusted, then `aud`, `iss`, `sub`, `exp`, `iat` and `auth_time`.
//!
//! The certificates come from a configurable URL (Google's x509 endpoint by default), are
//! cached for their `Cache-Control: max-age` across warm invocations, and an unknown `kid`
//! triggers a refetch at most once a minute (so a flood of forged `kid`s cannot make us
//! hammer Google).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use x509_cert::Certificate;
use x509_cert::der::DecodePem;
use x509_cert::der::oid::ObjectIdentifier;

use crate::clock::Timestamp;
use crate::identity::http::{OutboundClient, max_age};

pub const GOOGLE_CERTS_URL: &str =
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";
/// Clock skew tolerated on `exp`, `iat` and `auth_time`.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// An unknown `kid` refetches the certificates at most this often.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long certificates are kept when the response says nothing.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted (only RS256)")]
    UnsupportedAlgorithm(String),
    #[error("the token has no kid")]
    MissingKid,
    #[error("the token was not signed by a known Firebase key")]
    UnknownKid,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token is for another Firebase project")]
    WrongAudience,
    #[error("the token was not issued by Firebase for this project")]
    WrongIssuer,
    #[error("the token has no valid subject")]
    BadSubject,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("Firebase signing keys are unavailable")]
    KeysUnavailable,
}

/// The claims we use from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirebaseClaims {
    /// The Firebase uid.
    pub sub: String,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    /// Whether Firebase has seen the owner prove the address (`email_verified: true`): an
    /// email/password account exists before its owner verifies anything.
    pub email_verified: bool,
    pub sign_in_provider: Option<String>,
}

#[derive(Default)]
struct KeyCache {
    /// kid → PKCS#1 RSAPublicKey DER.
    keys: HashMap<String, Vec<u8>>,
    fresh_until: Option<Instant>,
    last_fetch: Option<Instant>,
}

pub struct FirebaseKeys {
    url: String,
    http: OutboundClient,
    refetch_interval: Duration,
    cache: tokio::sync::Mutex<KeyCache>,
}

/// The claims of a Firebase ID token that we read.
#[derive(Deserialize)]
struct Claims {
    /// Strings, as Firebase issues them: `jsonwebtoken` would also accept an array holding
    /// the project, which does not decode here (and the values are checked again below).
    aud: String,
    iss: String,
    sub: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    /// Optional claims are read leniently (a claim of an unexpected type counts as absent),
    /// as Firebase's own SDKs do.
    #[serde(default)]
    phone_number: Value,
    #[serde(default)]
    email: Value,
    #[serde(default)]
    email_verified: Value,
    #[serde(default)]
    firebase: Value,
}

/// Why a header did not decode: an algorithm `jsonwebtoken` does not know (`none`) is named
/// as such; anything else is not a JWT.
fn header_error(token: &str) -> TokenError {
    let alg = token
        .split('.')
        .next()
        .and_then(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|header| header["alg"].as_str().map(|alg| alg.chars().take(16).collect::<String>()));
    match alg {
        Some(alg) if alg != "RS256" => TokenError::UnsupportedAlgorithm(alg),
        _ => TokenError::Malformed,
    }
}

fn claims_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            TokenError::BadSignature
        }
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidSubject => TokenError::BadSubject,
        ErrorKind::MissingRequiredClaim(claim) if claim == "sub" => TokenError::BadSubject,
        ErrorKind::InvalidAlgorithm => TokenError::UnsupportedAlgorithm("RS256 key".into()),
        _ => TokenError::Malformed,
    }
}

impl FirebaseKeys {
    pub fn new(url: &str, http: OutboundClient, refetch_interval: Duration) -> FirebaseKeys {
        FirebaseKeys {
            url: url.to_string(),
            http,
            refetch_interval,
            cache: tokio::sync::Mutex::new(KeyCache::default()),
        }
    }

    /// Verifies `token` for `project_id` at `now` (Unix seconds): `jsonwebtoken` checks the
    /// RS256 signature with the key named by `kid`, `aud` and `iss`; the times are checked
    /// here against the service's clock (the one every other expiry uses, and the one tests
    /// move), which `jsonwebtoken` cannot be given.
    pub async fn verify(&self, token: &str, project_id: &str, now: Timestamp) -> Result<FirebaseClaims, TokenError> {
        let token = token.trim();
        let header = jsonwebtoken::decode_header(token).map_err(|_| header_error(token))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.filter(|k| !k.is_empty()).ok_or(TokenError::MissingKid)?;
        let key = self.key(&kid).await?.ok_or(TokenError::UnknownKid)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[project_id]);
        validation.set_issuer(&[format!("https://securetoken.google.com/{project_id}")]);
        validation.set_required_spec_claims(&["aud", "iss", "sub", "exp", "iat"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_rsa_der(&key), &validation)
            .map_err(|error| claims_error(error.kind()))?
            .claims;

        if claims.aud != project_id {
            return Err(TokenError::WrongAudience);
        }
        if claims.iss != format!("https://securetoken.google.com/{project_id}") {
            return Err(TokenError::WrongIssuer);
        }
        if claims.sub.is_empty() || claims.sub.chars().count() > 128 {
            return Err(TokenError::BadSubject);
        }
        if claims.exp + CLOCK_SKEW_SECS <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now + CLOCK_SKEW_SECS || claims.auth_time > now + CLOCK_SKEW_SECS {
            return Err(TokenError::NotYetValid);
        }
        Ok(FirebaseClaims {
            sub: claims.sub,
            phone_number: claims.phone_number.as_str().map(str::to_string),
            email: claims.email.as_str().map(str::to_string),
            email_verified: claims.email_verified.as_bool() == Some(true),
            sign_in_provider: claims.firebase["sign_in_provider"].as_str().map(str::to_string),
        })
    }

    /// The key for `kid`: from the cache while it is fresh; refetched when stale, or when the
    /// `kid` is unknown and the last fetch is over a minute old.
    async fn key(&self, kid: &str) -> Result<Option<Vec<u8>>, TokenError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let fresh = cache.fresh_until.is_some_and(|until| now < until);
        if fresh && let Some(key) = cache.keys.get(kid) {
            return Ok(Some(key.clone()));
        }
        let may_fetch = !fresh || cache.last_fetch.is_none_or(|at| now.duration_since(at) >= self.refetch_interval);
        if may_fetch {
            cache.last_fetch = Some(now);
            match self.fetch().await {
                Ok((keys, max_age)) => {
                    cache.keys = keys;
                    cache.fresh_until = Some(now + max_age);
                }
                Err(error) => {
                    tracing::warn!(error = %error, "fetching Firebase signing keys failed");
                    if !fresh {
                        return Err(TokenError::KeysUnavailable);
                    }
                }
            }
        }
        Ok(cache.keys.get(kid).cloned())
    }

    async fn fetch(&self) -> anyhow::Result<(HashMap<String, Vec<u8>>, Duration)> {
        let response = self.http.get(&self.url).await?;
        anyhow::ensure!(response.status == 200, "status {}", response.status);
        let certificates: HashMap<String, String> = serde_json::from_slice(&response.body)?;
        let keys: HashMap<String, Vec<u8>> =
            certificates.into_iter().filter_map(|(kid, pem)| rsa_public_key(&pem).map(|key| (kid, key))).collect();
        anyhow::ensure!(!keys.is_empty(), "no usable certificate");
        let max_age = response.cache_control.as_deref().and_then(max_age).map_or(DEFAULT_MAX_AGE, Duration::from_secs);
        Ok((keys, max_age))
    }
}

/// The PKCS#1 RSA public key of a PEM certificate (`None` for anything but RSA).
fn rsa_public_key(pem: &str) -> Option<Vec<u8>> {
    let certificate = Certificate::from_pem(pem.as_bytes()).ok()?;
    let info = &certificate.tbs_certificate.subject_public_key_info;
    if info.algorithm.oid != RSA_ENCRYPTION {
        return None;
    }
    info.subject_public_key.as_bytes().map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_yield_their_rsa_key() {
        let pem = include_str!("../../../tests/fixtures/firebase/test-cert-a.pem");
        let key = rsa_public_key(pem).expect("an RSA key");
        assert!(key.len() > 256, "a 2048-bit modulus and exponent");
        assert!(rsa_public_key("not a certificate").is_none());
    }
}
