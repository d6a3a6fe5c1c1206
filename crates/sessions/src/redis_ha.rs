//! Sessions in Redis when one Redis is not enough: a Sentinel-managed
//! primary with replicas, or a Redis Cluster.
//!
//! The key layout, the commands and the contract are those of
//! [`RedisStore`] (see [`redis`](crate::redis)): one hash
//! `session:<id>` per session, one sorted set `user-sessions:<user>`
//! indexing each user's sessions, one pipeline of `HINCRBY`, `PEXPIRE` and
//! `HGETALL` per request (one round trip), every change applied by Redis
//! atomically, and [`StoreError::Unavailable`] (503) within the store's
//! deadline while no primary answers. What differs is who finds the
//! primary.
//!
//! # Which client, and why not the crate's own connection
//!
//! [`RedisStore`]'s connection is written for one
//! standalone Redis: it knows one address. Following a failover means
//! asking the sentinels, checking the role of what they name, and asking
//! again when that server is demoted; following a cluster means keeping the
//! slot map, one connection per primary, `MOVED` and `ASK` redirections and a
//! map refresh after a failover. That is what a well-kept client is for:
//! this store uses redis-rs (its multiplexed connection behind the
//! sentinels, its asynchronous cluster connection), with `TCP_NODELAY` on and
//! no per-request response timer of its own: the store's one deadline
//! bounds each whole operation, retries and redirections included.
//!
//! # Failover
//!
//! - **Sentinel**: the store holds one connection to the primary the
//!   sentinels named. When a request on it fails (the socket broke, the
//!   deadline passed, or the server answered `READONLY`, `LOADING` or
//!   `MASTERDOWN`: it was demoted, is still loading, or lost its primary),
//!   the store drops it and the next request asks the sentinels again. Until
//!   they have promoted a replica, that fails fast and requests get 503;
//!   after, they reach the new primary. No restart.
//! - **Cluster**: the cluster connection refreshes its slot map when a node
//!   fails or answers `MOVED`, and retries within the deadline. Users whose
//!   keys live on the other shards are not touched by one shard's failover.
//!
//! Replication is asynchronous on both: what a primary acknowledged and had
//! not yet sent to its replica when it died is lost with it (a session
//! created just before, a cart item added just before). `docs/stores.md`
//! says what that means for users.
//!
//! # Login on a cluster
//!
//! A login writes three keys: the new session, its user's index, and (when
//! it replaces one) the old session. On one Redis (and behind Sentinel,
//! where there is one primary) they change in one `MULTI`/`EXEC`. On a
//! cluster they almost always hash to different slots, often on different
//! primaries, and `MULTI` across slots fails with `CROSSSLOT`. So the store
//! takes four steps, in an order chosen so that a live session a client
//! holds is always in its user's index:
//!
//! 1. the new session (its `HSET` and `PEXPIRE` in one `MULTI` on its own
//!    slot);
//! 2. its index member (`ZADD`, the pruning `ZREMRANGEBYSCORE`, `PEXPIRE`);
//! 3. the old session is deleted;
//! 4. its member is dropped from the index.
//!
//! If step 1 or 2 fails, the login answers 503 and the client keeps its
//! old cookie; a new session nobody holds expires with its TTL. For the
//! length of step 3 both cookies work: a request made with the old one
//! then is served as if it had arrived just before the login. If step 3
//! fails, the login answers 503 and the client keeps its old cookie (still
//! valid, and still indexed, as before the login). The old session is
//! never left alive behind a successful login. A failed step 4 leaves a
//! member whose session is gone, which the next listing drops.
//!
//! # Listing and ending a user's sessions on a cluster
//!
//! A pipeline stays in one slot, so a listing reads each member's hash
//! (`HMGET` and `PTTL`) in a pipeline of its own, all of them in flight at
//! once; behind Sentinel they are one pipeline, as on one Redis.
//!
//! The scripts that end sessions on one Redis (logout, ending them all)
//! reach keys in several slots, which a cluster refuses. There the store
//! always ends the session before it touches the index, so a failure
//! between leaves a member without a session (dropped when listed), never
//! a live session the index misses:
//!
//! - **logout**: `HGET user` and `DEL` on the session's slot, then `ZREM`;
//! - **ending one**: `HGET created_at` and `DEL`, then `ZREM`;
//! - **ending them all**: `ZRANGE` the index, `DEL` every session it names
//!   (all in flight at once), then `ZREM` those members, not the whole
//!   index.
//!
//! Ending them all is therefore not one atomic step, and leaves a window:
//! a login that adds its member after the index was read survives it. Its
//! session stays in the index, so the user sees it listed, and ending them
//! all again ends it. A login whose member was read had written its
//! session before (step 1 precedes step 2), so that session is deleted.
//!
//! # Connections
//!
//! Clones share one connection (redis-rs's connections multiplex: any
//! number of requests in flight, pipelined). It is opened by the first
//! request, not by [`RedisHaStore::new`], so a server starts while Redis is
//! down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::cluster::{ClusterClient, ClusterClientBuilder};
use ::redis::cluster_async::ClusterConnection;
use ::redis::io::tcp::TcpSettings;
use ::redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use ::redis::{
    AsyncConnectionConfig, Client, Cmd, ErrorKind, FromRedisValue, IntoConnectionInfo, Pipeline, RedisError,
    ServerErrorKind, Value,
};
use futures::future::join_all;

