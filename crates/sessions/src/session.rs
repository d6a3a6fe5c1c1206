//! The session model.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a server remembers about a logged-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The name the user logged in with.
    pub user: String,
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
        Session { user: user.as_str().to_string(), created_at: now_ms(), requests: 0, cart: BTreeMap::new() }
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
/// logs without escaping.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

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
        Ok(Name(raw.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
}
