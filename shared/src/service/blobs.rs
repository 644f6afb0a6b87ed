//! The blob API (contract §6.6): create with a presigned POST upload, declare complete, read
//! the record, redirect to a short-lived download, delete.

use serde_json::Value;

use crate::clock::iso8601;
use crate::deps::Deps;
use crate::domain::app::App;
use crate::domain::blob::{Blob, NewBlob, ObjectAccess, new_uid};
use crate::domain::limits::UPLOAD_QUOTA_WINDOW_SECS;
use crate::error::ApiError;
use crate::params::Field;
use crate::service::auth::{Caller, authenticate, lookup_token};
use crate::service::context::Context;
use crate::store::Claim;
use crate::store::Tx;
use crate::store::blobs::{BlobPointer, OwnerBlobs};
use crate::store::rate::{Limit, retry_after};

pub const BLOB_IDS: &str = "blobs";

fn not_found() -> ApiError {
    ApiError::NotFound("Not found".into())
}

/// `POST /blobs`: a blob record and a presigned POST whose policy pins bucket, key (the
/// server-chosen uid), exact `Content-Type`, `success_action_status=201`, the size range and
/// an expiry. 201 with `blob_object_access.params` = upload URL + form fields.
/// The command is checked after the session.
pub async fn create_blob(
    deps: &Deps,
    ctx: &mut Context,
    command: impl FnOnce() -> Result<CreateBlob, ApiError>,
) -> Result<(Blob, ObjectAccess), ApiError> {
    let blobs = deps.blobs()?;
    let caller = authenticate(deps, ctx).await?;
    let owner = caller.user_id()?;
    let CreateBlob { new } = command()?;
    let now = deps.clock.now();
    // The id is reserved beside the application's read (both only after the session, so a
    // request without one writes nothing): a cold instance reads and reserves at once.
    let (app, id) = tokio::join!(deps.store.cached_app(caller.app_id()), deps.store.next_id(BLOB_IDS));
    let app = app?.ok_or(ApiError::SessionMissing)?;
    let quota = UploadQuota::of(&app, owner);
    // The form may upload up to the size cap: that much of the day's bytes is set aside now,
    // and what the file does not use goes back when it is completed.
    let reserved_bytes = (blobs.config.max_upload_bytes.min(i64::MAX as u64) as i64).min(quota.bytes.max);
    let blob = Blob {
        id: id?,
        uid: new_uid(),
        app_id: caller.app_id(),
        owner_id: owner,
        name: new.name,
        content_type: new.content_type,
        public: new.public,
        size: None,
        reserved_bytes,
        created_at: now,
        updated_at: now,
        completed_at: None,
        listed: true,
    };
    let form = blobs.upload_form(&blob.uid, &blob.content_type, reserved_bytes as u64, now).await?;
    // The quota is taken in the record's own transaction: a refused upload writes nothing.
    let mut tx = Tx::new();
    deps.store.tx_take(&mut tx, &quota.files, 1, now);
    deps.store.tx_take(&mut tx, &quota.bytes, reserved_bytes, now);
    deps.store.tx_insert_blob(&mut tx, &blob);
    deps.store.commit(tx).await.map_err(|e| {
        if e.is_conflict_on(Claim::RateLimit) {
            ApiError::TooManyRequests {
                retry_after_secs: retry_after(&[quota.files.clone(), quota.bytes.clone()], now),
            }
        } else {
            e.into()
        }
    })?;
    let access = ObjectAccess::Write {
        expires: iso8601(now + blobs.config.upload_ttl_secs),
        params: crate::blobs::post_policy::params_url(&blobs.upload_url(), &form),
    };
    Ok((blob, access))
}

/// `POST /blobs`' body: the new file's `blob` fields.
pub struct CreateBlob {
    new: NewBlob,
}

impl CreateBlob {
    pub fn parse(params: &Value) -> Result<CreateBlob, ApiError> {
        Ok(CreateBlob { new: NewBlob::parse(Field::of(params).get("blob")).map_err(ApiError::Validation)? })
    }
}

/// `PUT /blobs/{id}/complete`'s body: the size the client declares, if any (`{"size":N}`
/// from SDK 6, `{"blob":{"size":N}}` from the docs).
pub struct CompleteBlob {
    declared: Option<i64>,
}

impl CompleteBlob {
    pub fn parse(params: &Value) -> Result<CompleteBlob, ApiError> {
        let fields = Field::of(params);
        let declared = match fields.get("size").integer() {
            Ok(Some(size)) => Some(size),
            Ok(None) => {
                fields.get("blob").get("size").integer().map_err(|_| ApiError::field("size", "must be an integer"))?
            }
            Err(_) => return Err(ApiError::field("size", "must be an integer")),
        };
        Ok(CompleteBlob { declared })
    }
}

/// A user's daily upload allowance in an application: files, and bytes.
struct UploadQuota {
    files: Limit,
    bytes: Limit,
}

