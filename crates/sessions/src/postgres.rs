//! Sessions in PostgreSQL.
//!
//! Many teams keep sessions in the database they already run (Django,
//! Rails, Spring Session JDBC and connect-pg-simple all offer it). This
//! store does the same with the contract of the Redis store: one round trip
//! per request, no lost update, idle expiry, logout at once on every node.
//!
//! # Schema (inspect it with `psql`)
//!
//! One row per session in the table `sessions`, created by the store when it
//! first connects and finds it missing ([`SCHEMA`]):
//!
//! ```text
//! $ psql -h 127.0.0.1 -p PORT -U USER -c '\d sessions'
//!                           Table "public.sessions"
//!    Column   |           Type           | Collation | Nullable |   Default
//! ------------+--------------------------+-----------+----------+-------------
//!  id         | text                     |           | not null |
//!  user_name  | text                     |           | not null |
//!  created_at | bigint                   |           | not null |
//!  requests   | bigint                   |           | not null | 0
//!  cart       | jsonb                    |           | not null | '{}'::jsonb
//!  expires_at | timestamp with time zone |           | not null |
//!  node       | text                     |           |          |
//! Indexes:
//!     "sessions_pkey" PRIMARY KEY, btree (id)
//!     "sessions_user_name" btree (user_name)
//! ```
//!
//! `id` is the cookie's value, `created_at` Unix milliseconds, `cart` a JSON
//! object of item name to quantity, `expires_at` the end of the idle
//! timeout on the database's clock, so that nodes whose clocks differ agree,
//! and `node` the name of the node that served the login. A table made
//! before `node` existed gains it at start (`ALTER TABLE … ADD COLUMN IF
//! NOT EXISTS`; its old rows have none) and the index too. The index on
//! `user_name` serves listing and ending a user's sessions; no `UPDATE`
//! changes that column, so it costs requests their heap-only updates
//! nothing.
//!
//! # One statement per request, and no lost update
//!
//! `GET /me` is one `UPDATE … RETURNING` that counts the request, renews the
//! expiry and hands the session back; `POST /cart` adds the item in the same
//! statement, merging `{"book": old + qty}` into the cart with jsonb's `||`:
//!
//! ```text
//! UPDATE sessions
//!    SET requests = requests + 1,
//!        cart = cart || jsonb_build_object($3::text, coalesce((cart ->> $3::text)::bigint, 0) + $4::bigint),
//!        expires_at = now() + $2::float8 * interval '1 millisecond'
//!  WHERE id = $1 AND expires_at > now() AND created_at > $5
//! RETURNING user_name, created_at, requests, cart::text
//! ```
//!
//! (`$5`: the absolute lifetime, below.)
//!
//! The `UPDATE` locks the row; a concurrent `UPDATE` of the same session
//! waits for it and then recomputes its `SET` from the row as the first one
//! left it (PostgreSQL's rule under `READ COMMITTED`), so two nodes adding
//! to one cart at the same moment both count. Each statement is its own
//! transaction, so it commits (and, by default, waits for its WAL record to
//! reach the disk) before it answers.
//!
//! A login is one statement too, so one transaction: a common table
//! expression deletes the session it replaces and the `INSERT` creates the
//! new one; either both happen or neither.
//!
//! # Expiry
//!
//! An expired row answers as unknown at once (`expires_at > now()` in every
//! lookup). So does a row past its absolute lifetime
//! ([`PostgresSettings::max_age`]), however recently used: every lookup
//! also asks `created_at > $n`, with `$n` = now less the lifetime, in Unix
//! milliseconds on the node's clock (the clock that wrote `created_at`), in
//! the same statement, so a request still costs one round trip. Rows are
//! removed by a sweeper: a thread of each store that runs `DELETE FROM
//! sessions WHERE expires_at <= now() OR created_at <= $1` on its own
//! connection every [`PostgresSettings::sweep_every`]. There is deliberately no index on
//! `expires_at`: every request changes it, and an indexed column changed by
//! an `UPDATE` forbids PostgreSQL's heap-only update, so each request would
//! write a new index entry; the sweep's sequential scan once a minute costs
//! less than that on every request.
//!
//! # A user's sessions
//!
//! Every node sees every row, so listing and ending reach every session of
//! the user (`Reach::Everywhere`), each one statement on the index by user:
//!
//! | what | statement |
//! |---|---|
//! | list | `SELECT` handle, `created_at`, `expires_at` less the TTL (the last use), `node` `WHERE user_name = $1` and live, `ORDER BY created_at` |
//! | end all | `DELETE FROM sessions WHERE user_name = $1`, counting the live rows it removed (dead ones go too) |
//! | end one | `DELETE` the live row of `$1` whose handle is `$2` |
//!
//! A session's handle ([`crate::id::handle`]) is computed in SQL from its
//! id, `substr(encode(sha256(convert_to(id, 'UTF8')), 'hex'), 1, 16)`, so
//! nothing new is stored and the ids of a listing never leave the
//! database; ending one by handle hashes only that user's rows. A login
//! that commits after an end-all's `DELETE` began is not seen by it and
//! lives on: it is a new session.
//!
//! # Connections
//!
//! A deadpool-postgres pool of tokio-postgres connections, one checked out
//! per request and given back after it. Recycling checks only that the
//! connection is still open (no extra query), so a checkout costs no round
//! trip. Statements are prepared once per connection and cached with it.
//! Every operation, checkout and connect included, runs under one deadline
//! ([`PostgresSettings::timeout`]): a database that is down or hung gives
//! [`StoreError::Unavailable`] within it. A connection that failed or ran
//! past the deadline is closed rather than pooled, and a database that comes
//! back is used again without a restart.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use crate::id::{self, SessionId};
use crate::session::{Name, Session, now_ms};
use crate::store::{Change, Ended, Listed, Reach, SessionInfo, SessionStore, StoreError, Updated};
use crate::view::SessionView;

