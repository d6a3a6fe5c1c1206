//! The one abstraction the three twins share.
//!
//! A store is asked four things, each of which is one atomic step inside the
//! store (never "read, change, write back" from the caller), so concurrent
//! requests of one user cannot undo each other's changes.
//!
//! A *credential* is what the client shows (the `sid` cookie). For a
//! server-side store it names a session kept elsewhere; for a token it *is*
//! the session. That is why [`update`](SessionStore::update) may hand back a
//! new credential: a store that keeps nothing must re-issue the state to the
//! client with every answer.

use std::future::Future;

use crate::session::{Name, Session};
use crate::view::SessionView;

/// A change an authenticated request makes. Every one of them also counts
/// the request and renews the session's idle TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Only count the request (`GET /me`, `GET /cart`).
    Touch,
    /// Add `qty` of `item` to the cart (`POST /cart`).
    AddItem {
        /// What to add.
        item: Name,
        /// How many, 1 to 1000 (the app checks the range).
        qty: u32,
    },
}

/// What an update hands back: the session after the change (or, from
/// [`update_with`](SessionStore::update_with), what the caller read from
/// it), and the credential the client must use from now on when it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated<T = Session> {
    /// The session with the change applied, or what was read from it.
    pub session: T,
    /// `Some` when the client must replace its cookie.
    pub reissued: Option<String>,
}

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service did not answer in time, or failed. The detail is
    /// for logs, never for clients.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The change would make the session larger than the store can carry.
    #[error("session too large: {0}")]
    TooLarge(String),
}

/// Where sessions live. Implemented by the RAM store, the Redis store and
/// the signed-token store.
///
/// A credential the store could not have issued (wrong length, wrong
/// alphabet, bad signature) is answered as "no such session" *without*
/// touching the backing service.
///
/// `Clone` hands out a handle for one more worker thread: clones share the
/// sessions.
pub trait SessionStore: Clone + Send + Sync + 'static {
    /// What `/healthz` reports: `"memory"`, `"redis"` or `"token"`.
    fn kind(&self) -> &'static str;

    /// Starts a new, empty session for `user`. When `replacing` names a live
    /// session, that one ends in the same step (session fixation defence).
    /// Returns the new credential and session.
    fn create(
        &self,
        user: &Name,
        replacing: Option<&str>,
    ) -> impl Future<Output = Result<(String, Session), StoreError>> + Send;

    /// Counts one request on the session behind `credential`, applies
    /// `change`, renews its idle TTL, and lends the session as it is now to
    /// `read`, whose answer comes back. `Ok(None)`: no such live session.
    ///
    /// The RAM store calls `read` on the session in place, under its lock,
    /// so `read` should be short (build a response body, no I/O); the others
    /// call it on the session they have just decoded. Either way the caller
    /// copies only what it reads.
    fn update_with<R: Send>(
        &self,
        credential: &str,
        change: Change,
        read: impl FnOnce(SessionView<'_>) -> R + Send,
    ) -> impl Future<Output = Result<Option<Updated<R>>, StoreError>> + Send;

    /// [`update_with`](Self::update_with), handing back a copy of the whole
    /// session.
    fn update(
        &self,
        credential: &str,
        change: Change,
    ) -> impl Future<Output = Result<Option<Updated>, StoreError>> + Send {
        self.update_with(credential, change, |session| session.to_session())
    }

    /// Ends the session behind `credential`; ending an unknown one is fine.
    fn destroy(&self, credential: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the store can serve requests now.
    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Counters `/healthz` shows beside the store's kind, read without
    /// waiting (the RAM store: sessions held, its bound, sessions evicted).
    /// None by default.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}
