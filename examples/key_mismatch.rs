//! Token nodes that do not share their key.
//!
//! Three token nodes, each started with a random key of its own, behind
//! round-robin routing, beside three stateful nodes under the same routing.
//! The example prints the first forced logouts on each side: which node
//! issued the session and which node refused it. The two sides look the
//! same: a token only one node can check is a session only one node holds.
//! A stateless service still needs shared configuration (here, one key on
//! every node).
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example key_mismatch
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::KeyMismatch);
    config.users = 20;
    config.duration = Duration::from_secs(4);
    config.sides = Some(vec![Side::Stateful, Side::Token]);
    println!("3 stateful nodes, then 3 token nodes with a key each; round-robin, 20 users, 4 s each…\n");
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };

    for side in &report.sides {
        println!("── {} ({} routing) ──", side.side, side.routing);
        for logout in side.logouts.iter().take(5) {
            println!(
                "{:>7.2} s  {}: session from {}, refused by {} (401)",
                logout.t_ms as f64 / 1000.0,
                logout.user,
                logout.session_node,
                logout.answered_by
            );
        }
        println!(
            "           … {} forced logouts in all; {} of {} users, {} of {} requests answered 401\n",
            side.forced_logouts, side.users_logged_out, side.users, side.unauthorized, side.requests
        );
    }
    println!("{}", output::table(&report));
    ExitCode::SUCCESS
}
