//! Users and everything that finds them: uniqueness markers, search items and tag items.
//! All of them change in the same transaction as the user item, so no index can point at a
//! user that is not there or miss one that is.

use std::collections::{BTreeSet, HashSet};

use crate::clock::Timestamp;
use crate::domain::app::App;
use crate::domain::user::{UniqueField, User};
use crate::store::apps::{app_key, parse_app};
use crate::store::item::{Item, ItemBuilder, ItemExt, is_expired, key, n, s};
use crate::store::prefetch::Prefetched;
use crate::store::{Claim, Expr, Store, StoreError, Tx, keys};

pub(crate) fn user_item(user: &User) -> Item {
    let (pk, sk) = keys::user(user.id);
    ItemBuilder::key(pk, sk)
        .n("id", user.id)
        .n("app_id", user.app_id)
        .s("app_shard", keys::app_shard(user.app_id, user.id))
        .opt_s("login", user.login.as_deref())
        .opt_s("email", user.email.as_deref())
        .opt_s("full_name", user.full_name.as_deref())
        .opt_s("phone", user.phone.as_deref())
        .opt_s("website", user.website.as_deref())
        .opt_n("external_user_id", user.external_user_id)
        .opt_s("external_id", user.external_id.as_deref())
        .opt_s("facebook_id", user.facebook_id.as_deref())
        .opt_s("twitter_id", user.twitter_id.as_deref())
        .opt_s("custom_data", user.custom_data.as_deref())
        .list("tags", &user.tags)
        .opt_s("avatar", user.avatar.as_deref())
        .opt_n("blob_id", user.blob_id)
        .opt_n("timezone", user.timezone)
        .bool("is_guest", user.is_guest)
        .opt_s("password_hash", user.password_hash.as_deref())
        .n("created_at", user.created_at)
        .n("updated_at", user.updated_at)
        .opt_n("last_request_at", user.last_request_at)
        .opt_n("expires_at", user.expires_at)
        .n("version", user.version)
        .list("identities", &user.identities)
        .flag_if("awaiting_password", user.awaiting_password)
        .build()
}

pub(crate) fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let corrupt = || StoreError::Corrupt("user item".into());
    Ok(User {
        id: item.int("id").ok_or_else(corrupt)?,
        app_id: item.int("app_id").ok_or_else(corrupt)?,
        login: item.str("login"),
        email: item.str("email"),
        full_name: item.str("full_name"),
        phone: item.str("phone"),
        website: item.str("website"),
        external_user_id: item.int("external_user_id"),
        external_id: item.str("external_id"),
        facebook_id: item.str("facebook_id"),
        twitter_id: item.str("twitter_id"),
        custom_data: item.str("custom_data"),
        tags: item.strings("tags"),
        avatar: item.str("avatar"),
        blob_id: item.int("blob_id"),
        timezone: item.int("timezone"),
        is_guest: item.flag("is_guest"),
        password_hash: item.str("password_hash"),
        created_at: item.int("created_at").unwrap_or_default(),
        updated_at: item.int("updated_at").unwrap_or_default(),
        last_request_at: item.int("last_request_at"),
        expires_at: item.int("expires_at"),
        version: item.int("version").unwrap_or_default(),
        identities: item.strings("identities"),
        awaiting_password: item.flag("awaiting_password"),
    })
}

pub(crate) fn user_key(id: i64) -> Item {
    let (pk, sk) = keys::user(id);
    key(pk, sk)
}

fn unique_key(app_id: i64, field: UniqueField, normalised: &str) -> Item {
    let (pk, sk) = keys::unique(app_id, field, normalised);
    key(pk, sk)
}

/// A marker's user id, unless it is expired (a guest's marker past the guest's lifetime).
fn marker_user(item: &Item, now: Timestamp) -> Option<i64> {
    if is_expired(item, now) { None } else { item.int("user_id") }
}

/// What a login or email marker tells before the user is read: whose it is, and the user's
/// password hash, copied onto the marker by the same transactions that set it on the user. A
/// login can start verifying the password as soon as it has the marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub user_id: i64,
    pub password_hash: Option<String>,
}

/// Whether users sign in with a password by this field (so its marker carries the hash).
fn signs_in(field: UniqueField) -> bool {
    matches!(field, UniqueField::Login | UniqueField::Email)
}

