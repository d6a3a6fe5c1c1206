//! The `logout-everywhere` chart: per side, how many of the users' other
//! devices still had a working session, every 100 ms, with the moment
//! users began logging out everywhere marked. Before it every side's curve
//! sits at the number of users; after it, a side whose logout reaches every
//! session drops to 0, and what stays up is what outlived the logout.
//!
//! It reads the `other_devices_alive` finding (`[t_ms, n]` pairs), drawn as
//! steps. Each side keeps one colour of the Okabe–Ito palette
//! ([`super::draw::colour`]) and a dash pattern of its own, so curves that
//! lie on each other (two sides at 0) still read apart, in grey too.

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
const TOP_TITLE: f64 = 30.0;
const LEGEND_ROW: f64 = 18.0;
const PLOT_H: f64 = 260.0;
const BOTTOM: f64 = 48.0;

/// Colour and dash pattern of `side`'s curve.
fn pen(side: Side) -> (&'static str, &'static str) {
    match side {
        Side::Stateful => (colour::BLUE, ""),
        Side::Stateless => (colour::VERMILLION, "9,4"),
        Side::Database => (colour::ORANGE, "5,3"),
        Side::Token => (colour::BLUISH_GREEN, "2,3"),
        Side::TokenRevocation => (colour::REDDISH_PURPLE, "11,3,2,3"),
    }
}

/// The `[t_ms, n]` pairs of `side`'s curve.
fn curve(side: &SideReport) -> Vec<(u64, u64)> {
    let pairs = side.findings.get("other_devices_alive").and_then(|v| v.as_array());
    pairs.into_iter().flatten().filter_map(|p| Some((p.get(0)?.as_u64()?, p.get(1)?.as_u64()?))).collect()
}

/// What the legend says of `side`: how many of its other devices outlived
/// the logout.
fn legend_text(side: &SideReport) -> String {
    let number = |key: &str| side.findings.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
    format!(
        "{} ({}): {} of {} outlived the logout",
        side.side,
        side.routing,
        number("sessions_outliving_logout"),
        number("other_devices")
    )
}

