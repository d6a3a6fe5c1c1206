//! What only the stateless server's command line adds: `--redis-url`, and
//! starting while Redis is down. The shared flags are tested on the
//! stateful server (`crates/stateful-server/tests/cli.rs`).

#[path = "../../stateful-server/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Node, assert_one_line_error, run_to_exit};
use local_redis::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_stateless-server");

#[test]
fn an_unusable_redis_url_is_a_one_line_error() {
    for url in ["http://127.0.0.1:1", "not a url"] {
        let (code, stderr) = run_to_exit(BIN, &["--port", "0", "--redis-url", url], &[]);
        assert_ne!(code, Some(0), "{url}");
        assert_one_line_error(&stderr);
    }
}

#[test]
fn an_unusable_amqp_or_broker_url_is_a_one_line_error() {
    for args in [["--amqp-url", "not a url"], ["--broker-url", "http://127.0.0.1:1"]] {
        let (code, stderr) = run_to_exit(BIN, &[&["--port", "0"][..], &args[..]].concat(), &[]);
        assert_ne!(code, Some(0), "{args:?}");
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
    // No --amqp-url: orders are not configured on this node; rooms use the sessions' Redis.
    let expected = serde_json::json!({ "node": "s1", "store": "redis", "status": "store unavailable",
        "orders": "not configured", "rooms": "redis" });
    assert_eq!(body, expected);

    redis.start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.get("/healthz").await.status() != 200 {
        assert!(Instant::now() < deadline, "did not recover within 10 s of Redis starting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
