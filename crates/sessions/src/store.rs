//! The one abstraction the three twins share.
//!
//! A store is asked five things, each of which is one atomic step inside the
//! store (never "read, change, write back" from the caller), so concurrent
//! requests of one user cannot undo each other's changes.
//!
//! A *credential* is what the client shows (the `sid` cookie). For a
//! server-side store it names a session kept elsewhere; for a token it *is*
//! the session. That is why [`update`](SessionStore::update) may hand back a
//! new credential: a store that keeps nothing must re-issue the state to the
//! client with every answer.

use std::future::Future;
use std::time::Duration;

use crate::session::{Name, Session};
use crate::view::SessionView;

/// A session's absolute lifetime unless told otherwise: twelve hours after
/// its login it ends, however active it is (`--session-max-age`).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(12 * 60 * 60);

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
    /// This store cannot do what was asked, by its design (the token store
    /// cannot end sessions it does not hold without a deny list). The text
    /// says why, in words a client may read.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// One of a user's live sessions, as `GET /sessions` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// A short name for the session that is safe to show and to log: see
    /// [`SessionStore::handle`]. Never the credential.
    pub handle: String,
    /// When the session was created, Unix milliseconds.
    pub created_at: u64,
    /// When it was last used, Unix milliseconds (a store that keeps only
    /// an idle deadline derives it: the deadline minus the idle TTL).
    pub last_seen: u64,
    /// The node that created it, where the store records it; `None` where
    /// it does not (the RAM store: every session it holds is this node's).
    pub node: Option<String>,
}

/// How far a listing or [`SessionStore::end_all`] reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The caller's own session only: the store keeps no list of a user's
    /// sessions (the token store's listing).
    Caller,
    /// Only the sessions this node holds: other nodes may hold more of the
    /// user's sessions, and they live on (the RAM store).
    Node,
    /// Every session of the user, whichever node serves it next.
    Everywhere,
}

impl Reach {
    /// As the API shows it: `"caller"`, `"node"` or `"everywhere"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Caller => "caller",
            Reach::Node => "node",
            Reach::Everywhere => "everywhere",
        }
    }
}

/// What [`SessionStore::sessions`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The user's live sessions, oldest first.
    pub sessions: Vec<SessionInfo>,
    /// How far the store could look.
    pub reach: Reach,
}

/// What [`SessionStore::end_all`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Sessions ended, the caller's own included.
    pub count: u64,
    /// Where they were ended.
    pub reach: Reach,
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
    ///
    /// `node` is the name of the node serving the login; a store that lists
    /// sessions with their node ([`SessionInfo::node`]) keeps it.
    fn create(
        &self,
        user: &Name,
        node: &str,
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

    /// Checks out the cart (`POST /orders`): counts one request on the
    /// session behind `credential`, renews its idle TTL, empties its cart,
    /// and hands back the session as it was just before the cart was
    /// emptied, so `session.cart` holds the items taken. All of it is one
    /// atomic step of the store: a concurrent `POST /cart` lands either in
    /// the items taken or in the emptied cart, never in neither, and two
    /// concurrent checkouts cannot both take the same items. `Ok(None)`: no
    /// such live session. An empty cart is not an error here: the caller
    /// sees `session.cart` empty and decides.
    ///
    /// To give the items back (the order could not be queued), add them to
    /// the cart again with [`Change::AddItem`], which keeps whatever was
    /// added meanwhile.
    fn take_cart(&self, credential: &str) -> impl Future<Output = Result<Option<Updated>, StoreError>> + Send;

    /// Ends the session behind `credential`; ending an unknown one is fine.
    fn destroy(&self, credential: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The handle of the session behind `credential` ([`SessionInfo::handle`]):
    /// a one-way digest of what names the session, so that showing it gives
    /// nothing away. `None` for a credential the store could not have issued.
    /// By default [`crate::id::handle`] of the credential; the token store
    /// digests the token's id instead, which stays the same across
    /// re-issues.
    fn handle(&self, credential: &str) -> Option<String> {
        Some(crate::id::handle(credential))
    }

    /// The live sessions of `user`, oldest first: never one that has
    /// expired (idle or past its absolute lifetime) or ended. `current` is
    /// the caller's credential, already checked by an
    /// [`update_with`](Self::update_with); a store that cannot list (the
    /// token store) lists that one alone.
    fn sessions(&self, user: &Name, current: &str) -> impl Future<Output = Result<Listed, StoreError>> + Send {
        let _ = (user, current);
        async { Err(StoreError::Unsupported("this store cannot list sessions")) }
    }

    /// Ends every session of `user` the store can reach, `current` (the
    /// caller's, already checked) included, and says how many and how far
    /// ([`Reach`]). A login racing with it may survive where the store
    /// documents so.
    fn end_all(&self, user: &Name, current: &str) -> impl Future<Output = Result<Ended, StoreError>> + Send {
        let _ = (user, current);
        async { Err(StoreError::Unsupported("this store cannot end every session of a user")) }
    }

    /// Ends the session of `user` whose [handle](Self::handle) is `handle`.
    /// `Ok(false)`: no live session of this user has it (another user's
    /// handle answers exactly like an unknown one).
    fn end_one(
        &self,
        user: &Name,
        current: &str,
        handle: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (user, current, handle);
        async { Err(StoreError::Unsupported("this store cannot end one session by its handle")) }
    }

    /// Whether the store can serve requests now.
    fn health(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Counters `/healthz` shows beside the store's kind, read without
    /// waiting (the RAM store: sessions held, its bound, sessions evicted).
    /// None by default.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}
