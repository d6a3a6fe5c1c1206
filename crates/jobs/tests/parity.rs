//! One behaviour suite, run against both queues: whatever a client can rely
//! on must hold wherever the queue lives. Each case is a generic function;
//! the in-process queue runs each as its own test, the RabbitMQ queue runs
//! them all against one shared broker and Redis (`rabbitmq::suite`), each on
//! a queue of its own.

use std::collections::HashSet;

use futures::future::join_all;
use jobs::{JobError, OrderId, OrderQueue, OrderStatus};

use crate::support::{items, name, wait_done};

/// The worker name the cases give the node under test.
pub const WORKER: &str = "node-1";

pub async fn an_order_is_queued_then_done_by_the_worker<Q: OrderQueue>(queue: Q) {
    let alice = name("alice");
    let ordered = items(&[("apple", 2), ("pear", 1)]);
    let id = queue.place(&alice, ordered.clone()).await.unwrap();
    let placed = queue.status(&alice, &id.to_string()).await.unwrap().expect("a placed order reads back");
    assert_eq!(placed.id, id);
    assert_eq!(placed.items, ordered);
    assert!(placed.placed_at > 0);
    let done = wait_done(&queue, &alice, id).await;
    assert_eq!(done.items, ordered);
    assert_eq!(done.worker.as_deref(), Some(WORKER));
    assert!(done.done_at.unwrap() >= done.placed_at);
    assert_eq!((done.confirmations, done.deliveries), (1, 1));
    assert_eq!(done.placed_at, placed.placed_at);
}

pub async fn another_owners_order_reads_as_an_unknown_one<Q: OrderQueue>(queue: Q) {
    let (alice, bob) = (name("alice"), name("bob"));
    let id = queue.place(&alice, items(&[("apple", 1)])).await.unwrap();
    assert!(queue.status(&bob, &id.to_string()).await.unwrap().is_none());
    assert!(queue.status(&alice, &OrderId::generate().to_string()).await.unwrap().is_none());
    for malformed in ["", "x", "../order", &format!("{id}A")] {
        assert!(queue.status(&alice, malformed).await.unwrap().is_none(), "{malformed:?}");
    }
    // Still alice's, and still done once in the end.
    assert_eq!(wait_done(&queue, &alice, id).await.confirmations, 1);
    assert!(queue.status(&bob, &id.to_string()).await.unwrap().is_none());
}

pub async fn an_empty_order_is_refused<Q: OrderQueue>(queue: Q) {
    assert!(matches!(queue.place(&name("alice"), items(&[])).await, Err(JobError::Empty)));
    queue.health().await.unwrap();
    assert!(["memory", "rabbitmq"].contains(&queue.kind()));
}

pub async fn concurrent_orders_are_each_done_once<Q: OrderQueue>(queue: Q) {
    let carol = name("carol");
    let ids = join_all((0..40).map(|i| {
        let queue = queue.clone();
        async move { queue.place(&carol, items(&[("item", i + 1)])).await.unwrap() }
    }))
    .await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "ids repeat");
    for (i, id) in ids.into_iter().enumerate() {
        let order = wait_done(&queue, &carol, id).await;
        assert_eq!(order.status, OrderStatus::Done);
        assert_eq!(order.items, items(&[("item", i as u64 + 1)]));
        assert_eq!((order.confirmations, order.deliveries), (1, 1));
    }
}
