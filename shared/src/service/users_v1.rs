//! The deprecated V1 retrieval routes (contract §6.8), one function for the family. Single
//! lookups answer `{"user":{…}}` (404 when none); lists answer the paged envelope
//! `{"current_page","per_page","total_entries","items":[{"user":{…}}]}`.

use serde_json::Value;

use crate::deps::Deps;
use crate::domain::search::{normalise, normalise_tag};
use crate::domain::search_budget::{MAX_OFFSET, too_deep};
use crate::domain::user::{UniqueField, User};
use crate::domain::user_query::{Condition, Operator, QueryField, Sort, UserQuery};
use crate::domain::v1_filter::{Named, V1Filter, V1Order};
use crate::error::ApiError;
use crate::params::Field;
use crate::routes::Endpoint;
use crate::service::auth::{Caller, authenticate_prefetching};
use crate::service::context::Context;
use crate::service::finder::{Filter, Walk};
use crate::service::search::{self, count_search};
use crate::store::cursor::{Cursor, Entry, Layout, Partition, SortKeys};
use crate::store::keys;
use crate::store::prefetch::{Prefetched, SessionHint};
use crate::store::schema::{USERS_BY_CREATED, USERS_BY_ID, USERS_BY_UPDATED};
use crate::store::users::user_keys;

pub const DEFAULT_PER_PAGE: usize = 10;
pub const MAX_PER_PAGE: usize = 100;

fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}

/// One V1 request: which route, the `{id}` of its path (if it has one), and its query.
pub struct V1Lookup {
    pub endpoint: Endpoint,
    pub path_id: Option<String>,
    pub query: Value,
}

/// A V1 answer: one user, or a page of them.
pub enum V1Answer {
    One(Box<User>),
    Page { page: usize, per_page: usize, total: usize, users: Vec<User> },
}

