//! What a client may write to a user (signup and update bodies), parsed and validated.
//!
//! Unknown keys are ignored (Flutter sends extras such as `id` and `last_request_at`), and
//! server-owned fields (`id`, `is_guest`, dates) can never be written: they are simply not
//! read here, which blocks mass assignment.

use serde_json::Value;

use crate::crypto::password::Password;
use crate::domain::user::User;
use crate::error::FieldErrors;
use crate::params::Field;

pub const LOGIN_MIN: usize = 3;
pub const LOGIN_MAX: usize = 70;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const EMAIL_MAX: usize = 254;
pub const NAME_MAX: usize = 255;
pub const PHONE_MAX: usize = 64;
pub const WEBSITE_MAX: usize = 255;
pub const IDENTIFIER_MAX: usize = 255;
pub const AVATAR_MAX: usize = 2048;
pub const CUSTOM_DATA_MAX_BYTES: usize = 64 * 1024;
pub const TAGS_MAX: usize = 5;
pub const TAG_MAX: usize = 64;

/// A requested change to one optional field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Set(T),
    Clear,
}

impl<T: Clone> Change<T> {
    fn apply_to(&self, slot: &mut Option<T>) {
        match self {
            Change::Keep => {}
            Change::Set(value) => *slot = Some(value.clone()),
            Change::Clear => *slot = None,
        }
    }

    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }

    /// Whether this leaves the field empty on a new record.
    pub fn is_keep_or_clear(&self) -> bool {
        !matches!(self, Change::Set(_))
    }
}

#[derive(Debug, Default, Clone)]
pub struct UserInput {
    pub login: Change<String>,
    pub email: Change<String>,
    pub full_name: Change<String>,
    pub phone: Change<String>,
    pub website: Change<String>,
    pub external_user_id: Change<i64>,
    pub external_id: Change<String>,
    pub facebook_id: Change<String>,
    pub twitter_id: Change<String>,
    pub custom_data: Change<String>,
    pub tags: Change<Vec<String>>,
    pub avatar: Change<String>,
    pub blob_id: Change<i64>,
    pub timezone: Change<i64>,
    pub password: Option<Password>,
    /// The current password, required to change the password (`old_password` or Flutter's
    /// `oldPassword`).
    pub old_password: Option<Password>,
}

impl UserInput {
    /// The `user` object of a signup or profile update (`user` must be an object).
    pub fn parse_user_param(params: &serde_json::Value) -> Result<UserInput, crate::error::ApiError> {
        let user_fields = Field::of(params).get("user");
        if !user_fields.is_object() {
            return Err(crate::error::ApiError::field("user", "can't be blank"));
        }
        UserInput::parse(user_fields).map_err(crate::error::ApiError::Validation)
    }

