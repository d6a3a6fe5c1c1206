//! `stateful-server`: sessions live in this process's RAM.
//!
//! Fast, and simple, but only this process can see them: a cluster of these
//! needs sticky routing, and a node that dies logs its users out.

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
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    let store = MemoryStore::new(cli.server.session_ttl());
    cli::serve(&cli.server, store)
}
