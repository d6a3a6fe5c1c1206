//! Sessions in Redis.
//!
//! # Layout (inspect it with `redis-cli`)
//!
//! One hash per session, under the key `session:<id>`, where `<id>` is the
//! cookie's value:
//!
//! | field | value |
//! |---|---|
//! | `user` | the user name |
//! | `created_at` | Unix milliseconds |
//! | `node` | the name of the node that served the login |
//! | `requests` | authenticated requests so far |
//! | `cart:<item>` | quantity of `<item>` |
//!
//! The key's TTL is the idle timeout (`PTTL session:<id>` shows what is
//! left); every authenticated request sets it back to the full timeout.
//!
//! One sorted set per user, under the key `user-sessions:<user>`, indexes
//! that user's sessions, so that any node can list them or end them all:
//!
//! | member | score |
//! |---|---|
//! | `<id>` of one of the user's sessions | its `created_at` |
//!
//! Its TTL is the absolute lifetime (`max_age`), set again by every login:
//! when it runs out, every session it named is past its lifetime too.
//!
//! ```text
//! $ redis-cli -p PORT HGETALL session:q3N0...
//!  1) "user"        2) "alice"
//!  3) "created_at"  4) "1764385200123"
//!  5) "node"        6) "node-a"
//!  7) "requests"    8) "3"
//!  9) "cart:book"  10) "2"
//! $ redis-cli -p PORT ZRANGE user-sessions:alice 0 -1 WITHSCORES
//! 1) "q3N0..."     2) "1764385200123"
//! ```
//!
//! The index is kept in the same step as the sessions it names: a login
//! adds its session (and removes the one it replaces) in the `MULTI`/`EXEC`
//! that creates it, a logout removes it in the script that deletes it.
//! What it can still name that is gone (a session that idled out, one
//! replaced by a login of another user) is dropped when the user's sessions
//! are listed; members past the absolute lifetime are dropped by every
//! login (`ZREMRANGEBYSCORE`).
//!
//! # One round trip per request, and no lost update
//!
//! A request's whole change is three commands (four for `POST /cart`) sent
//! as one pipeline:
//!
//! ```text
//! HINCRBY session:<id> requests 1
//! HINCRBY session:<id> cart:<item> <qty>     (POST /cart only)
//! PEXPIRE session:<id> <ttl-ms>
//! HGETALL session:<id>
//! ```
//!
//! Fields are changed with `HINCRBY`, which Redis applies atomically, never
//! by writing back a copy of the session, so two nodes updating one session
//! at the same moment both count. Redis runs one connection's commands in
//! order, and it reads a pipeline this small in one piece, so the answer is
//! the session as this request left it, or later.
//!
//! `HINCRBY` on a missing key creates it: a request whose id names no
//! session (expired, logged out, or made up) leaves a placeholder hash with
//! `requests` and no `user`. The store answers "no such session" and deletes
//! the placeholder at once, in a second round trip that only dead ids pay;
//! `PEXPIRE` has given the placeholder the TTL, so it cannot outlive it even
//! if that delete fails. A request racing with a logout either completes
//! before it or finds no session.
//!
//! Why not a Lua script (which could check that the key exists first) or a
//! `MULTI`/`EXEC` transaction around the same commands? Redis runs commands
//! on one thread, so what each update costs it is the cluster's ceiling. The
//! script cost Redis about 5.6 µs of CPU per call (`INFO commandstats`), and
//! a transaction adds two commands (and a `QUEUED` reply per command) to
//! each update; neither buys anything the plain pipeline lacks here.
//! `docs/benchmarks.md` has the figures. Logins, which must end the old
//! session and create the new one together, do use `MULTI`/`EXEC`.
//!
//! # Checking out the cart: one small Lua script
//!
//! `POST /orders` takes the whole cart and leaves it empty
//! ([`SessionStore::take_cart`]). Which `cart:*` fields to delete is known
//! only once the hash is read, so the plain pipeline cannot do it, and a
//! `MULTI`/`EXEC` of `HGETALL` and `HDEL` would need the field names before
//! the transaction (a `WATCH`, a read, then the transaction, retried when a
//! concurrent `POST /cart` touched the key: two or more round trips). A
//! script does it in one round trip, and Redis runs it alone, so an item
//! added concurrently lands either in what is taken or in the emptied
//! cart:
//!
//! ```text
//! EVAL "if no user: return nil
//!       if created_at <= cutoff: return the user (past its lifetime)
//!       HINCRBY requests 1, PEXPIRE ttl,
//!       read the hash, HDEL every cart:* field, return what was read"
//!      1 session:<id> <ttl-ms> <now-ms − max-age-ms>
//! ```
//!
//! The answer is the hash as it was just before the fields went (request
//! counted). A session past its lifetime is deleted as the update pipeline
//! deletes one (next section). A checkout is rare next to `GET /me`, so the script's cost
//! to Redis (see above) does not matter here, and `EVAL` sends its text
//! each time rather than keep an `EVALSHA` and its `NOSCRIPT` fallback.
//!
//! # The absolute lifetime
//!
//! A session ends `max_age` after its login, however active it is. The
//! update pipeline above reads `created_at` in its `HGETALL` anyway, so
//! the check costs no command: a session past its lifetime is answered
//! "no such session", and deleted (its key and its index member) in the
//! second round trip that only dead sessions pay, as a placeholder is. The
//! checkout script checks it before it touches anything.
//!
//! # Listing and ending a user's sessions
//!
//! - **Listing** (`GET /sessions`) is two round trips: `ZRANGE
//!   user-sessions:<user> 0 -1 WITHSCORES` (oldest first), then one
//!   pipeline of `HMGET session:<id> created_at node` and `PTTL
//!   session:<id>` per member. A member whose hash is gone (or is a
//!   placeholder) is dropped from the index, one past the absolute
//!   lifetime is deleted with its hash, in a third round trip only such
//!   leftovers cost. The store keeps only an idle deadline, so when a
//!   session was last used is derived from it: `now − (ttl − PTTL)`.
//! - **Ending them all** (`DELETE /sessions`) is one Lua script, which
//!   Redis runs alone: it deletes every session the index names and the
//!   index itself, and counts the sessions that were alive. No login can
//!   come between, so none survives it.
//! - **Ending one** (`DELETE /sessions/<handle>`): the index is read, the
//!   member whose handle matches is found on the node, and one
//!   `MULTI`/`EXEC` reads its `created_at`, deletes it and drops it from
//!   the index. A handle is looked for in the user's own index only, so
//!   another user's handle is unknown here.
//! - **Logout** must drop the session from its user's index, and only the
//!   hash knows the user: a small Lua script reads `user`, deletes the
//!   hash and removes the member, in one round trip. The script names the
//!   index key it derives from the hash rather than declaring it, which is
//!   fine on one Redis (and what a Cluster would refuse:
//!   [`RedisHaStore`](crate::RedisHaStore) does it in steps there).
//!
//! None of this touches the update pipeline: a request still costs three
//! commands in one round trip.
//!
//! # Connections
//!
//! A multiplexed connection carries any number of concurrent requests, so
//! the hot path needs no pool checkout: each store handle (one per worker
//! thread, see [`Clone`]) borrows one connection from a deadpool pool and
//! keeps it while it works. The pool does what a pool is good for: it opens
//! connections with a timeout and bounds how many there are; a connection
//! knows when its socket closed, so handing a pooled one to a new handle
//! costs no `PING`. When a request fails, the handle gives its connection
//! back for good and borrows a fresh one on the next request, so a Redis that
//! was restarted is used again without restarting the server.
//!
//! The connection is the crate's own (`resp.rs`), not redis-rs's: on an HTTP
//! node that does nothing but the session, replacing redis-rs's general
//! machinery took a quarter of the node's CPU per `GET /me` away. redis-rs
//! still reads the URL. `resp.rs` says what the connection does, and
//! `docs/benchmarks.md` has the figures. Its scope is one standalone Redis,
//! plaintext, RESP2; a Sentinel-managed primary or a Redis Cluster is
//! [`RedisHaStore`](crate::RedisHaStore)'s, on redis-rs.
//!
//! Measured (`benches/redis_throughput.rs`, `docs/benchmarks.md`): a
//! deadpool-redis checkout per request costs a second round trip (its
//! `PING`), 1.5 to 2.2× a plain `GET`. With 64 requests in flight, one
//! connection per worker thread pipelines them and beats
//! `redis-benchmark -c 50 -t get`, each update being three commands.
//!
//! Every operation has a deadline: a Redis that is down or hung gives
//! [`StoreError::Unavailable`] within [`RedisSettings::timeout`], never a
//! hung request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::{ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisError};
use bytes::Bytes;
use deadpool::managed::{self, Metrics, Object, Pool, RecycleError, RecycleResult};

