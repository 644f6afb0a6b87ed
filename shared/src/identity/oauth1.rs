//! OAuth 1.0a request signing (RFC 5849, HMAC-SHA1), as Twitter's v1.1 API takes it: the
//! signature base string of method, URL and every parameter sorted, keyed by the consumer
//! and token secrets. Written here because it is forty lines; the published example is
//! its test.

use base64::Engine as _;
use hmac::{Hmac, Mac};

/// The credentials of one signed request.
pub struct Signer<'a> {
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    pub token: &'a str,
    pub token_secret: &'a str,
}

impl Signer<'_> {
    /// The `Authorization` header for `method url` with `query` parameters (also sent in the
    /// URL), at `timestamp` with `nonce`.
    pub fn authorization(
        &self,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        timestamp: i64,
        nonce: &str,
    ) -> String {
        let timestamp = timestamp.to_string();
        let mut oauth = vec![
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", timestamp.as_str()),
            ("oauth_token", self.token),
            ("oauth_version", "1.0"),
        ];
        let signature = self.signature(method, url, query.iter().copied().chain(oauth.iter().copied()));
        oauth.push(("oauth_signature", &signature));
        let fields: Vec<String> = oauth.iter().map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v))).collect();
        format!("OAuth {}", fields.join(", "))
    }

    fn signature<'p>(&self, method: &str, url: &str, params: impl Iterator<Item = (&'p str, &'p str)>) -> String {
        let mut encoded: Vec<(String, String)> = params.map(|(k, v)| (encode(k), encode(v))).collect();
        encoded.sort();
        let joined: Vec<String> = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let base = format!("{}&{}&{}", method.to_ascii_uppercase(), encode(&base_url(url)), encode(&joined.join("&")));
        let key = format!("{}&{}", encode(self.consumer_secret), encode(self.token_secret));
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        mac.update(base.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// The base string URI (RFC 5849 §3.4.1.2): scheme and host in lower case, the scheme's
/// default port left out, no query or fragment.
fn base_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    format!("{scheme}://{authority}{path}")
}

/// RFC 3986 percent-encoding: everything but the unreserved characters, in upper-case hex.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twitter's documented example ("Creating a signature", developer.twitter.com).
    const EXAMPLE: Signer<'static> = Signer {
        consumer_key: "xvz1evFS4wEEPTGEFPHBog",
        consumer_secret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
        token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        token_secret: "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    };

    #[test]
    fn twitters_published_example_signs_alike() {
        let query = [("status", "Hello Ladies + Gentlemen, a signed OAuth request!"), ("include_entities", "true")];
        let header = EXAMPLE.authorization(
            "POST",
            "https://api.twitter.com/1.1/statuses/update.json",
            &query,
            1318622958,
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        );
        assert!(header.contains("oauth_signature=\"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D\""), "{header}");
        assert!(header.starts_with("OAuth oauth_consumer_key=\"xvz1evFS4wEEPTGEFPHBog\", "), "{header}");
    }

    #[test]
    fn the_base_url_is_normalised_as_rfc_5849_says() {
        assert_eq!(base_url("HTTPS://API.Twitter.com:443/1.1/a.json?x=1"), "https://api.twitter.com/1.1/a.json");
        assert_eq!(base_url("http://127.0.0.1:8080/r"), "http://127.0.0.1:8080/r");
        assert_eq!(base_url("http://example.com:80"), "http://example.com/");
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("Ladies + Gentlemen"), "Ladies%20%2B%20Gentlemen");
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(encode("é/!"), "%C3%A9%2F%21");
    }
}
