//! Blob records: the blob by id, an immutable pointer by uid holding what a download needs
//! (application, owner, public flag), so serving a download link is one read; and, in the
//! owner's partition, a link per blob (sort key = zero-padded id, so newest first is a
//! backwards query) and a count of them, kept in the same transactions, for `GET /blobs`.

use crate::domain::blob::Blob;
use crate::store::item::{Item, ItemBuilder, ItemExt, key, n, s};
use crate::store::{Claim, Expr, Store, StoreError, Tx, keys};

const OWNER_LINK_PREFIX: &str = "BLOB#";

fn owner_link_key(owner_id: i64, blob_id: i64) -> Item {
    key(keys::user_pk(owner_id), format!("{OWNER_LINK_PREFIX}{blob_id:020}"))
}

fn owner_count_key(owner_id: i64) -> Item {
    key(keys::user_pk(owner_id), "#BLOBS")
}

/// One page of an owner's blobs, newest first, and how many they have in all.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerBlobs {
    pub blobs: Vec<Blob>,
    pub total: i64,
}

fn blob_key(id: i64) -> Item {
    key(format!("BLOB#{id}"), "#BLOB")
}

fn uid_key(uid: &str) -> Item {
    key(format!("BLOBUID#{uid}"), "#BLOB")
}

fn blob_item(blob: &Blob) -> Item {
    ItemBuilder::key(format!("BLOB#{}", blob.id), "#BLOB")
        .n("id", blob.id)
        .s("uid", &blob.uid)
        .n("app_id", blob.app_id)
        .n("owner_id", blob.owner_id)
        .s("name", &blob.name)
        .s("content_type", &blob.content_type)
        .bool("public", blob.public)
        .opt_n("size", blob.size)
        .n("reserved_bytes", blob.reserved_bytes)
        .n("created_at", blob.created_at)
        .n("updated_at", blob.updated_at)
        .opt_n("completed_at", blob.completed_at)
        .bool("listed", blob.listed)
        .build()
}

fn blob_from_item(item: &Item) -> Result<Blob, StoreError> {
    let corrupt = || StoreError::Corrupt("blob item".into());
    Ok(Blob {
        id: item.int("id").ok_or_else(corrupt)?,
        uid: item.str("uid").ok_or_else(corrupt)?,
        app_id: item.int("app_id").ok_or_else(corrupt)?,
        owner_id: item.int("owner_id").ok_or_else(corrupt)?,
        name: item.str("name").unwrap_or_default(),
        content_type: item.str("content_type").unwrap_or_default(),
        public: item.flag("public"),
        size: item.int("size"),
        reserved_bytes: item.int("reserved_bytes").unwrap_or_default(),
        created_at: item.int("created_at").unwrap_or_default(),
        updated_at: item.int("updated_at").unwrap_or_default(),
        completed_at: item.int("completed_at"),
        listed: item.flag("listed"),
    })
}

/// What a download needs to know about a blob, by uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPointer {
    pub blob_id: i64,
    pub app_id: i64,
    pub owner_id: i64,
    pub public: bool,
}

impl Store {
    /// Adds a new blob and its uid pointer to `tx`.
    pub fn tx_insert_blob(&self, tx: &mut Tx, blob: &Blob) {
        tx.put_new(self.table(), blob_item(blob), Claim::NewItem);
        let pointer = ItemBuilder::key(format!("BLOBUID#{}", blob.uid), "#BLOB")
            .n("blob_id", blob.id)
            .n("app_id", blob.app_id)
            .n("owner_id", blob.owner_id)
            .bool("public", blob.public)
            .build();
        tx.put_new(self.table(), pointer, Claim::NewItem);
        if !blob.listed {
            return;
        }
        let link = ItemBuilder::key(keys::user_pk(blob.owner_id), format!("{OWNER_LINK_PREFIX}{:020}", blob.id))
            .n("blob_id", blob.id)
            .build();
        tx.put(self.table(), link);
        tx.update(
            self.table(),
            owner_count_key(blob.owner_id),
            Expr::new("ADD blob_count :one").value(":one", n(1)),
            None,
        );
    }