use crate::id::SessionId;
use crate::resp::{Connection, Replies, Reply, WireError, encode, itoa};
use crate::session::{Name, Session, now_ms};
use crate::store::{Change, Ended, Listed, Reach, SessionInfo, SessionStore, StoreError, Updated};
use crate::view::SessionView;

/// The prefix of every session key.
pub const KEY_PREFIX: &str = "session:";
/// The prefix of every cart field in a session hash.
pub const CART_FIELD_PREFIX: &str = "cart:";
/// The prefix of every user's index of sessions (a sorted set).
pub const INDEX_PREFIX: &str = "user-sessions:";

/// How the Redis store connects.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `redis://[[USER]:PASSWORD@]HOST:PORT[/DB]`.
    pub url: String,
    /// Idle timeout of a session.
    pub ttl: Duration,
    /// Absolute lifetime of a session, however active
    /// ([`DEFAULT_MAX_AGE`](crate::store::DEFAULT_MAX_AGE) by default).
    pub max_age: Duration,
    /// Deadline for one store operation, connecting included.
    pub timeout: Duration,
    /// Most connections the pool opens.
    pub pool_size: usize,
}

impl RedisSettings {
    /// Settings for `url` with a session TTL of `ttl` and the defaults: a
    /// one-second deadline (so an outage answers 503 within about a second)
    /// and a pool of 16.
    pub fn new(url: impl Into<String>, ttl: Duration) -> RedisSettings {
        RedisSettings {
            url: url.into(),
            ttl,
            max_age: crate::store::DEFAULT_MAX_AGE,
            timeout: Duration::from_secs(1),
            pool_size: 16,
        }
    }
}

/// The Redis store.
///
/// Clones share the pool but each borrows its own connection, so that the
/// app can give every worker thread a handle whose connection is driven on
/// that same thread.
pub struct RedisStore {
    shared: Arc<Shared>,
    lease: Mutex<Option<Object<Connector>>>,
}

struct Shared {
    pool: Pool<Connector>,
    ttl_ms: u64,
    max_age_ms: u64,
    timeout: Duration,
}

impl Clone for RedisStore {
    fn clone(&self) -> Self {
        RedisStore { shared: Arc::clone(&self.shared), lease: Mutex::new(None) }
    }
}

/// What the pool opens connections with.
struct Connector {
    host: String,
    port: u16,
    /// `AUTH` and `SELECT`, encoded, as the URL asks; sent on every new
    /// connection.
    prelude: Vec<u8>,
    prelude_replies: usize,
}

impl managed::Manager for Connector {
    type Type = Connection;
    type Error = WireError;

    async fn create(&self) -> Result<Connection, WireError> {
        Connection::open((&self.host, self.port), &self.prelude, self.prelude_replies).await
    }

    /// A connection knows when it broke (its reader saw the socket close),
    /// so reuse costs no `PING`.
    async fn recycle(&self, connection: &mut Connection, _: &Metrics) -> RecycleResult<WireError> {
        if connection.is_broken() { Err(RecycleError::message("connection lost")) } else { Ok(()) }
    }
}

