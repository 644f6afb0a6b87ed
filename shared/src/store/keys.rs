//! The single-table key layout. Every item has a string partition key `pk` and sort key `sk`.
//!
//! | item                | pk                                   | sk                |
//! |---------------------|--------------------------------------|-------------------|
//! | application         | `APP#<id>`                           | `#APP`            |
//! | auth key → app      | `AUTHKEY#<auth_key>`                 | `#AUTHKEY`        |
//! | user                | `USER#<id>`                          | `#USER`           |
//! | user's session link | `USER#<id>`                          | `SESSION#<hash>`  |
//! | session             | `SESSION#<sha256(token)>`            | `#SESSION`        |
//! | unique marker       | `UNIQUE#<app>#<field>#<normalised>`  | `#UNIQUE`         |
//! | search item         | `SEARCH#<app>#<field>#<first 4>`     | `<value>␁<id>`    |
//! | tag item            | `TAG#<app>#<tag>`                    | `<id>`            |
//! | tag item by date    | `TAGC#<app>#<tag>`                   | `<created>#<id>`  |
//! | signature nonce     | `NONCE#<app>#<timestamp>#<nonce>`    | `#NONCE`          |
//! | id counter          | `COUNTER#<name>`                     | `#COUNTER`        |
//!
//! Search and tag items carry the user's `created_at`, and tag items all of the user's tags,
//! so that a search decides those conditions without reading users.
//!
//! A user's sessions live in the user's own partition as link items, so revoking every
//! session of a user is one strongly consistent `Query` plus one transaction.
//!
//! User items also carry `app_shard` = `USERS#<app>#<id mod 8>`, the partition key of the
//! `users_by_*` indexes that list an application's users in order (V1 listing). Eight shards
//! keep one busy application from concentrating every user write on one index partition.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::search::{SearchField, bucket};
use crate::domain::user::UniqueField;
use crate::store::item::Item;

/// DynamoDB's limits on a string key, in UTF-8 bytes: 2,048 for a partition key, 1,024 for
/// a sort key. A request naming a longer key fails with a validation error (a 5xx for us),
/// so every key is checked before it is sent.
pub const PK_MAX_BYTES: usize = 2048;
pub const SK_MAX_BYTES: usize = 1024;

/// Whether DynamoDB can store an item under `key` (its `pk` and `sk`, when present).
pub fn fits(key: &Item) -> bool {
    let within = |name: &str, max: usize| match key.get(name) {
        Some(AttributeValue::S(value)) => value.len() <= max,
        _ => true,
    };
    within("pk", PK_MAX_BYTES) && within("sk", SK_MAX_BYTES)
}

/// The longest value a search item's sort key holds (the rest is `#` and a 12-digit id):
/// longer values are cut there, at a character boundary, and matched in full on the item's
/// `value` attribute.
pub const SEARCH_VALUE_MAX_BYTES: usize = SK_MAX_BYTES - 13;

