//! Walking index partitions for a search page within a fixed budget (V2 and V1).
//!
//! The partitions' entries are merged in their common order; conditions that the entries
//! answer (ids, the searched value, `created_at`) are decided without reading users; the rest
//! are decided on users read a batch at a time. A walk that would read more than the budget
//! ([`crate::domain::search_budget`]) is refused with a 422 that names the rule, never cut
//! short silently.

use std::collections::HashMap;

use crate::clock::Timestamp;
use crate::domain::search_budget::{
    ALL_MATCHES_MAX, ENTRIES_MAX, USERS_MAX, counted_matches, too_broad, too_many_to_sort,
};
use crate::domain::user::User;
use crate::error::ApiError;
use crate::store::Store;
use crate::store::cursor::{Cursor, Entry, Rank};

/// The fewest items one query of a partition asks for: with 100 partitions (an `in` list)
/// the first round reads at most 1,000 items, and the whole walk at most about
/// 100 + ENTRIES_MAX / MIN_PAGE = 300 queries.
const MIN_PAGE: usize = 10;

/// What a search's conditions say of an entry and of a user.
pub trait Filter {
    /// `Some(verdict)` when the entry alone decides, `None` when the user must be read.
    fn on_entry(&self, entry: &Entry) -> Option<bool>;
    fn on_user(&self, user: &User) -> bool;
}

/// A matching entry, with its user when the walk had to read it.
pub struct Match {
    pub entry: Entry,
    pub user: Option<User>,
}

/// The partitions of one search, merged in their order (ascending or descending).
pub struct Walk<'a> {
    store: &'a Store,
    app_id: i64,
    now: Timestamp,
    cursors: Vec<Cursor>,
    descending: bool,
    entries_read: usize,
    users_read: usize,
    last_id: Option<i64>,
}

impl<'a> Walk<'a> {
    pub fn new(store: &'a Store, app_id: i64, now: Timestamp, cursors: Vec<Cursor>, descending: bool) -> Walk<'a> {
        Walk { store, app_id, now, cursors, descending, entries_read: 0, users_read: 0, last_id: None }
    }

    /// The first `wanted` matches in the partitions' order, or every match when fewer.
    pub async fn first(&mut self, wanted: usize, filter: &impl Filter) -> Result<Vec<Match>, ApiError> {
        let mut found: Vec<Match> = Vec::with_capacity(wanted.min(1024));
        // Entries in order whose verdict waits for their users (with decided ones queued
        // behind them, so that the order holds).
        let mut pending: Vec<(Entry, Option<bool>)> = Vec::new();
        while found.len() < wanted {
            // A share of what is still wanted per partition, but never tiny pages: an `in` list
            // of 100 values may not cost thousands of one-item queries.
            let page = ((wanted - found.len()).clamp(25, 1000) / self.cursors.len().max(1) + 1).max(MIN_PAGE);
            let Some(entry) = self.next(page).await? else { break };
            let verdict = filter.on_entry(&entry);
            if verdict == Some(false) {
                continue;
            }
            if verdict == Some(true) && pending.is_empty() {
                found.push(Match { entry, user: None });
                continue;
            }
            pending.push((entry, verdict));
            if pending.len() >= (wanted - found.len()).clamp(25, 100) {
                self.settle(&mut pending, &mut found, filter).await?;
            }
        }
        self.settle(&mut pending, &mut found, filter).await?;
        found.truncate(wanted);
        Ok(found)
    }

    /// The users of the page at `offset` in the walk's order, and `total_entries`: the matches
    /// counted up to the next page and one more ([`counted_matches`]).
    pub async fn page(
        &mut self,
        offset: usize,
        limit: usize,
        filter: &impl Filter,
    ) -> Result<(usize, Vec<User>), ApiError> {
        let found = self.first(counted_matches(offset, limit), filter).await?;
        let total = found.len();
        let page = found.into_iter().skip(offset).take(limit).collect();
        Ok((total, self.users_of(page).await?))
    }

    /// Every match, when there are at most [`ALL_MATCHES_MAX`]; a 422 naming `sort` when more.
    pub async fn all(&mut self, filter: &impl Filter, sort: &str) -> Result<Vec<Match>, ApiError> {
        let found = self.first(ALL_MATCHES_MAX + 1, filter).await?;
        if found.len() > ALL_MATCHES_MAX {
            return Err(too_many_to_sort(sort));
        }
        Ok(found)
    }

    /// Reads the users of `matches` that the walk has not read yet, within the budget.
    pub async fn users_of(&mut self, matches: Vec<Match>) -> Result<Vec<User>, ApiError> {
        let missing: Vec<i64> = matches.iter().filter(|m| m.user.is_none()).map(|m| m.entry.id).collect();
        let mut read: HashMap<i64, User> =
            self.read_users(&missing).await?.into_iter().map(|user| (user.id, user)).collect();
        Ok(matches.into_iter().filter_map(|m| m.user.or_else(|| read.remove(&m.entry.id))).collect())
    }

    /// Decides the pending entries on their users, in order.
    async fn settle(
        &mut self,
        pending: &mut Vec<(Entry, Option<bool>)>,
        found: &mut Vec<Match>,
        filter: &impl Filter,
    ) -> Result<(), ApiError> {
        let undecided: Vec<i64> = pending.iter().filter(|(_, v)| v.is_none()).map(|(e, _)| e.id).collect();
        let mut users = self.read_users(&undecided).await?;
        for (entry, verdict) in pending.drain(..) {
            match verdict {
                Some(_) => found.push(Match { entry, user: None }),
                None => {
                    let Some(at) = users.iter().position(|u| u.id == entry.id) else { continue };
                    let user = users.swap_remove(at);
                    if filter.on_user(&user) {
                        found.push(Match { entry, user: Some(user) });
                    }
                }
            }
        }
        Ok(())
    }

    async fn read_users(&mut self, ids: &[i64]) -> Result<Vec<User>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.users_read += ids.len();
        if self.users_read > USERS_MAX {
            return Err(too_broad());
        }
        Ok(self.store.users_by_ids(self.app_id, ids, self.now).await?)
    }

    /// The next entry in merged order (a user in several partitions once), fetching pages of
    /// `page` items as partitions run dry.
    async fn next(&mut self, page: usize) -> Result<Option<Entry>, ApiError> {
        loop {
            let mut best: Option<(usize, Rank)> = None;
            for i in 0..self.cursors.len() {
                let (store, now) = (self.store, self.now);
                let cursor = &mut self.cursors[i];
                let head = cursor.peek(store, page, now, &mut self.entries_read, ENTRIES_MAX).await?;
                let head = head.map(|e| e.rank.clone());
                if self.entries_read > ENTRIES_MAX {
                    return Err(too_broad());
                }
                let Some(rank) = head else { continue };
                let better = match &best {
                    None => true,
                    Some((_, current)) if self.descending => rank > *current,
                    Some((_, current)) => rank < *current,
                };
                if better {
                    best = Some((i, rank));
                }
            }
            let Some((b, _)) = best else { return Ok(None) };
            let entry = self.cursors[b].take().expect("peeked");
            // Merged partitions meet on users in several of them (tags): once each.
            if self.last_id == Some(entry.id) {
                continue;
            }
            self.last_id = Some(entry.id);
            return Ok(Some(entry));
        }
    }
}
