//! The in-process queue: a channel and a worker task on this node.
//!
//! Orders and their status live in this process's memory; the jobs wait in
//! a bounded channel that only this node's worker reads. Placing an order
//! costs a lock and a channel send, nothing crosses the network, and nothing
//! can be "unavailable" but a full channel.
//!
//! The price is the lesson of this crate: when the node dies, every order it
//! had not finished is gone, and so is the record that it was ever placed.
//! No other node knows it existed, nobody is told, the client's
//! `GET /orders/{id}` on another node answers 404 forever. (Orders it had
//! finished are gone too; a real shop would have written them somewhere.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sessions::{Name, now_ms};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use crate::order::{Items, Order, OrderId, OrderStatus, WorkerSettings};
use crate::queue::{JobError, OrderQueue};

/// How many jobs may wait in one node's channel; a full channel refuses new
/// orders as unavailable rather than growing without bound.
const CAPACITY: usize = 100_000;

/// Orders queued and processed inside this process. See the module docs.
#[derive(Clone)]
pub struct MemoryQueue {
    node: Arc<Node>,
}

/// What the handles share; dropping it stops the worker.
struct Node {
    orders: Arc<Mutex<HashMap<OrderId, (Name, Order)>>>,
    jobs: mpsc::Sender<OrderId>,
    worker: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        // The node is gone: its worker stops mid-job, as a killed process's
        // would, and the queued jobs go with the channel.
        self.worker.abort();
    }
}

impl MemoryQueue {
    /// A queue and its worker on this node. Must be called inside a tokio
    /// runtime (the worker is a task on it).
    pub fn new(worker: WorkerSettings) -> Self {
        let orders = Arc::new(Mutex::new(HashMap::new()));
        let (jobs, receiver) = mpsc::channel(CAPACITY);
        let worker = tokio::spawn(run_worker(worker, Arc::clone(&orders), receiver));
        MemoryQueue { node: Arc::new(Node { orders, jobs, worker }) }
    }
}

impl OrderQueue for MemoryQueue {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn place(&self, owner: &Name, items: Items) -> Result<OrderId, JobError> {
        if items.is_empty() {
            return Err(JobError::Empty);
        }
        let id = OrderId::generate();
        let order = Order {
            id,
            status: OrderStatus::Queued,
            items,
            placed_at: now_ms(),
            done_at: None,
            worker: None,
            confirmations: 0,
            deliveries: 0,
        };
        // The permit first: a full channel must leave no record behind.
        let permit = self.node.jobs.try_reserve().map_err(|e| JobError::Unavailable(format!("job channel: {e}")))?;
        lock(&self.node.orders).insert(id, (*owner, order));
        permit.send(id);
        Ok(id)
    }

    async fn status(&self, owner: &Name, id: &str) -> Result<Option<Order>, JobError> {
        let Some(id) = OrderId::parse(id) else {
            return Ok(None);
        };
        let orders = lock(&self.node.orders);
        Ok(orders.get(&id).filter(|(o, _)| o == owner).map(|(_, order)| order.clone()))
    }

    async fn health(&self) -> Result<(), JobError> {
        if self.node.worker.is_finished() {
            return Err(JobError::Unavailable("the worker task ended".into()));
        }
        Ok(())
    }
}

/// Takes jobs off the channel, up to `concurrency` at once, until the
/// channel closes or the task is aborted (which aborts the jobs in hand).
async fn run_worker(
    settings: WorkerSettings,
    orders: Arc<Mutex<HashMap<OrderId, (Name, Order)>>>,
    mut jobs: mpsc::Receiver<OrderId>,
) {
    let slots = Arc::new(Semaphore::new(usize::from(settings.concurrency.max(1))));
    let mut in_hand = JoinSet::new();
    while let Some(id) = jobs.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        while in_hand.try_join_next().is_some() {}
        let (orders, settings) = (Arc::clone(&orders), settings.clone());
        in_hand.spawn(async move {
            // The modelled work.
            tokio::time::sleep(settings.processing).await;
            confirm(&orders, id, &settings.name);
            drop(slot);
        });
    }
}

/// Marks `id` done by `worker`, once: a second call only counts a delivery.
fn confirm(orders: &Mutex<HashMap<OrderId, (Name, Order)>>, id: OrderId, worker: &str) {
    let mut orders = lock(orders);
    let Some((_, order)) = orders.get_mut(&id) else {
        return;
    };
    order.deliveries += 1;
    if order.status == OrderStatus::Queued {
        order.status = OrderStatus::Done;
        order.done_at = Some(now_ms());
        order.worker = Some(worker.to_string());
        order.confirmations += 1;
    }
}

/// The map's lock; a panic elsewhere while it was held leaves plain data,
/// still usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
