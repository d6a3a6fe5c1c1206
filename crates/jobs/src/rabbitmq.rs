//! Orders queued in RabbitMQ, their records in Redis.
//!
//! Every node publishes to, and consumes from, one durable queue on a shared
//! broker. The pieces, and what each one protects against:
//!
//! - **A durable queue and persistent messages** (`delivery_mode` 2): a
//!   broker restart keeps the jobs.
//! - **Publisher confirms**: [`place`](OrderQueue::place) returns only once
//!   the broker says it has taken the message. Until then the order does not
//!   exist for the client; if the confirm does not come within
//!   [`RabbitSettings::place_timeout`], the client is told "unavailable" and
//!   the record is deleted.
//! - **Manual acknowledgement after the work**: a worker acknowledges a job
//!   only once its order is confirmed in Redis. A node that dies holding a
//!   job has not acknowledged it; the broker sees its connection close and
//!   delivers the job to another node's worker.
//! - **A bounded prefetch** (`basic.qos`): one worker holds at most
//!   [`WorkerSettings::concurrency`] unacknowledged jobs, so the others are
//!   left for other nodes, and a dead node takes at most that many back to
//!   the queue.
//! - **An idempotency key** (the order id): redelivery means a job can run
//!   twice; confirming it is one atomic step in Redis that applies only once
//!   (see [`crate::records`]).
//!
//! The worker reconnects by itself: a supervision loop connects, consumes
//! until the connection fails, then waits (100 ms, doubling to 2 s) and
//! connects again. Placing an order while the broker is down fails within
//! about a second ([`JobError::Unavailable`]), with nothing created.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use sessions::{Name, now_ms};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};

use crate::order::{Items, Order, OrderId, WorkerSettings};
use crate::queue::{JobError, OrderQueue};
use crate::records::{Confirmed, Records};

/// The first wait of the worker's reconnection loop; it doubles up to
/// [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two connection attempts of a worker.
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// How long a worker's connection, channel and consumer may take to set up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the queue and the records are, and how this node's worker behaves.
#[derive(Clone, Debug)]
pub struct RabbitSettings {
    /// `amqp://user:password@host:port/%2f`.
    pub amqp_url: String,
    /// `redis://host:port`: where order records are kept.
    pub redis_url: String,
    /// The durable queue's name.
    pub queue: String,
    /// This node's worker.
    pub worker: WorkerSettings,
    /// How long [`place`](OrderQueue::place) waits for the broker's
    /// confirm (connecting included) before it answers unavailable.
    pub place_timeout: Duration,
}

impl RabbitSettings {
    /// The queue's default name.
    pub const QUEUE: &'static str = "orders";
    /// The default wait for a publisher confirm.
    pub const PLACE_TIMEOUT: Duration = Duration::from_secs(1);

    /// The default queue and timeout, and `worker`.
    pub fn new(amqp_url: impl Into<String>, redis_url: impl Into<String>, worker: WorkerSettings) -> Self {
        RabbitSettings {
            amqp_url: amqp_url.into(),
            redis_url: redis_url.into(),
            queue: Self::QUEUE.into(),
            worker,
            place_timeout: Self::PLACE_TIMEOUT,
        }
    }
}

/// What a job message carries: the order's id, its idempotency key. The
/// order itself is in its record.
#[derive(Serialize, Deserialize)]
struct Job {
    order: String,
}

/// Orders queued in RabbitMQ and kept in Redis. See the module docs.
#[derive(Clone)]
pub struct RabbitQueue {
    node: Arc<Node>,
}

