//! Queued work when a node dies: an in-process queue against RabbitMQ.
//!
//! Every twin, users exercising jobs: now and then a user checks its cart
//! out as an order (202 at once, the work done later by a worker) and polls
//! it until it is done. A third of the way in one node is killed. The
//! stateful twin's queue and order records were in that node's memory: its
//! queued orders are never done, and its done ones can no longer be read.
//! The stateless and token twins queue orders in RabbitMQ (a private node,
//! started for the run; it takes tens of seconds to boot) and keep their
//! records in Redis: a job the dead node's worker held is delivered to
//! another node's worker, and the idempotency key keeps it from being
//! confirmed twice. After the run every pending order gets ten seconds.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example orders_node_death
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Kind, Mix, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::NodeDeath);
    config.users = 30;
    config.duration = Duration::from_secs(6);
    config.mix = Mix::of(&[Kind::Jobs]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let kinds = &side.kinds;
        let to_done = kinds.order_to_done_ms.unwrap_or_default();
        println!(
            "{:>9}: {} of {} orders lost, {} done twice; order to done p50 {:.0} ms, p99 {:.0} ms",
            side.side,
            kinds.orders_lost.unwrap_or(0),
            kinds.orders_placed.unwrap_or(0),
            kinds.orders_done_twice.unwrap_or(0),
            to_done.p50,
            to_done.p99,
        );
    }
    println!("\n{}", output::table(&report));
    ExitCode::SUCCESS
}
