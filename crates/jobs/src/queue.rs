//! The one abstraction the twins share for queued work.

use std::future::Future;

use sessions::Name;

use crate::order::{Items, Order, OrderId};

/// Why a queue could not answer.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The queue (or the store of order records) did not answer in time, or
    /// failed. Nothing was created. The detail is for logs, never for
    /// clients.
    #[error("order queue unavailable: {0}")]
    Unavailable(String),
    /// An order needs at least one item.
    #[error("an order needs at least one item")]
    Empty,
}

/// Where orders wait for a worker, and where their status is kept.
///
/// Implemented by [`MemoryQueue`](crate::MemoryQueue) (in this process) and
/// [`RabbitQueue`](crate::RabbitQueue) (RabbitMQ, records in Redis). Each
/// runs a worker on this node that takes orders off the queue, does the
/// modelled processing and marks them done.
///
/// An order is read only by its owner: another owner's order reads as
/// `None`, exactly like an unknown one, and a malformed id is answered
/// `None` without asking any backend.
///
/// `Clone` hands out a handle for one more worker thread: clones share the
/// queue and the node's worker. Dropping the last handle stops the worker,
/// as the node's death would.
///
/// # Implementing it
///
/// The smallest honest implementation has no queue at all: it does the work
/// before it answers, so the client waits for the processing time and a
/// node's death loses nothing that was confirmed.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
///
/// use jobs::{Items, JobError, Order, OrderId, OrderQueue, OrderStatus};
/// use sessions::{Name, now_ms};
///
/// #[derive(Clone, Default)]
/// struct DoItNow {
///     orders: Arc<Mutex<HashMap<OrderId, (Name, Order)>>>,
/// }
///
/// impl OrderQueue for DoItNow {
///     fn kind(&self) -> &'static str {
///         "inline"
///     }
///
///     async fn place(&self, owner: &Name, items: Items) -> Result<OrderId, JobError> {
///         if items.is_empty() {
///             return Err(JobError::Empty);
///         }
///         let id = OrderId::generate();
///         let now = now_ms();
///         // The "work" happens here, while the client waits.
///         let order = Order {
///             id,
///             status: OrderStatus::Done,
///             items,
///             placed_at: now,
///             done_at: Some(now),
///             worker: Some("inline".into()),
///             confirmations: 1,
///             deliveries: 1,
///         };
///         self.orders.lock().unwrap().insert(id, (*owner, order));
///         Ok(id)
///     }
///
///     async fn status(&self, owner: &Name, id: &str) -> Result<Option<Order>, JobError> {
///         let Some(id) = OrderId::parse(id) else { return Ok(None) };
///         let orders = self.orders.lock().unwrap();
///         Ok(orders.get(&id).filter(|(o, _)| o == owner).map(|(_, order)| order.clone()))
///     }
///
///     async fn health(&self) -> Result<(), JobError> {
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let queue = DoItNow::default();
/// let alice = Name::parse("alice").unwrap();
/// let id = queue.place(&alice, Items::from([("apple".into(), 2)])).await.unwrap();
/// let order = queue.status(&alice, &id.to_string()).await.unwrap().unwrap();
/// assert_eq!(order.status, OrderStatus::Done);
/// // Another user's order answers exactly as an unknown one.
/// let bob = Name::parse("bob").unwrap();
/// assert!(queue.status(&bob, &id.to_string()).await.unwrap().is_none());
/// # });
/// ```
pub trait OrderQueue: Clone + Send + Sync + 'static {
    /// What `/healthz` reports: `"memory"` or `"rabbitmq"`.
    fn kind(&self) -> &'static str;

    /// Places an order for `owner` and returns its id once the job is
    /// safely queued (for RabbitMQ: the broker confirmed the persistent
    /// message). The order then reads as queued until a worker is done with
    /// it. [`JobError::Empty`] for no items; [`JobError::Unavailable`] when
    /// the queue cannot take it, in which case no order exists.
    fn place(&self, owner: &Name, items: Items) -> impl Future<Output = Result<OrderId, JobError>> + Send;

    /// The order `id` as its owner sees it; `Ok(None)` when there is no such
    /// order, or it belongs to someone else, or `id` is malformed.
    fn status(&self, owner: &Name, id: &str) -> impl Future<Output = Result<Option<Order>, JobError>> + Send;

    /// Whether orders can be placed now.
    fn health(&self) -> impl Future<Output = Result<(), JobError>> + Send;
}
