//! Conversions between DynamoDB attribute maps and plain values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

/// Builds an item attribute by attribute; `None` values are left out rather than stored as
/// NULL, so that sparse index attributes stay sparse.
#[derive(Default)]
pub struct ItemBuilder(Item);

impl ItemBuilder {
    pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        ItemBuilder::default().s("pk", pk).s("sk", sk)
    }

    pub fn s(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), AttributeValue::S(value.into()));
        self
    }

    pub fn opt_s(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.s(name, v),
            None => self,
        }
    }

    pub fn n(mut self, name: &str, value: i64) -> Self {
        self.0.insert(name.into(), AttributeValue::N(value.to_string()));
        self
    }

    pub fn opt_n(self, name: &str, value: Option<i64>) -> Self {
        match value {
            Some(v) => self.n(name, v),
            None => self,
        }
    }

    pub fn bool(mut self, name: &str, value: bool) -> Self {
        self.0.insert(name.into(), AttributeValue::Bool(value));
        self
    }

    /// A flag that is only written when set (most items never carry it).
    pub fn flag_if(mut self, name: &str, value: bool) -> Self {
        if value {
            self.0.insert(name.into(), AttributeValue::Bool(true));
        }
        self
    }

    /// A list of strings (kept in order; an empty list is left out).
    pub fn list(mut self, name: &str, values: &[String]) -> Self {
        if !values.is_empty() {
            self.0.insert(name.into(), AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect()));
        }
        self
    }

    pub fn build(self) -> Item {
        self.0
    }
}

/// Typed reads from an item.
pub trait ItemExt {
    fn str(&self, name: &str) -> Option<String>;
    fn int(&self, name: &str) -> Option<i64>;
    fn flag(&self, name: &str) -> bool;
    fn strings(&self, name: &str) -> Vec<String>;
}

impl ItemExt for Item {
    fn str(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(AttributeValue::S(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some(AttributeValue::Bool(true)))
    }

    fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(AttributeValue::L(items)) => items.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            Some(AttributeValue::Ss(items)) => items.clone(),
            _ => Vec::new(),
        }
    }
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key of an item as an attribute map.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Whether a TTL-bearing item is past its end. DynamoDB deletes expired items only within
/// days, so every read applies this rule itself.
pub fn is_expired(item: &Item, now: i64) -> bool {
    item.int("expires_at").is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_reader_round_trip_and_skip_none() {
        let item = ItemBuilder::key("P", "S")
            .s("a", "x")
            .opt_s("b", None)
            .n("c", 42)
            .opt_n("d", None)
            .bool("e", true)
            .list("f", &["p".into(), "q".into()])
            .list("g", &[])
            .build();
        assert_eq!(item.str("a").as_deref(), Some("x"));
        assert!(!item.contains_key("b") && !item.contains_key("d") && !item.contains_key("g"));
        assert_eq!(item.int("c"), Some(42));
        assert!(item.flag("e"));
        assert_eq!(item.strings("f"), vec!["p", "q"]);
        assert_eq!(item.str("pk").as_deref(), Some("P"));
    }

    #[test]
    fn expiry_is_checked_on_read() {
        let item = ItemBuilder::key("P", "S").n("expires_at", 100).build();
        assert!(!is_expired(&item, 99));
        assert!(is_expired(&item, 100));
        assert!(!is_expired(&ItemBuilder::key("P", "S").build(), i64::MAX));
    }
}
