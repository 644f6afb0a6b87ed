//! Applications and the globally unique auth-key index.

use crate::clock::Timestamp;
use crate::domain::app::{App, AppSettings};
use crate::domain::cidp::CidpSettings;
use crate::domain::limits::{AbuseLimits, Rate};
use crate::domain::social::{FacebookApp, TwitterApp};
use crate::store::ids::APPS;
use crate::store::item::{Item, ItemBuilder, ItemExt, key};
use crate::store::{Claim, Store, StoreError, Tx, keys};

/// Why an application with kept credentials could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum KeptAppError {
    #[error("application id is already in use")]
    IdTaken,
    #[error("auth key is already used by application {0}")]
    AuthKeyTaken(i64),
    #[error("the application id or auth key was taken meanwhile")]
    Raced,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn app_item(app: &App, now: Timestamp) -> Item {
    let (pk, sk) = keys::app(app.id);
    let s = &app.settings;
    ItemBuilder::key(pk, sk)
        .n("id", app.id)
        .s("name", &app.name)
        .s("auth_key", &app.auth_key)
        .s("auth_secret", &app.auth_secret)
        .bool("allow_session_without_user", s.allow_session_without_user)
        .bool("require_signature", s.require_signature)
        .n("session_ttl", s.session_ttl_secs)
        .n("session_max_lifetime", s.session_max_lifetime_secs)
        .bool("users_v1_listing", s.users_v1_listing)
        .list("firebase_projects", &s.firebase_projects)
        .opt_s("cidp_url", s.cidp.as_ref().map(|c| c.url.as_str()))
        .opt_s("cidp_method", s.cidp.as_ref().map(|c| c.method.as_str()))
        .opt_s("cidp_request", s.cidp.as_ref().map(CidpSettings::request_json).as_deref())
        .opt_s("cidp_response", s.cidp.as_ref().map(CidpSettings::response_json).as_deref())
        .opt_s("facebook_app_id", s.facebook.as_ref().map(|f| f.app_id.as_str()))
        .opt_s("facebook_app_secret", s.facebook.as_ref().map(|f| f.app_secret.as_str()))
        .opt_s("twitter_consumer_key", s.twitter.as_ref().map(|t| t.consumer_key.as_str()))
        .opt_s("twitter_consumer_secret", s.twitter.as_ref().map(|t| t.consumer_secret.as_str()))
        .opt_s("reset_subject", s.reset_subject.as_deref())
        .opt_s("reset_body", s.reset_body.as_deref())
        .s("limit_login_ip", s.limits.login_failures_per_ip.to_string())
        .s("limit_login_account_ip", s.limits.login_failures_per_account_ip.to_string())
        .s("limit_login_account_total", s.limits.login_failures_per_account.to_string())
        .s("upload_quota", s.limits.uploads_per_user.to_string())
        .bool("identity_change_without_password", s.identity_change_without_password)
        .s("limit_signup_ip", s.limits.signups_per_ip.to_string())
        .s("limit_search_ip", s.limits.searches_per_ip.to_string())
        .opt_s("lockout", s.limits.lockout.map(|r| r.to_string()).as_deref())
        .opt_s("migrate_from", s.migrate_from.as_deref())
        .n("created_at", app.created_at)
        .n("updated_at", now)
        .build()
}

fn app_from_item(item: &Item) -> Result<App, StoreError> {
    let corrupt = || StoreError::Corrupt("application item".into());
    let defaults = AppSettings::default();
    Ok(App {
        id: item.int("id").ok_or_else(corrupt)?,
        name: item.str("name").unwrap_or_default(),
        auth_key: item.str("auth_key").ok_or_else(corrupt)?,
        auth_secret: item.str("auth_secret").ok_or_else(corrupt)?,
        settings: AppSettings {
            allow_session_without_user: item.flag("allow_session_without_user"),
            require_signature: item.flag("require_signature"),
            session_ttl_secs: item.int("session_ttl").unwrap_or(defaults.session_ttl_secs),
            session_max_lifetime_secs: item.int("session_max_lifetime").unwrap_or(defaults.session_max_lifetime_secs),
            users_v1_listing: item.flag("users_v1_listing"),
            identity_change_without_password: item.flag("identity_change_without_password"),
            firebase_projects: item.strings("firebase_projects"),
            cidp: match (
                item.str("cidp_url"),
                item.str("cidp_method"),
                item.str("cidp_request"),
                item.str("cidp_response"),
            ) {
                (Some(url), Some(method), Some(request), Some(response)) => {
                    Some(CidpSettings::parse(&url, &method, &request, &response).map_err(StoreError::Corrupt)?)
                }
                _ => None,
            },
            facebook: item
                .str("facebook_app_id")
                .zip(item.str("facebook_app_secret"))
                .map(|(app_id, app_secret)| FacebookApp { app_id, app_secret }),
            twitter: item
                .str("twitter_consumer_key")
                .zip(item.str("twitter_consumer_secret"))
                .map(|(consumer_key, consumer_secret)| TwitterApp { consumer_key, consumer_secret }),
            reset_subject: item.str("reset_subject"),
            reset_body: item.str("reset_body"),
            limits: limits_from_item(item),
            migrate_from: item.str("migrate_from"),
        },
        created_at: item.int("created_at").unwrap_or_default(),
    })
}

