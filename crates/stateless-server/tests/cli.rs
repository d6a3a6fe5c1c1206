//! What only the stateless server's command line adds: `--redis-url` or
//! `--database-url`, and starting while the store is down. The shared flags are tested on the
//! stateful server (`crates/stateful-server/tests/cli.rs`).

#[path = "../../stateful-server/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Node, assert_one_line_error, run_to_exit};
use local_postgres::PostgresServer;
use local_redis::{RedisCluster, RedisServer, SentinelSet};

const BIN: &str = env!("CARGO_BIN_EXE_stateless-server");

#[test]
fn an_unusable_redis_url_is_a_one_line_error() {
    for url in ["http://127.0.0.1:1", "not a url"] {
        let (code, stderr) = run_to_exit(BIN, &["--port", "0", "--redis-url", url], &[]);
        assert_ne!(code, Some(0), "{url}");
        assert_one_line_error(&stderr);
    }
}

#[tokio::test]
async fn starts_while_redis_is_down_and_serves_once_it_is_up() {
    let mut redis = RedisServer::start().unwrap();
    redis.stop();
    let node = Node::start(BIN, &["--port", "0", "--node-id", "s1"], &[("REDIS_URL", &redis.url())]);
    let health = node.get("/healthz").await;
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "node": "s1", "store": "redis", "status": "store unavailable" }));

    redis.start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.get("/healthz").await.status() != 200 {
        assert!(Instant::now() < deadline, "did not recover within 10 s of Redis starting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn redis_and_a_database_together_are_a_usage_error() {
    let database = "postgres://sessions@127.0.0.1:1/postgres";
    let both = [
        (vec!["--redis-url", "redis://127.0.0.1:1", "--database-url", database], vec![]),
        (vec!["--database-url", database], vec![("REDIS_URL", "redis://127.0.0.1:1")]),
        (vec!["--redis-url", "redis://127.0.0.1:1"], vec![("DATABASE_URL", database)]),
    ];
    for (args, env) in both {
        let (code, stderr) = run_to_exit(BIN, &[&["--port", "0"][..], &args].concat(), &env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
        assert_one_line_error(&stderr);
    }
}

#[test]
fn more_than_one_redis_or_a_sentinel_without_its_master_is_a_usage_error() {
    let url = ["--redis-url", "redis://127.0.0.1:1"];
    let sentinel = ["--redis-sentinel", "127.0.0.1:1", "--redis-master", "sessions"];
    let cluster = ["--redis-cluster", "127.0.0.1:1"];
    let combos: [&[&[&str]]; 5] = [
        &[&url, &sentinel],
        &[&url, &cluster],
        &[&sentinel, &cluster],
        &[&["--redis-sentinel", "127.0.0.1:1"]],
        &[&["--redis-master", "sessions"]],
    ];
    for combo in combos {
        let args: Vec<&str> = ["--port", "0"].into_iter().chain(combo.iter().flat_map(|a| a.iter().copied())).collect();
        let (code, stderr) = run_to_exit(BIN, &args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_one_line_error(&stderr);
    }
}

#[test]
fn an_unusable_database_url_is_a_one_line_error_without_the_password() {
    let (code, stderr) =
        run_to_exit(BIN, &["--port", "0", "--database-url", "postgres://u:s3cret@127.0.0.1:x/db"], &[]);
    assert_ne!(code, Some(0));
    assert_one_line_error(&stderr);
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[tokio::test]
async fn with_a_database_url_sessions_live_in_postgres() {
    // Nothing listens on a free port: the node starts and reports 503.
    let down = format!("postgres://sessions@127.0.0.1:{}/postgres", local_postgres::free_port().unwrap());
    let node = Node::start(BIN, &["--port", "0", "--node-id", "p0"], &[("DATABASE_URL", &down)]);
    let body: serde_json::Value = node.get("/healthz").await.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "node": "p0", "store": "postgres", "status": "store unavailable" }));

    let url = PostgresServer::shared().unwrap().create_database().unwrap();
    let node = Node::start(BIN, &["--port", "0", "--node-id", "p1", "--database-url", &url], &[]);
    let health = node.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "node": "p1", "store": "postgres", "status": "ok" }));
}

/// Logs in and reads `/me` twice over HTTP, as a browser would.
async fn serves_a_session(node: &Node) {
    let client = reqwest::Client::new();
    let login = client.post(format!("{}/login", node.base_url)).json(&serde_json::json!({ "user": "alice" }));
    let response = login.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    for n in 1..=2 {
        let me = client.get(format!("{}/me", node.base_url)).header("cookie", &cookie).send().await.unwrap();
        let body: serde_json::Value = me.json().await.unwrap();
        assert_eq!((body["user"].as_str(), body["requests"].as_u64()), (Some("alice"), Some(n)));
    }
    let health: serde_json::Value = node.get("/healthz").await.json().await.unwrap();
    assert_eq!((health["store"].as_str(), health["status"].as_str()), (Some("redis"), Some("ok")));
}

#[tokio::test]
async fn serves_from_a_sentinel_set_and_from_a_cluster() {
    let set = SentinelSet::start().unwrap();
    let env = [("REDIS_SENTINEL", set.sentinel_addrs()), ("REDIS_MASTER", set.master_name().to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    serves_a_session(&Node::start(BIN, &["--port", "0"], &env)).await;

    let cluster = RedisCluster::start().unwrap();
    serves_a_session(&Node::start(BIN, &["--port", "0", "--redis-cluster", &cluster.seeds()], &[])).await;
}
