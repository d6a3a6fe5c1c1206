//! Two cart adds at once from one client.
//!
//! Every twin, 3 nodes, 20 virtual users. Each add step sends two
//! `POST /cart` at the same moment with the same cookie (two tabs, or a
//! double click), then reads the cart. The RAM and Redis twins apply both
//! adds inside the store. The token twin answers each request with a new
//! cookie that holds only that request's add; the client keeps the later
//! one, and the other add is gone, though both were answered 200. The
//! example prints how many acknowledged adds each side lost.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example concurrent_cart
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::ConcurrentCart);
    config.users = 20;
    config.duration = Duration::from_secs(4);
    config.sides = Some(vec![Side::Stateful, Side::Stateless, Side::Token]);
    println!("3 nodes per twin, 20 users, 4 s each; every add is two requests at once with one cookie…\n");
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };

    for side in &report.sides {
        let number = |key: &str| side.findings.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
        let (checked, lost) = (number("concurrent_adds_checked"), number("concurrent_adds_lost"));
        println!(
            "{:>10}: {lost} of {checked} acknowledged adds missing from the next cart read ({:.0}%)",
            side.side.name(),
            if checked == 0 { 0.0 } else { lost as f64 * 100.0 / checked as f64 }
        );
    }
    println!();
    println!("{}", output::table(&report));
    ExitCode::SUCCESS
}
