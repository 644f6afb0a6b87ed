//! Password reset records.
//!
//! | item                  | pk                    | sk               |
//! |-----------------------|-----------------------|------------------|
//! | mail to send (outbox) | `OUTBOX`              | `<time>#<app>#<user>#<rand>` |
//! | decoy of an outbox    | `DECOY#<sha256>`      | `#DECOY`         |
//! | reset token           | `RESET#<sha256(tok)>` | `#RESET`         |
//! | user's current token  | `USER#<id>`           | `#RESET`         |
//!
//! A reset request writes one outbox item (or, for an address with no account, one decoy of
//! the same shape), so both answers cost the same. The mail sender issues the token when it
//! sends: the token is never stored, only its hash, and issuing one replaces the user's
//! previous token in the same transaction.
//!
//! The outbox key names the application and user it is for: the table's stream hands the mail
//! sender keys only, and with the ids in the key the sender reads the queued mail, the user,
//! the application and the user's current token in one `BatchGetItem`.

use crate::clock::Timestamp;
use crate::crypto::random::random_upper_hex;
use crate::domain::app::App;
use crate::domain::user::User;
use crate::store::apps::{app_key, parse_app};
use crate::store::item::{Item, ItemBuilder, ItemExt, is_expired, key};
use crate::store::users::{user_from_item, user_key};
use crate::store::{Claim, Expr, Store, StoreError, Tx, keys};

pub const OUTBOX_PK: &str = "OUTBOX";

/// A queued password-reset mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxReset {
    pub sk: String,
    pub app_id: i64,
    pub user_id: i64,
    pub email: String,
}

impl OutboxReset {
    /// A mail to queue at `now` for `user_id` of `app_id`, under a fresh outbox key.
    pub fn new(now: Timestamp, app_id: i64, user_id: i64, email: String) -> Self {
        let sk = format!("{now:012}#{app_id}#{user_id}#{}", random_upper_hex::<8>());
        OutboxReset { sk, app_id, user_id, email }
    }
}

/// The application and user ids an outbox key names.
pub fn outbox_key_ids(sk: &str) -> Option<(i64, i64)> {
    let mut parts = sk.split('#');
    let (_time, app_id, user_id) = (parts.next()?, parts.next()?, parts.next()?);
    Some((app_id.parse().ok()?, user_id.parse().ok()?))
}

/// Everything sending one queued mail needs, read together.
#[derive(Debug)]
pub struct ResetDelivery {
    pub reset: OutboxReset,
    /// The user, if still live.
    pub user: Option<User>,
    pub app: Option<App>,
    /// The hash of the user's current (unexpired) reset token, which the new one replaces.
    pub previous: Option<String>,
}

/// A stored (hashed) reset token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetToken {
    pub token_hash: String,
    pub app_id: i64,
    pub user_id: i64,
    pub expires_at: Timestamp,
}

fn token_key(hash: &str) -> Item {
    key(format!("RESET#{hash}"), "#RESET")
}

fn pointer_key(user_id: i64) -> Item {
    key(keys::user_pk(user_id), "#RESET")
}

fn outbox_from(item: &Item) -> Option<OutboxReset> {
    Some(OutboxReset {
        sk: item.str("sk")?,
        app_id: item.int("app_id")?,
        user_id: item.int("user_id")?,
        email: item.str("email")?,
    })
}

impl Store {
    /// Queues a reset mail, or writes its decoy under `decoy_id`: one put either way.
    pub async fn queue_reset(
        &self,
        reset: Option<&OutboxReset>,
        decoy_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let item = match reset {
            Some(reset) => ItemBuilder::key(OUTBOX_PK, &reset.sk)
                .n("app_id", reset.app_id)
                .n("user_id", reset.user_id)
                .s("email", &reset.email)
                .n("expires_at", expires_at)
                .build(),
            None => ItemBuilder::key(format!("DECOY#{decoy_id}"), "#DECOY")
                .n("app_id", 0)
                .n("user_id", 0)
                .s("email", "-")
                .n("expires_at", expires_at)
                .build(),
        };
        let mut tx = Tx::new();
        tx.put(self.table(), item);
        self.commit(tx).await
    }

    /// A read that finds nothing, costing what reading a user costs (for the decoy path).
    pub async fn read_nothing(&self) -> Result<(), StoreError> {
        self.get(user_key(0)).await.map(|_| ())
    }

    /// Queued reset mails, oldest first (up to one page).
    pub async fn pending_resets(&self, now: Timestamp) -> Result<Vec<OutboxReset>, StoreError> {
        let items = self.query_prefix(OUTBOX_PK, "").await?;
        Ok(items.iter().filter(|i| !is_expired(i, now)).filter_map(outbox_from).collect())
    }