use crate::id::SessionId;
use crate::redis::{
    CART_FIELD_PREFIX, END_ALL, Found, INDEX_PREFIX, KEY_PREFIX, LOGOUT, Member, RedisStore, millis, session_from_hash,
};
use crate::session::{Name, Session, now_ms};
use crate::store::{Change, Ended, Listed, Reach, SessionStore, StoreError, Updated};
use crate::view::SessionView;

/// Where the Redis deployment is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisTopology {
    /// One Redis at `redis://…`, through redis-rs (to compare it with the
    /// crate's own connection; a server uses [`RedisStore`] for this).
    Standalone {
        /// `redis://HOST:PORT`.
        url: String,
    },
    /// A primary found through these sentinels under this name.
    Sentinel {
        /// `HOST:PORT` of each sentinel.
        sentinels: Vec<String>,
        /// The name the sentinels monitor the primary by.
        master: String,
    },
    /// A Redis Cluster; any of its nodes will do as seeds.
    Cluster {
        /// `HOST:PORT` of some nodes.
        seeds: Vec<String>,
    },
}

impl RedisTopology {
    /// Splits `HOST:PORT,HOST:PORT…` (as the command line gives it).
    pub fn addresses(list: &str) -> Vec<String> {
        list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect()
    }
}

/// `WAIT replicas timeout` after every write: the answer waits until that
/// many replicas have the write, or the timeout passed.
///
/// This narrows asynchronous replication's window (what a primary
/// acknowledged and had not yet sent when it died) at the price of a
/// replica's round trip on every request. It does not close it: after the
/// timeout the answer goes out anyway (the write is on the primary, and
/// refusing it would not undo it), and a replica that has the write may
/// still not be the one the sentinels promote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitReplicas {
    /// How many replicas must have the write.
    pub replicas: u32,
    /// How long to wait for them at most.
    pub timeout: Duration,
}

/// How the store connects.
#[derive(Clone, Debug)]
pub struct RedisHaSettings {
    /// Where Redis is.
    pub topology: RedisTopology,
    /// Idle timeout of a session.
    pub ttl: Duration,
    /// Absolute lifetime of a session, however active
    /// ([`DEFAULT_MAX_AGE`](crate::store::DEFAULT_MAX_AGE) by default).
    pub max_age: Duration,
    /// Deadline for one store operation, connecting, retries and
    /// redirections included.
    pub timeout: Duration,
    /// `WAIT` after every write (not on a cluster); `None`: answer as soon
    /// as the primary has the write.
    pub wait_replicas: Option<WaitReplicas>,
}

impl RedisHaSettings {
    /// Settings with a one-second deadline, as [`RedisSettings`](crate::RedisSettings).
    pub fn new(topology: RedisTopology, ttl: Duration) -> RedisHaSettings {
        RedisHaSettings {
            topology,
            ttl,
            max_age: crate::store::DEFAULT_MAX_AGE,
            timeout: Duration::from_secs(1),
            wait_replicas: None,
        }
    }
}

/// The Redis store on a Sentinel-managed primary or a Redis Cluster, through
/// redis-rs.
#[derive(Clone)]
pub struct RedisHaStore {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    /// The connection in use; `None` until the first request, and after one
    /// failed in a way that says it leads nowhere useful any more.
    current: Mutex<Option<Link>>,
    /// Held while connecting, so a burst of requests opens one connection.
    connecting: tokio::sync::Mutex<()>,
    ttl_ms: u64,
    max_age_ms: u64,
    timeout: Duration,
    wait_replicas: Option<WaitReplicas>,
}

