//! Adding a node under load: who gets to use it.
//!
//! Three nodes per twin; users keep arriving over the first two thirds of
//! the run, and a fourth node joins a third of the way in. With sticky
//! routing the new node only gets users that log in after it joined, while
//! the old nodes keep theirs; the stateless twin hands it a full share of
//! every user's requests within a second.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example scale_out
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::ScaleOut);
    config.users = 60;
    config.duration = Duration::from_secs(6);
    config.sides = Some(vec![Side::Stateful, Side::Stateless]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let f = &side.findings;
        let new_node = f["new_node"].as_str().unwrap_or("?");
        println!("{} ({}): {new_node} joined at {:.1} s", side.side, side.routing, side.events[0].t_ms as f64 / 1000.0);
        let shares: Vec<String> = f["share_after_join"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(node, share)| format!("{node} {:.0}%", share.as_f64().unwrap_or(0.0) * 100.0))
            .collect();
        println!("  share of the requests after the join: {}", shares.join(", "));
        println!(
            "  users already here that ever reached {new_node}: {} (users arriving after the join: {})",
            f["earlier_users_served_by_new_node"], f["users_arrived_after_join"]
        );
    }
    println!("\n{}", output::table(&report));
    ExitCode::SUCCESS
}
