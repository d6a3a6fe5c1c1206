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
//! | `requests` | authenticated requests so far |
//! | `cart:<item>` | quantity of `<item>` |
//!
//! The key's TTL is the idle timeout (`PTTL session:<id>` shows what is
//! left); every authenticated request sets it back to the full timeout.
//!
//! ```text
//! $ redis-cli -p PORT HGETALL session:q3N0...
//! 1) "user"        2) "alice"
//! 3) "created_at"  4) "1764385200123"
//! 5) "requests"    6) "3"
//! 7) "cart:book"   8) "2"
//! ```
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
//! EVAL "if HEXISTS user: HINCRBY requests 1, PEXPIRE ttl,
//!       read the hash, HDEL every cart:* field, return what was read
//!       else return nil" 1 session:<id> <ttl-ms>
//! ```
//!
//! The answer is the hash as it was just before the fields went (request
//! counted). A checkout is rare next to `GET /me`, so the script's cost
//! to Redis (see above) does not matter here, and `EVAL` sends its text
//! each time rather than keep an `EVALSHA` and its `NOSCRIPT` fallback.
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
use crate::session::{Name, Session};
use crate::store::{Change, SessionStore, StoreError, Updated};
use crate::view::SessionView;

/// The prefix of every session key.
pub const KEY_PREFIX: &str = "session:";
/// The prefix of every cart field in a session hash.
pub const CART_FIELD_PREFIX: &str = "cart:";

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
                ttl_ms: u64::try_from(settings.ttl.as_millis()).unwrap_or(u64::MAX),
                timeout: settings.timeout,
            }),
            lease: Mutex::new(None),
        })
    }

    /// The key of a session in Redis.
    pub fn key(id: &SessionId) -> String {
        format!("{KEY_PREFIX}{id}")
    }

    /// `DEL key`: ends a session, or removes a placeholder.
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.send("delete", 1, |out| encode(out, &[b"DEL", key.as_bytes()])).await
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

/// [`SessionStore::take_cart`] in one atomic step (see the module docs):
/// `KEYS[1]` the session, `ARGV[1]` its TTL in milliseconds. Answers the
/// hash as it was before the cart went, or nil for no such session (which
/// it leaves untouched: no placeholder).
pub(crate) const TAKE_CART: &str = r"
local key = KEYS[1]
if redis.call('HEXISTS', key, 'user') == 0 then return false end
redis.call('HINCRBY', key, 'requests', 1)
redis.call('PEXPIRE', key, ARGV[1])
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 5) == 'cart:' then redis.call('HDEL', key, fields[i]) end
end
return fields
";

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

    async fn create(&self, user: &Name, _node: &str, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        let id = SessionId::generate();
        let key = Self::key(&id);
        let session = Session::new(user);
        let old = replacing.and_then(SessionId::parse).map(|old| Self::key(&old));
        // MULTI's +OK, a +QUEUED per command, and EXEC's array.
        let count = 1 + usize::from(old.is_some()) + 2 + 1;
        self.send("create", count, |out| {
            encode(out, &[b"MULTI"]);
            if let Some(old) = &old {
                encode(out, &[b"DEL", old.as_bytes()]);
            }
            let (key, user) = (key.as_bytes(), session.user.as_str().as_bytes());
            let mut digits = [0; 20];
            let created_at = itoa(session.created_at, &mut digits);
            encode(out, &[b"HSET", key, b"user", user, b"created_at", created_at, b"requests", b"0"]);
            encode(out, &[b"PEXPIRE", key, itoa(self.shared.ttl_ms, &mut [0; 20])]);
            encode(out, &[b"EXEC"]);
        })
        .await?;
        Ok((id.to_string(), session))
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
        if !fields.iter().any(|&(field, _)| field == b"user") {
            // No such session: the pipeline made a placeholder (see the
            // module docs). Failing to delete it changes nothing for this
            // request, and its TTL removes it anyway.
            let _ = self.delete(&key).await;
            return Ok(None);
        }
        Ok(session_from_hash(&fields).map(|session| Updated { session: read(session.view()), reissued: None }))
    }

    async fn take_cart(&self, credential: &str) -> Result<Option<Updated>, StoreError> {
        let Some(id) = SessionId::parse(credential) else {
            return Ok(None);
        };
        let key = Self::key(&id);
        let replies = self
            .call("take cart", 1, |out| {
                let mut digits = [0; 20];
                let ttl = itoa(self.shared.ttl_ms, &mut digits);
                encode(out, &[b"EVAL", TAKE_CART.as_bytes(), b"1", key.as_bytes(), ttl]);
            })
            .await?;
        let fields = Self::read("take cart", &replies, |replies| match replies.next()? {
            Reply::Bulk(None) | Reply::Array(None) => Ok(None),
            Reply::Array(Some(items)) => field_pairs(replies, items).map(Some),
            _ => Err(WireError::Reply("the checkout script did not answer a hash".into())),
        })?;
        Ok(fields.and_then(|fields| session_from_hash(&fields)).map(|session| Updated { session, reissued: None }))
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        let Some(id) = SessionId::parse(credential) else {
            return Ok(());
        };
        self.delete(&Self::key(&id)).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.send("health", 1, |out| encode(out, &[b"PING"])).await
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
