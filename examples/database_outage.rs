//! Sessions in the database make the database the part that must not fail.
//!
//! The database side is the stateless twin with its sessions in PostgreSQL
//! (`stateless-server --database-url`). The harness's private PostgreSQL is
//! stopped (a clean, fast shutdown) a quarter of the way in and started
//! again a little later. While it is away every database-side request that
//! needs a session gets 503 with `Retry-After`; once it is back the nodes
//! use it again by themselves and every session is still there. The
//! stateless twin on Redis does not notice: it never asked PostgreSQL for
//! anything.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example database_outage
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::DatabaseOutage);
    config.users = 30;
    config.duration = Duration::from_secs(8);
    config.sides = Some(vec![Side::Stateless, Side::Database]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    if let Some(database) = report.side(Side::Database) {
        let f = &database.findings;
        println!(
            "PostgreSQL was away {} ms: the database side answered 503 {} times, its failures ended {} ms \
             after PostgreSQL was back, and {} users were logged out.",
            f["outage_ms"], f["answers_503"], f["failures_end_ms_after_database_up"], database.users_logged_out
        );
    }
    println!("\n{}", output::table(&report));
    for note in &report.notes {
        println!("{note}");
    }
    ExitCode::SUCCESS
}
