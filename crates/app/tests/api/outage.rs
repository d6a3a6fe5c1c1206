//! The stateless twin when Redis or PostgreSQL goes away: 503 with
//! `Retry-After`, never a 500 or a hung request, and service again by itself
//! when the store is back.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Cluster, TestApp, Twin, json};

async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(response.headers().contains_key("x-node"));
    assert_eq!(json(response).await, json!({ "error": "session store unavailable" }));
}

/// Polls `/me` until it answers 200, for at most 10 s.
async fn wait_until_served(node: &TestApp, sid: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = node.me(Some(sid)).await;
        match response.status() {
            StatusCode::OK => return json(response).await,
            StatusCode::SERVICE_UNAVAILABLE => {}
            other => panic!("unexpected {other} while the store came back"),
        }
        assert!(Instant::now() < deadline, "still unavailable 10 s after the store came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn redis_down_gives_503_and_the_node_recovers_by_itself() {
    let mut cluster = Cluster::start(Twin::Stateless, 1).await;
    let sid = cluster.nodes[0].login("alice").await;
    cluster.nodes[0].add(Some(&sid), "book", 2).await;
    // A clean stop keeps the data, as a Redis with persistence would.
    cluster.redis().stop();
    let node = &cluster.nodes[0];
    assert_unavailable(node.me(Some(&sid)).await).await;
    assert_unavailable(node.add(Some(&sid), "book", 1).await).await;
    assert_unavailable(node.login_with("bob", None).await).await;
    assert_unavailable(node.logout(Some(&sid)).await).await;
    let health = node.healthz().await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(health).await["status"], "store unavailable");
    // Requests that need no store lookup are still answered.
    assert_eq!(node.me(None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(node.me(Some("malformed")).await.status(), StatusCode::UNAUTHORIZED);

    cluster.redis().start_again().unwrap();
    let node = &cluster.nodes[0];
    let me = wait_until_served(node, &sid).await;
    assert_eq!(me["user"], "alice");
    assert_eq!(json(node.cart(Some(&sid)).await).await, json!({ "items": { "book": 2 } }));
    assert_eq!(node.healthz().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_hung_redis_gives_503_instead_of_a_hung_request() {
    let mut cluster = Cluster::start(Twin::Stateless, 1).await;
    let sid = cluster.nodes[0].login("bob").await;
    cluster.redis().freeze();
    // The client waits up to 10 s; the server must answer well before.
    assert_unavailable(cluster.nodes[0].me(Some(&sid)).await).await;
    cluster.redis().thaw();
    assert_eq!(wait_until_served(&cluster.nodes[0], &sid).await["user"], "bob");
}

#[tokio::test]
async fn a_stateless_node_starts_while_redis_is_down() {
    let mut cluster = Cluster::start(Twin::Stateless, 1).await;
    cluster.redis().stop();
    assert_unavailable(cluster.nodes[0].login_with("carol", None).await).await;
    cluster.redis().start_again().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.nodes[0].healthz().await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cluster.nodes[0].login_with("carol", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stopped_or_hung_database_gives_503_and_the_node_recovers_by_itself() {
    let mut cluster = Cluster::start_on_own_database(1).await;
    let sid = cluster.nodes[0].login("alice").await;
    cluster.nodes[0].add(Some(&sid), "book", 2).await;
    for outage in ["stopped", "frozen"] {
        match outage {
            "stopped" => cluster.postgres().stop(),
            _ => cluster.postgres().freeze(),
        }
        let node = &cluster.nodes[0];
        // The client waits up to 10 s; the server must answer well before.
        assert_unavailable(node.me(Some(&sid)).await).await;
        assert_unavailable(node.add(Some(&sid), "book", 1).await).await;
        assert_unavailable(node.login_with("bob", None).await).await;
        assert_unavailable(node.logout(Some(&sid)).await).await;
        assert_eq!(node.healthz().await.status(), StatusCode::SERVICE_UNAVAILABLE, "{outage}");
        assert_eq!(node.me(Some("malformed")).await.status(), StatusCode::UNAUTHORIZED);
        match outage {
            "stopped" => cluster.postgres().start_again().unwrap(),
            _ => cluster.postgres().thaw(),
        }
        let node = &cluster.nodes[0];
        assert_eq!(wait_until_served(node, &sid).await["user"], "alice", "{outage}");
        // A change the node answered 503 to may or may not have been made
        // (its statement may have run when the database came back); the
        // committed one before the outage is there.
        let cart = json(node.cart(Some(&sid)).await).await;
        assert!(cart["items"]["book"].as_u64().unwrap() >= 2, "{outage}: {cart}");
    }
}