/// What the handles share; dropping it stops the worker and closes its
/// connection, so the broker gives its unacknowledged jobs to other nodes.
struct Node {
    records: Records,
    publisher: Publisher,
    worker: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

impl RabbitQueue {
    /// A handle on the queue and a worker on this node. Connects lazily:
    /// neither the broker nor Redis needs to be up yet (the worker keeps
    /// trying). Must be called inside a tokio runtime.
    pub fn new(settings: RabbitSettings) -> Result<Self, JobError> {
        let records = Records::new(&settings.redis_url)?;
        let publisher = Publisher {
            url: settings.amqp_url.clone(),
            queue: settings.queue.clone(),
            timeout: settings.place_timeout,
            channel: Mutex::new(None),
        };
        let worker = tokio::spawn(supervise(settings, records.clone()));
        Ok(RabbitQueue { node: Arc::new(Node { records, publisher, worker }) })
    }
}

impl OrderQueue for RabbitQueue {
    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    async fn place(&self, owner: &Name, items: Items) -> Result<OrderId, JobError> {
        if items.is_empty() {
            return Err(JobError::Empty);
        }
        let id = OrderId::generate();
        // The record first, then the job: a worker never meets a job without
        // its order, and if publishing fails the record goes again. Should
        // that delete fail too (Redis gone at the same moment), the record
        // stays queued until its TTL; its id was never given to anyone, so
        // no reader ever sees it.
        self.node.records.create(id, owner, &items, now_ms()).await?;
        if let Err(error) = self.node.publisher.publish(id).await {
            if let Err(cleanup) = self.node.records.delete(id).await {
                tracing::warn!(%cleanup, "could not delete the record of an order that was not queued");
            }
            return Err(error);
        }
        Ok(id)
    }

    async fn status(&self, owner: &Name, id: &str) -> Result<Option<Order>, JobError> {
        let Some(id) = OrderId::parse(id) else {
            return Ok(None);
        };
        self.node.records.get(owner, id).await
    }

    async fn health(&self) -> Result<(), JobError> {
        self.node.records.ping().await?;
        self.node.publisher.ready().await.map(drop)
    }
}

/// The node's publishing connection, opened on first use and again after
/// it failed.
struct Publisher {
    url: String,
    queue: String,
    timeout: Duration,
    channel: Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    /// Publishes the job of order `id` and waits for the broker's confirm,
    /// all within the timeout.
    async fn publish(&self, id: OrderId) -> Result<(), JobError> {
        let body = serde_json::to_vec(&Job { order: id.to_string() })
            .map_err(|e| JobError::Unavailable(format!("job: {e}")))?;
        let attempt = async {
            let channel = self.channel().await?;
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(id.to_string().into())
                .with_content_type("application/json".into());
            // `mandatory`: a message no queue takes comes back instead of
            // being confirmed and dropped.
            let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
            let confirm =
                channel.basic_publish("".into(), self.queue.as_str().into(), options, &body, properties).await?;
            confirm.await
        };
        let outcome = tokio::time::timeout(self.timeout, attempt).await;
        let failure = match outcome {
            Ok(Ok(confirmation)) => {
                if confirmation.is_ack() && confirmation.take_message().is_none() {
                    return Ok(());
                }
                "the broker refused or returned the job".to_string()
            }
            Ok(Err(e)) => format!("amqp: {e}"),
            Err(_) => format!("no publisher confirm within {:?}", self.timeout),
        };
        // Start afresh next time: the connection may be half-dead.
        *self.channel.lock().await = None;
        Err(JobError::Unavailable(failure))
    }

    /// Whether a publishing channel is open or can be opened in time.
    async fn ready(&self) -> Result<Channel, JobError> {
        match tokio::time::timeout(self.timeout, self.channel()).await {
            Ok(Ok(channel)) => Ok(channel),
            Ok(Err(e)) => Err(JobError::Unavailable(format!("amqp: {e}"))),
            Err(_) => Err(JobError::Unavailable(format!("no AMQP connection within {:?}", self.timeout))),
        }
    }