impl UploadQuota {
    fn of(app: &App, owner: i64) -> UploadQuota {
        let quota = app.settings.limits.uploads_per_user;
        let window_secs = UPLOAD_QUOTA_WINDOW_SECS;
        UploadQuota {
            files: Limit { key: format!("upload-files#{}#{owner}", app.id), max: quota.files, window_secs },
            bytes: Limit { key: format!("upload-bytes#{}#{owner}", app.id), max: quota.bytes, window_secs },
        }
    }
}

/// The caller's own blob `id` (403 for someone else's, 404 for none in this application).
/// The caller and the blob `id` of their application, read together: the blob's read does
/// not wait for the session's. Errors come in the order of the checks: the session first.
async fn caller_and_blob(deps: &Deps, ctx: &mut Context, id: &str) -> Result<(Caller, Blob), ApiError> {
    let read = async {
        match id.parse::<i64>() {
            Ok(id) => deps.store.get_blob(id).await,
            Err(_) => Ok(None),
        }
    };
    let (caller, blob) = tokio::join!(authenticate(deps, ctx), read);
    let caller = caller?;
    let blob = blob?.filter(|blob| blob.app_id == caller.app_id()).ok_or_else(not_found)?;
    Ok((caller, blob))
}

/// [`caller_and_blob`] for changing the blob: only its owner may. Someone else's private
/// file is a 404, as reading its record is: a 403 would tell that the id exists.
async fn caller_and_owned_blob(deps: &Deps, ctx: &mut Context, id: &str) -> Result<(Caller, Blob), ApiError> {
    let (caller, blob) = caller_and_blob(deps, ctx, id).await?;
    if blob.owner_id != caller.user_id()? {
        if !blob.public {
            return Err(not_found());
        }
        return Err(ApiError::ForbiddenBase("You can only change your own files".into()));
    }
    Ok((caller, blob))
}

/// `PUT /blobs/{id}/complete`: the real size and type come from S3; a missing object or a
/// different size than declared is a 422. The command is checked after the blob's owner.
pub async fn complete_blob(
    deps: &Deps,
    ctx: &mut Context,
    id: &str,
    command: impl FnOnce() -> Result<CompleteBlob, ApiError>,
) -> Result<(), ApiError> {
    let blobs = deps.blobs()?;
    let (_, mut blob) = caller_and_owned_blob(deps, ctx, id).await?;
    let CompleteBlob { declared } = command()?;
    let stored =
        blobs.head(&blob.uid).await?.ok_or_else(|| ApiError::Unprocessable("The file has not been uploaded".into()))?;
    if declared.is_some_and(|size| size != stored.size) {
        return Err(ApiError::field("size", "does not match the uploaded file"));
    }
    let now = deps.clock.now();
    blob.size = Some(stored.size);
    if let Some(content_type) = stored.content_type {
        blob.content_type = content_type;
    }
    blob.updated_at = now;
    let first_completion = blob.completed_at.is_none();
    blob.completed_at = Some(blob.completed_at.unwrap_or(now));
    let gone = |e| match e {
        // Deleted between the read and the write.
        crate::store::StoreError::Conflict(_) => not_found(),
        other => other.into(),
    };
    let mut first = first_completion;
    if let Err(e) = deps.store.complete_blob(&blob, first).await {
        if !first || !matches!(e, crate::store::StoreError::Conflict(_)) {
            return Err(gone(e));
        }
        // Completed by a concurrent request meanwhile (which gave the quota back), or gone.
        first = false;
        deps.store.complete_blob(&blob, false).await.map_err(gone)?;
    }
    let unused = blob.reserved_bytes - stored.size;
    if first && unused > 0 {
        // Best effort: a failure leaves the bytes counted for the rest of the day.
        let app = deps.store.cached_app(blob.app_id).await?;
        if let Some(app) = app
            && let Err(error) =
                deps.store.give_back(&UploadQuota::of(&app, blob.owner_id).bytes, unused, blob.created_at).await
        {
            tracing::warn!(error = %error, "giving back unused upload quota failed");
        }
    }
    Ok(())
}

/// A blob read: its record, or the URL to redirect to.
pub enum BlobRead {
    Record(Blob),
    Redirect(String),
}

/// `GET /blobs/{id|uid}`: a numeric id gives the record as JSON (any session of the
/// application for a public file, only its owner for a private one); a uid redirects to the
/// file, like `/download`.
///
/// `link_token` is the `token` query parameter (a session for links in `<img src>`), read
/// only for a private file.
pub async fn get_blob(
    deps: &Deps,
    ctx: &mut Context,
    id_or_uid: &str,
    link_token: Result<Option<String>, ApiError>,
) -> Result<BlobRead, ApiError> {
    if id_or_uid.bytes().all(|b| b.is_ascii_digit()) {
        let (caller, blob) = caller_and_blob(deps, ctx, id_or_uid).await?;
        // Ids are sequential: the record of a private file (with its uid, the key to the
        // file) goes to its owner only. Whoever was given the uid still reads it by uid.
        if !blob.public && caller.session.user_id != Some(blob.owner_id) {
            return Err(not_found());
        }
        return Ok(BlobRead::Record(blob));
    }
    Ok(BlobRead::Redirect(download(deps, ctx, id_or_uid, link_token, false).await?))
}

