//! The `logout-everywhere` chart: per side, how many of the users' other
//! devices still had a working session, every 100 ms, with the moment
//! users began logging out everywhere marked. Before it every side sits at
//! the number of users; after it, a side whose logout reaches every
//! session drops to 0, and what stays up is what outlived the logout.
//!
//! It reads the `other_devices_alive` finding (`[t_ms, n]` pairs). One
//! panel per side, on one time axis and one y scale, so that curves that
//! would lie on each other (two sides at 0) stay apart; each side keeps one
//! colour of the Okabe–Ito palette ([`super::draw::colour`]), and its name
//! and count are written over its panel, so nothing depends on colour.

use super::draw::{Svg, colour, text_width, ticks};
use crate::metrics::{BUCKET, EventKind};
use crate::report::{Report, SideReport};
use crate::side::Side;

/// The label of the y axis.
pub const AXIS: &str = "other devices with a working session";
/// The label of the logout's line.
pub const LOGOUT_LABEL: &str = "logout everywhere";

const WIDTH: f64 = 960.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
/// The chart's title.
const HEADER: f64 = 40.0;
/// A panel's title: the side and its count.
const PANEL_TITLE: f64 = 20.0;
const PANEL: f64 = 90.0;
const PANEL_GAP: f64 = 14.0;
/// The time labels and the axis's name under the last panel.
const BOTTOM: f64 = 46.0;

/// The colour of `side`'s bars.
fn colour_of(side: Side) -> &'static str {
    match side {
        Side::Stateful => colour::BLUE,
        Side::Stateless => colour::VERMILLION,
        Side::Database => colour::ORANGE,
        Side::Token => colour::BLUISH_GREEN,
        Side::TokenRevocation => colour::REDDISH_PURPLE,
    }
}

/// The `[t_ms, n]` pairs of `side`'s curve.
fn curve(side: &SideReport) -> Vec<(u64, u64)> {
    let pairs = side.findings.get("other_devices_alive").and_then(|v| v.as_array());
    pairs.into_iter().flatten().filter_map(|p| Some((p.get(0)?.as_u64()?, p.get(1)?.as_u64()?))).collect()
}

/// What a panel says of its side: how many of its other devices outlived
/// the logout.
pub fn panel_text(side: &SideReport) -> String {
    let number = |key: &str| side.findings.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    format!("{} of {} outlived the logout", number("sessions_outliving_logout"), number("other_devices"))
}

