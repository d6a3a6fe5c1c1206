//! flood: made-up ids and password-less logins at the generator's full rate
//! beside the usual users. Every made-up id is refused, the users keep
//! their sessions, the nodes' memory stays near its own baseline, and on
//! the Redis twin each made-up id costs exactly one `DEL` (its placeholder)
//! and leaves no key behind.

use crate::common;
use harness::{Side, scenario};

#[test]
fn made_up_ids_are_refused_and_cost_the_redis_store_one_delete_each() {
    let report = common::run_sides(&scenario::Flood, &[Side::Stateless, Side::Token], 24, 6);
    for side in [Side::Stateless, Side::Token] {
        let row = common::side(&report, side);
        assert!(common::number(row, "flood_made_up_requests") > 0.0, "{side}: no flood was sent");
        assert_eq!(common::number(row, "flood_made_up_401_share"), 1.0, "{side}: a made-up id was not refused");
        assert!(common::number(row, "flood_logins") > 0.0, "{side}: no login flood");
        assert_eq!(common::number(row, "flood_failed"), 0.0, "{side}");
        assert_eq!(row.users_logged_out, 0, "{side}: the flood logged a user out");
        assert_eq!(row.carts_lost, 0, "{side}");
        let (first, peak) = (common::number(row, "rss_kib_before_flood"), common::number(row, "rss_kib_peak"));
        assert!(first > 0.0 && peak < 2.0 * first, "{side}: node memory grew from {first} to {peak} KiB");
    }
    let stateless = common::side(&report, Side::Stateless);
    let del = common::number(stateless, "redis_del_per_made_up_id");
    assert!((0.9..=1.1).contains(&del), "one DEL per made-up id expected, measured {del}");
    // The placeholders were deleted: no key per made-up id stays.
    let made_up = common::number(stateless, "flood_made_up_requests");
    let grew =
        common::number(stateless, "redis_keys_after_made_up_ids") - common::number(stateless, "redis_keys_before");
    assert!(grew < made_up / 100.0, "{grew} keys left after {made_up} made-up ids");
    // The login flood is what fills Redis.
    assert!(common::number(stateless, "redis_keys_after_logins") > common::number(stateless, "redis_keys_before"));
}

#[test]
fn a_login_flood_cannot_grow_a_stateful_node_past_its_bound() {
    // One node, so that a second or two of logins at a debug build's rate
    // passes its bound.
    let mut config = harness::Config::new(&scenario::Flood);
    config.nodes = 1;
    config.users = 16;
    config.duration = std::time::Duration::from_secs(12);
    config.sides = Some(vec![Side::Stateful]);
    let report = harness::run_blocking(&config).expect("the flood ran");
    let row = common::side(&report, Side::Stateful);
    let n = |key: &str| common::number(row, key);
    // What the node reports as its bound: the scenario's --max-sessions.
    let bound = n("max_sessions_per_node");
    assert!(bound > 0.0);
    assert!(n("sessions_evicted") > 0.0, "nothing evicted after {} logins", n("flood_logins"));
    assert!(n("sessions_held_after") <= bound, "{} sessions held", n("sessions_held_after"));
    assert_eq!(n("flood_made_up_401_share"), 1.0);
    assert!(n("rss_kib_peak") < 2.0 * n("rss_kib_before_flood"), "the node's memory grew past its bound");
}