    /// The queued mail under `sk` with its user, application and the user's current token,
    /// in one round trip; `None` when the mail is no longer queued (sent, or expired).
    pub async fn reset_delivery(&self, sk: &str, now: Timestamp) -> Result<Option<ResetDelivery>, StoreError> {
        let Some((app_id, user_id)) = outbox_key_ids(sk) else { return Ok(None) };
        let (outbox, user, app, pointer) =
            (key(OUTBOX_PK, sk), user_key(user_id), app_key(app_id), pointer_key(user_id));
        let items = self.batch_get(vec![outbox.clone(), user.clone(), app.clone(), pointer.clone()]).await?;
        let find =
            |wanted: &Item| items.iter().find(|i| i.get("pk") == wanted.get("pk") && i.get("sk") == wanted.get("sk"));
        let Some(reset) = find(&outbox).filter(|i| !is_expired(i, now)).and_then(outbox_from) else { return Ok(None) };
        let user = find(&user).map(user_from_item).transpose()?.filter(|u| u.is_live(now));
        let app = find(&app).map(parse_app).transpose()?;
        let previous = find(&pointer).filter(|i| !is_expired(i, now)).and_then(|i| i.str("token_hash"));
        Ok(Some(ResetDelivery { reset, user, app, previous }))
    }

    pub async fn delete_outbox(&self, sk: &str) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        tx.delete(self.table(), key(OUTBOX_PK, sk));
        self.commit(tx).await
    }

    /// Issues a token for a queued mail: stores its hash, makes it the user's current token
    /// (the previous one stops working), all only while the mail is still queued and, given
    /// `user_version`, while the user is still as read (a change of address or password
    /// since must not get a link).
    pub async fn issue_reset(
        &self,
        reset: &OutboxReset,
        token: &ResetToken,
        previous: Option<&str>,
        user_version: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        if let Some(version) = user_version {
            let unchanged = Expr::new("version = :version").value(":version", crate::store::item::n(version));
            tx.check(self.table(), crate::store::users::user_key(token.user_id), unchanged, Claim::Unchanged);
        }
        tx.put(
            self.table(),
            ItemBuilder::key(format!("RESET#{}", token.token_hash), "#RESET")
                .n("user_id", token.user_id)
                .n("app_id", token.app_id)
                .n("expires_at", token.expires_at)
                .build(),
        );
        tx.put(
            self.table(),
            ItemBuilder::key(keys::user_pk(token.user_id), "#RESET")
                .s("token_hash", &token.token_hash)
                .n("expires_at", token.expires_at)
                .build(),
        );
        if let Some(previous) = previous.filter(|p| *p != token.token_hash) {
            tx.delete(self.table(), token_key(previous));
        }
        tx.check(self.table(), key(OUTBOX_PK, &reset.sk), Expr::new("attribute_exists(pk)"), Claim::Unchanged);
        self.commit(tx).await
    }

    /// A reset token by hash, unless expired.
    pub async fn reset_token(&self, hash: &str, now: Timestamp) -> Result<Option<ResetToken>, StoreError> {
        let item = self.get(token_key(hash)).await?;
        Ok(item.filter(|i| !is_expired(i, now)).and_then(|i| {
            Some(ResetToken {
                token_hash: hash.to_string(),
                app_id: i.int("app_id")?,
                user_id: i.int("user_id")?,
                expires_at: i.int("expires_at")?,
            })
        }))
    }

    /// Adds to `tx` the end of `user_id`'s outstanding reset link, if any: a reset needs the
    /// user's pointer to name its token, so without one no earlier link works.
    pub fn tx_void_reset(&self, tx: &mut Tx, user_id: i64) {
        tx.delete(self.table(), pointer_key(user_id));
    }

    /// Adds the one-time use of `token` to `tx`: the token and the user's pointer go, and
    /// only if the token still exists, has not expired and is still the user's current one.
    pub fn tx_consume_reset(&self, tx: &mut Tx, token: &ResetToken, now: Timestamp) {
        let live = Expr::new("attribute_exists(pk) AND expires_at > :now_reset")
            .value(":now_reset", crate::store::item::n(now));
        tx.delete_if(self.table(), token_key(&token.token_hash), live, Claim::ResetToken);
        let current = Expr::new("token_hash = :hash").value(":hash", crate::store::item::s(&token.token_hash));
        tx.delete_if(self.table(), pointer_key(token.user_id), current, Claim::ResetToken);
    }
}
