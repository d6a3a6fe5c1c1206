//! Errors a request can end in.
//!
//! Bodies say what was wrong in a few words and never how the server works
//! inside: a Redis error text or a `Debug` dump would tell an attacker more
//! than the user needs.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use files::FileError;
use jobs::JobError;
use live::LiveError;
use sessions::StoreError;

/// An error answer of the API: `{"error": "<reason>"}` with a fitting status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or a field is not what the API accepts.
    #[error("{0}")]
    BadRequest(&'static str),
    /// 401: no session, or one that is unknown, expired, forged or malformed.
    #[error("not logged in")]
    Unauthorized,
    /// 404: no such route.
    #[error("not found")]
    NotFound,
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 404: no file of this user has this id (unknown, malformed, or
    /// another user's: the three are not told apart).
    #[error("file not found")]
    FileNotFound,
    /// 404: no live session of this user has this handle (unknown,
    /// malformed, ended, or another user's: the four are not told apart).
    #[error("session not found")]
    SessionNotFound,
    /// 413: the body is over the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 413: an upload over [`files::MAX_BYTES`].
    #[error("file too large: at most 1 MiB (1048576 bytes)")]
    FileTooLarge,
    /// 503: the session store did not answer in time; try again shortly.
    #[error("session store unavailable")]
    StoreUnavailable,
    /// 503: the node is at its modelled capacity and its queue is full; try
    /// again shortly, or elsewhere.
    #[error("overloaded")]
    Overloaded,
    /// 503: the order queue (or its records) did not answer in time.
    #[error("order queue unavailable")]
    QueueUnavailable,
    /// 503: the live rooms' broker did not answer in time.
    #[error("live broker unavailable")]
    BrokerUnavailable,
    /// 503: the file store (the node's folder or the object store) did not
    /// answer in time, or failed.
    #[error("file store unavailable")]
    FilesUnavailable,
    /// 501: this node was started without a backend for this kind of state
    /// (a shared-state server given no URL for its service).
    #[error("{0} not configured on this node")]
    NotConfigured(&'static str),
    /// 501: this twin's session store cannot do this by its design; the
    /// text says why.
    #[error("{0}")]
    Unsupported(&'static str),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::StoreUnavailable,
            StoreError::TooLarge(_) => ApiError::BadRequest("cart too large: the session would not fit in its cookie"),
            StoreError::Unsupported(why) => ApiError::Unsupported(why),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::Unavailable(_) => ApiError::QueueUnavailable,
            JobError::Empty => ApiError::BadRequest("the cart is empty: add an item before checking out"),
        }
    }
}

impl From<LiveError> for ApiError {
    fn from(_: LiveError) -> Self {
        // Lagging is a member's own stream's failure, met only after the
        // upgrade; before it, any failure means the broker.
        ApiError::BrokerUnavailable
    }
}

impl From<FileError> for ApiError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Unavailable(detail) => {
                // The detail is for the operator, never for the client.
                tracing::warn!(%detail, "file store unavailable");
                ApiError::FilesUnavailable
            }
            FileError::TooLarge { .. } => ApiError::FileTooLarge,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound | ApiError::FileNotFound | ApiError::SessionNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge | ApiError::FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::StoreUnavailable
            | ApiError::Overloaded
            | ApiError::QueueUnavailable
            | ApiError::BrokerUnavailable
            | ApiError::FilesUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotConfigured(_) | ApiError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