/// The chart of a `logout-everywhere` report.
pub fn chart(report: &Report) -> String {
    let per_row = 2;
    let legend_rows = report.sides.len().div_ceil(per_row).max(1);
    let plot_top = TOP_TITLE + legend_rows as f64 * LEGEND_ROW + 22.0;
    let height = plot_top + PLOT_H + BOTTOM;
    let title = format!("{}: other devices' sessions still working, per side", report.scenario);
    let mut svg = Svg::new(WIDTH, height, &title);
    svg.text(LEFT, 20.0, &title, r#"font-size="15" font-weight="bold""#);
    for (i, side) in report.sides.iter().enumerate() {
        let (stroke, dash) = pen(side.side);
        let x = LEFT + (i % per_row) as f64 * (PLOT_W / per_row as f64);
        let y = TOP_TITLE + 14.0 + (i / per_row) as f64 * LEGEND_ROW;
        svg.polyline(&[(x, y - 4.0), (x + 30.0, y - 4.0)], stroke, 2.5, dash);
        svg.text(x + 36.0, y, &legend_text(side), "");
    }

    let duration_ms = report.duration_ms.max(1);
    let x = |t_ms: u64| LEFT + t_ms.min(duration_ms) as f64 / duration_ms as f64 * PLOT_W;
    let curves: Vec<(Side, Vec<(u64, u64)>)> = report.sides.iter().map(|s| (s.side, curve(s))).collect();
    let peak = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)).max().unwrap_or(0);
    let scale = ticks(peak as f64, 5, 1.0);
    let max = scale.last().copied().filter(|m| *m > 0.0).unwrap_or(1.0);
    let y = |n: f64| plot_top + PLOT_H - n / max * PLOT_H;
    let base = plot_top + PLOT_H;

    // The y axis: grid, ticks, their values, its name.
    let small = format!(r#"text-anchor="end" font-size="10" fill="{}""#, colour::AXIS);
    for &value in &scale {
        svg.line((LEFT, y(value)), (LEFT + PLOT_W, y(value)), colour::GRID, "");
        svg.line((LEFT - 3.0, y(value)), (LEFT, y(value)), colour::AXIS, "");
        svg.text(LEFT - 5.0, y(value) + 3.5, &format!("{value}"), &small);
    }
    svg.line((LEFT, plot_top), (LEFT, base), colour::AXIS, "");
    svg.vertical_text(LEFT - 48.0, plot_top + PLOT_H / 2.0, AXIS);
    // The time axis.
    svg.line((LEFT, base), (LEFT + PLOT_W, base), colour::AXIS, "");
    let seconds = duration_ms as f64 / 1000.0;
    let step = [1u64, 2, 5, 10, 15, 30, 60, 120, 300, 600]
        .into_iter()
        .find(|step| PLOT_W / seconds * *step as f64 >= 40.0)
        .unwrap_or(600);
    let middle = format!(r#"text-anchor="middle" font-size="11" fill="{}""#, colour::AXIS);
    for s in (0..).step_by(step as usize).take_while(|s| s * 1000 <= duration_ms) {
        svg.line((x(s * 1000), base), (x(s * 1000), base + 3.0), colour::AXIS, "");
        svg.text(x(s * 1000), base + 15.0, &format!("{s}s"), &middle);
    }
    svg.text(LEFT + PLOT_W / 2.0, base + 36.0, "seconds since the side started", &middle);

    // The logout, where the first side's script marked it (every side runs
    // it at the same time on its own clock).
    let logout = report.sides.iter().flat_map(|s| &s.events).find(|e| e.kind == EventKind::LogoutEverywhere);
    if let Some(event) = logout {
        let at = x(event.t_ms);
        svg.line((at, plot_top - 4.0), (at, base), "black", "4,3");
        let label_x = match at + 4.0 + text_width(LOGOUT_LABEL, 11.0) <= LEFT + PLOT_W {
            true => at + 4.0,
            false => at - 4.0 - text_width(LOGOUT_LABEL, 11.0),
        };
        svg.text(label_x, plot_top + 8.0, LOGOUT_LABEL, r#"font-size="11""#);
    }

    // The curves, as steps: each count holds for its 100 ms.
    let width = BUCKET.as_millis() as u64;
    for (side, points) in &curves {
        if points.is_empty() {
            continue;
        }
        let (stroke, dash) = pen(*side);
        let steps: Vec<(f64, f64)> =
            points.iter().flat_map(|&(t, n)| [(x(t), y(n as f64)), (x(t + width), y(n as f64))]).collect();
        svg.polyline(&steps, stroke, 2.5, dash);
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
    fn every_side_has_a_curve_a_legend_entry_and_the_logout_is_marked() {
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
        let has = |wanted: &str| texts.iter().any(|t| t == wanted);
        assert!(has(AXIS) && has(LOGOUT_LABEL) && has("seconds since the side started"), "{texts:?}");
        for wanted in [
            "stateful (sticky): 7 of 12 outlived the logout",
            "stateless (round-robin): 0 of 12 outlived the logout",
            "token (round-robin): 12 of 12 outlived the logout",
        ] {
            assert!(has(wanted), "no `{wanted}`: {texts:?}");
        }
        for tick in ["0", "5", "10", "15", "0s", "4s"] {
            assert!(has(tick), "no tick `{tick}`: {texts:?}");
        }
        // Three legend swatches and three curves, each side in its own pen.
        let lines: Vec<_> = document.descendants().filter(|n| n.has_tag_name("polyline")).collect();
        assert_eq!(lines.len(), 6);
        let pens: std::collections::HashSet<_> =
            lines.iter().map(|l| (l.attribute("stroke"), l.attribute("stroke-dasharray"))).collect();
        assert_eq!(pens.len(), 3, "a colour and a dash per side");
    }
}
