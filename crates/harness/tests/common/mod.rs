//! What the scenario tests share: a small run of the twins, and one private
//! Redis for every run whose scenario leaves Redis alone.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use harness::{Config, Report, Scenario, Side, SideReport};
use local_redis::RedisServer;

/// The Redis the runs share while any of them holds it: started by the
/// first, stopped (and waited for) when the last one lets go, so nothing is
/// left running after the tests.
static SHARED_REDIS: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

/// The shared Redis, started if no run holds it now.
pub fn shared_redis() -> Arc<RedisServer> {
    let mut shared = SHARED_REDIS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(redis) = shared.upgrade() {
        return redis;
    }
    let redis = Arc::new(RedisServer::start().expect("start redis-server"));
    *shared = Arc::downgrade(&redis);
    redis
}

/// Both twins, 3 nodes, `users` users, `seconds` per side, no files written.
pub fn run(scenario: &'static dyn Scenario, users: usize, seconds: u64) -> Report {
    run_sides(scenario, &[Side::Stateful, Side::Stateless], users, seconds)
}

/// `sides`, 3 nodes, `users` users, `seconds` per side, no files written.
/// A scenario that stops or kills Redis gets a Redis of its own; the others
/// share one.
pub fn run_sides(scenario: &'static dyn Scenario, sides: &[Side], users: usize, seconds: u64) -> Report {
    let mut config = Config::new(scenario);
    config.nodes = 3;
    config.users = users;
    config.duration = Duration::from_secs(seconds);
    config.sides = Some(sides.to_vec());
    let redis = (!scenario.stops_redis()).then(shared_redis);
    config.redis_url = redis.as_ref().map(|r| r.url());
    match harness::run_blocking(&config) {
        Ok(report) => report,
        Err(e) => panic!("{scenario} failed: {e:#} (are the server binaries built? `cargo build --workspace --bins`)"),
    }
}

/// The row of `side`.
pub fn side(report: &Report, side: Side) -> &SideReport {
    report.side(side).unwrap_or_else(|| panic!("no {side} row in the report"))
}

/// A finding as a number.
pub fn number(side: &SideReport, key: &str) -> f64 {
    side.findings
        .get(key)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("no numeric finding `{key}` for {}: {:?}", side.side, side.findings))
}
