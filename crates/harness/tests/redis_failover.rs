//! redis-failover: the Sentinel-managed primary is SIGKILLed under load.
//! The stateless twin gets 503s until the sentinels promote a replica, then
//! the same nodes serve again, without a restart.

use crate::common;

use harness::metrics::EventKind;
use harness::{Side, scenario};

#[test]
fn after_the_primary_dies_the_stateless_twin_serves_again_without_a_restart() {
    let report = common::run_sides(&scenario::RedisFailover, &[Side::Stateful, Side::Stateless], 24, 6);

    let stateless = common::side(&report, Side::Stateless);
    let promoted = stateless.events.iter().find(|e| e.kind == EventKind::Promoted).expect("a replica was promoted");
    let killed = stateless.events.iter().find(|e| e.kind == EventKind::RedisDown).expect("the primary was killed");
    assert_ne!(promoted.node, killed.node, "the dead primary was named again");
    assert!(common::number(stateless, "answers_503") > 0.0, "the primary died and no request noticed");
    // Served again after the promotion, by the same nodes.
    assert!(common::number(stateless, "requests_ok_after_promotion") > 0.0);
    let last_503 = common::number(stateless, "last_503_ms_after_kill");
    let promoted_after = common::number(stateless, "promoted_ms_after_kill");
    assert!(last_503 < promoted_after + 3000.0, "503s went on {last_503} ms after the kill");

    let stateful = common::side(&report, Side::Stateful);
    assert!(stateful.findings.contains_key("failover_skipped"));
    assert_eq!(stateful.failed_requests, 0);
}

#[test]
fn with_wait_the_nodes_wait_for_a_replica_and_still_serve_again() {
    let mut config = harness::Config::new(&scenario::RedisFailover);
    config.users = 16;
    config.duration = std::time::Duration::from_secs(5);
    config.sides = Some(vec![Side::Stateless]);
    config.redis_wait = Some(std::time::Duration::from_millis(100));
    let report = harness::run_blocking(&config).unwrap_or_else(|e| panic!("redis-failover failed: {e:#}"));

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(common::number(stateless, "redis_wait_ms"), 100.0);
    assert!(stateless.events.iter().any(|e| e.kind == EventKind::Promoted), "no replica was promoted");
    assert!(common::number(stateless, "requests_ok_after_promotion") > 0.0);
}
