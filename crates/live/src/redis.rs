//! Rooms in Redis: one capped stream per room, followed by one task per
//! room on each node.
//!
//! # Layout
//!
//! ```text
//! live:room:{NAME}   stream, entry id `{seq}-0`, fields from, text, at
//!                    capped near the history length (MAXLEN ~ N)
//! ```
//!
//! A publish is one Lua script: read the stream's last id, add 1, `XADD`
//! with that as the id. The script runs alone in Redis, so two nodes
//! publishing at once get consecutive numbers, and the stream's order *is*
//! `seq` order. Keeping `seq` in the entry id (rather than a separate
//! counter key) means the number and the history cannot drift apart:
//! `XRANGE key (SEQ +` is "everything after SEQ", and `XREAD … SEQ` is
//! "what comes next".
//!
//! # Followers
//!
//! A node does not give each socket its own Redis connection. The first
//! member of a room on a node starts a *follower*: a task with its own
//! connection that blocks in `XREAD BLOCK` on the room's stream and hands
//! each entry to a local [`broadcast`] channel, which every member on this
//! node reads. So a node holds one connection per room it has members in
//! (plus one for publishing), whatever the number of sockets, and a message
//! crosses the network once per node, not once per member. When the last
//! member leaves, the follower notices within one block period and stops.
//!
//! A follower is one connection per room rather than one for all rooms
//! because `XREAD BLOCK` holds its connection until it returns: a shared
//! connection would have to be woken up (`CLIENT UNBLOCK`) every time a
//! room is joined or left. Pub/sub would fan out over one connection, but it
//! forgets: what is published while a node reconnects is gone, and
//! catching up would need the stream anyway.
//!
//! # When Redis goes away
//!
//! Every command has a deadline (connect and response, [`TIMEOUT`]). A
//! publish or a subscribe that cannot reach Redis returns
//! [`LiveError::Unavailable`]; a follower whose `XREAD` fails tells its
//! members the same, and their streams end; the connection is dropped and
//! the next call dials again, so service resumes by itself when Redis is
//! back. Members reconnect with the last `seq` they saw and get what they
//! missed from the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, Client, RedisError, Script};
use sessions::{Name, now_ms};
use tokio::sync::{broadcast, watch};

use crate::memory::MEMBER_BUFFER;
use crate::message::{Message, Room, Text};
use crate::rooms::{Event, LiveError, Rooms, Subscription, subscription};

/// How long any step may take before the broker counts as unavailable:
/// connecting, and waiting for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// How long a follower's `XREAD` blocks in Redis before it comes back
/// empty-handed to see whether its room still has members here.
const BLOCK: Duration = Duration::from_millis(500);

/// The most entries a follower takes in one `XREAD`.
const READ_BATCH: usize = 256;

/// How many messages each room keeps for members that reconnect, unless
/// [`RedisRooms::new`] is told otherwise.
pub const DEFAULT_HISTORY: usize = 1000;

/// Numbers and appends one message; returns its `seq`.
/// KEYS[1] the room's stream; ARGV: history length, from, text, at.
const PUBLISH: &str = r"
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local seq = 1
if last[1] then seq = tonumber(string.match(last[1][1], '^(%d+)')) + 1 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], string.format('%d-0', seq), 'from', ARGV[2], 'text', ARGV[3], 'at', ARGV[4])
return seq
";

/// Rooms shared by every node through one Redis: a member on any node
/// hears every member on every node, numbered by Redis, and one that
/// reconnects catches up from the room's capped history.
///
/// What it costs: a round trip per publish, a connection per followed room
/// per node, and memory in Redis for the history (the last
/// [`DEFAULT_HISTORY`] messages of every room, up to 4 KiB of text each,
/// until the room's key is deleted). Redis is now the one place that must
/// stay up for anyone to chat.
#[derive(Clone)]
pub struct RedisRooms {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    history: usize,
    publish: Script,
    /// The connection for publishing, catching up and health; dialled when
    /// first needed and again after it failed.
    commands: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// The rooms this node follows.
    rooms: Arc<Mutex<HashMap<Room, Follower>>>,
}

