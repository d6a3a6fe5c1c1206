//! Services and helpers the cases share.

use std::time::{Duration, Instant};

use jobs::{Order, OrderId, OrderQueue, OrderStatus, RabbitQueue, RabbitSettings, WorkerSettings};
use local_rabbitmq::RabbitMq;
use local_redis::RedisServer;
use sessions::Name;

/// How long a case waits for an order that should be done.
pub const DONE_DEADLINE: Duration = Duration::from_secs(30);

/// A fast worker: the cases are about where jobs wait, not how long they take.
pub fn worker(name: &str) -> WorkerSettings {
    WorkerSettings::new(name).processing(Duration::from_millis(20))
}

pub fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub fn items(pairs: &[(&str, u64)]) -> jobs::Items {
    pairs.iter().map(|&(item, qty)| (item.to_string(), qty)).collect()
}

/// A private broker and Redis.
pub struct Services {
    pub rabbit: RabbitMq,
    pub redis: RedisServer,
}

impl Services {
    pub fn start() -> Services {
        let rabbit = RabbitMq::start().expect("start a RabbitMQ node");
        eprintln!("RabbitMQ node {} started in {:?}", rabbit.node_name(), rabbit.started_in());
        Services { rabbit, redis: RedisServer::start().expect("start redis-server") }
    }

    /// A node's queue handle (with its worker) on `queue`.
    pub fn node(&self, queue: &str, worker: WorkerSettings) -> RabbitQueue {
        let mut settings = RabbitSettings::new(self.rabbit.url(), self.redis.url(), worker);
        settings.queue = queue.to_string();
        RabbitQueue::new(settings).unwrap()
    }

    /// How many keys Redis holds.
    pub fn redis_keys(&self) -> u64 {
        self.redis.command(&["DBSIZE"]).unwrap().parse().unwrap()
    }
}

/// A queue name no other case uses.
pub fn fresh_queue() -> String {
    format!("orders-{}", OrderId::generate())
}

/// Polls `queue` until `check` holds for the order, or the deadline passes.
pub async fn wait_for<Q: OrderQueue>(
    queue: &Q,
    owner: &Name,
    id: OrderId,
    what: &str,
    check: impl Fn(&Order) -> bool,
) -> Order {
    let deadline = Instant::now() + DONE_DEADLINE;
    loop {
        let order = queue.status(owner, &id.to_string()).await.unwrap().expect("the order exists");
        if check(&order) {
            return order;
        }
        assert!(Instant::now() < deadline, "order not {what} within {DONE_DEADLINE:?}: {order:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls until the order is done.
pub async fn wait_done<Q: OrderQueue>(queue: &Q, owner: &Name, id: OrderId) -> Order {
    wait_for(queue, owner, id, "done", |o| o.status == OrderStatus::Done).await
}
