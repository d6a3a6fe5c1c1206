//! The memory curve: each side's nodes' resident memory over the run, one
//! line per side on one plot, from the `memory_samples` finding that the
//! `flood`, `redis-hang` and `soak` scenarios keep (`[t_ms, KiB]` pairs, see
//! [`crate::sample::memory_curve`]). Plain SVG text.
//!
//! The colours are the Okabe–Ito palette of [`super::draw`], which readers
//! with any common colour-vision deficiency can tell apart; each line also
//! has its own dash pattern, so the chart reads in grey as well.

use std::fmt::Write as _;

use super::draw::{colour, escape};
use crate::report::Report;

/// Okabe–Ito blue, vermillion, bluish green, reddish purple
/// ([`super::draw::colour`]); and a dash pattern per line.
const LINES: [(&str, &str); 4] = [
    (colour::BLUE, "none"),
    (colour::VERMILLION, "8,4"),
    (colour::BLUISH_GREEN, "2,3"),
    (colour::REDDISH_PURPLE, "10,3,2,3"),
];

/// The memory chart of `report` under `title`.
pub fn chart(report: &Report, title: &str) -> String {
    const WIDTH: f64 = 960.0;
    const HEIGHT: f64 = 420.0;
    const LEFT: f64 = 80.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 60.0;
    const BOTTOM: f64 = 50.0;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let curves: Vec<(String, Vec<(f64, f64)>)> = report
        .sides
        .iter()
        .map(|side| {
            let points = side
                .findings
                .get("memory_samples")
                .and_then(|v| v.as_array())
                .map(|pairs| {
                    pairs
                        .iter()
                        .filter_map(|p| Some((p.get(0)?.as_f64()? / 1000.0, p.get(1)?.as_f64()? / 1024.0)))
                        .collect()
                })
                .unwrap_or_default();
            (side.side.to_string(), points)
        })
        .collect();
    let seconds = (report.duration_ms as f64 / 1000.0).max(1.0);
    let peak = curves.iter().flat_map(|(_, points)| points.iter().map(|p| p.1)).fold(0.0_f64, f64::max);
    let y_max = nice_ceiling(peak.max(1.0));
    let x = |s: f64| LEFT + s.min(seconds) / seconds * plot_w;
    let y = |mib: f64| TOP + plot_h - mib / y_max * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{}</text>"#, escape(title));
    for (i, (name, _)) in curves.iter().enumerate() {
        let (color, dash) = LINES[i % LINES.len()];
        let lx = LEFT + i as f64 * 170.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="36" x2="{}" y2="36" stroke="{color}" stroke-width="2.5" stroke-dasharray="{dash}"/>"#,
            lx + 28.0
        );
        let _ = writeln!(out, r#"<text x="{}" y="40">{}</text>"#, lx + 34.0, escape(name));
    }
    // Axes, ticks and their labels.
    let base = TOP + plot_h;
    let _ = writeln!(out, r#"<line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="gray"/>"#, LEFT + plot_w);
    let _ = writeln!(out, r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="gray"/>"#);
    for step in 0..=4 {
        let mib = y_max * f64::from(step) / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#e0e0e0"/><text x="{2}" y="{3:.1}" text-anchor="end" fill="dimgray">{mib:.1}</text>"##,
            y(mib),
            LEFT + plot_w,
            LEFT - 6.0,
            y(mib) + 4.0
        );
    }
    let tick = nice_ceiling(seconds / 10.0).max(1.0);
    let mut s = 0.0;
    while s <= seconds + 1e-9 {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" fill="dimgray">{s}</text>"#,
            x(s),
            base + 16.0
        );
        s += tick;
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" fill="dimgray">seconds since the side started</text>"#,
        LEFT + plot_w / 2.0,
        base + 36.0
    );
    let _ = writeln!(
        out,
        r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle" fill="dimgray">resident memory of the side's nodes (MiB)</text>"#,
        TOP + plot_h / 2.0
    );
    // Events of the first side (every side runs the same script times).
    if let Some(side) = report.sides.first() {
        for (i, event) in side.events.iter().enumerate() {
            let ex = x(event.t_ms as f64 / 1000.0);
            let _ = writeln!(
                out,
                r#"<line x1="{ex:.1}" y1="{TOP}" x2="{ex:.1}" y2="{base}" stroke="black" stroke-dasharray="4,3"/>"#
            );
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="11">{} {}</text>"#,
                ex + 3.0,
                TOP + 12.0 + (i % 3) as f64 * 13.0,
                event.kind,
                escape(&event.node)
            );
        }
    }
    for (i, (_, points)) in curves.iter().enumerate() {
        if points.is_empty() {
            continue;
        }
        let (color, dash) = LINES[i % LINES.len()];
        let path: Vec<String> = points.iter().map(|(s, mib)| format!("{:.1},{:.1}", x(*s), y(*mib))).collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}" points="{}"/>"#,
            path.join(" ")
        );
    }
    out.push_str("</svg>\n");
    out
}

/// The smallest of 1, 2, 2.5 or 5 times a power of ten at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    let power = 10_f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * power).find(|&v| v >= value - 1e-9).unwrap_or(10.0 * power)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ends_are_round_numbers() {
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(23.0), 25.0);
        assert_eq!(nice_ceiling(0.15), 0.2);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }
}