    /// Parses and validates the `user` object of a signup or update body.
    pub fn parse(user: Field<'_>) -> Result<UserInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut input = UserInput {
            login: text(user, "login", &mut errors, |v, e| check_length(v, "login", LOGIN_MIN, LOGIN_MAX, e)),
            email: text(user, "email", &mut errors, check_email),
            full_name: text(user, "full_name", &mut errors, |v, e| check_length(v, "full_name", 0, NAME_MAX, e)),
            phone: text(user, "phone", &mut errors, |v, e| check_length(v, "phone", 0, PHONE_MAX, e)),
            website: text(user, "website", &mut errors, |v, e| check_length(v, "website", 0, WEBSITE_MAX, e))
                .map(normalise_website),
            external_user_id: integer(user, "external_user_id", &mut errors, Some(1)),
            external_id: text(user, "external_id", &mut errors, |v, e| {
                check_length(v, "external_id", 0, IDENTIFIER_MAX, e)
            }),
            facebook_id: text(user, "facebook_id", &mut errors, |v, e| {
                check_length(v, "facebook_id", 0, IDENTIFIER_MAX, e)
            }),
            twitter_id: text(user, "twitter_id", &mut errors, |v, e| {
                check_length(v, "twitter_id", 0, IDENTIFIER_MAX, e)
            }),
            custom_data: custom_data(user.get("custom_data"), &mut errors),
            tags: tags(user.get("tag_list"), &mut errors),
            avatar: text(user, "avatar", &mut errors, |v, e| check_length(v, "avatar", 0, AVATAR_MAX, e)),
            blob_id: integer(user, "blob_id", &mut errors, None),
            timezone: integer(user, "timezone", &mut errors, None),
            password: None,
            old_password: None,
        };
        if let Change::Set(tz) = input.timezone
            && !(-1440..=1440).contains(&tz)
        {
            errors.add("timezone", "is invalid");
        }
        if let Some(password) = user.get("password").text() {
            check_new_password(&password, &mut errors);
            input.password = Some(Password::new(password));
        }
        input.old_password =
            user.get("old_password").text().or_else(|| user.get("oldPassword").text()).map(Password::new);
        errors.into_result_of(input)
    }

    /// Applies the profile changes (not the password) to `user`.
    pub fn apply(&self, user: &mut User) {
        self.login.apply_to(&mut user.login);
        self.email.apply_to(&mut user.email);
        self.full_name.apply_to(&mut user.full_name);
        self.phone.apply_to(&mut user.phone);
        self.website.apply_to(&mut user.website);
        self.external_user_id.apply_to(&mut user.external_user_id);
        self.external_id.apply_to(&mut user.external_id);
        self.facebook_id.apply_to(&mut user.facebook_id);
        self.twitter_id.apply_to(&mut user.twitter_id);
        self.custom_data.apply_to(&mut user.custom_data);
        self.avatar.apply_to(&mut user.avatar);
        self.blob_id.apply_to(&mut user.blob_id);
        self.timezone.apply_to(&mut user.timezone);
        match &self.tags {
            Change::Keep => {}
            Change::Set(tags) => user.tags = tags.clone(),
            Change::Clear => user.tags.clear(),
        }
    }
}

impl FieldErrors {
    fn into_result_of<T>(self, value: T) -> Result<T, FieldErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }
}

/// The password policy (ASVS 5.0 6.2.1, 6.2.4, 6.2.5, 6.2.9): 8 to 128 characters, not a
/// common password, no composition rules.
pub fn check_new_password(password: &str, errors: &mut FieldErrors) {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN {
        errors.add("password", format!("is too short (minimum is {PASSWORD_MIN} characters)"));
    } else if chars > PASSWORD_MAX {
        errors.add("password", format!("is too long (maximum is {PASSWORD_MAX} characters)"));
    } else if passwords::analyzer::is_common_password(password) {
        errors.add("password", "is too common");
    }
}

/// Absent → keep; `null` or blank → clear; otherwise the trimmed text, checked.
fn text(
    user: Field<'_>,
    key: &str,
    errors: &mut FieldErrors,
    check: impl FnOnce(&str, &mut FieldErrors),
) -> Change<String> {
    let field = user.get(key);
    match field.value() {
        None => Change::Keep,
        Some(Value::Null) => Change::Clear,
        Some(Value::Array(_) | Value::Object(_)) => {
            errors.add(key, "is invalid");
            Change::Keep
        }
        Some(_) => {
            let Some(value) = field.text() else {
                // A number whose digits JSON reading could not keep.
                errors.add(key, "is invalid");
                return Change::Keep;
            };
            let value = value.trim().to_string();
            if value.is_empty() {
                return Change::Clear;
            }
            if value.chars().any(char::is_control) {
                errors.add(key, "is invalid");
                return Change::Keep;
            }
            check(&value, errors);
            Change::Set(value)
        }
    }
}

fn integer(user: Field<'_>, key: &str, errors: &mut FieldErrors, min: Option<i64>) -> Change<i64> {
    let field = user.get(key);
    match field.integer() {
        Err(_) => {
            errors.add(key, "must be an integer");
            Change::Keep
        }
        Ok(None) if field.value().is_none() => Change::Keep,
        Ok(None) => Change::Clear,
        Ok(Some(n)) => {
            if let Some(min) = min
                && n < min
            {
                errors.add(key, format!("must be greater than or equal to {min}"));
            }
            Change::Set(n)
        }
    }
}

fn check_length(value: &str, key: &str, min: usize, max: usize, errors: &mut FieldErrors) {
    let chars = value.chars().count();
    if chars < min {
        errors.add(key, format!("is too short (minimum is {min} characters)"));
    } else if chars > max {
        errors.add(key, format!("is too long (maximum is {max} characters)"));
    }
}

