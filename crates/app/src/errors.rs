//! Errors a request can end in.
//!
//! Bodies say what was wrong in a few words and never how the server works
//! inside: a Redis error text or a `Debug` dump would tell an attacker more
//! than the user needs.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
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
    /// 413: the body is over the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 503: the session store did not answer in time; try again shortly.
    #[error("session store unavailable")]
    StoreUnavailable,
    /// 503: the node is at its modelled capacity and its queue is full; try
    /// again shortly, or elsewhere.
    #[error("overloaded")]
    Overloaded,
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::StoreUnavailable,
            StoreError::TooLarge(_) => ApiError::BadRequest("cart too large: the session would not fit in its cookie"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::StoreUnavailable | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::StoreUnavailable | ApiError::Overloaded = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}
