//! Overload, then scale-out: who gets the new capacity.
//!
//! Every twin, starting with 3 nodes of a modelled capacity (100 requests a
//! second each: a model, since all nodes share this machine's cores).
//! Open-loop users arrive at a rate that ramps from half the cluster's
//! capacity to 1.5 times it; the harness's autoscaler (a model too) adds a
//! node when the mean utilisation stays above 0.8 for a second. The example
//! prints, per twin, when nodes were added, how long the p99 took to come
//! back under the 250 ms objective after the last one, and the p99 of the
//! users who were already there against those who came after.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example overload
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::Overload);
    config.duration = Duration::from_secs(20);
    config.sides = Some(vec![Side::Stateful, Side::Stateless, Side::Token]);
    println!("3 nodes per twin at 100 requests/s each (modelled), load ramping to 450 requests/s, 20 s each…\n");
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let o = &side.findings["overload"];
        let added: Vec<String> =
            side.events.iter().map(|e| format!("{} at {:.1} s", e.node, e.t_ms as f64 / 1000.0)).collect();
        println!("{} ({}): nodes added: {}", side.side, side.routing, added.join(", "));
        println!(
            "  p99 back under {} ms {} s after the last scale-out (users already there: {} s); refused: {}",
            o["objective_ms"], o["recovery_s"], o["recovery_s_users_before"], o["rejected"]
        );
        println!(
            "  p99 after the first scale-out: users already there {} ms, users arriving later {} ms",
            o["p99_ms_users_before"], o["p99_ms_users_after"]
        );
    }
    println!("\n(null: not within the run)\n\n{}", output::table(&report));
    ExitCode::SUCCESS
}