enum Connector {
    Standalone(Client),
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(ClusterClient),
}

#[derive(Clone)]
enum Link {
    Primary(MultiplexedConnection),
    Cluster(ClusterConnection),
}

fn tcp() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

fn url(address: &str) -> String {
    if address.contains("://") { address.to_owned() } else { format!("redis://{address}") }
}

fn config_error(what: &str) -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, "bad Redis address", what.to_owned()))
}

impl RedisHaStore {
    /// Builds the store. Does not connect. Fails only on addresses it
    /// cannot use (none given, or not `HOST:PORT`).
    pub fn new(settings: &RedisHaSettings) -> Result<RedisHaStore, RedisError> {
        if settings.wait_replicas.is_some_and(|wait| wait.timeout >= settings.timeout) {
            return Err(config_error("WAIT's timeout must be shorter than the store's deadline"));
        }
        let connector = match &settings.topology {
            RedisTopology::Standalone { url } => Connector::Standalone(Client::open(url.as_str())?),
            RedisTopology::Sentinel { sentinels, master } => {
                if sentinels.is_empty() || master.is_empty() {
                    return Err(config_error("a sentinel address and a master name are needed"));
                }
                let sentinels =
                    sentinels.iter().map(|a| url(a).into_connection_info()).collect::<Result<Vec<_>, _>>()?;
                let node = SentinelNodeConnectionInfo::default().set_tcp_settings(tcp());
                let client = SentinelClient::build(sentinels, master.clone(), Some(node), SentinelServerType::Master)?;
                Connector::Sentinel(tokio::sync::Mutex::new(client))
            }
            RedisTopology::Cluster { seeds } => {
                if seeds.is_empty() {
                    return Err(config_error("at least one cluster node is needed"));
                }
                if settings.wait_replicas.is_some() {
                    return Err(config_error("WAIT after each write is for one primary, not a cluster"));
                }
                let seeds = seeds.iter().map(|a| url(a).into_connection_info()).collect::<Result<Vec<_>, _>>()?;
                let client = ClusterClientBuilder::new(seeds)
                    .tcp_settings(tcp())
                    .connection_timeout(settings.timeout / 2)
                    .build()?;
                Connector::Cluster(client)
            }
        };
        Ok(RedisHaStore {
            shared: Arc::new(Shared {
                connector,
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                ttl_ms: millis(settings.ttl),
                max_age_ms: millis(settings.max_age),
                timeout: settings.timeout,
                wait_replicas: settings.wait_replicas,
            }),
        })
    }

