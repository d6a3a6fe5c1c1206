//! The scenarios with a real HAProxy between the users and the nodes
//! (`--lb haproxy`): the same losses as with the harness's own router, and
//! HAProxy's own per-node counts (`show stat` `req_tot`) agree with the
//! users' `X-Node` counts.
//!
//! Needs `haproxy` (`sudo apt-get install -y haproxy`; `just test` installs
//! it) and the server binaries (`cargo build --workspace --bins`).

use crate::common;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use harness::haproxy::Balance;
use harness::metrics::EventKind;
use harness::{Config, Lb, Report, Scenario, Side, SideReport, scenario};

/// The runs take turns: two clusters under load at once on a small machine
/// would measure each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(
    scenario: &'static dyn Scenario,
    sides: &[Side],
    users: usize,
    seconds: u64,
    balance: Option<Balance>,
) -> Report {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(harness::haproxy::is_installed(), "haproxy is missing: {}", harness::haproxy::INSTALL_HINT);
    let mut config = Config::new(scenario);
    config.nodes = 3;
    config.users = users;
    config.duration = Duration::from_secs(seconds);
    config.sides = Some(sides.to_vec());
    config.lb = Lb::Haproxy;
    config.lb_balance = balance;
    match harness::run_blocking(&config) {
        Ok(report) => report,
        Err(e) => panic!("{scenario} through HAProxy failed: {e:#}"),
    }
}

/// HAProxy's count per node equals the users' `X-Node` count, give or take
/// requests that failed (a request in flight on a node that was killed may
/// be counted by HAProxy and answered with its own 502, without `X-Node`).
fn assert_counts_agree(side: &SideReport) {
    let lb = side.lb_per_node_requests.as_ref().unwrap_or_else(|| panic!("no HAProxy counts for {}", side.side));
    assert_eq!(lb.len(), side.nodes, "{}: one count per node: {lb:?}", side.side);
    for (node, &by_lb) in lb {
        let by_users = side.per_node_requests.get(node).copied().unwrap_or(0);
        assert!(
            by_users <= by_lb && by_lb <= by_users + side.failed_requests,
            "{}: HAProxy counted {by_lb} on {node}, users saw X-Node {by_users} ({} failed)",
            side.side,
            side.failed_requests
        );
    }
}

#[test]
fn through_haproxy_a_dead_node_logs_out_its_stateful_users_and_no_stateless_one() {
    let users = 30;
    let report = run(&scenario::NodeDeath, &[Side::Stateful, Side::Stateless], users, 4, None);

    let stateful = common::side(&report, Side::Stateful);
    let on_dead_node = common::number(stateful, "users_logged_in_on_killed_node") as usize;
    assert!((users / 6..=users / 2).contains(&on_dead_node), "{on_dead_node} users on the killed node");
    // HAProxy ignored their SERVERID cookie (its server is down) and
    // redispatched them to a node that never saw their session.
    assert_eq!(stateful.users_logged_out, on_dead_node, "{:#?}", stateful.logouts);
    assert!(stateful.logouts.iter().all(|l| l.session_node == "stateful-1" && l.answered_by != "stateful-1"));

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.users_logged_out, 0);
    assert_eq!(stateless.carts_lost, 0);
    assert_eq!(stateless.unauthorized, 0);

    for side in [stateful, stateless] {
        assert_eq!(side.lb, Lb::Haproxy);
        assert_eq!(common::number(side, "failed_away_from_kill"), 0.0, "{} failed away from the kill", side.side);
        assert!(side.requests > users as u64 * 10, "{} sent too few requests", side.side);
        assert_counts_agree(side);
        // Its health checks took the dead node out of rotation.
        let kill = side.events.iter().find(|e| e.kind == EventKind::Kill).expect("a kill event");
        assert!(
            side.lb_status_changes.iter().any(|c| c.node == kill.node && c.status == "DOWN" && c.t_ms >= kill.t_ms),
            "{}: HAProxy never marked {} DOWN: {:?}",
            side.side,
            kill.node,
            side.lb_status_changes
        );
    }
}

