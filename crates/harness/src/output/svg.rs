//! The timeline chart of a run: plain SVG text, no plotting crate needed.
//!
//! One lane per side, all on one time axis and one y scale. Each lane has
//! a panel of requests per 100 ms (ok, 401 after login, failed), two rows
//! under it that mark every slice with any 401 or failure (a handful among
//! hundreds would not show as a bar), and the scenario's events as dashed
//! lines with their labels in rows so that close ones do not overlap.
//! Under that, a strip for what the scenario measures when the report
//! carries its series: each node's share of the requests per second
//! (`per_node_per_second`), concurrent adds checked and lost, or replays
//! of a logged-out cookie sent and accepted (the timeline's own counts).
//! Colours are Okabe–Ito's and every failure class has a pattern of its
//! own ([`super::draw`]), so the chart reads without telling red from green.

use super::draw::{Svg, colour, fill, place_labels, text_width, ticks};
use crate::metrics::{BUCKET, Bucket, Event};
use crate::report::{Report, SideReport};

/// The label of the lanes' y axis.
pub const REQUESTS_AXIS: &str = "requests per 100 ms";
/// The legend's entries, in order.
pub const LEGEND: [&str; 4] = ["ok", "401 after login", "failed (no answer / 5xx)", "what the scenario did"];

const WIDTH: f64 = 960.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const PLOT: f64 = WIDTH - LEFT - RIGHT;
/// Title and legend.
const HEADER: f64 = 60.0;
/// The side's name and its counts.
const LANE_TITLE: f64 = 20.0;
const EVENT_ROW: f64 = 13.0;
const EVENT_FONT: f64 = 11.0;
const MAIN: f64 = 120.0;
/// The time labels under the main panel.
const TIME_AXIS: f64 = 20.0;
/// One row of marks (401, failed).
const MARK_ROW: f64 = 12.0;
const STRIP_TITLE: f64 = 22.0;
const STRIP: f64 = 64.0;
const LANE_GAP: f64 = 22.0;
/// Colours of node 1, 2, …, each of a lightness well apart from its
/// neighbours' (dark blue, sky blue, yellow, bluish green, …), so stacked
/// bands stay apart in greyscale too.
const NODE_COLOURS: [&str; 6] =
    [colour::BLUE, colour::SKY_BLUE, colour::YELLOW, colour::BLUISH_GREEN, colour::REDDISH_PURPLE, colour::ORANGE];

/// The timeline chart of `report`.
pub fn svg(report: &Report) -> String {
    let chart = Chart::new(report);
    let strips: Vec<Strip> = Strip::ALL.into_iter().filter(|s| report.sides.iter().any(|side| s.shows(side))).collect();
    let labels: Vec<Vec<EventLabel>> = report.sides.iter().map(|side| chart.event_labels(&side.events)).collect();
    let rows = labels.iter().flatten().map(|l| l.row + 1).max().unwrap_or(1);
    let lane = LANE_TITLE
        + rows as f64 * EVENT_ROW
        + MAIN
        + TIME_AXIS
        + 2.0 * MARK_ROW
        + strips.len() as f64 * (STRIP_TITLE + STRIP)
        + LANE_GAP;
    let height = HEADER + lane * report.sides.len().max(1) as f64;
    let mut svg = Svg::new(WIDTH, height, &format!("{}: {REQUESTS_AXIS} on each side", report.scenario));
    svg.text(
        LEFT,
        22.0,
        &format!("{}: {REQUESTS_AXIS} on each side", report.scenario),
        r#"font-size="15" font-weight="bold""#,
    );
    let fills: [&[&str]; 4] = [&[colour::SKY_BLUE], &[fill::UNAUTHORIZED], &[fill::FAILED], &[]];
    let mut x = LEFT;
    for (fills, label) in fills.iter().zip(LEGEND) {
        x = svg.legend_entry(x, 44.0, fills, label);
    }

    let peak = report.sides.iter().flat_map(|s| &s.timeline).map(|b| b.ok + b.unauthorized + b.failed).max();
    let scale = ticks(peak.unwrap_or(0) as f64, 5, 1.0);
    for (i, (side, labels)) in report.sides.iter().zip(&labels).enumerate() {
        let top = HEADER + i as f64 * lane;
        let bottom = top + lane - LANE_GAP;
        chart.lane_title(&mut svg, side, top);
        let main_top = top + LANE_TITLE + rows as f64 * EVENT_ROW;
        chart.requests(&mut svg, side, main_top, &scale);
        let mut strip_top = main_top + MAIN + TIME_AXIS + 2.0 * MARK_ROW;
        for strip in &strips {
            chart.strip(&mut svg, *strip, report, side, strip_top);
            strip_top += STRIP_TITLE + STRIP;
        }
        for label in labels {
            let label_top = top + LANE_TITLE + label.row as f64 * EVENT_ROW;
            svg.line((label.line_x, label_top), (label.line_x, bottom), "black", "4,3");
            svg.text(label.text_x, label_top + EVENT_FONT - 1.0, &label.text, r#"font-size="11""#);
        }
    }
    svg.finish()
}

/// A strip under a lane: what the scenario measures beyond requests.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Strip {
    /// Each node's share of the requests per second.
    NodeShares,
    /// Concurrent cart adds checked by a cart read, and lost.
    ConcurrentAdds,
    /// Replays of a logged-out cookie sent, and accepted.
    Replays,
}