    fn is_cluster(&self) -> bool {
        matches!(self.shared.connector, Connector::Cluster(_))
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Link>> {
        self.shared.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection in use, opening one if there is none.
    async fn link(&self) -> Result<Link, RedisError> {
        if let Some(link) = self.current().as_ref() {
            return Ok(link.clone());
        }
        let _connecting = self.shared.connecting.lock().await;
        if let Some(link) = self.current().as_ref() {
            return Ok(link.clone());
        }
        // No response timer: the store's deadline bounds every operation.
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(self.shared.timeout / 2));
        let link = match &self.shared.connector {
            Connector::Standalone(client) => {
                Link::Primary(client.get_multiplexed_async_connection_with_config(&config).await?)
            }
            Connector::Sentinel(client) => {
                Link::Primary(client.lock().await.get_async_connection_with_config(&config).await?)
            }
            Connector::Cluster(client) => Link::Cluster(client.get_async_connection().await?),
        };
        *self.current() = Some(link.clone());
        Ok(link)
    }

    /// Runs `pipe` within the deadline. A failure that says the connection
    /// leads nowhere useful (see [`breaks_link`]) drops it, so the next
    /// request finds the primary again.
    async fn query<T: FromRedisValue>(&self, what: &'static str, pipe: &Pipeline) -> Result<T, StoreError> {
        let attempt = async {
            let answer = match self.link().await? {
                Link::Primary(mut connection) => pipe.query_async(&mut connection).await,
                Link::Cluster(mut connection) => pipe.query_async(&mut connection).await,
            };
            if let Err(error) = &answer
                && breaks_link(error)
                && !self.is_cluster()
            {
                self.current().take();
            }
            answer
        };
        match tokio::time::timeout(self.shared.timeout, attempt).await {
            Ok(answer) => answer.map_err(|e| outage(what, &e)),
            Err(_elapsed) => {
                if !self.is_cluster() {
                    self.current().take();
                }
                Err(outage(what, &"deadline passed"))
            }
        }
    }

    /// Appends `WAIT` to `pipe` when the settings ask for it: its reply (how
    /// many replicas have the writes before it) is ignored.
    fn wait_for_replicas(&self, pipe: &mut Pipeline) {
        if let Some(wait) = self.shared.wait_replicas {
            let ms = u64::try_from(wait.timeout.as_millis()).unwrap_or(u64::MAX);
            pipe.cmd("WAIT").arg(wait.replicas).arg(ms).ignore();
        }
    }

    /// The instant at or before which a session was created if it is past
    /// its absolute lifetime now.
    fn cutoff(&self) -> u64 {
        now_ms().saturating_sub(self.shared.max_age_ms)
    }

    /// What a login adds to `index` for the session `id` created at
    /// `created_at`: the member, the pruning of members past the absolute
    /// lifetime, and the index's TTL.
    fn index_login(&self, pipe: &mut Pipeline, index: &str, id: &str, created_at: u64) {
        let cutoff = created_at.saturating_sub(self.shared.max_age_ms);
        pipe.zadd(index, id, created_at).ignore();
        pipe.zrembyscore(index, "-inf", cutoff).ignore();
        pipe.pexpire(index, ms(self.shared.max_age_ms)).ignore();
    }

    /// The ids in `index`, oldest first, with their `created_at`.
    async fn members(&self, index: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut pipe = Pipeline::new();
        pipe.cmd("ZRANGE").arg(index).arg(0).arg(-1).arg("WITHSCORES");
        let (members,): (Vec<(String, f64)>,) = self.query("sessions", &pipe).await?;
        // Scores are Unix milliseconds, exact in a double.
        Ok(members.into_iter().map(|(id, score)| (id, score.max(0.0) as u64)).collect())
    }

    /// Runs `commands`, whose answers only say whether they worked: as one
    /// pipeline on one primary (then `WAIT`), one after the other, in the
    /// order given, on a cluster, where they name keys in different slots.
    async fn in_turn(&self, what: &'static str, commands: Vec<Cmd>) -> Result<(), StoreError> {
        if self.is_cluster() {
            for command in commands {
                let mut pipe = Pipeline::new();
                pipe.add_command(command).ignore();
                self.query::<()>(what, &pipe).await?;
            }
            return Ok(());
        }
        let mut pipe = Pipeline::new();
        for command in commands {
            pipe.add_command(command).ignore();
        }
        self.wait_for_replicas(&mut pipe);
        self.query(what, &pipe).await
    }

    /// Deletes a session found past its absolute lifetime, and its index
    /// member: a second round trip (two on a cluster) that only dead
    /// sessions pay.
    async fn remove(&self, id: &str, user: &Name) -> Result<(), StoreError> {
        let delete = ::redis::cmd("DEL").arg(format!("{KEY_PREFIX}{id}")).clone();
        let zrem = ::redis::cmd("ZREM").arg(RedisStore::index_key(user)).arg(id).clone();
        self.in_turn("remove", vec![delete, zrem]).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut pipe = Pipeline::new();
        pipe.del(key).ignore();
        // A logout is a write too: a session ended on the primary alone
        // would be alive again after a failover.
        self.wait_for_replicas(&mut pipe);
        self.query("delete", &pipe).await
    }
}

/// Whether an error means the connection should be given up: anything but
/// an error reply about the command itself (a hand-made key of the wrong
/// type, say). `READONLY` (the server was demoted to a replica), `LOADING`
/// and `MASTERDOWN` are replies too, but they say this server must not be
/// written to now: the sentinels are asked again.
fn breaks_link(error: &RedisError) -> bool {
    match error.kind() {
        ErrorKind::Server(kind) => {
            matches!(kind, ServerErrorKind::ReadOnly | ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown)
        }
        ErrorKind::Extension => false,
        _ => true,
    }
}

/// Milliseconds as redis-rs's `PEXPIRE` takes them.
fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn outage(what: &str, error: &dyn std::fmt::Display) -> StoreError {
    tracing::warn!(operation = what, %error, "redis unavailable");
    StoreError::Unavailable(format!("{what}: {error}"))
}

impl SessionStore for RedisHaStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn create(&self, user: &Name, node: &str, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        let id = SessionId::generate().to_string();
        let key = format!("{KEY_PREFIX}{id}");
        let index = RedisStore::index_key(user);
        let session = Session::new(user);
        let old = replacing.and_then(SessionId::parse).map(|old| old.to_string());
        let mut pipe = Pipeline::new();
        // `WAIT` inside `MULTI` would not wait: with it, the transaction is
        // spelled out and `WAIT` follows `EXEC`, in the same round trip.
        let waits = self.shared.wait_replicas.is_some();
        if waits {
            pipe.cmd("MULTI").ignore();
        } else {
            pipe.atomic();
        }
        let together = !self.is_cluster();
        if let Some(old) = old.as_ref().filter(|_| together) {
            pipe.del(format!("{KEY_PREFIX}{old}")).ignore().zrem(&index, old).ignore();
        }
        let created_at = session.created_at.to_string();
        let fields = [("user", session.user.as_str()), ("created_at", &created_at), ("node", node), ("requests", "0")];
        pipe.hset_multiple(&key, &fields).ignore().pexpire(&key, ms(self.shared.ttl_ms)).ignore();
        if together {
            self.index_login(&mut pipe, &index, &id, session.created_at);
        }
        if waits {
            pipe.cmd("EXEC").ignore();
            self.wait_for_replicas(&mut pipe);
        }
        self.query::<()>("create", &pipe).await?;
        if !together {
            // On a cluster: the new session, then its index member, then
            // the old session ends, then its member goes (see the module
            // docs).
            let mut pipe = Pipeline::new();
            pipe.atomic();
            self.index_login(&mut pipe, &index, &id, session.created_at);
            self.query::<()>("create", &pipe).await?;
            if let Some(old) = old {
                self.delete(&format!("{KEY_PREFIX}{old}")).await?;
                let _ = self.in_turn("create", vec![::redis::cmd("ZREM").arg(&index).arg(&old).clone()]).await;
            }
        }
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
        let key = RedisStore::key(&id);
        let mut pipe = Pipeline::new();
        pipe.hincr(&key, "requests", 1).ignore();
        if let Change::AddItem { item, qty } = &change {
            pipe.hincr(&key, format!("{CART_FIELD_PREFIX}{item}"), *qty).ignore();
        }
        pipe.pexpire(&key, ms(self.shared.ttl_ms)).ignore();
        pipe.hgetall(&key);
        self.wait_for_replicas(&mut pipe);
        let (fields,): (Vec<(Vec<u8>, Vec<u8>)>,) = self.query("update", &pipe).await?;
        let fields: Vec<_> = fields.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect();
        // Read and cleaned up as on one Redis.
        match Found::of(&fields, self.cutoff()) {
            Found::Live(session) => Ok(Some(Updated { session: read(session.view()), reissued: None })),
            Found::Placeholder => {
                let _ = self.delete(&key).await;
                Ok(None)
            }
            Found::PastMaxAge(user) => {
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
        // The same script as on one Redis: it touches one key, so a cluster
        // runs it on that key's shard.
        let key = RedisStore::key(&id);
        let mut pipe = Pipeline::new();
        pipe.cmd("EVAL").arg(crate::redis::TAKE_CART).arg(1).arg(&key).arg(self.shared.ttl_ms).arg(self.cutoff());
        let (answer,): (Value,) = self.query("take cart", &pipe).await?;
        let fields = match answer {
            Value::Nil => return Ok(None),
            Value::BulkString(user) => {
                let _ = self.remove(credential, &Name::copy_of(&user)).await;
                return Ok(None);
            }
            answer => HashFields::from_redis_value(answer).map_err(|e| outage("take cart", &e))?,
        };
        let fields: Vec<_> = fields.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect();
        Ok(session_from_hash(&fields).map(|session| Updated { session, reissued: None }))
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        let Some(id) = SessionId::parse(credential) else {
            return Ok(());
        };
        let key = RedisStore::key(&id);
        let mut pipe = Pipeline::new();
        if !self.is_cluster() {
            pipe.cmd("EVAL").arg(LOGOUT).arg(1).arg(&key).arg(credential).arg(INDEX_PREFIX).ignore();
            // A logout is a write too: a session ended on the primary alone
            // would be alive again after a failover.
            self.wait_for_replicas(&mut pipe);
            return self.query("logout", &pipe).await;
        }
        // On a cluster the index lives in another slot: the session ends
        // first, then its member goes (see the module docs).
        pipe.hget(&key, "user").del(&key).ignore();
        let (user,): (Option<String>,) = self.query("logout", &pipe).await?;
        if let Some(user) = user.and_then(|user| Name::parse(&user).ok()) {
            let zrem = ::redis::cmd("ZREM").arg(RedisStore::index_key(&user)).arg(credential).clone();
            let _ = self.in_turn("logout", vec![zrem]).await;
        }
        Ok(())
    }

    async fn sessions(&self, user: &Name, _current: &str) -> Result<Listed, StoreError> {
        let index = RedisStore::index_key(user);
        let members = self.members(&index).await?;
        if members.is_empty() {
            return Ok(Listed { sessions: Vec::new(), reach: Reach::Everywhere });
        }
        // One pipeline on one primary; on a cluster, where a pipeline
        // stays in one slot, one per member, all in flight at once.
        let reads = |ids: &[(String, u64)]| {
            let mut pipe = Pipeline::new();
            for (id, _) in ids {
                let key = format!("{KEY_PREFIX}{id}");
                pipe.cmd("HMGET").arg(&key).arg("created_at").arg("node").pttl(&key);
            }
            pipe
        };
        let pipes: Vec<Pipeline> =
            if self.is_cluster() { members.chunks(1).map(reads).collect() } else { vec![reads(&members)] };
        let answers = join_all(pipes.iter().map(|pipe| self.query::<Vec<Value>>("sessions", pipe))).await;
        let mut values = Vec::with_capacity(2 * members.len());
        for answer in answers {
            values.extend(answer?);
        }
        let (now, cutoff) = (now_ms(), self.cutoff());
        let (mut sessions, mut leftovers, mut past) = (Vec::new(), Vec::new(), Vec::new());
        let mut values = values.into_iter();
        for (id, _) in &members {
            let (Some(fields), Some(pttl)) = (values.next(), values.next()) else {
                return Err(outage("sessions", &"a reply is missing"));
            };
            let (created_at, node) =
                <(Option<u64>, Option<String>)>::from_redis_value(fields).map_err(|e| outage("sessions", &e))?;
            let pttl = i64::from_redis_value(pttl).map_err(|e| outage("sessions", &e))?;
            match Member::judge(id, created_at, node, pttl, now, self.shared.ttl_ms, cutoff) {
                Member::Live(info) => sessions.push(info),
                Member::Gone => leftovers.push(id),
                Member::PastMaxAge => {
                    past.push(::redis::cmd("DEL").arg(format!("{KEY_PREFIX}{id}")).clone());
                    leftovers.push(id);
                }
            }
        }
        if !leftovers.is_empty() {
            // Failing to drop them changes nothing for this listing; the
            // next one tries again.
            past.push(::redis::cmd("ZREM").arg(&index).arg(leftovers).clone());
            let _ = self.in_turn("sessions", past).await;
        }
        Ok(Listed { sessions, reach: Reach::Everywhere })
    }

    async fn end_all(&self, user: &Name, _current: &str) -> Result<Ended, StoreError> {
        let index = RedisStore::index_key(user);
        let cutoff = self.cutoff();
        if !self.is_cluster() {
            let mut pipe = Pipeline::new();
            pipe.cmd("EVAL").arg(END_ALL).arg(1).arg(&index).arg(cutoff).arg(KEY_PREFIX);
            self.wait_for_replicas(&mut pipe);
            let (count,): (u64,) = self.query("end all", &pipe).await?;
            return Ok(Ended { count, reach: Reach::Everywhere });
        }
        // On a cluster (see the module docs): read the index, delete every
        // session it names, then drop those members (and only those: a
        // login that added one meanwhile keeps it).
        let members = self.members(&index).await?;
        let deletes = members.iter().map(|(id, _)| {
            let mut pipe = Pipeline::new();
            pipe.del(format!("{KEY_PREFIX}{id}"));
            pipe
        });
        let deletes: Vec<Pipeline> = deletes.collect();
        let answers = join_all(deletes.iter().map(|pipe| self.query::<(u64,)>("end all", pipe))).await;
        let mut count = 0;
        for ((_, created_at), answer) in members.iter().zip(answers) {
            let (deleted,) = answer?;
            count += u64::from(deleted == 1 && *created_at > cutoff);
        }
        if !members.is_empty() {
            let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
            let _ = self.in_turn("end all", vec![::redis::cmd("ZREM").arg(&index).arg(ids).clone()]).await;
        }
        Ok(Ended { count, reach: Reach::Everywhere })
    }

    async fn end_one(&self, user: &Name, _current: &str, handle: &str) -> Result<bool, StoreError> {
        let index = RedisStore::index_key(user);
        let members = self.members(&index).await?;
        let Some((id, _)) = members.iter().find(|(id, _)| crate::id::handle(id) == handle) else {
            return Ok(false);
        };
        let key = format!("{KEY_PREFIX}{id}");
        let mut pipe = Pipeline::new();
        let (created_at, deleted) = if self.is_cluster() {
            // The session first, then its member (see the module docs).
            pipe.cmd("HGET").arg(&key).arg("created_at").del(&key);
            let answer: (Option<u64>, u64) = self.query("end one", &pipe).await?;
            let _ = self.in_turn("end one", vec![::redis::cmd("ZREM").arg(&index).arg(id).clone()]).await;
            answer
        } else {
            // Spelled out, so that `WAIT` can follow `EXEC`.
            pipe.cmd("MULTI").ignore();
            pipe.cmd("HGET").arg(&key).arg("created_at").ignore().del(&key).ignore().zrem(&index, id).ignore();
            pipe.cmd("EXEC");
            self.wait_for_replicas(&mut pipe);
            let ((created_at, deleted, _),): ((Option<u64>, u64, u64),) = self.query("end one", &pipe).await?;
            (created_at, deleted)
        };
        Ok(deleted == 1 && created_at.is_some_and(|created_at| created_at > self.cutoff()))
    }

    async fn health(&self) -> Result<(), StoreError> {
        let mut pipe = Pipeline::new();
        pipe.cmd("PING").ignore();
        self.query("health", &pipe).await
    }
}

/// A session hash as redis-rs reads it: field and value pairs.
type HashFields = Vec<(Vec<u8>, Vec<u8>)>;

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use local_redis::{RedisCluster, SentinelSet};

    use super::*;

    fn store(topology: RedisTopology) -> RedisHaStore {
        RedisHaStore::new(&RedisHaSettings::new(topology, Duration::from_secs(60))).unwrap()
    }

    /// Asks for `sid` until it answers, every failed try within about the
    /// deadline; returns how many tries failed.
    async fn until_served(store: &RedisHaStore, sid: &str) -> (usize, Session) {
        let give_up = Instant::now() + Duration::from_secs(30);
        let mut failed = 0;
        loop {
            let asked = Instant::now();
            match store.update(sid, Change::Touch).await {
                Ok(answer) => return (failed, answer.expect("the session survived").session),
                Err(StoreError::Unavailable(_)) => {
                    assert!(asked.elapsed() < Duration::from_secs(3), "a request hung for {:?}", asked.elapsed());
                    failed += 1;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(Instant::now() < give_up, "no primary served within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The primary dies: requests get 503 while the sentinels elect a
    /// replica, then the same store serves from the new primary, with the
    /// sessions that had reached the replicas.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_failover_the_store_finds_the_new_primary_without_a_restart() {
        let mut set = SentinelSet::start().unwrap();
        let sentinels = RedisTopology::addresses(&set.sentinel_addrs());
        let store = store(RedisTopology::Sentinel { sentinels, master: set.master_name().into() });
        let (sid, _) = store.create(&Name::parse("alice").unwrap(), "node-a", None).await.unwrap();
        assert_eq!(store.update(&sid, Change::Touch).await.unwrap().unwrap().session.requests, 1);
        let old = set.primary().unwrap();
        set.servers()[old].command(&["WAIT", "2", "2000"]).unwrap();

        set.server_mut(old).kill();
        let (failed, session) = until_served(&store, &sid).await;
        assert!(failed > 0, "the primary died and no request noticed");
        assert!(session.requests >= 2);
        assert_ne!(set.primary().unwrap(), old);
    }

    /// With `WAIT`, an answer waits for a replica: both replicas have a
    /// new session when its login answers, and while they are frozen every
    /// write waits the timeout out, then is answered all the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_wait_a_write_is_answered_once_the_replicas_have_it() {
        let set = SentinelSet::start().unwrap();
        let sentinels = RedisTopology::addresses(&set.sentinel_addrs());
        let mut settings = RedisHaSettings::new(
            RedisTopology::Sentinel { sentinels, master: set.master_name().into() },
            Duration::from_secs(60),
        );
        let timeout = Duration::from_millis(300);
        settings.wait_replicas = Some(WaitReplicas { replicas: 2, timeout });
        let store = RedisHaStore::new(&settings).unwrap();
        let (sid, _) = store.create(&Name::parse("alice").unwrap(), "node-a", None).await.unwrap();
        let key = RedisStore::key(&SessionId::parse(&sid).unwrap());
        for replica in &set.servers()[1..] {
            assert_eq!(replica.command(&["HGET", &key, "user"]).unwrap(), "alice");
        }

        for replica in &set.servers()[1..] {
            replica.freeze();
        }
        let asked = Instant::now();
        let answer = store.update(&sid, Change::AddItem { item: Name::parse("tea").unwrap(), qty: 1 }).await;
        let waited = asked.elapsed();
        for replica in &set.servers()[1..] {
            replica.thaw();
        }
        assert_eq!(answer.unwrap().unwrap().session.requests, 1);
        assert!(waited >= timeout, "the write was answered after {waited:?}, before WAIT's timeout");
        assert!(
            RedisHaStore::new(&RedisHaSettings {
                wait_replicas: settings.wait_replicas,
                ..RedisHaSettings::new(
                    RedisTopology::Cluster { seeds: vec!["127.0.0.1:1".into()] },
                    Duration::from_secs(60)
                )
            })
            .is_err()
        );
    }

    /// On a cluster, where the index and the sessions live in different
    /// slots, the index still follows logins, replacements and logouts; a
    /// session past its lifetime is deleted with its member; ending them
    /// all empties it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_cluster_the_index_follows_the_sessions_across_slots() {
        let cluster = RedisCluster::start().unwrap();
        let store = store(RedisTopology::Cluster { seeds: RedisTopology::addresses(&cluster.seeds()) });
        let on_node_of = |key: &str, args: &[&str]| {
            let node = cluster.primary_of_slot(cluster.slot_of(key).unwrap()).unwrap();
            cluster.nodes()[node].command(args).unwrap()
        };
        let index = "user-sessions:alice";
        let members = || on_node_of(index, &["ZRANGE", index, "0", "-1"]);
        let alice = Name::parse("alice").unwrap();
        // Logins a millisecond apart at least, so that the index orders them.
        let login = |replacing: Option<String>| {
            let (store, alice) = (store.clone(), alice);
            async move {
                let (sid, session) = store.create(&alice, "node-a", replacing.as_deref()).await.unwrap();
                crate::redis::after_millisecond(session.created_at).await;
                sid
            }
        };
        let first = login(None).await;
        let second = login(None).await;
        let third = login(Some(first)).await;
        let fourth = login(None).await;
        assert_eq!(members(), format!("{second}\n{third}\n{fourth}"));
        store.destroy(&second).await.unwrap();
        assert_eq!(members(), format!("{third}\n{fourth}"));

        let key = format!("{KEY_PREFIX}{third}");
        let past = (now_ms() - crate::store::DEFAULT_MAX_AGE.as_millis() as u64).to_string();
        on_node_of(&key, &["HSET", &key, "created_at", &past]);
        assert!(store.update(&third, Change::Touch).await.unwrap().is_none());
        assert_eq!(on_node_of(&key, &["EXISTS", &key]), "0");
        assert_eq!(members(), fourth);

        let ended = store.end_all(&alice, &fourth).await.unwrap();
        assert_eq!(ended, Ended { count: 1, reach: Reach::Everywhere });
        assert!(store.update(&fourth, Change::Touch).await.unwrap().is_none());
        assert_eq!(members(), "");
    }

    /// One shard's primary dies: users on the other shards are served
    /// throughout, and that shard's users once its replica has taken over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_shard_touches_only_its_own_users() {
        let mut cluster = RedisCluster::start().unwrap();
        let store = store(RedisTopology::Cluster { seeds: RedisTopology::addresses(&cluster.seeds()) });
        let mut sessions = Vec::new();
        for i in 0..12 {
            let (sid, _) = store.create(&Name::parse(&format!("user{i}")).unwrap(), "node-a", None).await.unwrap();
            let id = SessionId::parse(&sid).unwrap();
            let shard = cluster.primary_of_slot(cluster.slot_of(&RedisStore::key(&id)).unwrap()).unwrap();
            cluster.nodes()[shard].command(&["WAIT", "1", "2000"]).unwrap();
            sessions.push((sid, shard));
        }
        let victim = sessions[0].1;
        assert!(sessions.iter().any(|(_, shard)| *shard != victim), "every session on one shard");

        cluster.node_mut(victim).kill();
        for (sid, shard) in sessions.iter().filter(|(_, shard)| *shard != victim) {
            let answer = store.update(sid, Change::Touch).await;
            assert!(answer.unwrap().is_some(), "a user on shard {shard} lost service");
        }
        let (_, session) = until_served(&store, &sessions[0].0).await;
        assert_eq!(session.user, "user0");
    }
}
