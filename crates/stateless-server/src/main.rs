//! `stateless-server`: sessions live in Redis.
//!
//! Every node sees every session, so any node can serve any request and a
//! node can die without logging anyone out. Queued orders wait in RabbitMQ
//! (`--amqp-url`), with their records in Redis, and live rooms are Redis
//! streams every node follows (`--broker-url`, by default the sessions'
//! Redis); uploaded files live in an S3-compatible object store
//! (`--object-store`). Redis, RabbitMQ and the object store are now the
//! parts that must stay up. Without `--amqp-url`, orders are not configured
//! on this node (501); without `--object-store`, files are not.

use std::process::ExitCode;

use app::Backends;
use app::cli::{self, OrderArgs, ServerArgs, SharedArgs};
use clap::Parser;
use sessions::{RedisSettings, RedisStore};

/// Serves the API with sessions in Redis, orders in RabbitMQ, rooms in Redis streams and files in an object store.
#[derive(Parser)]
#[command(name = "stateless-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Where sessions live.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    #[command(flatten)]
    orders: OrderArgs,
    #[command(flatten)]
    shared: SharedArgs,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let settings = RedisSettings::new(&cli.redis_url, cli.server.session_ttl());
    let store = match RedisStore::new(&settings) {
        Ok(store) => store,
        Err(e) => return cli::fail(format_args!("cannot use --redis-url {}: {e}", cli.redis_url)),
    };
    // Order records and rooms go to the sessions' Redis unless told otherwise.
    let broker = cli.shared.broker_url.clone().unwrap_or_else(|| cli.redis_url.clone());
    cli::serve(&cli.server, |node| {
        Ok(Backends {
            sessions: store,
            orders: cli.shared.rabbit_queue(Some(&broker), cli.orders.worker(node))?,
            rooms: SharedArgs::redis_rooms(Some(&broker))?,
            files: cli.shared.s3_files()?,
        })
    })
}
