//! What each Redis persistence choice loses when Redis crashes.
//!
//! The stateless twin keeps every session in Redis, so a Redis that dies
//! and comes back empty logs out every user at once, where the stateful twin
//! would only lose the users of one dead node. This runs the `redis-crash`
//! scenario once per persistence mode (none, snapshot, aof-everysec,
//! aof-always): the harness's private Redis is SIGKILLed a third of the way
//! in and restarted at once, and one line per mode says how many stateless
//! users were logged out and how many carts were lost (the stateful side,
//! which does not use Redis, is shown beside it).
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example redis_crash
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Persistence, Side, scenario};

fn main() -> ExitCode {
    println!("Redis is killed (SIGKILL) a third of the way in and restarted at once; 60 users, 6 s per side.\n");
    for &persistence in Persistence::ALL {
        let mut config = Config::new(&scenario::RedisCrash);
        config.users = 60;
        config.duration = Duration::from_secs(6);
        config.sides = Some(vec![Side::Stateful, Side::Stateless]);
        config.redis_persistence = Some(persistence);
        let report = match harness::run_example(&config) {
            Ok(report) => report,
            Err(code) => return code,
        };
        let line = |side: Side| {
            report.side(side).map_or_else(
                || "-".to_string(),
                |s| {
                    let logged_in = s.findings.get("users_logged_in_at_crash").cloned().unwrap_or_default();
                    format!("{} of {logged_in} logged out, {} carts lost", s.users_logged_out, s.carts_lost)
                },
            )
        };
        println!(
            "{:<13} stateless: {:<38} stateful: {}",
            persistence.name(),
            line(Side::Stateless),
            line(Side::Stateful)
        );
    }
    println!("\nnone and snapshot (no clean shutdown, so no snapshot) lose every session at once;");
    println!("an append-only file keeps them: a killed process loses what it had not yet written,");
    println!("aof-everysec can lose the last second or two only when the machine itself goes down.");
    ExitCode::SUCCESS
}
