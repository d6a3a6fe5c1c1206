//! The scaling charts: latency and per-node utilisation over time with the
//! scale events marked (`overload`, `scale-in`), and sustained throughput
//! against node count (`capacity`).
//!
//! Readable without telling red from green: lines take the Okabe–Ito
//! palette *and* a dash pattern (and, on the curve, a marker shape) of
//! their own, so no two differ by colour alone; every y axis has a label
//! and a scale; event labels that would overlap go on another row.

use std::fmt::Write as _;

use serde_json::Value;

use super::draw::{colour, escape, place_labels, text_width, ticks};
use crate::report::{Report, SideReport};

/// The Okabe–Ito palette ([`colour`]), black last.
const COLOURS: [&str; 7] = [
    colour::BLUE,
    colour::ORANGE,
    colour::BLUISH_GREEN,
    colour::REDDISH_PURPLE,
    colour::SKY_BLUE,
    colour::VERMILLION,
    "#000000",
];
/// Dash patterns, one per series, beside the colour.
const DASHES: [&str; 6] = ["", "7,3", "2,3", "10,3,2,3", "1,2", "14,5"];
const WIDTH: f64 = 960.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 150.0;

fn style(i: usize) -> (&'static str, &'static str) {
    (COLOURS[i % COLOURS.len()], DASHES[i % DASHES.len()])
}

/// The start of a chart `height` high: a white page and its title.
fn open_svg(height: f64, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>"#, escape(title));
    out
}

/// A y axis from 0 to `max` at `top`..`bottom`, with ticks, a grid and a label.
fn y_axis(out: &mut String, top: f64, bottom: f64, right: f64, max: f64, label: &str, format: impl Fn(f64) -> String) {
    for v in ticks(max, 4, 0.0).into_iter().filter(|v| *v <= max + 1e-9) {
        let y = bottom - (bottom - top) * v / max;
        let _ = writeln!(out, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#dddddd"/>"##);
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"#,
            LEFT - 4.0,
            y + 3.0,
            format(v)
        );
    }
    let _ = writeln!(out, r#"<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="black"/>"#);
    let mid = (top + bottom) / 2.0;
    let _ = writeln!(
        out,
        r#"<text x="14" y="{mid:.1}" font-size="11" text-anchor="middle" transform="rotate(-90 14 {mid:.1})">{}</text>"#,
        escape(label)
    );
}

fn polyline(out: &mut String, points: &[(f64, f64)], colour: &str, dash: &str, width: f64) {
    if points.is_empty() {
        return;
    }
    let text: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/>"#,
        text.join(" ")
    );
}

fn number(value: Option<&Value>) -> Option<f64> {
    value.and_then(Value::as_f64)
}

