//! redis-outage: while Redis is away the stateless twin answers 503; when it
//! is back (with its data) every session is still there. The stateful twin
//! does not notice, nor does the token twin without its deny list: it uses
//! no Redis at all.

use crate::common;
use harness::metrics::EventKind;
use harness::{Side, scenario};

#[test]
fn the_stateless_twin_fails_while_redis_is_away_and_recovers_without_losing_sessions() {
    let report = common::run_sides(&scenario::RedisOutage, &[Side::Stateful, Side::Stateless, Side::Token], 24, 6);
    assert!(report.notes.iter().any(|n| n.contains("single point of failure")), "{:?}", report.notes);

    let stateless = common::side(&report, Side::Stateless);
    let up = stateless.events.iter().find(|e| e.kind == EventKind::RedisUp).expect("redis came back").t_ms;
    assert!(stateless.service_unavailable > 0, "no 503 while Redis was away");
    assert_eq!(stateless.users_logged_out, 0, "a session was lost");
    assert_eq!(stateless.carts_lost, 0);
    // Recovered by itself: answers again soon after Redis is back, and no
    // failure in the rest of the run.
    let after: Vec<_> = stateless.timeline.iter().filter(|b| b.t_ms >= up + 1500).collect();
    assert!(!after.is_empty() && after.iter().all(|b| b.failed == 0), "still failing after Redis came back");
    assert!(after.iter().map(|b| b.ok).sum::<u64>() > 0);

    for side in [Side::Stateful, Side::Token] {
        let side = common::side(&report, side);
        assert_eq!(side.failed_requests, 0, "{}", side.side);
        assert_eq!(side.users_logged_out, 0, "{}", side.side);
        assert_eq!(side.carts_lost, 0, "{}", side.side);
    }
    // The outage happened on the token side's clock as well: it just did
    // not matter.
    assert!(common::side(&report, Side::Token).events.iter().any(|e| e.kind == EventKind::RedisDown));
}
