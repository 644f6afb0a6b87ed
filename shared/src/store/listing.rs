//! An application's users in order, through the sharded `users_by_*` indexes (V1 listing).
//! Each shard is a partition `USERS#<app>#<n>`; a listing reads every shard and merges.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;

use crate::store::item::{Item, ItemExt, s};
use crate::store::{Store, StoreError, keys};

/// The user id of an index row. Key-only rows carry the table key (`USER#<id>`) and the
/// index key, but not `id` unless the index is ordered by it.
fn user_id_of(item: &Item) -> Option<i64> {
    item.str("pk")?.strip_prefix("USER#")?.parse().ok()
}

impl Store {
    /// A query of one of the application's shards of `index`.
    fn shard_query(&self, app_id: i64, index: &str, shard: i64) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(self.table())
            .index_name(index)
            .key_condition_expression("app_shard = :shard")
            .expression_attribute_values(":shard", s(keys::app_shard(app_id, shard)))
    }

    /// Every user id of the application (`users export`; never on a request path).
    pub async fn all_app_user_ids(&self, app_id: i64, index: &str) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::new();
        for shard in 0..keys::APP_SHARDS {
            let mut pages = self.shard_query(app_id, index, shard).into_paginator().send();
            while let Some(page) = pages.next().await {
                ids.extend(page.map_err(StoreError::backend)?.items.unwrap_or_default().iter().filter_map(user_id_of));
            }
        }
        Ok(ids)
    }
}
