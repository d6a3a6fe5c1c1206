//! What a Sentinel failover costs the stateless twin, without and with
//! `WAIT` after each write.
//!
//! The stateless twin runs on a primary, two replicas and three sentinels;
//! a third of the way in, the primary is SIGKILLed. The run is made twice:
//! once as deployed by default (the primary answers before any replica has
//! the write), once with `WAIT 1 100` after every write (the answer waits
//! until one replica has it, or 100 ms passed). Each prints how long users
//! got 503, when the sentinels had promoted a replica, what was lost
//! (users logged out, cart items gone) and the latency the writes paid.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example redis_failover
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, scenario};

fn main() -> ExitCode {
    println!("The Redis primary is SIGKILLed a third of the way in; 100 users, 9 s, stateless side only.\n");
    for wait in [None, Some(Duration::from_millis(100))] {
        let mut config = Config::new(&scenario::RedisFailover);
        config.users = 100;
        config.duration = Duration::from_secs(9);
        config.sides = Some(vec![Side::Stateless]);
        config.redis_wait = wait;
        let report = match harness::run_example(&config) {
            Ok(report) => report,
            Err(code) => return code,
        };
        let Some(side) = report.side(Side::Stateless) else { continue };
        let found = |key: &str| side.findings.get(key).map_or_else(|| "-".to_string(), |v| v.to_string());
        let label = wait.map_or_else(|| "no WAIT".to_string(), |w| format!("WAIT 1 {}", w.as_millis()));
        println!(
            "{label:<12} 503s from {} to {} ms after the kill, promoted at {} ms; {} users logged out, \
             {} cart items lost; latency p50 {:.2} ms, p99 {:.2} ms",
            found("first_503_ms_after_kill"),
            found("last_503_ms_after_kill"),
            found("promoted_ms_after_kill"),
            found("users_logged_out_by_failover"),
            found("cart_items_lost"),
            side.latency_ms.p50,
            side.latency_ms.p99,
        );
    }
    println!("\nOn one machine a replica is a loopback hop behind, so little is lost either way;");
    println!("the window is what a replica further away, or busier, leaves open.");
    ExitCode::SUCCESS
}
