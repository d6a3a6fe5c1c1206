//! Where queued work lives.
//!
//! A shop should not make a customer wait while it confirms the payment,
//! reserves the stock and sends the mail. It answers "your order is queued"
//! at once and hands the slow part to a background *worker*. This crate is
//! about one question: **where does that queue live?**
//!
//! - [`MemoryQueue`] keeps it in this process: a channel and a worker task
//!   on the node that took the order. Nothing crosses the network. But the
//!   queue dies with the node: every order the node had not finished is
//!   lost, silently. No other node knows the order existed, and the client's
//!   next `GET /orders/{id}` answers 404 forever.
//! - [`RabbitQueue`] keeps it in RabbitMQ, which every node publishes to and
//!   every node's worker consumes from, with the orders' records in Redis.
//!   A job stays in the broker until some worker says it is done; a node
//!   that dies mid-job has said nothing, so the broker gives the job to
//!   another node's worker. The broker is now one more thing that must stay
//!   up, and placing an order costs a network round trip and a disk write.
//!
//! # At least once, and idempotency
//!
//! "Until some worker says it is done" has a catch. A worker can finish the
//! work and die before its acknowledgement reaches the broker; the broker
//! cannot tell that from a worker that died before the work, so it delivers
//! the job again. Queues that survive node deaths deliver **at least once**,
//! never exactly once. The work must therefore be safe to repeat: each job
//! carries an *idempotency key* (here the order id), and the effect
//! ("confirm the order") is applied in one atomic step that does nothing if
//! the key was seen before. An [`Order`] shows how often its effect was
//! applied (`confirmations`, never more than 1) and how often its job was
//! processed (`deliveries`, which can be more).
//!
//! The worker's processing is a model: it sleeps
//! [`WorkerSettings::processing`] (200 ms by default), then confirms the
//! order. The point is where the job waits, not what it does.
//!
//! This crate knows no HTTP. The `app` crate puts it behind
//! `POST /orders` and `GET /orders/{id}`; the book's chapter "Queued work"
//! (`docs/jobs.md`) explains it with runs.
//!
//! # Modules
//! - [`order`]: the order model, its id and the worker's settings.
//! - [`queue`]: the [`OrderQueue`] trait and its error.
//! - [`memory`]: the in-process queue and worker.
//! - [`rabbitmq`]: the RabbitMQ queue, its worker and its reconnection loop.
//! - [`records`]: order records in Redis, and the idempotent confirmation.

pub mod memory;
pub mod order;
pub mod queue;
pub mod rabbitmq;
pub mod records;

pub use memory::MemoryQueue;
pub use order::{Items, Order, OrderId, OrderStatus, WorkerSettings};
pub use queue::{JobError, OrderQueue};
pub use rabbitmq::{RabbitQueue, RabbitSettings};
