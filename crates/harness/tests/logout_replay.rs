//! logout-replay: after a logout, a copy of the old cookie is refused by the
//! server-side twins and by the token twin with its deny list, and accepted
//! by the token twin without one.

use crate::common;
use harness::{Side, scenario};

#[test]
fn a_captured_cookie_outlives_the_logout_only_on_the_token_twin_without_a_deny_list() {
    let users = 12;
    let report = common::run_sides(&scenario::LogoutReplay, Side::ALL, users, 3);
    assert!(report.notes.iter().any(|n| n.contains("deny list")), "{:?}", report.notes);

    for side in &report.sides {
        // Every user logged out once, and the attacker replayed each copy.
        assert_eq!(common::number(side, "logouts"), users as f64, "{}: {:?}", side.side, side.findings);
        let sent = common::number(side, "replays_sent");
        assert!(sent >= (users * 3) as f64, "{}: only {sent} replays", side.side);
        let accepted = common::number(side, "replays_accepted");
        match side.side {
            Side::Token => {
                assert_eq!(accepted, sent, "token: a replay was refused without a deny list");
                assert_eq!(common::number(side, "sessions_replayed_after_logout"), users as f64);
            }
            _ => assert_eq!(accepted, 0.0, "{}: a logged-out cookie was accepted", side.side),
        }
        // A voluntary logout is not a forced one.
        assert_eq!(side.users_logged_out, 0, "{}", side.side);
        assert_eq!(side.failed_requests, 0, "{}", side.side);
    }
    let names: Vec<_> = report.sides.iter().map(|s| s.side.name()).collect();
    assert_eq!(names, ["stateful", "stateless", "token", "token-revocation"]);
}