/// Creates the table when it is missing, and brings a table made by an
/// earlier version up to date (the `node` column, the index on the user).
/// Run by the store on its first connection, under an advisory lock so that
/// nodes starting together do not race.
pub const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS sessions (
    id          text        PRIMARY KEY,
    user_name   text        NOT NULL,
    created_at  bigint      NOT NULL,
    requests    bigint      NOT NULL DEFAULT 0,
    cart        jsonb       NOT NULL DEFAULT '{}',
    expires_at  timestamptz NOT NULL,
    node        text
) WITH (fillfactor = 90);
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS node text;
CREATE INDEX IF NOT EXISTS sessions_user_name ON sessions (user_name)";

/// A session's handle ([`crate::id::handle`]) computed from its `id` in
/// SQL: the first 16 hex digits of the SHA-256 of the id's text.
macro_rules! handle_of_id {
    () => {
        "substr(encode(sha256(convert_to(id, 'UTF8')), 'hex'), 1, 16)"
    };
}

/// `GET /me`, `GET /cart`: count the request and renew the expiry, unless
/// the session was created at or before `$3` (its absolute lifetime is
/// over).
const TOUCH: &str = "\
UPDATE sessions SET requests = requests + 1, expires_at = now() + $2::float8 * interval '1 millisecond'
 WHERE id = $1 AND expires_at > now() AND created_at > $3
RETURNING user_name, created_at, requests, cart::text";

/// `POST /cart`: the same, and add `$4` of item `$3`.
const ADD_ITEM: &str = "\
UPDATE sessions SET requests = requests + 1,
       cart = cart || jsonb_build_object($3::text, coalesce((cart ->> $3::text)::bigint, 0) + $4::bigint),
       expires_at = now() + $2::float8 * interval '1 millisecond'
 WHERE id = $1 AND expires_at > now() AND created_at > $5
RETURNING user_name, created_at, requests, cart::text";

/// `POST /orders`: count the request, renew the expiry and empty the cart,
/// returning the cart as it was. The row lock (`FOR UPDATE`) makes a
/// concurrent `ADD_ITEM` wait, so an add lands either in the cart taken or
/// in the new, empty one, never in neither.
const TAKE_CART: &str = "\
UPDATE sessions AS s SET requests = s.requests + 1, cart = '{}',
       expires_at = now() + $2::float8 * interval '1 millisecond'
  FROM (SELECT id, cart FROM sessions WHERE id = $1 AND expires_at > now() AND created_at > $3 FOR UPDATE) AS old
 WHERE s.id = old.id
RETURNING s.user_name, s.created_at, s.requests, old.cart::text";

