//! `harness bench`: a tiny run measures every endpoint on every twin, with
//! no errors, reads what each process spent, and writes its JSON report.
//! (Speed is never asserted: only that the figures exist and came from
//! answered requests.)
//!
//! The server binaries must be built first (`cargo build --workspace --bins`).

use std::time::Duration;

use harness::Side;
use harness::bench::{BenchConfig, Endpoint, run_blocking};

#[test]
fn a_short_bench_measures_every_endpoint_on_every_side_without_errors() {
    let out = tempfile::tempdir().unwrap();
    let sides = [Side::Stateful, Side::Stateless, Side::Token];
    let config = BenchConfig {
        sides: Some(sides.to_vec()),
        connections: 4,
        duration: Duration::from_secs(1),
        out_dir: Some(out.path().to_path_buf()),
        ..BenchConfig::default()
    };
    let report = run_blocking(&config).unwrap_or_else(|e| {
        panic!("bench failed: {e:#} (are the server binaries built? `cargo build --workspace --bins`)")
    });

    for side in sides {
        let row = report.side(side).unwrap_or_else(|| panic!("no {side} entry"));
        for endpoint in Endpoint::ALL {
            let figures = row.endpoint(endpoint).unwrap_or_else(|| panic!("{side}: no {} entry", endpoint.name()));
            assert!(figures.requests > 0, "{side} {}: no answered request", endpoint.name());
            assert_eq!(figures.errors(), 0, "{side} {}: errors {:?}", endpoint.name(), figures.statuses);
            assert!(figures.req_per_s > 0.0 && figures.latency_ms.p50 > 0.0, "{side} {}: {figures:?}", endpoint.name());
            // Where the time went: the node and the generator both worked
            // for every answer, and Redis for every stateless one.
            let cpu = figures.cpu_us_per_request;
            assert!(cpu.node.is_some_and(|us| us > 0.0), "{side} {}: {cpu:?}", endpoint.name());
            assert!(cpu.generator.is_some_and(|us| us > 0.0), "{side} {}: {cpu:?}", endpoint.name());
            assert!(cpu.redis.is_some(), "{side} {}: the harness started Redis: {cpu:?}", endpoint.name());
            if side == Side::Stateless {
                assert!(cpu.redis.is_some_and(|us| us > 0.0), "{side} {}: {cpu:?}", endpoint.name());
            }
        }
    }
    assert_eq!(report.errors, 0);
    // Each twin beside the stateful one, per endpoint, and the /me floor.
    assert_eq!(report.ratios.len(), 2 * Endpoint::ALL.len());
    assert!(report.me_floor.is_some());

    let json = out.path().join("bench.json");
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["sides"].as_array().map(Vec::len), Some(3));
    assert_eq!(value["sides"][1]["endpoints"][1]["endpoint"], "GET /me");
}
