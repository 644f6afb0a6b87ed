//! Answers to reads, kept until a write could change them. Local mode's engine is reached only
//! through this crate's dispatch (the in-process client and the guarded port) and changes only
//! when a write passes through it or the TTL sweep runs, so a kept answer stays exact until
//! then. dynoxide keeps items as JSON text in SQLite and compiles every statement anew; a
//! repeated read (the session and user behind every authenticated request, a page of search
//! results) is answered from here without that work.
//!
//! What a write forgets:
//! - reads of named items (GetItem, BatchGetItem): those that named an item the write puts,
//!   updates or deletes. An item is matched by its key's attributes, read off the keys the
//!   reads themselves named (a read must name an item's whole key), so a written item whose
//!   key attributes all equal a kept key is that item, whatever else it holds;
//! - every Query: which items a Query finds (and in which index) depends on attributes any
//!   write can change;
//! - everything, for a write whose items cannot be read off its body (table changes, the TTL
//!   sweep, an operation not listed here).
//!
//! A read that ran while any write was in flight is not kept: the write may have landed after
//! the engine answered and before the answer would be stored.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::body::Bytes;
use serde_json::{Map, Value};

/// The cache is emptied when it would pass either bound (writes forget far sooner under any
/// real load; the bounds only stop a read-only flood from growing it without end).
const MAX_ENTRIES: usize = 16_384;
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Larger answers (big Query pages) are not worth a copy.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What a read is kept under: its operation and its body in a canonical form (the SDK writes
/// a request's maps in hash order, which differs from one request to the next).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ReadKey(Arc<str>);

/// One item: its table and its key attributes, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ItemKey(String);

impl ItemKey {
    /// Key values are plain strings on both sides that build these (reads with other keys
    /// are not kept, writes with other spellings forget everything), written as they are;
    /// anything else is written as its JSON after a different tag, so it matches nothing.
    fn of(table: &str, key: &Map<String, Value>) -> ItemKey {
        let mut attributes: Vec<(&String, &Value)> = key.iter().collect();
        attributes.sort_unstable_by_key(|(name, _)| *name);
        let mut text = String::with_capacity(table.len() + 64);
        text.push_str(table);
        text.push('\u{0}');
        for (name, value) in attributes {
            text.push_str(name);
            text.push('\u{0}');
            match value.get("S").and_then(Value::as_str).filter(|_| plain_string(value)) {
                Some(string) => {
                    text.push('S');
                    text.push_str(string);
                }
                None => {
                    let mut value = value.clone();
                    value.sort_all_objects();
                    text.push('J');
                    text.push_str(&value.to_string());
                }
            }
            text.push('\u{0}');
        }
        ItemKey(text)
    }
}

/// A read to keep, as the cache will file it.
pub(crate) struct Read {
    key: ReadKey,
    /// The operation and request of a GetItem or BatchGetItem, whose items are worked out
    /// only if its answer is kept (a hit needs only the key); `None` for a Query.
    request: Option<(&'static str, Value)>,
}

/// The reads that are kept: those the service repeats on its hot paths.
const KEPT_READS: [&str; 3] = ["GetItem", "BatchGetItem", "Query"];
/// Reads that are not kept (rare, or large).
const OTHER_READS: [&str; 5] = ["Scan", "TransactGetItems", "DescribeTable", "DescribeTimeToLive", "ListTables"];

/// Whether `operation` only reads: it runs on the engine and forgets nothing.
pub(crate) fn is_read(operation: &str) -> bool {
    KEPT_READS.contains(&operation) || OTHER_READS.contains(&operation)
}

impl Read {
    /// `operation` with `body`, or `None` when it is not a kept read (writes, other reads,
    /// reads naming a key that is not all strings, and bodies that are not JSON, which the
    /// engine refuses anyway).
    pub(crate) fn of(operation: &str, body: &[u8]) -> Option<Read> {
        if !KEPT_READS.contains(&operation) {
            return None;
        }
        let mut value: Value = serde_json::from_slice(body).ok()?;
        let names_items = match operation {
            "GetItem" => Some("GetItem"),
            "BatchGetItem" => Some("BatchGetItem"),
            _ => None,
        };
        if let Some(operation) = names_items
            && !named_items(operation, &value, |_, _| true)?
        {
            return None;
        }
        value.sort_all_objects();
        let key = ReadKey(Arc::from(format!("{operation} {value}")));
        Some(Read { key, request: names_items.map(|operation| (operation, value)) })
    }

    /// The items a kept GetItem or BatchGetItem names, with the names of their key
    /// attributes; `None` for a Query.
    fn items(&self) -> Option<Vec<(ItemKey, String, Vec<String>)>> {
        let (operation, request) = self.request.as_ref()?;
        let mut items = Vec::new();
        named_items(operation, request, |table, key| {
            let mut names: Vec<String> = key.keys().cloned().collect();
            names.sort();
            items.push((ItemKey::of(table, key), table.to_string(), names));
            true
        });
        Some(items)
    }
}

/// Visits each item key a GetItem or BatchGetItem names, with its table, while `visit`
/// returns true. `Some(false)` when a key is not all plain strings (a number has many
/// spellings of one value, "1", "1.0", "1E0", and a write naming the item in another would
/// not be matched; cube-auth's keys are all strings) or `visit` stopped; `None` when the body
/// has no such keys.
fn named_items(
    operation: &str,
    request: &Value,
    mut visit: impl FnMut(&str, &Map<String, Value>) -> bool,
) -> Option<bool> {
    let mut each = |table: &str, key: &Value| -> Option<bool> {
        let key = key.as_object()?;
        Some(key.values().all(plain_string) && visit(table, key))
    };
    match operation {
        "GetItem" => each(request.get("TableName")?.as_str()?, request.get("Key")?),
        _ => {
            for (table, reads) in request.get("RequestItems")?.as_object()? {
                for key in reads.get("Keys")?.as_array()? {
                    if !each(table, key)? {
                        return Some(false);
                    }
                }
            }
            Some(true)
        }
    }
}

/// The items a write changes, each as its table and the attributes it names (a put's whole
/// item, an update's or delete's key); `None` when they cannot be read off the body.
pub(crate) fn written(operation: &str, body: &[u8]) -> Option<Vec<(String, Map<String, Value>)>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let one = |attributes: &str| -> Option<Vec<(String, Map<String, Value>)>> {
        Some(vec![(value.get("TableName")?.as_str()?.to_string(), value.get(attributes)?.as_object()?.clone())])
    };
    match operation {
        "PutItem" => one("Item"),
        "UpdateItem" | "DeleteItem" => one("Key"),
        "TransactWriteItems" => {
            let mut items = Vec::new();
            for action in value.get("TransactItems")?.as_array()? {
                let action = action.as_object()?;
                let (part, attributes) = if let Some(put) = action.get("Put") {
                    (put, "Item")
                } else if let Some(change) = action.get("Update").or_else(|| action.get("Delete")) {
                    (change, "Key")
                } else if action.contains_key("ConditionCheck") {
                    continue;
                } else {
                    return None;
                };
                items.push((part.get("TableName")?.as_str()?.to_string(), part.get(attributes)?.as_object()?.clone()));
            }
            Some(items)
        }
        "BatchWriteItem" => {
            let mut items = Vec::new();
            for (table, requests) in value.get("RequestItems")?.as_object()? {
                for request in requests.as_array()? {
                    let attributes = if let Some(put) = request.get("PutRequest") {
                        put.get("Item")?
                    } else {
                        request.get("DeleteRequest")?.get("Key")?
                    };
                    items.push((table.clone(), attributes.as_object()?.clone()));
                }
            }
            Some(items)
        }
        _ => None,
    }
}

/// A kept answer and the items its read named (to unfile it from them when it goes).
struct Kept {
    answer: Bytes,
    items: Vec<ItemKey>,
}

#[derive(Default)]
struct State {
    /// Counts writes begun and finished; a read that saw another value at its start is not
    /// kept.
    writes: u64,
    answers: HashMap<ReadKey, Kept>,
    /// Answer and request bytes held (a request body is the key of its answer).
    bytes: usize,
    /// The kept reads that name each item.
    readers: HashMap<ItemKey, Vec<ReadKey>>,
    /// The kept Queries.
    queries: Vec<ReadKey>,
    /// The key attribute names seen per table (one set per table in practice).
    key_names: HashMap<String, BTreeSet<Vec<String>>>,
}

impl State {
    fn clear(&mut self) {
        self.answers.clear();
        self.readers.clear();
        self.queries.clear();
        self.bytes = 0;
    }

    fn forget(&mut self, key: &ReadKey) {
        let Some(kept) = self.answers.remove(key) else { return };
        self.bytes -= kept.answer.len() + key.0.len();
        for item in &kept.items {
            if let Some(readers) = self.readers.get_mut(item) {
                readers.retain(|reader| reader != key);
                if readers.is_empty() {
                    self.readers.remove(item);
                }
            }
        }
    }
}

/// The kept answers, shared by every path into one engine.
#[derive(Default, Clone)]
pub(crate) struct ReadCache {
    state: Arc<Mutex<State>>,
}

/// A read begun: what to file its answer under if no write happened meanwhile.
pub(crate) struct PendingRead {
    read: Read,
    writes: u64,
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// The kept answer, shared (not copied) with the response.
    Hit(Bytes),
    Miss(PendingRead),
}

/// A write begun. [`PendingWrite::finish`] forgets what it changed once it has landed;
/// dropped unfinished (the engine panicked part-way through a write), it forgets everything.
pub(crate) struct PendingWrite {
    cache: ReadCache,
    items: Option<Vec<(String, Map<String, Value>)>>,
    finished: bool,
}

impl PendingWrite {
    /// Forgets what the write, landed or failed, may have changed.
    pub(crate) fn finish(mut self) {
        self.finished = true;
        self.cache.forget_written(self.items.take());
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if !self.finished {
            self.cache.forget_written(None);
        }
    }
}

/// Whether an attribute value is a plain string (`{"S": "…"}` and nothing else): the only
/// key values matched item for item.
fn plain_string(value: &Value) -> bool {
    value.as_object().is_some_and(|v| v.len() == 1 && v.get("S").is_some_and(Value::is_string))
}

impl ReadCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every step that changes the state leaves it whole: a panic elsewhere while the
        // lock was held cannot have broken it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept answer to `read`, or what to store the engine's answer under.
    pub(crate) fn lookup(&self, read: Read) -> Lookup {
        let state = self.state();
        match state.answers.get(&read.key) {
            Some(kept) => Lookup::Hit(kept.answer.clone()),
            None => Lookup::Miss(PendingRead { read, writes: state.writes }),
        }
    }

    /// Keeps `answer` to a read, unless a write began since the read did.
    pub(crate) fn store(&self, pending: PendingRead, answer: &Bytes) {
        let items = pending.read.items();
        let key = pending.read.key;
        let size = answer.len() + key.0.len();
        if answer.len() > MAX_ANSWER_BYTES || key.0.len() > MAX_ANSWER_BYTES {
            return;
        }
        let mut state = self.state();
        if state.writes != pending.writes {
            return;
        }
        state.forget(&key);
        if state.answers.len() >= MAX_ENTRIES || state.bytes + size > MAX_BYTES {
            state.clear();
        }
        let mut named = Vec::new();
        match items {
            None => state.queries.push(key.clone()),
            Some(items) => {
                for (item, table, names) in items {
                    let readers = state.readers.entry(item.clone()).or_default();
                    if !readers.contains(&key) {
                        readers.push(key.clone());
                    }
                    state.key_names.entry(table).or_default().insert(names);
                    named.push(item);
                }
            }
        }
        state.bytes += size;
        state.answers.insert(key, Kept { answer: answer.clone(), items: named });
    }

    /// Marks a write begun (reads running now will not be kept); `items` are what it changes,
    /// `None` for anything.
    pub(crate) fn begin_write(&self, items: Option<Vec<(String, Map<String, Value>)>>) -> PendingWrite {
        self.state().writes += 1;
        PendingWrite { cache: self.clone(), items, finished: false }
    }

    fn forget_written(&self, items: Option<Vec<(String, Map<String, Value>)>>) {
        let mut state = self.state();
        state.writes += 1;
        let Some(items) = items else {
            state.clear();
            return;
        };
        for key in std::mem::take(&mut state.queries) {
            state.forget(&key);
        }
        for (table, attributes) in items {
            let Some(shapes) = state.key_names.get(&table) else { continue };
            let mut written = Vec::new();
            for names in shapes {
                let values: Option<Vec<&Value>> = names.iter().map(|name| attributes.get(name)).collect();
                let Some(values) = values else { continue };
                // A key value in another spelling than the reads' (a null or unknown member
                // beside "S", say: the engine ignores them) could name a kept item unmatched.
                if !values.iter().all(|value| plain_string(value)) {
                    state.clear();
                    return;
                }
                let key: Map<String, Value> = names.iter().cloned().zip(values.into_iter().cloned()).collect();
                written.push(ItemKey::of(&table, &key));
            }
            for item in written {
                for key in state.readers.remove(&item).unwrap_or_default() {
                    state.forget(&key);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state().answers.len()
    }

    /// Reads filed under items, summed over items (each kept read once per item it names).
    #[cfg(test)]
    fn filed(&self) -> usize {
        self.state().readers.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = br#"{"TableName":"t","Key":{"pk":{"S":"a"},"sk":{"S":"b"}}}"#;

    fn read(operation: &str, body: &[u8]) -> Read {
        Read::of(operation, body).expect("a kept read")
    }

    fn miss(cache: &ReadCache, read: Read) -> PendingRead {
        match cache.lookup(read) {
            Lookup::Miss(pending) => pending,
            Lookup::Hit(answer) => panic!("unexpected hit: {answer:?}"),
        }
    }

    fn hit(cache: &ReadCache, read: Read) -> Option<String> {
        match cache.lookup(read) {
            Lookup::Hit(answer) => Some(String::from_utf8(answer.to_vec()).expect("UTF-8")),
            Lookup::Miss(_) => None,
        }
    }

    fn keep(cache: &ReadCache, operation: &str, body: &[u8], answer: &str) {
        let pending = miss(cache, read(operation, body));
        cache.store(pending, &Bytes::from(answer.to_string()));
    }

    fn write(cache: &ReadCache, operation: &str, body: &str) {
        cache.begin_write(written(operation, body.as_bytes())).finish();
    }

    #[test]
    fn a_read_is_keyed_by_its_content_not_by_the_order_of_its_maps() {
        let reordered = br#"{"Key":{"sk":{"S":"b"},"pk":{"S":"a"}},"TableName":"t"}"#;
        assert_eq!(read("GetItem", GET).key, read("GetItem", reordered).key);
        let other = br#"{"TableName":"t","Key":{"pk":{"S":"a"},"sk":{"S":"c"}}}"#;
        assert_ne!(read("GetItem", GET).key, read("GetItem", other).key);
        assert_ne!(read("GetItem", GET).key, read("Query", GET).key, "the operation is part of the key");
        assert!(Read::of("PutItem", GET).is_none(), "writes are not kept");
        assert!(Read::of("Scan", GET).is_none());
        assert!(Read::of("GetItem", b"{not json").is_none());
        assert!(Read::of("GetItem", br#"{"TableName":"t"}"#).is_none(), "no key: the engine refuses it");
        let numeric = br#"{"TableName":"t","Key":{"pk":{"S":"a"},"sk":{"N":"1"}}}"#;
        assert!(Read::of("GetItem", numeric).is_none(), "a number key has many spellings: not kept");
        let batch =
            br#"{"RequestItems":{"t":{"Keys":[{"pk":{"S":"a"},"sk":{"S":"b"}},{"pk":{"B":"YQ=="},"sk":{"S":"b"}}]}}}"#;
        assert!(Read::of("BatchGetItem", batch).is_none());
    }

    #[test]
    fn a_write_forgets_the_reads_of_the_items_it_changes_and_every_query() {
        let cache = ReadCache::default();
        let other = br#"{"TableName":"t","Key":{"pk":{"S":"x"},"sk":{"S":"y"}}}"#;
        let batch =
            br#"{"RequestItems":{"t":{"Keys":[{"pk":{"S":"q"},"sk":{"S":"r"}},{"sk":{"S":"b"},"pk":{"S":"a"}}]}}}"#;
        let query =
            br#"{"TableName":"t","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{":p":{"S":"x"}}}"#;
        keep(&cache, "GetItem", GET, "a");
        keep(&cache, "GetItem", other, "x");
        keep(&cache, "BatchGetItem", batch, "qa");
        keep(&cache, "Query", query, "found");

        // Another item (a rate counter, say): only the Query goes.
        write(
            &cache,
            "UpdateItem",
            r#"{"TableName":"t","Key":{"pk":{"S":"rate"},"sk":{"S":"1"}},"UpdateExpression":"ADD n :one"}"#,
        );
        assert_eq!(hit(&cache, read("GetItem", GET)).as_deref(), Some("a"));
        assert_eq!(hit(&cache, read("BatchGetItem", batch)).as_deref(), Some("qa"));
        assert_eq!(hit(&cache, read("Query", query)), None);

        // A put of item (a, b), with more attributes than its key: the reads naming it go.
        write(&cache, "PutItem", r#"{"TableName":"t","Item":{"n":{"N":"1"},"sk":{"S":"b"},"pk":{"S":"a"}}}"#);
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
        assert_eq!(hit(&cache, read("BatchGetItem", batch)), None, "it named (a, b) too");
        assert_eq!(hit(&cache, read("GetItem", other)).as_deref(), Some("x"));

        // The same key in another table is another item.
        write(&cache, "DeleteItem", r#"{"TableName":"u","Key":{"pk":{"S":"x"},"sk":{"S":"y"}}}"#);
        assert_eq!(hit(&cache, read("GetItem", other)).as_deref(), Some("x"));

        // A transaction's update, and a batch's delete.
        let transact = r#"{"TransactItems":[{"ConditionCheck":{"TableName":"t","Key":{"pk":{"S":"c"},"sk":{"S":"c"}}}},
            {"Update":{"TableName":"t","Key":{"pk":{"S":"x"},"sk":{"S":"y"}}}}]}"#;
        write(&cache, "TransactWriteItems", transact);
        assert_eq!(hit(&cache, read("GetItem", other)), None);
        keep(&cache, "GetItem", GET, "a2");
        write(
            &cache,
            "BatchWriteItem",
            r#"{"RequestItems":{"t":[{"DeleteRequest":{"Key":{"sk":{"S":"b"},"pk":{"S":"a"}}}}]}}"#,
        );
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
    }

    #[test]
    fn a_write_whose_items_are_unknown_forgets_everything() {
        let cache = ReadCache::default();
        keep(&cache, "GetItem", GET, "a");
        write(&cache, "UpdateTimeToLive", r#"{"TableName":"t"}"#);
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
        keep(&cache, "GetItem", GET, "a");
        write(&cache, "TransactWriteItems", r#"{"TransactItems":[{"Unknown":{}}]}"#);
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
        keep(&cache, "GetItem", GET, "a");
        cache.begin_write(None).finish();
        assert_eq!(cache.len(), 0);
        assert!(is_read("Scan") && is_read("GetItem") && !is_read("PutItem") && !is_read("UpdateTimeToLive"));
    }

    #[test]
    fn a_read_that_overlapped_a_write_is_not_kept() {
        let cache = ReadCache::default();
        // The write begins between the read's lookup and its answer (to another item even).
        let pending = miss(&cache, read("GetItem", GET));
        let write =
            cache.begin_write(written("PutItem", br#"{"TableName":"t","Item":{"pk":{"S":"z"},"sk":{"S":"z"}}}"#));
        cache.store(pending, &Bytes::from_static(b"maybe stale"));
        write.finish();
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
        // Or lands between them.
        let pending = miss(&cache, read("GetItem", GET));
        write_now(&cache);
        cache.store(pending, &Bytes::from_static(b"maybe stale"));
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
    }

    fn write_now(cache: &ReadCache) {
        write(cache, "PutItem", r#"{"TableName":"t","Item":{"pk":{"S":"a"},"sk":{"S":"b"}}}"#);
    }

    #[test]
    fn a_write_spelling_a_key_oddly_forgets_everything() {
        // The engine ignores a null or unknown member beside "S": this put replaces (a, b).
        let cache = ReadCache::default();
        keep(&cache, "GetItem", GET, "a");
        write(&cache, "PutItem", r#"{"TableName":"t","Item":{"pk":{"S":"a","N":null},"sk":{"S":"b"}}}"#);
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
    }

    #[test]
    fn a_write_abandoned_part_way_forgets_everything() {
        let cache = ReadCache::default();
        keep(&cache, "GetItem", GET, "a");
        // Dropped without finishing: the engine panicked inside a write that may have landed.
        drop(cache.begin_write(written("PutItem", br#"{"TableName":"t","Item":{"pk":{"S":"z"},"sk":{"S":"z"}}}"#)));
        assert_eq!(hit(&cache, read("GetItem", GET)), None);
    }

    #[test]
    fn a_forgotten_read_is_unfiled_from_every_item_it_named() {
        let cache = ReadCache::default();
        for n in 0..50 {
            let batch = format!(
                r#"{{"RequestItems":{{"t":{{"Keys":[{{"pk":{{"S":"a"}},"sk":{{"S":"b"}}}},{{"pk":{{"S":"x{n}"}},"sk":{{"S":"y"}}}}]}}}}}}"#
            );
            keep(&cache, "BatchGetItem", batch.as_bytes(), "two");
            write(
                &cache,
                "DeleteItem",
                &format!(r#"{{"TableName":"t","Key":{{"pk":{{"S":"x{n}"}},"sk":{{"S":"y"}}}}}}"#),
            );
        }
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.filed(), 0, "item (a, b) holds no reference to the forgotten reads");
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ReadCache::default();
        for n in 0..MAX_ENTRIES + 10 {
            let body = format!(r#"{{"TableName":"t","Key":{{"pk":{{"S":"{n}"}},"sk":{{"S":"b"}}}}}}"#);
            keep(&cache, "GetItem", body.as_bytes(), "{}");
        }
        assert!(cache.len() <= MAX_ENTRIES);
        let pending = miss(&cache, read("GetItem", GET));
        cache.store(pending, &Bytes::from("x".repeat(MAX_ANSWER_BYTES + 1)));
        assert_eq!(hit(&cache, read("GetItem", GET)), None, "an oversized answer is not kept");
    }
}