    /// The open channel, or a new one: a connection, confirms on, and the
    /// durable queue declared (so a job is never published to no queue).
    async fn channel(&self) -> Result<Channel, lapin::Error> {
        let mut slot = self.channel.lock().await;
        if let Some((connection, channel)) = slot.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *slot = None;
        let connection = Connection::connect(&self.url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        declare(&channel, &self.queue).await?;
        *slot = Some((connection, channel.clone()));
        Ok(channel)
    }
}

/// Declares the durable queue (the same declaration on every node).
async fn declare(channel: &Channel, queue: &str) -> Result<(), lapin::Error> {
    let options = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.into(), options, FieldTable::default()).await.map(drop)
}

/// The worker's supervision loop: consume until the connection fails, wait,
/// connect again. Ends only when the node's handle is dropped (aborted).
async fn supervise(settings: RabbitSettings, records: Records) {
    let mut wait = RECONNECT_MIN;
    loop {
        match consume(&settings, &records, &mut wait).await {
            Ok(()) => tracing::warn!(worker = %settings.worker.name, "the broker ended the consumer; reconnecting"),
            Err(error) => {
                tracing::warn!(worker = %settings.worker.name, %error, "worker lost the broker; reconnecting")
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

/// One connection's life: takes jobs, up to the prefetch at once, each in a
/// task of its own. The tasks in hand end with it (their jobs, not
/// acknowledged, go back to the queue).
async fn consume(settings: &RabbitSettings, records: &Records, wait: &mut Duration) -> Result<(), String> {
    // A hung broker accepts the TCP connection and then says nothing: give
    // the handshake a deadline rather than wait for it forever.
    let setup = async {
        let connection = Connection::connect(&settings.amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel.basic_qos(settings.worker.concurrency.max(1), BasicQosOptions::default()).await?;
        declare(&channel, &settings.queue).await?;
        let consumer = channel
            .basic_consume(
                settings.queue.as_str().into(),
                settings.worker.name.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((connection, consumer))
    };
    let (_connection, mut consumer) = match tokio::time::timeout(CONNECT_TIMEOUT, setup).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("no consumer within {CONNECT_TIMEOUT:?}")),
    };
    tracing::info!(worker = %settings.worker.name, queue = %settings.queue, "worker consuming");
    *wait = RECONNECT_MIN;
    let mut in_hand = JoinSet::new();
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery.map_err(|e| e.to_string())?;
        while in_hand.try_join_next().is_some() {}
        in_hand.spawn(process(delivery, settings.worker.clone(), records.clone()));
    }
    Ok(())
}

/// Does one job: the modelled work, the idempotent confirmation, then the
/// acknowledgement.
async fn process(delivery: lapin::message::Delivery, worker: WorkerSettings, records: Records) {
    let Some(id) = serde_json::from_slice::<Job>(&delivery.data).ok().and_then(|job| OrderId::parse(&job.order)) else {
        tracing::warn!("dropping a malformed job");
        let _ = delivery.acker.reject(BasicRejectOptions { requeue: false }).await;
        return;
    };
    // The modelled work.
    tokio::time::sleep(worker.processing).await;
    // Redis may be down for a while: keep the job (unacknowledged) and try
    // again, rather than lose the confirmation or ask the broker for the
    // job again at once.
    let mut wait = RECONNECT_MIN;
    let outcome = loop {
        match records.confirm(id, &worker.name).await {
            Ok(outcome) => break outcome,
            Err(error) => {
                tracing::warn!(%error, "cannot confirm an order yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RECONNECT_MAX);
            }
        }
    };
    match outcome {
        Confirmed::Now => {}
        Confirmed::Already => {
            tracing::info!(redelivered = delivery.redelivered, "job delivered again; its order was already confirmed")
        }
        Confirmed::NoRecord => tracing::info!("job without an order record (placement failed or expired); skipped"),
    }
    // If this fails the connection is gone: the broker delivers the job
    // again and the idempotency key makes that harmless.
    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
        tracing::warn!(%error, "could not acknowledge a job");
    }
}
