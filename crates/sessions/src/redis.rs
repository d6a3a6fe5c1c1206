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
//! # Connections
//!
//! A multiplexed connection carries any number of concurrent requests, so
//! the hot path needs no pool checkout: each store handle (one per worker
//! thread, see [`Clone`]) borrows one connection from the deadpool pool and
//! keeps it while it works. The pool does what a pool is good for: it opens
//! connections with a timeout, checks a reused one with `PING`, and bounds
//! how many there are. When a request fails, the handle gives its connection
//! back for good and borrows a fresh one on the next request, so a Redis that
//! was restarted is used again without restarting the server.
//!
//! Measured (`benches/redis_throughput.rs`, `docs/benchmarks.md`): a
//! deadpool checkout per request costs a second round trip (its `PING`),
//! 1.5 to 2.2× a plain `GET`. With 64 requests in flight, one connection per worker
//! thread pipelines them and matched `redis-benchmark -c 50 -t get` (0.8 to
//! 1.0× its requests per second, each update being three commands); one
//! connection for both threads did less, eight did no better.
//!
//! Every operation has a deadline: a Redis that is down or hung gives
//! [`StoreError::Unavailable`] within [`RedisSettings::timeout`], never a
//! hung request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, AsyncConnectionConfig, RedisError, Value};
use deadpool_redis::{Connection, Manager, Pool, Runtime};

use crate::id::SessionId;
use crate::session::{Name, Session, SessionView};
use crate::store::{Change, SessionStore, StoreError, Updated};

/// The prefix of every session key.
pub const KEY_PREFIX: &str = "session:";
/// The prefix of every cart field in a session hash.
pub const CART_FIELD_PREFIX: &str = "cart:";

/// How the Redis store connects.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// Idle timeout of a session.
    pub ttl: Duration,
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
        RedisSettings { url: url.into(), ttl, timeout: Duration::from_secs(1), pool_size: 16 }
    }
}

/// The Redis store.
///
/// Clones share the pool but each borrows its own connection, so that the
/// app can give every worker thread a handle whose connection is driven on
/// that same thread.
pub struct RedisStore {
    shared: Arc<Shared>,
    lease: Mutex<Option<Connection>>,
}

struct Shared {
    pool: Pool,
    ttl_ms: i64,
    timeout: Duration,
}

impl Clone for RedisStore {
    fn clone(&self) -> Self {
        RedisStore { shared: Arc::clone(&self.shared), lease: Mutex::new(None) }
    }
}

