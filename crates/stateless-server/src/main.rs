//! `stateless-server`: sessions live in Redis, or with `--database-url` in
//! a PostgreSQL table.
//!
//! Every node sees every session, so any node can serve any request and a
//! node can die without logging anyone out. The shared store is now the one
//! part that must stay up: one Redis (`--redis-url`), a Sentinel-managed
//! primary with replicas (`--redis-sentinel` and `--redis-master`), a Redis
//! Cluster (`--redis-cluster`), or PostgreSQL (`--database-url`).

use std::process::ExitCode;

use app::cli::{self, ServerArgs};
use clap::Parser;
use sessions::{
    PostgresSettings, PostgresStore, RedisHaSettings, RedisHaStore, RedisSettings, RedisStore, RedisTopology,
};

/// Serves the session API with sessions kept in a shared store.
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
    /// Or: a Redis Cluster, any of its nodes as seeds (HOST:PORT[,HOST:PORT…]).
    #[arg(long, env = "REDIS_CLUSTER", value_name = "HOST:PORT[,…]", conflicts_with = "database_url")]
    redis_cluster: Option<String>,
    /// Or: keep sessions in PostgreSQL (postgres://USER@HOST:PORT/DB); the table is created when missing.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, conflicts_with = "redis_url")]
    database_url: Option<String>,
}

// The twins' allocator (the `app` crate's docs say why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let ttl = cli.server.session_ttl();
    if let Some(url) = &cli.database_url {
        return match PostgresStore::new(&PostgresSettings::new(url, ttl)) {
            Ok(store) => cli::serve(&cli.server, store),
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
            return match RedisStore::new(&RedisSettings::new(&cli.redis_url, ttl)) {
                Ok(store) => cli::serve(&cli.server, store),
                Err(e) => cli::fail(format_args!("cannot use --redis-url {}: {e}", cli.redis_url)),
            };
        }
    };
    match RedisHaStore::new(&RedisHaSettings::new(topology, ttl)) {
        Ok(store) => cli::serve(&cli.server, store),
        Err(e) => cli::fail(format_args!("cannot use these Redis addresses: {e}")),
    }
}
