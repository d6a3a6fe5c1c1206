//! Where an upload lives: files uploaded through one node, read through
//! another.
//!
//! Every twin behind round-robin routing, users exercising files: after
//! each login a user uploads a small file, and now and then reads one of
//! its files back and checks its SHA-256. The stateful twin writes each
//! upload to the disk of the node that took it, so a read that lands on
//! another node gets 404: the file exists, just not there. The stateless
//! and token twins keep files in an S3 server (a private one, started for
//! the run): every node reads every file.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example files_round_robin
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Kind, Mix, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::RoundRobin);
    config.users = 30;
    config.duration = Duration::from_secs(5);
    config.mix = Mix::of(&[Kind::Files]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let kinds = &side.kinds;
        println!(
            "{:>9}: {} of {} uploaded files answered 404 on a read ({} reads, {} came back changed)",
            side.side,
            kinds.files_unreachable.unwrap_or(0),
            kinds.files_uploaded.unwrap_or(0),
            kinds.files_reads.unwrap_or(0),
            kinds.files_digest_mismatches.unwrap_or(0),
        );
    }
    println!("\n{}", output::table(&report));
    ExitCode::SUCCESS
}
