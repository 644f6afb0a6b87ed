//! The legacy `POST /session` signature (contract §3.3): JS SDK ≤ 3, Flutter, iOS and Android
//! sign their parameters with HMAC-SHA1 (or HMAC-SHA256) keyed by the app's `auth_secret`.
//!
//! The signed string is every parameter except `signature`, rendered `key=value` (one level of
//! nesting as `key[sub]=value`), sorted and joined with `&`; values are raw, not URL-encoded.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::Sha256;

use crate::params::scalar_text;

/// The string the client signed, rebuilt from the parameters we received.
pub fn canonical_string(params: &Map<String, Value>) -> String {
    let mut pairs = Vec::new();
    for (key, value) in params {
        if key == "signature" {
            continue;
        }
        match value {
            Value::Object(inner) => {
                for (sub, v) in inner {
                    if let Some(text) = render(v) {
                        pairs.push(format!("{key}[{sub}]={text}"));
                    }
                }
            }
            other => {
                if let Some(text) = render(other) {
                    pairs.push(format!("{key}={text}"));
                }
            }
        }
    }
    pairs.sort();
    pairs.join("&")
}

/// Scalars as the SDKs print them; arrays as JavaScript's `String(array)` does. `null` is
/// left out, as Flutter leaves out null fields.
fn render(value: &Value) -> Option<String> {
    match value {
        Value::Array(items) => Some(items.iter().filter_map(scalar_text).collect::<Vec<_>>().join(",")),
        other => scalar_text(other),
    }
}

/// Whether `signature` (lowercase or uppercase hex) is the HMAC of `message` under `secret`:
/// HMAC-SHA1 for 40 hex digits, HMAC-SHA256 for 64. The comparison is constant-time.
pub fn verify_message(secret: &str, message: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature.trim()) else {
        return false;
    };
    match given.len() {
        20 => {
            let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
            mac.update(message.as_bytes());
            mac.verify_slice(&given).is_ok()
        }
        32 => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
            mac.update(message.as_bytes());
            mac.verify_slice(&given).is_ok()
        }
        _ => false,
    }
}

/// Verifies the `signature` member of `params` against the other members.
pub fn verify(secret: &str, params: &Map<String, Value>, signature: &str) -> bool {
    verify_message(secret, &canonical_string(params), signature)
}

/// HMAC-SHA1 hex, as the legacy SDKs compute it (used by tests and the CLI's examples).
pub fn sign_sha1(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// HMAC-SHA256 hex (JS SDK 3 with `config.hash = 'sha256'`).
pub fn sign_sha256(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{parse_json, parse_urlencoded};
    use serde_json::json;

    const SECRET: &str = "azj3WKRTbTkeHad";

    /// The contract's test vectors, computed with the JS SDK 3 signing function.
    const VECTORS: &[(&str, &str)] = &[
        (
            "application_id=8056&auth_key=8-RapJEU3yVdLR4&nonce=4321&timestamp=1700000000",
            "46b946364befc2a229dbb71d627b0b05fd4b0e1e",
        ),
        (
            "application_id=8056&auth_key=8-RapJEU3yVdLR4&nonce=4321&timestamp=1700000000&user[login]=john&user[password]=11111111",
            "33c32e8c63e72dc8dc5515bfac613a3b62de115c",
        ),
        (
            "application_id=8056&auth_key=8-RapJEU3yVdLR4&nonce=4321&timestamp=1700000000&user[email]=john@x.com&user[password]=p@ss word",
            "12e17c1eae790ebad685ee1a05165e31f3cbc302",
        ),
        (
            "application_id=8056&auth_key=8-RapJEU3yVdLR4&nonce=4321&timestamp=1700000000&user[full_name]=Olof Shodger&user[guest]=1",
            "8e531f72e4e10290ff4c6f26f12882ac59a349e0",
        ),
        (
            "application_id=8056&auth_key=8-RapJEU3yVdLR4&keys[token]=EAAB&nonce=4321&provider=facebook&timestamp=1700000000",
            "78f0bd0a4d174aee377dc41fe763970bfa90ab0e",
        ),
    ];

    #[test]
    fn contract_test_vectors_sign_and_verify() {
        for (message, expected) in VECTORS {
            assert_eq!(&sign_sha1(SECRET, message), expected, "{message}");
            assert!(verify_message(SECRET, message, expected));
            assert!(verify_message(SECRET, message, &expected.to_uppercase()));
        }
    }

    #[test]
    fn js3_json_body_with_numbers_rebuilds_the_signed_string() {
        let body = json!({"application_id": 8056, "auth_key": "8-RapJEU3yVdLR4", "nonce": 4321,
            "timestamp": 1700000000, "user": {"login": "john", "password": "11111111"},
            "signature": "33c32e8c63e72dc8dc5515bfac613a3b62de115c"});
        let params = body.as_object().unwrap();
        assert_eq!(canonical_string(params), VECTORS[1].0);
        assert!(verify(SECRET, params, "33c32e8c63e72dc8dc5515bfac613a3b62de115c"));
    }

    #[test]
    fn flutter_string_scalars_and_form_bodies_rebuild_the_same_string() {
        let flutter = parse_json(
            br#"{"application_id":"8056","auth_key":"8-RapJEU3yVdLR4","nonce":"4321","timestamp":"1700000000","user":{"email":"john@x.com","password":"p@ss word"}}"#,
        )
        .unwrap();
        assert_eq!(canonical_string(flutter.as_object().unwrap()), VECTORS[2].0);
        let form = parse_urlencoded(
            b"application_id=8056&auth_key=8-RapJEU3yVdLR4&nonce=4321&timestamp=1700000000&user%5Bfull_name%5D=Olof+Shodger&user%5Bguest%5D=1&signature=x",
        )
        .unwrap();
        assert_eq!(canonical_string(form.as_object().unwrap()), VECTORS[3].0);
    }

    #[test]
    fn null_members_are_left_out_as_flutter_signs_them() {
        // Flutter's identity-provider sign-in, `createSession(CubeUser(login: token))`, sends
        // `"password": null` and signs without it.
        let sent = parse_json(
            br#"{"application_id":8056,"auth_key":"k","nonce":7,"timestamp":1700000000,"user":{"login":"tok","password":null},"signature":"x"}"#,
        )
        .unwrap();
        let signed = "application_id=8056&auth_key=k&nonce=7&timestamp=1700000000&user[login]=tok";
        assert_eq!(canonical_string(sent.as_object().unwrap()), signed);
        let signature = sign_sha1("secret", signed);
        assert!(verify("secret", sent.as_object().unwrap(), &signature));
    }

    #[test]
    fn sha256_signatures_are_accepted_too() {
        let message = VECTORS[0].0;
        let sig = sign_sha256(SECRET, message);
        assert_eq!(sig.len(), 64);
        assert!(verify_message(SECRET, message, &sig));
    }

    #[test]
    fn wrong_secret_wrong_message_and_garbage_are_rejected() {
        let (message, sig) = VECTORS[0];
        assert!(!verify_message("other-secret", message, sig));
        assert!(!verify_message(SECRET, &format!("{message}&x=1"), sig));
        assert!(!verify_message(SECRET, message, "not-hex"));
        assert!(!verify_message(SECRET, message, &sig[..38]));
        assert!(!verify_message(SECRET, message, ""));
    }
}
