//! `GET /users/v2` (contract §6.7): every query starts from an index, never a Scan, and
//! costs what its page costs, not what the application holds.
//!
//! The most selective primary condition picks the candidates: ids directly, logins and emails
//! through their uniqueness markers (at most 100 users, read whole), other strings and
//! `start_with` through search items, tags through tag items. Search and tag items are walked
//! in their order ([`crate::service::finder`]) until the page and one match more are found,
//! within the budget of [`crate::domain::search_budget`].

use std::collections::BTreeSet;

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::limits::source_key;
use crate::domain::search::{SearchField, bucket};
use crate::domain::user::{UniqueField, User};
use crate::domain::user_query::{Condition, Operand, Operator, QueryField, Sort, UserQuery};
use crate::error::ApiError;
use crate::service::auth::authenticate_prefetching;
use crate::service::context::Context;
use crate::service::finder::{Filter, Match, Walk};
use crate::store::Item;
use crate::store::cursor::{Cursor, Entry, Layout, Partition, Rank, SortKeys};
use crate::store::keys;
use crate::store::prefetch::{Prefetched, SessionHint};
use crate::store::rate::{Limit, RateDecision};
use crate::store::users::{unique_keys, user_keys};

/// `GET /users/v2`: any valid session may search its own application.
/// The query is checked after the session.
pub async fn search_users(
    deps: &Deps,
    ctx: &mut Context,
    query: impl FnOnce() -> Result<UserQuery, ApiError>,
) -> Result<UserPage, ApiError> {
    // Parsed first so that the reads it starts with can go with the session's; its errors
    // still come after the session's.
    let parsed = query();
    let guess = |hint: SessionHint| parsed.as_ref().map(|query| first_reads(query, hint)).unwrap_or_default();
    let (caller, prefetched) = authenticate_prefetching(deps, ctx, guess).await?;
    let query = parsed?;
    // Counting (which may read the application's limits) and the search are independent;
    // a refused search was read-only, so doing it alongside costs nothing but the reads.
    let (counted, found) = tokio::join!(
        count_search(deps, caller.app_id(), ctx.source_ip()),
        run_from(deps, caller.app_id(), &query, &prefetched)
    );
    counted?;
    let (total, users) = found?;
    Ok(UserPage { limit: query.limit, skip: query.offset, total, users })
}

/// One page of a V2 search.
pub struct UserPage {
    pub limit: usize,
    pub skip: usize,
    pub total: usize,
    pub users: Vec<User>,
}

/// Counts a search against the application's searches-per-IP limit (V2 and V1 alike).
pub async fn count_search(deps: &Deps, app_id: i64, ip: Option<&str>) -> Result<(), ApiError> {
    let app = deps.store.cached_app(app_id).await?.ok_or(ApiError::SessionMissing)?;
    let key = format!("search-ip#{app_id}#{}", source_key(ip));
    let limit = Limit::new(key, app.settings.limits.searches_per_ip);
    match deps.store.metered_hit(&limit, deps.clock.now()).await? {
        RateDecision::Allowed => Ok(()),
        RateDecision::Limited { retry_after_secs } => Err(ApiError::TooManyRequests { retry_after_secs }),
    }
}

/// The total number of matches (see [`crate::domain::search_budget`]) and the requested page.
pub async fn run(deps: &Deps, app_id: i64, query: &UserQuery) -> Result<(usize, Vec<User>), ApiError> {
    run_from(deps, app_id, query, &Prefetched::nothing()).await
}

/// The list a query's candidates are, when they are one: the ids it names, or the unique
/// logins or emails whose markers name them.
enum Listed {
    Ids(Vec<i64>),
    Unique(UniqueField, Vec<String>),
}

fn listed_by(primary: &Condition) -> Option<Listed> {
    match primary.field {
        QueryField::Id => Some(Listed::Ids(
            primary.operands.iter().filter_map(|o| if let Operand::Int(i) = o { Some(*i) } else { None }).collect(),
        )),
        QueryField::Login | QueryField::Email if primary.op != Operator::StartWith => {
            let field = if primary.field == QueryField::Login { UniqueField::Login } else { UniqueField::Email };
            // By the values as sent: two logins may normalise alike for matching.
            Some(Listed::Unique(field, primary.sent.clone()))
        }
        _ => None,
    }
}

