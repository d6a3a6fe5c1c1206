//! What only the stateless server's command line adds: `--redis-url`, and
//! starting while Redis is down. The shared flags are tested on the
//! stateful server (`crates/stateful-server/tests/cli.rs`).

#[path = "../../stateful-server/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Node, assert_one_line_error, run_to_exit};
use local_redis::RedisServer;
use local_s3::S3Server;

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
    // No --object-store: files are not configured either.
    let expected = serde_json::json!({ "node": "s1", "store": "redis", "status": "store unavailable",
        "orders": "not configured", "rooms": "redis", "files": "not configured" });
    assert_eq!(body, expected);

    redis.start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.get("/healthz").await.status() != 200 {
        assert!(Instant::now() < deadline, "did not recover within 10 s of Redis starting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn an_unusable_object_store_url_is_a_one_line_error_that_keeps_the_secret() {
    for url in ["http://key:s3cret-value@10.0.0.1:9000/files", "http://key:s3cret-value@127.0.0.1:9000/", "not a url"] {
        for (args, env) in [(vec!["--object-store", url], vec![]), (vec![], vec![("OBJECT_STORE_URL", url)])] {
            let args: Vec<&str> = ["--port", "0"].into_iter().chain(args).collect();
            let (code, stderr) = run_to_exit(BIN, &args, &env);
            assert_ne!(code, Some(0), "{url}");
            assert_one_line_error(&stderr);
            assert!(stderr.contains("--object-store"), "{stderr}");
            assert!(!stderr.contains("s3cret-value"), "the secret is echoed: {stderr}");
        }
    }
}

#[tokio::test]
async fn an_object_store_url_configures_files_and_help_keeps_its_secret() {
    let (redis, s3) = (RedisServer::start().unwrap(), S3Server::start().unwrap());
    let env = [("REDIS_URL", redis.url()), ("OBJECT_STORE_URL", s3.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let node = Node::start(BIN, &["--port", "0", "--node-id", "s2"], &env);
    let health: serde_json::Value = node.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["files"], "s3");
    let help = std::process::Command::new(BIN).arg("--help").env("OBJECT_STORE_URL", s3.url()).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--object-store"), "{help}");
    assert!(!help.contains(s3.secret_key()), "--help prints the secret");
}
