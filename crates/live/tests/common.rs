//! What the tests share: a private Redis, names, and reading a subscription
//! with a deadline.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use live::{LiveError, Message, Room, Subscription, Text};
use local_redis::RedisServer;
use sessions::Name;

/// Longer than anything here should take; a test that reaches it failed.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// One private `redis-server` for the tests that run at the same time (each
/// uses rooms of its own), stopped when the last of them drops it. Tests
/// that stop Redis start their own with [`RedisServer::start`].
pub fn shared_redis() -> Arc<RedisServer> {
    static SHARED: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(RedisServer::start().expect("start redis-server"));
    *shared = Arc::downgrade(&server);
    server
}

pub fn room(name: &str) -> Room {
    Room::parse(name).unwrap()
}

pub fn user(name: &str) -> Name {
    Name::parse(name).unwrap()
}

pub fn text(text: &str) -> Text {
    Text::new(text).unwrap()
}

/// The next item of `subscription`, failing the test if none comes in time.
pub async fn next(subscription: &mut Subscription) -> Option<Result<Message, LiveError>> {
    tokio::time::timeout(PATIENCE, subscription.next()).await.expect("nothing arrived in time")
}

/// The next message, which must be one.
pub async fn next_message(subscription: &mut Subscription) -> Message {
    next(subscription).await.expect("the subscription ended").expect("an error instead of a message")
}
