//! The services a run uses besides its nodes, and the checks made before a
//! run starts.
//!
//! First of all a Redis: the harness's own `redis-server` on a free
//! loopback port (which a scenario may stop or kill), or someone else's
//! given with `--redis-url` (never touched). Whatever a run will use is
//! checked before the first node starts ([`Services::start`]): a missing
//! `redis-server` is bad usage (exit 2, with how to install it), a
//! `--redis-url` where nothing answers is a failed precondition (exit 1, one
//! line), so a run never measures a side whose every request was bound to
//! fail.
//!
//! A run whose mix exercises files or jobs on a side that keeps them off
//! the node gets a private S3 server (`local-s3`) or a private RabbitMQ
//! node (`local-rabbitmq`), started once for the whole run, before the
//! first node, and stopped when the run is over. The `database` side's
//! PostgreSQL is the harness's own, always ([`crate::database`]). Where one
//! is not installed, the run is bad usage (exit 2) with the command that
//! installs it.
//!
//! A scenario may put the stateless twin on a replicated Redis instead
//! ([`Topology`]): a Sentinel set (a primary, two replicas, three
//! sentinels) or a Redis Cluster (three primaries, three replicas), always
//! the harness's own, started by [`Services::start_topology`] after the
//! checks above; the one Redis stays for the sides that use it (the token
//! twin's deny list) and for comparisons.
//!
//! Another service is one more field of [`Services`], started or checked
//! in [`Services::start`] when a side or scenario needs it ([`Needs`]),
//! with its launcher crate's `is_installed()` and install hint.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use local_rabbitmq::RabbitMq;
use local_redis::{Persistence, RedisCluster, RedisServer, SentinelSet};
use local_s3::S3Server;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::UsageError;
use crate::database::{Database, DatabaseDurability};

/// How long an external service gets to answer its precondition check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The Redis a run uses, as a scenario can reach it.
#[derive(Clone, Debug)]
pub enum RedisHandle {
    /// No side needs Redis.
    None,
    /// The harness's own `redis-server`, which a scenario may stop.
    Owned(Arc<Mutex<RedisServer>>),
    /// `--redis-url`: someone else's, never touched.
    External(String),
}

impl RedisHandle {
    /// The URL nodes connect to.
    pub fn url(&self) -> Option<String> {
        match self {
            RedisHandle::None => None,
            RedisHandle::Owned(server) => Some(server.lock().unwrap().url()),
            RedisHandle::External(url) => Some(url.clone()),
        }
    }

    /// The harness's own Redis, which a scenario may stop or kill; `None`
    /// when there is none or it is `--redis-url`'s (then with a warning
    /// that `what` is skipped: the harness never touches someone else's).
    pub fn own(&self, what: &str) -> Option<Arc<Mutex<RedisServer>>> {
        match self {
            RedisHandle::Owned(server) => Some(Arc::clone(server)),
            RedisHandle::External(_) => {
                tracing::warn!("the Redis of --redis-url is not the harness's own: the {what} is skipped");
                None
            }
            RedisHandle::None => None,
        }
    }

    /// The process id of the harness's own Redis (to read its CPU time).
    pub fn pid(&self) -> Option<u32> {
        match self {
            RedisHandle::Owned(server) => server.lock().unwrap().pid(),
            _ => None,
        }
    }
}

/// What a run needs besides its nodes.
#[derive(Clone, Debug, Default)]
pub struct Needs {
    /// Some side's nodes use Redis.
    pub redis: bool,
    /// `--redis-url`: use this Redis rather than starting one.
    pub redis_url: Option<String>,
    /// How the harness's own Redis persists.
    pub redis_persistence: Persistence,
    /// Some side keeps uploaded files in an object store: start an S3 server.
    pub object_store: bool,
    /// Some side queues orders in RabbitMQ: start a RabbitMQ node.
    pub rabbitmq: bool,
    /// Some side's nodes keep their sessions in PostgreSQL.
    pub database: bool,
    /// How the run's PostgreSQL treats the disk.
    pub database_durability: DatabaseDurability,
}

/// Where the stateless twin keeps its sessions in a scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Topology {
    /// One Redis (`--redis-url`).
    #[default]
    Single,
    /// A primary, two replicas, three sentinels (`--redis-sentinel`,
    /// `--redis-master`).
    Sentinel,
    /// Three primaries and three replicas (`--redis-cluster`).
    Cluster,
}

/// The services of one run; dropping it stops (and waits for) every
/// process it started.
#[derive(Debug)]
pub struct Services {
    /// The run's Redis.
    pub redis: RedisHandle,
    /// The run's S3 server, when a side keeps files in an object store.
    pub object_store: Option<S3Server>,
    /// The run's RabbitMQ node, when a side queues orders in it.
    pub rabbitmq: Option<RabbitMq>,
    /// The run's PostgreSQL, when a side needs it.
    pub database: Option<Database>,
    /// The Sentinel set, when the scenario asked for one.
    pub sentinel: Option<Arc<Mutex<SentinelSet>>>,
    /// The Redis Cluster, when the scenario asked for one.
    pub redis_cluster: Option<Arc<Mutex<RedisCluster>>>,
}

impl Services {
    /// No service at all.
    pub fn none() -> Services {
        Services::with_redis(RedisHandle::None)
    }

