//! Sessions, their link items in the user's partition, and signature nonces.

use crate::clock::Timestamp;
use crate::domain::session::{Session, SessionKind};
use crate::store::item::{Item, ItemBuilder, ItemExt, key, n, s};
use crate::store::prefetch::{self, Prefetched, SessionHint};
use crate::store::users::user_key;
use crate::store::{Claim, Expr, Store, StoreError, Tx, keys};

fn session_item(session: &Session) -> Item {
    let (pk, sk) = keys::session(&session.token_hash);
    ItemBuilder::key(pk, sk)
        .n("id", session.id)
        .n("app_id", session.app_id)
        .opt_n("user_id", session.user_id)
        .s("kind", session.kind.as_str())
        .n("created_at", session.created_at)
        .n("updated_at", session.updated_at)
        .n("last_active", session.last_active)
        .n("idle_ttl", session.idle_ttl)
        .n("hard_expires_at", session.hard_expires_at)
        .n("ts", session.ts)
        .opt_s("nonce", session.nonce.as_deref())
        .n("expires_at", session.expires_at())
        .build()
}

fn session_from_item(token_hash: &str, item: &Item) -> Result<Session, StoreError> {
    let corrupt = || StoreError::Corrupt("session item".into());
    Ok(Session {
        token_hash: token_hash.to_string(),
        id: item.int("id").ok_or_else(corrupt)?,
        app_id: item.int("app_id").ok_or_else(corrupt)?,
        user_id: item.int("user_id"),
        kind: item.str("kind").and_then(|k| SessionKind::parse(&k)).ok_or_else(corrupt)?,
        created_at: item.int("created_at").unwrap_or_default(),
        updated_at: item.int("updated_at").unwrap_or_default(),
        last_active: item.int("last_active").ok_or_else(corrupt)?,
        idle_ttl: item.int("idle_ttl").ok_or_else(corrupt)?,
        hard_expires_at: item.int("hard_expires_at").ok_or_else(corrupt)?,
        ts: item.int("ts").unwrap_or_default(),
        nonce: item.str("nonce"),
    })
}

fn session_key(token_hash: &str) -> Item {
    let (pk, sk) = keys::session(token_hash);
    key(pk, sk)
}

fn link_item(session: &Session, user_id: i64) -> Item {
    let (pk, sk) = keys::session_link(user_id, &session.token_hash);
    // The link lives as long as the session possibly could; TTL collects it afterwards.
    ItemBuilder::key(pk, sk).n("session_id", session.id).n("expires_at", session.hard_expires_at).build()
}

fn link_key(user_id: i64, token_hash: &str) -> Item {
    let (pk, sk) = keys::session_link(user_id, token_hash);
    key(pk, sk)
}

/// The condition "this session still exists and has not expired".
fn live_session(now: Timestamp) -> Expr {
    Expr::new("attribute_exists(pk) AND expires_at > :now_live").value(":now_live", n(now))
}

impl Store {
    /// The session stored under `token_hash`, expired or not (callers apply the clock).
    pub async fn get_session(&self, token_hash: &str) -> Result<Option<Session>, StoreError> {
        let item = self.get(session_key(token_hash)).await?;
        item.map(|item| session_from_item(token_hash, &item)).transpose()
    }

    /// The session stored under `token_hash` if it is live at `now`, with the keys `guess`
    /// names read in the same round trip (see [`crate::store::prefetch`]). `guess` is given
    /// what this instance last saw of the session, and is not asked at all for a token it has
    /// not seen live. Without keys to add, this is a plain `GetItem`.
    pub async fn get_live_session_prefetching(
        &self,
        token_hash: &str,
        now: Timestamp,
        guess: impl FnOnce(SessionHint) -> Vec<Item>,
    ) -> Result<(Option<Session>, Prefetched), StoreError> {
        let key = session_key(token_hash);
        let guessed = self.session_hints.hint(token_hash).map(guess).unwrap_or_default();
        let extra = prefetch::alongside(&key, guessed);
        let (session, prefetched) = if extra.is_empty() {
            (self.get_session(token_hash).await?, Prefetched::nothing())
        } else {
            let mut keys = Vec::with_capacity(extra.len() + 1);
            keys.push(key);
            keys.extend(extra);
            let mut found = self.batch_get(keys.clone()).await?;
            let at = found.iter().position(|item| prefetch::is_at(item, &keys[0]));
            let session = at.map(|at| session_from_item(token_hash, &found.swap_remove(at))).transpose()?;
            (session, Prefetched::new(&keys[1..], found))
        };
        match session.filter(|session| session.is_live(now)) {
            Some(session) => {
                self.session_hints.remember(&session);
                Ok((Some(session), prefetched))
            }
            None => {
                self.session_hints.forget(token_hash);
                Ok((None, Prefetched::nothing()))
            }
        }
    }