fn marker_credential(item: &Item, now: Timestamp) -> Option<Credential> {
    let user_id = marker_user(item, now)?;
    Some(Credential { user_id, password_hash: item.str("password_hash") })
}

/// Only the user that owns an index item may remove it.
fn owned_by(user_id: i64) -> Expr {
    Expr::new("attribute_not_exists(pk) OR user_id = :owner").value(":owner", n(user_id))
}

/// The keys of the users `ids`, each once.
pub fn user_keys(ids: &[i64]) -> Vec<Item> {
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    unique.into_iter().map(user_key).collect()
}

/// The keys of the markers of `values` of `field` in `app_id`, each once (empty values,
/// which no user holds, left out).
pub fn unique_keys(app_id: i64, field: UniqueField, values: &[String]) -> Vec<Item> {
    let normalised: BTreeSet<String> = values.iter().map(|v| field.normalise(v)).filter(|v| !v.is_empty()).collect();
    normalised.iter().map(|v| unique_key(app_id, field, v)).collect()
}

impl Store {
    /// The user with `id`, if it exists and has not expired.
    pub async fn get_user(&self, id: i64, now: Timestamp) -> Result<Option<User>, StoreError> {
        self.get_user_from(&Prefetched::nothing(), id, now).await
    }

    /// [`Store::get_user`], from `prefetched` when it holds the user's key.
    pub async fn get_user_from(
        &self,
        prefetched: &Prefetched,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let key = user_key(id);
        let item = match prefetched.covering(std::slice::from_ref(&key)) {
            Some(items) => items.first().map(|item| (*item).clone()),
            None => self.get(key).await?,
        };
        let Some(item) = item else { return Ok(None) };
        let user = user_from_item(&item)?;
        Ok(user.is_live(now).then_some(user))
    }

    /// The live users of `app_id` among `ids` (strongly consistent, 100 per round trip).
    pub async fn users_by_ids(&self, app_id: i64, ids: &[i64], now: Timestamp) -> Result<Vec<User>, StoreError> {
        self.users_by_ids_from(&Prefetched::nothing(), app_id, ids, now).await
    }

    /// [`Store::users_by_ids`], from `prefetched` when it holds every one of them.
    pub async fn users_by_ids_from(
        &self,
        prefetched: &Prefetched,
        app_id: i64,
        ids: &[i64],
        now: Timestamp,
    ) -> Result<Vec<User>, StoreError> {
        let items = self.read_from(prefetched, user_keys(ids)).await?;
        let mut users = Vec::with_capacity(items.len());
        for item in &items {
            let user = user_from_item(item)?;
            if user.app_id == app_id && user.is_live(now) {
                users.push(user);
            }
        }
        users.sort_by_key(|u| u.id);
        Ok(users)
    }

    /// The id of the user of `app_id` whose `field` equals `value` (normalised).
    pub async fn find_user_id(
        &self,
        app_id: i64,
        field: UniqueField,
        value: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let item = self.get(unique_key(app_id, field, &field.normalise(value))).await?;
        Ok(item.and_then(|item| marker_user(&item, now)))
    }

    /// The ids of the users whose `field` is any of `values`, through the markers, from
    /// `prefetched` when it holds every marker.
    pub async fn find_user_ids_from(
        &self,
        prefetched: &Prefetched,
        app_id: i64,
        field: UniqueField,
        values: &[String],
        now: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        let items = self.read_from(prefetched, unique_keys(app_id, field, values)).await?;
        Ok(items.iter().filter_map(|item| marker_user(item, now)).collect())
    }

    /// The items at `keys` (each once), from `prefetched` when it holds them all, else in
    /// one `BatchGetItem` round trip per 100.
    async fn read_from(&self, prefetched: &Prefetched, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        match prefetched.covering(&keys) {
            Some(items) => Ok(items.into_iter().cloned().collect()),
            None => self.batch_get(keys).await,
        }
    }

