//! `stateful-server`: everything lives on this node: sessions in RAM,
//! queued orders in an in-process queue with this node's worker, live rooms
//! as this node's sockets, uploaded files in a folder of its own disk.
//!
//! Fast, and simple, but only this node can see them: a cluster of these
//! needs sticky routing, a node that dies logs its users out, loses the
//! orders it had not finished and the files it was given, and a room splits
//! into one room per node.
//! Since a login needs no password, the session store is bounded
//! (`--max-sessions`): past the bound a login evicts the least recently
//! used sessions.

use std::process::ExitCode;

use app::Backends;
use app::cli::{self, FilesDirArgs, OrderArgs, ServerArgs};
use clap::Parser;
use jobs::MemoryQueue;
use live::MemoryRooms;
use sessions::MemoryStore;

/// Serves the API with sessions, orders and rooms in this process's memory and files on this node's disk.
#[derive(Parser)]
#[command(name = "stateful-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Most sessions held; past it a login evicts the least recently used
    /// [default: as many as fit in a quarter of the machine's memory].
    #[arg(long, env = "MAX_SESSIONS", value_parser = clap::value_parser!(u64).range(1..))]
    max_sessions: Option<u64>,
    #[command(flatten)]
    orders: OrderArgs,
    #[command(flatten)]
    files: FilesDirArgs,
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
    let store = MemoryStore::with_max_sessions(cli.server.session_ttl(), max_sessions)
        .with_max_age(cli.server.session_max_age());
    cli::serve(&cli.server, |node| {
        Ok(Backends {
            sessions: store,
            orders: Some(MemoryQueue::new(cli.orders.worker(node))),
            rooms: Some(MemoryRooms::new()),
            files: Some(cli.files.store()?),
        })
    })
}