    /// Adds a new session (and its link in the user's partition) to `tx`.
    pub fn tx_insert_session(&self, tx: &mut Tx, session: &Session) {
        // Only a hint: if the transaction fails, the next read of the token forgets it.
        self.session_hints.remember(session);
        tx.put_new(self.table(), session_item(session), Claim::NewItem);
        if let Some(user_id) = session.user_id {
            tx.put(self.table(), link_item(session, user_id));
        }
    }

    /// Claims a signature nonce for `(app, timestamp, nonce)` until `expires_at`. A replay
    /// fails the transaction with `Claim::Nonce`.
    pub fn tx_claim_nonce(
        &self,
        tx: &mut Tx,
        app_id: i64,
        timestamp: i64,
        nonce: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) {
        let (pk, sk) = keys::nonce(app_id, timestamp, nonce);
        let item = ItemBuilder::key(pk, sk).n("expires_at", expires_at).build();
        tx.put_new_or_expired(self.table(), item, now, Claim::Nonce);
    }

    /// Records a user's activity, if the user still exists.
    pub fn tx_touch_user(&self, tx: &mut Tx, user_id: i64, now: Timestamp) {
        tx.update(
            self.table(),
            user_key(user_id),
            Expr::new("SET last_request_at = :at").value(":at", n(now)),
            Some((Expr::new("attribute_exists(pk)"), Claim::UserExists)),
        );
    }

    /// [`Store::tx_touch_user`] for a password login: only while the user's password hash is
    /// still `hash`, the one the login verified (a password changed meanwhile fails the write,
    /// so a session is never made from a password that no longer holds).
    pub fn tx_touch_user_with_password(&self, tx: &mut Tx, user_id: i64, hash: &str, now: Timestamp) {
        tx.update(
            self.table(),
            user_key(user_id),
            Expr::new("SET last_request_at = :at").value(":at", n(now)),
            Some((Expr::new("password_hash = :verified").value(":verified", s(hash)), Claim::UserExists)),
        );
    }

