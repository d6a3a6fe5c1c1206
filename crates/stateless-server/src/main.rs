//! `stateless-server`: sessions live in Redis, or with `--database-url` in
//! a PostgreSQL table.
//!
//! Every node sees every session, so any node can serve any request and a
//! node can die without logging anyone out. The shared store is now the one
//! part that must stay up.

use std::process::ExitCode;

use app::cli::{self, ServerArgs};
use clap::Parser;
use sessions::{PostgresSettings, PostgresStore, RedisSettings, RedisStore};

/// Serves the session API with sessions kept in Redis.
#[derive(Parser)]
#[command(name = "stateless-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Where sessions live.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Keep sessions in PostgreSQL instead (postgres://USER@HOST:PORT/DB); the table is created when missing.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, conflicts_with = "redis_url")]
    database_url: Option<String>,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    if let Some(url) = &cli.database_url {
        return match PostgresStore::new(&PostgresSettings::new(url, cli.server.session_ttl())) {
            Ok(store) => cli::serve(&cli.server, store),
            // The URL may hold a password: not echoed.
            Err(e) => cli::fail(format_args!("cannot use --database-url: {e}")),
        };
    }
    let settings = RedisSettings::new(&cli.redis_url, cli.server.session_ttl());
    let store = match RedisStore::new(&settings) {
        Ok(store) => store,
        Err(e) => return cli::fail(format_args!("cannot use --redis-url {}: {e}", cli.redis_url)),
    };
    cli::serve(&cli.server, store)
}