/// The chart of a `logout-everywhere` report.
pub fn chart(report: &Report) -> String {
    let panels = report.sides.len().max(1);
    let lane = PANEL_TITLE + PANEL + PANEL_GAP;
    let height = HEADER + panels as f64 * lane + BOTTOM;
    let title = format!("{}: other devices' sessions still working, per side", report.scenario);
    let mut svg = Svg::new(WIDTH, height, &title);
    svg.text(LEFT, 22.0, &title, r#"font-size="15" font-weight="bold""#);

    let duration_ms = report.duration_ms.max(1);
    let x = |t_ms: u64| LEFT + t_ms.min(duration_ms) as f64 / duration_ms as f64 * PLOT_W;
    let curves: Vec<Vec<(u64, u64)>> = report.sides.iter().map(curve).collect();
    let peak = curves.iter().flat_map(|c| c.iter().map(|p| p.1)).max().unwrap_or(0);
    let scale = ticks(peak as f64, 2, 1.0);
    let max = scale.last().copied().filter(|m| *m > 0.0).unwrap_or(1.0);
    let small = format!(r#"text-anchor="end" font-size="10" fill="{}""#, colour::AXIS);
    let width = BUCKET.as_millis() as u64;
    let logout = report.sides.iter().flat_map(|s| &s.events).find(|e| e.kind == EventKind::LogoutEverywhere);
    let first_top = HEADER + PANEL_TITLE;
    let last_base = HEADER + (panels - 1) as f64 * lane + PANEL_TITLE + PANEL;

    for (i, (side, points)) in report.sides.iter().zip(&curves).enumerate() {
        let top = HEADER + i as f64 * lane + PANEL_TITLE;
        let base = top + PANEL;
        let y = |n: f64| base - n / max * PANEL;
        svg.bold_then_plain(LEFT, top - 6.0, side.side.name(), &format!("({})", side.routing), r#"font-size="13""#);
        svg.text(LEFT + PLOT_W, top - 6.0, &panel_text(side), r#"text-anchor="end" font-weight="bold""#);
        for &value in &scale {
            svg.line((LEFT, y(value)), (LEFT + PLOT_W, y(value)), colour::GRID, "");
            svg.line((LEFT - 3.0, y(value)), (LEFT, y(value)), colour::AXIS, "");
            svg.text(LEFT - 5.0, y(value) + 3.5, &format!("{value}"), &small);
        }
        // Each count holds for its 100 ms: a bar per slice, touching.
        let fill = colour_of(side.side);
        for &(t, n) in points.iter().filter(|p| p.1 > 0) {
            let left = x(t);
            svg.rect(left, y(n as f64), x(t + width) - left + 0.6, n as f64 / max * PANEL, fill, None);
        }
        svg.line((LEFT, top), (LEFT, base), colour::AXIS, "");
        svg.line((LEFT, base), (LEFT + PLOT_W, base), colour::AXIS, "");
    }
    svg.vertical_text(LEFT - 48.0, (first_top + last_base) / 2.0, AXIS);

    // The time axis, under the last panel.
    let seconds = duration_ms as f64 / 1000.0;
    let step = [1u64, 2, 5, 10, 15, 30, 60, 120, 300, 600]
        .into_iter()
        .find(|step| PLOT_W / seconds * *step as f64 >= 40.0)
        .unwrap_or(600);
    let middle = format!(r#"text-anchor="middle" font-size="11" fill="{}""#, colour::AXIS);
    for s in (0..).step_by(step as usize).take_while(|s| s * 1000 <= duration_ms) {
        svg.line((x(s * 1000), last_base), (x(s * 1000), last_base + 3.0), colour::AXIS, "");
        svg.text(x(s * 1000), last_base + 15.0, &format!("{s}s"), &middle);
    }
    svg.text(LEFT + PLOT_W / 2.0, last_base + 36.0, "seconds since the side started", &middle);

    // The logout, where the script marked it (every side runs it at the
    // same time on its own clock), across every panel.
    if let Some(event) = logout {
        let at = x(event.t_ms);
        svg.line((at, first_top - 16.0), (at, last_base), "black", "4,3");
        let label_width = text_width(LOGOUT_LABEL, 11.0);
        let label_x = if at + 4.0 + label_width <= LEFT + PLOT_W { at + 4.0 } else { at - 4.0 - label_width };
        svg.text(label_x, first_top - 20.0, LOGOUT_LABEL, r#"font-size="11""#);
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::config::Lb;
    use crate::metrics::{Event, Latency};
    use crate::router::Policy;

    fn side(side: Side, routing: Policy, survivors: u64, others: u64) -> SideReport {
        let curve: Vec<[u64; 2]> = (0..40).map(|i| [i * 100, if i < 16 { others } else { survivors }]).collect();
        let mut findings = BTreeMap::new();
        findings.insert("other_devices_alive".to_string(), json!(curve));
        findings.insert("sessions_outliving_logout".to_string(), json!(survivors));
        findings.insert("other_devices".to_string(), json!(others));
        SideReport {
            side,
            invalid: None,
            routing,
            nodes: 3,
            users: others as usize,
            requests: 0,
            failed_requests: 0,
            unauthorized: 0,
            users_logged_out: 0,
            carts_lost: 0,
            per_node_requests: BTreeMap::new(),
            per_node_per_second: BTreeMap::new(),
            latency_ms: Latency::default(),
            timeline: Vec::new(),
            events: vec![Event { t_ms: 1600, kind: EventKind::LogoutEverywhere, node: "users".into() }],
            forced_logouts: 0,
            cart_loss_events: 0,
            logins: 0,
            service_unavailable: 0,
            other_client_errors: 0,
            per_node_logins: BTreeMap::new(),
            findings,
            logouts: Vec::new(),
            lb: Lb::Harness,
            lb_balance: None,
            lb_config: None,
            lb_per_node_requests: None,
            lb_redispatched: BTreeMap::new(),
            lb_status_changes: Vec::new(),
            kinds: Default::default(),
        }
    }

    #[test]
    fn every_side_has_a_panel_on_one_scale_and_the_logout_is_marked() {
        let report = Report {
            scenario: "logout-everywhere".into(),
            seed: 1,
            duration_ms: 4000,
            sides: vec![
                side(Side::Stateful, Policy::Sticky, 7, 12),
                side(Side::Stateless, Policy::RoundRobin, 0, 12),
                side(Side::Token, Policy::RoundRobin, 12, 12),
            ],
            notes: Vec::new(),
            chart: None,
            more_charts: Vec::new(),
            json: None,
        };
        let drawn = chart(&report);
        let document = roxmltree::Document::parse(&drawn).expect("well-formed SVG");
        let texts: Vec<String> = document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect())
            .collect();
        let count = |wanted: &str| texts.iter().filter(|t| *t == wanted).count();
        for once in [AXIS, LOGOUT_LABEL, "seconds since the side started", "0s", "4s"] {
            assert_eq!(count(once), 1, "`{once}`: {texts:?}");
        }
        for (name, counted) in [
            ("stateful (sticky)", "7 of 12 outlived the logout"),
            ("stateless (round-robin)", "0 of 12 outlived the logout"),
            ("token (round-robin)", "12 of 12 outlived the logout"),
        ] {
            assert_eq!(count(name), 1, "no panel for `{name}`: {texts:?}");
            assert_eq!(count(counted), 1, "no `{counted}`: {texts:?}");
        }
        // The same y scale on every panel.
        for tick in ["0", "10", "20"] {
            assert_eq!(count(tick), 3, "tick `{tick}`: {texts:?}");
        }
        // A bar per slice with anyone still working: 40 on the token side,
        // 16 before the logout on the stateless side, 40 on the stateful.
        let bars = |side: Side| {
            document
                .descendants()
                .filter(|n| {
                    n.has_tag_name("rect")
                        && n.attribute("fill") == Some(colour_of(side))
                        && n.parent().is_some_and(|p| !p.has_tag_name("pattern"))
                })
                .count()
        };
        assert_eq!((bars(Side::Stateful), bars(Side::Stateless), bars(Side::Token)), (40, 16, 40));
    }
}
