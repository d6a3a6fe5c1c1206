//! `stateful-server`: everything lives in this process: sessions in RAM,
//! queued orders in an in-process queue with this node's worker, live rooms
//! as this node's sockets.
//!
//! Fast, and simple, but only this process can see them: a cluster of these
//! needs sticky routing, a node that dies logs its users out and loses the
//! orders it had not finished, and a room splits into one room per node.

use std::process::ExitCode;

use app::Backends;
use app::cli::{self, OrderArgs, ServerArgs};
use clap::Parser;
use jobs::MemoryQueue;
use live::MemoryRooms;
use sessions::MemoryStore;

/// Serves the API with sessions, orders and rooms kept in this process's memory.
#[derive(Parser)]
#[command(name = "stateful-server", version)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    orders: OrderArgs,
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let store = MemoryStore::new(cli.server.session_ttl());
    cli::serve(&cli.server, |node| {
        Ok(Backends {
            sessions: store,
            orders: Some(MemoryQueue::new(cli.orders.worker(node))),
            rooms: Some(MemoryRooms::new()),
        })
    })
}
