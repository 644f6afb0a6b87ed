//! A Custom Identity Provider's configuration (contract §5): where to send the user's token,
//! how to build the request from templates such as `{"token":"#{login}"}`, and where the
//! answer's fields are, by mappings such as `{"uid":"#{user.id}"}`.

use serde_json::{Map, Value};

/// Mapped fields the provider may fill in, besides the required `uid`.
pub const MAPPABLE: &[&str] = &["login", "email", "full_name", "phone", "external_id"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidpMethod {
    Get,
    Post,
}

impl CidpMethod {
    pub fn parse(text: &str) -> Option<CidpMethod> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Some(CidpMethod::Get),
            "POST" => Some(CidpMethod::Post),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CidpMethod::Get => "GET",
            CidpMethod::Post => "POST",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidpSettings {
    pub url: String,
    pub method: CidpMethod,
    /// Request parameter → template (`#{login}` is the token the client sent as `login`).
    pub request: Vec<(String, String)>,
    /// Our field → dotted path into the provider's JSON answer.
    pub response: Vec<(String, String)>,
}

/// What the provider said about the user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalIdentity {
    pub uid: String,
    /// Mapped fields present in the answer (field name → text).
    pub fields: Vec<(String, String)>,
}

impl ExternalIdentity {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn path_of(template: &str) -> Option<&str> {
    template.trim().strip_prefix("#{")?.strip_suffix('}').map(str::trim).filter(|p| !p.is_empty())
}

impl CidpSettings {
    /// Builds and checks settings from the CLI's arguments.
    pub fn parse(url: &str, method: &str, request: &str, response: &str) -> Result<CidpSettings, String> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) || url.chars().any(char::is_whitespace) {
            return Err("the CIdP URL must be an http(s) URL".into());
        }
        let method = CidpMethod::parse(method).ok_or("the CIdP method is GET or POST")?;
        let object = |text: &str, what: &str| -> Result<Vec<(String, String)>, String> {
            let value: Value =
                serde_json::from_str(text).map_err(|_| format!("the CIdP {what} mapping must be a JSON object"))?;
            let map = value.as_object().ok_or_else(|| format!("the CIdP {what} mapping must be a JSON object"))?;
            map.iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_string()))
                        .ok_or_else(|| format!("CIdP {what} mapping values must be strings"))
                })
                .collect()
        };
        let request = object(request, "request")?;
        if request.is_empty() || !request.iter().any(|(_, t)| t.contains("#{login}")) {
            return Err("the CIdP request mapping must send #{login} somewhere".into());
        }
        let response = object(response, "response")?;
        for (field, template) in &response {
            if field != "uid" && !MAPPABLE.contains(&field.as_str()) {
                return Err(format!("the CIdP response mapping cannot fill '{field}' (uid, {})", MAPPABLE.join(", ")));
            }
            if path_of(template).is_none() {
                return Err(format!("the CIdP response mapping of '{field}' must look like #{{path.in.answer}}"));
            }
        }
        if !response.iter().any(|(field, _)| field == "uid") {
            return Err("the CIdP response mapping must map uid".into());
        }
        Ok(CidpSettings { url: url.to_string(), method, request, response })
    }

    /// The request parameters for a login token.
    pub fn request_params(&self, login: &str) -> Vec<(String, String)> {
        self.request.iter().map(|(name, template)| (name.clone(), template.replace("#{login}", login))).collect()
    }

    /// The identity in a provider's JSON answer; `None` when the uid is missing or empty.
    pub fn identity(&self, answer: &Value) -> Option<ExternalIdentity> {
        let mut identity = ExternalIdentity::default();
        for (field, template) in &self.response {
            let Some(text) = path_of(template).and_then(|path| lookup(answer, path)) else { continue };
            if field == "uid" {
                identity.uid = text;
            } else {
                identity.fields.push((field.clone(), text));
            }
        }
        (!identity.uid.is_empty() && identity.uid.chars().count() <= 128).then_some(identity)
    }

    pub fn request_json(&self) -> String {
        Value::Object(self.request.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>())
            .to_string()
    }

    pub fn response_json(&self) -> String {
        Value::Object(self.response.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>())
            .to_string()
    }
}

/// A scalar at a dotted path (`user.id`, `data.0.uid`), as text.
fn lookup(answer: &Value, path: &str) -> Option<String> {
    let mut node = answer;
    for part in path.split('.') {
        node = match node {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match node {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> CidpSettings {
        CidpSettings::parse(
            "https://idp.example.com/verify",
            "post",
            r##"{"token":"#{login}","source":"app-#{login}"}"##,
            r##"{"uid":"#{user.id}","login":"#{user.login}","email":"#{user.email}","full_name":"#{user.name}"}"##,
        )
        .unwrap()
    }

    #[test]
    fn request_templates_carry_the_token() {
        assert_eq!(
            settings().request_params("abc"),
            vec![("token".to_string(), "abc".to_string()), ("source".to_string(), "app-abc".to_string())]
        );
    }

    #[test]
    fn answers_map_into_an_identity() {
        let identity = settings().identity(&json!({"user": {"id": 42, "login": "ext", "name": " Ext User "}})).unwrap();
        assert_eq!(identity.uid, "42");
        assert_eq!(identity.field("login"), Some("ext"));
        assert_eq!(identity.field("full_name"), Some("Ext User"));
        assert_eq!(identity.field("email"), None);
        assert!(settings().identity(&json!({"user": {"login": "x"}})).is_none(), "no uid, no identity");
        assert!(settings().identity(&json!({"user": {"id": ""}})).is_none());
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        for (url, method, request, response) in [
            ("ftp://x", "GET", r##"{"t":"#{login}"}"##, r##"{"uid":"#{id}"}"##),
            ("https://x", "PUT", r##"{"t":"#{login}"}"##, r##"{"uid":"#{id}"}"##),
            ("https://x", "GET", r#"{"t":"fixed"}"#, r##"{"uid":"#{id}"}"##),
            ("https://x", "GET", r##"{"t":"#{login}"}"##, r##"{"login":"#{id}"}"##),
            ("https://x", "GET", r##"{"t":"#{login}"}"##, r##"{"uid":"#{id}","password_hash":"#{x}"}"##),
            ("https://x", "GET", "[]", r##"{"uid":"#{id}"}"##),
        ] {
            assert!(
                CidpSettings::parse(url, method, request, response).is_err(),
                "{url} {method} {request} {response}"
            );
        }
    }
}
