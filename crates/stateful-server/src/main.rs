//! `stateful-server`: everything lives on this node: sessions in RAM,
//! queued orders in an in-process queue with this node's worker, live rooms
//! as this node's sockets, uploaded files in a folder of its own disk.
//!
//! Fast, and simple, but only this node can see them: a cluster of these
//! needs sticky routing, a node that dies logs its users out, loses the
//! orders it had not finished and the files it was given, and a room splits
//! into one room per node.

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
    #[command(flatten)]
    orders: OrderArgs,
    #[command(flatten)]
    files: FilesDirArgs,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let store = MemoryStore::new(cli.server.session_ttl());
    cli::serve(&cli.server, |node| {
        Ok(Backends {
            sessions: store,
            orders: Some(MemoryQueue::new(cli.orders.worker(node))),
            rooms: Some(MemoryRooms::new()),
            files: Some(cli.files.store()?),
        })
    })
}
