//! What a RAM session needs from the load balancer: stickiness.
//!
//! Both twins behind plain round-robin routing, no sticky sessions. A
//! stateful user logs in on one node and its next request lands on another,
//! which has never heard of the session: 401, log in again, and again. The
//! stateless twin does not care which node it reaches.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example round_robin
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::RoundRobin);
    config.users = 30;
    config.duration = Duration::from_secs(5);
    config.sides = Some(vec![Side::Stateful, Side::Stateless]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    for side in &report.sides {
        let share = side.findings.get("unauthorized_share").and_then(|v| v.as_f64()).unwrap_or(0.0);
        println!(
            "{:>9}: {:.0}% of the requests after a login were refused with 401 ({} logins for {} users)",
            side.side,
            share * 100.0,
            side.logins,
            side.users
        );
    }
    println!("\n{}", output::table(&report));
    ExitCode::SUCCESS
}