impl RedisStore {
    /// Builds the store. Does not connect: a server can start while Redis is
    /// down and serve once it is up. Fails only on a URL it cannot use.
    pub fn new(settings: &RedisSettings) -> Result<RedisStore, RedisError> {
        // Half the deadline for connecting, so that a reconnect followed by
        // a request still fits in one deadline. Answers need no timer of
        // their own: `run` puts one deadline around the whole operation, and
        // a second timer per request was measurable on the hot path.
        let half = settings.timeout / 2;
        let connection = AsyncConnectionConfig::new().set_connection_timeout(Some(half)).set_response_timeout(None);
        let manager = Manager::new_with_config(settings.url.as_str(), connection)?;
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(half))
            .recycle_timeout(Some(half))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| RedisError::from((redis::ErrorKind::Client, "cannot build pool", e.to_string())))?;
        Ok(RedisStore {
            shared: Arc::new(Shared {
                pool,
                ttl_ms: i64::try_from(settings.ttl.as_millis()).unwrap_or(i64::MAX),
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
    async fn delete(&self, key: String) -> Result<(), StoreError> {
        self.run("delete", |mut conn| async move { redis::cmd("DEL").arg(key).query_async::<()>(&mut conn).await })
            .await
    }

    /// This handle's connection, borrowing one from the pool if it has none.
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(lease) = self.lock_lease().as_ref() {
            return Ok((**lease).clone());
        }
        let lease = self.shared.pool.get().await.map_err(|e| self.unavailable("pool", &e))?;
        let conn = (*lease).clone();
        let mut slot = self.lock_lease();
        if slot.is_none() {
            *slot = Some(lease);
        }
        Ok(conn)
    }

    /// Runs `op` on this handle's connection within the deadline. On any
    /// failure the connection is dropped from the pool, so the next request
    /// starts from a fresh one.
    pub(crate) async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            op(conn).await.map_err(|e| self.unavailable(what, &e))
        };
        match tokio::time::timeout(self.shared.timeout, attempt).await {
            Ok(result) => result,
            Err(_elapsed) => Err(self.unavailable(what, &"deadline passed")),
        }
    }

    fn unavailable(&self, what: &str, error: &dyn std::fmt::Display) -> StoreError {
        if let Some(lease) = self.lock_lease().take() {
            drop(Connection::take(lease));
        }
        tracing::warn!(operation = what, %error, "redis unavailable");
        StoreError::Unavailable(format!("{what}: {error}"))
    }

    fn lock_lease(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        self.lease.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The field-value pairs of an `HGETALL` reply (a flat array in RESP2, a
/// map in RESP3), read in place: no `String` per field and value, and no
/// map, which the reply's conversion into a `HashMap` used to cost on every
/// request.
fn hash_fields(reply: &Value) -> Vec<(&[u8], &[u8])> {
    fn bytes(value: &Value) -> Option<&[u8]> {
        match value {
            Value::BulkString(bytes) => Some(bytes),
            _ => None,
        }
    }
    match reply {
        Value::Array(items) => {
            items.chunks_exact(2).filter_map(|pair| Some((bytes(&pair[0])?, bytes(&pair[1])?))).collect()
        }
        Value::Map(pairs) => pairs.iter().filter_map(|(field, value)| Some((bytes(field)?, bytes(value)?))).collect(),
        _ => Vec::new(),
    }
}

/// Rebuilds a session from its hash; `None` if a field is missing or bad,
/// which only a hand-edited key could cause.
fn session_from_hash(fields: &[(&[u8], &[u8])]) -> Option<Session> {
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

    async fn create(&self, user: &Name, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        let id = SessionId::generate();
        let key = Self::key(&id);
        let session = Session::new(user);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some(old) = replacing.and_then(SessionId::parse) {
            pipe.del(Self::key(&old)).ignore();
        }
        pipe.hset_multiple(
            &key,
            &[
                ("user", session.user.to_string()),
                ("created_at", session.created_at.to_string()),
                ("requests", "0".to_string()),
            ],
        )
        .ignore()
        .pexpire(&key, self.shared.ttl_ms)
        .ignore();
        self.run("create", |mut conn| async move { pipe.query_async::<()>(&mut conn).await }).await?;
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
        let mut pipe = redis::pipe();
        pipe.hincr(&key, "requests", 1).ignore();
        if let Change::AddItem { item, qty } = &change {
            pipe.hincr(&key, format!("{CART_FIELD_PREFIX}{item}"), *qty).ignore();
        }
        pipe.pexpire(&key, self.shared.ttl_ms).ignore().hgetall(&key);
        let (hash,): (Value,) = self.run("update", |mut conn| async move { pipe.query_async(&mut conn).await }).await?;
        let fields = hash_fields(&hash);
        if !fields.iter().any(|&(field, _)| field == b"user") {
            // No such session: the pipeline made a placeholder (see the
            // module docs). Failing to delete it changes nothing for this
            // request, and its TTL removes it anyway.
            let _ = self.delete(key).await;
            return Ok(None);
        }
        Ok(session_from_hash(&fields).map(|session| Updated { session: read(session.view()), reissued: None }))
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        let Some(id) = SessionId::parse(credential) else {
            return Ok(());
        };
        self.delete(Self::key(&id)).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.run("health", |mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await }).await
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
        let (live, _) = store.create(&Name::parse("alice").unwrap(), None).await.unwrap();
        store.destroy(&live).await.unwrap();
        let made_up = SessionId::generate().to_string();
        let book = Change::AddItem { item: Name::parse("book").unwrap(), qty: 1 };
        for credential in [&live, &made_up] {
            assert!(store.update(credential, Change::Touch).await.unwrap().is_none());
            assert!(store.update(credential, book.clone()).await.unwrap().is_none());
        }
        assert_eq!(redis.command(&["DBSIZE"]).unwrap().trim(), "0");
    }
}
