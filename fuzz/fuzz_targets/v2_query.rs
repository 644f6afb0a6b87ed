//! `GET /users/v2` query strings: parsing never panics, and an accepted query keeps its
//! documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::user_query::{MAX_LIMIT, UserQuery};
use shared::params::parse_urlencoded;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = parse_urlencoded(data) else { return };
    if let Ok(query) = UserQuery::parse(&params) {
        assert!((1..=MAX_LIMIT).contains(&query.limit));
        assert!(!query.conditions.is_empty());
    }
});
