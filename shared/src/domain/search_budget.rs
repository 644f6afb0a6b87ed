//! What one user search may cost, whatever the application's size (V2 and V1).
//!
//! A search walks index items in an order they hold and stops once it has counted the page,
//! the next one and a match more ([`counted_matches`]), so its reads follow
//! `offset + limit`, not the number of matches. These limits
//! bound the rest: a search that would need more is refused with a 422 naming the rule.

use crate::error::ApiError;

/// Index items (search, tag and listing items) one request may read.
pub const ENTRIES_MAX: usize = 2_000;
/// Users one request may read, the page's included (conditions the index items cannot
/// answer, such as `nin` on another field or `updated_at`, are decided on users).
pub const USERS_MAX: usize = 500;
/// Matches a search may gather when its index does not hold the requested order (it must see
/// every match to sort them).
pub const ALL_MATCHES_MAX: usize = 1_000;
/// The deepest `offset` (V2) or `(page - 1) × per_page` (V1): reaching it costs reading every
/// entry before it, in any index.
pub const MAX_OFFSET: usize = 1_000;

/// How many matches a page at `offset` counts before it stops: its own, the next page's and
/// one more. `total_entries` is that count, so it is exact whenever the matches end within
/// the next page, and otherwise says "at least this many" (`offset + 2 × limit + 1`): a next
/// page follows, and one after it. Counting further would cost reads that grow with the
/// matches.
pub fn counted_matches(offset: usize, limit: usize) -> usize {
    offset + 2 * limit + 1
}

/// The 422 of a search that needs more reads than [`ENTRIES_MAX`] or [`USERS_MAX`].
pub fn too_broad() -> ApiError {
    ApiError::Unprocessable(format!(
        "Search too broad: answering it would read more than {ENTRIES_MAX} index entries or {USERS_MAX} users. Narrow it with a condition the index answers (id, login, email, an exact value, a longer start_with, user_tags, created_at), or page nearer the start"
    ))
}

/// The 422 of a search whose order its index does not hold and which has too many matches.
pub fn too_many_to_sort(sort: &str) -> ApiError {
    ApiError::Unprocessable(format!(
        "Search too broad to sort by {sort}: more than {ALL_MATCHES_MAX} users match. Sort by id (or by the field start_with searches), or narrow the search"
    ))
}

/// The 422 of an offset past [`MAX_OFFSET`].
pub fn too_deep(name: &str) -> ApiError {
    ApiError::Unprocessable(format!(
        "{name} is too deep: the offset may be at most {MAX_OFFSET} (deeper pages cost reading every result before them)"
    ))
}