    /// The application and, in the same round trip, the credential behind a unique field:
    /// what `POST /session` with a login or email needs before it can verify a password.
    pub async fn app_and_credential(
        &self,
        app_id: i64,
        lookup: Option<(UniqueField, &str)>,
        now: Timestamp,
    ) -> Result<(Option<App>, Option<Credential>), StoreError> {
        let Some((field, value)) = lookup else {
            return Ok((self.get_app(app_id).await?, None));
        };
        let (app_pk, _) = keys::app(app_id);
        let items = self.batch_get(vec![app_key(app_id), unique_key(app_id, field, &field.normalise(value))]).await?;
        let mut app = None;
        let mut credential = None;
        for item in &items {
            if item.str("pk").as_deref() == Some(app_pk.as_str()) {
                let parsed = parse_app(item)?;
                self.apps.remember(&parsed);
                app = Some(parsed);
            } else {
                credential = marker_credential(item, now);
            }
        }
        Ok((app, credential))
    }

    /// Adds a new user with its markers, search items and tag items to `tx`. A taken unique
    /// value fails the transaction with `Claim::Unique(field)`; an expired guest's marker
    /// does not count as taken.
    pub fn tx_insert_user(&self, tx: &mut Tx, user: &User, now: Timestamp) {
        tx.put_new(self.table(), user_item(user), Claim::NewItem);
        self.tx_add_index_items(tx, user, &User::default(), now);
    }

    /// Replaces `old` by `new` (same id) in `tx`, if `old` is still the stored version, and
    /// swaps every index item whose value changed.
    pub fn tx_replace_user(&self, tx: &mut Tx, old: &User, new: &User, now: Timestamp) {
        let unchanged = Expr::new("version = :version").value(":version", n(old.version));
        tx.put_conditional(self.table(), user_item(new), unchanged, Claim::Unchanged);
        self.tx_remove_index_items(tx, old, new);
        self.tx_add_index_items(tx, new, old, now);
        if new.password_hash != old.password_hash {
            // Markers the user keeps carry the new hash from the same moment as the user does.
            let kept = old.unique_values();
            let keeps = |v: &(UniqueField, String)| signs_in(v.0) && kept.contains(v);
            for (field, value) in new.unique_values().into_iter().filter(keeps) {
                let set = match &new.password_hash {
                    Some(hash) => Expr::new("SET password_hash = :hash").value(":hash", s(hash)),
                    None => Expr::new("REMOVE password_hash"),
                };
                let owned = Expr::new("user_id = :owner").value(":owner", n(new.id));
                tx.update(self.table(), unique_key(new.app_id, field, &value), set, Some((owned, Claim::Unchanged)));
            }
        }
    }

    /// Deletes `user` and every index item of it in `tx`, if it is still the stored version.
    pub fn tx_delete_user(&self, tx: &mut Tx, user: &User) {
        let unchanged = Expr::new("version = :version").value(":version", n(user.version));
        tx.delete_if(self.table(), user_key(user.id), unchanged, Claim::Unchanged);
        self.tx_remove_index_items(tx, user, &User::default());
    }

    /// Index items of `user` that `previous` did not have.
    fn tx_add_index_items(&self, tx: &mut Tx, user: &User, previous: &User, now: Timestamp) {
        let had_unique = previous.unique_values();
        for (field, value) in user.unique_values() {
            if had_unique.contains(&(field, value.clone())) {
                continue;
            }
            let (pk, sk) = keys::unique(user.app_id, field, &value);
            let marker = ItemBuilder::key(pk, sk)
                .n("user_id", user.id)
                .n("app_id", user.app_id)
                .opt_s("password_hash", user.password_hash.as_deref().filter(|_| signs_in(field)))
                .opt_n("expires_at", user.expires_at)
                .build();
            tx.put_new_or_expired(self.table(), marker, now, Claim::Unique(field));
        }
        self.tx_add_search_and_tag_items(tx, user, previous);
    }

    /// Puts every search and tag item of `user` again, in the current layout, if the user is
    /// still the stored version: `users reindex`, after an upgrade changed what those items
    /// hold (their puts overwrite; markers are left alone).
    pub fn tx_rewrite_index_items(&self, tx: &mut Tx, user: &User) {
        let unchanged = Expr::new("version = :version").value(":version", n(user.version));
        tx.check(self.table(), user_key(user.id), unchanged, Claim::Unchanged);
        for (field, value) in user.search_entries() {
            let (pk, sk) = keys::legacy_search(user.app_id, field, &value, user.id);
            tx.delete(self.table(), key(pk, sk));
        }
        self.tx_add_search_and_tag_items(tx, user, &User::default());
    }