/// Who may read a blob: anyone for a public blob; for a private one, a valid session of its
/// application, as `CB-Token` or (for links in `<img src>`) the `token` query parameter.
async fn readable(
    deps: &Deps,
    ctx: &mut Context,
    uid: &str,
    link_token: Result<Option<String>, ApiError>,
) -> Result<BlobPointer, ApiError> {
    let pointer = deps.store.blob_pointer(uid).await?.ok_or_else(not_found)?;
    if pointer.public {
        return Ok(pointer);
    }
    let token = match link_token? {
        Some(token) => token,
        None => ctx.token().ok_or(ApiError::SessionMissing)?.to_string(),
    };
    let caller = lookup_token(deps, &token).await?;
    ctx.session_expires_at = Some(caller.session.expires_at());
    if caller.app_id() != pointer.app_id {
        return Err(not_found());
    }
    Ok(pointer)
}

/// `GET /blobs/{uid}` and `GET /blobs/{uid}/download`: 302 to a presigned GET valid for a
/// few minutes.
pub async fn download(
    deps: &Deps,
    ctx: &mut Context,
    uid: &str,
    link_token: Result<Option<String>, ApiError>,
    attachment: bool,
) -> Result<String, ApiError> {
    let blobs = deps.blobs()?;
    let pointer = readable(deps, ctx, uid, link_token).await?;
    let name = if attachment { deps.store.get_blob(pointer.blob_id).await?.map(|b| b.name) } else { None };
    blobs.download_url(uid, deps.clock.now(), name.as_deref()).await
}

/// `GET /blobs/{uid}/object?download_url=1`: the record with a download link.
pub async fn object_with_link(
    deps: &Deps,
    ctx: &mut Context,
    uid: &str,
    link_token: Result<Option<String>, ApiError>,
) -> Result<(Blob, ObjectAccess), ApiError> {
    let blobs = deps.blobs()?;
    let pointer = readable(deps, ctx, uid, link_token).await?;
    let blob = deps.store.get_blob(pointer.blob_id).await?.ok_or_else(not_found)?;
    let now = deps.clock.now();
    let url = blobs.download_url(uid, now, None).await?;
    let access =
        ObjectAccess::Read { expires: iso8601(now + blobs.config.download_ttl_secs as i64), download_url: url };
    Ok((blob, access))
}

/// `GET /blobs`, as sent: `page` (from 1) and `per_page` (default 10, at most 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListBlobs {
    pub page: usize,
    pub per_page: usize,
}

/// How deep `GET /blobs` pages: reading the page at `skip` costs `skip` index entries, so
/// the depth is capped as the page size is (`page * per_page` at most this).
pub const MAX_LISTING_DEPTH: usize = 1_000;
const DEFAULT_PER_PAGE: usize = 10;
const MAX_PER_PAGE: usize = 100;

impl ListBlobs {
    pub fn parse(params: &Value) -> Result<ListBlobs, ApiError> {
        let fields = Field::of(params);
        let page = match fields.get("page").integer() {
            Ok(None) => 1,
            Ok(Some(n)) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(ApiError::Unprocessable("page must be a positive integer".into())),
        };
        let per_page = match fields.get("per_page").integer() {
            Ok(None) => DEFAULT_PER_PAGE,
            Ok(Some(n)) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX).min(MAX_PER_PAGE),
            _ => return Err(ApiError::Unprocessable("per_page must be a positive integer".into())),
        };
        if page.checked_mul(per_page).is_none_or(|depth| depth > MAX_LISTING_DEPTH) {
            return Err(ApiError::Unprocessable(format!(
                "page is too deep: files are listed up to the {MAX_LISTING_DEPTH}th newest"
            )));
        }
        Ok(ListBlobs { page, per_page })
    }

    fn skip(&self) -> usize {
        (self.page - 1) * self.per_page
    }
}

/// `GET /blobs`: the caller's own files, newest first, one page of them and their number.
/// The command is checked after the session.
pub async fn list_blobs(
    deps: &Deps,
    ctx: &mut Context,
    command: impl FnOnce() -> Result<ListBlobs, ApiError>,
) -> Result<(ListBlobs, OwnerBlobs), ApiError> {
    let caller = authenticate(deps, ctx).await?;
    let owner = caller.user_id()?;
    let listing = command()?;
    let page = deps.store.owner_blobs(owner, listing.skip(), listing.per_page).await?;
    Ok((listing, page))
}

/// `DELETE /blobs/{id}`: the owner deletes the file, then the record (so a failure part-way
/// leaves a record whose delete can simply be retried).
pub async fn delete_blob(deps: &Deps, ctx: &mut Context, id: &str) -> Result<(), ApiError> {
    let blobs = deps.blobs()?;
    let (_, blob) = caller_and_owned_blob(deps, ctx, id).await?;
    blobs.delete(&blob.uid).await?;
    deps.store.delete_blob(&blob).await?;
    Ok(())
}