/// A deliberately plain check: one `@`, something before it, a dotted domain after it, no
/// whitespace. Deliverability is proven by mail, not by a regex.
fn check_email(value: &str, errors: &mut FieldErrors) {
    let valid = value.len() <= EMAIL_MAX
        && !value.chars().any(char::is_whitespace)
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        });
    if !valid {
        errors.add("email", "is invalid");
    }
}

/// `pavalli.com.au` is stored as `http://pavalli.com.au`, as ConnectyCube does.
fn normalise_website(url: String) -> String {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") { url } else { format!("http://{url}") }
}

impl Change<String> {
    fn map(self, f: impl FnOnce(String) -> String) -> Change<String> {
        match self {
            Change::Set(v) => Change::Set(f(v)),
            other => other,
        }
    }
}

fn custom_data(field: Field<'_>, errors: &mut FieldErrors) -> Change<String> {
    let value = match field.value() {
        None => return Change::Keep,
        Some(Value::Null) => return Change::Clear,
        Some(Value::String(s)) if s.is_empty() => return Change::Clear,
        Some(Value::String(s)) => s.clone(),
        // Clients are meant to send a string; an object is kept as its JSON text.
        Some(other) => other.to_string(),
    };
    if value.len() > CUSTOM_DATA_MAX_BYTES {
        errors.add("custom_data", format!("is too long (maximum is {CUSTOM_DATA_MAX_BYTES} bytes)"));
        return Change::Keep;
    }
    Change::Set(value)
}