/// A login: end the session `$5` replaces (if any) and create `$1`, made
/// by node `$6`.
const CREATE: &str = "\
WITH ended AS (DELETE FROM sessions WHERE id = $5)
INSERT INTO sessions (id, user_name, created_at, requests, cart, expires_at, node)
VALUES ($1, $2, $3, 0, '{}', now() + $4::float8 * interval '1 millisecond', $6)";

const DESTROY: &str = "DELETE FROM sessions WHERE id = $1";

/// `GET /sessions`: the live sessions of `$1`, oldest first, with their
/// handles (the ids stay in the database) and their last use (the expiry
/// less the TTL `$2`); `$3` as in [`TOUCH`].
const LIST: &str = concat!(
    "SELECT ",
    handle_of_id!(),
    " AS handle, created_at, (extract(epoch FROM expires_at) * 1000 - $2::float8)::bigint, node
  FROM sessions
 WHERE user_name = $1 AND expires_at > now() AND created_at > $3
 ORDER BY created_at, handle"
);

/// `DELETE /sessions`: every row of `$1`, counting the live ones.
const END_ALL: &str = "\
WITH ended AS (DELETE FROM sessions WHERE user_name = $1 RETURNING expires_at > now() AND created_at > $2 AS live)
SELECT count(*) FILTER (WHERE live) FROM ended";

/// `DELETE /sessions/{handle}`: the live session of `$1` whose handle is `$2`.
const END_ONE: &str = concat!(
    "DELETE FROM sessions WHERE user_name = $1 AND ",
    handle_of_id!(),
    " = $2 AND expires_at > now() AND created_at > $3"
);

/// Idle sessions, and sessions created at or before `$1`.
const SWEEP: &str = "DELETE FROM sessions WHERE expires_at <= now() OR created_at <= $1";

