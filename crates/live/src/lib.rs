//! Live connections: chat rooms, and where they live.
//!
//! (Docs to come.)

pub mod memory;
pub mod message;
pub mod redis;
pub mod rooms;

pub use memory::MemoryRooms;
pub use message::{Message, Room, Text, TextTooLong};
pub use redis::RedisRooms;
pub use rooms::{LiveError, Rooms, Subscription};