/// `tag_list` as an array or a comma string: trimmed, blanks dropped, duplicates (ignoring
/// case) dropped, at most five.
fn tags(field: Field<'_>, errors: &mut FieldErrors) -> Change<Vec<String>> {
    if field.value().is_none() {
        return Change::Keep;
    }
    // A list or map of lists or objects is no tag list: refused, not read as empty.
    let nested = |v: &Value| v.is_array() || v.is_object();
    let has_nested = match field.value() {
        Some(Value::Array(items)) => items.iter().any(nested),
        Some(Value::Object(map)) => map.values().any(nested),
        _ => false,
    };
    if has_nested {
        errors.add("tag_list", "is invalid");
        return Change::Keep;
    }
    let Some(raw) = field.list() else {
        return Change::Clear;
    };
    let mut tags: Vec<String> = Vec::new();
    for tag in raw.iter().flat_map(|t| t.split(',')).map(str::trim).filter(|t| !t.is_empty()) {
        if tag.chars().count() > TAG_MAX || tag.chars().any(char::is_control) {
            errors.add("tag_list", format!("has an invalid tag (at most {TAG_MAX} characters each)"));
            return Change::Keep;
        }
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            tags.push(tag.to_string());
        }
    }
    if tags.len() > TAGS_MAX {
        errors.add("tag_list", format!("is too long (maximum is {TAGS_MAX} tags)"));
        return Change::Keep;
    }
    if tags.is_empty() { Change::Clear } else { Change::Set(tags) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tag_list_of_lists_or_objects_is_refused_not_emptied() {
        for list in [json!([{"a": 1}]), json!([["a"]]), json!({"0": ["a"]}), json!(["ok", {"b": 2}])] {
            let mut errors = FieldErrors::default();
            let user = json!({ "tag_list": list });
            assert!(matches!(tags(Field::of(&user).get("tag_list"), &mut errors), Change::Keep), "{list}");
            assert!(!errors.is_empty(), "{list}");
        }
        let mut errors = FieldErrors::default();
        let form = json!({"tag_list": {"0": "a", "1": "b"}});
        assert!(matches!(tags(Field::of(&form).get("tag_list"), &mut errors), Change::Set(t) if t == ["a", "b"]));
        let empty = json!({"tag_list": {}});
        assert!(matches!(tags(Field::of(&empty).get("tag_list"), &mut errors), Change::Clear));
        assert!(errors.is_empty());
    }

    fn parse(v: Value) -> Result<UserInput, FieldErrors> {
        UserInput::parse(Field::of(&v))
    }

    fn errors(v: Value) -> String {
        let err = parse(v).unwrap_err();
        crate::error::ApiError::Validation(err).body().to_string()
    }

    #[test]
    fn a_full_signup_body_parses_and_applies() {
        let input =
            parse(json!({"login": " john ", "email": "J@x.com", "password": "secret123!x", "full_name": "Dacia Kail ",
            "website": "pavalli.com.au", "tag_list": "vip, accountant ,vip", "custom_data": "{\"x\":1}",
            "external_user_id": "42", "timezone": 120, "id": 99, "is_guest": true, "unknown": 1}))
            .unwrap();
        let mut user = User::default();
        input.apply(&mut user);
        assert_eq!(user.login.as_deref(), Some("john"));
        assert_eq!(user.full_name.as_deref(), Some("Dacia Kail"));
        assert_eq!(user.website.as_deref(), Some("http://pavalli.com.au"));
        assert_eq!(user.tags, vec!["vip", "accountant"]);
        assert_eq!(user.external_user_id, Some(42));
        assert_eq!(user.timezone, Some(120));
        assert!(!user.is_guest, "is_guest cannot be mass-assigned");
        assert_eq!(user.id, 0, "id cannot be mass-assigned");
        assert_eq!(input.password.unwrap().expose(), "secret123!x");
    }

    #[test]
    fn tag_arrays_are_accepted_and_capped_at_five() {
        let input = parse(json!({"tag_list": ["a", "b"]})).unwrap();
        assert_eq!(input.tags, Change::Set(vec!["a".to_string(), "b".to_string()]));
        assert!(errors(json!({"tag_list": "a,b,c,d,e,f"})).contains("maximum is 5 tags"));
    }

    #[test]
    fn login_length_email_shape_and_password_policy_give_rails_messages() {
        assert_eq!(
            errors(json!({"login": "ab"})),
            r#"{"errors":{"login":["is too short (minimum is 3 characters)"]}}"#
        );
        assert!(errors(json!({"login": "x".repeat(71)})).contains("maximum is 70 characters"));
        for bad in ["nope", "a@b", "a b@c.de", "@c.de", "a@.c", "a@c..d"] {
            assert!(errors(json!({"email": bad})).contains(r#""email":["is invalid"]"#), "{bad}");
        }
        assert!(errors(json!({"password": "short"})).contains("minimum is 8 characters"));
        assert!(errors(json!({"password": "x".repeat(129)})).contains("maximum is 128 characters"));
        assert!(errors(json!({"password": "password123"})).contains("is too common"));
        assert!(parse(json!({"password": "correct horse battery staple"})).is_ok());
    }

    #[test]
    fn numbers_must_be_integers_and_timezones_plausible() {
        assert!(errors(json!({"external_user_id": "abc"})).contains("must be an integer"));
        assert!(errors(json!({"external_user_id": 0})).contains("greater than or equal to 1"));
        assert!(errors(json!({"timezone": 5000})).contains(r#""timezone":["is invalid"]"#));
    }

    #[test]
    fn null_or_blank_clears_and_absent_keeps() {
        let input = parse(json!({"full_name": null, "phone": "  ", "tag_list": ""})).unwrap();
        assert_eq!(input.full_name, Change::Clear);
        assert_eq!(input.phone, Change::Clear);
        assert_eq!(input.tags, Change::Clear);
        assert_eq!(input.email, Change::Keep);
    }

    #[test]
    fn custom_data_is_opaque_text_with_a_cap() {
        let input = parse(json!({"custom_data": {"a": 1}})).unwrap();
        assert_eq!(input.custom_data, Change::Set("{\"a\":1}".into()));
        assert!(errors(json!({"custom_data": "x".repeat(CUSTOM_DATA_MAX_BYTES + 1)})).contains("custom_data"));
    }

    #[test]
    fn old_password_accepts_the_flutter_spelling() {
        assert_eq!(parse(json!({"oldPassword": "a"})).unwrap().old_password.unwrap().expose(), "a");
        assert_eq!(parse(json!({"old_password": "b"})).unwrap().old_password.unwrap().expose(), "b");
    }

    #[test]
    fn control_characters_and_structured_values_are_invalid() {
        assert!(errors(json!({"login": "ab\u{0}cd"})).contains(r#""login":["is invalid"]"#));
        assert!(errors(json!({"full_name": {"x": 1}})).contains(r#""full_name":["is invalid"]"#));
    }
}
