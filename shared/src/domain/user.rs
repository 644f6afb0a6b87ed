//! Users: the entity, its unique fields and its public JSON shape (contract §6.1).

use serde::Serialize;
use serde_json::Value;

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
    /// Serialised straight into a response body; [`User::to_json`] makes a `Value` of it.
    pub fn json(&self) -> UserJson<'_> {
        UserJson {
            id: self.id,
            created_at: iso8601(self.created_at),
            updated_at: iso8601(self.updated_at),
            login: self.login.as_deref(),
            full_name: self.full_name.as_deref(),
            last_request_at: self.last_request_at.map(iso8601),
            timezone: self.timezone,
            email: self.email.as_deref(),
            phone: self.phone.as_deref(),
            website: self.website.as_deref(),
            twitter_id: self.twitter_id.as_deref(),
            external_user_id: self.external_user_id,
            facebook_id: self.facebook_id.as_deref(),
            custom_data: self.custom_data.as_deref(),
            user_tags: (!self.tags.is_empty()).then(|| self.tags.join(",")),
            avatar: self.avatar.as_deref(),
            blob_id: self.blob_id,
            external_id: self.external_id.as_deref(),
            is_guest: self.is_guest.then_some(true),
        }
    }

    /// [`User::json`] as a `Value`, for answers that add to it or nest it in a `Value`.
    pub fn to_json(&self) -> Value {
        crate::http::json_value(&self.json())
    }
}

/// A user as the API shows it ([`User::json`]); the fields serialise in declaration order.
#[derive(Debug, Serialize)]
pub struct UserJson<'a> {
    id: i64,
    created_at: String,
    updated_at: String,
    login: Option<&'a str>,
    full_name: Option<&'a str>,
    last_request_at: Option<String>,
    timezone: Option<i64>,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    website: Option<&'a str>,
    twitter_id: Option<&'a str>,
    external_user_id: Option<i64>,
    facebook_id: Option<&'a str>,
    custom_data: Option<&'a str>,
    user_tags: Option<String>,
    avatar: Option<&'a str>,
    blob_id: Option<i64>,
    external_id: Option<&'a str>,
    /// `true` for guests, `null` (not `false`) for everyone else.
    is_guest: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
