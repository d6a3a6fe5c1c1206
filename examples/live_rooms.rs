//! Live connections: chat rooms across nodes.
//!
//! Every twin behind round-robin routing, users exercising live rooms:
//! each holds a WebSocket to its room (ten users a room), says something
//! now and then, and records what it hears. The stateful twin broadcasts a
//! message to the sockets of the node that received it, so a room splits
//! into one room per node: a member hears only the members whose sockets
//! landed on its own node, about a third of the room on three nodes. The
//! stateless and token twins keep rooms in Redis streams that every node
//! follows: everyone hears everything.
//!
//! `harness run node-death --mix sessions,live` shows the other half: the
//! dead node's sockets drop, reconnect elsewhere with `after=` the last
//! `seq` they saw, and only the shared rooms can give them what was said
//! meanwhile.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example live_rooms
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Kind, Mix, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::RoundRobin);
    config.users = 30;
    config.duration = Duration::from_secs(5);
    config.mix = Mix::of(&[Kind::Live]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let kinds = &side.kinds;
        println!(
            "{:>9}: members missed {} of the {} messages said in their rooms while they were there",
            side.side,
            kinds.live_messages_missed.unwrap_or(0),
            kinds.live_messages_expected.unwrap_or(0),
        );
    }
    println!("\n{}", output::table(&report));
    ExitCode::SUCCESS
}