impl RedisStore {
    /// Builds the store. Does not connect: a server can start while Redis is
    /// down and serve once it is up. Fails only on a URL it cannot use.
    pub fn new(settings: &RedisSettings) -> Result<RedisStore, RedisError> {
        let info = settings.url.as_str().into_connection_info()?;
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return Err(RedisError::from((ErrorKind::InvalidClientConfig, "only redis://HOST:PORT is supported")));
        };
        let (mut prelude, mut prelude_replies) = (Vec::new(), 0);
        let login = info.redis_settings();
        if let Some(password) = login.password() {
            match login.username() {
                Some(user) => encode(&mut prelude, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => encode(&mut prelude, &[b"AUTH", password.as_bytes()]),
            }
            prelude_replies += 1;
        }
        if login.db() != 0 {
            encode(&mut prelude, &[b"SELECT", login.db().to_string().as_bytes()]);
            prelude_replies += 1;
        }
        // Half the deadline for connecting, so that a reconnect followed by
        // a request still fits in one deadline.
        let half = settings.timeout / 2;
        let pool = Pool::builder(Connector { host: host.clone(), port: *port, prelude, prelude_replies })
            .max_size(settings.pool_size)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(half))
            .recycle_timeout(Some(half))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| RedisError::from((ErrorKind::Client, "cannot build pool", e.to_string())))?;
        Ok(RedisStore {
            shared: Arc::new(Shared {
                pool,
                ttl_ms: millis(settings.ttl),
                max_age_ms: millis(settings.max_age),
                timeout: settings.timeout,
            }),
            lease: Mutex::new(None),
        })
    }

    /// The key of a session in Redis.
    pub fn key(id: &SessionId) -> String {
        format!("{KEY_PREFIX}{id}")
    }

    /// The key of `user`'s index of sessions.
    pub fn index_key(user: &Name) -> String {
        format!("{INDEX_PREFIX}{user}")
    }

    /// `DEL key`: removes a placeholder.
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.send("delete", 1, |out| encode(out, &[b"DEL", key.as_bytes()])).await
    }

    /// Deletes a session found past its absolute lifetime, and its index
    /// member: one round trip that only dead sessions pay.
    async fn remove(&self, id: &str, user: &Name) -> Result<(), StoreError> {
        let (key, index) = (format!("{KEY_PREFIX}{id}"), Self::index_key(user));
        self.send("remove", 2, |out| {
            encode(out, &[b"DEL", key.as_bytes()]);
            encode(out, &[b"ZREM", index.as_bytes(), id.as_bytes()]);
        })
        .await
    }

    /// The ids in `user`'s index, oldest first, with their `created_at`.
    async fn members(&self, index: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let replies = self
            .call("sessions", 1, |out| encode(out, &[b"ZRANGE", index.as_bytes(), b"0", b"-1", b"WITHSCORES"]))
            .await?;
        Self::read("sessions", &replies, |replies| {
            let Reply::Array(Some(items)) = replies.next()? else {
                return Err(WireError::Reply("ZRANGE did not answer an array".into()));
            };
            let mut members = Vec::with_capacity(items / 2);
            for _ in 0..items / 2 {
                match (replies.next()?, replies.next()?) {
                    (Reply::Bulk(Some(id)), Reply::Bulk(Some(score))) => {
                        let id = String::from_utf8_lossy(id).into_owned();
                        members.push((id, score_ms(score).unwrap_or(0)));
                    }
                    _ => return Err(WireError::Reply("ZRANGE did not answer members and scores".into())),
                }
            }
            Ok(members)
        })
    }

    /// The instant at or before which a session was created if it is past
    /// its absolute lifetime now.
    fn cutoff(&self) -> u64 {
        now_ms().saturating_sub(self.shared.max_age_ms)
    }

    /// This handle's connection, borrowing one from the pool if it has none.
    async fn connection(&self) -> Result<Connection, StoreError> {
        if let Some(lease) = self.lock_lease().as_ref() {
            return Ok((**lease).clone());
        }
        let lease = self.shared.pool.get().await.map_err(|e| self.unavailable("pool", &e))?;
        let connection = (*lease).clone();
        // Two requests may have borrowed at once: the first to get here
        // keeps its lease, the other goes back to the pool.
        self.lock_lease().get_or_insert(lease);
        Ok(connection)
    }

    /// Sends the commands `write` encodes on this handle's connection and
    /// waits for their `replies` replies, all within the deadline. When the
    /// connection fails or the deadline passes, the handle gives the
    /// connection up, so the next request starts from a fresh one.
    pub(crate) async fn call(
        &self,
        what: &'static str,
        replies: usize,
        write: impl Fn(&mut Vec<u8>),
    ) -> Result<Bytes, StoreError> {
        let attempt = async {
            let connection = self.connection().await?;
            let answer = match connection.request(replies, &write).await {
                // It broke while idle (Redis restarted, or the runtime its
                // tasks ran on ended). Nothing was sent, so one more try on a
                // fresh connection cannot apply a change twice.
                Err(WireError::Closed(_)) => {
                    self.let_go();
                    self.connection().await?.request(replies, &write).await
                }
                answer => answer,
            };
            answer.map_err(|e| self.unavailable(what, &e))
        };
        match tokio::time::timeout(self.shared.timeout, attempt).await {
            Ok(result) => result,
            Err(_elapsed) => Err(self.unavailable(what, &"deadline passed")),
        }
    }

    /// [`call`](Self::call) for commands whose replies only say whether
    /// they worked: `Ok` when none of them is an error.
    pub(crate) async fn send(
        &self,
        what: &'static str,
        replies: usize,
        write: impl Fn(&mut Vec<u8>),
    ) -> Result<(), StoreError> {
        let answer = self.call(what, replies, write).await?;
        Self::read(what, &answer, |answer| answer.skip(replies))
    }

    /// Reads what [`call`](Self::call) got back with `read`. An error reply
    /// (a hand-made key of the wrong type, say) fails this request only: the
    /// connection is fine.
    pub(crate) fn read<'a, T>(
        what: &'static str,
        replies: &'a [u8],
        read: impl FnOnce(&mut Replies<'a>) -> Result<T, WireError>,
    ) -> Result<T, StoreError> {
        read(&mut Replies::new(replies)).map_err(|e| outage(what, &e))
    }

    /// The connection failed: this handle lets go of it (it closes once the
    /// requests still on it are done) and borrows a fresh one next time.
    fn unavailable(&self, what: &str, error: &dyn std::fmt::Display) -> StoreError {
        self.let_go();
        outage(what, error)
    }

    /// Gives this handle's connection up for good.
    fn let_go(&self) {
        if let Some(lease) = self.lock_lease().take() {
            drop(Object::take(lease));
        }
    }

    fn lock_lease(&self) -> std::sync::MutexGuard<'_, Option<Object<Connector>>> {
        self.lease.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn outage(what: &str, error: &dyn std::fmt::Display) -> StoreError {
    tracing::warn!(operation = what, %error, "redis unavailable");
    StoreError::Unavailable(format!("{what}: {error}"))
}

