//! Blobs (files in S3): the entity and its public JSON shape (contract §6.6).

use serde_json::{Map, Value, json};

use crate::clock::{Timestamp, iso8601};
use crate::crypto::random::random_bytes;
use crate::error::FieldErrors;
use crate::params::Field;

pub const NAME_MAX: usize = 100;
pub const CONTENT_TYPE_MAX: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub id: i64,
    /// Random, unguessable, also the S3 object key: the server picks it, never the client.
    pub uid: String,
    pub app_id: i64,
    pub owner_id: i64,
    pub name: String,
    pub content_type: String,
    pub public: bool,
    /// Known once the upload is declared complete (read from S3, not trusted from the client).
    pub size: Option<i64>,
    /// Bytes of the owner's daily upload quota the upload form allows (its size cap); the
    /// part the file does not use goes back when it is completed.
    pub reserved_bytes: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// Whether the owner's listing (`GET /blobs`) and count hold this blob: records made
    /// before the listing existed do not, and deleting them must not count them out.
    pub listed: bool,
}

/// A fresh uid: 128 random bits as 32 lowercase hex digits, never all digits, so a uid can
/// never be mistaken for a numeric blob id on `GET /blobs/{id|uid}`.
pub fn new_uid() -> String {
    loop {
        let uid = hex::encode(random_bytes::<16>());
        if uid.bytes().any(|b| b.is_ascii_alphabetic()) {
            return uid;
        }
    }
}

impl Blob {
    /// The public JSON object (without `blob_object_access`, which each route adds).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("uid".into(), json!(self.uid));
        m.insert("content_type".into(), json!(self.content_type));
        m.insert("name".into(), json!(self.name));
        m.insert("size".into(), json!(self.size));
        m.insert("public".into(), json!(self.public));
        m.insert("created_at".into(), json!(iso8601(self.created_at)));
        m.insert("updated_at".into(), json!(iso8601(self.updated_at)));
        m.insert("blob_status".into(), if self.completed_at.is_some() { json!("complete") } else { Value::Null });
        m.insert("set_completed_at".into(), json!(self.completed_at.map(iso8601)));
        Value::Object(m)
    }
}

/// What a client may say about a new blob: `{"blob":{"name","content_type","public"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlob {
    pub name: String,
    pub content_type: String,
    pub public: bool,
}

impl NewBlob {
    pub fn parse(blob: Field<'_>) -> Result<NewBlob, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = blob.get("name").non_blank().map(|n| n.trim().to_string());
        match &name {
            None => errors.add("name", "can't be blank"),
            Some(n) if n.chars().count() > NAME_MAX => {
                errors.add("name", format!("is too long (maximum is {NAME_MAX} characters)"))
            }
            Some(n) if n.chars().any(char::is_control) => errors.add("name", "is invalid"),
            _ => {}
        }
        let content_type = blob.get("content_type").non_blank().map(|c| c.trim().to_ascii_lowercase());
        match &content_type {
            None => errors.add("content_type", "can't be blank"),
            Some(c) if !is_mime_type(c) => errors.add("content_type", "is invalid"),
            _ => {}
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewBlob {
            name: name.expect("checked"),
            content_type: content_type.expect("checked"),
            // The docs make blobs private by default (the JS SDK sends `public` itself).
            public: blob.get("public").truthy(),
        })
    }
}

/// `type/subtype` from RFC 6838's restricted name characters, with optional parameters.
fn is_mime_type(value: &str) -> bool {
    if value.len() > CONTENT_TYPE_MAX {
        return false;
    }
    let essence = value.split(';').next().unwrap_or("").trim();
    let token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    matches!(essence.split_once('/'), Some((kind, sub)) if token(kind) && token(sub))
        && !value.chars().any(|c| c.is_control())
}

/// A presigned access to a blob's object, as `blob_object_access` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectAccess {
    /// The upload: the presigned POST's URL with its form fields (`params`).
    Write { expires: String, params: String },
    /// A download link.
    Read { expires: String, download_url: String },
}

impl ObjectAccess {
    /// The blob's JSON with its `blob_object_access`.
    pub fn blob_json(&self, blob: &Blob) -> serde_json::Value {
        let mut access = serde_json::json!({ "id": blob.id, "blob_id": blob.id });
        match self {
            ObjectAccess::Write { expires, params } => {
                access["expires"] = expires.clone().into();
                access["object_access_type"] = "Write".into();
                access["params"] = params.clone().into();
            }
            ObjectAccess::Read { expires, download_url } => {
                access["expires"] = expires.clone().into();
                access["object_access_type"] = "Read".into();
                access["download_url"] = download_url.clone().into();
            }
        }
        let mut value = blob.to_json();
        value["blob_object_access"] = access;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_128_bit_hex_with_a_letter() {
        let uid = new_uid();
        assert_eq!(uid.len(), 32);
        assert!(uid.parse::<u128>().is_err() || uid.bytes().any(|b| b.is_ascii_alphabetic()));
        assert_ne!(new_uid(), uid);
    }

    #[test]
    fn new_blobs_need_a_name_and_a_mime_type_and_default_to_private() {
        let ok = serde_json::json!({"name": " cat.jpeg ", "content_type": "Image/JPEG"});
        let blob = NewBlob::parse(Field::of(&ok)).unwrap();
        assert_eq!((blob.name.as_str(), blob.content_type.as_str(), blob.public), ("cat.jpeg", "image/jpeg", false));
        let public = serde_json::json!({"name": "a", "content_type": "text/plain; charset=utf-8", "public": true});
        assert!(NewBlob::parse(Field::of(&public)).unwrap().public);
        for bad in [
            serde_json::json!({"content_type": "image/png"}),
            serde_json::json!({"name": "x".repeat(101), "content_type": "image/png"}),
            serde_json::json!({"name": "a", "content_type": "nonsense"}),
            serde_json::json!({"name": "a", "content_type": "image/png\r\nX-Evil: 1"}),
        ] {
            assert!(NewBlob::parse(Field::of(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let blob = Blob {
            id: 1,
            uid: "ab".into(),
            app_id: 2,
            owner_id: 3,
            name: "n".into(),
            content_type: "image/png".into(),
            public: true,
            size: None,
            reserved_bytes: 0,
            created_at: 0,
            updated_at: 0,
            completed_at: None,
            listed: true,
        };
        let v = blob.to_json();
        assert_eq!(v["size"], Value::Null);
        assert_eq!(v["blob_status"], Value::Null);
        assert!(v.get("owner_id").is_none() && v.get("app_id").is_none());
    }
}
