//! Users and their uniqueness markers.

use crate::clock::Timestamp;
use crate::domain::app::App;
use crate::domain::user::{UniqueField, User};
use crate::store::apps::{app_key, parse_app};
use crate::store::item::{Item, ItemBuilder, ItemExt, is_expired, key};
use crate::store::{Claim, Store, StoreError, Tx, keys};

pub(crate) fn user_item(user: &User) -> Item {
    let (pk, sk) = keys::user(user.id);
    ItemBuilder::key(pk, sk)
        .n("id", user.id)
        .n("app_id", user.app_id)
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
    if is_expired(item, now) {
        None
    } else {
        item.int("user_id")
    }
}

impl Store {
    /// The user with `id`, if it exists and has not expired.
    pub async fn get_user(&self, id: i64, now: Timestamp) -> Result<Option<User>, StoreError> {
        let Some(item) = self.get(user_key(id)).await? else {
            return Ok(None);
        };
        let user = user_from_item(&item)?;
        Ok(user.is_live(now).then_some(user))
    }

    /// The id of the user of `app_id` whose `field` equals `value` (normalised).
    pub async fn find_user_id(
        &self,
        app_id: i64,
        field: UniqueField,
        value: &str,
        now: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let item = self
            .get(unique_key(app_id, field, &field.normalise(value)))
            .await?;
        Ok(item.and_then(|item| marker_user(&item, now)))
    }

    /// The application and, in the same round trip, the user id behind a unique field:
    /// what `POST /session` with a login or email needs before it can verify a password.
    pub async fn app_and_user_id(
        &self,
        app_id: i64,
        lookup: Option<(UniqueField, &str)>,
        now: Timestamp,
    ) -> Result<(Option<App>, Option<i64>), StoreError> {
        let Some((field, value)) = lookup else {
            return Ok((self.get_app(app_id).await?, None));
        };
        let (app_pk, _) = keys::app(app_id);
        let items = self
            .batch_get(vec![
                app_key(app_id),
                unique_key(app_id, field, &field.normalise(value)),
            ])
            .await?;
        let mut app = None;
        let mut user_id = None;
        for item in &items {
            if item.str("pk").as_deref() == Some(app_pk.as_str()) {
                app = Some(parse_app(item)?);
            } else {
                user_id = marker_user(item, now);
            }
        }
        Ok((app, user_id))
    }

    /// Adds a new user and a marker for each of its unique values to `tx`. A taken value
    /// fails the transaction with `Claim::Unique(field)`; an expired guest's marker does not
    /// count as taken.
    pub fn tx_insert_user(&self, tx: &mut Tx, user: &User, now: Timestamp) {
        tx.put_new(self.table(), user_item(user), Claim::NewItem);
        for (field, value) in user.unique_values() {
            let (pk, sk) = keys::unique(user.app_id, field, &value);
            let marker = ItemBuilder::key(pk, sk)
                .n("user_id", user.id)
                .n("app_id", user.app_id)
                .opt_n("expires_at", user.expires_at)
                .build();
            tx.put_new_or_expired(self.table(), marker, now, Claim::Unique(field));
        }
    }
}