/// A duration in milliseconds, as Redis takes it.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A sorted set's score, as Redis writes it, in whole milliseconds.
pub(crate) fn score_ms(score: &[u8]) -> Option<u64> {
    let score: f64 = std::str::from_utf8(score).ok()?.parse().ok()?;
    // Scores are Unix milliseconds, exact in a double.
    (score >= 0.0).then_some(score as u64)
}

/// [`SessionStore::take_cart`] in one atomic step (see the module docs):
/// `KEYS[1]` the session, `ARGV[1]` its TTL in milliseconds, `ARGV[2]` the
/// instant at or before which a session was created if it is past its
/// absolute lifetime. Answers the hash as it was before the cart went; nil
/// for no such session (which it leaves untouched: no placeholder); the
/// user's name, as a string, for a session past its lifetime, which it
/// leaves for the caller to delete with its index member.
pub(crate) const TAKE_CART: &str = r"
local key = KEYS[1]
local found = redis.call('HMGET', key, 'user', 'created_at')
if not found[1] then return false end
local created = tonumber(found[2])
if created and created <= tonumber(ARGV[2]) then return found[1] end
redis.call('HINCRBY', key, 'requests', 1)
redis.call('PEXPIRE', key, ARGV[1])
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 5) == 'cart:' then redis.call('HDEL', key, fields[i]) end
end
return fields
";

/// [`SessionStore::destroy`] in one atomic step: `KEYS[1]` the session,
/// `ARGV[1]` its id, `ARGV[2]` the index prefix. Deletes the hash and drops
/// the id from its user's index, which only the hash names (so the script
/// reaches a key it does not declare: one Redis or one primary only).
pub(crate) const LOGOUT: &str = r"
local user = redis.call('HGET', KEYS[1], 'user')
redis.call('DEL', KEYS[1])
if user then redis.call('ZREM', ARGV[2] .. user, ARGV[1]) end
return 0
";

/// [`SessionStore::end_all`] in one atomic step: `KEYS[1]` the user's
/// index, `ARGV[1]` the instant at or before which a session was created if
/// it is past its absolute lifetime, `ARGV[2]` the session key prefix.
/// Deletes every session the index names and the index, and answers how
/// many of them were alive. (It reaches keys it does not declare: one Redis
/// or one primary only.)
pub(crate) const END_ALL: &str = r"
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local ended = 0
for i = 1, #members, 2 do
  if redis.call('DEL', ARGV[2] .. members[i]) == 1 and tonumber(members[i + 1]) > tonumber(ARGV[1]) then
    ended = ended + 1
  end
end
redis.call('DEL', KEYS[1])
return ended
";

/// What a listing found of one index member.
pub(crate) enum Member {
    /// A live session.
    Live(SessionInfo),
    /// Nothing, or a placeholder: the member is dropped from the index.
    Gone,
    /// A session past its absolute lifetime: deleted, and dropped from
    /// the index.
    PastMaxAge,
}

impl Member {
    /// Judges the member `id` from its hash's `created_at` and `node` and
    /// its `PTTL`, read at `now`.
    pub(crate) fn judge(
        id: &str,
        created_at: Option<u64>,
        node: Option<String>,
        pttl: i64,
        now: u64,
        ttl_ms: u64,
        cutoff: u64,
    ) -> Member {
        // `PTTL` answers -2 for a key that is gone.
        let Some(created_at) = created_at.filter(|_| pttl != -2) else {
            return Member::Gone;
        };
        if created_at <= cutoff {
            return Member::PastMaxAge;
        }
        // -1 (no TTL) only on a hand-made key: count it as used now.
        let left = u64::try_from(pttl).unwrap_or(ttl_ms);
        let last_seen = now.saturating_sub(ttl_ms.saturating_sub(left)).max(created_at);
        Member::Live(SessionInfo { handle: crate::id::handle(id), created_at, last_seen, node })
    }
}

/// What the checkout script answered.
enum Checkout<'a> {
    /// No such session.
    Nothing,
    /// A session past its absolute lifetime, of this user.
    PastMaxAge(Name),
    /// The hash as it was before the cart went.
    Taken(Vec<Field<'a>>),
}

/// A field of a session hash and its value, borrowed from the reply.
pub(crate) type Field<'a> = (&'a [u8], &'a [u8]);

/// Skips the replies of the commands before the last, then reads the last,
/// an `HGETALL`, into its field-value pairs, in place.
fn hash_fields<'a>(replies: &mut Replies<'a>, before: usize) -> Result<Vec<Field<'a>>, WireError> {
    replies.skip(before)?;
    let not_a_hash = || WireError::Reply("HGETALL did not answer a hash".into());
    let Reply::Array(Some(items)) = replies.next()? else {
        return Err(not_a_hash());
    };
    field_pairs(replies, items)
}

/// Reads the `items` replies of a hash's array (field, value, field…) into
/// field-value pairs, in place.
fn field_pairs<'a>(replies: &mut Replies<'a>, items: usize) -> Result<Vec<Field<'a>>, WireError> {
    let not_a_hash = || WireError::Reply("HGETALL did not answer a hash".into());
    let mut fields = Vec::with_capacity(items / 2);
    for _ in 0..items / 2 {
        match (replies.next()?, replies.next()?) {
            (Reply::Bulk(Some(field)), Reply::Bulk(Some(value))) => fields.push((field, value)),
            _ => return Err(not_a_hash()),
        }
    }
    Ok(fields)
}

/// What an update pipeline's `HGETALL` found, read the same way by both
/// Redis stores.
pub(crate) enum Found {
    /// A live session, as the update left it.
    Live(Session),
    /// No session: the pipeline made a placeholder, to be deleted (see the
    /// module docs).
    Placeholder,
    /// A session past its absolute lifetime (created at or before the
    /// cutoff), to be deleted with its index member.
    PastMaxAge(Name),
    /// A hash no store wrote (a field missing or bad: a hand-edited key).
    Unreadable,
}

