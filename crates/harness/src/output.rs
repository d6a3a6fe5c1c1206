//! What a run leaves behind: the terminal table, a short verdict, the JSON
//! report and an SVG timeline (plain SVG text; no plotting crate needed).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::run::{Config, Lb, Report, SideReport};

/// Writes the JSON report and the SVG chart into `out_dir`, and the JSON
/// report to `--json` as well, and records the paths in `report`.
pub fn write_files(config: &Config, report: &mut Report) -> Result<()> {
    if let Some(dir) = &config.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let chart = dir.join(format!("{}.svg", report.scenario));
        std::fs::write(&chart, svg(report)).with_context(|| format!("cannot write {}", chart.display()))?;
        report.chart = Some(chart);
        let json = dir.join(format!("{}.json", report.scenario));
        report.json = Some(json.clone());
        write_json(report, &json)?;
    }
    if let Some(path) = &config.json {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_json(report, path)?;
    }
    Ok(())
}

fn write_json(report: &Report, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(report).context("cannot serialize the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// The side-by-side table, one column per side.
pub fn table(report: &Report) -> String {
    let sides = &report.sides;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&SideReport) -> String| {
        rows.push((label.to_string(), sides.iter().map(f).collect()));
    };
    row("routing", &|s| s.routing.to_string());
    if sides.iter().any(|s| s.lb != Lb::Harness) {
        row("load balancer", &|s| match s.lb_balance {
            Some(balance) => format!("{} (balance {balance})", s.lb),
            None => s.lb.to_string(),
        });
    }
    row("nodes at start", &|s| s.nodes.to_string());
    row("users", &|s| s.users.to_string());
    row("requests", &|s| s.requests.to_string());
    row("failed requests", &|s| format!("{} ({})", s.failed_requests, percent(s.failed_requests, s.requests)));
    row("401 after login", &|s| format!("{} ({})", s.unauthorized, percent(s.unauthorized, s.requests)));
    row("users logged out", &|s| {
        format!("{} of {} ({})", s.users_logged_out, s.users, percent(s.users_logged_out as u64, s.users as u64))
    });
    row("carts lost", &|s| format!("{} of {}", s.carts_lost, s.users));
    row("latency p50 / p99", &|s| format!("{:.2} / {:.2} ms", s.latency_ms.p50, s.latency_ms.p99));
    let most_nodes = sides
        .iter()
        .map(|s| s.per_node_requests.len().max(s.lb_per_node_requests.as_ref().map_or(0, |c| c.len())))
        .max()
        .unwrap_or(0);
    for n in 1..=most_nodes {
        let label = format!("node {n} share");
        rows.push((
            label,
            sides
                .iter()
                .map(|s| {
                    let name = format!("{}-{n}", s.side);
                    let total: u64 = s.per_node_requests.values().sum();
                    // Beside the users' X-Node count, HAProxy's own, when it ran.
                    let lb = s.lb_per_node_requests.as_ref().and_then(|counts| counts.get(&name));
                    match (s.per_node_requests.get(&name), lb) {
                        (Some(&count), Some(lb)) => format!("{} ({count}; haproxy {lb})", percent(count, total)),
                        (Some(&count), None) => format!("{} ({count})", percent(count, total)),
                        (None, Some(lb)) => format!("- (haproxy {lb})"),
                        (None, None) => "-".to_string(),
                    }
                })
                .collect(),
        ));
    }
    // Maps (such as per-node shares) stay in the JSON report; the table
    // shows the scalar findings.
    let keys: BTreeSet<&String> = sides
        .iter()
        .flat_map(|s| s.findings.iter().filter(|(_, v)| !v.is_object() && !v.is_array()).map(|(k, _)| k))
        .collect();
    for key in keys {
        rows.push((
            key.replace('_', " "),
            sides.iter().map(|s| s.findings.get(key).map(show_value).unwrap_or_else(|| "-".into())).collect(),
        ));
    }

    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).max(8);
    let column_width = rows
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(String::len))
        .chain(sides.iter().map(|s| s.side.name().len()))
        .max()
        .unwrap_or(10)
        + 2;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} users per side, {:.1} s per side, seed {}",
        report.scenario,
        sides.first().map(|s| s.users).unwrap_or(0),
        report.duration_ms as f64 / 1000.0,
        report.seed
    );
    let _ = write!(out, "{:label_width$}", "");
    for side in sides {
        let _ = write!(out, "  {:>column_width$}", side.side.name());
    }
    out.push('\n');
    let _ = writeln!(out, "{}", "-".repeat(label_width + sides.len() * (column_width + 2)));
    for (label, cells) in rows {
        let _ = write!(out, "{label:label_width$}");
        for cell in cells {
            let _ = write!(out, "  {cell:>column_width$}");
        }
        out.push('\n');
    }
    out
}

