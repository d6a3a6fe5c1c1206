//! What the scenario tests share: a small run of the twins.
//!
//! The server binaries must be built first (`cargo build --workspace --bins`,
//! which `just test` does); the harness finds them in `target/<profile>/`,
//! one level above the test executable.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use harness::{Config, Report, Scenario, Side, SideReport};

/// Both twins, 3 nodes, `users` users, `seconds` per side, no files written.
pub fn run(scenario: Scenario, users: usize, seconds: u64) -> Report {
    run_sides(scenario, &[Side::Stateful, Side::Stateless], users, seconds)
}

/// `sides`, 3 nodes, `users` users, `seconds` per side, no files written.
pub fn run_sides(scenario: Scenario, sides: &[Side], users: usize, seconds: u64) -> Report {
    let mut config = Config::new(scenario);
    config.nodes = 3;
    config.users = users;
    config.duration = Duration::from_secs(seconds);
    config.sides = Some(sides.to_vec());
    match harness::run_blocking(&config) {
        Ok(report) => report,
        Err(e) => panic!("{scenario} failed: {e:#} (are the server binaries built? `cargo build --workspace --bins`)"),
    }
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
