//! What a run leaves behind: the terminal table, a short verdict, the JSON
//! report and an SVG chart: the timeline ([`svg`], drawn with the pieces
//! of [`draw`]: a colour-blind-safe palette, hatch patterns, axis ticks,
//! event labels that do not overlap), or the chart a scenario draws itself
//! ([`crate::Scenario::chart`], such as the memory curve of [`memory`] or
//! the sessions that outlived a logout of [`survivors`]).

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::config::{Config, Lb};
use crate::metrics::EventKind;
use crate::report::{Report, SideReport};
use crate::runner::write_json;

pub mod draw;
pub mod memory;
mod scaling;
pub mod survivors;
mod svg;

pub use scaling::{curve, timeline};
pub use svg::{LEGEND, REQUESTS_AXIS, svg};

/// Writes the JSON report and the SVG chart into `out_dir`, and the JSON
/// report to `--json` as well, and records the paths in `report`.
pub fn write_files(config: &Config, report: &mut Report) -> Result<()> {
    if let Some(dir) = &config.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let chart = dir.join(format!("{}.svg", report.scenario));
        let drawn = config.scenario.chart(report).unwrap_or_else(|| svg(report));
        std::fs::write(&chart, drawn).with_context(|| format!("cannot write {}", chart.display()))?;
        report.chart = Some(chart);
        // The scaling scenarios' own charts, beside the usual one.
        for (suffix, drawn) in [("load", timeline(report)), ("curve", curve(report))] {
            if let Some(drawn) = drawn {
                let path = dir.join(format!("{}-{suffix}.svg", report.scenario));
                std::fs::write(&path, drawn).with_context(|| format!("cannot write {}", path.display()))?;
                report.more_charts.push(path);
            }
        }
        let json = dir.join(format!("{}.json", report.scenario));
        report.json = Some(json.clone());
        write_json(report, &json)?;
    }
    if let Some(path) = &config.json {
        write_json(report, path)?;
    }
    Ok(())
}

/// The side-by-side table, one column per side.
pub fn table(report: &Report) -> String {
    let sides = &report.sides;
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&SideReport) -> String| {
        rows.push((label.to_string(), sides.iter().map(f).collect()));
    };
    if sides.iter().any(|s| s.invalid.is_some()) {
        row("result", &|s| if s.invalid.is_some() { "INVALID: most requests failed".into() } else { "valid".into() });
    }
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
    rows.extend(crate::mix::report::rows(sides));
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
    // A scenario that nests its numbers under its own name shows them too.
    let own = report.scenario.replace('-', "_");
    let nested: BTreeSet<String> = sides
        .iter()
        .filter_map(|s| s.findings.get(&own).and_then(Value::as_object))
        .flat_map(|o| o.iter().flat_map(|(k, v)| flatten(k, v)).map(|(k, _)| k))
        .collect();
    for key in nested {
        let cell = |s: &SideReport| {
            let object = s.findings.get(&own).and_then(Value::as_object);
            let found =
                object.into_iter().flat_map(|o| o.iter().flat_map(|(k, v)| flatten(k, v))).find(|(k, _)| *k == key);
            found.map(|(_, v)| show_value(&v)).unwrap_or_else(|| "-".into())
        };
        rows.push((key.replace('_', " "), sides.iter().map(cell).collect()));
    }

    let mut header = vec![String::new()];
    header.extend(sides.iter().map(|s| s.side.name().to_string()));
    let rows = rows.into_iter().map(|(label, cells)| std::iter::once(label).chain(cells).collect()).collect();
    format!(
        "{}: {} users per side, {:.1} s per side, seed {}\n{}",
        report.scenario,
        sides.first().map(|s| s.users).unwrap_or(0),
        report.duration_ms as f64 / 1000.0,
        report.seed,
        crate::table::plain(header, rows, 1)
    )
}

/// A few plain sentences with the run's measured numbers.
pub fn verdict(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    let event = report.sides.iter().flat_map(|s| s.events.first()).next();
    if let Some(event) = event {
        let what = match event.kind {
            EventKind::Kill => format!(
                "one of the {} nodes was killed (SIGKILL)",
                report.sides.first().map(|s| s.nodes).unwrap_or_default()
            ),
            EventKind::Start => "a node joined".to_string(),
            EventKind::ScaleOut => "the autoscaler added a node".to_string(),
            EventKind::Drain => "the autoscaler began draining a node".to_string(),
            EventKind::ScaleIn => "a drained node was stopped".to_string(),
            EventKind::Restart => "the rolling restart began".to_string(),
            EventKind::RedisDown => "Redis went away".to_string(),
            EventKind::RedisUp => "Redis came back".to_string(),
            EventKind::RedisFrozen => "Redis was frozen (SIGSTOP)".to_string(),
            EventKind::RedisThawed => "Redis was thawed (SIGCONT)".to_string(),
            EventKind::FloodStart => "the flood began".to_string(),
            EventKind::FloodEnd => "the flood ended".to_string(),
            EventKind::DatabaseDown => "PostgreSQL went away".to_string(),
            EventKind::DatabaseUp => "PostgreSQL came back".to_string(),
            EventKind::Promoted => "a Redis replica was promoted to primary".to_string(),
            EventKind::LogoutEverywhere => {
                "users began asking, from one of their two devices, to end all their sessions".to_string()
            }
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
    lines.extend(crate::mix::report::verdict(report));
    for side in &report.sides {
        if let Some(why) = &side.invalid {
            lines.push(format!("{}: NOT A RESULT: {why}.", side.side));
        }
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
    for kill in side.events.iter().filter(|e| e.kind == EventKind::Kill) {
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

/// `key` and its scalar value, or each scalar inside it as `key KEY2`.
fn flatten(key: &str, value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Object(map) => map.iter().flat_map(|(k, v)| flatten(&format!("{key} {k}"), v)).collect(),
        Value::Array(_) => Vec::new(),
        scalar => vec![(key.to_string(), scalar.clone())],
    }
}

fn show_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}
