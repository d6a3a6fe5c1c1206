//! Rooms on this node: a broadcast channel per room, to this node's
//! members only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sessions::{Name, now_ms};
use tokio::sync::broadcast;

use crate::message::{Message, Room, Text};
use crate::rooms::{Event, LiveError, Rooms, Subscription, subscription};

/// How many messages a room holds for its slowest member before that
/// member is dropped with [`LiveError::Lagged`].
pub const MEMBER_BUFFER: usize = 1024;

/// Rooms kept in this process: what one node's members say reaches this
/// node's members, and nobody else.
///
/// Each room is a [`tokio::sync::broadcast`] channel and a counter. That is
/// all a single node needs, and it is fast: a publish is a lock, an
/// increment and a clone per member. Behind a load balancer it is wrong in
/// a way nobody sees: a second node has rooms of the same names with their
/// own members and their own counters, so a room splits into one room per
/// node, each numbering its messages 1, 2, 3… Nothing fails and no `seq`
/// jumps; members simply never hear the other half.
///
/// It keeps no history: `subscribe(room, Some(seq))` starts live, as
/// `None` does, and whatever was said while a member reconnected is gone.
#[derive(Clone, Default)]
pub struct MemoryRooms {
    rooms: Arc<Mutex<HashMap<Room, RoomState>>>,
}

struct RoomState {
    members: broadcast::Sender<Event>,
    last_seq: u64,
}

impl MemoryRooms {
    /// No rooms yet; a room comes to be when it is first used, and keeps its
    /// counter for the life of the process.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_room<R>(&self, room: &Room, f: impl FnOnce(&mut RoomState) -> R) -> R {
        // A panic while holding this lock cannot leave a room half-changed
        // (each step is one assignment), so a poisoned lock is used as is.
        let mut rooms = self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = rooms
            .entry(*room)
            .or_insert_with(|| RoomState { members: broadcast::channel(MEMBER_BUFFER).0, last_seq: 0 });
        f(state)
    }
}

impl Rooms for MemoryRooms {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, room: &Room, from: &Name, text: Text) -> Result<Message, LiveError> {
        // Numbered and sent under the lock, so members receive a room's
        // messages in `seq` order.
        Ok(self.with_room(room, |state| {
            state.last_seq += 1;
            let message =
                Message { room: *room, from: *from, seq: state.last_seq, text: text.into_string(), at: now_ms() };
            // No member is not an error: the message was said to nobody.
            let _ = state.members.send(Ok(message.clone()));
            message
        }))
    }

    async fn subscribe(&self, room: &Room, _after: Option<u64>) -> Result<Subscription, LiveError> {
        let live = self.with_room(room, |state| state.members.subscribe());
        Ok(subscription(Vec::new(), live))
    }

    async fn health(&self) -> Result<(), LiveError> {
        Ok(())
    }
}
