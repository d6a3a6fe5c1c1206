//! Uploaded files over HTTP: `POST /files` keeps the request body as a file
//! of the session's user, `GET /files/{id}` streams it back.
//!
//! `POST /files`, in order: the session (401), then whether this node keeps
//! files at all (501), then the `Content-Type` header (400 unless it is one
//! of [`ContentType::ALL`], parameters such as `charset` allowed), then the
//! raw body, read up to [`MAX_BYTES`] (1 MiB; this route's own limit, in
//! place of the 16 KiB of the JSON routes: 413 past it), then the store.
//! The answer is `201 Created` with `{"id","bytes","sha256"}`, a
//! `Location: /files/{id}` and the file's `ETag` once the store holds the
//! whole file.
//!
//! `GET /files/{id}`: the session (401), then the store. 200 with the bytes
//! as the store streams them (never loaded whole), their `Content-Type`
//! and `Content-Length`, `ETag: "SHA256"`, `Cache-Control: private` (a
//! file is its owner's: no shared cache may keep it) and
//! `X-Content-Type-Options: nosniff` (a browser shows it as the type it was
//! uploaded as, never as HTML it guessed). A request whose `If-None-Match`
//! names that tag gets 304 and no body. An unknown id, a malformed one and
//! another user's file all answer the same 404: ids cannot be probed.
//!
//! A store that is down or hung answers 503 `{"error":"file store
//! unavailable"}` with `Retry-After: 1` within about a second (the store's
//! own deadline); the failure's detail goes to the log only. If a download
//! fails after its first bytes were sent, the connection is cut: the client
//! sees a body shorter than its `Content-Length`, never a whole-looking
//! wrong file.

use actix_web::http::header::{self, CacheDirective, EntityTag, IfNoneMatch};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use files::{ContentType, FileStore, MAX_BYTES, StoredFile};
use serde_json::json;
use sessions::{Name, SessionStore, Updated};

use crate::errors::ApiError;
use crate::routes::{authenticated_user, method_not_allowed, read_body_within, session_cookie};

/// What absent files are called in the 501 answer.
const KIND: &str = "files";

/// Registers `/files` and `/files/{id}`.
pub fn configure<S: SessionStore, F: FileStore>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/files").post(upload::<S, F>).default_service(web::to(method_not_allowed)))
        .service(web::resource("/files/{id}").get(download::<S, F>).default_service(web::to(method_not_allowed)));
}

async fn upload<S: SessionStore, F: FileStore>(
    req: HttpRequest,
    body: web::Payload,
    store: web::Data<S>,
    files: web::Data<Option<F>>,
) -> Result<HttpResponse, ApiError> {
    let (owner, mut response) = owner(&req, store.get_ref()).await?;
    let files = files.get_ref().as_ref().ok_or(ApiError::NotConfigured(KIND))?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(ContentType::parse)
        .ok_or(ApiError::BadRequest(
            "unsupported content type: send image/png, image/jpeg, text/plain or application/octet-stream",
        ))?;
    let bytes = read_body_within(body, MAX_BYTES, ApiError::FileTooLarge).await?;
    let file = files.put(owner.as_str(), content_type, bytes).await?;
    tracing::debug!(id = %file.id, bytes = file.bytes, "file stored");
    Ok(response
        .status(actix_web::http::StatusCode::CREATED)
        .insert_header((header::LOCATION, format!("/files/{}", file.id)))
        .insert_header(header::ETag(etag(&file)))
        .json(json!({ "id": file.id.to_string(), "bytes": file.bytes, "sha256": file.sha256 })))
}

async fn download<S: SessionStore, F: FileStore>(
    req: HttpRequest,
    id: web::Path<String>,
    store: web::Data<S>,
    files: web::Data<Option<F>>,
) -> Result<HttpResponse, ApiError> {
    let (owner, mut response) = owner(&req, store.get_ref()).await?;
    let files = files.get_ref().as_ref().ok_or(ApiError::NotConfigured(KIND))?;
    let (file, bytes) = files.get(owner.as_str(), &id).await?.ok_or(ApiError::FileNotFound)?;
    let tag = etag(&file);
    response
        .insert_header(header::ETag(tag.clone()))
        .insert_header(header::CacheControl(vec![CacheDirective::Private]))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if names(req.get_header::<IfNoneMatch>(), &tag) {
        // The client has these bytes already; the stream is dropped unread.
        return Ok(response.status(actix_web::http::StatusCode::NOT_MODIFIED).finish());
    }
    Ok(response.content_type(file.content_type.as_str()).no_chunking(file.bytes).streaming(bytes))
}

/// The session's user, and a 200 builder that already carries the cookie
/// when the store re-issued it (the token twin); or 401.
async fn owner<S: SessionStore>(req: &HttpRequest, store: &S) -> Result<(Name, HttpResponseBuilder), ApiError> {
    let Updated { session: owner, reissued } = authenticated_user(req, store).await?;
    let mut response = HttpResponse::Ok();
    if let Some(credential) = reissued {
        response.cookie(session_cookie(req, credential));
    }
    Ok((owner, response))
}

/// A file's entity tag: its SHA-256, so the same bytes have the same tag on
/// every node and in every store.
fn etag(file: &StoredFile) -> EntityTag {
    EntityTag::new_strong(file.sha256.clone())
}

/// Whether `If-None-Match` names `tag` (compared weakly, as the header
/// asks) or is `*`.
fn names(if_none_match: Option<IfNoneMatch>, tag: &EntityTag) -> bool {
    match if_none_match {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(tag)),
        None => false,
    }
}
