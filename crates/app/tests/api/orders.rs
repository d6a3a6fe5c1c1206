//! `POST /orders` and `GET /orders/{id}` with orders on the node (the
//! stateful twin's choice); the shared queue is in `shared.rs`.

use app::Backends;
use files::S3Store;
use jobs::RabbitQueue;
use live::MemoryRooms;
use reqwest::StatusCode;
use sessions::MemoryStore;

use crate::helpers::{TTL, json, spawn_app, spawn_with};

#[tokio::test]
async fn an_order_checks_out_the_cart_and_is_done_by_this_nodes_worker() {
    let app = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    let mut sid = app.login("alice").await;
    let empty = app.place_order(Some(&sid)).await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert!(json(empty).await["error"].as_str().unwrap().contains("cart is empty"));
    app.add(Some(&sid), "book", 2).await;
    app.add(Some(&sid), "pen", 1).await;
    let id = app.place(&mut sid).await;
    assert_eq!(json(app.cart(Some(&sid)).await).await["items"], serde_json::json!({}));
    let order = app.wait_done(&mut sid, &id).await;
    assert_eq!(order["order"], id.as_str());
    assert_eq!(order["items"], serde_json::json!({"book": 2, "pen": 1}));
    assert_eq!(order["worker"], "stateful-0");
    assert_eq!(order["confirmations"], 1);
    assert_eq!(order["deliveries"], 1);
    // Checking out again: the cart is empty now.
    assert_eq!(app.place_order(Some(&sid)).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn orders_need_a_session_first_and_another_users_order_is_unknown() {
    let app = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    let mut alice = app.login("alice").await;
    app.add(Some(&alice), "book", 1).await;
    let id = app.place(&mut alice).await;
    assert_eq!(app.place_order(None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.place_order(Some("forged")).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.order(None, &id).await.status(), StatusCode::UNAUTHORIZED);
    let bob = app.login("bob").await;
    let theirs = app.order(Some(&bob), &id).await;
    let unknown = app.order(Some(&bob), "AAAAAAAAAAAAAAAAAAAAAA").await;
    let malformed = app.order(Some(&bob), "not-an-id").await;
    for response in [theirs, unknown, malformed] {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(json(response).await, serde_json::json!({"error": "not found"}));
    }
    assert_eq!(
        app.send(reqwest::Method::DELETE, "/orders", Some(&alice)).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn two_stateful_nodes_do_not_share_orders() {
    let a = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    let b = spawn_app(MemoryStore::new(TTL), "stateful-1").await;
    let mut on_a = a.login("alice").await;
    a.add(Some(&on_a), "book", 1).await;
    let id = a.place(&mut on_a).await;
    a.wait_done(&mut on_a, &id).await;
    // The same user, logged in on B (B never saw the session either).
    let on_b = b.login("alice").await;
    assert_eq!(b.order(Some(&on_b), &id).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_node_without_a_queue_says_orders_are_not_configured_after_the_session_check() {
    let backends: Backends<_, RabbitQueue, MemoryRooms, S3Store> =
        Backends { sessions: MemoryStore::new(TTL), orders: None, rooms: Some(MemoryRooms::new()), files: None };
    let app = spawn_with(backends, "no-queue").await;
    assert_eq!(app.place_order(None).await.status(), StatusCode::UNAUTHORIZED);
    let sid = app.login("alice").await;
    app.add(Some(&sid), "book", 1).await;
    for response in [app.place_order(Some(&sid)).await, app.order(Some(&sid), "AAAAAAAAAAAAAAAAAAAAAA").await] {
        assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(json(response).await, serde_json::json!({"error": "orders not configured on this node"}));
    }
    // Nothing was taken.
    assert_eq!(json(app.cart(Some(&sid)).await).await["items"], serde_json::json!({"book": 1}));
    let health = app.healthz().await;
    assert_eq!(health.status(), StatusCode::OK);
    let health = json(health).await;
    assert_eq!(health["orders"], "not configured");
    assert_eq!(health["rooms"], "memory");
    assert_eq!(health["files"], "not configured");
}

#[tokio::test]
async fn healthz_names_each_kinds_backend() {
    let app = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    let health = json(app.healthz().await).await;
    assert_eq!(
        health,
        serde_json::json!({
            "node": "stateful-0", "store": "memory", "status": "ok",
            "orders": "memory", "rooms": "memory", "files": "dir",
            // The RAM store's counters (an unbounded store names no bound).
            "sessions": 0, "evicted": 0,
        })
    );
}
