//! The throughput curve: what each twin sustains at 1 to 4 nodes, and where
//! one Redis would stop the stateless twin.
//!
//! Every twin starts with one node of a modelled capacity (100 requests a
//! second: a model, since all nodes share this machine's cores); the
//! open-loop rate steps through 0.5 to 1.15 times the cluster's capacity,
//! then a node joins, up to 4. Users are skewed (a Zipf spread: a few heavy
//! ones). The example prints, per twin, the highest rate sustained within
//! the 250 ms p99 objective at each node count, and for the Redis-backed
//! twins Redis's CPU per request and the node count at which one Redis core
//! would be full.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example capacity
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::CapacitySweep);
    config.duration = Duration::from_secs(40);
    config.sides = Some(vec![Side::Stateful, Side::Stateless, Side::Token]);
    println!("1 to 4 nodes per twin at 100 requests/s each (modelled), 40 s each…\n");
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let c = &side.findings["capacity"];
        let by_nodes: Vec<String> = c["sustained_rps"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(nodes, rps)| format!("{nodes}: {rps}"))
            .collect();
        println!("{} ({}): sustained requests/s by nodes: {}", side.side, side.routing, by_nodes.join(", "));
        if c["redis_cpu_us_per_request"].is_number() {
            println!(
                "  Redis CPU per request {} µs: one Redis core is full at about {} requests/s, {} nodes",
                c["redis_cpu_us_per_request"], c["redis_ceiling_rps"], c["redis_saturates_at_nodes"]
            );
        }
    }
    println!("\n{}", output::table(&report));
    ExitCode::SUCCESS
}