/// A room this node follows: its local fan-out, and whether the follower
/// has found its starting point.
#[derive(Clone)]
struct Follower {
    members: broadcast::Sender<Event>,
    state: watch::Receiver<FollowerState>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum FollowerState {
    Starting,
    Following,
    Failed(LiveError),
}

impl RedisRooms {
    /// Rooms in the Redis at `url` (`redis://host:port`), each keeping
    /// about `history` messages for members that reconnect (Redis trims to a
    /// little more, in whole blocks of entries, which is what makes trimming
    /// cheap; [`DEFAULT_HISTORY`] is a sensible choice). Nothing is dialled
    /// yet: a node can start while Redis is down and serve rooms once it is
    /// up. Only a URL that is not one is an error.
    pub fn new(url: &str, history: usize) -> Result<Self, RedisError> {
        let client = Client::open(url)?;
        Ok(RedisRooms {
            inner: Arc::new(Inner {
                client,
                history: history.max(1),
                publish: Script::new(PUBLISH),
                commands: tokio::sync::Mutex::new(None),
                rooms: Arc::default(),
            }),
        })
    }

    /// The connection for commands, dialled if there is none. One caller
    /// dials while the others wait for it, all within [`TIMEOUT`]: during an
    /// outage, a crowd of requests must not queue up one dial each.
    async fn commands(&self) -> Result<MultiplexedConnection, LiveError> {
        let connect = async {
            let mut slot = self.inner.commands.lock().await;
            if let Some(connection) = &*slot {
                return Ok(connection.clone());
            }
            let connection = dial(&self.inner.client, TIMEOUT).await?;
            *slot = Some(connection.clone());
            Ok(connection)
        };
        tokio::time::timeout(TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| Err(LiveError::Unavailable("connect: no connection within the deadline".to_string())))
    }

    /// Maps a failed command to [`LiveError::Unavailable`], dropping the
    /// connection so that the next command dials a fresh one.
    async fn failed(&self, what: &str, error: RedisError) -> LiveError {
        tracing::warn!(%error, "live rooms: {what} failed");
        *self.inner.commands.lock().await = None;
        LiveError::Unavailable(format!("{what}: {error}"))
    }

    /// This node's follower of `room`, started if there is none; and a
    /// receiver of its fan-out, subscribed before this returns.
    fn join(&self, room: &Room) -> (broadcast::Receiver<Event>, watch::Receiver<FollowerState>) {
        let mut rooms = self.inner.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let follower = rooms.entry(*room).or_insert_with(|| {
            let (members, _) = broadcast::channel(MEMBER_BUFFER);
            let (state_tx, state) = watch::channel(FollowerState::Starting);
            let follower = Follower { members, state };
            tokio::spawn(follow(
                self.inner.client.clone(),
                Arc::clone(&self.inner.rooms),
                *room,
                follower.members.clone(),
                state_tx,
            ));
            follower
        });
        (follower.members.subscribe(), follower.state.clone())
    }

    /// The messages of `room` after `seq` that Redis still holds.
    async fn after(&self, room: &Room, seq: u64) -> Result<Vec<Message>, LiveError> {
        let mut connection = self.commands().await?;
        let reply: Result<StreamRangeReply, _> =
            connection.xrange_count(key(room), format!("({seq}"), "+", self.inner.history * 2).await;
        match reply {
            Ok(reply) => Ok(reply.ids.iter().filter_map(|entry| decode(room, entry)).collect()),
            Err(error) => Err(self.failed("catch-up", error).await),
        }
    }
}

impl Rooms for RedisRooms {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, room: &Room, from: &Name, text: Text) -> Result<Message, LiveError> {
        let mut connection = self.commands().await?;
        let at = now_ms();
        let seq: Result<u64, _> = self
            .inner
            .publish
            .key(key(room))
            .arg(self.inner.history)
            .arg(from.as_str())
            .arg(text.as_str())
            .arg(at)
            .invoke_async(&mut connection)
            .await;
        match seq {
            Ok(seq) => Ok(Message { room: *room, from: *from, seq, text: text.into_string(), at }),
            Err(error) => Err(self.failed("publish", error).await),
        }
    }

    async fn subscribe(&self, room: &Room, after: Option<u64>) -> Result<Subscription, LiveError> {
        let (live, mut state) = self.join(room);
        // The follower dials with the same deadline; the margin covers its
        // first command.
        let started = tokio::time::timeout(TIMEOUT * 2, state.wait_for(|s| *s != FollowerState::Starting))
            .await
            .map(|state| state.map(|state| state.clone()));
        match started {
            Ok(Ok(FollowerState::Following)) => {}
            Ok(Ok(FollowerState::Failed(error))) => return Err(error),
            _ => return Err(LiveError::Unavailable("the room's follower did not start in time".to_string())),
        }
        // Subscribed to the follower before reading the history, and the
        // follower started before this: together they leave no gap, and
        // `subscription` drops the overlap.
        let backlog = match after {
            Some(seq) => self.after(room, seq).await?,
            None => Vec::new(),
        };
        Ok(subscription(backlog, live))
    }

