//! What only the token server's command line adds: `--token-key` (no key,
//! no start) and `--revocation-redis`. The shared flags are tested on the
//! stateful server (`crates/stateful-server/tests/cli.rs`).

#[path = "../../stateful-server/tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};

use common::{Node, assert_one_line_error, run_to_exit};
use local_redis::RedisServer;
use local_s3::S3Server;
use reqwest::header::COOKIE;

const BIN: &str = env!("CARGO_BIN_EXE_token-server");
const KEY: &str = "cli-test-key-that-is-longer-than-32-bytes";

#[test]
fn without_a_key_it_refuses_to_start_with_one_line() {
    let output = Command::new(BIN)
        .args(["--port", "0"])
        .env_remove("TOKEN_KEY")
        .env_remove("PORT")
        .stdin(Stdio::null())
        .output()
        .expect("run token-server");
    assert_ne!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty(), "stdout must stay empty on errors");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_one_line_error(&stderr);
    assert!(stderr.contains("--token-key") && stderr.contains("TOKEN_KEY"), "{stderr}");
}

#[test]
fn a_short_key_is_refused_with_one_line() {
    let short = "x".repeat(31);
    for (args, env) in [(vec!["--token-key", short.as_str()], vec![]), (vec![], vec![("TOKEN_KEY", short.as_str())])] {
        let args: Vec<&str> = ["--port", "0"].into_iter().chain(args).collect();
        let (code, stderr) = run_to_exit(BIN, &args, &env);
        assert_ne!(code, Some(0));
        assert_one_line_error(&stderr);
        assert!(stderr.contains("32 bytes"), "{stderr}");
        assert!(!stderr.contains(&short), "the key is echoed: {stderr}");
    }
}

#[test]
fn an_unusable_revocation_url_is_a_one_line_error() {
    let (code, stderr) =
        run_to_exit(BIN, &["--port", "0", "--token-key", KEY, "--revocation-redis", "http://127.0.0.1:1"], &[]);
    assert_ne!(code, Some(0));
    assert_one_line_error(&stderr);
}

#[test]
fn help_does_not_show_the_key_from_the_environment() {
    let output = Command::new(BIN).arg("--help").env("TOKEN_KEY", KEY).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--token-key") && help.contains("--revocation-redis"), "{help}");
    assert!(!help.contains(KEY), "--help prints the key");
}

async fn me(node: &Node, sid: &str) -> reqwest::StatusCode {
    let client = reqwest::Client::new();
    client.get(format!("{}/me", node.base_url)).header(COOKIE, format!("sid={sid}")).send().await.unwrap().status()
}

#[test]
fn orders_without_a_broker_url_are_a_one_line_error() {
    let (code, stderr) =
        run_to_exit(BIN, &["--port", "0", "--amqp-url", "amqp://127.0.0.1:1/%2f"], &[("TOKEN_KEY", KEY)]);
    assert_ne!(code, Some(0));
    assert_one_line_error(&stderr);
    assert!(stderr.contains("--broker-url"), "{stderr}");
}

#[tokio::test]
async fn nodes_sharing_the_key_serve_each_other_and_a_stranger_does_not() {
    let redis = RedisServer::start().unwrap();
    let a = Node::start(BIN, &["--port", "0", "--node-id", "t1"], &[("TOKEN_KEY", KEY)]);
    let b = Node::start(
        BIN,
        &["--port", "0", "--node-id", "t2", "--token-key", KEY, "--revocation-redis", &redis.url()],
        &[],
    );
    let stranger = Node::start(BIN, &["--port", "0", "--node-id", "t3"], &[("TOKEN_KEY", &"z".repeat(40))]);

    let health: serde_json::Value = a.get("/healthz").await.json().await.unwrap();
    // No --broker-url and no --object-store: neither orders, rooms nor files
    // are configured on this node.
    let expected = serde_json::json!({ "node": "t1", "store": "token", "status": "ok",
        "orders": "not configured", "rooms": "not configured", "files": "not configured" });
    assert_eq!(health, expected);
    assert_eq!(b.get("/healthz").await.status(), 200);

    let sid = a.login("alice").await;
    assert_eq!(me(&b, &sid).await, 200, "a node with the same key refused the token");
    assert_eq!(me(&stranger, &sid).await, 401, "a node with another key accepted the token");
}

#[tokio::test]
async fn an_object_store_url_configures_files_and_a_bad_one_is_a_one_line_error() {
    let s3 = S3Server::start().unwrap();
    let node = Node::start(BIN, &["--port", "0", "--object-store", &s3.url()], &[("TOKEN_KEY", KEY)]);
    let health: serde_json::Value = node.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["files"], "s3");
    let (code, stderr) = run_to_exit(
        BIN,
        &["--port", "0", "--object-store", "ftp://k:s3cret-value@127.0.0.1/files"],
        &[("TOKEN_KEY", KEY)],
    );
    assert_ne!(code, Some(0));
    assert_one_line_error(&stderr);
    assert!(!stderr.contains("s3cret-value"), "the secret is echoed: {stderr}");
}
