//! logout-everywhere: a user on two devices ends every session from one.
//! The Redis twin and the token twin with its deny list end the other
//! device's session too; the token twin without one cannot (501) and every
//! other session survives; the RAM twin ends only the sessions of the node
//! that answered, so exactly the other devices pinned elsewhere survive.

use crate::common;
use harness::{Scenario, Side, scenario};

#[test]
fn log_out_everywhere_reaches_every_session_only_where_sessions_are_shared() {
    let users = 12;
    let report = common::run_sides(&scenario::LogoutEverywhere, scenario::LogoutEverywhere.default_sides(), users, 4);
    let names: Vec<_> = report.sides.iter().map(|s| s.side.name()).collect();
    assert_eq!(names, ["stateful", "stateless", "token", "token-revocation"]);
    let all = users as f64;

    for side in &report.sides {
        let number = |key: &str| common::number(side, key);
        // The findings without the chart's series, for the messages.
        let scalars: Vec<_> = side.findings.iter().filter(|(_, v)| !v.is_array()).collect();
        let what = format!("{}: {scalars:?}", side.side);
        // Every user's logout was answered, and each had its other device logged in.
        assert_eq!(number("logouts_everywhere") + number("logouts_refused"), all, "{what}");
        assert_eq!(number("other_devices"), all, "{what}");
        let survivors = number("sessions_outliving_logout");
        assert!(survivors <= all, "{what}");
        assert_eq!(side.failed_requests, 0, "{what}");
        assert_eq!(side.other_client_errors, 0, "{what}");
        match side.side {
            Side::Stateless | Side::TokenRevocation => {
                assert_eq!(side.findings["logout_statuses"], format!("204: {users}"), "{what}");
                assert_eq!(survivors, 0.0, "{what}");
                assert_eq!(number("last_survivor_s"), 0.0, "{what}");
                assert_eq!(side.findings["logout_reach"], "everywhere", "{what}");
                // The other device's next request got a 401: every user was logged out there.
                assert_eq!(side.users_logged_out, users, "{what}");
            }
            Side::Token => {
                assert_eq!(side.findings["logout_statuses"], format!("501: {users}"), "{what}");
                assert_eq!(survivors, all, "{what}");
                assert_eq!(number("survivors_alive_at_end"), all, "{what}");
                assert_eq!(side.findings["survivor_outcome"], "still alive at the end", "{what}");
                assert!(number("last_survivor_s") > 0.0, "{what}");
                assert_eq!(side.users_logged_out, 0, "{what}");
            }
            Side::Stateful => {
                // With 3 nodes and two devices pinned on their own, some
                // users' devices land on different nodes; exactly those survive.
                assert!(survivors >= 1.0, "{what}");
                assert_eq!(survivors, number("other_devices_on_another_node"), "{what}");
                assert_eq!(side.findings["logout_reach"], "node", "{what}");
                // The node ended the asking device's session and the other
                // one when it held it too.
                assert_eq!(number("ended_reported"), 2.0 * all - survivors, "{what}");
                assert_eq!(side.users_logged_out as f64, all - survivors, "{what}");
            }
            other => panic!("unexpected side {other}"),
        }
    }
    // Redis lists both devices' sessions; the token twin only the caller's.
    assert_eq!(common::number(common::side(&report, Side::Stateless), "sessions_listed_mean"), 2.0);
    assert_eq!(common::number(common::side(&report, Side::Stateless), "ended_reported"), 2.0 * all);
    assert_eq!(common::number(common::side(&report, Side::Token), "sessions_listed_mean"), 1.0);

    // The scenario's own chart: a panel per side, with its count.
    let svg = scenario::LogoutEverywhere.chart(&report).expect("the scenario draws its chart");
    let document = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let texts: Vec<String> = document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect())
        .collect();
    assert!(texts.iter().any(|t| t == harness::output::survivors::AXIS), "{texts:?}");
    for side in &report.sides {
        let counted = format!("{} of {users} outlived the logout", common::number(side, "sessions_outliving_logout"));
        assert_eq!(harness::output::survivors::panel_text(side), counted);
        for wanted in [format!("{} ({})", side.side, side.routing), counted] {
            assert!(texts.contains(&wanted), "no `{wanted}`: {texts:?}");
        }
    }
}
