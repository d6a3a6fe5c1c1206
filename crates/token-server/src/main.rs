//! `token-server`: sessions live in a signed token, in the client's cookie.
//!
//! No node keeps anything, so any node with the shared key can serve any
//! request and no store must stay up. The price: a logged-out token stays
//! valid until it expires (unless `--revocation-redis` brings a deny list,
//! and with it server-side state, back), the cookie caps the session's size,
//! and concurrent requests of one client can lose an update.
//!
//! Queued orders, live rooms and uploaded files are shared as on
//! `stateless-server`: RabbitMQ (`--amqp-url`) with order records in Redis,
//! rooms in Redis streams (`--broker-url`), files in an object store
//! (`--object-store`). This twin has no session Redis to fall back on:
//! without `--broker-url` neither orders nor rooms are configured on this
//! node (501), and without `--object-store` files are not.

use std::process::ExitCode;

use app::Backends;
use app::cli::{self, OrderArgs, ServerArgs, SharedArgs};
use clap::Parser;
use sessions::{TokenKey, TokenStore};

/// Serves the session API with the whole session in a signed cookie (HS256).
#[derive(Parser)]
#[command(name = "token-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Signs and checks tokens: at least 32 bytes, the same on every node (TOKEN_KEY keeps it out of `ps`).
    #[arg(long, env = "TOKEN_KEY", hide_env_values = true)]
    token_key: Option<String>,
    /// Redis for the logout deny list [default: none; a logged-out token stays valid until it expires].
    #[arg(long, env = "REVOCATION_REDIS")]
    revocation_redis: Option<String>,
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
    // No random default: a per-node key would log users out like the RAM twin.
    let Some(secret) = cli.token_key.as_deref() else {
        return cli::fail(format_args!(
            "--token-key or TOKEN_KEY is required: at least {} bytes shared by every node (e.g. openssl rand -base64 48)",
            TokenKey::MIN_LEN
        ));
    };
    let key = match TokenKey::new(secret.as_bytes()) {
        Ok(key) => key,
        Err(e) => return cli::fail(format_args!("cannot use --token-key: {e}")),
    };
    let mut store = TokenStore::new(key, cli.server.session_ttl()).with_max_age(cli.server.session_max_age());
    if let Some(url) = &cli.revocation_redis {
        store = match store.with_revocation(url) {
            Ok(store) => store,
            Err(e) => return cli::fail(format_args!("cannot use --revocation-redis {url}: {e}")),
        };
    }
    let broker = cli.shared.broker_url.as_deref();
    cli::serve(&cli.server, |node| {
        Ok(Backends {
            sessions: store,
            orders: cli.shared.rabbit_queue(broker, cli.orders.worker(node))?,
            rooms: SharedArgs::redis_rooms(broker)?,
            files: cli.shared.s3_files()?,
        })
    })
}