    fn with_redis(redis: RedisHandle) -> Services {
        Services { redis, object_store: None, rabbitmq: None, database: None, sentinel: None, redis_cluster: None }
    }

    /// Starts the replicated Redis `topology` asks for (nothing for
    /// [`Topology::Single`]); a missing `redis-sentinel` or `redis-cli` is
    /// bad usage, with how to install it.
    pub async fn start_topology(mut self, topology: Topology) -> Result<Services> {
        if topology == Topology::Single {
            return Ok(self);
        }
        if !local_redis::topologies_installed() {
            bail!(UsageError(format!(
                "redis-sentinel or redis-cli is not installed (this scenario runs a replicated Redis); \
                 install them with `{}` and `{}`",
                local_redis::INSTALL_HINT,
                local_redis::SENTINEL_INSTALL_HINT
            )));
        }
        match topology {
            Topology::Single => {}
            Topology::Sentinel => {
                let set =
                    tokio::task::spawn_blocking(SentinelSet::start).await?.context("cannot start the Sentinel set")?;
                self.sentinel = Some(Arc::new(Mutex::new(set)));
            }
            Topology::Cluster => {
                let cluster = tokio::task::spawn_blocking(RedisCluster::start)
                    .await?
                    .context("cannot start the Redis Cluster")?;
                self.redis_cluster = Some(Arc::new(Mutex::new(cluster)));
            }
        }
        Ok(self)
    }

    /// The stateless nodes' store flags when they use a replicated Redis
    /// (`None`: the one Redis, `--redis-url`).
    pub fn replicated_store_args(&self) -> Option<Vec<String>> {
        if let Some(set) = &self.sentinel {
            let set = set.lock().unwrap();
            return Some(vec![
                "--redis-sentinel".into(),
                set.sentinel_addrs(),
                "--redis-master".into(),
                set.master_name().into(),
            ]);
        }
        let cluster = self.redis_cluster.as_ref()?;
        Some(vec!["--redis-cluster".into(), cluster.lock().unwrap().seeds()])
    }

    /// Checks and starts what `needs` asks for: every precondition first,
    /// then each service.
    pub async fn start(needs: &Needs) -> Result<Services> {
        if needs.object_store && !local_s3::is_installed() {
            bail!(UsageError(format!(
                "{} is not installed (the files of the shared twins live in it); install it with `{}`",
                local_s3::BINARY,
                local_s3::INSTALL_HINT
            )));
        }
        if needs.rabbitmq && !local_rabbitmq::is_installed() {
            bail!(UsageError(format!(
                "rabbitmq-server is not installed (the orders of the shared twins are queued in it); install it with `{}`",
                local_rabbitmq::INSTALL_HINT
            )));
        }
        let mut services = Services { redis: start_redis(needs).await?, ..Services::none() };
        if needs.object_store {
            let server = tokio::task::spawn_blocking(S3Server::start).await?.context("cannot start the S3 server")?;
            services.object_store = Some(server);
        }
        if needs.rabbitmq {
            let node = tokio::task::spawn_blocking(RabbitMq::start).await?.context("cannot start RabbitMQ")?;
            services.rabbitmq = Some(node);
        }
        if needs.database {
            services.database = Some(Database::start(needs.database_durability).await?);
        }
        Ok(services)
    }
}

/// The run's Redis: none, `--redis-url`'s (checked) or the harness's own.
async fn start_redis(needs: &Needs) -> Result<RedisHandle> {
    if !needs.redis {
        return Ok(RedisHandle::None);
    }
    if let Some(url) = &needs.redis_url {
        check_redis(url).await?;
        return Ok(RedisHandle::External(url.clone()));
    }
    if !local_redis::is_installed() {
        bail!(UsageError(format!(
            "redis-server is not installed (the Redis-backed sides need it); install it with `{}`",
            local_redis::INSTALL_HINT
        )));
    }
    let persistence = needs.redis_persistence;
    let server = tokio::task::spawn_blocking(move || RedisServer::start_with(persistence))
        .await?
        .context("cannot start redis-server")?;
    Ok(RedisHandle::Owned(Arc::new(Mutex::new(server))))
}

/// A precondition of the run does not hold: an external service it would
/// use does not answer. Reported in one line, exit 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// Whether a Redis answers at `url`: a TCP connection and a `PING` that
/// gets any RESP reply (`+PONG`, or an error such as `-NOAUTH` from a
/// server that wants a password: it is there, the nodes will log in).
pub async fn check_redis(url: &str) -> Result<()> {
    let unavailable = |why: String| Unavailable(format!("--redis-url/REDIS_URL `{url}`: {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| unavailable(format!("not a URL ({e})")))?;
    let host = parsed.host_str().filter(|h| !h.is_empty()).unwrap_or("127.0.0.1").to_string();
    let port = parsed.port().unwrap_or(6379);
    let ping = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        stream.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
        let mut first = [0_u8; 1];
        stream.read_exact(&mut first).await?;
        Ok::<u8, std::io::Error>(first[0])
    };
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(b'+' | b'-')) => Ok(()),
        Ok(Ok(_)) => Err(unavailable(format!("{host}:{port} answers, but not as Redis does")).into()),
        Ok(Err(e)) => Err(unavailable(format!("nothing answers on {host}:{port} ({e})")).into()),
        Err(_) => Err(unavailable(format!("{host}:{port} did not answer PING within {CHECK_TIMEOUT:?}")).into()),
    }
}