/// What a query reads first, to be read with the session: the users it names by id, or the
/// markers of the logins or emails it names in the session's application.
fn first_reads(query: &UserQuery, hint: SessionHint) -> Vec<Item> {
    match listed_by(primary_condition(query)) {
        Some(Listed::Ids(ids)) => user_keys(&ids),
        Some(Listed::Unique(field, values)) => unique_keys(hint.app_id, field, &values),
        None => Vec::new(),
    }
}

/// [`run`], using what was read with the session where it covers the query's first reads.
async fn run_from(
    deps: &Deps,
    app_id: i64,
    query: &UserQuery,
    prefetched: &Prefetched,
) -> Result<(usize, Vec<User>), ApiError> {
    let now = deps.clock.now();
    let primary = primary_condition(query);
    match listed_by(primary) {
        Some(Listed::Ids(ids)) => listed(deps, app_id, query, &ids, prefetched, now).await,
        Some(Listed::Unique(field, values)) => {
            let ids = deps.store.find_user_ids_from(prefetched, app_id, field, &values, now).await?;
            listed(deps, app_id, query, &ids, prefetched, now).await
        }
        None => indexed(deps, app_id, query, primary).await,
    }
}

/// A query whose candidates are a list of at most [`crate::domain::user_query::MAX_LIST_VALUES`]
/// users (ids, or unique logins or emails): read them all, then filter, sort and page.
async fn listed(
    deps: &Deps,
    app_id: i64,
    query: &UserQuery,
    ids: &[i64],
    prefetched: &Prefetched,
    now: Timestamp,
) -> Result<(usize, Vec<User>), ApiError> {
    let mut users = deps.store.users_by_ids_from(prefetched, app_id, ids, now).await?;
    users.retain(|u| query.matches(u));
    query.order(&mut users);
    let total = users.len();
    Ok((total, users.into_iter().skip(query.offset).take(query.limit).collect()))
}

/// A query answered by walking search or tag items: page by page when they hold the
/// requested order, otherwise by gathering every match (a bounded number) and sorting.
async fn indexed(
    deps: &Deps,
    app_id: i64,
    query: &UserQuery,
    primary: &Condition,
) -> Result<(usize, Vec<User>), ApiError> {
    let filter = QueryFilter { query, primary };
    let dates = created_range(query);
    if dates.is_some_and(|(from, to)| from > to) {
        // No date is in the range (a key condition could not even be written).
        return Ok((0, Vec::new()));
    }
    let by_date =
        primary.field == QueryField::UserTags && (query.sort.field == QueryField::CreatedAt || dates.is_some());
    if !by_date {
        return walk_in(deps, app_id, query, &filter, Walked::Items).await;
    }
    let by_key = Walked::TagsByDate(dates.unwrap_or((i64::MIN, i64::MAX)));
    if query.sort.field == QueryField::CreatedAt {
        return walk_in(deps, app_id, query, &filter, by_key).await;
    }
    // A tag and a date range in another order: the items in id order serve it page by page
    // when the range holds many of the tag's users; when it holds few, the range read by key
    // gathers them all. Either within its own budget.
    match walk_in(deps, app_id, query, &filter, Walked::Items).await {
        Err(ApiError::Unprocessable(_)) => walk_in(deps, app_id, query, &filter, by_key).await,
        answer => answer,
    }
}

/// Which index items a walk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walked {
    /// The primary condition's own items (search items, or tag items in id order).
    Items,
    /// Tag items in created_at order, from one date to another (both included).
    TagsByDate((i64, i64)),
}

async fn walk_in(
    deps: &Deps,
    app_id: i64,
    query: &UserQuery,
    filter: &QueryFilter<'_>,
    walked: Walked,
) -> Result<(usize, Vec<User>), ApiError> {
    let primary = filter.primary;
    let held = match walked {
        Walked::Items => holds_order(primary, query.sort),
        Walked::TagsByDate(_) => query.sort.field == QueryField::CreatedAt,
    };
    let descending = held && query.sort.descending;
    let cursors = partitions(app_id, primary, walked).into_iter().map(|p| Cursor::new(p, descending)).collect();
    let mut walk = Walk::new(&deps.store, app_id, deps.clock.now(), cursors, descending);
    if held {
        return walk.page(query.offset, query.limit, filter).await;
    }
    let mut found = walk.all(filter, query.sort.field.name()).await?;
    let total = found.len();
    if let Some(key) = entry_sort_key(primary, query.sort.field, &found) {
        found.sort_by_key(|m| key(&m.entry));
        if query.sort.descending {
            found.reverse();
        }
        let page = found.into_iter().skip(query.offset).take(query.limit).collect();
        return Ok((total, walk.users_of(page).await?));
    }
    let mut users = walk.users_of(found).await?;
    query.order(&mut users);
    Ok((total, users.into_iter().skip(query.offset).take(query.limit).collect()))
}

