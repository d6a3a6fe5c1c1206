//! `GET /live`: rooms on the node (two stateful nodes split a room), rooms
//! in Redis (two stateless nodes share it), what is refused before the
//! upgrade, and the close codes.

use app::Backends;
use files::S3Store;
use jobs::RabbitQueue;
use live::RedisRooms;
use local_redis::RedisServer;
use reqwest::StatusCode;
use sessions::{MemoryStore, RedisSettings, RedisStore};

use crate::helpers::{Received, TTL, TestApp, spawn_app, spawn_with};

/// A stateless node whose rooms are in `redis` (orders and files not
/// configured: this file is about rooms).
async fn stateless_node(redis: &RedisServer, node_id: &str) -> TestApp {
    let backends: Backends<_, RabbitQueue, _, S3Store> = Backends {
        sessions: RedisStore::new(&RedisSettings::new(redis.url(), TTL)).unwrap(),
        orders: None,
        rooms: Some(RedisRooms::new(&redis.url(), live::redis::DEFAULT_HISTORY).unwrap()),
        files: None,
    };
    spawn_with(backends, node_id).await
}

#[tokio::test]
async fn a_message_said_on_one_stateless_node_reaches_a_socket_on_another() {
    let redis = RedisServer::start().expect("start redis-server");
    let (a, b) = (stateless_node(&redis, "stateless-0").await, stateless_node(&redis, "stateless-1").await);
    let (alice, bob) = (a.login("alice").await, b.login("bob").await);
    let mut on_a = a.live(Some(&alice), "room=lobby").await.unwrap();
    let mut on_b = b.live(Some(&bob), "room=lobby").await.unwrap();
    on_a.say("hello from A").await;
    for socket in [&mut on_a, &mut on_b] {
        let message = socket.message().await;
        assert_eq!(message["room"], "lobby");
        assert_eq!(message["from"], "alice");
        assert_eq!(message["seq"], 1);
        assert_eq!(message["text"], "hello from A");
        assert!(message["at"].as_u64().unwrap() > 0);
    }
    on_b.say("hi alice").await;
    assert_eq!(on_a.message().await["seq"], 2);
    // A member that reconnects after seq 1 gets what it missed.
    let mut again = a.live(Some(&alice), "room=lobby&after=1").await.unwrap();
    let missed = again.message().await;
    assert_eq!((missed["seq"].as_u64(), missed["from"].as_str()), (Some(2), Some("bob")));
}

#[tokio::test]
async fn two_stateful_nodes_split_a_room_in_two() {
    let a = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    let b = spawn_app(MemoryStore::new(TTL), "stateful-1").await;
    let (alice, bob) = (a.login("alice").await, b.login("bob").await);
    let mut on_a = a.live(Some(&alice), "room=lobby").await.unwrap();
    let mut on_b = b.live(Some(&bob), "room=lobby").await.unwrap();
    on_a.say("hello from A").await;
    assert_eq!(on_a.message().await["text"], "hello from A");
    // B's socket hears its own message first, numbered 1 by B: A's never came.
    on_b.say("anyone?").await;
    let first = on_b.message().await;
    assert_eq!((first["from"].as_str(), first["seq"].as_u64()), (Some("bob"), Some(1)));
}

#[tokio::test]
async fn a_socket_is_refused_before_the_upgrade_without_a_session_or_with_a_bad_query() {
    let app = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    assert_eq!(app.live_refused(None, "room=lobby").await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.live_refused(Some("forged"), "room=bad%20name").await, StatusCode::UNAUTHORIZED);
    let sid = app.login("alice").await;
    for query in ["", "room=", "room=bad%20name", "room=a%2Fb", &format!("room={}", "r".repeat(65))] {
        assert_eq!(app.live_refused(Some(&sid), query).await, StatusCode::BAD_REQUEST, "{query:?}");
    }
    for query in ["room=lobby&after=x", "room=lobby&after=-1", "room=lobby&after="] {
        assert_eq!(app.live_refused(Some(&sid), query).await, StatusCode::BAD_REQUEST, "{query:?}");
    }
    // A plain GET (no upgrade) with a session and a good room.
    assert_eq!(app.send(reqwest::Method::GET, "/live?room=lobby", Some(&sid)).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_frame_over_4_kib_closes_the_socket_with_1008_and_one_at_the_limit_is_said() {
    let app = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    let sid = app.login("alice").await;
    let mut socket = app.live(Some(&sid), "room=lobby").await.unwrap();
    socket.say("x".repeat(4096)).await;
    assert_eq!(socket.message().await["text"].as_str().unwrap().len(), 4096);
    socket.say("x".repeat(4097)).await;
    assert!(matches!(socket.next().await, Received::Closed(Some(1008))));
    let mut huge = app.live(Some(&sid), "room=lobby").await.unwrap();
    huge.say("x".repeat(100_000)).await;
    assert!(matches!(huge.next().await, Received::Closed(Some(1008))));
}

#[tokio::test]
async fn broker_down_refuses_new_sockets_with_503_and_closes_open_ones_with_1013() {
    let mut redis = RedisServer::start().expect("start redis-server");
    let backends: Backends<_, RabbitQueue, _, S3Store> = Backends {
        sessions: MemoryStore::new(TTL),
        orders: None,
        rooms: Some(RedisRooms::new(&redis.url(), live::redis::DEFAULT_HISTORY).unwrap()),
        files: None,
    };
    let app = spawn_with(backends, "stateless-0").await;
    let sid = app.login("alice").await;
    let mut open = app.live(Some(&sid), "room=lobby").await.unwrap();
    redis.kill();
    assert!(matches!(open.next().await, Received::Closed(Some(1013))));
    let refused = app.live(Some(&sid), "room=lobby").await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
        panic!("the socket was not refused with an HTTP answer");
    };
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
    // The node itself stays up: sessions are served and /healthz is 200.
    assert_eq!(app.healthz().await.status(), StatusCode::OK);
}