    /// The owner's blobs from the `skip`-th newest, at most `count` of them: reads `skip +
    /// count` links (the caller bounds both) and the page's records, and the count item.
    pub async fn owner_blobs(&self, owner_id: i64, skip: usize, count: usize) -> Result<OwnerBlobs, StoreError> {
        let wanted = skip + count;
        let links = async {
            let mut ids = Vec::with_capacity(wanted);
            let mut pages = self
                .client
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::user_pk(owner_id)))
                .expression_attribute_values(":prefix", s(OWNER_LINK_PREFIX))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted.max(1)).unwrap_or(i32::MAX))
                .into_paginator()
                .send();
            while ids.len() < wanted
                && let Some(page) = pages.next().await
            {
                let items = page.map_err(StoreError::backend)?.items.unwrap_or_default();
                ids.extend(items.iter().filter_map(|item| item.int("blob_id")));
            }
            Ok::<_, StoreError>(ids)
        };
        let (ids, total) = tokio::join!(links, self.get(owner_count_key(owner_id)));
        let page: Vec<i64> = ids?.into_iter().skip(skip).take(count).collect();
        let total = total?.and_then(|item| item.int("blob_count")).unwrap_or(0).max(0);
        let records = self.batch_get(page.iter().map(|id| blob_key(*id)).collect()).await?;
        let mut blobs = records.iter().map(blob_from_item).collect::<Result<Vec<Blob>, _>>()?;
        // BatchGetItem answers in any order.
        blobs.sort_unstable_by_key(|blob| std::cmp::Reverse(blob.id));
        Ok(OwnerBlobs { blobs, total })
    }

    pub async fn get_blob(&self, id: i64) -> Result<Option<Blob>, StoreError> {
        self.get(blob_key(id)).await?.map(|item| blob_from_item(&item)).transpose()
    }

    pub async fn blob_pointer(&self, uid: &str) -> Result<Option<BlobPointer>, StoreError> {
        let Some(item) = self.get(uid_key(uid)).await? else { return Ok(None) };
        let corrupt = || StoreError::Corrupt("blob pointer".into());
        Ok(Some(BlobPointer {
            blob_id: item.int("blob_id").ok_or_else(corrupt)?,
            app_id: item.int("app_id").ok_or_else(corrupt)?,
            owner_id: item.int("owner_id").ok_or_else(corrupt)?,
            public: item.flag("public"),
        }))
    }

    /// Records the uploaded object's real size and type. With `first`, only if the blob has
    /// not been completed yet (so that one completion alone gives back unused quota).
    pub async fn complete_blob(&self, blob: &Blob, first: bool) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        // `size` is a reserved word in DynamoDB expressions.
        let mut set = Expr::new("SET #size = :size, content_type = :type, updated_at = :now, completed_at = :done")
            .name("#size", "size")
            .value(":size", n(blob.size.unwrap_or(0)))
            .value(":type", s(&blob.content_type))
            .value(":now", n(blob.updated_at));
        set = set.value(":done", n(blob.completed_at.unwrap_or(blob.updated_at)));
        let guard =
            if first { "attribute_exists(pk) AND attribute_not_exists(completed_at)" } else { "attribute_exists(pk)" };
        tx.update(self.table(), blob_key(blob.id), set, Some((Expr::new(guard), Claim::Unchanged)));
        self.commit(tx).await
    }

    /// Deletes the blob record, its pointer and (for a listed blob) its link, and counts it
    /// out. Only the delete that finds the record counts it out: a second, concurrent one
    /// changes nothing.
    pub async fn delete_blob(&self, blob: &Blob) -> Result<(), StoreError> {
        let mut tx = Tx::new();
        tx.delete_if(self.table(), blob_key(blob.id), Expr::new("attribute_exists(pk)"), Claim::Unchanged);
        tx.delete(self.table(), uid_key(&blob.uid));
        if blob.listed {
            tx.delete(self.table(), owner_link_key(blob.owner_id, blob.id));
            let minus = Expr::new("ADD blob_count :minus").value(":minus", n(-1));
            tx.update(self.table(), owner_count_key(blob.owner_id), minus, None);
        }
        match self.commit(tx).await {
            Err(StoreError::Conflict(claims)) if claims.contains(&Claim::Unchanged) => Ok(()),
            other => other,
        }
    }
}