/// Latency and utilisation over time, one block per side; `None` when no
/// side has them.
pub fn timeline(report: &Report) -> Option<String> {
    let sides: Vec<&SideReport> = report
        .sides
        .iter()
        .filter(|s| s.findings.contains_key("latency_over_time") || s.findings.contains_key("load_over_time"))
        .collect();
    if sides.is_empty() {
        return None;
    }
    const BLOCK: f64 = 300.0;
    const TOP: f64 = 40.0;
    let height = TOP + BLOCK * sides.len() as f64 + 10.0;
    let right = WIDTH - RIGHT;
    let seconds = (report.duration_ms as f64 / 1000.0).max(0.1);
    let x_of = |t_ms: f64| LEFT + (right - LEFT) * (t_ms / 1000.0 / seconds).min(1.0);
    let objective =
        sides.iter().find_map(|s| s.findings.values().find_map(|v| v.get("objective_ms")).and_then(Value::as_f64));
    let peak_p99 = sides
        .iter()
        .flat_map(|s| s.findings.get("latency_over_time").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|w| number(w.get("p99_ms")))
        .fold(0.0, f64::max);
    let y_max = peak_p99.max(objective.unwrap_or(0.0) * 1.5).max(10.0);
    let mut out = open_svg(
        height,
        &format!(
            "{}: p99 latency and each node's utilisation (modelled capacity, modelled autoscaler)",
            report.scenario
        ),
    );
    for (b, side) in sides.iter().enumerate() {
        let top = TOP + b as f64 * BLOCK;
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}" font-weight="bold">{} ({})</text>"#,
            top + 14.0,
            side.side,
            side.routing
        );
        // Latency panel.
        let (lat_top, lat_bottom) = (top + 50.0, top + 140.0);
        y_axis(&mut out, lat_top, lat_bottom, right, y_max, "latency, ms", |v| format!("{v:.0}"));
        let y_lat = |ms: f64| lat_bottom - (lat_bottom - lat_top) * (ms / y_max).min(1.0);
        if let Some(objective) = objective {
            let y = y_lat(objective);
            let _ = writeln!(
                out,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="black" stroke-dasharray="1,3"/>"#
            );
            let _ = writeln!(
                out,
                r#"<text x="{}" y="{:.1}" font-size="10">objective {objective:.0} ms</text>"#,
                right + 4.0,
                y + 3.0
            );
        }
        let windows = side.findings.get("latency_over_time").and_then(Value::as_array).cloned().unwrap_or_default();
        for (series, key, label) in [(0, "p99_ms", "p99"), (1, "p50_ms", "p50")] {
            let points: Vec<(f64, f64)> = windows
                .iter()
                .filter(|w| number(w.get("requests")).is_some_and(|n| n > 0.0))
                .filter_map(|w| Some((x_of(number(w.get("t_ms"))? + 250.0), y_lat(number(w.get(key))?))))
                .collect();
            let (colour, dash) = style(series);
            polyline(&mut out, &points, colour, dash, 2.0);
            let y = lat_top + 12.0 * series as f64;
            let _ = writeln!(
                out,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}" font-size="10">{label}</text>"#,
                right + 4.0,
                right + 28.0,
                right + 32.0,
                y + 3.0
            );
        }
        // Refusals: a mark per window that had any, under the panel.
        for w in &windows {
            let refused = number(w.get("refused")).unwrap_or(0.0);
            if refused > 0.0 {
                let x = x_of(number(w.get("t_ms")).unwrap_or(0.0));
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{}" width="{:.1}" height="5" fill="{}"><title>{refused} refused</title></rect>"#,
                    lat_bottom + 3.0,
                    (x_of(500.0) - LEFT).max(1.0),
                    COLOURS[5]
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="10">windows with refusals (503)</text>"#,
            right + 4.0,
            lat_bottom + 8.0
        );
        // Utilisation panel.
        let (use_top, use_bottom) = (top + 165.0, top + 255.0);
        y_axis(&mut out, use_top, use_bottom, right, 1.0, "utilisation", |v| format!("{:.0}%", v * 100.0));
        let per_node = side
            .findings
            .get("load_over_time")
            .and_then(|l| l.get("per_node"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut names: Vec<&String> = per_node.keys().collect();
        names.sort_by_key(|n| n.rsplit('-').next().and_then(|i| i.parse::<u32>().ok()).unwrap_or(0));
        for (i, name) in names.iter().enumerate() {
            let readings = per_node[*name].as_array().cloned().unwrap_or_default();
            let points: Vec<(f64, f64)> = readings
                .iter()
                .filter_map(|r| {
                    let u = number(r.get("utilisation"))?.clamp(0.0, 1.0);
                    Some((x_of(number(r.get("t_ms"))?), use_bottom - (use_bottom - use_top) * u))
                })
                .collect();
            let (colour, dash) = style(i);
            polyline(&mut out, &points, colour, dash, 1.8);
            let y = use_top + 12.0 * i as f64;
            let _ = writeln!(
                out,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}" font-size="10">{}</text>"#,
                right + 4.0,
                right + 28.0,
                right + 32.0,
                y + 3.0,
                escape(name)
            );
        }
        // Time axis.
        for s in ticks(seconds, 8, 1.0).into_iter().filter(|s| *s <= seconds + 1e-9) {
            let x = x_of(s * 1000.0);
            let _ = writeln!(
                out,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle" font-size="10" fill="dimgray">{s:.0}s</text>"#,
                use_bottom + 13.0
            );
        }
        // Events, with labels on rows so that none overlap.
        let labels: Vec<String> = side.events.iter().map(|e| format!("{} {}", e.kind, e.node)).collect();
        let spots: Vec<(f64, f64)> =
            side.events.iter().zip(&labels).map(|(e, l)| (x_of(e.t_ms as f64), text_width(l, 10.0))).collect();
        for ((event, label), place) in side.events.iter().zip(&labels).zip(place_labels(&spots, right)) {
            let x = x_of(event.t_ms as f64);
            let label_y = top + 28.0 + 10.0 * place.row as f64;
            let _ = writeln!(
                out,
                r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{use_bottom}" stroke="black" stroke-dasharray="4,3"/>"#,
                label_y + 2.0
            );
            let _ = writeln!(out, r#"<text x="{:.1}" y="{label_y}" font-size="10">{}</text>"#, place.x, escape(label));
        }
    }
    out.push_str("</svg>\n");
    Some(out)
}

/// Sustained throughput against node count, one line per side, with the
/// one-Redis ceiling; `None` when no side has a sweep.
pub fn curve(report: &Report) -> Option<String> {
    let sweeps: Vec<(&SideReport, Vec<(f64, f64)>)> = report
        .sides
        .iter()
        .filter_map(|s| {
            let map = s.findings.get("capacity")?.get("sustained_rps")?.as_object()?;
            let mut points: Vec<(f64, f64)> =
                map.iter().filter_map(|(n, v)| Some((n.parse::<f64>().ok()?, v.as_f64()?))).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Some((s, points))
        })
        .collect();
    if sweeps.is_empty() {
        return None;
    }
    let capacity =
        report.sides.iter().find_map(|s| number(s.findings.get("capacity")?.get("node_capacity_rps"))).unwrap_or(0.0);
    let max_nodes = sweeps.iter().flat_map(|(_, p)| p.iter().map(|p| p.0)).fold(1.0, f64::max);
    let peak = sweeps.iter().flat_map(|(_, p)| p.iter().map(|p| p.1)).fold(capacity * max_nodes, f64::max);
    let ceilings: Vec<(&SideReport, f64, f64)> = report
        .sides
        .iter()
        .filter_map(|s| {
            let c = s.findings.get("capacity")?;
            Some((s, number(c.get("redis_ceiling_rps"))?, number(c.get("redis_saturates_at_nodes"))?))
        })
        .collect();
    let y_max = (peak * 1.15).max(1.0);
    const HEIGHT: f64 = 420.0;
    let (top, bottom, right) = (60.0, HEIGHT - 60.0, WIDTH - 260.0);
    let x_of = |n: f64| LEFT + 20.0 + (right - LEFT - 40.0) * (n - 1.0) / (max_nodes - 1.0).max(1.0);
    let y_of = |r: f64| bottom - (bottom - top) * (r / y_max).min(1.0);
    let mut out = open_svg(
        HEIGHT,
        &format!("{}: highest rate sustained within the latency objective, by node count", report.scenario),
    );
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="42" font-size="11" fill="dimgray">each node's capacity is modelled ({capacity:.0} requests/s); Redis's CPU per request is measured</text>"#
    );
    y_axis(&mut out, top, bottom, right, y_max, "sustained requests/s", |v| format!("{v:.0}"));
    let _ = writeln!(out, r#"<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>"#);
    for n in 1..=max_nodes as usize {
        let x = x_of(n as f64);
        let _ = writeln!(out, r#"<text x="{x:.1}" y="{}" text-anchor="middle">{n}</text>"#, bottom + 16.0);
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">nodes</text>"#,
        (LEFT + right) / 2.0,
        bottom + 34.0
    );
    // What the nodes' capacity allows: n × capacity.
    let ideal: Vec<(f64, f64)> =
        (1..=max_nodes as usize).map(|n| (x_of(n as f64), y_of(capacity * n as f64))).collect();
    polyline(&mut out, &ideal, "#999999", "1,3", 1.5);
    let mut legend_y = top;
    let legend_x = right + 20.0;
    let _ = writeln!(
        out,
        r##"<line x1="{legend_x}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="#999999" stroke-dasharray="1,3" stroke-width="1.5"/><text x="{}" y="{}" font-size="11">nodes × capacity</text>"##,
        legend_x + 30.0,
        legend_x + 36.0,
        legend_y + 4.0
    );
    legend_y += 18.0;
    for (i, (side, points)) in sweeps.iter().enumerate() {
        let (colour, dash) = style(i);
        let pixels: Vec<(f64, f64)> = points.iter().map(|&(n, r)| (x_of(n), y_of(r))).collect();
        polyline(&mut out, &pixels, colour, dash, 2.2);
        for &(x, y) in &pixels {
            marker(&mut out, i, x, y, colour);
        }
        let _ = writeln!(
            out,
            r#"<line x1="{legend_x}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{colour}" stroke-width="2.2" stroke-dasharray="{dash}"/>"#,
            legend_x + 30.0
        );
        marker(&mut out, i, legend_x + 15.0, legend_y, colour);
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" font-size="11">{} ({})</text>"#,
            legend_x + 36.0,
            legend_y + 4.0,
            side.side,
            side.routing
        );
        legend_y += 18.0;
    }
    // The Redis ceiling: a line where it fits, else a note at the top.
    for (side, ceiling, at_nodes) in &ceilings {
        let text = format!("one Redis core full: {ceiling:.0} req/s ({}), about {at_nodes:.0} nodes", side.side);
        if *ceiling <= y_max {
            let y = y_of(*ceiling);
            let _ = writeln!(
                out,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="black" stroke-width="1.5" stroke-dasharray="12,4,2,4"/>"#
            );
            let _ =
                writeln!(out, r#"<text x="{}" y="{:.1}" font-size="11">{}</text>"#, LEFT + 6.0, y - 4.0, escape(&text));
        } else {
            legend_y += 8.0;
            let lines = [
                format!("↑ one Redis core full ({}):", side.side),
                format!("{ceiling:.0} requests/s,"),
                format!("about {at_nodes:.0} nodes: above this chart"),
            ];
            for line in lines {
                let _ = writeln!(out, r#"<text x="{legend_x}" y="{legend_y}" font-size="11">{}</text>"#, escape(&line));
                legend_y += 14.0;
            }
            legend_y += 6.0;
        }
    }
    out.push_str("</svg>\n");
    Some(out)
}

/// Marker `i`: circle, square, triangle, diamond, …
fn marker(out: &mut String, i: usize, x: f64, y: f64, colour: &str) {
    let _ = match i % 4 {
        0 => writeln!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="4.5" fill="{colour}"/>"#),
        1 => writeln!(out, r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{colour}"/>"#, x - 4.5, y - 4.5),
        2 => writeln!(
            out,
            r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            y - 5.5,
            x - 5.0,
            y + 4.0,
            x + 5.0,
            y + 4.0
        ),
        _ => writeln!(
            out,
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            y - 5.5,
            x + 5.5,
            y + 5.5,
            x - 5.5
        ),
    };
}
