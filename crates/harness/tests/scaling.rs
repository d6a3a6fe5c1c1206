//! The scaling scenarios at small size on all three twins: `overload` (the
//! autoscaler adds a node), `scale-in` (a drained node logs out its sticky
//! users and nobody else), `capacity` (a sustained rate per node count).
//! Only shapes and directions are asserted, never a speed.

use std::time::Duration;

use harness::metrics::EventKind;
use harness::{Config, Report, Scenario, Side, SideReport, scenario};

use crate::common;

const SIDES: [Side; 3] = [Side::Stateful, Side::Stateless, Side::Token];

/// All three twins; `own_redis` lets the harness start its own Redis, whose
/// CPU time it can read.
fn run(scenario: &'static dyn Scenario, nodes: usize, seconds: u64, own_redis: bool) -> Report {
    let mut config = Config::new(scenario);
    config.nodes = nodes;
    config.duration = Duration::from_secs(seconds);
    config.sides = Some(SIDES.to_vec());
    let redis = (!own_redis).then(common::shared_redis);
    config.redis_url = redis.as_ref().map(|r| r.url());
    harness::run_blocking(&config).unwrap_or_else(|e| panic!("{scenario} failed: {e:#}"))
}

fn nested<'a>(side: &'a SideReport, object: &str, key: &str) -> &'a serde_json::Value {
    side.findings
        .get(object)
        .and_then(|o| o.get(key))
        .unwrap_or_else(|| panic!("no `{object}.{key}` for {}: {:?}", side.side, side.findings.get(object)))
}

#[test]
fn under_a_ramp_past_capacity_the_autoscaler_adds_nodes_on_every_twin() {
    let report = run(&scenario::Overload, 1, 6, false);
    for side in SIDES {
        let row = common::side(&report, side);
        let outs = row.events.iter().filter(|e| e.kind == EventKind::ScaleOut).count();
        assert!(outs >= 1, "{side}: no scale-out: {:?}", row.events);
        assert_eq!(nested(row, "overload", "scale_outs").as_u64(), Some(outs as u64));
        assert!(nested(row, "overload", "first_scale_out_s").as_f64().is_some());
        for key in ["recovery_s", "p99_ms_users_before", "p99_ms_users_after", "rejected"] {
            nested(row, "overload", key);
        }
        assert!(row.per_node_requests.len() > 1, "{side}: the added node served nobody: {:?}", row.per_node_requests);
        let loads = row.findings["load_over_time"]["per_node"].as_object().expect("per-node load");
        // A node added in the last sampling interval may not have been read yet.
        assert!((outs..=1 + outs).contains(&loads.len()), "{side}: every node's load is sampled: {}", loads.len());
        assert!(!row.findings["latency_over_time"].as_array().unwrap().is_empty());
        assert_eq!(row.users_logged_out, 0, "{side}: adding a node logs nobody out");
    }
}

#[test]
fn a_drained_node_logs_out_its_sticky_users_and_nobody_else() {
    let report = run(&scenario::ScaleIn, 2, 12, false);
    for side in SIDES {
        let row = common::side(&report, side);
        let kinds: Vec<EventKind> = row.events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Drain, EventKind::ScaleIn], "{side}: one node drained, then stopped");
        assert!(nested(row, "scale_in", "drain_s").as_f64().is_some());
    }
    let stateful = common::side(&report, Side::Stateful);
    assert!(stateful.users_logged_out > 0, "sticky users of the removed node lose their sessions");
    assert!(nested(stateful, "scale_in", "users_logged_out_by_removal").as_u64() > Some(0));
    for side in [Side::Stateless, Side::Token] {
        let row = common::side(&report, side);
        assert_eq!(row.users_logged_out, 0, "{side}: nobody is logged out by a graceful scale-in");
    }
}

#[test]
fn the_sweep_reports_a_sustained_rate_for_each_node_count() {
    let report = run(&scenario::CapacitySweep, 3, 4, true);
    for side in SIDES {
        let row = common::side(&report, side);
        assert_eq!(row.nodes, 1, "the sweep starts with one node");
        let joins = row.events.iter().filter(|e| e.kind == EventKind::Start).count();
        assert_eq!(joins, 3, "{side}: nodes 2 to 4 join, on the sweep's plan (no autoscaler)");
        let sustained = nested(row, "capacity", "sustained_rps").as_object().unwrap();
        assert_eq!(sustained.keys().collect::<Vec<_>>(), ["1", "2", "3", "4"], "{side}");
        assert_eq!(row.findings["capacity_steps"].as_array().unwrap().len(), 20);
    }
    let uses_redis = nested(common::side(&report, Side::Stateless), "capacity", "redis_cpu_us_per_request");
    assert!(uses_redis.as_f64().is_some_and(|us| us > 0.0), "{uses_redis}");
    let stateful = nested(common::side(&report, Side::Stateful), "capacity", "redis_cpu_us_per_request");
    assert!(stateful.is_null(), "the stateful twin does not use Redis");
}

#[test]
fn through_haproxy_the_autoscaler_fills_a_spare_slot_that_then_serves() {
    assert!(harness::haproxy::is_installed(), "haproxy is missing: {}", harness::haproxy::INSTALL_HINT);
    let mut config = Config::new(&scenario::Overload);
    config.nodes = 1;
    config.duration = Duration::from_secs(6);
    config.sides = Some(vec![Side::Stateless]);
    config.lb = harness::Lb::Haproxy;
    let redis = common::shared_redis();
    config.redis_url = Some(redis.url());
    let report = harness::run_blocking(&config).unwrap_or_else(|e| panic!("overload through HAProxy failed: {e:#}"));
    let row = common::side(&report, Side::Stateless);
    let added: Vec<&str> =
        row.events.iter().filter(|e| e.kind == EventKind::ScaleOut).map(|e| e.node.as_str()).collect();
    assert!(!added.is_empty(), "no scale-out: {:?}", row.events);
    let counts = row.lb_per_node_requests.as_ref().expect("HAProxy's counts");
    for node in added {
        assert!(counts.get(node).is_some_and(|&n| n > 0), "HAProxy sent {node} nothing: {counts:?}");
    }
}
