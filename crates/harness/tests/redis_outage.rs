//! redis-outage: while Redis is away the stateless twin answers 503; when it
//! is back (with its data) every session is still there. The stateful twin
//! does not notice.

mod common;

use harness::{Scenario, Side};

#[test]
fn the_stateless_twin_fails_while_redis_is_away_and_recovers_without_losing_sessions() {
    let report = common::run(Scenario::RedisOutage, 24, 6);
    assert!(report.notes.iter().any(|n| n.contains("single point of failure")), "{:?}", report.notes);

    let stateless = common::side(&report, Side::Stateless);
    let up = stateless.events.iter().find(|e| e.kind == "redis-up").expect("redis came back").t_ms;
    assert!(stateless.service_unavailable > 0, "no 503 while Redis was away");
    assert_eq!(stateless.users_logged_out, 0, "a session was lost");
    assert_eq!(stateless.carts_lost, 0);
    // Recovered by itself: answers again soon after Redis is back, and no
    // failure in the rest of the run.
    let after: Vec<_> = stateless.timeline.iter().filter(|b| b.t_ms >= up + 1500).collect();
    assert!(!after.is_empty() && after.iter().all(|b| b.failed == 0), "still failing after Redis came back");
    assert!(after.iter().map(|b| b.ok).sum::<u64>() > 0);

    let stateful = common::side(&report, Side::Stateful);
    assert_eq!(stateful.failed_requests, 0);
    assert_eq!(stateful.users_logged_out, 0);
}
