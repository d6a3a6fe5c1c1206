//! rolling-restart: restarting every node in turn, as a deploy does, logs
//! every stateful user out at least once, and no user of the Redis or token
//! twin.

use crate::common;
use harness::metrics::EventKind;
use harness::{Side, scenario};

#[test]
fn a_deploy_logs_out_every_stateful_user_and_no_stateless_one() {
    let report = common::run_sides(&scenario::RollingRestart, &[Side::Stateful, Side::Stateless, Side::Token], 24, 4);

    let stateful = common::side(&report, Side::Stateful);
    assert_eq!(stateful.users_logged_out, stateful.users, "{:?}", stateful.findings);
    assert_eq!(common::number(stateful, "users_never_logged_out"), 0.0);

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.users_logged_out, 0);
    assert_eq!(stateless.carts_lost, 0);

    // Restarted token nodes come back with the same key (from the run).
    let token = common::side(&report, Side::Token);
    assert_eq!(token.users_logged_out, 0, "{:?}", token.logouts);
    assert_eq!(token.carts_lost, 0);

    for side in [stateful, stateless, token] {
        assert_eq!(side.events.iter().filter(|e| e.kind == EventKind::Restart).count(), 3, "{}", side.side);
        assert_eq!(side.events.iter().filter(|e| e.kind == EventKind::Start).count(), 3, "{}", side.side);
        // Restarted nodes came back on their port and served again.
        assert_eq!(side.per_node_requests.len(), 3, "{}", side.side);
    }
}