/// How the PostgreSQL store connects.
#[derive(Clone, Debug)]
pub struct PostgresSettings {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE` (or the `key=value`
    /// form libpq accepts).
    pub url: String,
    /// Idle timeout of a session.
    pub ttl: Duration,
    /// Absolute lifetime of a session, however active
    /// ([`DEFAULT_MAX_AGE`](crate::store::DEFAULT_MAX_AGE) by default).
    pub max_age: Duration,
    /// Deadline for one store operation, pool checkout and connecting
    /// included.
    pub timeout: Duration,
    /// Most connections the pool opens.
    pub pool_size: usize,
    /// How often expired rows are deleted.
    pub sweep_every: Duration,
}

impl PostgresSettings {
    /// Settings for `url` with a session TTL of `ttl` and the defaults: a
    /// one-second deadline, a pool of 16, and a sweep every quarter of the
    /// TTL, between 100 ms and a minute.
    pub fn new(url: impl Into<String>, ttl: Duration) -> PostgresSettings {
        PostgresSettings {
            url: url.into(),
            ttl,
            max_age: crate::store::DEFAULT_MAX_AGE,
            timeout: Duration::from_secs(1),
            pool_size: 16,
            sweep_every: (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(60)),
        }
    }
}

/// Why a store could not be built: the URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PostgresConfigError(String);

/// The creation time at or before which a session has outlived `max_age_ms`,
/// in Unix milliseconds on this node's clock (the clock `created_at` was
/// written with).
fn born_before(max_age_ms: u64) -> i64 {
    i64::try_from(now_ms().saturating_sub(max_age_ms)).unwrap_or(i64::MAX)
}

/// The PostgreSQL store. Clones share the pool and the sweeper.
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    ttl_ms: f64,
    max_age_ms: u64,
    timeout: Duration,
    schema_ready: AtomicBool,
    /// Dropped with the last clone: the sweeper thread then ends.
    _stop_sweeper: mpsc::Sender<()>,
}

impl PostgresStore {
    /// Builds the store and starts its sweeper. Does not connect: a server
    /// can start while the database is down and serve once it is up. Fails
    /// only on a URL it cannot use.
    pub fn new(settings: &PostgresSettings) -> Result<PostgresStore, PostgresConfigError> {
        let mut config =
            tokio_postgres::Config::from_str(&settings.url).map_err(|e| PostgresConfigError(e.to_string()))?;
        // Half the deadline for connecting, so that a reconnect followed by
        // a request still fits in one deadline.
        let half = settings.timeout / 2;
        config.connect_timeout(half).application_name("sessions");
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(half))
            .recycle_timeout(Some(half))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| PostgresConfigError(e.to_string()))?;
        let (stop, stopped) = mpsc::channel();
        let max_age_ms = u64::try_from(settings.max_age.as_millis()).unwrap_or(u64::MAX);
        let sweeper = Sweeper { config, every: settings.sweep_every, timeout: settings.timeout, max_age_ms };
        std::thread::Builder::new()
            .name("postgres-session-sweeper".into())
            .spawn(move || sweeper.run(&stopped))
            .map_err(|e| PostgresConfigError(format!("cannot start the sweeper thread: {e}")))?;
        Ok(PostgresStore {
            shared: Arc::new(Shared {
                pool,
                ttl_ms: settings.ttl.as_secs_f64() * 1000.0,
                max_age_ms,
                timeout: settings.timeout,
                schema_ready: AtomicBool::new(false),
                _stop_sweeper: stop,
            }),
        })
    }

    /// Runs `work` on a pooled connection within the deadline. A connection
    /// whose statement failed or ran past the deadline is closed, not
    /// pooled.
    async fn with_client<T>(
        &self,
        what: &'static str,
        work: impl AsyncFnOnce(&Object) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let attempt = async {
            let client = self.shared.pool.get().await.map_err(|e| outage(what, &e))?;
            let result = match self.ensure_schema(&client).await {
                Ok(()) => work(&client).await,
                Err(e) => Err(e),
            };
            result.map_err(|e| {
                if !e.as_db_error().is_some_and(|db| db.code().code().starts_with("22")) {
                    drop(Object::take(client));
                }
                outage(what, &e)
            })
        };
        match tokio::time::timeout(self.shared.timeout, attempt).await {
            Ok(result) => result,
            Err(_elapsed) => Err(outage(what, &"deadline passed")),
        }
    }

    /// See [`born_before`].
    fn born_before(&self) -> i64 {
        born_before(self.shared.max_age_ms)
    }

    /// Creates the table on the first connection that finds it missing.
    async fn ensure_schema(&self, client: &Object) -> Result<(), tokio_postgres::Error> {
        if self.shared.schema_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtext('sessions schema')); {SCHEMA}; COMMIT"
            ))
            .await?;
        self.shared.schema_ready.store(true, Ordering::Release);
        Ok(())
    }
}

fn outage(what: &str, error: &dyn std::fmt::Display) -> StoreError {
    tracing::warn!(operation = what, %error, "postgres unavailable");
    StoreError::Unavailable(format!("{what}: {error}"))
}

/// A session from the row an update returned; `None` if a column is bad,
/// which only a hand-edited row could cause.
fn session_from_row(row: &Row) -> Option<Session> {
    let user = Name::parse(row.try_get::<_, &str>(0).ok()?).ok()?;
    let created_at = u64::try_from(row.try_get::<_, i64>(1).ok()?).ok()?;
    let requests = u64::try_from(row.try_get::<_, i64>(2).ok()?).ok()?;
    let cart: BTreeMap<String, u64> = serde_json::from_str(row.try_get::<_, &str>(3).ok()?).ok()?;
    Some(Session { user, created_at, requests, cart })
}

impl SessionStore for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn create(&self, user: &Name, node: &str, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        let id = SessionId::generate().to_string();
        let session = Session::new(user);
        let old = replacing.and_then(SessionId::parse).map(|old| old.to_string());
        let created_at = i64::try_from(session.created_at).unwrap_or(i64::MAX);
        let ttl_ms = self.shared.ttl_ms;
        self.with_client("create", async |client| {
            let statement = client.prepare_cached(CREATE).await?;
            client.execute(&statement, &[&id, &session.user.as_str(), &created_at, &ttl_ms, &old, &node]).await
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
        // A credential the store could not have issued never reaches the
        // database.
        if SessionId::parse(credential).is_none() {
            return Ok(None);
        }
        let (ttl_ms, born_before) = (self.shared.ttl_ms, self.born_before());
        let row = self
            .with_client("update", async |client| match &change {
                Change::Touch => {
                    let statement = client.prepare_cached(TOUCH).await?;
                    client.query_opt(&statement, &[&credential, &ttl_ms, &born_before]).await
                }
                Change::AddItem { item, qty } => {
                    let statement = client.prepare_cached(ADD_ITEM).await?;
                    let qty = i64::from(*qty);
                    client.query_opt(&statement, &[&credential, &ttl_ms, &item.as_str(), &qty, &born_before]).await
                }
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session = session_from_row(&row).ok_or_else(|| outage("update", &"a session row that cannot be read"))?;
        Ok(Some(Updated { session: read(session.view()), reissued: None }))
    }

    async fn take_cart(&self, credential: &str) -> Result<Option<Updated>, StoreError> {
        if SessionId::parse(credential).is_none() {
            return Ok(None);
        }
        let (ttl_ms, born_before) = (self.shared.ttl_ms, self.born_before());
        let row = self
            .with_client("take cart", async |client| {
                let statement = client.prepare_cached(TAKE_CART).await?;
                client.query_opt(&statement, &[&credential, &ttl_ms, &born_before]).await
            })
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session =
            session_from_row(&row).ok_or_else(|| outage("take cart", &"a session row that cannot be read"))?;
        Ok(Some(Updated { session, reissued: None }))
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        if SessionId::parse(credential).is_none() {
            return Ok(());
        }
        self.with_client("destroy", async |client| {
            let statement = client.prepare_cached(DESTROY).await?;
            client.execute(&statement, &[&credential]).await
        })
        .await
        .map(drop)
    }

    /// One `SELECT` on the index by user; every node's sessions, each with
    /// the node that created it (`None` for a row from before the column).
    async fn sessions(&self, user: &Name, _current: &str) -> Result<Listed, StoreError> {
        let (ttl_ms, born_before) = (self.shared.ttl_ms, self.born_before());
        let rows = self
            .with_client("list", async |client| {
                let statement = client.prepare_cached(LIST).await?;
                client.query(&statement, &[&user.as_str(), &ttl_ms, &born_before]).await
            })
            .await?;
        let sessions = rows
            .iter()
            .map(|row| {
                let created_at = u64::try_from(row.try_get::<_, i64>(1).ok()?).ok()?;
                Some(SessionInfo {
                    handle: row.try_get(0).ok()?,
                    created_at,
                    last_seen: u64::try_from(row.try_get::<_, i64>(2).ok()?).unwrap_or(0).max(created_at),
                    node: row.try_get(3).ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| outage("list", &"a session row that cannot be read"))?;
        Ok(Listed { sessions, reach: Reach::Everywhere })
    }

    /// One `DELETE` of every row of the user, whichever node made it.
    async fn end_all(&self, user: &Name, _current: &str) -> Result<Ended, StoreError> {
        let born_before = self.born_before();
        let row = self
            .with_client("end all", async |client| {
                let statement = client.prepare_cached(END_ALL).await?;
                client.query_one(&statement, &[&user.as_str(), &born_before]).await
            })
            .await?;
        let count = row.try_get::<_, i64>(0).ok().and_then(|n| u64::try_from(n).ok());
        let count = count.ok_or_else(|| outage("end all", &"a count that cannot be read"))?;
        Ok(Ended { count, reach: Reach::Everywhere })
    }

    /// One `DELETE` of the user's live row whose id hashes to `handle`; the
    /// handle is computed in SQL, so nothing new is stored and a malformed
    /// handle never reaches the database.
    async fn end_one(&self, user: &Name, _current: &str, handle: &str) -> Result<bool, StoreError> {
        if handle.len() != id::HANDLE_LEN || !handle.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Ok(false);
        }
        let born_before = self.born_before();
        let ended = self
            .with_client("end one", async |client| {
                let statement = client.prepare_cached(END_ONE).await?;
                client.execute(&statement, &[&user.as_str(), &handle, &born_before]).await
            })
            .await?;
        Ok(ended > 0)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.with_client("health", async |client| client.simple_query("SELECT 1").await).await.map(drop)
    }
}

/// Deletes expired rows (idle, or past their absolute lifetime) every
/// `every`, on a connection of its own, until the store is dropped.
struct Sweeper {
    config: tokio_postgres::Config,
    every: Duration,
    timeout: Duration,
    max_age_ms: u64,
}

impl Sweeper {
    fn run(self, stopped: &mpsc::Receiver<()>) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            tracing::error!("cannot start the postgres sweeper's runtime; expired rows stay until read");
            return;
        };
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(self.every) {
            match runtime.block_on(async { tokio::time::timeout(self.timeout, self.sweep()).await }) {
                Ok(Ok(removed)) if removed > 0 => tracing::debug!(removed, "expired sessions removed"),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::debug!(%error, "sweep failed; next time"),
                Err(_) => tracing::debug!("sweep ran past its deadline; next time"),
            }
        }
    }

    async fn sweep(&self) -> Result<u64, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(NoTls).await?;
        let connection = tokio::spawn(connection);
        // The table may not exist yet (no store has connected): nothing to do.
        let removed = match client.execute(SWEEP, &[&born_before(self.max_age_ms)]).await {
            Err(e) if e.as_db_error().is_some_and(|db| db.code().code() == "42P01") => 0,
            other => other?,
        };
        drop(client);
        let _ = connection.await;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use local_postgres::PostgresServer;

    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text).unwrap()
    }

    fn store_on(url: String, ttl: Duration) -> PostgresStore {
        PostgresStore::new(&PostgresSettings::new(url, ttl)).unwrap()
    }

    /// A database of its own on the shared server, its name, and two store
    /// handles on it: two nodes.
    fn two_nodes(
        server: &PostgresServer,
        settings: impl Fn(String) -> PostgresSettings,
    ) -> (String, [PostgresStore; 2]) {
        let url = server.create_database().unwrap();
        let database = url.rsplit('/').next().unwrap().to_string();
        let node = || PostgresStore::new(&settings(url.clone())).unwrap();
        (database, [node(), node()])
    }

    /// Handles of the listed sessions, in order.
    async fn handles_listed(store: &PostgresStore, user: &str, current: &str) -> Vec<String> {
        let listed = store.sessions(&name(user), current).await.unwrap();
        assert_eq!(listed.reach, Reach::Everywhere);
        listed.sessions.into_iter().map(|info| info.handle).collect()
    }

    /// Every node lists every session of the user with the node that made
    /// it, oldest first, and ends them all in one step; another user's
    /// sessions, and handles, stay theirs.
    #[tokio::test]
    async fn every_node_lists_and_ends_the_sessions_any_node_made() {
        let server = PostgresServer::shared().unwrap();
        let (_, [a, b]) = two_nodes(server, |url| PostgresSettings::new(url, Duration::from_secs(60)));
        let (on_a, first) = a.create(&name("alice"), "node-a", None).await.unwrap();
        while now_ms() <= first.created_at {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (on_b, _) = b.create(&name("alice"), "node-b", None).await.unwrap();
        let (bobs, _) = a.create(&name("bob"), "node-a", None).await.unwrap();
        b.update(&on_a, Change::Touch).await.unwrap().unwrap();

        let listed = b.sessions(&name("alice"), &on_b).await.unwrap();
        assert_eq!(listed.reach, Reach::Everywhere);
        let seen: Vec<(String, Option<&str>)> =
            listed.sessions.iter().map(|info| (info.handle.clone(), info.node.as_deref())).collect();
        assert_eq!(seen, [(id::handle(&on_a), Some("node-a")), (id::handle(&on_b), Some("node-b"))]);
        assert_eq!(a.handle(&on_a), Some(id::handle(&on_a)), "SQL and Rust agree on the handle");
        assert_eq!(listed.sessions[0].created_at, first.created_at);
        for info in &listed.sessions {
            assert!(info.created_at <= info.last_seen && info.last_seen <= now_ms() + 1_000, "{info:?}");
        }

        // Another user's handle is unknown to alice; a malformed one never
        // reaches the database.
        assert!(!a.end_one(&name("alice"), &on_a, &id::handle(&bobs)).await.unwrap());
        assert!(!a.end_one(&name("alice"), &on_a, "'; DROP TABLE sessions; --").await.unwrap());
        assert!(b.update(&bobs, Change::Touch).await.unwrap().is_some());
        // One of hers, by handle, from the other node.
        assert!(b.end_one(&name("alice"), &on_b, &id::handle(&on_a)).await.unwrap());
        assert!(a.update(&on_a, Change::Touch).await.unwrap().is_none());
        assert!(!b.end_one(&name("alice"), &on_b, &id::handle(&on_a)).await.unwrap(), "ended twice");
        assert_eq!(handles_listed(&a, "alice", &on_b).await, [id::handle(&on_b)]);

        // All of hers, from node a: node b's session is gone too.
        let (again_on_a, _) = a.create(&name("alice"), "node-a", None).await.unwrap();
        let ended = a.end_all(&name("alice"), &again_on_a).await.unwrap();
        assert_eq!((ended.count, ended.reach), (2, Reach::Everywhere));
        assert!(b.update(&on_b, Change::Touch).await.unwrap().is_none());
        assert!(a.take_cart(&again_on_a).await.unwrap().is_none());
        assert!(handles_listed(&b, "alice", &on_b).await.is_empty());
        assert!(b.update(&bobs, Change::Touch).await.unwrap().is_some(), "bob's session ended with alice's");
        assert_eq!(handles_listed(&a, "bob", &bobs).await, [id::handle(&bobs)]);
    }

    /// A session that idled out or outlived its absolute lifetime is never
    /// listed, ended or counted, even before the sweeper removes it.
    #[tokio::test]
    async fn expired_sessions_are_never_listed_or_counted() {
        let server = PostgresServer::shared().unwrap();
        let (database, [a, _]) = two_nodes(server, |url| {
            // No sweep during the test: what is checked is the statements.
            PostgresSettings {
                sweep_every: Duration::from_secs(3600),
                ..PostgresSettings::new(url, Duration::from_secs(60))
            }
        });
        let (live, _) = a.create(&name("alice"), "node-a", None).await.unwrap();
        let (idle, _) = a.create(&name("alice"), "node-a", None).await.unwrap();
        let (old, _) = a.create(&name("alice"), "node-a", None).await.unwrap();
        let edit = |sql: String| server.psql(&database, &sql).unwrap();
        edit(format!("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = '{idle}'"));
        let thirteen_hours_ms = 13 * 60 * 60 * 1000;
        edit(format!("UPDATE sessions SET created_at = created_at - {thirteen_hours_ms} WHERE id = '{old}'"));

        assert_eq!(handles_listed(&a, "alice", &live).await, [id::handle(&live)]);
        assert!(a.update(&old, Change::Touch).await.unwrap().is_none(), "past its lifetime, used a moment ago");
        assert!(a.update(&old, Change::AddItem { item: name("book"), qty: 1 }).await.unwrap().is_none());
        assert!(a.take_cart(&old).await.unwrap().is_none());
        for dead in [&idle, &old] {
            assert!(!a.end_one(&name("alice"), &live, &id::handle(dead)).await.unwrap());
        }
        assert_eq!(a.end_all(&name("alice"), &live).await.unwrap().count, 1);
        assert_eq!(edit("SELECT count(*) FROM sessions".into()), "0", "end_all leaves the user's dead rows");
    }

    /// A session in constant use ends at its absolute lifetime, and the
    /// sweeper removes it.
    #[tokio::test]
    async fn a_session_in_constant_use_ends_at_its_absolute_lifetime() {
        let server = PostgresServer::shared().unwrap();
        let (database, [a, b]) = two_nodes(server, |url| PostgresSettings {
            max_age: Duration::from_secs(1),
            sweep_every: Duration::from_millis(100),
            ..PostgresSettings::new(url, Duration::from_secs(60))
        });
        let (sid, created) = a.create(&name("alice"), "node-a", None).await.unwrap();
        let (unused, _) = a.create(&name("alice"), "node-a", None).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while b.update(&sid, Change::Touch).await.unwrap().is_some() {
            assert!(Instant::now() < deadline, "the session outlived its absolute lifetime by seconds");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(now_ms() >= created.created_at + 1_000, "ended before its time");
        assert!(!handles_listed(&a, "alice", &sid).await.contains(&id::handle(&sid)));
        let count = || server.psql(&database, "SELECT count(*) FROM sessions").unwrap();
        while count() != "0" {
            assert!(Instant::now() < deadline, "{} rows past their lifetime still in the table", count());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(a.update(&unused, Change::Touch).await.unwrap().is_none());
    }

    /// A table made before sessions had a node gains the column and the
    /// index, and its rows keep working (listed with no node).
    #[tokio::test]
    async fn a_table_from_before_the_node_column_is_brought_up_to_date() {
        let server = PostgresServer::shared().unwrap();
        let url = server.create_database().unwrap();
        let database = url.rsplit('/').next().unwrap().to_string();
        let old = SessionId::generate().to_string();
        server
            .psql(
                &database,
                &format!(
                    "CREATE TABLE sessions (id text PRIMARY KEY, user_name text NOT NULL, created_at bigint NOT NULL,
                       requests bigint NOT NULL DEFAULT 0, cart jsonb NOT NULL DEFAULT '{{}}',
                       expires_at timestamptz NOT NULL) WITH (fillfactor = 90);
                     INSERT INTO sessions VALUES ('{old}', 'alice', {}, 3, '{{}}', now() + interval '1 minute')",
                    now_ms()
                ),
            )
            .unwrap();
        let store = store_on(url, Duration::from_secs(60));
        let (new, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
        assert_eq!(store.update(&old, Change::Touch).await.unwrap().unwrap().session.requests, 4);
        let nodes: Vec<Option<String>> =
            store.sessions(&name("alice"), &new).await.unwrap().sessions.into_iter().map(|info| info.node).collect();
        assert_eq!(nodes, [None, Some("node-a".to_string())]);
        let indexes = server
            .psql(
                &database,
                "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'sessions'",
            )
            .unwrap();
        assert_eq!(indexes, "sessions_pkey,sessions_user_name");
    }

    /// The table is created on first use, holds what the docs show, and
    /// expired rows leave it without being looked up.
    #[tokio::test]
    async fn the_table_is_created_and_expired_rows_are_swept() {
        let server = PostgresServer::shared().unwrap();
        let url = server.create_database().unwrap();
        let database = url.rsplit('/').next().unwrap().to_string();
        let store = store_on(url, Duration::from_millis(200));
        for _ in 0..50 {
            store.create(&name("churn"), "node-a", None).await.unwrap();
        }
        let columns = server.psql(&database, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'sessions'").unwrap();
        assert_eq!(columns, "id,user_name,created_at,requests,cart,expires_at,node");
        let count = || server.psql(&database, "SELECT count(*) FROM sessions").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while count() != "0" {
            assert!(Instant::now() < deadline, "{} expired rows still in the table", count());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A database that is down, or hung, gives `Unavailable` within about
    /// the deadline; a malformed credential is answered without it; and the
    /// same store serves again once the database is back.
    #[tokio::test]
    async fn an_outage_is_unavailable_within_the_deadline_and_passes_by_itself() {
        let mut server = PostgresServer::start().unwrap();
        let store = store_on(server.url(), Duration::from_secs(60));
        let (sid, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
        store.update(&sid, Change::AddItem { item: name("book"), qty: 2 }).await.unwrap().unwrap();
        for outage in ["stopped", "frozen"] {
            match outage {
                "stopped" => server.stop(),
                _ => server.freeze(),
            }
            let started = Instant::now();
            assert!(matches!(store.update(&sid, Change::Touch).await, Err(StoreError::Unavailable(_))), "{outage}");
            assert!(
                matches!(store.create(&name("bob"), "node-a", None).await, Err(StoreError::Unavailable(_))),
                "{outage}"
            );
            assert!(matches!(store.destroy(&sid).await, Err(StoreError::Unavailable(_))), "{outage}");
            assert!(matches!(store.health().await, Err(StoreError::Unavailable(_))), "{outage}");
            let waited = started.elapsed();
            assert!(waited < Duration::from_secs(6), "{outage}: four answers took {waited:?}");
            assert!(store.update("malformed", Change::Touch).await.unwrap().is_none());
            match outage {
                "stopped" => server.start_again().unwrap(),
                _ => server.thaw(),
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            let session = loop {
                match store.update(&sid, Change::Touch).await {
                    Ok(Some(updated)) => break updated.session,
                    Ok(None) => panic!("{outage}: the session was lost"),
                    Err(_) => assert!(Instant::now() < deadline, "{outage}: never recovered"),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert_eq!(session.cart.get("book"), Some(&2));
        }
    }

    /// A row that is not a session (edited by hand) fails its own request
    /// and only that one.
    #[tokio::test]
    async fn a_row_edited_by_hand_fails_only_its_own_request() {
        let server = PostgresServer::shared().unwrap();
        let url = server.create_database().unwrap();
        let database = url.rsplit('/').next().unwrap().to_string();
        let store = store_on(url, Duration::from_secs(60));
        let (good, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
        let (bad, _) = store.create(&name("bob"), "node-a", None).await.unwrap();
        server.psql(&database, &format!("UPDATE sessions SET user_name = 'not a name' WHERE id = '{bad}'")).unwrap();
        assert!(matches!(store.update(&bad, Change::Touch).await, Err(StoreError::Unavailable(_))));
        assert_eq!(store.update(&good, Change::Touch).await.unwrap().unwrap().session.requests, 1);
    }
}
