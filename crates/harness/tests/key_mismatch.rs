//! key-mismatch: token nodes that do not share a key log users out under
//! round-robin just as the stateful twin without stickiness does; the same
//! token twin with one shared key (every other scenario) logs out nobody.

use crate::common;
use harness::{Policy, Side, scenario};

#[test]
fn token_nodes_without_a_shared_key_log_users_out_like_ram_sessions_without_stickiness() {
    let report = common::run_sides(&scenario::KeyMismatch, &[Side::Stateful, Side::Token], 18, 3);
    assert!(report.notes.iter().any(|n| n.contains("shared")), "{:?}", report.notes);

    let stateful = common::side(&report, Side::Stateful);
    let token = common::side(&report, Side::Token);
    for side in [stateful, token] {
        assert_eq!(side.routing, Policy::RoundRobin);
        assert_eq!(side.users_logged_out, side.users, "{}", side.side);
        assert!(common::number(side, "unauthorized_share") > 0.5, "{}: {:?}", side.side, side.findings);
        assert_eq!(side.failed_requests, 0);
    }
    // Same failure, same size: on 3 nodes, a session is readable on 1 of 3.
    let gap = (common::number(stateful, "unauthorized_share") - common::number(token, "unauthorized_share")).abs();
    assert!(gap < 0.15, "stateful {:?} vs token {:?}", stateful.findings, token.findings);
}
