//! Orders through a shared RabbitMQ, on the stateless and token twins.
//!
//! Starting a RabbitMQ node takes 13 to 60 s on a busy machine, so one test
//! starts ONE node (and one Redis) and runs every case that needs it, in
//! turn, each on a queue of its own; the broker-down case comes last, since
//! it kills the node. (A `static` shared by several tests would never be
//! dropped, and the node would outlive the test binary.)

use std::time::Duration;

use app::Backends;
use files::S3Store;
use jobs::{OrderId, RabbitQueue, RabbitSettings};
use live::RedisRooms;
use local_rabbitmq::RabbitMq;
use local_redis::RedisServer;
use reqwest::StatusCode;
use sessions::{RedisSettings, RedisStore, SessionStore, TokenKey, TokenStore};

use crate::helpers::{TTL, TestApp, follow, json, spawn_with, worker};

/// The broker and the Redis every node of a case shares.
struct Services {
    rabbit: RabbitMq,
    redis: RedisServer,
}

impl Services {
    /// A node serving sessions from `sessions`, orders from `queue` on the
    /// broker (records in Redis), rooms in Redis.
    async fn node<S: SessionStore>(&self, sessions: S, queue: &str, node_id: &str) -> TestApp {
        let mut settings = RabbitSettings::new(self.rabbit.url(), self.redis.url(), worker(node_id));
        settings.queue = queue.to_string();
        let backends = Backends {
            sessions,
            orders: Some(RabbitQueue::new(settings).unwrap()),
            rooms: Some(RedisRooms::new(&self.redis.url(), live::redis::DEFAULT_HISTORY).unwrap()),
            files: None::<S3Store>,
        };
        spawn_with(backends, node_id).await
    }

    async fn stateless(&self, queue: &str, node_id: &str) -> TestApp {
        self.node(RedisStore::new(&RedisSettings::new(self.redis.url(), TTL)).unwrap(), queue, node_id).await
    }

    async fn token(&self, queue: &str, node_id: &str) -> TestApp {
        let key = TokenKey::new(b"shared-suite-key-of-at-least-32-bytes").unwrap();
        self.node(TokenStore::new(key, TTL), queue, node_id).await
    }
}

fn fresh_queue() -> String {
    format!("orders-{}", OrderId::generate())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_through_a_shared_broker() {
    let rabbit = RabbitMq::start().expect("start a RabbitMQ node");
    eprintln!("RabbitMQ node {} started in {:?}", rabbit.node_name(), rabbit.started_in());
    let services = Services { rabbit, redis: RedisServer::start().expect("start redis-server") };

    let queue = fresh_queue();
    let pair = [services.stateless(&queue, "stateless-0").await, services.stateless(&queue, "stateless-1").await];
    an_order_placed_on_one_node_is_done_and_read_on_another(&pair).await;
    healthz_names_the_shared_backends(&pair[0], "redis").await;

    let queue = fresh_queue();
    let pair = [services.token(&queue, "token-0").await, services.token(&queue, "token-1").await];
    an_order_placed_on_one_node_is_done_and_read_on_another(&pair).await;
    healthz_names_the_shared_backends(&pair[0], "token").await;

    let stateless = services.stateless(&fresh_queue(), "stateless-2").await;
    let token = services.token(&fresh_queue(), "token-2").await;
    broker_down_answers_503_and_the_cart_is_back(services, &[stateless, token]).await;
}

async fn an_order_placed_on_one_node_is_done_and_read_on_another(pair: &[TestApp; 2]) {
    let mut sid = pair[0].login("alice").await;
    let response = pair[0].add(Some(&sid), "book", 2).await;
    follow(&mut sid, &response);
    let id = pair[0].place(&mut sid).await;
    let cart = pair[1].cart(Some(&sid)).await;
    follow(&mut sid, &cart);
    assert_eq!(json(cart).await["items"], serde_json::json!({}), "the cart was emptied for every node");
    let order = pair[1].wait_done(&mut sid, &id).await;
    assert_eq!(order["items"], serde_json::json!({"book": 2}));
    assert_eq!(order["confirmations"], 1);
    let names: Vec<&str> = pair.iter().map(|node| node.node_id.as_str()).collect();
    assert!(names.contains(&order["worker"].as_str().unwrap()), "worker {} is not a node", order["worker"]);
    // Another user, on either node: as unknown.
    let bob = pair[1].login("bob").await;
    assert_eq!(pair[1].order(Some(&bob), &id).await.status(), StatusCode::NOT_FOUND);
}

async fn healthz_names_the_shared_backends(node: &TestApp, store: &str) {
    let health = json(node.healthz().await).await;
    assert_eq!((health["store"].as_str(), health["orders"].as_str()), (Some(store), Some("rabbitmq")));
    assert_eq!(health["rooms"], "redis");
}

async fn broker_down_answers_503_and_the_cart_is_back(mut services: Services, nodes: &[TestApp]) {
    let mut sids = Vec::new();
    for node in nodes {
        let mut sid = node.login("carol").await;
        let response = node.add(Some(&sid), "book", 2).await;
        follow(&mut sid, &response);
        sids.push(sid);
    }
    services.rabbit.kill();
    for (node, mut sid) in nodes.iter().zip(sids) {
        let started = std::time::Instant::now();
        let response = node.place_order(Some(&sid)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", node.node_id);
        assert!(started.elapsed() < Duration::from_secs(5), "a 503 should come within about a second");
        assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
        follow(&mut sid, &response);
        assert_eq!(json(response).await, serde_json::json!({"error": "order queue unavailable"}));
        let cart = node.cart(Some(&sid)).await;
        assert_eq!(json(cart).await["items"], serde_json::json!({"book": 2}), "{}: the cart is back", node.node_id);
        // Sessions are still served, and /healthz does not drop the node.
        assert_eq!(node.healthz().await.status(), StatusCode::OK);
    }
}