/// A few plain sentences with the run's measured numbers.
pub fn verdict(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    let event = report.sides.iter().flat_map(|s| s.events.first()).next();
    if let Some(event) = event {
        let what = match event.kind {
            "kill" => format!(
                "one of the {} nodes was killed (SIGKILL)",
                report.sides.first().map(|s| s.nodes).unwrap_or_default()
            ),
            "start" => "a node joined".to_string(),
            "restart" => "the rolling restart began".to_string(),
            "redis-down" => "Redis went away".to_string(),
            other => other.to_string(),
        };
        lines.push(format!("At {:.1} s {what}.", event.t_ms as f64 / 1000.0));
    }
    for side in &report.sides {
        lines.push(format!(
            "{} ({}): {} of {} users were forced to log in again ({}), {} carts were lost, {} of {} requests failed.",
            side.side,
            side.routing,
            side.users_logged_out,
            side.users,
            percent(side.users_logged_out as u64, side.users as u64),
            side.carts_lost,
            side.failed_requests,
            side.requests,
        ));
    }
    for side in &report.sides {
        lines.extend(haproxy_lines(side));
    }
    lines.extend(report.notes.iter().cloned());
    lines
}

/// What HAProxy itself saw on one side: whether its per-node counts agree
/// with the users' `X-Node` counts, and how long a killed node stayed in
/// rotation.
fn haproxy_lines(side: &SideReport) -> Vec<String> {
    let Some(lb_counts) = &side.lb_per_node_requests else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let differ: Vec<String> = lb_counts
        .iter()
        .filter(|(node, n)| side.per_node_requests.get(*node).copied().unwrap_or(0) != **n)
        .map(|(node, n)| format!("{node} {n} vs {}", side.per_node_requests.get(node).copied().unwrap_or(0)))
        .collect();
    if differ.is_empty() {
        lines.push(format!("{}: HAProxy's per-node counts (show stat req_tot) equal the X-Node counts.", side.side));
    } else {
        lines.push(format!(
            "{}: HAProxy's per-node counts differ from X-Node (haproxy vs X-Node): {}; {} requests failed.",
            side.side,
            differ.join(", "),
            side.failed_requests
        ));
    }
    for kill in side.events.iter().filter(|e| e.kind == "kill") {
        let down =
            side.lb_status_changes.iter().find(|c| c.node == kill.node && c.t_ms >= kill.t_ms && c.status == "DOWN");
        if let Some(down) = down {
            lines.push(format!(
                "{}: HAProxy marked {} DOWN {} ms after the kill (health check every 200 ms, fall 2); \
                 meanwhile it redispatched {} requests that found it dead to other nodes.",
                side.side,
                kill.node,
                down.t_ms - kill.t_ms,
                side.lb_redispatched.get(&kill.node).copied().unwrap_or(0)
            ));
        }
    }
    if let Some(config) = &side.lb_config {
        lines.push(format!("{}: HAProxy configuration: {}", side.side, config.display()));
    }
    lines
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 { "0%".into() } else { format!("{:.1}%", part as f64 * 100.0 / whole as f64) }
}

fn show_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

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
