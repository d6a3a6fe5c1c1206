//! Session ids.
//!
//! An id is the only thing a client shows to prove who it is, so it must be
//! unguessable: 128 bits from the operating system's CSPRNG (a UUIDv4 has
//! only 122 random bits), written as 22 characters of base64url without
//! padding. Parsing is strict (exact length, canonical encoding), so a
//! malformed cookie is refused before any store is asked about it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 128 random bits naming one session.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u128);

impl SessionId {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 22;

    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> SessionId {
        let mut bytes = [0u8; 16];
        // The OS random source failing is not something a server can recover
        // from sensibly, and serving guessable ids would be worse.
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        SessionId(u128::from_le_bytes(bytes))
    }

    /// Parses the text form; `None` for anything that [`generate`](Self::generate)
    /// could not have produced.
    pub fn parse(text: &str) -> Option<SessionId> {
        if text.len() != Self::TEXT_LEN {
            return None;
        }
        let mut bytes = [0u8; 16];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(16) => Some(SessionId(u128::from_le_bytes(bytes))),
            _ => None,
        }
    }

    /// The 128 bits, as the RAM store's key.
    pub(crate) fn bits(self) -> u128 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0.to_le_bytes()))
    }
}

// Ids are credentials: keep them out of Debug output (and so out of logs).
impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_uses_the_cookie_safe_alphabet() {
        for _ in 0..1000 {
            let id = SessionId::generate();
            let text = id.to_string();
            assert_eq!(text.len(), SessionId::TEXT_LEN);
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(SessionId::parse(&text), Some(id));
        }
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| SessionId::generate()).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn malformed_text_is_refused() {
        let good = SessionId::generate().to_string();
        let mut wrong_char = good.clone();
        wrong_char.replace_range(0..1, "+");
        // 22 characters carry 132 bits; the 4 spare bits must be zero, so
        // each id has exactly one text form.
        let non_canonical = "AAAAAAAAAAAAAAAAAAAAAB";
        for bad in ["", "abc", &good[..21], &format!("{good}A"), &wrong_char, non_canonical] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?} accepted");
        }
    }
}