/// Serves one V1 route. The lookup is checked after the session.
pub async fn retrieve(
    deps: &Deps,
    ctx: &mut Context,
    lookup: impl FnOnce() -> Result<V1Lookup, ApiError>,
) -> Result<V1Answer, ApiError> {
    // Parsed first so that a user named by id in the path is read with the session; its
    // errors still come after the session's.
    let parsed = lookup();
    let guess = |_: SessionHint| match &parsed {
        Ok(V1Lookup { endpoint: Endpoint::GetUser, path_id: Some(id), .. }) => {
            id.parse::<i64>().map(|id| user_keys(&[id])).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let (caller, prefetched) = authenticate_prefetching(deps, ctx, guess).await?;
    let V1Lookup { endpoint, path_id, query: params } = parsed?;
    let fields = Field::of(&params);
    // Lookups by something other than an id are searches, and count as such; the count (which
    // may read the application's limits) goes alongside the lookup, which is read-only.
    let is_search = !matches!(endpoint, Endpoint::GetUser | Endpoint::GetUserByExternalId);
    let ip = ctx.source_ip();
    let counting = async { if is_search { count_search(deps, caller.app_id(), ip).await } else { Ok(()) } };
    let lookup = async {
        match endpoint {
            Endpoint::ListUsersV1 => list(deps, &caller, &params).await,
            Endpoint::GetUser => {
                let id = path_id.as_deref().and_then(|id| id.parse::<i64>().ok()).ok_or_else(not_found)?;
                one(deps, &caller, vec![id], &prefetched).await
            }
            Endpoint::UsersByLogin => by_unique(deps, &caller, UniqueField::Login, required(fields, "login")?).await,
            Endpoint::UsersByEmail => by_unique(deps, &caller, UniqueField::Email, required(fields, "email")?).await,
            Endpoint::UsersByFacebookId => {
                by_unique(deps, &caller, UniqueField::FacebookId, required(fields, "facebook_id")?).await
            }
            Endpoint::UsersByTwitterId => {
                by_unique(deps, &caller, UniqueField::TwitterId, required(fields, "twitter_id")?).await
            }
            Endpoint::GetUserByExternalId => {
                let external = path_id.clone().unwrap_or_default();
                by_unique(deps, &caller, UniqueField::ExternalUserId, external).await
            }
            Endpoint::UsersByPhone | Endpoint::UsersByPhoneLegacy => {
                // The lowest id holding the phone: the first entry of its search items.
                let phone = normalise(&required(fields, "phone")?);
                let query = UserQuery {
                    conditions: vec![Condition::text(QueryField::Phone, Operator::Eq, vec![phone])],
                    limit: 1,
                    offset: 0,
                    sort: Sort { field: QueryField::Id, descending: false },
                };
                let (_, users) = search::run(deps, caller.app_id(), &query).await?;
                Ok(V1Answer::One(Box::new(users.into_iter().next().ok_or_else(not_found)?)))
            }
            Endpoint::UsersByFullName => {
                let name = required(fields, "full_name")?;
                let condition = Condition::text(QueryField::FullName, Operator::Eq, vec![normalise(&name)]);
                paged_by_id(deps, &caller, condition, fields).await
            }
            Endpoint::UsersByTags => {
                let tags: Vec<String> = fields
                    .get("tags")
                    .list()
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|t| t.split(','))
                    .map(normalise_tag)
                    .filter(|t| !t.is_empty())
                    .collect();
                if tags.is_empty() {
                    return Err(ApiError::Unprocessable("tags is required".into()));
                }
                if tags.len() > crate::domain::user_query::MAX_LIST_VALUES {
                    return Err(ApiError::Unprocessable("tags takes at most 100 values".into()));
                }
                paged_by_id(deps, &caller, Condition::text(QueryField::UserTags, Operator::In, tags), fields).await
            }
            _ => Err(ApiError::NoRoute),
        }
    };
    let (counted, reply) = tokio::join!(counting, lookup);
    counted?;
    reply
}

fn required(fields: Field<'_>, name: &str) -> Result<String, ApiError> {
    fields
        .get(name)
        .non_blank()
        .map(|v| v.trim().to_string())
        .ok_or_else(|| ApiError::Unprocessable(format!("{name} is required")))
}

/// The lowest-id live user among `ids` in the caller's app.
async fn one(deps: &Deps, caller: &Caller, ids: Vec<i64>, prefetched: &Prefetched) -> Result<V1Answer, ApiError> {
    let users = deps.store.users_by_ids_from(prefetched, caller.app_id(), &ids, deps.clock.now()).await?;
    Ok(V1Answer::One(Box::new(users.into_iter().next().ok_or_else(not_found)?)))
}

async fn by_unique(deps: &Deps, caller: &Caller, field: UniqueField, value: String) -> Result<V1Answer, ApiError> {
    let id = deps.store.find_user_id(caller.app_id(), field, &value, deps.clock.now()).await?;
    one(deps, caller, id.into_iter().collect(), &Prefetched::nothing()).await
}

/// `page` (from 1) and `per_page` (default 10, at most 100), within the offset cap.
fn paging(fields: Field<'_>) -> Result<(usize, usize), ApiError> {
    let page = match fields.get("page").integer() {
        Ok(None) => 1,
        Ok(Some(n)) if n >= 1 => n as usize,
        _ => return Err(ApiError::Unprocessable("page must be a positive integer".into())),
    };
    let per_page = match fields.get("per_page").integer() {
        Ok(None) => DEFAULT_PER_PAGE,
        Ok(Some(n)) if n >= 1 => (n as usize).min(MAX_PER_PAGE),
        _ => return Err(ApiError::Unprocessable("per_page must be a positive integer".into())),
    };
    if (page - 1).checked_mul(per_page).is_none_or(|skip| skip > MAX_OFFSET) {
        return Err(too_deep("page"));
    }
    Ok((page, per_page))
}

fn envelope(page: usize, per_page: usize, total: usize, users: Vec<User>) -> V1Answer {
    V1Answer::Page { page, per_page, total, users }
}

/// A page, in id order, of the users matching one condition answered by search or tag items
/// (the V2 engine, with its budget and `total_entries`).
async fn paged_by_id(
    deps: &Deps,
    caller: &Caller,
    condition: Condition,
    fields: Field<'_>,
) -> Result<V1Answer, ApiError> {
    let (page, per_page) = paging(fields)?;
    let query = UserQuery {
        conditions: vec![condition],
        limit: per_page,
        offset: (page - 1) * per_page,
        sort: Sort { field: QueryField::Id, descending: false },
    };
    let (total, users) = search::run(deps, caller.app_id(), &query).await?;
    Ok(envelope(page, per_page, total, users))
}

/// `GET /users`: only when the application enables V1 listing. The application's users are
/// walked through the listing index of the requested order (ids for other orders), eight
/// shards merged; filters are decided on users, within the search budget.
async fn list(deps: &Deps, caller: &Caller, params: &Value) -> Result<V1Answer, ApiError> {
    let app = deps.store.get_app(caller.app_id()).await?.ok_or(ApiError::SessionMissing)?;
    if !app.settings.users_v1_listing {
        return Err(ApiError::ForbiddenBase(format!(
            "Users retrieving forbidden in admin panel, application settings. Setup it here https://admin.connectycube.com/apps/{}/service/users/settings",
            app.id
        )));
    }
    let fields = Field::of(params);
    let (page, per_page) = paging(fields)?;
    let mut filters = Vec::new();
    match fields.get("filter").value() {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                let text = crate::params::scalar_text(item).unwrap_or_default();
                filters.push(V1Filter::parse(&text)?);
            }
        }
        Some(other) => filters.push(V1Filter::parse(&crate::params::scalar_text(other).unwrap_or_default())?),
    }
    if let Some(map) = params.as_object() {
        for (name, value) in map {
            if let Some(filter) = crate::params::scalar_text(value).and_then(|v| V1Filter::equality(name, &v)) {
                filters.push(filter);
            }
        }
    }
    let order = match fields.get("order").non_blank() {
        Some(text) => V1Order::parse(&text)?,
        None => V1Order::default(),
    };
    let skip = (page - 1) * per_page;
    let filter = V1Filters(&filters);
    if let Some(named) = filters.iter().find_map(V1Filter::names) {
        let users = named_users(deps, app.id, named).await?;
        let users: Vec<User> = users.into_iter().filter(|user| filter.on_user(user)).collect();
        let total = users.len();
        return Ok(sorted_page(&order, users, total, page, per_page));
    }
    let held = match order.field.as_str() {
        "id" => Some((USERS_BY_ID, "id")),
        "created_at" => Some((USERS_BY_CREATED, "created_at")),
        "updated_at" => Some((USERS_BY_UPDATED, "updated_at")),
        _ => None,
    };
    let (index, attribute) = held.unwrap_or((USERS_BY_ID, "id"));
    let descending = held.is_some() && order.descending;
    let cursors = (0..keys::APP_SHARDS)
        .map(|shard| {
            let partition = Partition {
                index: Some(index),
                key_attribute: "app_shard",
                key: keys::app_shard(app.id, shard),
                sort: SortKeys::Prefix(String::new()),
                layout: Layout::Listing { attribute },
                only_value: None,
            };
            Cursor::new(partition, descending)
        })
        .collect();
    let mut walk = Walk::new(&deps.store, app.id, deps.clock.now(), cursors, descending);
    if held.is_some() {
        let (total, mut users) = walk.page(skip, per_page, &filter).await?;
        order.sort(&mut users);
        return Ok(envelope(page, per_page, total, users));
    }
    let found = walk.all(&filter, &order.field).await?;
    let total = found.len();
    let users = walk.users_of(found).await?;
    Ok(sorted_page(&order, users, total, page, per_page))
}