/// `value` cut to at most `max` bytes at a character boundary.
pub fn truncate_bytes(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

pub fn app(id: i64) -> (String, String) {
    (format!("APP#{id}"), "#APP".into())
}

/// The partition listing applications created with kept credentials (ids the counter did
/// not hand out), so that `apps list` finds them without a Scan.
pub const KEPT_APPS: &str = "APPS#KEPT";

pub fn kept_app(id: i64) -> (String, String) {
    (KEPT_APPS.into(), format!("{id:020}"))
}

pub fn auth_key(key: &str) -> (String, String) {
    (format!("AUTHKEY#{key}"), "#AUTHKEY".into())
}

pub fn user(id: i64) -> (String, String) {
    (user_pk(id), "#USER".into())
}

pub fn user_pk(id: i64) -> String {
    format!("USER#{id}")
}

pub const SESSION_LINK_PREFIX: &str = "SESSION#";

pub fn session_link(user_id: i64, token_hash: &str) -> (String, String) {
    (user_pk(user_id), format!("{SESSION_LINK_PREFIX}{token_hash}"))
}

pub fn session(token_hash: &str) -> (String, String) {
    (format!("SESSION#{token_hash}"), "#SESSION".into())
}

pub fn unique(app_id: i64, field: UniqueField, normalised: &str) -> (String, String) {
    (format!("UNIQUE#{app_id}#{}#{normalised}", field.name()), "#UNIQUE".into())
}

pub fn nonce(app_id: i64, timestamp: i64, nonce: &str) -> (String, String) {
    (format!("NONCE#{app_id}#{timestamp}#{nonce}"), "#NONCE".into())
}

pub fn counter(name: &str) -> (String, String) {
    (format!("COUNTER#{name}"), "#COUNTER".into())
}

pub fn search_pk(app_id: i64, field: SearchField, bucket: &str) -> String {
    format!("SEARCH#{app_id}#{}#{bucket}", field.name())
}

/// What ends the value in a search item's sort key: U+0001, below every character a
/// normalised value can hold (normalising drops control characters), so that the keys sort
/// exactly as their values do ("anna" before "anna maria"; a `#` would put "anna maria"
/// first, since a space sorts below it) and an exact value's prefix matches that value only.
pub const SEARCH_VALUE_END: char = '\u{1}';

/// A search item: partition by the value's first characters, sort by value (cut to
/// [`SEARCH_VALUE_MAX_BYTES`]) then user id.
pub fn search(app_id: i64, field: SearchField, normalised: &str, user_id: i64) -> (String, String) {
    let sorted = truncate_bytes(normalised, SEARCH_VALUE_MAX_BYTES);
    (search_pk(app_id, field, bucket(normalised)), format!("{sorted}{SEARCH_VALUE_END}{user_id:012}"))
}

/// The sort-key prefix of the search items of exactly `normalised` (when it fits a key).
pub fn search_value_prefix(normalised: &str) -> String {
    format!("{normalised}{SEARCH_VALUE_END}")
}

/// A search item's key as versions before [`SEARCH_VALUE_END`] wrote it (`<value>#<id>`):
/// `users reindex` deletes it.
pub fn legacy_search(app_id: i64, field: SearchField, normalised: &str, user_id: i64) -> (String, String) {
    let sorted = truncate_bytes(normalised, SEARCH_VALUE_MAX_BYTES);
    (search_pk(app_id, field, bucket(normalised)), format!("{sorted}#{user_id:012}"))
}

pub fn tag_pk(app_id: i64, tag: &str) -> String {
    format!("TAG#{app_id}#{tag}")
}

pub fn tag(app_id: i64, tag: &str, user_id: i64) -> (String, String) {
    (tag_pk(app_id, tag), format!("{user_id:012}"))
}

/// A tag item in `created_at` order: the partition of the tag's users by signup date, so
/// that a date range beside a tag is a key condition.
pub fn tag_created_pk(app_id: i64, tag: &str) -> String {
    format!("TAGC#{app_id}#{tag}")
}

pub fn tag_created(app_id: i64, tag: &str, created_at: i64, user_id: i64) -> (String, String) {
    (tag_created_pk(app_id, tag), format!("{}#{user_id:012}", sortable(created_at)))
}

/// The sort-key range of [`tag_created`] items created from `from` to `to`, both included.
pub fn tag_created_range(from: i64, to: i64) -> (String, String) {
    (format!("{}#", sortable(from)), format!("{}#~", sortable(to)))
}

/// A signed number as text that sorts as the number does (negative dates included).
fn sortable(value: i64) -> String {
    format!("{:020}", (value as u64) ^ (1 << 63))
}

/// Shards of an application's user listing indexes.
pub const APP_SHARDS: i64 = 8;

pub fn app_shard(app_id: i64, user_id: i64) -> String {
    format!("USERS#{app_id}#{}", user_id.rem_euclid(APP_SHARDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_keys_sort_as_their_values_then_ids() {
        let key = |value: &str, id| search(1, SearchField::FullName, value, id).1;
        let mut keys = vec![key("anna maria", 2), key("anna!", 3), key("anna", 9), key("anna", 10), key("annb", 1)];
        keys.sort();
        assert_eq!(keys, [key("anna", 9), key("anna", 10), key("anna maria", 2), key("anna!", 3), key("annb", 1)]);
        assert!(!key("anna#!", 4).starts_with(&search_value_prefix("anna")), "an exact prefix is that value only");
    }

    #[test]
    fn dated_tag_keys_sort_as_their_dates_then_ids() {
        let dates = [i64::MIN, -86_400, -1, 0, 1, 1_700_000_000, i64::MAX];
        let keys: Vec<String> = dates.iter().map(|d| tag_created(1, "t", *d, 7).1).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "text order is date order, negative dates included");
        assert!(tag_created(1, "t", 5, 2).1 < tag_created(1, "t", 5, 10).1, "equal dates by id");
        let (from, to) = tag_created_range(0, 1);
        for (date, inside) in [(-1, false), (0, true), (1, true), (2, false)] {
            let key = tag_created(1, "t", date, 999_999_999_999).1;
            assert_eq!(from <= key && key <= to, inside, "{date}");
        }
    }
}
