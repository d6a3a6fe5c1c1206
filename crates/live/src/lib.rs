//! Live connections: chat rooms, and where they live.
//!
//! A request of a REST API is over in milliseconds; any node can take the
//! next one. A WebSocket is a *connection*: it stays open for minutes or
//! hours, and all that time it is held by one process on one node. The
//! load balancer chose that node when the socket opened and cannot move it.
//! So whatever a live feature needs to reach a user (a chat message, a
//! notification) must reach *the node that holds the user's socket*. That
//! is the state this crate is about: not the sockets themselves, which stay
//! tied to their node whatever we do, but who hears what is said in a room.
//!
//! - [`MemoryRooms`] keeps each room in this process: a
//!   [`tokio::sync::broadcast`] channel and a counter. A message reaches the
//!   members whose sockets this node holds, and no one else. On one node
//!   that is the whole room; behind a load balancer with two nodes a room
//!   silently becomes two rooms, one per node, each numbering its messages
//!   1, 2, 3… Nobody sees an error or a gap: half the room just never hears
//!   the other half. When a node dies its sockets drop, and what was said
//!   while their users reconnected is gone: there is no history.
//! - [`RedisRooms`] keeps each room in Redis, as a capped stream. Every node
//!   follows the rooms its members are in (one connection per room per
//!   node, not per socket) and fans each message out to its own sockets, so
//!   the room is one room whatever node a member landed on, and Redis
//!   numbers all of it in one sequence. A member that reconnects (on any
//!   node) says the last `seq` it saw and gets what it missed, from the
//!   stream. That is what the broker buys: sockets still die with their
//!   node, but the *conversation* no longer does.
//!
//! What the broker costs: a round trip to Redis for every message, a
//! connection per followed room per node, Redis memory for the history
//! (up to the last [`DEFAULT_HISTORY`](redis::DEFAULT_HISTORY) messages of
//! every room, each up to 4 KiB), and one more service that must stay up:
//! while Redis is down no one can chat, and every open room is told so.
//! A history is also a promise with a horizon: a member away longer than the
//! room's history holds sees a jump in `seq` and knows it missed messages,
//! but cannot get them back. And a broker that loses its data (a crash
//! without persistence) starts the rooms over at 1, which a member sees as
//! `seq` going backwards.
//!
//! Pub/sub would fan out too, over one connection per node for all rooms,
//! but it forgets: a message published while a node is reconnecting to
//! Redis never reaches that node, and a member has nothing to catch up from.
//! A stream keeps what it was sent, so this crate uses streams only.
//!
//! This crate knows no HTTP. The WebSocket handler (auth before the upgrade,
//! the close codes, keepalive) lives in the `app` crate; what a room refuses
//! ([`Room`] names, [`Text`] over 4 KiB) is checked here so that every
//! caller refuses the same things. The book's chapter `docs/live.md` shows
//! both kinds of room behind a load balancer.
//!
//! # Modules
//! - [`message`]: room names, the text a member sends, and the [`Message`]
//!   every member receives (the JSON the socket carries).
//! - [`rooms`]: the [`Rooms`] trait, its error, and the [`Subscription`]
//!   a member reads.
//! - [`memory`]: rooms on this node only.
//! - [`redis`]: rooms in Redis streams; their key layout, the followers,
//!   and what happens when Redis goes away.

pub mod memory;
pub mod message;
pub mod redis;
pub mod rooms;

pub use memory::MemoryRooms;
pub use message::{Message, Room, Text, TextTooLong};
pub use redis::RedisRooms;
pub use rooms::{LiveError, Rooms, Subscription};
