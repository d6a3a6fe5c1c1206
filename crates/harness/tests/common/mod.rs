//! What the scenario tests share: a small run of the twins, and one private
//! Redis for every run whose scenario leaves Redis alone.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use harness::{Config, Mix, Report, Scenario, Side, SideReport};
use local_redis::RedisServer;

/// The Redis the runs share while any of them holds it: started by the
/// first, stopped (and waited for) when the last one lets go, so nothing is
/// left running after the tests.
static SHARED_REDIS: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

/// The shared Redis, started if no run holds it now.
pub fn shared_redis() -> Arc<RedisServer> {
    let mut shared = SHARED_REDIS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(redis) = shared.upgrade() {
        return redis;
    }
    let redis = Arc::new(RedisServer::start().expect("start redis-server"));
    *shared = Arc::downgrade(&redis);
    redis
}

/// Both twins, 3 nodes, `users` users, `seconds` per side, no files written.
pub fn run(scenario: &'static dyn Scenario, users: usize, seconds: u64) -> Report {
    run_sides(scenario, &[Side::Stateful, Side::Stateless], users, seconds)
}

/// `sides`, 3 nodes, `users` users, `seconds` per side, no files written.
/// A scenario that stops Redis or reads its counters gets a Redis of its own; the others
/// share one.
pub fn run_sides(scenario: &'static dyn Scenario, sides: &[Side], users: usize, seconds: u64) -> Report {
    run_mix(scenario, sides, users, seconds, Mix::default())
}

/// Like [`run_sides`], with users exercising the kinds of state of `mix`.
pub fn run_mix(scenario: &'static dyn Scenario, sides: &[Side], users: usize, seconds: u64, mix: Mix) -> Report {
    let mut config = Config::new(scenario);
    config.mix = mix;
    config.nodes = 3;
    config.users = users;
    config.duration = Duration::from_secs(seconds);
    config.sides = Some(sides.to_vec());
    let redis = (!scenario.own_redis()).then(shared_redis);
    config.redis_url = redis.as_ref().map(|r| r.url());
    let report = match harness::run_blocking(&config) {
        Ok(report) => report,
        Err(e) => panic!("{scenario} failed: {e:#} (are the server binaries built? `cargo build --workspace --bins`)"),
    };
    chart_texts(&report);
    report
}

/// The texts of `report`'s chart, after checking what every chart must
/// have: well-formed SVG, a lane per side with its labelled y axis, and
/// the legend's entries.
pub fn chart_texts(report: &Report) -> Vec<String> {
    let svg = harness::output::svg(report);
    let document = roxmltree::Document::parse(&svg)
        .unwrap_or_else(|e| panic!("the {} chart is not well-formed: {e}", report.scenario));
    let texts: Vec<String> = document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect())
        .collect();
    let count = |wanted: &str| texts.iter().filter(|t| *t == wanted).count();
    assert_eq!(count(harness::output::REQUESTS_AXIS), report.sides.len(), "a y axis per lane: {texts:?}");
    for entry in harness::output::LEGEND {
        assert_eq!(count(entry), 1, "legend entry `{entry}`: {texts:?}");
    }
    for side in &report.sides {
        assert_eq!(count(&format!("{} ({})", side.side, side.routing)), 1, "a lane for {}", side.side);
    }
    texts
}

/// The row of `side`.
pub fn side(report: &Report, side: Side) -> &SideReport {
    report.side(side).unwrap_or_else(|| panic!("no {side} row in the report"))
}

/// A finding as a number.
pub fn number(side: &SideReport, key: &str) -> f64 {
    side.findings
        .get(key)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("no numeric finding `{key}` for {}: {:?}", side.side, side.findings))
}

/// Asserts that every lane's strip sums to its findings `(part, whole)`
/// ("930 of 1860 lost"): the series the chart draws over time counts what
/// the findings count.
pub fn assert_chart_sums(report: &Report, (part, whole): (&str, &str), what: &str) {
    let chart = chart_texts(report);
    for side in &report.sides {
        let sum = format!("{} of {} {what}", number(side, part), number(side, whole));
        assert!(chart.contains(&sum), "{}: no `{sum}` in the chart: {chart:?}", side.side);
    }
}
