//! The price of the stateless twin: Redis is now the part that must not fail.
//!
//! The harness's private Redis is stopped (saving its data) a quarter of the
//! way in and started again a little later. While it is away every stateless
//! request that needs a session gets 503; once it is back the nodes recover
//! by themselves and every session is still there. The stateful twin does
//! not notice: it never asked Redis for anything.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example redis_outage
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::RedisOutage);
    config.users = 30;
    config.duration = Duration::from_secs(8);
    config.sides = Some(vec![Side::Stateful, Side::Stateless]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let f = &side.findings;
        println!(
            "{}: {} answers were 503, failures ended {} ms after Redis was back, {} users logged out",
            side.side, f["answers_503"], f["failures_end_ms_after_redis_up"], side.users_logged_out
        );
    }
    println!("\n{}", output::table(&report));
    for note in &report.notes {
        println!("{note}");
    }
    ExitCode::SUCCESS
}
