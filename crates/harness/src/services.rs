//! The services a run uses besides its nodes, and the checks made before a
//! run starts.
//!
//! Today that is one Redis: the harness's own `redis-server` on a free
//! loopback port (which a scenario may stop or kill), or someone else's
//! given with `--redis-url` (never touched). Whatever a run will use is
//! checked before the first node starts ([`Services::start`]): a missing
//! `redis-server` is bad usage (exit 2, with how to install it), a
//! `--redis-url` where nothing answers is a failed precondition (exit 1, one
//! line), so a run never measures a side whose every request was bound to
//! fail.
//!
//! Another service (a Sentinel set, a Redis Cluster, PostgreSQL, RabbitMQ,
//! an S3 server) is one more field of [`Services`], started or checked in
//! [`Services::start`] when a side or scenario needs it ([`Needs`]), with
//! its launcher crate's `is_installed()` and install hint.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use local_redis::{Persistence, RedisServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::UsageError;

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
}

/// The services of one run; dropping it stops (and waits for) every
/// process it started.
#[derive(Debug)]
pub struct Services {
    /// The run's Redis.
    pub redis: RedisHandle,
}

impl Services {
    /// No service at all.
    pub fn none() -> Services {
        Services { redis: RedisHandle::None }
    }

    /// Checks and starts what `needs` asks for.
    pub async fn start(needs: &Needs) -> Result<Services> {
        if !needs.redis {
            return Ok(Services::none());
        }
        if let Some(url) = &needs.redis_url {
            check_redis(url).await?;
            return Ok(Services { redis: RedisHandle::External(url.clone()) });
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
        Ok(Services { redis: RedisHandle::Owned(Arc::new(Mutex::new(server))) })
    }
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
