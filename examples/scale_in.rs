//! Removing a node gracefully: who notices.
//!
//! Every twin, 3 nodes of a modelled capacity (100 requests a second each).
//! Open-loop users arrive at 60 % of the cluster's capacity, then at 15 %;
//! the harness's autoscaler (a model) drains the newest node (no new users
//! are sent there), stops it with SIGTERM once it has served nothing for a
//! second or after half a session, whichever comes first. Round-robin
//! twins drain in about a second and log nobody out; the sticky twin's
//! users on that node are still there at the deadline and lose their
//! sessions. The example prints how long each drain took, how it ended and
//! who was logged out.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example scale_in
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::ScaleIn);
    config.duration = Duration::from_secs(15);
    config.sides = Some(vec![Side::Stateful, Side::Stateless, Side::Token]);
    println!("3 nodes per twin, the load drops at 30 % of the run, 15 s each…\n");
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let s = &side.findings["scale_in"];
        println!(
            "{} ({}): {} drained at {} s, stopped {} s later ({}), {} users logged out",
            side.side,
            side.routing,
            s["removed_node"],
            s["drain_started_s"],
            s["drain_s"],
            s["drain_ended"],
            s["users_logged_out_by_removal"]
        );
    }
    println!("\n{}", output::table(&report));
    ExitCode::SUCCESS
}