#[test]
fn through_haproxy_a_deploy_logs_out_every_stateful_user_and_no_stateless_one() {
    let report = run(&scenario::RollingRestart, &[Side::Stateful, Side::Stateless], 24, 4, None);

    let stateful = common::side(&report, Side::Stateful);
    assert_eq!(stateful.users_logged_out, stateful.users, "{:?}", stateful.findings);

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.users_logged_out, 0);
    assert_eq!(stateless.carts_lost, 0);

    for side in [stateful, stateless] {
        assert_counts_agree(side);
        // Each node went into maintenance before its restart and came back.
        for n in 1..=3 {
            let node = format!("{}-{n}", side.side);
            let states: Vec<&str> =
                side.lb_status_changes.iter().filter(|c| c.node == node).map(|c| c.status.as_str()).collect();
            assert!(states.starts_with(&["MAINT"]) && states.contains(&"UP"), "{node}: {states:?}");
            assert!(side.per_node_requests.get(&node).is_some_and(|&n| n > 0), "{node} never served again");
        }
    }
}

#[test]
fn without_the_cookie_stateful_users_bounce_and_balance_source_pins_one_machine_to_one_node() {
    // Round-robin without SERVERID: most requests land on a node that does
    // not hold the session.
    let report = run(&scenario::RoundRobin, &[Side::Stateful], 12, 2, None);
    let stateful = common::side(&report, Side::Stateful);
    assert!(common::number(stateful, "unauthorized_share") > 0.5, "{:?}", stateful.findings);
    assert_counts_agree(stateful);

    // `balance source` (nginx's ip_hash): every user comes from 127.0.0.1,
    // so one node gets everything: no logout, and no load spread either.
    let report = run(&scenario::RoundRobin, &[Side::Stateful], 12, 2, Some(Balance::Source));
    let stateful = common::side(&report, Side::Stateful);
    assert_eq!(stateful.users_logged_out, 0);
    assert_eq!(stateful.lb_balance, Some(Balance::Source));
    assert_counts_agree(stateful);
    let lb = stateful.lb_per_node_requests.as_ref().unwrap();
    let busy: Vec<_> = lb.iter().filter(|(_, n)| **n > 0).collect();
    assert_eq!(busy.len(), 1, "one node should get all the load: {lb:?}");
    assert_eq!(*busy[0].1, stateful.requests - stateful.failed_requests);
}

fn harness(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("harness runs")
}

#[test]
fn without_haproxy_it_says_how_to_install_it_and_exits_2() {
    let out = harness(
        &["run", "node-death", "--lb", "haproxy", "--sides", "stateful", "--duration", "1s"],
        &[(harness::haproxy::BINARY_ENV, "/nonexistent/haproxy")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install -y haproxy"));

    let out = harness(&["run", "node-death", "--lb-balance", "source", "--duration", "1s"], &[]);
    assert_eq!(out.status.code(), Some(2), "--lb-balance without --lb haproxy");
    let out = harness(&["run", "node-death", "--lb", "nginx"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_run_through_haproxy_writes_its_configuration_and_both_counts() {
    let out = tempfile::tempdir().unwrap();
    let status = {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        harness(
            &[
                "run",
                "node-death",
                "--lb",
                "haproxy",
                "--users",
                "6",
                "--duration",
                "1500ms",
                "--sides",
                "stateful",
                "--out",
                out.path().to_str().unwrap(),
            ],
            &[],
        )
    };
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stderr));
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("haproxy (balance roundrobin)"), "{stdout}");

    let config = std::fs::read_to_string(out.path().join("haproxy-node-death-stateful.cfg")).unwrap();
    assert!(config.contains("cookie SERVERID insert indirect nocache"), "{config}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("node-death.json")).unwrap()).unwrap();
    let side = &report["sides"][0];
    assert_eq!(side["lb"], "haproxy");
    assert!(side["lb_config"].as_str().unwrap().ends_with("haproxy-node-death-stateful.cfg"));
    assert_eq!(side["lb_per_node_requests"].as_object().unwrap().len(), 3);

    // HAProxy was waited for before the harness returned: no process runs
    // with this run's configuration any more.
    let config_path = out.path().join("haproxy-node-death-stateful.cfg");
    let still_running: Vec<_> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(config_path.to_str().unwrap()))
        .collect();
    assert!(still_running.is_empty(), "HAProxy outlived the harness: {still_running:?}");
}
