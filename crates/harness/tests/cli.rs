//! The `harness` binary's command line: usage errors exit 2.

use std::path::PathBuf;
use std::process::Command;

fn harness(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).args(args).output().expect("harness runs")
}

#[test]
fn bad_usage_exits_2_with_a_reason() {
    for args in [
        &["run", "no-such-scenario"][..],
        &["run", "node-death", "--users", "0"],
        &["run", "node-death", "--duration", "soon"],
        &["run", "node-death", "--sides", "stateful,nope"],
        &["run", "node-death", "--mix", "files"],
        &["run", "node-death", "--mix", "sessions,queues"],
        &["demo", "--mix", "sessions,nope"],
        &["frobnicate"],
    ] {
        let out = harness(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stderr.is_empty(), "{args:?} gave no reason");
    }
}

#[test]
fn missing_server_binaries_are_bad_usage() {
    let empty = tempfile::tempdir().unwrap();
    let out = harness(&["run", "node-death", "--bin-dir", empty.path().to_str().unwrap(), "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cargo build"));
}

#[test]
fn list_names_every_scenario() {
    let out = harness(&["list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "node-death",
        "round-robin",
        "scale-out",
        "rolling-restart",
        "redis-outage",
        "logout-replay",
        "logout-everywhere",
        "key-mismatch",
        "concurrent-cart",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{text}");
    }
}

/// `target/<profile>`, where the server binaries are built.
fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_harness")).parent().unwrap().to_path_buf()
}

#[test]
fn a_run_writes_the_json_report_and_the_chart() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("elsewhere/report.json");
    let status = harness(&[
        "run",
        "node-death",
        "--users",
        "6",
        "--duration",
        "1500ms",
        "--sides",
        "stateful",
        "--out",
        out.path().to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stderr));
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.contains("users logged out"), "no table in:\n{stdout}");

    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["scenario"], "node-death");
    let side = &report["sides"][0];
    assert_eq!(side["side"], "stateful");
    assert_eq!(side["routing"], "sticky");
    for field in [
        "nodes",
        "users",
        "requests",
        "failed_requests",
        "unauthorized",
        "users_logged_out",
        "carts_lost",
        "per_node_requests",
        "latency_ms",
        "timeline",
        "events",
    ] {
        assert!(!side[field].is_null(), "field {field} missing");
    }
    for p in ["p50", "p99", "max"] {
        assert!(side["latency_ms"][p].is_number());
    }
    let bucket = &side["timeline"][0];
    for field in ["t_ms", "ok", "failed", "unauthorized"] {
        assert!(bucket[field].is_number(), "timeline lacks {field}");
    }
    let kill = &side["events"][0];
    assert_eq!(kill["kind"], "kill");
    assert_eq!(kill["node"], "stateful-1");
    assert!(kill["t_ms"].is_number());

    let svg = std::fs::read_to_string(out.path().join("node-death.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("kill stateful-1"));
    assert!(out.path().join("node-death.json").is_file());
}

#[test]
fn without_redis_server_it_says_how_to_install_it_and_exits_2() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "node-death", "--sides", "stateless", "--duration", "1s"])
        .args(["--bin-dir", bin_dir().to_str().unwrap()])
        .env("PATH", empty.path())
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(local_redis::INSTALL_HINT));
}

#[test]
fn without_the_object_store_a_files_run_says_how_to_install_it_and_exits_2() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "round-robin", "--sides", "stateless", "--mix", "sessions,files", "--duration", "1s"])
        .args(["--bin-dir", bin_dir().to_str().unwrap()])
        .env("PATH", empty.path())
        .env("HOME", empty.path())
        .env("CARGO_HOME", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(local_s3::INSTALL_HINT));
}

#[test]
fn a_redis_url_where_nothing_answers_stops_the_run_before_it_starts() {
    // A port that was free a moment ago: nothing listens there.
    let port = local_redis::free_port().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "node-death", "--sides", "stateful,stateless", "--duration", "1s"])
        .args(["--bin-dir", bin_dir().to_str().unwrap()])
        .args(["--out", tempfile::tempdir().unwrap().path().to_str().unwrap()])
        .env("REDIS_URL", format!("redis://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("REDIS_URL") && stderr.contains(&port.to_string()), "{stderr}");
    // Nothing was run: no table.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("users logged out"));
}

#[test]
fn the_harness_s_own_warnings_reach_stderr() {
    let redis = crate::common::shared_redis();
    let files = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "redis-outage", "--sides", "stateless", "--users", "4", "--duration", "1s"])
        .args(["--bin-dir", bin_dir().to_str().unwrap(), "--redis-url", &redis.url()])
        .args(["--out", files.path().to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("WARN") && stderr.contains("the outage is skipped"), "{stderr}");
}
