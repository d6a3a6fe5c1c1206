//! A deploy: every node restarted in turn.
//!
//! Each node gets SIGTERM (in-flight requests finish), exits and starts
//! again on the same port, one after the other, as a rolling deploy does.
//! Every stateful user loses its session at least once (its node restarts
//! with empty memory, or it is sent to a node that never had it); no
//! stateless user notices.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example rolling_restart
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::RollingRestart);
    config.users = 30;
    config.duration = Duration::from_secs(6);
    config.sides = Some(vec![Side::Stateful, Side::Stateless]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        println!("{} ({}):", side.side, side.routing);
        for event in &side.events {
            println!("  {:>6.2} s  {} {}", event.t_ms as f64 / 1000.0, event.kind, event.node);
        }
        println!(
            "  {} of {} users were logged out at least once ({} forced logouts in all)\n",
            side.users_logged_out, side.users, side.forced_logouts
        );
    }
    println!("{}", output::table(&report));
    ExitCode::SUCCESS
}
