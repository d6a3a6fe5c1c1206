//! The session model: what a session holds, and the names it accepts.
//! How a store lends one is [`crate::view`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a server remembers about a logged-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The name the user logged in with.
    pub user: Name,
    /// When the session was created, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Authenticated requests made with this session (login not included).
    pub requests: u64,
    /// Item name to quantity.
    pub cart: BTreeMap<String, u64>,
}

impl Session {
    /// A new, empty session for `user`, created now.
    pub fn new(user: &Name) -> Self {
        Session { user: *user, created_at: now_ms(), requests: 0, cart: BTreeMap::new() }
    }

    /// Counts one authenticated request and applies `change`: the one
    /// mutation every store performs, each in its own atomic way.
    pub fn apply(&mut self, change: &crate::Change) {
        self.requests += 1;
        if let crate::Change::AddItem { item, qty } = change {
            *self.cart.entry(item.as_str().to_string()).or_default() += u64::from(*qty);
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// A user or item name: 1 to 64 characters of `A-Z a-z 0-9 _ . -`.
///
/// The narrow alphabet keeps names safe to use as Redis hash fields and in
/// logs without escaping. The bound on the length lets a name live inline
/// (65 bytes, no heap): a [`Session`] holding one is built or copied
/// without an allocation, as the Redis and token stores build one for every
/// request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name {
    len: u8,
    /// The name, then zeros.
    bytes: [u8; Name::MAX_LEN],
}

/// Why a name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 characters of A-Z a-z 0-9 _ . -")]
pub struct NameError;

impl Name {
    /// The longest name accepted, in characters.
    pub const MAX_LEN: usize = 64;

    /// Checks `raw` against the alphabet and length.
    pub fn parse(raw: &str) -> Result<Name, NameError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.bytes().all(allowed) {
            return Err(NameError);
        }
        Ok(Name::copy_of(raw.as_bytes()))
    }

    /// A name from bytes a store wrote from a parsed name, not checked again.
    pub(crate) fn copy_of(name: &[u8]) -> Name {
        let len = name.len().min(Self::MAX_LEN);
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..len].copy_from_slice(&name[..len]);
        Name { len: len as u8, bytes }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        // Only ever ASCII (see `parse`), so this cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Names read back (from a token, or a session's JSON) are checked like new
/// ones.
impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Name, D::Error> {
        let raw = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Name::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_alphabet_and_length() {
        for ok in ["a", "alice", "A-Z_0.9", &"x".repeat(64)] {
            assert!(Name::parse(ok).is_ok(), "{ok:?} refused");
        }
        for bad in ["", " ", "al ice", "ålice", "a/b", "a:b", "{}", &"x".repeat(65)] {
            assert_eq!(Name::parse(bad), Err(NameError), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_name_reads_back_as_the_text_it_was_parsed_from() {
        for text in ["a", "alice", &"x".repeat(64)] {
            let name = Name::parse(text).unwrap();
            assert_eq!(name.as_str(), text);
            assert_eq!(serde_json::to_string(&name).unwrap(), format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Name>(&format!("\"{text}\"")).unwrap(), name);
        }
        // A name is not equal to a longer one it is the start of.
        assert_ne!(Name::parse("ab").unwrap(), Name::parse("abc").unwrap());
        assert!(serde_json::from_str::<Name>("\"a b\"").is_err(), "a bad name came back from JSON");
    }
}
