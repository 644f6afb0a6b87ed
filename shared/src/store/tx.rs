//! A write transaction under construction. Each guarded action carries a [`Claim`] saying
//! what its condition protects, so that when DynamoDB cancels the transaction we can say
//! *which* guard failed (e.g. "login has already been taken") without parsing strings.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};

use crate::domain::user::UniqueField;
use crate::store::item::{Item, n};

/// What a conditional action in a transaction guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// A unique-field marker: the value is taken.
    Unique(UniqueField),
    /// A signature nonce: the request is a replay.
    Nonce,
    /// The session must still exist and be live.
    SessionLive,
    /// The user must still exist.
    UserExists,
    /// A brand-new item whose key must be free (ids, auth keys).
    NewItem,
    /// A record must be unchanged since it was read (optimistic concurrency).
    Unchanged,
    /// A rate-limit counter must have room left.
    RateLimit,
    /// The account's lockout count must have room (it is not locked).
    Locked,
    /// A password-reset token must still be unused, live and current.
    ResetToken,
}

impl Claim {
    /// The unique fields among `claims` whose values were taken, by name.
    pub fn taken_fields(claims: &[Claim]) -> Vec<&'static str> {
        claims
            .iter()
            .filter_map(|claim| match claim {
                Claim::Unique(field) => Some(field.name()),
                _ => None,
            })
            .collect()
    }
}

/// One action plus the claim its condition protects (if it has a condition).
pub(crate) struct Action {
    pub(crate) write: TransactWriteItem,
    pub(crate) claim: Option<Claim>,
}

/// An update expression with its placeholders.
#[derive(Default, Clone)]
pub struct Expr {
    pub text: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub fn new(text: impl Into<String>) -> Self {
        Expr { text: text.into(), ..Expr::default() }
    }

    pub fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names.insert(placeholder.into(), name.into());
        self
    }

    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }
}

#[derive(Default)]
pub struct Tx {
    pub(crate) actions: Vec<Action>,
}

impl Tx {
    pub fn new() -> Self {
        Tx::default()
    }

    /// Adds every action of `other`, after this one's.
    pub fn append(&mut self, other: Tx) {
        self.actions.extend(other.actions);
    }

    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// The items this transaction puts, conditions dropped: for seeding an empty table in
    /// bulk with exactly the items a transaction writes (tests and benchmarks).
    pub fn into_puts(self) -> Vec<Item> {
        self.actions.into_iter().filter_map(|action| action.write.put.map(|put| put.item)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Puts an item whose key must not exist yet.
    pub fn put_new(&mut self, table: &str, item: Item, claim: Claim) {
        self.put_conditional(table, item, Expr::new("attribute_not_exists(pk)"), claim);
    }

    /// Puts an item whose key must be free, where an expired (TTL-pending) holder counts as
    /// free: DynamoDB's TTL deletes days late, so an expired guest's marker must not block a
    /// new user.
    pub fn put_new_or_expired(&mut self, table: &str, item: Item, now: i64, claim: Claim) {
        let cond = Expr::new("attribute_not_exists(pk) OR expires_at <= :now").value(":now", n(now));
        self.put_conditional(table, item, cond, claim);
    }

    pub fn put_conditional(&mut self, table: &str, item: Item, cond: Expr, claim: Claim) {
        let mut put = Put::builder().table_name(table).set_item(Some(item)).condition_expression(cond.text);
        put = put.set_expression_attribute_names(non_empty(cond.names));
        put = put.set_expression_attribute_values(non_empty(cond.values));
        let write = TransactWriteItem::builder().put(put.build().expect("table and item are set")).build();
        self.actions.push(Action { write, claim: Some(claim) });
    }

    /// Puts (or overwrites) an item unconditionally.
    pub fn put(&mut self, table: &str, item: Item) {
        let put = Put::builder().table_name(table).set_item(Some(item)).build().expect("table and item are set");
        self.actions.push(Action { write: TransactWriteItem::builder().put(put).build(), claim: None });
    }

    /// Deletes an item (absent is fine).
    pub fn delete(&mut self, table: &str, key: Item) {
        let delete = Delete::builder().table_name(table).set_key(Some(key)).build().expect("table and key are set");
        self.actions.push(Action { write: TransactWriteItem::builder().delete(delete).build(), claim: None });
    }

    /// Deletes an item only if `cond` holds.
    pub fn delete_if(&mut self, table: &str, key: Item, cond: Expr, claim: Claim) {
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(cond.text)
            .set_expression_attribute_names(non_empty(cond.names))
            .set_expression_attribute_values(non_empty(cond.values))
            .build()
            .expect("table and key are set");
        self.actions.push(Action { write: TransactWriteItem::builder().delete(delete).build(), claim: Some(claim) });
    }

    /// Updates an item; `cond` (with its own placeholders) guards it when given.
    pub fn update(&mut self, table: &str, key: Item, set: Expr, cond: Option<(Expr, Claim)>) {
        let mut names = set.names;
        let mut values = set.values;
        let mut update = Update::builder().table_name(table).set_key(Some(key)).update_expression(set.text);
        let claim = cond.map(|(cond, claim)| {
            names.extend(cond.names);
            values.extend(cond.values);
            update = update.clone().condition_expression(cond.text);
            claim
        });
        let update = update
            .set_expression_attribute_names(non_empty(names))
            .set_expression_attribute_values(non_empty(values))
            .build()
            .expect("table, key and expression are set");
        self.actions.push(Action { write: TransactWriteItem::builder().update(update).build(), claim });
    }

    /// Requires `cond` to hold on an item without writing it.
    pub fn check(&mut self, table: &str, key: Item, cond: Expr, claim: Claim) {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(cond.text)
            .set_expression_attribute_names(non_empty(cond.names))
            .set_expression_attribute_values(non_empty(cond.values))
            .build()
            .expect("table, key and condition are set");
        self.actions
            .push(Action { write: TransactWriteItem::builder().condition_check(check).build(), claim: Some(claim) });
    }

    /// Moves every action of `other` into this transaction.
    /// The key (or whole item, for a put) each action names.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Item> {
        self.actions.iter().filter_map(|action| {
            let w = &action.write;
            w.put.as_ref().map(|p| &p.item).or_else(|| {
                w.update
                    .as_ref()
                    .map(|u| &u.key)
                    .or_else(|| w.delete.as_ref().map(|d| &d.key))
                    .or_else(|| w.condition_check.as_ref().map(|c| &c.key))
            })
        })
    }

    pub fn extend(&mut self, other: Tx) {
        self.actions.extend(other.actions);
    }
}

fn non_empty<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    if map.is_empty() { None } else { Some(map) }
}