/// A count drawn as a grey total with its part hatched over it.
struct Pair {
    title: &'static str,
    axis: &'static str,
    total: &'static str,
    part: &'static str,
    /// The part's name in the strip's sum ("412 of 830 lost").
    part_short: &'static str,
    counts: fn(&Bucket) -> (u64, u64),
}

impl Strip {
    const ALL: [Strip; 3] = [Strip::NodeShares, Strip::ConcurrentAdds, Strip::Replays];

    /// Whether `side`'s report carries this strip's series.
    fn shows(self, side: &SideReport) -> bool {
        match self.pair() {
            None => !side.per_node_per_second.is_empty(),
            Some(pair) => side.timeline.iter().any(|b| (pair.counts)(b).0 > 0),
        }
    }

    fn pair(self) -> Option<Pair> {
        match self {
            Strip::NodeShares => None,
            Strip::ConcurrentAdds => Some(Pair {
                title: "Cart adds sent two at once, per second:",
                axis: "adds / s",
                total: "checked by the next cart read",
                part: "lost (missing from it)",
                part_short: "lost",
                counts: |b| (b.concurrent_adds_checked, b.concurrent_adds_lost),
            }),
            Strip::Replays => Some(Pair {
                title: "Replays of a logged-out cookie, per second:",
                axis: "replays / s",
                total: "sent",
                part: "accepted (the session still worked)",
                part_short: "accepted",
                counts: |b| (b.replays_sent, b.replays_accepted),
            }),
        }
    }
}

/// An event's dashed line and its label's place.
struct EventLabel {
    line_x: f64,
    text_x: f64,
    row: usize,
    text: String,
}

/// The time axis every lane shares.
struct Chart {
    duration_ms: u64,
}

impl Chart {
    fn new(report: &Report) -> Chart {
        Chart { duration_ms: report.duration_ms.max(1) }
    }

    fn x(&self, t_ms: u64) -> f64 {
        LEFT + t_ms.min(self.duration_ms) as f64 / self.duration_ms as f64 * PLOT
    }

