//! Order records on the shared side: one Redis hash per order.
//!
//! The broker holds *jobs* (what is still to be done); it is not a database,
//! and a job is gone once acknowledged. What `GET /orders/{id}` shows must
//! outlive the job and be readable from every node, so it is kept in Redis,
//! which the stateless twins already share for sessions.
//!
//! # Key layout
//!
//! `order:{id}` is a hash with a TTL of [`ORDER_TTL`]:
//!
//! | field | written by | meaning |
//! |---|---|---|
//! | `owner`, `items`, `placed_at` | `place`, before the job is published | who ordered what (items as JSON), when |
//! | `done_by`, `done_at` | the first worker to finish the job | which node's worker confirmed it, when |
//! | `confirmations` | the same step | times the order was confirmed: 0 or 1 |
//! | `deliveries` | every worker that finishes the job | times the job was processed |
//!
//! An order is done exactly when `done_by` is set.
//!
//! # The idempotency key
//!
//! RabbitMQ delivers a job at least once: a worker that dies after doing the
//! work but before its acknowledgement reaches the broker gets its job
//! delivered again, to someone else. The order id is the idempotency key: a
//! worker's confirmation is one Lua script, atomic in Redis, that counts the
//! delivery and, only if `done_by` is not yet set (`HSETNX`), sets it, the
//! time, and counts one confirmation. A second delivery finds `done_by` set
//! and changes nothing but `deliveries`. (Without the script, a worker dying
//! between "set the key" and "record the effect" would leave an order that
//! is neither done nor redoable.)
//!
//! A job whose record does not exist is not applied: its placement was
//! reported failed to the client (and the record deleted), or the record
//! expired. That keeps "503 means no order" true even when the broker had
//! in fact kept a message whose confirmation timed out.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sessions::{Name, now_ms};

use crate::order::{Items, Order, OrderId, OrderStatus};
use crate::queue::JobError;

/// How long an order record is kept after it was placed or confirmed.
pub const ORDER_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long one Redis request may take before the caller is told the store
/// is unavailable.
const TIMEOUT: Duration = Duration::from_secs(1);

/// KEYS[1]: the order's hash. ARGV: worker name, time in ms, TTL in seconds.
/// Returns 1 when this call confirmed the order, 0 when it was already
/// confirmed, -1 when there is no record.
const CONFIRM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
if redis.call('HSETNX', KEYS[1], 'done_by', ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'done_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'confirmations', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

/// What a worker's confirmation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmed {
    /// This worker confirmed the order.
    Now,
    /// Another delivery had confirmed it already; only the delivery counted.
    Already,
    /// There is no such order (its placement failed, or it expired).
    NoRecord,
}

/// The order records in one Redis.
#[derive(Clone)]
pub struct Records {
    redis: ConnectionManager,
    confirm: redis::Script,
}

impl Records {
    /// Records in the Redis at `url` (`redis://host:port`). Connects lazily
    /// and reconnects by itself; each request gives up after about a second.
    pub fn new(url: &str) -> Result<Self, JobError> {
        let client = redis::Client::open(url).map_err(|e| JobError::Unavailable(format!("redis url: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let redis = ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        Ok(Records { redis, confirm: redis::Script::new(CONFIRM) })
    }

    fn key(id: OrderId) -> String {
        format!("order:{id}")
    }

    /// Writes a new order's record (not yet done).
    pub async fn create(&self, id: OrderId, owner: &Name, items: &Items, placed_at: u64) -> Result<(), JobError> {
        let key = Self::key(id);
        let items = serde_json::to_string(items).map_err(|e| JobError::Unavailable(format!("items: {e}")))?;
        let fields = [
            ("owner", owner.as_str().to_string()),
            ("items", items),
            ("placed_at", placed_at.to_string()),
            ("confirmations", "0".into()),
            ("deliveries", "0".into()),
        ];
        let mut redis = self.redis.clone();
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, ttl_secs())
            .ignore()
            .query_async::<()>(&mut redis)
            .await
            .map_err(unavailable)
    }

    /// Deletes a record whose job could not be queued.
    pub async fn delete(&self, id: OrderId) -> Result<(), JobError> {
        let mut redis = self.redis.clone();
        redis.del::<_, ()>(Self::key(id)).await.map_err(unavailable)
    }

    /// The order `id` if it exists and `owner` placed it.
    pub async fn get(&self, owner: &Name, id: OrderId) -> Result<Option<Order>, JobError> {
        let mut redis = self.redis.clone();
        let fields: std::collections::HashMap<String, String> =
            redis.hgetall(Self::key(id)).await.map_err(unavailable)?;
        if fields.get("owner").map(String::as_str) != Some(owner.as_str()) {
            return Ok(None);
        }
        let number = |field: &str| fields.get(field).and_then(|v| v.parse::<u64>().ok());
        let items: Items = fields.get("items").and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default();
        let worker = fields.get("done_by").cloned();
        Ok(Some(Order {
            id,
            status: if worker.is_some() { OrderStatus::Done } else { OrderStatus::Queued },
            items,
            placed_at: number("placed_at").unwrap_or(0),
            done_at: number("done_at"),
            worker,
            confirmations: number("confirmations").unwrap_or(0),
            deliveries: number("deliveries").unwrap_or(0),
        }))
    }

    /// A worker named `worker` finished the job of order `id`: confirms the
    /// order unless a delivery already did (see the module docs).
    pub async fn confirm(&self, id: OrderId, worker: &str) -> Result<Confirmed, JobError> {
        let mut redis = self.redis.clone();
        let outcome: i64 = self
            .confirm
            .key(Self::key(id))
            .arg(worker)
            .arg(now_ms())
            .arg(ttl_secs())
            .invoke_async(&mut redis)
            .await
            .map_err(unavailable)?;
        Ok(match outcome {
            1 => Confirmed::Now,
            0 => Confirmed::Already,
            _ => Confirmed::NoRecord,
        })
    }

    /// Whether Redis answers.
    pub async fn ping(&self) -> Result<(), JobError> {
        let mut redis = self.redis.clone();
        redis::cmd("PING").query_async::<()>(&mut redis).await.map_err(unavailable)
    }
}

fn ttl_secs() -> i64 {
    i64::try_from(ORDER_TTL.as_secs()).unwrap_or(i64::MAX)
}

fn unavailable(e: redis::RedisError) -> JobError {
    JobError::Unavailable(format!("redis: {e}"))
}
