//! A node with a modelled capacity: it serves what its slots and queue
//! hold, refuses the rest with 503 `overloaded`, and `/healthz` reports its
//! load; without a capacity nothing of it exists. The same on every twin.
//!
//! The model here is 2 requests a second with a service time of 1 s: two
//! slots, each held a second, and a queue of two. Requests sent together
//! arrive well within that second, so the counts below do not depend on
//! how fast the machine is.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use app::capacity::Model;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions::MemoryStore;

use crate::helpers::{Cluster, TTL, TestApp, Twin, json, spawn_app, spawn_app_with};

const SLOTS: usize = 2;
const QUEUE: usize = 2;

fn small() -> Model {
    let model = Model::new(NonZeroU32::new(2).unwrap(), Duration::from_secs(1), Duration::from_secs(1));
    assert_eq!((model.slots() as usize, model.queue_len() as usize), (SLOTS, QUEUE));
    model
}

/// The `load` object of `/healthz`, if it has one.
async fn load(node: &TestApp) -> Option<Value> {
    let response = node.healthz().await;
    assert_eq!(response.status(), StatusCode::OK, "/healthz is never limited");
    json(response).await.get("load").cloned()
}

/// Polls `/healthz` until its load satisfies `done`, for at most 10 s.
async fn wait_for_load(node: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let load = load(node).await.expect("a node with a capacity reports its load");
        if done(&load) {
            return load;
        }
        assert!(Instant::now() < deadline, "{what}: still {load} after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Floods one node of `twin` with more requests than it holds and counts
/// the answers.
async fn flood_beyond_slots_and_queue(twin: Twin) {
    let cluster = Cluster::start_with(twin, 1, Some(small())).await;
    let node = &cluster.nodes[0];
    // The login waits its service time like any request, then is served.
    let sid = node.login("alice").await;
    let extra = 6;
    let answers = join_all((0..SLOTS + QUEUE + extra).map(|_| node.me(Some(&sid)))).await;
    let mut served = 0;
    let mut refused = 0;
    for response in answers {
        match response.status() {
            StatusCode::OK => {
                served += 1;
                assert_eq!(json(response).await["user"], "alice");
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                assert!(response.headers().contains_key("x-node"));
                assert_eq!(json(response).await, json!({ "error": "overloaded" }));
            }
            other => panic!("{twin:?}: {other} under overload; only 200 or 503 overloaded are right"),
        }
    }
    assert!(served >= SLOTS + QUEUE, "{twin:?}: the slots and the queue are served ({served})");
    assert!(refused >= extra, "{twin:?}: what did not fit is refused ({refused} of {extra})");
    // Once the flood is served, the node takes requests again.
    assert_eq!(node.me(Some(&sid)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_full_node_refuses_with_503_overloaded_and_retry_after_on_the_ram_store() {
    flood_beyond_slots_and_queue(Twin::Stateful).await;
}

#[tokio::test]
async fn a_full_node_refuses_the_same_way_on_the_redis_store() {
    flood_beyond_slots_and_queue(Twin::Stateless).await;
}

#[tokio::test]
async fn a_full_node_refuses_the_same_way_on_the_token_store() {
    flood_beyond_slots_and_queue(Twin::Token).await;
}

#[tokio::test]
async fn healthz_reports_load_that_rises_under_load_and_falls_when_idle() {
    let node = spawn_app_with(MemoryStore::new(TTL), "loaded", Some(small())).await;
    assert_eq!(load(&node).await, Some(json!({ "utilisation": 0.0, "queued": 0, "capacity": 2 })));

    // Two requests take the slots, two wait in the queue, which is then full.
    let requests = join_all((0..SLOTS + QUEUE).map(|_| node.me(None)));
    let watch = async {
        wait_for_load(&node, "the queue fills", |load| load["queued"] == QUEUE).await;
        let refused = node.me(None).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "the queue is full");
        let saturated =
            wait_for_load(&node, "utilisation rises", |load| load["utilisation"].as_f64() >= Some(0.5)).await;
        assert!(saturated["utilisation"].as_f64() <= Some(1.0), "{saturated}");
    };
    let (answers, ()) = tokio::join!(requests, watch);
    let statuses: Vec<_> = answers.iter().map(|r| r.status()).collect();
    assert_eq!(statuses, vec![StatusCode::UNAUTHORIZED; SLOTS + QUEUE], "queued requests are served, not refused");
    let idle =
        wait_for_load(&node, "utilisation falls when idle", |load| load["utilisation"].as_f64() == Some(0.0)).await;
    assert_eq!(idle, json!({ "utilisation": 0.0, "queued": 0, "capacity": 2 }));
}

#[tokio::test]
async fn without_a_capacity_nothing_is_limited_or_measured() {
    let node = spawn_app(MemoryStore::new(TTL), "unlimited").await;
    let health = json(node.healthz().await).await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health.get("load"), None, "no load object without a capacity: {health}");
    let answers = join_all((0..SLOTS + QUEUE + 6).map(|_| node.me(None))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::UNAUTHORIZED), "nothing is refused");
}
