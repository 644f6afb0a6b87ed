//! Reading one ordered partition of index items a page at a time (user search).
//!
//! A search walks index items (search, tag and listing items) in key order and stops as soon
//! as it has what it needs, so that its cost follows the page it answers, not the number of
//! users who match. A [`Cursor`] holds one partition's position: the entries fetched but not
//! yet taken and DynamoDB's key to go on from.

use std::collections::{HashMap, VecDeque};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::clock::Timestamp;
use crate::store::item::{Item, ItemExt, is_expired, s};
use crate::store::{Store, StoreError, keys};

/// What an index item tells about its user without reading the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    /// The normalised value of the searched field (search items).
    pub value: Option<String>,
    /// The user's `created_at` (items written since it was recorded on them).
    pub created_at: Option<i64>,
    /// All of the user's tags (tag items written since they were recorded on them).
    pub tags: Option<Vec<String>>,
    /// The entry's place in its partition's order.
    pub rank: Rank,
}

/// An order index items can hold: by id, by a text value then id, or by a number then id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    Id(i64),
    Text(String, i64),
    Number(i64, i64),
}

/// How the entries of one partition are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Tag items: sort key is the zero-padded id.
    TagById,
    /// Tag items by date: sort key is `<created_at>#<id>`.
    TagByCreated,
    /// Search items of one exact value: `<value>#<id>`, in id order within the value.
    SearchByValue,
    /// Search items of a prefix: in value order, then id.
    SearchByPrefix,
    /// A listing index of the application's users (`users_by_*`) ordered by `attribute`.
    Listing { attribute: &'static str },
}

/// Which sort keys of a partition to walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKeys {
    /// Those starting with the prefix (all of them for an empty one).
    Prefix(String),
    /// Those from the first to the second, both included.
    Between(String, String),
}

/// One partition to walk: the table or an index, its partition key, and its sort keys.
#[derive(Debug, Clone)]
pub struct Partition {
    pub index: Option<&'static str>,
    pub key_attribute: &'static str,
    pub key: String,
    pub sort: SortKeys,
    pub layout: Layout,
    /// Search items of exactly this value only (others sharing a cut key are skipped).
    pub only_value: Option<String>,
}

impl Partition {
    /// A partition of the table itself.
    pub fn table(key: String, sort: SortKeys, layout: Layout) -> Partition {
        Partition { index: None, key_attribute: "pk", key, sort, layout, only_value: None }
    }
}

pub struct Cursor {
    partition: Partition,
    descending: bool,
    buffer: VecDeque<Entry>,
    resume: Option<HashMap<String, AttributeValue>>,
    done: bool,
}

impl Cursor {
    pub fn new(partition: Partition, descending: bool) -> Cursor {
        // A key DynamoDB could never store names an empty partition: nothing to ask for.
        let sort_bytes = match &partition.sort {
            SortKeys::Prefix(prefix) => prefix.len(),
            SortKeys::Between(from, to) => from.len().max(to.len()),
        };
        let impossible = partition.key.len() > keys::PK_MAX_BYTES || sort_bytes > keys::SK_MAX_BYTES;
        Cursor { partition, descending, buffer: VecDeque::new(), resume: None, done: impossible }
    }

    /// The next entry, without taking it; fetches pages of up to `page` items while the
    /// buffer is empty, `read` counting the items fetched, until it passes `budget` (the
    /// caller refuses then: a run of expired items costs reads too).
    pub async fn peek(
        &mut self,
        store: &Store,
        page: usize,
        now: Timestamp,
        read: &mut usize,
        budget: usize,
    ) -> Result<Option<&Entry>, StoreError> {
        while self.buffer.is_empty() && !self.done && *read <= budget {
            self.fetch(store, page, now, read).await?;
        }
        Ok(self.buffer.front())
    }

    pub fn take(&mut self) -> Option<Entry> {
        self.buffer.pop_front()
    }

    async fn fetch(&mut self, store: &Store, page: usize, now: Timestamp, read: &mut usize) -> Result<(), StoreError> {
        let p = &self.partition;
        let mut query = store
            .client
            .query()
            .table_name(store.table())
            .set_index_name(p.index.map(String::from))
            .scan_index_forward(!self.descending)
            .limit(i32::try_from(page.clamp(1, 1000)).unwrap_or(1000))
            .set_exclusive_start_key(self.resume.take())
            .expression_attribute_names("#k", p.key_attribute)
            .expression_attribute_values(":k", s(&p.key));
        // Indexes are read eventually consistently (DynamoDB offers nothing else on them).
        query = query.consistent_read(p.index.is_none());
        query = match &p.sort {
            SortKeys::Prefix(prefix) if prefix.is_empty() => query.key_condition_expression("#k = :k"),
            SortKeys::Prefix(prefix) => query
                .key_condition_expression("#k = :k AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            SortKeys::Between(from, to) => query
                .key_condition_expression("#k = :k AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to)),
        };
        let out = query.send().await.map_err(StoreError::backend)?;
        let items = out.items.unwrap_or_default();
        *read += items.len();
        self.resume = out.last_evaluated_key.filter(|key| !key.is_empty());
        self.done = self.resume.is_none();
        let layout = p.layout;
        let wanted = |entry: &Entry| p.only_value.as_ref().is_none_or(|only| entry.value.as_ref() == Some(only));
        let entries = items.iter().filter(|item| !is_expired(item, now)).filter_map(|item| entry(item, layout));
        self.buffer.extend(entries.filter(wanted));
        Ok(())
    }
}

fn entry(item: &Item, layout: Layout) -> Option<Entry> {
    let created_at = item.int("created_at");
    match layout {
        Layout::TagById | Layout::TagByCreated => {
            let id = item.int("user_id")?;
            let tags = item.contains_key("tags").then(|| item.strings("tags"));
            let rank = match (layout, created_at) {
                (Layout::TagByCreated, Some(created_at)) => Rank::Number(created_at, id),
                (Layout::TagByCreated, None) => return None,
                _ => Rank::Id(id),
            };
            Some(Entry { id, value: None, created_at, tags, rank })
        }
        Layout::SearchByValue | Layout::SearchByPrefix => {
            let id = item.int("user_id")?;
            let value = item.str("value")?;
            let rank = if layout == Layout::SearchByValue { Rank::Id(id) } else { Rank::Text(value.clone(), id) };
            Some(Entry { id, value: Some(value), created_at, tags: None, rank })
        }
        Layout::Listing { attribute } => {
            // Key-only index rows carry the table key (`USER#<id>`) and the index key.
            let id = item.str("pk")?.strip_prefix("USER#")?.parse().ok()?;
            let rank = if attribute == "id" { Rank::Id(id) } else { Rank::Number(item.int(attribute)?, id) };
            let created_at = if attribute == "created_at" { item.int(attribute) } else { None };
            Some(Entry { id, value: None, created_at, tags: None, rank })
        }
    }
}