/// The `created_at` range the query's conditions allow, both ends included (`None` when it
/// has no such condition).
fn created_range(query: &UserQuery) -> Option<(i64, i64)> {
    let mut range = None;
    for condition in query.conditions.iter().filter(|c| c.field == QueryField::CreatedAt) {
        let (mut from, mut to) = range.unwrap_or((i64::MIN, i64::MAX));
        for operand in &condition.operands {
            let Operand::Date(bound) = *operand else { continue };
            match condition.op {
                Operator::Gt => from = from.max(bound.saturating_add(1)),
                Operator::Gte => from = from.max(bound),
                Operator::Lt => to = to.min(bound.saturating_sub(1)),
                Operator::Lte => to = to.min(bound),
                _ => {}
            }
        }
        range = Some((from, to));
    }
    range
}

/// Whether the primary condition's index items come in the requested order: tag and exact
/// value items in id order (one exact value also in that field's order), prefix items in
/// the field's order.
fn holds_order(primary: &Condition, sort: Sort) -> bool {
    match (primary.field, primary.op) {
        (_, Operator::StartWith) => sort.field == primary.field,
        (QueryField::UserTags, _) => sort.field == QueryField::Id,
        (field, _) => sort.field == QueryField::Id || (sort.field == field && primary.operands.len() == 1),
    }
}

/// How to order gathered matches from their entries alone, when the entries hold the sort
/// field: the id, the searched value, or `created_at`.
fn entry_sort_key(primary: &Condition, sort: QueryField, found: &[Match]) -> Option<fn(&Entry) -> Rank> {
    match sort {
        QueryField::Id => Some(|e| Rank::Id(e.id)),
        QueryField::CreatedAt if found.iter().all(|m| m.entry.created_at.is_some()) => {
            Some(|e| Rank::Number(e.created_at.unwrap_or_default(), e.id))
        }
        field if field == primary.field && found.iter().all(|m| m.entry.value.is_some()) => {
            Some(|e| Rank::Text(e.value.clone().unwrap_or_default(), e.id))
        }
        _ => None,
    }
}

/// The partitions holding the walked items: one per tag or exact value, one for a prefix.
fn partitions(app_id: i64, primary: &Condition, walked: Walked) -> Vec<Partition> {
    let values: BTreeSet<String> = texts(primary).into_iter().collect();
    values
        .into_iter()
        .map(|value| {
            if let Walked::TagsByDate((from, to)) = walked {
                let (from, to) = keys::tag_created_range(from, to);
                let key = keys::tag_created_pk(app_id, &value);
                return Partition::table(key, SortKeys::Between(from, to), Layout::TagByCreated);
            }
            if primary.field == QueryField::UserTags {
                let key = keys::tag_pk(app_id, &value);
                return Partition::table(key, SortKeys::Prefix(String::new()), Layout::TagById);
            }
            let field = search_field(primary.field);
            // Sort keys hold at most SEARCH_VALUE_MAX_BYTES of the value: a longer one is
            // looked up by that much and matched in full on the entry's value.
            let cut = || keys::truncate_bytes(&value, keys::SEARCH_VALUE_MAX_BYTES).to_string();
            let (prefix, layout) = match primary.op {
                Operator::StartWith => (cut(), Layout::SearchByPrefix),
                _ if value.len() <= keys::SEARCH_VALUE_MAX_BYTES => {
                    (keys::search_value_prefix(&value), Layout::SearchByValue)
                }
                _ => (cut(), Layout::SearchByValue),
            };
            let mut partition =
                Partition::table(keys::search_pk(app_id, field, bucket(&value)), SortKeys::Prefix(prefix), layout);
            if layout == Layout::SearchByValue {
                // Long values share a cut key: only this value's items, so that the partition
                // yields its users in id order for the merge.
                partition.only_value = Some(value);
            }
            partition
        })
        .collect()
}

/// A V2 query's conditions, decided on index entries where they can be.
struct QueryFilter<'a> {
    query: &'a UserQuery,
    primary: &'a Condition,
}

