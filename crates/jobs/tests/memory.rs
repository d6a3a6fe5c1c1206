//! The in-process queue: the suite, and the lesson that a node that dies
//! takes its queued orders with it.

use std::time::Duration;

use jobs::{MemoryQueue, OrderQueue, OrderStatus};

use crate::parity::{self, WORKER};
use crate::support::{items, name, wait_done, worker};

fn node() -> MemoryQueue {
    MemoryQueue::new(worker(WORKER))
}

#[tokio::test]
async fn memory_an_order_is_queued_then_done_by_the_worker() {
    parity::an_order_is_queued_then_done_by_the_worker(node()).await;
}

#[tokio::test]
async fn memory_another_owners_order_reads_as_an_unknown_one() {
    parity::another_owners_order_reads_as_an_unknown_one(node()).await;
}

#[tokio::test]
async fn memory_an_empty_order_is_refused() {
    parity::an_empty_order_is_refused(node()).await;
}

#[tokio::test]
async fn memory_concurrent_orders_are_each_done_once() {
    parity::concurrent_orders_are_each_done_once(node()).await;
}

#[tokio::test]
async fn a_dropped_node_loses_its_queued_orders_and_no_other_node_knows_them() {
    let alice = name("alice");
    // Node A's worker is busy for a minute, so the orders are still queued
    // when the node dies.
    let a = MemoryQueue::new(worker("node-a").processing(Duration::from_secs(60)).concurrency(1));
    let b = MemoryQueue::new(worker("node-b"));
    let mut lost = Vec::new();
    for _ in 0..3 {
        let id = a.place(&alice, items(&[("apple", 1)])).await.unwrap();
        assert_eq!(a.status(&alice, &id.to_string()).await.unwrap().unwrap().status, OrderStatus::Queued);
        lost.push(id);
    }
    drop(a);
    // B works (its own orders are done) but has never heard of A's: the
    // client's poll on any surviving node answers "no such order", forever.
    let kept = b.place(&alice, items(&[("pear", 1)])).await.unwrap();
    wait_done(&b, &alice, kept).await;
    for id in lost {
        assert!(b.status(&alice, &id.to_string()).await.unwrap().is_none(), "a dead node's order survived");
    }
}
