//! node-death: a SIGKILLed node takes its stateful users' sessions with it;
//! users of the Redis and token twins do not notice beyond a failed request
//! or two.

use crate::common;
use harness::metrics::EventKind;
use harness::{Side, scenario};

#[test]
fn a_dead_node_logs_out_its_stateful_users_and_no_stateless_one() {
    let users = 36;
    let report = common::run_sides(&scenario::NodeDeath, &[Side::Stateful, Side::Stateless, Side::Token], users, 4);

    let stateful = common::side(&report, Side::Stateful);
    let on_dead_node = common::number(stateful, "users_logged_in_on_killed_node") as usize;
    // About users/nodes lived on the node that died…
    assert!((users / 6..=users / 2).contains(&on_dead_node), "{on_dead_node} users on the killed node");
    // … and exactly those were logged out, with their carts.
    assert_eq!(stateful.users_logged_out, on_dead_node, "{stateful:#?}");
    assert!(stateful.carts_lost > 0 && stateful.carts_lost <= stateful.users_logged_out);
    assert!(stateful.events.iter().any(|e| e.kind == EventKind::Kill));

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.users_logged_out, 0);
    assert_eq!(stateless.carts_lost, 0);
    assert_eq!(stateless.unauthorized, 0);

    // Any token node holding the shared key serves any user.
    let token = common::side(&report, Side::Token);
    assert_eq!(token.users_logged_out, 0, "{token:#?}");
    assert_eq!(token.carts_lost, 0);
    assert_eq!(token.unauthorized, 0);
    // The whole session rides in the cookie: far bigger than an id.
    assert!(common::number(token, "sid_cookie_bytes_max") > 4.0 * common::number(stateless, "sid_cookie_bytes_max"));

    for side in [stateful, stateless, token] {
        assert_eq!(common::number(side, "failed_away_from_kill"), 0.0, "{} failed away from the kill", side.side);
        assert!(side.requests > users as u64 * 10, "{} sent too few requests to mean anything", side.side);
        assert_eq!(side.other_client_errors, 0);
        // The dead node served requests before the kill and none after.
        assert_eq!(side.per_node_requests.len(), 3);
    }
}
