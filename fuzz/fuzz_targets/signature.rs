//! The legacy `POST /session` signature check on arbitrary parameters: it never panics, and
//! a signature computed over the canonical string of those parameters always verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::crypto::signature::{canonical_string, sign_sha1, sign_sha256, verify};
use shared::params::parse_urlencoded;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = parse_urlencoded(data) else { return };
    let map = params.as_object().expect("params are an object");
    let secret = "fuzzing-secret";
    let given = map.get("signature").and_then(|s| s.as_str()).unwrap_or("");
    let _ = verify(secret, map, given);
    let message = canonical_string(map);
    assert!(verify(secret, map, &sign_sha1(secret, &message)));
    assert!(verify(secret, map, &sign_sha256(secret, &message)));
});
