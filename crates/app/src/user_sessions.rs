//! A user's own sessions over HTTP: `GET /sessions` lists them,
//! `DELETE /sessions` ends them all ("log out everywhere"), and
//! `DELETE /sessions/{handle}` ends one.
//!
//! Each route first authenticates the caller as `GET /me` does: 401 without
//! a live session, before anything else; the request is counted, the idle
//! TTL renewed, and the token twin re-issues its cookie. Only then is the
//! store asked about the caller's user. How far a store can look depends on
//! where it keeps sessions, and every answer says so (`reach`):
//!
//! | twin | `GET /sessions` | `DELETE /sessions` |
//! |---|---|---|
//! | stateful (RAM) | `node`: the sessions this node holds | `node`: those only; the user's sessions on other nodes live on |
//! | stateless (Redis, PostgreSQL) | `everywhere` | `everywhere` |
//! | token | `caller`: a token store keeps no list, so only the caller's own token | `everywhere` with the deny list (`--revocation-redis`); without it 501, since nothing could refuse the copies already handed out |
//!
//! Sessions are named by their *handle* ([`SessionStore::handle`]): 16 hex
//! digits of a one-way digest, safe to show and to log; a credential never
//! appears in an answer.
//!
//! The answers:
//! - `GET /sessions`: 200 `{"sessions":[{"handle","created_at","last_seen",
//!   "node","current"}…],"reach"}`, oldest first. Times are Unix
//!   milliseconds; `node` is the node that created the session (where the
//!   store does not record it, as the RAM store, this node: a RAM store
//!   holds only what was created here); `current` marks the caller's own.
//! - `DELETE /sessions`: 204 with `X-Sessions-Ended: N` (the caller's own
//!   included) and `X-Sessions-Reach`; the caller's cookie is cleared.
//! - `DELETE /sessions/{handle}`: 204, clearing the cookie when the handle
//!   was the caller's own; 404 `{"error":"session not found"}` for a
//!   handle no live session of this user has: unknown, malformed or another
//!   user's are not told apart, so handles cannot be probed. A malformed
//!   one never reaches the store.
//!
//! A store outage is 503 with `Retry-After: 1`, a store that cannot do
//! this by design 501 with its reason. A re-issued token cookie rides on
//! every answer that does not clear the cookie, errors included: the
//! client's old token has already been replaced.

use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError as _, web};
use serde::Serialize;
use sessions::{Name, SessionStore, Updated};

use crate::errors::ApiError;
use crate::routes::{NodeId, authenticated_user, cookie_removal, credential, method_not_allowed, session_cookie};

/// How many sessions `DELETE /sessions` ended.
pub const ENDED_HEADER: &str = "X-Sessions-Ended";
/// How far `DELETE /sessions` reached: `node` or `everywhere`.
pub const REACH_HEADER: &str = "X-Sessions-Reach";

/// Registers `/sessions` and `/sessions/{handle}`.
pub fn configure<S: SessionStore>(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/sessions").get(list::<S>).delete(end_all::<S>).default_service(web::to(method_not_allowed)),
    )
    .service(web::resource("/sessions/{handle}").delete(end_one::<S>).default_service(web::to(method_not_allowed)));
}

/// `GET /sessions`'s answer.
#[derive(Serialize)]
struct Listing<'a> {
    sessions: Vec<Entry<'a>>,
    reach: &'static str,
}

/// One session in the listing.
#[derive(Serialize)]
struct Entry<'a> {
    handle: &'a str,
    created_at: u64,
    last_seen: u64,
    node: &'a str,
    current: bool,
}

/// The authenticated caller.
struct Caller {
    user: Name,
    /// The caller's credential as it is now: the re-issued one, or the one
    /// it sent.
    credential: String,
    /// Whether the store re-issued it (the answer must then set it).
    reissued: bool,
}

