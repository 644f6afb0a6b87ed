//! Users: the entity, its unique fields and its public JSON shape (contract §6.1).

use serde_json::{Map, Value, json};

use crate::clock::{Timestamp, iso8601};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub id: i64,
    pub app_id: i64,
    pub login: Option<String>,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub external_user_id: Option<i64>,
    pub external_id: Option<String>,
    pub facebook_id: Option<String>,
    pub twitter_id: Option<String>,
    pub custom_data: Option<String>,
    pub tags: Vec<String>,
    pub avatar: Option<String>,
    pub blob_id: Option<i64>,
    pub timezone: Option<i64>,
    pub is_guest: bool,
    /// argon2id PHC string; `None` for guests and users of external identity providers.
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_request_at: Option<Timestamp>,
    /// Guests only: when the user ceases to exist.
    pub expires_at: Option<Timestamp>,
    /// Incremented by every profile write; writes are conditional on it (optimistic locking).
    pub version: i64,
    /// External identities that sign this user in, each `<provider>:<issuer>:<subject>`
    /// (`firebase_phone:<project>:<uid>`, `cidp:<app>:<uid>`). Never shown; each has a
    /// uniqueness marker, so one identity maps to exactly one user and one provider can never
    /// claim another's user (ASVS 6.8.1).
    pub identities: Vec<String>,
    /// Brought over from another ConnectyCube service without a password (`users import`):
    /// its first password login is checked there, then the password is kept here (lazy
    /// migration). Cleared once it has a password.
    pub awaiting_password: bool,
}

/// The fields that are unique per application, each guarded by a marker item written in the
/// same transaction as the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniqueField {
    Login,
    Email,
    ExternalUserId,
    ExternalId,
    FacebookId,
    TwitterId,
    /// An external identity (see [`User::identities`]).
    Identity,
}

impl UniqueField {
    pub const ALL: [UniqueField; 7] = [
        UniqueField::Login,
        UniqueField::Email,
        UniqueField::ExternalUserId,
        UniqueField::ExternalId,
        UniqueField::FacebookId,
        UniqueField::TwitterId,
        UniqueField::Identity,
    ];

    /// The parameter name, also the key of its 422 error.
    pub fn name(self) -> &'static str {
        match self {
            UniqueField::Login => "login",
            UniqueField::Email => "email",
            UniqueField::ExternalUserId => "external_user_id",
            UniqueField::ExternalId => "external_id",
            UniqueField::FacebookId => "facebook_id",
            UniqueField::TwitterId => "twitter_id",
            UniqueField::Identity => "identity",
        }
    }

    /// Normalises a value for uniqueness and lookup: logins and emails are compared
    /// case-insensitively, identifiers exactly.
    pub fn normalise(self, value: &str) -> String {
        match self {
            UniqueField::Login | UniqueField::Email => value.trim().to_lowercase(),
            _ => value.trim().to_string(),
        }
    }
}

impl User {
    /// The user's current values of every unique field, normalised.
    pub fn unique_values(&self) -> Vec<(UniqueField, String)> {
        let external_user_id = self.external_user_id.map(|id| id.to_string());
        let values = [
            (UniqueField::Login, self.login.as_deref()),
            (UniqueField::Email, self.email.as_deref()),
            (UniqueField::ExternalUserId, external_user_id.as_deref()),
            (UniqueField::ExternalId, self.external_id.as_deref()),
            (UniqueField::FacebookId, self.facebook_id.as_deref()),
            (UniqueField::TwitterId, self.twitter_id.as_deref()),
        ];
        let fields = values.into_iter().filter_map(|(field, value)| value.map(|v| (field, field.normalise(v))));
        fields.chain(self.identities.iter().map(|id| (UniqueField::Identity, id.clone()))).collect()
    }

    /// Whether the user still exists at `now` (guests expire).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// The public JSON object: every field present, `null` when unset, in the field order of
    /// ConnectyCube's live replies. `user_tags` is a comma string (Flutter splits it on `,`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("created_at".into(), json!(iso8601(self.created_at)));
        m.insert("updated_at".into(), json!(iso8601(self.updated_at)));
        m.insert("login".into(), json!(self.login));
        m.insert("full_name".into(), json!(self.full_name));
        m.insert("last_request_at".into(), json!(self.last_request_at.map(iso8601)));
        m.insert("timezone".into(), json!(self.timezone));
        m.insert("email".into(), json!(self.email));
        m.insert("phone".into(), json!(self.phone));
        m.insert("website".into(), json!(self.website));
        m.insert("twitter_id".into(), json!(self.twitter_id));
        m.insert("external_user_id".into(), json!(self.external_user_id));
        m.insert("facebook_id".into(), json!(self.facebook_id));
        m.insert("custom_data".into(), json!(self.custom_data));
        let tags = if self.tags.is_empty() { Value::Null } else { json!(self.tags.join(",")) };
        m.insert("user_tags".into(), tags);
        m.insert("avatar".into(), json!(self.avatar));
        m.insert("blob_id".into(), json!(self.blob_id));
        m.insert("external_id".into(), json!(self.external_id));
        m.insert("is_guest".into(), if self.is_guest { json!(true) } else { Value::Null });
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_with_nulls_and_a_comma_tag_string() {
        let user = User {
            id: 7,
            login: Some("john".into()),
            tags: vec!["vip".into(), "accountant".into()],
            created_at: 1_700_000_000,
            updated_at: 1_700_000_000,
            ..User::default()
        };
        let v = user.to_json();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "created_at",
                "updated_at",
                "login",
                "full_name",
                "last_request_at",
                "timezone",
                "email",
                "phone",
                "website",
                "twitter_id",
                "external_user_id",
                "facebook_id",
                "custom_data",
                "user_tags",
                "avatar",
                "blob_id",
                "external_id",
                "is_guest"
            ]
        );
        assert_eq!(v["user_tags"], json!("vip,accountant"));
        assert_eq!(v["email"], Value::Null);
        assert_eq!(v["is_guest"], Value::Null);
        assert_eq!(v["created_at"], json!("2023-11-14T22:13:20Z"));
        assert!(v.get("password_hash").is_none() && !v.to_string().contains("argon2"));
    }

    #[test]
    fn unique_values_are_normalised() {
        let user = User {
            login: Some("John".into()),
            email: Some("J@X.com".into()),
            external_user_id: Some(42),
            ..User::default()
        };
        assert_eq!(
            user.unique_values(),
            vec![
                (UniqueField::Login, "john".into()),
                (UniqueField::Email, "j@x.com".into()),
                (UniqueField::ExternalUserId, "42".into())
            ]
        );
    }

    #[test]
    fn guests_expire() {
        let guest = User { expires_at: Some(100), is_guest: true, ..User::default() };
        assert!(guest.is_live(99));
        assert!(!guest.is_live(100));
        assert!(User::default().is_live(i64::MAX));
    }
}
