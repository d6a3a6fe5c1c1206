//! The order model: its id, its status, and what a reader is shown.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};
use sessions::SessionId;

/// What an order holds: item name to quantity (the cart it checked out).
pub type Items = BTreeMap<String, u64>;

/// 128 random bits naming one order, written as 22 characters of base64url.
///
/// The same generator and text form as session ids (`sessions::SessionId`):
/// an order id is not a credential (every read also checks the owner), but
/// an id that cannot be guessed keeps one user from even probing for
/// another's orders.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderId(SessionId);

impl OrderId {
    /// Length of the text form.
    pub const TEXT_LEN: usize = SessionId::TEXT_LEN;

    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> OrderId {
        OrderId(SessionId::generate())
    }

    /// Parses the text form; `None` for anything [`generate`](Self::generate)
    /// could not have produced (so a malformed id never reaches a backend).
    pub fn parse(text: &str) -> Option<OrderId> {
        SessionId::parse(text).map(OrderId)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrderId({self})")
    }
}

impl Serialize for OrderId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Safely queued; no worker has finished it yet.
    Queued,
    /// A worker finished it and confirmed it.
    Done,
}

/// An order as its owner sees it: the body of `GET /orders/{id}`.
///
/// ```json
/// {"order":"…","status":"done","items":{"apple":2},"placed_at":1764590000000,
///  "done_at":1764590000200,"worker":"node-2","confirmations":1,"deliveries":2}
/// ```
///
/// `confirmations` is how many times the order's effect was applied: 0 while
/// queued, 1 once done, and more only if the idempotency key failed (the
/// harness counts such orders as "done twice"). `deliveries` is how many
/// times a worker finished processing the job: more than 1 means the job was
/// delivered again (at-least-once delivery) and the key kept the effect
/// single.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    /// The order's id.
    #[serde(rename = "order")]
    pub id: OrderId,
    /// Queued or done.
    pub status: OrderStatus,
    /// What was ordered.
    pub items: Items,
    /// When it was placed, in milliseconds since the Unix epoch.
    pub placed_at: u64,
    /// When a worker confirmed it, in milliseconds since the Unix epoch.
    pub done_at: Option<u64>,
    /// The worker (named for its node) that confirmed it.
    pub worker: Option<String>,
    /// How many times the order was confirmed: 1 when done, never more.
    pub confirmations: u64,
    /// How many times a worker finished processing its job.
    pub deliveries: u64,
}

/// How a node's worker behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSettings {
    /// The worker's name in the orders it confirms: the node's name.
    pub name: String,
    /// The modelled processing time of one order. The worker does no real
    /// work: it sleeps this long, as confirming a payment or sending a mail
    /// would keep it waiting, then confirms the order.
    pub processing: Duration,
    /// How many orders one node's worker processes at once (for RabbitMQ,
    /// the channel's prefetch: unacknowledged jobs the broker lets it hold).
    pub concurrency: u16,
}

impl WorkerSettings {
    /// The default processing time.
    pub const PROCESSING: Duration = Duration::from_millis(200);
    /// The default number of orders processed at once.
    pub const CONCURRENCY: u16 = 16;

    /// A worker named `name` with the default processing time and concurrency.
    pub fn new(name: impl Into<String>) -> Self {
        WorkerSettings { name: name.into(), processing: Self::PROCESSING, concurrency: Self::CONCURRENCY }
    }

    /// The same worker with another processing time.
    pub fn processing(mut self, processing: Duration) -> Self {
        self.processing = processing;
        self
    }

    /// The same worker with another concurrency (at least 1).
    pub fn concurrency(mut self, concurrency: u16) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_reads_as_the_documented_json() {
        let id = OrderId::generate();
        let order = Order {
            id,
            status: OrderStatus::Done,
            items: Items::from([("apple".to_string(), 2)]),
            placed_at: 1,
            done_at: Some(2),
            worker: Some("node-2".into()),
            confirmations: 1,
            deliveries: 2,
        };
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"order": id.to_string(), "status": "done", "items": {"apple": 2},
                "placed_at": 1, "done_at": 2, "worker": "node-2", "confirmations": 1, "deliveries": 2})
        );
    }

    #[test]
    fn ids_round_trip_and_refuse_malformed_text() {
        let id = OrderId::generate();
        assert_eq!(id.to_string().len(), OrderId::TEXT_LEN);
        assert_eq!(OrderId::parse(&id.to_string()), Some(id));
        assert_eq!(OrderId::parse("not-an-order"), None);
        assert_ne!(OrderId::generate(), id);
    }
}
