//! Users as ConnectyCube returns them (the `items` of `GET /users/v2`, or V1's
//! `{"user": {…}}`), read for `cube-auth users import` and written by `users export`, so that
//! a user base moves between services and a backup round-trips.

use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::domain::dates::parse_date;
use crate::domain::user::User;
use crate::domain::user_input::UserInput;
use crate::error::ApiError;
use crate::params::Field;

/// Why a user from an export cannot be brought over as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected(pub String);

/// The user an exported object describes, in application `app_id`, with its id, fields
/// and timestamps kept, no password yet (see [`User::awaiting_password`]). Fields are
/// checked as a signup checks them.
pub fn user_from_export(value: &Value, app_id: i64, now: Timestamp) -> Result<User, Rejected> {
    let object = value.get("user").filter(|u| u.is_object()).unwrap_or(value);
    let Some(fields) = object.as_object() else { return Err(Rejected("not a JSON object".into())) };
    let id = fields
        .get("id")
        .and_then(|id| id.as_i64().or_else(|| id.as_str().and_then(|s| s.trim().parse().ok())))
        .filter(|id| (1..=i64::from(i32::MAX)).contains(id))
        .ok_or_else(|| Rejected(format!("id must be a number from 1 to {}", i32::MAX)))?;
    if fields.get("is_guest").and_then(Value::as_bool) == Some(true) {
        return Err(Rejected("a guest user (guests cannot sign in again, so they are not moved)".into()));
    }
    // The export names the tags `user_tags`; a signup names them `tag_list`.
    let mut input_fields = fields.clone();
    if let Some(tags) = input_fields.remove("user_tags") {
        input_fields.insert("tag_list".into(), tags);
    }
    input_fields.remove("password");
    let input_value = Value::Object(input_fields);
    let input = UserInput::parse(Field::of(&input_value))
        .map_err(|errors| Rejected(format!("invalid fields: {}", ApiError::Validation(errors).body()["errors"])))?;
    if input.login.is_keep_or_clear() && input.email.is_keep_or_clear() {
        return Err(Rejected("neither login nor email (no one could sign in as this user)".into()));
    }
    let date = |name: &str| fields.get(name).and_then(Value::as_str).and_then(parse_date);
    let created_at = date("created_at").unwrap_or(now);
    let mut user = User {
        id,
        app_id,
        created_at,
        updated_at: date("updated_at").unwrap_or(created_at),
        last_request_at: date("last_request_at"),
        awaiting_password: true,
        ..User::default()
    };
    input.apply(&mut user);
    Ok(user)
}

/// The object `users export` writes for `user`: the V2 item, as ConnectyCube shows it.
pub fn export_of(user: &User) -> Value {
    user.to_json()
}

/// Whether `stored` is what importing `incoming` wrote (so importing it again changes
/// nothing): the same application and the same exported fields. Timestamps are left out:
/// an export without them is stamped with the time of each run, and a user who has signed in
/// here since has a newer `last_request_at`.
pub fn same_import(stored: &User, incoming: &User) -> bool {
    let fields = |user: &User| {
        let mut value = export_of(user);
        if let Some(map) = value.as_object_mut() {
            for stamp in ["created_at", "updated_at", "last_request_at"] {
                map.remove(stamp);
            }
        }
        value
    };
    stored.app_id == incoming.app_id && fields(stored) == fields(incoming)
}

/// One line of a JSON-lines export, or the elements of a JSON array export.
pub fn split_export(text: &str) -> Result<Vec<Value>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(_) => Err("the file starts with [ but is not a JSON array".into()),
            Err(error) => Err(format!("the JSON array does not parse: {error}")),
        };
    }
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| json!({ "__unparsed": e.to_string() })))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported() -> Value {
        json!({"id": 4021, "created_at": "2019-03-04T10:00:00Z", "updated_at": "2020-01-02T03:04:05Z",
            "login": "marta", "full_name": "Marta K", "last_request_at": "2021-05-06T07:08:09Z",
            "timezone": 120, "email": "marta@example.com", "phone": "+380501112233",
            "website": "https://marta.example", "twitter_id": null, "external_user_id": 77,
            "facebook_id": "fb-1", "custom_data": "{\"level\":3}", "user_tags": "vip,beta",
            "avatar": "https://cdn.example/a.png", "blob_id": 9, "external_id": "crm-5"})
    }

    #[test]
    fn an_exported_user_keeps_its_id_fields_and_timestamps_and_has_no_password_yet() {
        let user = user_from_export(&exported(), 12, 1).unwrap();
        assert_eq!((user.id, user.app_id), (4021, 12));
        assert_eq!(user.login.as_deref(), Some("marta"));
        assert_eq!(user.tags, ["vip", "beta"]);
        assert_eq!(user.created_at, 1_551_693_600);
        assert_eq!(user.updated_at, 1_577_934_245);
        assert_eq!(user.last_request_at, Some(1_620_284_889));
        assert!(user.awaiting_password && user.password_hash.is_none());
        let mut round = export_of(&user);
        let mut original = exported();
        // Written back exactly as read (a backup round-trips).
        round.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        original.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        assert_eq!(round, original);
    }

    #[test]
    fn v1_wrapped_users_and_string_ids_are_read() {
        let wrapped = json!({"user": {"id": "17", "email": "a@example.com"}});
        assert_eq!(user_from_export(&wrapped, 1, 0).unwrap().id, 17);
    }

    #[test]
    fn what_cannot_be_a_user_here_is_rejected_with_the_reason() {
        let reason = |v: Value| user_from_export(&v, 1, 0).unwrap_err().0;
        assert!(reason(json!({"login": "x1y2z3"})).contains("id must be"));
        assert!(reason(json!({"id": 0, "login": "x1y2z3"})).contains("id must be"));
        assert!(reason(json!({"id": 1, "login": "guest_1", "is_guest": true})).contains("guest"));
        assert!(reason(json!({"id": 1, "full_name": "nobody"})).contains("neither login nor email"));
        assert!(reason(json!({"id": 1, "email": "not-an-email"})).contains("email"));
        assert!(reason(json!([1, 2])).contains("not a JSON object"));
    }

    #[test]
    fn exports_are_json_lines_or_one_array() {
        assert_eq!(split_export("{\"id\":1}\n\n{\"id\":2}\n").unwrap().len(), 2);
        assert_eq!(split_export(" [{\"id\":1},{\"id\":2},{\"id\":3}]").unwrap().len(), 3);
        assert!(split_export("{oops\n").unwrap()[0].get("__unparsed").is_some());
        assert!(split_export("[1,").is_err());
    }
}