    /// Search and tag items of `user` that `previous` did not have (tag items whenever the
    /// tags or the date changed).
    fn tx_add_search_and_tag_items(&self, tx: &mut Tx, user: &User, previous: &User) {
        let had_search = previous.search_entries();
        for (field, value) in user.search_entries() {
            if had_search.contains(&(field, value.clone())) {
                continue;
            }
            let (pk, sk) = keys::search(user.app_id, field, &value, user.id);
            let item = ItemBuilder::key(pk, sk)
                .n("user_id", user.id)
                .s("value", &value)
                .n("created_at", user.created_at)
                .opt_n("expires_at", user.expires_at)
                .build();
            tx.put(self.table(), item);
        }
        // Each tag has two items, in id order and in created_at order. Each carries all of the
        // user's tags, so that tag conditions beside the one walked (`user_tags[nin]`) are
        // decided on the items: when the set changes, every kept tag's items are rewritten.
        let tags = user.tag_keys();
        if tags == previous.tag_keys() && user.created_at == previous.created_at {
            return;
        }
        for tag in &tags {
            let by_id = keys::tag(user.app_id, tag, user.id);
            let by_date = keys::tag_created(user.app_id, tag, user.created_at, user.id);
            for (pk, sk) in [by_id, by_date] {
                let item = ItemBuilder::key(pk, sk)
                    .n("user_id", user.id)
                    .n("created_at", user.created_at)
                    .list("tags", &tags)
                    .opt_n("expires_at", user.expires_at)
                    .build();
                tx.put(self.table(), item);
            }
        }
    }

    /// Index items of `user` that `next` no longer has.
    fn tx_remove_index_items(&self, tx: &mut Tx, user: &User, next: &User) {
        let keeps_unique = next.unique_values();
        for (field, value) in user.unique_values() {
            if !keeps_unique.contains(&(field, value.clone())) {
                let (pk, sk) = keys::unique(user.app_id, field, &value);
                tx.delete_if(self.table(), key(pk, sk), owned_by(user.id), Claim::Unchanged);
            }
        }
        // By key, not by value: two long values that share their first
        // SEARCH_VALUE_MAX_BYTES have one key, which the new value's put overwrites (a
        // transaction may not both delete and put one item).
        let next_keys: HashSet<(String, String)> = next
            .search_entries()
            .into_iter()
            .map(|(field, value)| keys::search(next.app_id, field, &value, next.id))
            .collect();
        for (field, value) in user.search_entries() {
            let (pk, sk) = keys::search(user.app_id, field, &value, user.id);
            if !next_keys.contains(&(pk.clone(), sk.clone())) {
                // Where the table predates `users reindex`, the item may still have its old key.
                let (old_pk, old_sk) = keys::legacy_search(user.app_id, field, &value, user.id);
                tx.delete(self.table(), key(old_pk, old_sk));
                tx.delete(self.table(), key(pk, sk));
            }
        }
        let keeps_tags = next.tag_keys();
        for tag in user.tag_keys() {
            if !keeps_tags.contains(&tag) {
                let (pk, sk) = keys::tag(user.app_id, &tag, user.id);
                tx.delete(self.table(), key(pk, sk));
            }
            // The dated item moves with the date too (the new one has another key).
            if !keeps_tags.contains(&tag) || next.created_at != user.created_at {
                let (pk, sk) = keys::tag_created(user.app_id, &tag, user.created_at, user.id);
                tx.delete(self.table(), key(pk, sk));
            }
        }
    }

    /// Every item of partition `pk` whose sort key starts with `prefix` (all pages).
    /// A key DynamoDB could never store matches nothing, without a request.
    pub(crate) async fn query_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        if pk.len() > keys::PK_MAX_BYTES || prefix.len() > keys::SK_MAX_BYTES {
            return Ok(Vec::new());
        }
        let query = self
            .client
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .expression_attribute_values(":pk", s(pk));
        let query = if prefix.is_empty() {
            query.key_condition_expression("pk = :pk")
        } else {
            query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
        };
        query.into_paginator().items().send().collect::<Result<Vec<Item>, _>>().await.map_err(StoreError::backend)
    }
}