/// The stored limits; an attribute that is missing (an application saved before limits
/// existed) or unreadable falls back to its default.
fn limits_from_item(item: &Item) -> AbuseLimits {
    let defaults = AbuseLimits::default();
    let rate = |name: &str| item.str(name).and_then(|text| text.parse::<Rate>().ok());
    AbuseLimits {
        login_failures_per_ip: rate("limit_login_ip").unwrap_or(defaults.login_failures_per_ip),
        // Before the account limit was split, `limit_login_account` counted failures on an
        // account from anywhere; an application saved then keeps that number per source…
        login_failures_per_account_ip: rate("limit_login_account_ip")
            .or_else(|| rate("limit_login_account"))
            .unwrap_or(defaults.login_failures_per_account_ip),
        // …and stays the account's ceiling too, until the application is saved anew.
        login_failures_per_account: rate("limit_login_account_total")
            .or_else(|| rate("limit_login_account"))
            .unwrap_or(defaults.login_failures_per_account),
        uploads_per_user: item
            .str("upload_quota")
            .and_then(|text| text.parse().ok())
            .unwrap_or(defaults.uploads_per_user),
        signups_per_ip: rate("limit_signup_ip").unwrap_or(defaults.signups_per_ip),
        searches_per_ip: rate("limit_search_ip").unwrap_or(defaults.searches_per_ip),
        lockout: rate("lockout"),
    }
}

/// Reads an app from any item that is one (used by batched reads).
pub(crate) fn parse_app(item: &Item) -> Result<App, StoreError> {
    app_from_item(item)
}

pub(crate) fn app_key(id: i64) -> Item {
    let (pk, sk) = keys::app(id);
    key(pk, sk)
}

impl Store {
    /// Creates an application with a fresh id and fresh random credentials.
    pub async fn create_app(&self, name: &str, settings: AppSettings, now: Timestamp) -> Result<App, StoreError> {
        loop {
            let id = self.next_id(APPS).await?;
            let app = App::new(id, name.to_string(), settings.clone(), now);
            match self.insert_app(&app, now).await {
                // The id was taken by an app inserted with an explicit id, or (astronomically
                // unlikely) the random auth key collided: draw both again.
                Err(StoreError::Conflict(_)) => continue,
                other => return other.map(|()| app),
            }
        }
    }

    /// Saves a new application with the given credentials; the id and the auth key must
    /// both be unused.
    pub async fn insert_app(&self, app: &App, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        self.tx_insert_app(&mut tx, app, now);
        self.commit(tx).await?;
        self.apps.remember(app);
        Ok(())
    }

    /// The application and its auth-key index item in `tx`, each only if its key is free.
    fn tx_insert_app(&self, tx: &mut Tx, app: &App, now: Timestamp) {
        let (pk, sk) = keys::auth_key(&app.auth_key);
        tx.put_new(self.table(), app_item(app, now), Claim::NewItem);
        tx.put_new(self.table(), ItemBuilder::key(pk, sk).n("app_id", app.id).build(), Claim::NewItem);
    }

    /// Saves an application that keeps the credentials it had elsewhere (an application
    /// moved from hosted ConnectyCube, whose SDK builds carry its id, key and secret). The id
    /// and the auth key must both be unused; ids the counter hands out later skip it
    /// ([`Store::create_app`] draws again on a taken id).
    pub async fn insert_kept_app(&self, app: &App, now: Timestamp) -> Result<(), KeptAppError> {
        let (taken_id, taken_key) = tokio::join!(self.get(app_key(app.id)), self.app_id_for_auth_key(&app.auth_key));
        if taken_id?.is_some() {
            return Err(KeptAppError::IdTaken);
        }
        if let Some(owner) = taken_key? {
            return Err(KeptAppError::AuthKeyTaken(owner));
        }
        let (list_pk, list_sk) = keys::kept_app(app.id);
        let mut tx = Tx::new();
        self.tx_insert_app(&mut tx, app, now);
        tx.put(self.table(), ItemBuilder::key(list_pk, list_sk).n("app_id", app.id).build());
        match self.commit(tx).await {
            Ok(()) => {
                self.apps.remember(app);
                Ok(())
            }
            // Taken between the reads and the write.
            Err(StoreError::Conflict(_)) => Err(KeptAppError::Raced),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn get_app(&self, id: i64) -> Result<Option<App>, StoreError> {
        let app = self.get(app_key(id)).await?.map(|item| app_from_item(&item)).transpose()?;
        if let Some(app) = &app {
            self.apps.remember(app);
        }
        Ok(app)
    }

    /// The application that owns `auth_key`, for signup with only `CB-AuthKey`.
    pub async fn app_id_for_auth_key(&self, auth_key: &str) -> Result<Option<i64>, StoreError> {
        let (pk, sk) = keys::auth_key(auth_key);
        Ok(self.get(key(pk, sk)).await?.and_then(|item| item.int("app_id")))
    }

    /// Saves changed settings (or name) of an existing application.
    pub async fn update_app(&self, app: &App, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        tx.put_conditional(
            self.table(),
            app_item(app, now),
            crate::store::Expr::new("attribute_exists(pk)"),
            Claim::Unchanged,
        );
        self.commit(tx).await?;
        self.apps.remember(app);
        Ok(())
    }

    /// Every application, by id (administrative use): the counter's ids, dense because apps
    /// never reserve id blocks, and the kept ones listed in their own partition.
    pub async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        let (last, kept) = tokio::join!(self.counter_value(APPS), self.query_prefix(keys::KEPT_APPS, ""));
        let kept: Vec<i64> = kept?.iter().filter_map(|item| item.int("app_id")).filter(|id| *id > 0).collect();
        let mut ids: Vec<i64> = (1..=last?).chain(kept).collect();
        ids.sort_unstable();
        ids.dedup();
        let keys: Vec<Item> = ids.into_iter().map(app_key).collect();
        let mut apps = self.batch_get(keys).await?.iter().map(app_from_item).collect::<Result<Vec<_>, _>>()?;
        apps.sort_by_key(|a| a.id);
        Ok(apps)
    }
}