impl Found {
    /// Reads `fields`, a session's hash after an update, against `cutoff`
    /// (Unix ms: a session created at or before it is past its lifetime).
    pub(crate) fn of(fields: &[Field<'_>], cutoff: u64) -> Found {
        if !fields.iter().any(|&(field, _)| field == b"user") {
            return Found::Placeholder;
        }
        match session_from_hash(fields) {
            None => Found::Unreadable,
            Some(session) if session.created_at <= cutoff => Found::PastMaxAge(session.user),
            Some(session) => Found::Live(session),
        }
    }
}

/// Rebuilds a session from its hash; `None` if a field is missing or bad,
/// which only a hand-edited key could cause.
pub(crate) fn session_from_hash(fields: &[Field<'_>]) -> Option<Session> {
    let number = |value: &[u8]| std::str::from_utf8(value).ok()?.parse::<u64>().ok();
    let (mut user, mut created_at, mut requests, mut cart) = (None, None, None, BTreeMap::new());
    for &(field, value) in fields {
        match field {
            b"user" => user = Some(Name::parse(std::str::from_utf8(value).ok()?).ok()?),
            b"created_at" => created_at = Some(number(value)?),
            b"requests" => requests = Some(number(value)?),
            _ => {
                if let Some(item) = field.strip_prefix(CART_FIELD_PREFIX.as_bytes()) {
                    cart.insert(String::from_utf8(item.to_vec()).ok()?, number(value)?);
                }
            }
        }
    }
    Some(Session { user: user?, created_at: created_at?, requests: requests?, cart })
}

impl SessionStore for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn create(&self, user: &Name, node: &str, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        let id = SessionId::generate().to_string();
        let key = format!("{KEY_PREFIX}{id}");
        let index = Self::index_key(user);
        let session = Session::new(user);
        let old = replacing.and_then(SessionId::parse).map(|old| old.to_string());
        let cutoff = session.created_at.saturating_sub(self.shared.max_age_ms);
        // MULTI's +OK, a +QUEUED per command, and EXEC's array.
        let count = 1 + 2 * usize::from(old.is_some()) + 5 + 1;
        self.send("create", count, |out| {
            let (key, index) = (key.as_bytes(), index.as_bytes());
            let (mut created, mut ttl, mut cutoff_digits, mut max_age) = ([0; 20], [0; 20], [0; 20], [0; 20]);
            let created = itoa(session.created_at, &mut created);
            encode(out, &[b"MULTI"]);
            if let Some(old) = &old {
                // A replaced session of another user stays in that user's
                // index until a listing drops it: it is gone either way.
                encode(out, &[b"DEL", format!("{KEY_PREFIX}{old}").as_bytes()]);
                encode(out, &[b"ZREM", index, old.as_bytes()]);
            }
            let user = session.user.as_str().as_bytes();
            let fields: [&[u8]; 8] =
                [b"user", user, b"created_at", created, b"node", node.as_bytes(), b"requests", b"0"];
            encode(out, &[&[b"HSET".as_slice(), key][..], &fields].concat());
            encode(out, &[b"PEXPIRE", key, itoa(self.shared.ttl_ms, &mut ttl)]);
            encode(out, &[b"ZADD", index, created, id.as_bytes()]);
            encode(out, &[b"ZREMRANGEBYSCORE", index, b"-inf", itoa(cutoff, &mut cutoff_digits)]);
            encode(out, &[b"PEXPIRE", index, itoa(self.shared.max_age_ms, &mut max_age)]);
            encode(out, &[b"EXEC"]);
        })
        .await?;
        Ok((id, session))
    }

    async fn update_with<R: Send>(
        &self,
        credential: &str,
        change: Change,
        read: impl FnOnce(SessionView<'_>) -> R + Send,
    ) -> Result<Option<Updated<R>>, StoreError> {
        let Some(id) = SessionId::parse(credential) else {
            return Ok(None);
        };
        let key = Self::key(&id);
        let added = match &change {
            Change::Touch => None,
            Change::AddItem { item, qty } => Some((format!("{CART_FIELD_PREFIX}{item}"), *qty)),
        };
        let before = 2 + usize::from(added.is_some());
        let replies = self
            .call("update", before + 1, |out| {
                let key = key.as_bytes();
                encode(out, &[b"HINCRBY", key, b"requests", b"1"]);
                if let Some((field, qty)) = &added {
                    encode(out, &[b"HINCRBY", key, field.as_bytes(), itoa(u64::from(*qty), &mut [0; 20])]);
                }
                encode(out, &[b"PEXPIRE", key, itoa(self.shared.ttl_ms, &mut [0; 20])]);
                encode(out, &[b"HGETALL", key]);
            })
            .await?;
        let fields = Self::read("update", &replies, |replies| hash_fields(replies, before))?;
        match Found::of(&fields, self.cutoff()) {
            Found::Live(session) => Ok(Some(Updated { session: read(session.view()), reissued: None })),
            Found::Placeholder => {
                // Failing to delete it changes nothing for this request, and
                // its TTL removes it anyway.
                let _ = self.delete(&key).await;
                Ok(None)
            }
            Found::PastMaxAge(user) => {
                // As dead as a missing one. Failing to delete it changes
                // nothing either: every request checks.
                let _ = self.remove(credential, &user).await;
                Ok(None)
            }
            Found::Unreadable => Ok(None),
        }
    }

    async fn take_cart(&self, credential: &str) -> Result<Option<Updated>, StoreError> {
        let Some(id) = SessionId::parse(credential) else {
            return Ok(None);
        };
        let key = Self::key(&id);
        let cutoff = self.cutoff();
        let replies = self
            .call("take cart", 1, |out| {
                let (mut ttl, mut cutoff_digits) = ([0; 20], [0; 20]);
                let ttl = itoa(self.shared.ttl_ms, &mut ttl);
                let cutoff = itoa(cutoff, &mut cutoff_digits);
                encode(out, &[b"EVAL", TAKE_CART.as_bytes(), b"1", key.as_bytes(), ttl, cutoff]);
            })
            .await?;
        let fields = Self::read("take cart", &replies, |replies| match replies.next()? {
            Reply::Bulk(None) | Reply::Array(None) => Ok(Checkout::Nothing),
            Reply::Bulk(Some(user)) => Ok(Checkout::PastMaxAge(Name::copy_of(user))),
            Reply::Array(Some(items)) => field_pairs(replies, items).map(Checkout::Taken),
            _ => Err(WireError::Reply("the checkout script did not answer a hash".into())),
        })?;
        match fields {
            Checkout::Nothing => Ok(None),
            Checkout::PastMaxAge(user) => {
                let _ = self.remove(credential, &user).await;
                Ok(None)
            }
            Checkout::Taken(fields) => {
                Ok(session_from_hash(&fields).map(|session| Updated { session, reissued: None }))
            }
        }
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        let Some(id) = SessionId::parse(credential) else {
            return Ok(());
        };
        let key = Self::key(&id);
        self.send("logout", 1, |out| {
            let (script, id) = (LOGOUT.as_bytes(), credential.as_bytes());
            encode(out, &[b"EVAL", script, b"1", key.as_bytes(), id, INDEX_PREFIX.as_bytes()]);
        })
        .await
    }

    async fn sessions(&self, user: &Name, _current: &str) -> Result<Listed, StoreError> {
        let index = Self::index_key(user);
        let members = self.members(&index).await?;
        if members.is_empty() {
            return Ok(Listed { sessions: Vec::new(), reach: Reach::Everywhere });
        }
        let replies = self
            .call("sessions", 2 * members.len(), |out| {
                for (id, _) in &members {
                    let key = format!("{KEY_PREFIX}{id}");
                    encode(out, &[b"HMGET", key.as_bytes(), b"created_at", b"node"]);
                    encode(out, &[b"PTTL", key.as_bytes()]);
                }
            })
            .await?;
        let (now, cutoff) = (now_ms(), self.cutoff());
        let judged = Self::read("sessions", &replies, |replies| {
            let mut judged = Vec::with_capacity(members.len());
            for (id, _) in &members {
                let bad = || WireError::Reply("HMGET or PTTL answered something else".into());
                let (Reply::Array(Some(2)), Reply::Bulk(created_at), Reply::Bulk(node), Reply::Integer(pttl)) =
                    (replies.next()?, replies.next()?, replies.next()?, replies.next()?)
                else {
                    return Err(bad());
                };
                let created_at = created_at.and_then(|digits| std::str::from_utf8(digits).ok()?.parse().ok());
                let node = node.map(|node| String::from_utf8_lossy(node).into_owned());
                judged.push(Member::judge(id, created_at, node, pttl, now, self.shared.ttl_ms, cutoff));
            }
            Ok(judged)
        })?;
        let (mut sessions, mut gone, mut past) = (Vec::new(), Vec::new(), Vec::new());
        for ((id, _), member) in members.iter().zip(judged) {
            match member {
                Member::Live(info) => sessions.push(info),
                Member::Gone => gone.push(id.as_str()),
                Member::PastMaxAge => past.push(id.as_str()),
            }
        }
        if !gone.is_empty() || !past.is_empty() {
            // Leftovers: failing to drop them changes nothing for this
            // listing, and the next one tries again.
            let _ = self
                .send("sessions", usize::from(!past.is_empty()) + 1, |out| {
                    let keys: Vec<String> = past.iter().map(|id| format!("{KEY_PREFIX}{id}")).collect();
                    if !keys.is_empty() {
                        let del: Vec<&[u8]> =
                            std::iter::once(&b"DEL"[..]).chain(keys.iter().map(|key| key.as_bytes())).collect();
                        encode(out, &del);
                    }
                    let zrem: Vec<&[u8]> = [&b"ZREM"[..], index.as_bytes()]
                        .into_iter()
                        .chain(gone.iter().chain(&past).map(|id| id.as_bytes()))
                        .collect();
                    encode(out, &zrem);
                })
                .await;
        }
        Ok(Listed { sessions, reach: Reach::Everywhere })
    }

    async fn end_all(&self, user: &Name, _current: &str) -> Result<Ended, StoreError> {
        let index = Self::index_key(user);
        let cutoff = self.cutoff();
        let replies = self
            .call("end all", 1, |out| {
                let mut digits = [0; 20];
                let cutoff = itoa(cutoff, &mut digits);
                encode(out, &[b"EVAL", END_ALL.as_bytes(), b"1", index.as_bytes(), cutoff, KEY_PREFIX.as_bytes()]);
            })
            .await?;
        let count = Self::read("end all", &replies, |replies| match replies.next()? {
            Reply::Integer(count) => Ok(u64::try_from(count).unwrap_or(0)),
            _ => Err(WireError::Reply("the script did not answer a count".into())),
        })?;
        Ok(Ended { count, reach: Reach::Everywhere })
    }

    async fn end_one(&self, user: &Name, _current: &str, handle: &str) -> Result<bool, StoreError> {
        let index = Self::index_key(user);
        let members = self.members(&index).await?;
        let Some((id, _)) = members.iter().find(|(id, _)| crate::id::handle(id) == handle) else {
            return Ok(false);
        };
        let key = format!("{KEY_PREFIX}{id}");
        // MULTI's +OK, three +QUEUED, then EXEC's array of three.
        let replies = self
            .call("end one", 5, |out| {
                encode(out, &[b"MULTI"]);
                encode(out, &[b"HGET", key.as_bytes(), b"created_at"]);
                encode(out, &[b"DEL", key.as_bytes()]);
                encode(out, &[b"ZREM", index.as_bytes(), id.as_bytes()]);
                encode(out, &[b"EXEC"]);
            })
            .await?;
        let cutoff = self.cutoff();
        Self::read("end one", &replies, |replies| {
            replies.skip(4)?;
            match (replies.next()?, replies.next()?, replies.next()?, replies.next()?) {
                (Reply::Array(Some(3)), Reply::Bulk(created_at), Reply::Integer(deleted), Reply::Integer(_)) => {
                    let created_at =
                        created_at.and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<u64>().ok());
                    Ok(deleted == 1 && created_at.is_some_and(|created_at| created_at > cutoff))
                }
                _ => Err(WireError::Reply("the transaction answered something else".into())),
            }
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.send("health", 1, |out| encode(out, &[b"PING"])).await
    }
}

/// Waits until the clock has passed the millisecond `ms`: a login after
/// it is indexed after one made in it (members of equal score are ordered
/// by id).
#[cfg(test)]
pub(crate) async fn after_millisecond(ms: u64) {
    while now_ms() <= ms {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up or logged-out id must leave nothing in Redis: the update
    /// pipeline's placeholder is deleted before the answer.
    #[tokio::test]
    async fn asking_for_a_dead_session_leaves_no_key_behind() {
        let redis = local_redis::RedisServer::start().unwrap();
        let store = RedisStore::new(&RedisSettings::new(redis.url(), Duration::from_secs(60))).unwrap();
        let (live, _) = store.create(&Name::parse("alice").unwrap(), "node-a", None).await.unwrap();
        store.destroy(&live).await.unwrap();
        let made_up = SessionId::generate().to_string();
        let book = Change::AddItem { item: Name::parse("book").unwrap(), qty: 1 };
        for credential in [&live, &made_up] {
            assert!(store.update(credential, Change::Touch).await.unwrap().is_none());
            assert!(store.update(credential, book.clone()).await.unwrap().is_none());
        }
        assert_eq!(redis.command(&["DBSIZE"]).unwrap().trim(), "0");
    }

    /// The layout the module docs show: the hash names its node, the
    /// user's index follows logins, replacements and logouts, and its TTL
    /// is the absolute lifetime.
    #[tokio::test]
    async fn the_index_follows_logins_replacements_and_logouts() {
        let redis = local_redis::RedisServer::start().unwrap();
        let settings = RedisSettings {
            max_age: Duration::from_secs(3600),
            ..RedisSettings::new(redis.url(), Duration::from_secs(60))
        };
        let store = RedisStore::new(&settings).unwrap();
        let alice = Name::parse("alice").unwrap();
        let members = || redis.command(&["ZRANGE", "user-sessions:alice", "0", "-1"]).unwrap();
        let (first, session) = store.create(&alice, "node-a", None).await.unwrap();
        // The index orders its members by creation: one millisecond apart.
        after_millisecond(session.created_at).await;
        let (second, later) = store.create(&alice, "node-b", None).await.unwrap();
        assert_eq!(members(), format!("{first}\n{second}"));
        let key = |sid: &str| format!("{KEY_PREFIX}{sid}");
        assert_eq!(redis.command(&["HGET", &key(&second), "node"]).unwrap(), "node-b");
        let score = redis.command(&["ZSCORE", "user-sessions:alice", &first]).unwrap();
        assert_eq!(score.parse::<u64>().unwrap(), session.created_at);
        let ttl: u64 = redis.command(&["PTTL", "user-sessions:alice"]).unwrap().parse().unwrap();
        assert!(ttl > 3_500_000 && ttl <= 3_600_000, "the index's TTL is {ttl} ms");

        after_millisecond(later.created_at).await;
        let (third, _) = store.create(&alice, "node-a", Some(&first)).await.unwrap();
        assert_eq!(members(), format!("{second}\n{third}"));
        store.destroy(&second).await.unwrap();
        assert_eq!(members(), third);
        store.destroy(&third).await.unwrap();
        assert_eq!(redis.command(&["DBSIZE"]).unwrap(), "0", "the emptied index went with its last member");
    }

    /// A member whose session is gone (here deleted by hand, as an idle
    /// session's TTL does) is not listed and is dropped from the index;
    /// ending them all leaves nothing behind.
    #[tokio::test]
    async fn listing_drops_members_whose_session_is_gone_and_ending_all_leaves_nothing() {
        let redis = local_redis::RedisServer::start().unwrap();
        let store = RedisStore::new(&RedisSettings::new(redis.url(), Duration::from_secs(60))).unwrap();
        let alice = Name::parse("alice").unwrap();
        let (gone, _) = store.create(&alice, "node-a", None).await.unwrap();
        let (live, session) = store.create(&alice, "node-a", None).await.unwrap();
        // Listed oldest first: the last login comes a millisecond later.
        after_millisecond(session.created_at).await;
        let (other, _) = store.create(&alice, "node-b", None).await.unwrap();
        redis.command(&["DEL", &format!("{KEY_PREFIX}{gone}")]).unwrap();
        let listed = store.sessions(&alice, &live).await.unwrap();
        let handles: Vec<_> = listed.sessions.iter().map(|info| info.handle.clone()).collect();
        assert_eq!(handles, [crate::id::handle(&live), crate::id::handle(&other)]);
        assert_eq!(redis.command(&["ZRANGE", "user-sessions:alice", "0", "-1"]).unwrap(), format!("{live}\n{other}"));
        let ended = store.end_all(&alice, &live).await.unwrap();
        assert_eq!(ended, Ended { count: 2, reach: Reach::Everywhere });
        assert_eq!(redis.command(&["DBSIZE"]).unwrap(), "0");
    }

    /// A session whose `created_at` is past the absolute lifetime is
    /// refused by an update and by a checkout, and deleted with its index
    /// member; a live session's update is still the three commands of one
    /// pipeline.
    #[tokio::test]
    async fn a_session_past_its_lifetime_is_refused_and_deleted_and_a_live_one_costs_three_commands() {
        let redis = local_redis::RedisServer::start().unwrap();
        let store = RedisStore::new(&RedisSettings::new(redis.url(), Duration::from_secs(60))).unwrap();
        let alice = Name::parse("alice").unwrap();
        let (live, _) = store.create(&alice, "node-a", None).await.unwrap();
        let commands = || {
            let info = redis.command(&["INFO", "stats"]).unwrap();
            let line = info.lines().find_map(|l| l.strip_prefix("total_commands_processed:")).unwrap();
            line.trim().parse::<u64>().unwrap()
        };
        let before = commands();
        for _ in 0..10 {
            store.update(&live, Change::Touch).await.unwrap().expect("a live session");
        }
        // Each `INFO` counts itself.
        assert_eq!(commands() - before, 10 * 3 + 1);

        let past = (now_ms() - crate::store::DEFAULT_MAX_AGE.as_millis() as u64).to_string();
        for old in [true, false] {
            let (sid, _) = store.create(&alice, "node-a", None).await.unwrap();
            let key = format!("{KEY_PREFIX}{sid}");
            redis.command(&["HSET", &key, "created_at", &past]).unwrap();
            if old {
                assert!(store.update(&sid, Change::Touch).await.unwrap().is_none());
            } else {
                assert!(store.take_cart(&sid).await.unwrap().is_none());
            }
            assert_eq!(redis.command(&["EXISTS", &key]).unwrap(), "0");
            assert_eq!(redis.command(&["ZSCORE", "user-sessions:alice", &sid]).unwrap(), "");
        }
        assert_eq!(redis.command(&["ZRANGE", "user-sessions:alice", "0", "-1"]).unwrap(), live);
    }

    /// Hundreds of requests in flight on one handle share its one
    /// connection; each must get its own session back, also when the
    /// replies are large enough to arrive split across reads.
    #[tokio::test]
    async fn answers_in_flight_on_one_connection_never_cross() {
        let redis = local_redis::RedisServer::start().unwrap();
        let store = RedisStore::new(&RedisSettings::new(redis.url(), Duration::from_secs(60))).unwrap();
        let mut sessions = Vec::new();
        for i in 0..20 {
            let user = Name::parse(&format!("user{i}")).unwrap();
            let (sid, _) = store.create(&user, "node-a", None).await.unwrap();
            // Every fourth user gets a cart of about 10 KiB.
            for item in 0..if i % 4 == 0 { 200 } else { 0 } {
                let item = Name::parse(&format!("item-{item:04}-{}", "x".repeat(40))).unwrap();
                store.update(&sid, Change::AddItem { item, qty: 1 }).await.unwrap().unwrap();
            }
            sessions.push((sid, user));
        }
        let asked: Vec<_> = (0..600).map(|n| &sessions[n * 7 % sessions.len()]).collect();
        let answers = futures::future::join_all(asked.iter().map(|(sid, _)| store.update(sid, Change::Touch))).await;
        for ((_, user), answer) in asked.iter().zip(answers) {
            let session = answer.unwrap().unwrap().session;
            assert_eq!(&session.user, user);
        }
    }

    /// `redis://:PASSWORD@HOST:PORT/DB` logs in and picks the database on
    /// every connection; a wrong password is an outage, not a panic.
    #[tokio::test]
    async fn the_urls_password_and_database_are_used() {
        let redis = local_redis::RedisServer::start().unwrap();
        redis.command(&["CONFIG", "SET", "requirepass", "s3cret"]).unwrap();
        let at = |auth: &str, db: u8| {
            let url = format!("redis://{auth}@127.0.0.1:{}/{db}", redis.port());
            RedisStore::new(&RedisSettings::new(url, Duration::from_secs(60))).unwrap()
        };
        let (db3, db0, wrong) = (at(":s3cret", 3), at(":s3cret", 0), at(":wrong", 3));
        let (sid, _) = db3.create(&Name::parse("alice").unwrap(), "node-a", None).await.unwrap();
        assert_eq!(db3.update(&sid, Change::Touch).await.unwrap().unwrap().session.requests, 1);
        assert!(db0.update(&sid, Change::Touch).await.unwrap().is_none());
        assert!(matches!(wrong.update(&sid, Change::Touch).await, Err(StoreError::Unavailable(_))));
    }

    /// A pooled connection can outlive the runtime its tasks ran on (a
    /// server's worker thread that ended, a test's runtime); the next
    /// request, on another runtime, must get a fresh one, neither an error
    /// nor a wait for the deadline.
    #[test]
    fn a_connection_whose_runtime_ended_is_replaced_unseen() {
        let redis = local_redis::RedisServer::start().unwrap();
        let store = RedisStore::new(&RedisSettings::new(redis.url(), Duration::from_secs(60))).unwrap();
        let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let first = runtime();
        let (sid, _) = first.block_on(store.create(&Name::parse("alice").unwrap(), "node-a", None)).unwrap();
        drop(first);
        let answer = runtime().block_on(store.update(&sid, Change::Touch)).unwrap();
        assert_eq!(answer.unwrap().session.requests, 1);
    }

    /// A primary demoted to a replica (`REPLICAOF`, as a failover does to
    /// the old primary) answers writes with `-READONLY`: the store must
    /// answer 503 rather than pretend, and give that connection up, so
    /// that once a primary is there again it is written to afresh.
    #[tokio::test]
    async fn a_demoted_primary_is_not_written_to() {
        let redis = local_redis::RedisServer::start().unwrap();
        let other = local_redis::RedisServer::start().unwrap();
        let store = RedisStore::new(&RedisSettings::new(redis.url(), Duration::from_secs(60))).unwrap();
        let alice = Name::parse("alice").unwrap();
        let (sid, _) = store.create(&alice, "node-a", None).await.unwrap();
        let connections = || {
            let info = redis.command(&["INFO", "stats"]).unwrap();
            let line = info.lines().find_map(|l| l.strip_prefix("total_connections_received:")).unwrap();
            line.trim().parse::<u64>().unwrap()
        };
        let before = connections();

        redis.command(&["REPLICAOF", "127.0.0.1", &other.port().to_string()]).unwrap();
        assert!(matches!(store.update(&sid, Change::Touch).await, Err(StoreError::Unavailable(_))));
        assert!(matches!(store.create(&alice, "node-a", Some(&sid)).await, Err(StoreError::Unavailable(_))));
        assert!(matches!(store.destroy(&sid).await, Err(StoreError::Unavailable(_))));

        redis.command(&["REPLICAOF", "NO", "ONE"]).unwrap();
        let (fresh, _) = store.create(&alice, "node-a", None).await.unwrap();
        assert_eq!(store.update(&fresh, Change::Touch).await.unwrap().unwrap().session.requests, 1);
        // Each command above on the demoted server went out on a connection
        // of its own: READONLY broke each one.
        assert!(connections() >= before + 3, "the store kept writing on the demoted primary's connection");
    }

    /// A key that is not a session hash (made by hand) fails the request
    /// that names it, and only that one.
    #[tokio::test]
    async fn a_key_of_the_wrong_type_fails_only_its_own_request() {
        let redis = local_redis::RedisServer::start().unwrap();
        let store = RedisStore::new(&RedisSettings::new(redis.url(), Duration::from_secs(60))).unwrap();
        let (good, _) = store.create(&Name::parse("alice").unwrap(), "node-a", None).await.unwrap();
        let bad = SessionId::generate();
        redis.command(&["SET", &RedisStore::key(&bad), "not a hash"]).unwrap();
        let bad = bad.to_string();
        let (bad_answer, good_answer) =
            tokio::join!(store.update(&bad, Change::Touch), store.update(&good, Change::Touch));
        assert!(matches!(bad_answer, Err(StoreError::Unavailable(_))));
        assert_eq!(good_answer.unwrap().unwrap().session.requests, 1);
        assert_eq!(store.update(&good, Change::Touch).await.unwrap().unwrap().session.requests, 2);
    }
}
