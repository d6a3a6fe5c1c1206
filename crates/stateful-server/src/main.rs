//! `stateful-server`: sessions live in this process's RAM.
//!
//! Fast, and simple, but only this process can see them: a cluster of these
//! needs sticky routing, and a node that dies logs its users out. Since a
//! login needs no password, the store is bounded (`--max-sessions`): past
//! the bound a login evicts the least recently used sessions.

use std::process::ExitCode;

use app::cli::{self, ServerArgs};
use clap::Parser;
use sessions::MemoryStore;

/// Serves the session API with sessions kept in this process's memory.
#[derive(Parser)]
#[command(name = "stateful-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Most sessions held; past it a login evicts the least recently used
    /// [default: as many as fit in a quarter of the machine's memory].
    #[arg(long, env = "MAX_SESSIONS", value_parser = clap::value_parser!(u64).range(1..))]
    max_sessions: Option<u64>,
}

// The twins' allocator (the `app` crate's docs say why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The bound where the machine's memory cannot be read.
const FALLBACK_MAX_SESSIONS: usize = 1_000_000;

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let max_sessions = match cli.max_sessions {
        Some(max) => usize::try_from(max).unwrap_or(usize::MAX),
        None => MemoryStore::default_max_sessions().unwrap_or(FALLBACK_MAX_SESSIONS),
    };
    let store = MemoryStore::with_max_sessions(cli.server.session_ttl(), max_sessions);
    cli::serve(&cli.server, store)
}
