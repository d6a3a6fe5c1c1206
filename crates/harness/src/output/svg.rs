//! The timeline chart of a run: plain SVG text, no plotting crate needed.

use std::fmt::Write as _;

use crate::report::Report;

/// The timeline chart: one lane per side, a stacked bar per 100 ms slice
/// (ok green, 401 orange, failed red) on a common scale, events as lines.
pub fn svg(report: &Report) -> String {
    const WIDTH: f64 = 960.0;
    const LEFT: f64 = 110.0;
    const RIGHT: f64 = 20.0;
    const LANE: f64 = 150.0;
    const TOP: f64 = 50.0;
    let plot = WIDTH - LEFT - RIGHT;
    let buckets = (report.duration_ms / 100).max(1) as f64;
    let bar = plot / buckets;
    let peak = report
        .sides
        .iter()
        .flat_map(|s| s.timeline.iter().map(|b| b.ok + b.failed + b.unauthorized))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let height = TOP + LANE * report.sides.len() as f64 + 40.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{}: requests per 100 ms</text>"#,
        escape(&report.scenario)
    );
    let legend = [("#2e9e44", "ok"), ("#f0a020", "401 after login"), ("#d62728", "failed (no answer / 5xx)")];
    for (i, (color, label)) in legend.iter().enumerate() {
        let x = LEFT + i as f64 * 190.0;
        let _ = writeln!(out, r#"<rect x="{x}" y="30" width="10" height="10" fill="{color}"/>"#);
        let _ = writeln!(out, r#"<text x="{}" y="39">{label}</text>"#, x + 14.0);
    }
    for (lane, side) in report.sides.iter().enumerate() {
        let top = TOP + lane as f64 * LANE + 10.0;
        let base = top + LANE - 30.0;
        let scale = (LANE - 40.0) / peak;
        let _ = writeln!(out, r#"<text x="8" y="{}" font-weight="bold">{}</text>"#, top + 20.0, side.side);
        let _ = writeln!(out, r#"<text x="8" y="{}">{}</text>"#, top + 36.0, side.routing);
        let _ = writeln!(out, r#"<line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="gray"/>"#, LEFT + plot);
        for (i, b) in side.timeline.iter().enumerate() {
            let x = LEFT + i as f64 * bar;
            // A few failures in a slice of hundreds of answers would not show
            // as a bar: mark every such slice in a strip under the axis.
            for (count, color, dy) in [(b.unauthorized, "#f0a020", 18.0), (b.failed, "#d62728", 24.0)] {
                if count > 0 {
                    let _ = writeln!(
                        out,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="4" fill="{color}"><title>{count}</title></rect>"#,
                        base + dy,
                        bar.max(2.0)
                    );
                }
            }
            let mut y = base;
            for (count, color) in [(b.ok, "#2e9e44"), (b.unauthorized, "#f0a020"), (b.failed, "#d62728")] {
                if count == 0 {
                    continue;
                }
                let h = count as f64 * scale;
                y -= h;
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{color}"/>"#,
                    (bar - 0.5).max(0.5)
                );
            }
        }
        for event in &side.events {
            let x = LEFT + event.t_ms as f64 / 100.0 * bar;
            let _ = writeln!(
                out,
                r#"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{base}" stroke="black" stroke-dasharray="4,3"/>"#
            );
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="11">{} {}</text>"#,
                x + 3.0,
                top + 10.0,
                event.kind,
                escape(&event.node)
            );
        }
        let seconds = report.duration_ms / 1000;
        for s in 0..=seconds {
            let x = LEFT + s as f64 * 10.0 * bar;
            let _ = writeln!(
                out,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle" fill="dimgray">{s}s</text>"#,
                base + 14.0
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end" fill="dimgray">{} logged out · {} carts lost · {} failed</text>"#,
            LEFT + plot,
            top + 4.0,
            side.users_logged_out,
            side.carts_lost,
            side.failed_requests
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
