//! What a room carries: its name, the text a user sends, and the message
//! every member receives.

use std::fmt;

use serde::{Deserialize, Serialize};
use sessions::{Name, NameError};

/// A room's name: the same rule as a user name, 1 to 64 characters of
/// `A-Z a-z 0-9 _ . -`, so it is safe in a Redis key and in logs without
/// escaping.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Room(Name);

impl Room {
    /// Checks `raw` as a [`Name`] is checked.
    pub fn parse(raw: &str) -> Result<Room, NameError> {
        Name::parse(raw).map(Room)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Room {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A room name read back (by a client, from a broker) is checked like a new one.
impl<'de> Deserialize<'de> for Room {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Room, D::Error> {
        Name::deserialize(deserializer).map(Room)
    }
}

/// What a user says in a room: any UTF-8 text of at most
/// [`Text::MAX_BYTES`] bytes.
///
/// The bound is what keeps one client from filling every member's socket
/// buffer and the broker's history with one frame; the HTTP layer closes a
/// socket that sends more with WebSocket close code 1008 (policy violation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text(String);

/// Why a text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a message is at most 4096 bytes; this one has {bytes}")]
pub struct TextTooLong {
    /// The size of the refused text, in bytes.
    pub bytes: usize,
}

impl Text {
    /// The largest text accepted, in bytes of UTF-8 (4 KiB).
    pub const MAX_BYTES: usize = 4096;

    /// Accepts `text` when it fits.
    pub fn new(text: impl Into<String>) -> Result<Text, TextTooLong> {
        let text = text.into();
        if text.len() > Self::MAX_BYTES {
            return Err(TextTooLong { bytes: text.len() });
        }
        Ok(Text(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// One message as every member of the room receives it, and as the
/// WebSocket sends it: `{"room","from","seq","text","at"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The room it was said in.
    pub room: Room,
    /// Who said it (the session's user).
    pub from: Name,
    /// Its place in the room: 1, 2, 3… with no gaps, numbered where the
    /// room lives (this node, or the broker). A member that sees `seq` jump
    /// knows it missed messages; one that reconnects says the last `seq` it
    /// saw to catch up where the backend keeps history.
    pub seq: u64,
    /// What was said (at most [`Text::MAX_BYTES`] bytes).
    pub text: String,
    /// When the node that accepted it published it, in milliseconds since
    /// the Unix epoch.
    pub at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_follow_the_rule_of_names() {
        for ok in ["lobby", "a", "Room_1.b-c", &"r".repeat(64)] {
            assert_eq!(Room::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "two words", "a/b", "live:room", "ü", &"r".repeat(65)] {
            assert!(Room::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn text_is_refused_over_4_kib_and_kept_whole_up_to_it() {
        let fits = "é".repeat(Text::MAX_BYTES / 2);
        assert_eq!(Text::new(fits.clone()).unwrap().as_str(), fits);
        assert_eq!(Text::new("x".repeat(Text::MAX_BYTES + 1)), Err(TextTooLong { bytes: Text::MAX_BYTES + 1 }));
        assert_eq!(Text::new("").unwrap().as_str(), "");
    }

    #[test]
    fn a_message_is_the_json_the_socket_sends() {
        let message = Message {
            room: Room::parse("lobby").unwrap(),
            from: Name::parse("alice").unwrap(),
            seq: 7,
            text: "hi \"all\"".to_string(),
            at: 1_700_000_000_000,
        };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(json, r#"{"room":"lobby","from":"alice","seq":7,"text":"hi \"all\"","at":1700000000000}"#);
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), message);
        assert!(serde_json::from_str::<Message>(&json.replace("lobby", "a b")).is_err());
    }
}
