//! The few HTML pages we serve (the password-reset form and its outcomes): small, accessible,
//! working without JavaScript, with no external assets. Their one inline stylesheet is allowed
//! by hash in the Content-Security-Policy, and nothing else is.

use std::sync::OnceLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f4f5f7;color:#1d2330;margin:0;padding:2rem 1rem}\
main{max-width:26rem;margin:0 auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}\
h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;font-weight:600;margin:1rem 0 .35rem}\
input{box-sizing:border-box;width:100%;font-size:1rem;padding:.6rem;border:1px solid #8a93a5;border-radius:6px}\
input:focus{outline:3px solid #2f6fed;outline-offset:1px}.hint{color:#4a5365;font-size:.9rem;margin:.35rem 0 0}\
button{margin-top:1.5rem;width:100%;font-size:1rem;padding:.7rem;border:0;border-radius:6px;background:#1f57c9;color:#fff;font-weight:600}\
.errors{background:#fdecea;border:1px solid #d93025;color:#8c1d18;border-radius:6px;padding:.75rem 1rem}.errors ul{margin:0;padding-left:1.2rem}\
.ok{background:#e6f4ea;border:1px solid #1e8e3e;color:#0d5223;border-radius:6px;padding:.75rem 1rem}";

/// The `Content-Security-Policy` of every page: nothing loads, the stylesheet is pinned by
/// hash, forms post only to us, and no one may frame the page.
pub fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
    })
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(title: &str, content: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{content}\n</main>\n</body>\n</html>\n",
        title = escape(title)
    )
}

/// The form that sets a new password for `token`, with `errors` from a previous attempt.
pub fn reset_form(token: &str, errors: &[String]) -> String {
    let errors = if errors.is_empty() {
        String::new()
    } else {
        let items: String = errors.iter().map(|e| format!("<li>{}</li>", escape(e))).collect();
        format!("<div class=\"errors\" role=\"alert\" id=\"errors\"><ul>{items}</ul></div>\n")
    };
    let described = if errors.is_empty() { "password-hint" } else { "password-hint errors" };
    page(
        "Choose a new password",
        &format!(
            "<h1>Choose a new password</h1>\n{errors}<form method=\"post\" action=\"/password-reset\">\n\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
             <label for=\"password\">New password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"8\" maxlength=\"128\" required aria-describedby=\"{described}\">\n\
             <p class=\"hint\" id=\"password-hint\">At least 8 characters. A long phrase is easier to remember and harder to guess.</p>\n\
             <label for=\"password_confirmation\">Repeat the new password</label>\n\
             <input id=\"password_confirmation\" name=\"password_confirmation\" type=\"password\" autocomplete=\"new-password\" minlength=\"8\" maxlength=\"128\" required>\n\
             <button type=\"submit\">Set new password</button>\n</form>",
            token = escape(token)
        ),
    )
}

/// The page after a successful reset.
pub fn reset_done() -> String {
    page(
        "Password changed",
        "<h1>Password changed</h1>\n<p class=\"ok\" role=\"status\">Your password has been changed. You have been signed out everywhere; sign in again with the new password.</p>",
    )
}

/// The page for a link that is unknown, used or expired.
pub fn reset_invalid() -> String {
    page(
        "Link no longer valid",
        "<h1>This link is no longer valid</h1>\n<p class=\"errors\" role=\"alert\">The password reset link is invalid, has already been used, or has expired. Ask for a new one from the app.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_and_labels_everything() {
        let html = reset_form("\"><script>", &["Password <b>".into()]);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;b&gt;"));
        assert!(html.contains("<label for=\"password\">") && html.contains("id=\"password\""));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(!html.contains("http://") && !html.contains("https://"), "no external assets");
        assert!(!html.contains("<script"), "no JavaScript");
    }

    #[test]
    fn the_policy_pins_the_stylesheet() {
        let policy = content_security_policy();
        assert!(policy.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("form-action 'self'"));
    }
}
