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
//! Indexes:
//!     "sessions_pkey" PRIMARY KEY, btree (id)
//! ```
//!
//! `id` is the cookie's value, `created_at` Unix milliseconds, `cart` a JSON
//! object of item name to quantity, and `expires_at` the end of the idle
//! timeout on the database's clock, so that nodes whose clocks differ agree.
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
//!  WHERE id = $1 AND expires_at > now()
//! RETURNING user_name, created_at, requests, cart::text
//! ```
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
//! lookup). Rows are removed by a sweeper: a thread of each store that runs
//! `DELETE FROM sessions WHERE expires_at <= now()` on its own connection
//! every [`PostgresSettings::sweep_every`]. There is deliberately no index on
//! `expires_at`: every request changes it, and an indexed column changed by
//! an `UPDATE` forbids PostgreSQL's heap-only update, so each request would
//! write a new index entry; the sweep's sequential scan once a minute costs
//! less than that on every request.
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

use crate::id::SessionId;
use crate::session::{Name, Session};
use crate::store::{Change, SessionStore, StoreError, Updated};
use crate::view::SessionView;

/// Creates the table when it is missing. Run by the store on its first
/// connection, under an advisory lock so that nodes starting together do
/// not race.
pub const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS sessions (
    id          text        PRIMARY KEY,
    user_name   text        NOT NULL,
    created_at  bigint      NOT NULL,
    requests    bigint      NOT NULL DEFAULT 0,
    cart        jsonb       NOT NULL DEFAULT '{}',
    expires_at  timestamptz NOT NULL
) WITH (fillfactor = 90)";

/// `GET /me`, `GET /cart`: count the request and renew the expiry.
const TOUCH: &str = "\
UPDATE sessions SET requests = requests + 1, expires_at = now() + $2::float8 * interval '1 millisecond'
 WHERE id = $1 AND expires_at > now()
RETURNING user_name, created_at, requests, cart::text";

/// `POST /cart`: the same, and add `$4` of item `$3`.
const ADD_ITEM: &str = "\
UPDATE sessions SET requests = requests + 1,
       cart = cart || jsonb_build_object($3::text, coalesce((cart ->> $3::text)::bigint, 0) + $4::bigint),
       expires_at = now() + $2::float8 * interval '1 millisecond'
 WHERE id = $1 AND expires_at > now()
RETURNING user_name, created_at, requests, cart::text";

/// `POST /orders`: count the request, renew the expiry and empty the cart,
/// returning the cart as it was. The row lock (`FOR UPDATE`) makes a
/// concurrent `ADD_ITEM` wait, so an add lands either in the cart taken or
/// in the new, empty one, never in neither.
const TAKE_CART: &str = "\
UPDATE sessions AS s SET requests = s.requests + 1, cart = '{}',
       expires_at = now() + $2::float8 * interval '1 millisecond'
  FROM (SELECT id, cart FROM sessions WHERE id = $1 AND expires_at > now() FOR UPDATE) AS old
 WHERE s.id = old.id
RETURNING s.user_name, s.created_at, s.requests, old.cart::text";

/// A login: end the session `$5` replaces (if any) and create `$1`.
const CREATE: &str = "\
WITH ended AS (DELETE FROM sessions WHERE id = $5)
INSERT INTO sessions (id, user_name, created_at, requests, cart, expires_at)
VALUES ($1, $2, $3, 0, '{}', now() + $4::float8 * interval '1 millisecond')";

const DESTROY: &str = "DELETE FROM sessions WHERE id = $1";

const SWEEP: &str = "DELETE FROM sessions WHERE expires_at <= now()";

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

/// The PostgreSQL store. Clones share the pool and the sweeper.
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    ttl_ms: f64,
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
        let sweeper = Sweeper { config, every: settings.sweep_every, timeout: settings.timeout };
        std::thread::Builder::new()
            .name("postgres-session-sweeper".into())
            .spawn(move || sweeper.run(&stopped))
            .map_err(|e| PostgresConfigError(format!("cannot start the sweeper thread: {e}")))?;
        Ok(PostgresStore {
            shared: Arc::new(Shared {
                pool,
                ttl_ms: settings.ttl.as_secs_f64() * 1000.0,
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

    async fn create(&self, user: &Name, _node: &str, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        let id = SessionId::generate().to_string();
        let session = Session::new(user);
        let old = replacing.and_then(SessionId::parse).map(|old| old.to_string());
        let created_at = i64::try_from(session.created_at).unwrap_or(i64::MAX);
        let ttl_ms = self.shared.ttl_ms;
        self.with_client("create", async |client| {
            let statement = client.prepare_cached(CREATE).await?;
            client.execute(&statement, &[&id, &session.user.as_str(), &created_at, &ttl_ms, &old]).await
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
        let ttl_ms = self.shared.ttl_ms;
        let row = self
            .with_client("update", async |client| match &change {
                Change::Touch => {
                    let statement = client.prepare_cached(TOUCH).await?;
                    client.query_opt(&statement, &[&credential, &ttl_ms]).await
                }
                Change::AddItem { item, qty } => {
                    let statement = client.prepare_cached(ADD_ITEM).await?;
                    let qty = i64::from(*qty);
                    client.query_opt(&statement, &[&credential, &ttl_ms, &item.as_str(), &qty]).await
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
        let ttl_ms = self.shared.ttl_ms;
        let row = self
            .with_client("take cart", async |client| {
                let statement = client.prepare_cached(TAKE_CART).await?;
                client.query_opt(&statement, &[&credential, &ttl_ms]).await
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

    async fn health(&self) -> Result<(), StoreError> {
        self.with_client("health", async |client| client.simple_query("SELECT 1").await).await.map(drop)
    }
}

/// Deletes expired rows every `every`, on a connection of its own, until
/// the store is dropped.
struct Sweeper {
    config: tokio_postgres::Config,
    every: Duration,
    timeout: Duration,
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
        let removed = match client.execute(SWEEP, &[]).await {
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
        assert_eq!(columns, "id,user_name,created_at,requests,cart,expires_at");
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
