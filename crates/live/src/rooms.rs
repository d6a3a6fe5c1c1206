//! The one abstraction both kinds of room share, and the stream a member
//! reads.

use std::collections::VecDeque;
use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt};
use sessions::Name;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::message::{Message, Room, Text};

/// What a member of a room reads: every message said in the room after it
/// joined (and, where the backend keeps history, the ones after the `seq`
/// it asked for), in `seq` order.
///
/// The stream ends after an `Err`: the backend went away
/// ([`LiveError::Unavailable`]) or the member read too slowly
/// ([`LiveError::Lagged`]). Either way the client should reconnect, saying
/// the last `seq` it saw.
pub type Subscription = BoxStream<'static, Result<Message, LiveError>>;

/// Why a room could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// The broker did not answer in time, or failed, or went away while a
    /// member was following a room. The detail is for logs, never for
    /// clients.
    #[error("live broker unavailable: {0}")]
    Unavailable(String),
    /// This member read so slowly that `missed` messages were dropped for
    /// it rather than held for it without bound.
    #[error("subscriber too slow: {missed} messages dropped")]
    Lagged {
        /// How many messages this member will never see on this stream.
        missed: u64,
    },
}

/// Where chat rooms live: on this node, or in a broker every node follows.
/// Implemented by [`MemoryRooms`](crate::MemoryRooms) and
/// [`RedisRooms`](crate::RedisRooms).
///
/// `Clone` hands out a handle for one more worker thread: clones share the
/// rooms. Two handles built separately are two *nodes*: with
/// [`MemoryRooms`](crate::MemoryRooms) they share nothing, with
/// [`RedisRooms`](crate::RedisRooms) on one Redis they share every room.
///
/// # Implementing it
///
/// A decorator that counts what is published through it, in front of any
/// other implementation:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use futures::StreamExt;
/// use live::{LiveError, MemoryRooms, Message, Room, Rooms, Subscription, Text};
/// use sessions::Name;
///
/// #[derive(Clone)]
/// struct Counted<R> {
///     inner: R,
///     published: Arc<AtomicU64>,
/// }
///
/// impl<R: Rooms> Rooms for Counted<R> {
///     fn kind(&self) -> &'static str {
///         self.inner.kind()
///     }
///
///     async fn publish(&self, room: &Room, from: &Name, text: Text) -> Result<Message, LiveError> {
///         let message = self.inner.publish(room, from, text).await?;
///         self.published.fetch_add(1, Ordering::Relaxed);
///         Ok(message)
///     }
///
///     async fn subscribe(&self, room: &Room, after: Option<u64>) -> Result<Subscription, LiveError> {
///         self.inner.subscribe(room, after).await
///     }
///
///     async fn health(&self) -> Result<(), LiveError> {
///         self.inner.health().await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let rooms = Counted { inner: MemoryRooms::new(), published: Arc::default() };
/// let lobby = Room::parse("lobby").unwrap();
/// let mut members = rooms.subscribe(&lobby, None).await.unwrap();
/// let sent = rooms.publish(&lobby, &Name::parse("alice").unwrap(), Text::new("hi").unwrap()).await.unwrap();
/// assert_eq!(sent.seq, 1);
/// assert_eq!(members.next().await.unwrap().unwrap(), sent);
/// assert_eq!(rooms.published.load(Ordering::Relaxed), 1);
/// # }
/// ```
pub trait Rooms: Clone + Send + Sync + 'static {
    /// What `/healthz` reports: `"memory"` or `"redis"`.
    fn kind(&self) -> &'static str;

    /// Says `text` in `room` as `from`, and hands back the message as
    /// members receive it, numbered with the room's next `seq`. The caller
    /// receives it too if it is subscribed.
    fn publish(&self, room: &Room, from: &Name, text: Text) -> impl Future<Output = Result<Message, LiveError>> + Send;

    /// Joins `room`: the stream yields every message published after this
    /// call returns. With `after: Some(seq)`, a backend that keeps history
    /// first yields the messages after `seq` it still holds, then goes on
    /// live without a gap or a repeat; one that keeps none ignores it.
    fn subscribe(
        &self,
        room: &Room,
        after: Option<u64>,
    ) -> impl Future<Output = Result<Subscription, LiveError>> + Send;

    /// Whether rooms can be used now.
    fn health(&self) -> impl Future<Output = Result<(), LiveError>> + Send;
}

/// What a room's local fan-out carries: a message, or why the room's
/// source stopped.
pub(crate) type Event = Result<Message, LiveError>;

/// A member's stream: `backlog` first, then what `live` brings, skipping
/// what the backlog already held (the two overlap when a message arrives
/// while the backlog is read).
pub(crate) fn subscription(backlog: Vec<Message>, live: broadcast::Receiver<Event>) -> Subscription {
    struct State {
        backlog: VecDeque<Message>,
        live: broadcast::Receiver<Event>,
        /// The last `seq` of the backlog: live messages up to it are repeats.
        /// (Not the client's `after`: a broker that lost its data numbers
        /// from 1 again, and those messages must still arrive.)
        seen: Option<u64>,
        ended: bool,
    }
    let seen = backlog.last().map(|m| m.seq);
    let state = State { backlog: backlog.into(), live, seen, ended: false };
    stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        if let Some(message) = state.backlog.pop_front() {
            return Some((Ok(message), state));
        }
        loop {
            let event = match state.live.recv().await {
                Ok(Ok(message)) if state.seen.is_some_and(|seen| message.seq <= seen) => continue,
                Ok(event) => event,
                Err(RecvError::Lagged(missed)) => Err(LiveError::Lagged { missed }),
                Err(RecvError::Closed) => Err(LiveError::Unavailable("the room's source stopped".to_string())),
            };
            state.ended = event.is_err();
            return Some((event, state));
        }
    })
    .boxed()
}
