//! round-robin: without stickiness, a RAM session is only on one node of
//! three, so most requests after login find no session.

use crate::common;
use harness::{Policy, Side, scenario};

#[test]
fn without_stickiness_the_stateful_twin_answers_mostly_401() {
    let report = common::run(&scenario::RoundRobin, 24, 3);

    let stateful = common::side(&report, Side::Stateful);
    assert_eq!(stateful.routing, Policy::RoundRobin);
    assert!(common::number(stateful, "unauthorized_share") > 0.5, "{:?}", stateful.findings);
    assert_eq!(stateful.users_logged_out, stateful.users);

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.routing, Policy::RoundRobin);
    assert_eq!(stateless.unauthorized, 0);
    assert_eq!(stateless.users_logged_out, 0);
    assert_eq!(stateless.carts_lost, 0);
    // Round-robin really spread the load: every node served about a third.
    let total: u64 = stateless.per_node_requests.values().sum();
    for (node, &count) in &stateless.per_node_requests {
        assert!(count * 4 > total, "{node} served {count} of {total}");
    }
}
