//! An application's users in order, through the sharded `users_by_*` indexes (V1 listing).
//! Each shard is a partition `USERS#<app>#<n>`; a listing reads every shard and merges.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::Select;

use crate::store::item::{Item, ItemExt, s};
use crate::store::{Store, StoreError, keys};

/// The user id of an index row. Key-only rows carry the table key (`USER#<id>`) and the
/// index key, but not `id` unless the index is ordered by it.
fn user_id_of(item: &Item) -> Option<i64> {
    item.str("pk")?.strip_prefix("USER#")?.parse().ok()
}

impl Store {
    /// The first `count` (sort value, user id) pairs of `index` across every shard of the
    /// application, in index order (ascending or descending). One query per shard.
    pub async fn first_in_order(
        &self,
        app_id: i64,
        index: &str,
        sort_attribute: &str,
        descending: bool,
        count: usize,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut merged = Vec::new();
        for shard in 0..keys::APP_SHARDS {
            let mut taken = 0;
            let mut pages = self
                .shard_query(app_id, index, shard)
                .scan_index_forward(!descending)
                .limit(i32::try_from(count.max(1)).unwrap_or(i32::MAX))
                .into_paginator()
                .send();
            while taken < count
                && let Some(page) = pages.next().await
            {
                for item in page.map_err(StoreError::backend)?.items.unwrap_or_default() {
                    if let (Some(value), Some(id)) = (item.int(sort_attribute), user_id_of(&item)) {
                        merged.push((value, id));
                        taken += 1;
                    }
                }
            }
        }
        merged.sort_unstable();
        if descending {
            merged.reverse();
        }
        merged.truncate(count);
        Ok(merged)
    }

    /// A query of one of the application's shards of `index`.
    fn shard_query(&self, app_id: i64, index: &str, shard: i64) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(self.table())
            .index_name(index)
            .key_condition_expression("app_shard = :shard")
            .expression_attribute_values(":shard", s(keys::app_shard(app_id, shard)))
    }

    /// How many users the application has (a key-only count per shard).
    pub async fn count_app_users(&self, app_id: i64, index: &str) -> Result<usize, StoreError> {
        let mut total = 0usize;
        for shard in 0..keys::APP_SHARDS {
            let mut pages = self.shard_query(app_id, index, shard).select(Select::Count).into_paginator().send();
            while let Some(page) = pages.next().await {
                total += usize::try_from(page.map_err(StoreError::backend)?.count).unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// Every user id of the application (for filtered listings).
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