/// Every match (`total` of them) in `order`, answered as page `page` of `per_page`.
fn sorted_page(order: &V1Order, mut users: Vec<User>, total: usize, page: usize, per_page: usize) -> V1Answer {
    order.sort(&mut users);
    envelope(page, per_page, total, users.into_iter().skip((page - 1) * per_page).take(per_page).collect())
}

/// The live users of `app_id` that `named` names, read directly (at most a hundred ids or
/// values, one round trip or two).
async fn named_users(deps: &Deps, app_id: i64, named: Named) -> Result<Vec<User>, ApiError> {
    let now = deps.clock.now();
    let ids = match named {
        Named::Ids(ids) => ids,
        Named::Unique(field, values) => {
            deps.store.find_user_ids_from(&Prefetched::nothing(), app_id, field, &values, now).await?
        }
    };
    Ok(deps.store.users_by_ids(app_id, &ids, now).await?)
}

/// V1 filters, decided on users (listing entries carry only the id and the order's value).
struct V1Filters<'a>(&'a [V1Filter]);

impl Filter for V1Filters<'_> {
    fn on_entry(&self, _entry: &Entry) -> Option<bool> {
        if self.0.is_empty() { Some(true) } else { None }
    }

    fn on_user(&self, user: &User) -> bool {
        self.0.iter().all(|f| f.matches(user))
    }
}
