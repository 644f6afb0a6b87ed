//! Reads sent in the same round trip as a session's, before the session says what the request
//! needs.
//!
//! A request names the items it would read next if its session is as this instance last saw it
//! (the same application and user: [`SessionHint`]). They go out in one `BatchGetItem` with the
//! session, and a later read uses them only when every key it needs was among them
//! ([`Prefetched::covering`]): what the request reads is decided by the session it actually
//! read, never by the hint. A wrong guess costs the guessed items' read; the request then
//! reads what it needs as it would have without the guess.
//!
//! Only tokens this instance has seen live get a guess: a made-up or expired token costs one
//! `GetItem`, as before, and never a batch of reads chosen by whoever sent it.
//!
//! On Lambda the hints of a function's instance come from its own requests (the instance that
//! creates a session is another function's); its first request with a token reads the session
//! alone. Local mode serves every route in one process, so a session is known from its creation.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::domain::session::Session;
use crate::store::item::{Item, ItemExt};

/// A bound on memory: an instance remembering this many sessions forgets them all.
const CAPACITY: usize = 16_384;

/// What a token's session held when this instance last read or created it. Its application
/// never changes; its user does on `POST /login` and `DELETE /login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionHint {
    pub app_id: i64,
    pub user_id: Option<i64>,
}

/// The last [`SessionHint`] of each token hash this instance saw.
#[derive(Default)]
pub struct SessionHints {
    hints: Mutex<HashMap<String, SessionHint>>,
}

impl SessionHints {
    pub fn remember(&self, session: &Session) {
        let hint = SessionHint { app_id: session.app_id, user_id: session.user_id };
        let mut hints = self.hints.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if hints.get(&session.token_hash) == Some(&hint) {
            return;
        }
        if hints.len() >= CAPACITY && !hints.contains_key(&session.token_hash) {
            hints.clear();
        }
        hints.insert(session.token_hash.clone(), hint);
    }

    pub fn forget(&self, token_hash: &str) {
        self.hints.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(token_hash);
    }

    pub fn hint(&self, token_hash: &str) -> Option<SessionHint> {
        self.hints.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(token_hash).copied()
    }
}

/// An item's key as the strings it is made of.
type KeyStrings = (String, String);

fn key_strings(item: &Item) -> Option<KeyStrings> {
    Some((item.str("pk")?, item.str("sk")?))
}

/// Items read alongside a session: which keys were asked for, and what was found at them.
#[derive(Debug, Default)]
pub struct Prefetched {
    asked: HashSet<KeyStrings>,
    found: HashMap<KeyStrings, Item>,
}

impl Prefetched {
    /// Nothing read ahead: every read goes to the table.
    pub fn nothing() -> Self {
        Prefetched::default()
    }

    pub(crate) fn new(asked: &[Item], found: Vec<Item>) -> Self {
        let asked: HashSet<KeyStrings> = asked.iter().filter_map(key_strings).collect();
        let found = found
            .into_iter()
            .filter_map(|item| key_strings(&item).filter(|key| asked.contains(key)).map(|key| (key, item)))
            .collect();
        Prefetched { asked, found }
    }

    /// The items stored at `keys`, when every one of them was read ahead (a key read ahead
    /// and absent is simply not among them); `None` when any was not, and the caller reads
    /// them itself. An empty `keys` is never covered.
    pub fn covering(&self, keys: &[Item]) -> Option<Vec<&Item>> {
        if keys.is_empty() {
            return None;
        }
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            let key = key_strings(key)?;
            if !self.asked.contains(&key) {
                return None;
            }
            items.extend(self.found.get(&key));
        }
        Some(items)
    }

    /// Forgets what was read at `key` (a write may have changed it since): a read of it goes
    /// to the table.
    pub fn forget(&mut self, key: &Item) {
        if let Some(key) = key_strings(key) {
            self.asked.remove(&key);
            self.found.remove(&key);
        }
    }
}

/// Whether `item` is the one stored at `key`.
pub(crate) fn is_at(item: &Item, key: &Item) -> bool {
    key_strings(item).is_some_and(|found| key_strings(key) == Some(found))
}