impl Filter for QueryFilter<'_> {
    fn on_entry(&self, entry: &Entry) -> Option<bool> {
        // A user holding just what the entry tells: conditions on those fields decide.
        let mut known = User { id: entry.id, ..User::default() };
        let mut fields = vec![QueryField::Id];
        if let Some(created_at) = entry.created_at {
            known.created_at = created_at;
            fields.push(QueryField::CreatedAt);
        }
        if let Some(tags) = &entry.tags {
            known.tags = tags.clone();
            fields.push(QueryField::UserTags);
        }
        if let Some(value) = &entry.value {
            set_text(&mut known, self.primary.field, value.clone());
            fields.push(self.primary.field);
        }
        let mut undecided = false;
        for condition in &self.query.conditions {
            if std::ptr::eq(condition, self.primary) && condition.field == QueryField::UserTags {
                // A tag item is in the partition of one of the tags asked for.
                continue;
            }
            if !fields.contains(&condition.field) {
                undecided = true;
            } else if !condition.matches(&known) {
                return Some(false);
            }
        }
        if undecided { None } else { Some(true) }
    }

    fn on_user(&self, user: &User) -> bool {
        self.query.matches(user)
    }
}

fn set_text(user: &mut User, field: QueryField, value: String) {
    let slot = match field {
        QueryField::Login => &mut user.login,
        QueryField::Email => &mut user.email,
        QueryField::FullName => &mut user.full_name,
        QueryField::Phone => &mut user.phone,
        QueryField::ExternalId => &mut user.external_id,
        QueryField::FacebookId => &mut user.facebook_id,
        QueryField::TwitterId => &mut user.twitter_id,
        _ => return,
    };
    *slot = Some(value);
}

/// The primary condition to start from: ids, then unique fields, then other strings, then
/// prefixes, then tags.
fn primary_condition(query: &UserQuery) -> &Condition {
    let rank = |c: &Condition| match (c.field, c.op) {
        (QueryField::Id, _) => 0,
        (QueryField::Login | QueryField::Email, Operator::Eq | Operator::In) => 1,
        (QueryField::UserTags, _) => 4,
        (_, Operator::StartWith) => 3,
        _ => 2,
    };
    query
        .conditions
        .iter()
        .filter(|c| {
            c.op.is_primary()
                && !matches!(c.field, QueryField::LastRequestAt | QueryField::CreatedAt | QueryField::UpdatedAt)
        })
        .min_by_key(|c| rank(c))
        .expect("parsing guarantees a primary condition")
}

fn texts(condition: &Condition) -> Vec<String> {
    condition.operands.iter().filter_map(|o| if let Operand::Text(t) = o { Some(t.clone()) } else { None }).collect()
}

fn search_field(field: QueryField) -> SearchField {
    match field {
        QueryField::Login => SearchField::Login,
        QueryField::Email => SearchField::Email,
        QueryField::FullName => SearchField::FullName,
        QueryField::Phone => SearchField::Phone,
        QueryField::ExternalId => SearchField::ExternalId,
        QueryField::FacebookId => SearchField::FacebookId,
        QueryField::TwitterId => SearchField::TwitterId,
        other => unreachable!("{} has no search items", other.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_urlencoded;

    fn query(text: &str) -> UserQuery {
        UserQuery::parse(&parse_urlencoded(text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn date_conditions_make_one_inclusive_range() {
        assert_eq!(created_range(&query("user_tags=t")), None);
        assert_eq!(created_range(&query("user_tags=t&created_at[gt]=10")), Some((11, i64::MAX)));
        assert_eq!(created_range(&query("user_tags=t&created_at[gte]=10&created_at[lt]=20")), Some((10, 19)));
        assert_eq!(created_range(&query("user_tags=t&created_at[lte]=5&created_at[gt]=5")), Some((6, 5)));
    }

    #[test]
    fn orders_the_walked_items_hold() {
        let holds = |text: &str| {
            let q = query(text);
            holds_order(primary_condition(&q), q.sort)
        };
        assert!(holds("user_tags=t"));
        assert!(holds("user_tags=t&sort_desc=id"));
        assert!(!holds("user_tags=t&sort_asc=full_name"));
        assert!(holds("full_name[start_with]=abcd&sort_desc=full_name"));
        assert!(!holds("full_name[start_with]=abcd"));
        assert!(holds("phone=1&sort_desc=phone"), "one exact value: its order is the ids'");
        assert!(!holds("phone[in]=1,2&sort_asc=phone"));
    }
}
