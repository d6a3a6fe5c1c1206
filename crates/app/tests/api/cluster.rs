//! Several nodes of one twin: the difference the project is about.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Cluster, Twin, json};

/// The shared-store twins: sessions in Redis, and in PostgreSQL.
const SHARED: [Twin; 2] = [Twin::Stateless, Twin::Postgres];

#[tokio::test]
async fn stateless_nodes_share_sessions() {
    for twin in SHARED {
        nodes_share_sessions(twin).await;
    }
}

async fn nodes_share_sessions(twin: Twin) {
    let cluster = Cluster::start(twin, 2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let sid = a.login("alice").await;
    let me = json(b.me(Some(&sid)).await).await;
    assert_eq!(me["user"], "alice");
    assert_eq!(me["node"], b.node_id.as_str(), "served by the other node");
    b.add(Some(&sid), "book", 2).await;
    assert_eq!(json(a.cart(Some(&sid)).await).await, json!({ "items": { "book": 2 } }));
}

#[tokio::test]
async fn stateful_nodes_do_not_share_sessions() {
    let cluster = Cluster::start(Twin::Stateful, 2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let sid = a.login("alice").await;
    assert_eq!(a.me(Some(&sid)).await.status(), StatusCode::OK);
    // The other node has never heard of this session: without sticky
    // routing, the user looks logged out.
    assert_eq!(b.me(Some(&sid)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn stateless_logout_and_rotation_hold_on_every_node() {
    for twin in SHARED {
        logout_and_rotation_hold_on_every_node(twin).await;
    }
}

async fn logout_and_rotation_hold_on_every_node(twin: Twin) {
    let cluster = Cluster::start(twin, 2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let first = a.login("bob").await;
    let second = crate::helpers::sid_of(b.login_with("bob", Some(&first)).await.headers()).unwrap();
    assert_eq!(a.me(Some(&first)).await.status(), StatusCode::UNAUTHORIZED, "rotated on b, refused on a");
    assert_eq!(a.logout(Some(&second)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(b.me(Some(&second)).await.status(), StatusCode::UNAUTHORIZED, "logged out on a, refused on b");
}

#[tokio::test]
async fn concurrent_cart_adds_over_two_stateless_nodes_lose_nothing() {
    for twin in SHARED {
        concurrent_cart_adds_over_two_nodes_lose_nothing(twin).await;
    }
}

async fn concurrent_cart_adds_over_two_nodes_lose_nothing(twin: Twin) {
    let cluster = Cluster::start(twin, 2).await;
    let sid = cluster.nodes[0].login("carol").await;
    let adds = (0..100).map(|i| cluster.nodes[i % 2].add(Some(&sid), "book", 1));
    let reads = (0..50).map(|i| cluster.nodes[i % 2].me(Some(&sid)));
    let (adds, reads) = futures::join!(join_all(adds), join_all(reads));
    assert!(adds.iter().chain(&reads).all(|r| r.status() == StatusCode::OK));
    let me = json(cluster.nodes[1].me(Some(&sid)).await).await;
    assert_eq!(me["requests"], 151);
    assert_eq!(json(cluster.nodes[0].cart(Some(&sid)).await).await, json!({ "items": { "book": 100 } }));
}

#[tokio::test]
async fn concurrent_cart_adds_on_one_stateful_node_lose_nothing() {
    let cluster = Cluster::start(Twin::Stateful, 1).await;
    let node = &cluster.nodes[0];
    let sid = node.login("dave").await;
    let adds = join_all((0..100).map(|_| node.add(Some(&sid), "pen", 3))).await;
    assert!(adds.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(json(node.cart(Some(&sid)).await).await, json!({ "items": { "pen": 300 } }));
}