/// The keys of `guessed` worth sending beside `session_key`: each once, never the session's
/// own, and none at all when they would not fit one `BatchGetItem` (100 keys) with it.
pub(crate) fn alongside(session_key: &Item, guessed: Vec<Item>) -> Vec<Item> {
    let mut seen: HashSet<KeyStrings> = key_strings(session_key).into_iter().collect();
    let keys: Vec<Item> = guessed.into_iter().filter(|key| key_strings(key).is_some_and(|k| seen.insert(k))).collect();
    if keys.len() >= crate::store::MAX_BATCH_GET { Vec::new() } else { keys }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::session::SessionKind;
    use crate::store::item::{ItemBuilder, key};

    fn item(pk: &str, value: i64) -> Item {
        ItemBuilder::key(pk, "#X").n("value", value).build()
    }

    fn k(pk: &str) -> Item {
        key(pk, "#X")
    }

    #[test]
    fn covers_only_when_every_key_was_read_ahead() {
        let prefetched = Prefetched::new(&[k("a"), k("b"), k("c")], vec![item("a", 1), item("c", 3)]);
        let found = prefetched.covering(&[k("a"), k("b")]).expect("both were read ahead");
        assert_eq!(found.len(), 1, "b was read ahead and is absent");
        assert_eq!(found[0].int("value"), Some(1));
        assert!(prefetched.covering(&[k("a"), k("d")]).is_none(), "d was not read ahead");
        assert!(prefetched.covering(&[]).is_none());
        assert!(Prefetched::nothing().covering(&[k("a")]).is_none());
    }

    #[test]
    fn items_not_asked_for_are_never_answered() {
        // An answer holding an item nobody asked for (it cannot happen; if it did, it must not
        // be taken for a read of that key).
        let prefetched = Prefetched::new(&[k("a")], vec![item("a", 1), item("z", 26)]);
        assert!(prefetched.covering(&[k("z")]).is_none());
    }

    #[test]
    fn a_forgotten_key_is_read_again_and_the_others_still_covered() {
        let mut prefetched = Prefetched::new(&[k("a"), k("b")], vec![item("a", 1), item("b", 2)]);
        prefetched.forget(&k("a"));
        assert!(prefetched.covering(&[k("a")]).is_none());
        assert!(prefetched.covering(&[k("a"), k("b")]).is_none());
        assert_eq!(prefetched.covering(&[k("b")]).map(|found| found.len()), Some(1));
    }

    #[test]
    fn an_item_is_at_its_key_by_both_parts() {
        assert!(is_at(&item("a", 1), &k("a")));
        assert!(!is_at(&item("a", 1), &k("b")));
        let same_partition = ItemBuilder::key("a", "#Y").build();
        assert!(!is_at(&same_partition, &k("a")), "another item of the same partition");
    }

    #[test]
    fn alongside_drops_repeats_and_the_session_and_what_would_not_fit() {
        let session = k("s");
        let keys = alongside(&session, vec![k("a"), k("s"), k("a"), k("b")]);
        let names: Vec<String> = keys.iter().filter_map(|key| key.str("pk")).collect();
        assert_eq!(names, ["a", "b"]);
        let many: Vec<Item> = (0..crate::store::MAX_BATCH_GET).map(|i| k(&format!("u{i}"))).collect();
        assert!(alongside(&session, many).is_empty(), "with the session they would need two round trips");
        let most: Vec<Item> = (0..crate::store::MAX_BATCH_GET - 1).map(|i| k(&format!("u{i}"))).collect();
        assert_eq!(alongside(&session, most).len(), crate::store::MAX_BATCH_GET - 1);
    }

    #[test]
    fn hints_follow_the_last_session_seen_and_stay_bounded() {
        let hints = SessionHints::default();
        let mut session = Session {
            token_hash: "h".into(),
            id: 1,
            app_id: 7,
            user_id: None,
            kind: SessionKind::App,
            created_at: 0,
            updated_at: 0,
            last_active: 0,
            idle_ttl: 7200,
            hard_expires_at: 0,
            ts: 0,
            nonce: None,
        };
        hints.remember(&session);
        assert_eq!(hints.hint("h"), Some(SessionHint { app_id: 7, user_id: None }));
        session.user_id = Some(42);
        hints.remember(&session);
        assert_eq!(hints.hint("h"), Some(SessionHint { app_id: 7, user_id: Some(42) }));
        hints.forget("h");
        assert_eq!(hints.hint("h"), None);
        for i in 0..=CAPACITY {
            session.token_hash = format!("t{i}");
            hints.remember(&session);
        }
        assert!(hints.hints.lock().unwrap().len() <= CAPACITY);
        assert!(hints.hint(&format!("t{CAPACITY}")).is_some(), "the newest is kept");
    }
}