impl Caller {
    /// Authenticates the request as `GET /me` does, or says 401.
    async fn of<S: SessionStore>(req: &HttpRequest, store: &S) -> Result<Caller, ApiError> {
        let Updated { session: user, reissued } = authenticated_user(req, store).await?;
        match reissued {
            Some(credential) => Ok(Caller { user, credential, reissued: true }),
            None => Ok(Caller { user, credential: credential(req).ok_or(ApiError::Unauthorized)?, reissued: false }),
        }
    }

    /// A builder for `status`, carrying the re-issued cookie if there is one.
    fn answer(&self, req: &HttpRequest, mut response: HttpResponseBuilder) -> HttpResponseBuilder {
        if self.reissued {
            response.cookie(session_cookie(req, self.credential.clone()));
        }
        response
    }

    /// `error`'s answer, carrying the re-issued cookie if there is one.
    fn refuse(&self, req: &HttpRequest, error: ApiError) -> HttpResponse {
        let mut response = error.error_response();
        if self.reissued {
            // Only a cookie that cannot be encoded fails here, and ours can.
            let _ = response.add_cookie(&session_cookie(req, self.credential.clone()));
        }
        response
    }
}

async fn list<S: SessionStore>(
    req: HttpRequest,
    store: web::Data<S>,
    node: web::Data<NodeId>,
) -> Result<HttpResponse, ApiError> {
    let caller = Caller::of(&req, store.get_ref()).await?;
    let listed = match store.sessions(&caller.user, &caller.credential).await {
        Ok(listed) => listed,
        Err(error) => return Ok(caller.refuse(&req, error.into())),
    };
    let current = store.handle(&caller.credential);
    let sessions = listed
        .sessions
        .iter()
        .map(|session| Entry {
            handle: &session.handle,
            created_at: session.created_at,
            last_seen: session.last_seen,
            node: session.node.as_deref().unwrap_or(&node.0),
            current: current.as_deref() == Some(session.handle.as_str()),
        })
        .collect();
    Ok(caller.answer(&req, HttpResponse::Ok()).json(Listing { sessions, reach: listed.reach.as_str() }))
}

async fn end_all<S: SessionStore>(req: HttpRequest, store: web::Data<S>) -> Result<HttpResponse, ApiError> {
    let caller = Caller::of(&req, store.get_ref()).await?;
    match store.end_all(&caller.user, &caller.credential).await {
        Ok(ended) => {
            tracing::debug!(user = %caller.user, count = ended.count, reach = ended.reach.as_str(), "every session ended");
            Ok(HttpResponse::NoContent()
                .cookie(cookie_removal(&req))
                .insert_header((ENDED_HEADER, ended.count))
                .insert_header((REACH_HEADER, ended.reach.as_str()))
                .finish())
        }
        Err(error) => Ok(caller.refuse(&req, error.into())),
    }
}

async fn end_one<S: SessionStore>(
    req: HttpRequest,
    handle: web::Path<String>,
    store: web::Data<S>,
) -> Result<HttpResponse, ApiError> {
    let caller = Caller::of(&req, store.get_ref()).await?;
    if !is_handle(&handle) {
        return Ok(caller.refuse(&req, ApiError::SessionNotFound));
    }
    match store.end_one(&caller.user, &caller.credential, &handle).await {
        Ok(true) if store.handle(&caller.credential).as_deref() == Some(handle.as_str()) => {
            Ok(HttpResponse::NoContent().cookie(cookie_removal(&req)).finish())
        }
        Ok(true) => Ok(caller.answer(&req, HttpResponse::NoContent()).finish()),
        Ok(false) => Ok(caller.refuse(&req, ApiError::SessionNotFound)),
        Err(error) => Ok(caller.refuse(&req, error.into())),
    }
}

/// Whether `text` has the form of a handle: [`sessions::id::HANDLE_LEN`]
/// lowercase hex digits.
fn is_handle(text: &str) -> bool {
    text.len() == sessions::id::HANDLE_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::is_handle;

    #[test]
    fn only_sixteen_lowercase_hex_digits_are_a_handle() {
        assert!(is_handle(&sessions::id::handle("any credential")));
        for not in
            ["", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "0123456789abcdeg", "../../../../etc"]
        {
            assert!(!is_handle(not), "{not}");
        }
    }
}
