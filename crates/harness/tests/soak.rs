//! soak, a few seconds of it: session churn with a one-second TTL on every
//! twin. Memory levels off while the churn goes on, and once it stops the
//! sessions that expired are freed: the RAM store's session count and
//! Redis's key count fall back to what the users still playing hold.

use crate::common;
use harness::{Side, scenario};

#[test]
fn under_churn_memory_levels_off_and_expired_sessions_are_freed() {
    let sides = [Side::Stateful, Side::Stateless, Side::Token];
    let report = common::run_sides(&scenario::Soak, &sides, 16, 10);
    for side in sides {
        let row = common::side(&report, side);
        let n = |key: &str| common::number(row, key);
        assert!(n("churn_sessions") > 50.0, "{side}: too little churn to show a trend");
        assert!(n("churn_logouts") > 0.0 && n("churn_went_idle") > 0.0, "{side}");
        assert_eq!(n("churn_failed"), 0.0, "{side}");
        assert!(n("rss_late_over_middle") < 1.25, "{side}: memory still climbing: {}", n("rss_late_over_middle"));
        assert_eq!(row.users_logged_out, 0, "{side}: an active user's session expired");
    }
    // The RAM store's count (from /healthz) and Redis's keys rise with the
    // churn and fall back once it stops.
    for (side, count) in [(Side::Stateful, "node_sessions"), (Side::Stateless, "redis_keys")] {
        let row = common::side(&report, side);
        let n = |moment: &str| common::number(row, &format!("{count}_{moment}"));
        assert!(n("peak") > n("at_churn_start") + 10.0, "{side}: the churn held no sessions");
        assert!(
            n("end") <= n("at_churn_start") + 5.0,
            "{side}: expired sessions were not freed: {} at the end, {} before the churn",
            n("end"),
            n("at_churn_start")
        );
    }
}
