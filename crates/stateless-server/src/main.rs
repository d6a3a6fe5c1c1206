//! `stateless-server`: sessions live in Redis.
//!
//! Every node sees every session, so any node can serve any request and a
//! node can die without logging anyone out. Redis is now the one part that
//! must stay up.

use std::process::ExitCode;

use app::cli::{self, ServerArgs};
use clap::Parser;
use sessions::{RedisSettings, RedisStore};

/// Serves the session API with sessions kept in Redis.
#[derive(Parser)]
#[command(name = "stateless-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Where sessions live.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

// The twins' allocator (the `app` crate's docs say why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let settings = RedisSettings::new(&cli.redis_url, cli.server.session_ttl());
    let store = match RedisStore::new(&settings) {
        Ok(store) => store,
        Err(e) => return cli::fail(format_args!("cannot use --redis-url {}: {e}", cli.redis_url)),
    };
    cli::serve(&cli.server, store)
}