    /// Records activity on a session (and its user) at `now`. Only the first of several
    /// concurrent refreshes writes; an expired session is never brought back.
    /// Returns the refreshed session, or `None` when another request refreshed it first.
    pub async fn refresh_session(&self, session: &Session, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let refreshed = session.refreshed(now);
        let mut tx = Tx::new();
        tx.update(
            self.table(),
            session_key(&session.token_hash),
            Expr::new("SET last_active = :now, updated_at = :now, expires_at = :exp")
                .value(":now", n(now))
                .value(":exp", n(refreshed.expires_at())),
            Some((
                Expr::new("attribute_exists(pk) AND last_active = :prev AND expires_at > :now")
                    .value(":prev", n(session.last_active)),
                Claim::Unchanged,
            )),
        );
        if let Some(user_id) = session.user_id {
            self.tx_touch_user(&mut tx, user_id, now);
        }
        match self.commit(tx).await {
            Ok(()) => Ok(Some(refreshed)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a session and its link.
    pub async fn delete_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        tx.delete(self.table(), session_key(&session.token_hash));
        if let Some(user_id) = session.user_id {
            tx.delete(self.table(), link_key(user_id, &session.token_hash));
        }
        self.session_hints.forget(&session.token_hash);
        self.commit(tx).await
    }

    /// Undoes a login whose password turned out wrong (see `password_session`): deletes the
    /// session and its link, and puts back the user's `last_request_at` unless something else
    /// has set it since. Failures are logged, not returned: the caller answers 401 either way,
    /// and a session left behind is one whose token nobody was given.
    pub async fn withdraw_login(
        &self,
        session: &Session,
        user_id: i64,
        previous_request_at: Option<Timestamp>,
        touched_at: Timestamp,
    ) {
        let restore = match previous_request_at {
            Some(previous) => Expr::new("SET last_request_at = :previous").value(":previous", n(previous)),
            None => Expr::new("REMOVE last_request_at"),
        };
        let mut restore_tx = Tx::new();
        let unchanged = Expr::new("last_request_at = :touched").value(":touched", n(touched_at));
        restore_tx.update(self.table(), user_key(user_id), restore, Some((unchanged, Claim::Unchanged)));
        let (deleted, restored) = tokio::join!(self.delete_session(session), self.commit(restore_tx));
        if let Err(error) = deleted {
            tracing::warn!(error = %error, "withdrawing a session after a wrong password failed");
        }
        match restored {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(error) => tracing::warn!(error = %error, "restoring last_request_at after a wrong password failed"),
        }
    }

    /// Binds `user_id` to a live session (`POST /login`), replacing any previous user, and
    /// records the activity. Fails with `Claim::SessionLive` if the session ended meanwhile,
    /// and with `Claim::UserExists` if the user is gone or (for a password login) its hash is
    /// no longer `verified_hash`.
    pub async fn bind_session_user(
        &self,
        session: &Session,
        user_id: i64,
        verified_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let kind = SessionKind::User;
        let bound = Session { user_id: Some(user_id), kind, updated_at: now, last_active: now, ..session.clone() };
        let mut tx = Tx::new();
        tx.update(
            self.table(),
            session_key(&session.token_hash),
            Expr::new("SET user_id = :uid, kind = :kind, updated_at = :now, last_active = :now, expires_at = :exp")
                .value(":uid", n(user_id))
                .value(":kind", s(kind.as_str()))
                .value(":now", n(now))
                .value(":exp", n(bound.expires_at())),
            Some((live_session(now), Claim::SessionLive)),
        );
        if let Some(previous) = session.user_id
            && previous != user_id
        {
            tx.delete(self.table(), link_key(previous, &session.token_hash));
        }
        tx.put(self.table(), link_item(&bound, user_id));
        match verified_hash {
            Some(hash) => self.tx_touch_user_with_password(&mut tx, user_id, hash, now),
            None => self.tx_touch_user(&mut tx, user_id, now),
        }
        self.commit(tx).await?;
        self.session_hints.remember(&bound);
        Ok(bound)
    }

    /// Detaches the user from a session (`DELETE /login`), leaving an application session.
    pub async fn unbind_session_user(&self, session: &Session, now: Timestamp) -> Result<Session, StoreError> {
        let Some(user_id) = session.user_id else {
            return Ok(session.clone());
        };
        let unbound = Session { user_id: None, kind: SessionKind::App, updated_at: now, ..session.clone() };
        let mut tx = Tx::new();
        tx.update(
            self.table(),
            session_key(&session.token_hash),
            Expr::new("SET kind = :kind, updated_at = :now, expires_at = :exp REMOVE user_id")
                .value(":kind", s(SessionKind::App.as_str()))
                .value(":now", n(now))
                .value(":exp", n(unbound.expires_at())),
            Some((live_session(now), Claim::SessionLive)),
        );
        tx.delete(self.table(), link_key(user_id, &session.token_hash));
        self.commit(tx).await?;
        self.session_hints.remember(&unbound);
        Ok(unbound)
    }
}

/// DynamoDB's limit of actions in one transaction.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;

impl Store {
    /// The token hashes of every session linked to `user_id` (strongly consistent).
    pub async fn user_session_hashes(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        let items = self.query_prefix(&keys::user_pk(user_id), keys::SESSION_LINK_PREFIX).await?;
        Ok(items
            .iter()
            .filter_map(|item| item.str("sk"))
            .filter_map(|sk| sk.strip_prefix(keys::SESSION_LINK_PREFIX).map(str::to_string))
            .collect())
    }

    /// The session of `user_id` whose public id (the `id` its JSON carries) is `session_id`,
    /// found through the links in the user's partition: a query of one user's sessions, never
    /// a scan of everyone's.
    pub async fn user_session_by_id(&self, user_id: i64, session_id: i64) -> Result<Option<Session>, StoreError> {
        let links = self.query_prefix(&keys::user_pk(user_id), keys::SESSION_LINK_PREFIX).await?;
        let hash = links
            .iter()
            .filter(|link| link.int("session_id") == Some(session_id))
            .find_map(|link| link.str("sk")?.strip_prefix(keys::SESSION_LINK_PREFIX).map(str::to_string));
        match hash {
            Some(hash) => self.get_session(&hash).await,
            None => Ok(None),
        }
    }

    /// Ends every session of `user_id` but `keep`, after a change of credentials committed.
    ///
    /// The change's own transaction ends the sessions it listed before committing; a login
    /// that committed between that listing and the commit would survive it. No login can
    /// commit after the change (password logins are conditional on the hash they verified,
    /// every login on the user existing), so a listing made now, strongly consistent, sees
    /// every session that could have escaped, and this ends them.
    pub async fn end_sessions(&self, user_id: i64, keep: Option<&str>) -> Result<(), StoreError> {
        let hashes: Vec<String> =
            self.user_session_hashes(user_id).await?.into_iter().filter(|h| Some(h.as_str()) != keep).collect();
        self.commit_ending_sessions(Tx::new(), user_id, &hashes).await
    }

    /// Commits `tx` together with ending the sessions `token_hashes` of `user_id`.
    ///
    /// When everything fits in one transaction it is one atomic write. Otherwise the surplus
    /// sessions are ended first, in transactions of their own, and `tx` last with the rest:
    /// a failure part-way can only have ended some sessions early, never have applied `tx`
    /// while leaving sessions alive.
    pub async fn commit_ending_sessions(
        &self,
        mut tx: Tx,
        user_id: i64,
        token_hashes: &[String],
    ) -> Result<(), StoreError> {
        let room = MAX_TRANSACTION_ACTIONS.saturating_sub(tx.len()) / 2;
        let split = token_hashes.len().saturating_sub(room);
        let (early, with_tx) = token_hashes.split_at(split);
        for chunk in early.chunks(MAX_TRANSACTION_ACTIONS / 2) {
            let mut batch = Tx::new();
            for hash in chunk {
                batch.delete(self.table(), session_key(hash));
                batch.delete(self.table(), link_key(user_id, hash));
            }
            self.commit(batch).await?;
        }
        for hash in with_tx {
            tx.delete(self.table(), session_key(hash));
            tx.delete(self.table(), link_key(user_id, hash));
        }
        self.commit(tx).await
    }
}
