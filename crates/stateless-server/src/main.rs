//! `stateless-server`: sessions live in a shared store, nothing on the node.
//!
//! Every node sees every session, so any node can serve any request and a
//! node can die without logging anyone out. The session store is one Redis
//! (`--redis-url`), a Sentinel-managed primary with replicas
//! (`--redis-sentinel` and `--redis-master`), a Redis Cluster
//! (`--redis-cluster`), or PostgreSQL (`--database-url`). Queued orders wait
//! in RabbitMQ (`--amqp-url`), with their records in Redis, and live rooms
//! are Redis streams every node follows (`--broker-url`; by default the
//! sessions' Redis when that is one standalone Redis); uploaded files live
//! in an S3-compatible object store (`--object-store`). The shared services
//! are now the parts that must stay up. Without `--amqp-url`, orders are not
//! configured on this node (501); without a broker Redis, neither are rooms;
//! without `--object-store`, neither are files.

use std::process::ExitCode;

use app::Backends;
use app::cli::{self, OrderArgs, ServerArgs, SharedArgs};
use clap::Parser;
use sessions::{
    PostgresSettings, PostgresStore, RedisHaSettings, RedisHaStore, RedisSettings, RedisStore, RedisTopology,
    SessionStore, WaitReplicas,
};

/// Serves the API with sessions in a shared store, orders in RabbitMQ, rooms in Redis streams and files in an object store.
#[derive(Parser)]
#[command(name = "stateless-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Where sessions live: one standalone Redis (plaintext, RESP2), spoken
    /// to by the project's own connection.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", conflicts_with_all = ["redis_sentinel", "redis_cluster"])]
    redis_url: String,
    /// Or: a primary managed by these sentinels (HOST:PORT[,HOST:PORT…]),
    /// found again after a failover; needs --redis-master.
    #[arg(
        long,
        env = "REDIS_SENTINEL",
        value_name = "HOST:PORT[,…]",
        requires = "redis_master",
        conflicts_with_all = ["redis_cluster", "database_url"]
    )]
    redis_sentinel: Option<String>,
    /// The name the sentinels know the primary by.
    #[arg(long, env = "REDIS_MASTER", value_name = "NAME", requires = "redis_sentinel")]
    redis_master: Option<String>,
    /// With --redis-sentinel: after every write, `WAIT` until this many
    /// replicas have it (or --redis-wait-timeout-ms passed), narrowing what a
    /// failover loses at the price of a replica's round trip per request.
    #[arg(long, env = "REDIS_WAIT_REPLICAS", value_name = "N", requires = "redis_sentinel")]
    redis_wait_replicas: Option<u32>,
    /// How long one write waits for --redis-wait-replicas at most (below the
    /// store's one-second deadline).
    #[arg(
        long,
        env = "REDIS_WAIT_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 100,
        requires = "redis_wait_replicas"
    )]
    redis_wait_timeout_ms: u64,
    /// Or: a Redis Cluster, any of its nodes as seeds (HOST:PORT[,HOST:PORT…]).
    #[arg(long, env = "REDIS_CLUSTER", value_name = "HOST:PORT[,…]", conflicts_with = "database_url")]
    redis_cluster: Option<String>,
    /// Or: keep sessions in PostgreSQL (postgres://USER@HOST:PORT/DB); the table is created when missing.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, conflicts_with = "redis_url")]
    database_url: Option<String>,
    #[command(flatten)]
    orders: OrderArgs,
    #[command(flatten)]
    shared: SharedArgs,
}

// The twins' allocator (the `app` crate's docs say why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let (ttl, max_age) = (cli.server.session_ttl(), cli.server.session_max_age());
    let broker = cli.shared.broker_url.clone();
    if let Some(url) = &cli.database_url {
        let settings = PostgresSettings { max_age, ..PostgresSettings::new(url, ttl) };
        return match PostgresStore::new(&settings) {
            Ok(store) => serve(&cli, store, broker),
            // The URL may hold a password: not echoed.
            Err(e) => cli::fail(format_args!("cannot use --database-url: {e}")),
        };
    }
    let topology = match (&cli.redis_sentinel, &cli.redis_master, &cli.redis_cluster) {
        (Some(sentinels), Some(master), _) => {
            RedisTopology::Sentinel { sentinels: RedisTopology::addresses(sentinels), master: master.clone() }
        }
        (_, _, Some(seeds)) => RedisTopology::Cluster { seeds: RedisTopology::addresses(seeds) },
        _ => {
            // Order records and rooms go to the sessions' Redis unless told otherwise.
            let broker = broker.unwrap_or_else(|| cli.redis_url.clone());
            let settings = RedisSettings { max_age, ..RedisSettings::new(&cli.redis_url, ttl) };
            return match RedisStore::new(&settings) {
                Ok(store) => serve(&cli, store, Some(broker)),
                Err(e) => cli::fail(format_args!("cannot use --redis-url {}: {e}", cli.redis_url)),
            };
        }
    };
    let mut settings = RedisHaSettings { max_age, ..RedisHaSettings::new(topology, ttl) };
    settings.wait_replicas = cli.redis_wait_replicas.map(|replicas| WaitReplicas {
        replicas,
        timeout: std::time::Duration::from_millis(cli.redis_wait_timeout_ms),
    });
    match RedisHaStore::new(&settings) {
        Ok(store) => serve(&cli, store, broker),
        Err(e) => cli::fail(format_args!("cannot use these Redis settings: {e}")),
    }
}

/// Serves with `sessions`, orders in RabbitMQ and rooms in the Redis at
/// `broker` (each not configured without its service).
fn serve<S: SessionStore>(cli: &Cli, sessions: S, broker: Option<String>) -> ExitCode {
    cli::serve(&cli.server, |node| {
        Ok(Backends {
            sessions,
            orders: cli.shared.rabbit_queue(broker.as_deref(), cli.orders.worker(node))?,
            rooms: SharedArgs::redis_rooms(broker.as_deref())?,
            files: cli.shared.s3_files()?,
        })
    })
}
