//! scale-out: a node joins mid-run. Sticky routing gives it only users that
//! log in afterwards; the stateless twin gives it its share at once.

use crate::common;
use harness::{Side, scenario};

#[test]
fn a_new_node_gets_only_new_sticky_users_but_a_full_stateless_share() {
    let report = common::run(&scenario::ScaleOut, 40, 5);

    let stateful = common::side(&report, Side::Stateful);
    assert_eq!(common::number(stateful, "earlier_users_served_by_new_node"), 0.0);
    assert!(common::number(stateful, "users_arrived_after_join") > 0.0);
    assert!(common::number(stateful, "logins_on_new_node") > 0.0, "{:?}", stateful.findings);
    let shares = &stateful.findings["share_after_join"];
    let new_node = stateful.findings["new_node"].as_str().unwrap();
    let new_share = shares[new_node].as_f64().unwrap();
    for (node, share) in shares.as_object().unwrap() {
        if node != new_node {
            assert!(share.as_f64().unwrap() > new_share, "old node {node} should stay more loaded: {shares}");
        }
    }

    let stateless = common::side(&report, Side::Stateless);
    let new_node = stateless.findings["new_node"].as_str().unwrap();
    let share = stateless.findings["share_after_join"][new_node].as_f64().unwrap();
    assert!(share > 0.2, "the new stateless node served {share} of the requests after it joined");
    assert!(common::number(stateless, "earlier_users_served_by_new_node") > 0.0);
    assert!(common::number(stateless, "new_node_first_request_ms_after_join") <= 1000.0);

    for side in [stateful, stateless] {
        assert_eq!(side.users_logged_out, 0, "{}", side.side);
        assert_eq!(side.per_node_requests.len(), 4, "{}", side.side);
    }
}
