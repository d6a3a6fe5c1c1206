//! concurrent-cart: two cart adds sent at once with one cookie. The RAM and
//! Redis twins apply both; the token twin answers both with a cookie of its
//! own and the client can keep only one, so one add of the two is lost.

use crate::common;
use harness::{Side, scenario};

#[test]
fn the_token_twin_loses_one_of_two_concurrent_adds_and_the_stores_lose_none() {
    let report = common::run_sides(&scenario::ConcurrentCart, &[Side::Stateful, Side::Stateless, Side::Token], 12, 3);

    for side in &report.sides {
        // Adds answered 200 and then checked by the next cart read.
        let checked = common::number(side, "concurrent_adds_checked");
        assert!(checked >= 12.0 * 2.0 * 3.0, "{}: only {checked} adds", side.side);
        let lost = common::number(side, "concurrent_adds_lost");
        match side.side {
            // Both requests start from the same token; the one the client
            // keeps holds only its own add: one of every two is lost.
            Side::Token => {
                // (A pair whose other half got no answer loses nothing.)
                let pairs_cut_short = side.failed_requests as f64;
                assert!(lost <= checked / 2.0, "token lost {lost} of {checked}: more than one per pair");
                assert!(lost >= checked / 2.0 - pairs_cut_short, "token lost only {lost} of {checked}");
                assert!(side.carts_lost > 0);
            }
            _ => {
                assert_eq!(lost, 0.0, "{}: an acknowledged add went missing", side.side);
                assert_eq!(side.carts_lost, 0, "{}", side.side);
            }
        }
        assert_eq!(side.users_logged_out, 0, "{}", side.side);
        assert_eq!(side.other_client_errors, 0, "{}", side.side);
    }
}