    /// The slices of the run, as (index, left edge, width).
    fn slices(&self, count: usize, width_ms: u64) -> impl Iterator<Item = (usize, f64, f64)> + '_ {
        (0..count).map(move |i| {
            let start = i as u64 * width_ms;
            let left = self.x(start);
            (i, left, self.x(start + width_ms) - left)
        })
    }

    fn event_labels(&self, events: &[Event]) -> Vec<EventLabel> {
        let mut events: Vec<&Event> = events.iter().collect();
        events.sort_by_key(|e| e.t_ms);
        let texts: Vec<String> = events
            .iter()
            .map(|e| match e.kind.name().starts_with(&e.node) {
                true => e.kind.name().to_string(),
                false => format!("{} {}", e.kind, e.node),
            })
            .collect();
        let spans: Vec<(f64, f64)> =
            events.iter().zip(&texts).map(|(e, text)| (self.x(e.t_ms), text_width(text, EVENT_FONT))).collect();
        place_labels(&spans, LEFT + PLOT)
            .into_iter()
            .zip(spans)
            .zip(texts)
            .map(|((place, (line_x, _)), text)| EventLabel { line_x, text_x: place.x, row: place.row, text })
            .collect()
    }

    /// The side's name, its routing and what its users lost.
    fn lane_title(&self, svg: &mut Svg, side: &SideReport, top: f64) {
        let y = top + 14.0;
        svg.bold_then_plain(8.0, y, side.side.name(), &format!("({})", side.routing), r#"font-size="13""#);
        let mut counts = format!(
            "{} logged out · {} carts lost · {} of {} requests failed",
            side.users_logged_out, side.carts_lost, side.failed_requests, side.requests
        );
        if side.invalid.is_some() {
            counts = format!("NOT A RESULT, most requests failed · {counts}");
        }
        svg.text(LEFT + PLOT, y, &counts, &format!(r#"text-anchor="end" fill="{}""#, colour::AXIS));
    }

    /// The stacked bars of requests per 100 ms, the y axis, the time axis,
    /// and the rows that mark every slice with a 401 or a failure.
    fn requests(&self, svg: &mut Svg, side: &SideReport, top: f64, scale: &[f64]) {
        let base = top + MAIN;
        y_axis(svg, top, MAIN, scale, REQUESTS_AXIS, |v| format!("{v}"));
        let max = scale.last().copied().unwrap_or(1.0);
        let buckets = self.duration_ms.div_ceil(BUCKET.as_millis() as u64) as usize;
        for (i, x, width) in self.slices(buckets.min(side.timeline.len()), BUCKET.as_millis() as u64) {
            let b = &side.timeline[i];
            let mut y = base;
            for (count, fill) in
                [(b.ok, colour::SKY_BLUE), (b.unauthorized, fill::UNAUTHORIZED), (b.failed, fill::FAILED)]
            {
                let h = count as f64 / max * MAIN;
                y -= h;
                if count > 0 {
                    svg.rect(x, y, (width - 0.5).max(0.5), h, fill, None);
                }
            }
            let at = b.t_ms as f64 / 1000.0;
            for (row, count, fill, what) in
                [(0.0, b.unauthorized, fill::UNAUTHORIZED, "401s"), (1.0, b.failed, fill::FAILED, "failed")]
            {
                if count > 0 {
                    let tip = format!("{count} {what} at {at:.1} s");
                    svg.rect(x, base + TIME_AXIS + row * MARK_ROW, width.max(2.0), 8.0, fill, Some(&tip));
                }
            }
        }
        svg.line((LEFT, base), (LEFT + PLOT, base), colour::AXIS, "");
        self.time_labels(svg, base);
        let attributes = format!(r#"text-anchor="end" font-size="10" fill="{}""#, colour::AXIS);
        for (row, what) in [(0.0, "401s"), (1.0, "failed")] {
            let y = base + TIME_AXIS + row * MARK_ROW;
            svg.text(LEFT - 6.0, y + 8.0, what, &attributes);
            svg.line((LEFT, y + 4.0), (LEFT + PLOT, y + 4.0), colour::GRID, "");
        }
    }

    /// Seconds under the axis at `base`, a label every 30 px or more.
    fn time_labels(&self, svg: &mut Svg, base: f64) {
        let seconds = self.duration_ms as f64 / 1000.0;
        let step = [1u64, 2, 5, 10, 15, 30, 60, 120, 300, 600]
            .into_iter()
            .find(|step| PLOT / seconds * *step as f64 >= 30.0)
            .unwrap_or(600);
        let attributes = format!(r#"text-anchor="middle" font-size="11" fill="{}""#, colour::AXIS);
        for s in (0..).step_by(step as usize).take_while(|s| s * 1000 <= self.duration_ms) {
            let x = self.x(s * 1000);
            svg.line((x, base), (x, base + 3.0), colour::AXIS, "");
            svg.text(x, base + 14.0, &format!("{s}s"), &attributes);
        }
    }

    fn strip(&self, svg: &mut Svg, strip: Strip, report: &Report, side: &SideReport, top: f64) {
        let panel = top + STRIP_TITLE;
        match strip.pair() {
            None => self.node_shares(svg, side, top, panel),
            Some(pair) => self.pair(svg, &pair, report, side, top, panel),
        }
        svg.line((LEFT, panel + STRIP), (LEFT + PLOT, panel + STRIP), colour::AXIS, "");
    }

    /// Each node's share of the requests in each second, stacked to 100 %,
    /// node 1 at the bottom; a node that joined mid-run is hatched.
    fn node_shares(&self, svg: &mut Svg, side: &SideReport, top: f64, panel: f64) {
        let mut nodes: Vec<(usize, &String, &Vec<u64>)> =
            side.per_node_per_second.iter().map(|(name, counts)| (node_number(name), name, counts)).collect();
        nodes.sort();
        let joined = |number: usize| number > side.nodes;
        let node_fills = |number: usize| -> Vec<&str> {
            let mut fills = vec![NODE_COLOURS[number.saturating_sub(1) % NODE_COLOURS.len()]];
            if joined(number) {
                fills.push(fill::OVERLAY);
            }
            fills
        };
        let mut x = svg.legend_entry_title(LEFT, top + 15.0, "Each node's share of the requests, per second:");
        for (number, name, _) in &nodes {
            let label = if joined(*number) { format!("{name} (joined)") } else { name.to_string() };
            x = svg.legend_entry(x, top + 15.0, &node_fills(*number), &label);
        }
        y_axis(svg, panel, STRIP, &[0.0, 0.5, 1.0], "share", |v| format!("{:.0}%", v * 100.0));
        let seconds = nodes.iter().map(|(_, _, counts)| counts.len()).max().unwrap_or(0);
        for (s, x, width) in self.slices(seconds, 1000) {
            let total: u64 = nodes.iter().map(|(_, _, counts)| counts.get(s).copied().unwrap_or(0)).sum();
            if total == 0 {
                continue;
            }
            let mut y = panel + STRIP;
            for (number, name, counts) in &nodes {
                let count = counts.get(s).copied().unwrap_or(0);
                let h = count as f64 / total as f64 * STRIP;
                y -= h;
                if count > 0 {
                    let tip = format!("{name}: {count} of {total} requests in second {s}");
                    for fill in node_fills(*number) {
                        svg.rect(x, y, (width - 1.0).max(0.5), h, fill, Some(&tip));
                    }
                }
            }
        }
    }

    /// Per second, a grey bar of the total with its part hatched over it,
    /// on a scale common to every side.
    fn pair(&self, svg: &mut Svg, pair: &Pair, report: &Report, side: &SideReport, top: f64, panel: f64) {
        let per_second = |side: &SideReport| -> Vec<(u64, u64)> {
            let per = (1000 / BUCKET.as_millis()) as usize;
            side.timeline
                .chunks(per)
                .map(|chunk| chunk.iter().map(pair.counts).fold((0, 0), |(t, p), (a, b)| (t + a, p + b)))
                .collect()
        };
        let peak = report.sides.iter().flat_map(&per_second).map(|(total, _)| total).max().unwrap_or(0);
        let scale = ticks(peak as f64, 3, 1.0);
        let max = scale.last().copied().unwrap_or(1.0);
        let mut x = svg.legend_entry_title(LEFT, top + 15.0, pair.title);
        x = svg.legend_entry(x, top + 15.0, &[colour::GREY], pair.total);
        svg.legend_entry(x, top + 15.0, &[fill::LOST], pair.part);
        let counts = per_second(side);
        let (total, part) = counts.iter().fold((0, 0), |(t, p), (a, b)| (t + a, p + b));
        svg.text(
            LEFT + PLOT,
            top + 15.0,
            &format!("{part} of {total} {}", pair.part_short),
            r#"text-anchor="end" font-weight="bold""#,
        );
        y_axis(svg, panel, STRIP, &scale, pair.axis, |v| format!("{v}"));
        for (s, x, width) in self.slices(counts.len(), 1000) {
            let (total, part) = counts[s];
            let base = panel + STRIP;
            let width = (width - 2.0).max(0.5);
            if total > 0 {
                let h = total as f64 / max * STRIP;
                svg.outlined(x + 1.0, base - h, width, h, colour::GREY, colour::AXIS);
            }
            if part > 0 {
                let h = part as f64 / max * STRIP;
                let tip = format!("second {s}: {part} of {total} {}", pair.part_short);
                svg.rect(x + 1.0, base - h, width, h, fill::LOST, Some(&tip));
            }
        }
    }
}

/// A y axis on the left of the panel from `top`, `height` px tall: grid
/// lines at `scale`'s values (its last is the top), their labels, and the
/// axis's name turned upright.
fn y_axis(svg: &mut Svg, top: f64, height: f64, scale: &[f64], name: &str, label: impl Fn(f64) -> String) {
    let max = scale.last().copied().filter(|m| *m > 0.0).unwrap_or(1.0);
    let attributes = format!(r#"text-anchor="end" font-size="10" fill="{}""#, colour::AXIS);
    for &value in scale {
        let y = top + height - value / max * height;
        svg.line((LEFT, y), (LEFT + PLOT, y), colour::GRID, "");
        svg.line((LEFT - 3.0, y), (LEFT, y), colour::AXIS, "");
        svg.text(LEFT - 5.0, y + 3.5, &label(value), &attributes);
    }
    svg.line((LEFT, top), (LEFT, top + height), colour::AXIS, "");
    svg.vertical_text(LEFT - 48.0, top + height / 2.0, name);
}

/// The number at the end of a node's name (`stateful-4` is 4).
fn node_number(name: &str) -> usize {
    name.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Lb;
    use crate::metrics::{EventKind, Latency};
    use crate::router::Policy;
    use crate::side::Side;

    fn side(side: Side, timeline: Vec<Bucket>, events: Vec<Event>) -> SideReport {
        SideReport {
            side,
            invalid: None,
            routing: Policy::RoundRobin,
            nodes: 3,
            users: 10,
            requests: timeline.iter().map(|b| b.ok + b.failed + b.unauthorized).sum(),
            failed_requests: timeline.iter().map(|b| b.failed).sum(),
            unauthorized: timeline.iter().map(|b| b.unauthorized).sum(),
            users_logged_out: 0,
            carts_lost: 0,
            per_node_requests: BTreeMap::new(),
            per_node_per_second: BTreeMap::new(),
            latency_ms: Latency::default(),
            timeline,
            events,
            forced_logouts: 0,
            cart_loss_events: 0,
            logins: 0,
            service_unavailable: 0,
            other_client_errors: 0,
            per_node_logins: BTreeMap::new(),
            findings: Default::default(),
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

    /// Two seconds of 100 ms slices, each with `fill` applied.
    fn timeline(fill: impl Fn(usize, &mut Bucket)) -> Vec<Bucket> {
        (0..20)
            .map(|i| {
                let mut bucket = Bucket { t_ms: i as u64 * 100, ok: 40, ..Bucket::default() };
                fill(i, &mut bucket);
                bucket
            })
            .collect()
    }

    fn report(sides: Vec<SideReport>) -> Report {
        Report {
            scenario: "test".into(),
            seed: 1,
            duration_ms: 2000,
            sides,
            notes: Vec::new(),
            chart: None,
            more_charts: Vec::new(),
            json: None,
        }
    }

    fn event(t_ms: u64, kind: EventKind, node: &str) -> Event {
        Event { t_ms, kind, node: node.into() }
    }

    /// The chart's text elements, as a reader sees them, with their `y`;
    /// fails unless the SVG is well-formed.
    fn texts(svg: &str) -> Vec<(String, f64)> {
        let document = roxmltree::Document::parse(svg).expect("the chart is well-formed XML");
        assert_eq!(document.root_element().tag_name().name(), "svg");
        document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| {
                let text: String = n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect();
                (text, n.attribute("y").and_then(|y| y.parse().ok()).unwrap_or(f64::NAN))
            })
            .collect()
    }

    fn has(texts: &[(String, f64)], wanted: &str) -> bool {
        texts.iter().any(|(text, _)| text == wanted)
    }

    #[test]
    fn every_lane_has_a_scaled_y_axis_and_the_legend_names_every_mark() {
        let quiet = side(Side::Stateless, timeline(|_, _| {}), Vec::new());
        let troubled = side(
            Side::Stateful,
            timeline(|i, b| {
                b.unauthorized = u64::from(i == 5) * 30;
                b.failed = u64::from(i == 6) * 2;
            }),
            vec![event(500, EventKind::Kill, "stateful-1")],
        );
        let texts = texts(&svg(&report(vec![troubled, quiet])));
        assert_eq!(texts.iter().filter(|(t, _)| t == REQUESTS_AXIS).count(), 2, "one y axis per lane");
        for tick in ["0", "20", "40", "60", "80"] {
            assert!(has(&texts, tick), "no tick {tick} on the y axis: {texts:?}");
        }
        for entry in LEGEND {
            assert!(has(&texts, entry), "no legend entry `{entry}`");
        }
        assert!(has(&texts, "stateful (round-robin)") && has(&texts, "stateless (round-robin)"));
        assert!(has(&texts, "kill stateful-1"));
        assert!(has(&texts, "0s") && has(&texts, "2s"), "the time axis is labelled in seconds");
        for (row, what) in [("401s", "401s"), ("failed", "failed")] {
            assert!(has(&texts, row), "no `{what}` mark row");
        }
        assert!(!has(&texts, "share"), "no strip without its series");
    }

    #[test]
    fn events_close_in_time_get_labels_on_different_rows() {
        let events = vec![
            event(1000, EventKind::Restart, "stateful-1"),
            event(1050, EventKind::Start, "stateful-1"),
            event(1100, EventKind::RedisDown, "redis"),
        ];
        let texts = texts(&svg(&report(vec![side(Side::Stateful, timeline(|_, _| {}), events)])));
        let y = |label: &str| texts.iter().find(|(t, _)| t == label).unwrap_or_else(|| panic!("no {label}")).1;
        let rows = [y("restart stateful-1"), y("start stateful-1"), y("redis-down")];
        assert!(rows[0] != rows[1] && rows[1] != rows[2] && rows[0] != rows[2], "labels share a row: {rows:?}");
    }

    #[test]
    fn a_scale_out_draws_each_nodes_share_and_names_the_node_that_joined() {
        let mut scaled = side(Side::Stateful, timeline(|_, _| {}), vec![event(1000, EventKind::Start, "stateful-4")]);
        for (node, counts) in
            [("stateful-1", [40, 40]), ("stateful-2", [40, 40]), ("stateful-3", [40, 38]), ("stateful-4", [0, 2])]
        {
            scaled.per_node_per_second.insert(node.into(), counts.to_vec());
        }
        let texts = texts(&svg(&report(vec![scaled])));
        assert!(has(&texts, "share") && has(&texts, "100%") && has(&texts, "0%"), "{texts:?}");
        for node in ["stateful-1", "stateful-2", "stateful-3", "stateful-4 (joined)"] {
            assert!(has(&texts, node), "no legend entry for {node}");
        }
    }

    #[test]
    fn lost_adds_and_accepted_replays_are_drawn_against_what_was_sent() {
        let token = side(
            Side::Token,
            timeline(|_, b| {
                b.concurrent_adds_checked = 4;
                b.concurrent_adds_lost = 2;
                b.replays_sent = 1;
                b.replays_accepted = 1;
            }),
            Vec::new(),
        );
        let stateless = side(
            Side::Stateless,
            timeline(|_, b| {
                b.concurrent_adds_checked = 4;
                b.replays_sent = 1;
            }),
            Vec::new(),
        );
        let texts = texts(&svg(&report(vec![stateless, token])));
        for wanted in ["adds / s", "lost (missing from it)", "0 of 80 lost", "40 of 80 lost"] {
            assert!(has(&texts, wanted), "no `{wanted}`: {texts:?}");
        }
        for wanted in ["replays / s", "accepted (the session still worked)", "0 of 20 accepted", "20 of 20 accepted"] {
            assert!(has(&texts, wanted), "no `{wanted}`: {texts:?}");
        }
    }
}
