//! Users brought over from another ConnectyCube service, with the ids they had there.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use crate::clock::Timestamp;
use crate::domain::export::same_import;
use crate::domain::user::User;
use crate::store::item::{key, n};
use crate::store::users::user_key;
use crate::store::{Claim, Store, StoreError, Tx, keys};

/// What importing one user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Written, with its markers, search and tag items, in one transaction.
    Written,
    /// Already here exactly as imported (a second run, or a resumed one).
    Unchanged,
    /// Not written, for the reason given (nothing of it was written).
    Rejected(String),
}

impl Store {
    /// Writes `user` (from an export, with its own id) as a signup would, in one transaction:
    /// its id and unique values must be free, so it never overwrites anyone.
    pub async fn import_user(&self, user: &User, now: Timestamp) -> Result<Imported, StoreError> {
        let mut tx = Tx::new();
        self.tx_insert_user(&mut tx, user, now);
        let claims = match self.commit(tx).await {
            Ok(()) => return Ok(Imported::Written),
            Err(StoreError::Conflict(claims)) => claims,
            Err(StoreError::KeyTooLong) => return Ok(Imported::Rejected("a value too long to index".into())),
            Err(error) => return Err(error),
        };
        if claims.contains(&Claim::NewItem) {
            let stored = self.get(user_key(user.id)).await?.map(|item| crate::store::users::user_from_item(&item));
            return Ok(match stored.transpose()? {
                Some(stored) if same_import(&stored, user) => Imported::Unchanged,
                Some(stored) if stored.app_id == user.app_id => {
                    Imported::Rejected(format!("user {} is already here with other data", user.id))
                }
                _ => Imported::Rejected(format!("id {} belongs to another application's user here", user.id)),
            });
        }
        let taken = Claim::taken_fields(&claims);
        Ok(Imported::Rejected(format!("{} already taken by another user", taken.join(", "))))
    }

    /// Raises `counter` to at least `value`, so that ids handed out later are all above ids
    /// that came from elsewhere. Never lowers it.
    pub async fn raise_counter(&self, counter: &str, value: i64) -> Result<(), StoreError> {
        let (pk, sk) = keys::counter(counter);
        let result = self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #v = :v")
            .condition_expression("attribute_not_exists(#v) OR #v < :v")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":v", n(value))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(())
            }
            Err(error) => Err(StoreError::backend(error)),
        }
    }
}
