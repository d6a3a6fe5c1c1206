//! `stateless-server`: sessions live in Redis.
//!
//! Every node sees every session, so any node can serve any request and a
//! node can die without logging anyone out. Redis is now the one part that
//! must stay up: one Redis (`--redis-url`), a Sentinel-managed primary with
//! replicas (`--redis-sentinel` and `--redis-master`), or a Redis Cluster
//! (`--redis-cluster`).

use std::process::ExitCode;

use app::cli::{self, ServerArgs};
use clap::Parser;
use sessions::{RedisHaSettings, RedisHaStore, RedisSettings, RedisStore, RedisTopology};

/// Serves the session API with sessions kept in Redis.
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
        conflicts_with = "redis_cluster"
    )]
    redis_sentinel: Option<String>,
    /// The name the sentinels know the primary by.
    #[arg(long, env = "REDIS_MASTER", value_name = "NAME", requires = "redis_sentinel")]
    redis_master: Option<String>,
    /// Or: a Redis Cluster, any of its nodes as seeds (HOST:PORT[,HOST:PORT…]).
    #[arg(long, env = "REDIS_CLUSTER", value_name = "HOST:PORT[,…]")]
    redis_cluster: Option<String>,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let ttl = cli.server.session_ttl();
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