    async fn health(&self) -> Result<(), LiveError> {
        let mut connection = self.commands().await?;
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
        match pong {
            Ok(_) => Ok(()),
            Err(error) => Err(self.failed("health", error).await),
        }
    }
}

/// The room's stream.
fn key(room: &Room) -> String {
    format!("live:room:{room}")
}

/// A connection whose every step has a deadline: `response` for answers
/// (a follower's allows for its blocking read).
async fn dial(client: &Client, response: Duration) -> Result<MultiplexedConnection, LiveError> {
    let config =
        AsyncConnectionConfig::new().set_connection_timeout(Some(TIMEOUT)).set_response_timeout(Some(response));
    client.get_multiplexed_async_connection_with_config(&config).await.map_err(|error| {
        tracing::warn!(%error, "live rooms: cannot reach Redis");
        LiveError::Unavailable(format!("connect: {error}"))
    })
}

/// A stream entry as a message; `None` (and a log line) for one this crate
/// did not write.
fn decode(room: &Room, entry: &StreamId) -> Option<Message> {
    let seq = entry.id.split_once('-').and_then(|(seq, _)| seq.parse().ok());
    let from = entry.get::<String>("from").and_then(|from| Name::parse(&from).ok());
    let message = match (seq, from, entry.get::<String>("text"), entry.get::<u64>("at")) {
        (Some(seq), Some(from), Some(text), Some(at)) => Some(Message { room: *room, from, seq, text, at }),
        _ => None,
    };
    if message.is_none() {
        tracing::warn!(room = %room, id = %entry.id, "live rooms: skipped a stream entry this crate did not write");
    }
    message
}

/// A room's follower: finds where the stream ends, then reads what is
/// added after it and hands it to this node's members, until they are gone
/// or Redis is.
async fn follow(
    client: Client,
    rooms: Arc<Mutex<HashMap<Room, Follower>>>,
    room: Room,
    members: broadcast::Sender<Event>,
    state: watch::Sender<FollowerState>,
) {
    let error = match follow_until_error(&client, &rooms, &room, &members, &state).await {
        Ok(()) => return,
        Err(error) => error,
    };
    // Out of the map first, so that the next member starts a new follower
    // rather than joining this dead one; then tell the members.
    leave(&rooms, &room, &members, false);
    state.send_replace(FollowerState::Failed(error.clone()));
    let _ = members.send(Err(error));
}

async fn follow_until_error(
    client: &Client,
    rooms: &Mutex<HashMap<Room, Follower>>,
    room: &Room,
    members: &broadcast::Sender<Event>,
    state: &watch::Sender<FollowerState>,
) -> Result<(), LiveError> {
    let unavailable = |what: &str, error: RedisError| {
        tracing::warn!(%error, room = %room, "live rooms: follower {what} failed");
        LiveError::Unavailable(format!("{what}: {error}"))
    };
    let key = key(room);
    let mut connection = dial(client, BLOCK + TIMEOUT).await?;
    let last: StreamRangeReply =
        connection.xrevrange_count(&key, "+", "-", 1).await.map_err(|e| unavailable("start", e))?;
    // Where to read on from: the last entry's id, whether or not it is a
    // message (an entry this crate did not write is skipped, not re-read).
    let mut last_id = last.ids.first().map_or_else(|| "0-0".to_string(), |entry| entry.id.clone());
    state.send_replace(FollowerState::Following);
    let block = usize::try_from(BLOCK.as_millis()).unwrap_or(usize::MAX);
    let options = StreamReadOptions::default().block(block).count(READ_BATCH);
    loop {
        let reply: Option<StreamReadReply> =
            connection.xread_options(&[&key], &[&last_id], &options).await.map_err(|e| unavailable("read", e))?;
        for entry in reply.iter().flat_map(|reply| &reply.keys).flat_map(|stream| &stream.ids) {
            last_id.clone_from(&entry.id);
            if let Some(message) = decode(room, entry) {
                let _ = members.send(Ok(message));
            }
        }
        if members.receiver_count() == 0 && leave(rooms, room, members, true) {
            return Ok(());
        }
    }
}

/// Takes this follower out of the map (`if_idle`: only when nobody on this
/// node listens to it; checked under the map's lock, where members join, so
/// none can join meanwhile). `true` when it was taken out.
fn leave(
    rooms: &Mutex<HashMap<Room, Follower>>,
    room: &Room,
    members: &broadcast::Sender<Event>,
    if_idle: bool,
) -> bool {
    let mut rooms = rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let ours = rooms.get(room).is_some_and(|follower| follower.members.same_channel(members));
    let leaving = ours && (!if_idle || members.receiver_count() == 0);
    if leaving {
        rooms.remove(room);
    }
    leaving
}
