//! `GET /users/v2` (contract §6.7): every query starts from an index, never a Scan.
//!
//! The most selective primary condition picks the candidates: ids directly, logins and emails
//! through their uniqueness markers, other strings and `start_with` through search items, tags
//! through tag items. The other conditions, the sort and the page then apply to those
//! candidates. When the index answer is the whole query (one condition, id order), only the
//! requested page of users is read.

use std::collections::BTreeSet;

use crate::clock::Timestamp;
use crate::deps::Deps;
use crate::domain::limits::source_key;
use crate::domain::search::SearchField;
use crate::domain::user::{UniqueField, User};
use crate::domain::user_query::{Condition, Operand, Operator, QueryField, UserQuery};
use crate::error::ApiError;
use crate::service::auth::authenticate;
use crate::service::context::Context;
use crate::store::rate::{Limit, RateDecision};
use crate::store::users::SearchMatch;

/// `GET /users/v2`: any valid session may search its own application.
/// The query is checked after the session.
pub async fn search_users(
    deps: &Deps,
    ctx: &mut Context,
    query: impl FnOnce() -> Result<UserQuery, ApiError>,
) -> Result<UserPage, ApiError> {
    let caller = authenticate(deps, ctx).await?;
    let query = query()?;
    // Counting (which may read the application's limits) and the search are independent;
    // a refused search was read-only, so doing it alongside costs nothing but the reads.
    let (counted, found) =
        tokio::join!(count_search(deps, caller.app_id(), ctx.source_ip()), run(deps, caller.app_id(), &query));
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

/// The total number of matches and the requested page.
pub async fn run(deps: &Deps, app_id: i64, query: &UserQuery) -> Result<(usize, Vec<User>), ApiError> {
    let now = deps.clock.now();
    let primary = primary_condition(query);
    let candidates = candidates(deps, app_id, primary, now).await?;
    let index_is_the_answer =
        query.conditions.len() == 1 && query.sort.field == QueryField::Id && primary.field != QueryField::Id;
    if index_is_the_answer {
        let mut ids: Vec<i64> = candidates.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        if query.sort.descending {
            ids.reverse();
        }
        let total = ids.len();
        let page: Vec<i64> = ids.into_iter().skip(query.offset).take(query.limit).collect();
        let mut users = deps.store.users_by_ids(app_id, &page, now).await?;
        query.order(&mut users);
        return Ok((total, users));
    }
    let mut users = deps.store.users_by_ids(app_id, &candidates, now).await?;
    users.retain(|u| query.matches(u));
    query.order(&mut users);
    let total = users.len();
    Ok((total, users.into_iter().skip(query.offset).take(query.limit).collect()))
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

async fn candidates(deps: &Deps, app_id: i64, condition: &Condition, now: Timestamp) -> Result<Vec<i64>, ApiError> {
    let store = &deps.store;
    let ids = match condition.field {
        QueryField::Id => {
            condition.operands.iter().filter_map(|o| if let Operand::Int(i) = o { Some(*i) } else { None }).collect()
        }
        QueryField::UserTags => store.tagged_user_ids(app_id, &texts(condition), now).await?,
        QueryField::Login | QueryField::Email if condition.op != Operator::StartWith => {
            let field = if condition.field == QueryField::Login { UniqueField::Login } else { UniqueField::Email };
            store.find_user_ids(app_id, field, &texts(condition), now).await?
        }
        field => {
            let search_field = search_field(field);
            let mut ids = Vec::new();
            for text in texts(condition) {
                let matching = if condition.op == Operator::StartWith {
                    SearchMatch::Prefix(text)
                } else {
                    SearchMatch::Exact(text)
                };
                ids.extend(store.search_user_ids(app_id, search_field, &matching, now).await?);
            }
            ids
        }
    };
    Ok(ids)
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
