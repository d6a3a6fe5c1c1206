//! Session ids.
//!
//! An id is the only thing a client shows to prove who it is, so it must be
//! unguessable: 128 bits from the operating system's CSPRNG (a UUIDv4 has
//! only 122 random bits), written as 22 characters of base64url without
//! padding. Parsing is strict (exact length, canonical encoding), so the
//! Redis and token stores refuse a malformed cookie before they ask Redis or
//! check a signature. (The RAM store skips the decoding: it keys its map by
//! the cookie's bytes, which a malformed cookie cannot match; see
//! `memory.rs`.)
//!
//! The text form is decoded with a lookup table, four digits at a time,
//! rather than with a general base64 decoder, which cost more than twice as
//! much (`ram_lookup_parts/parse_credential` in `benches/session_lookup.rs`).
//! The tests check it against the `base64` crate.

use std::fmt;

use sha2::{Digest, Sha256};

/// Characters in a session's handle ([`handle`]).
pub const HANDLE_LEN: usize = 16;

/// A session's handle: the first 64 bits of the SHA-256 of `secret` (what
/// names the session: its id), in lowercase hex. It tells sessions apart in
/// `GET /sessions` and in logs, and cannot be turned back into the secret,
/// so showing it to the user (or anyone) gives nothing away.
pub fn handle(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest[..HANDLE_LEN / 2].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The base64url alphabet, in digit order.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Marks a byte outside the alphabet in [`DIGITS`].
const NOT_A_DIGIT: u8 = 0x80;
/// Each byte's digit value, or [`NOT_A_DIGIT`].
const DIGITS: [u8; 256] = {
    let mut table = [NOT_A_DIGIT; 256];
    let mut digit = 0;
    while digit < 64 {
        table[ALPHABET[digit] as usize] = digit as u8;
        digit += 1;
    }
    table
};

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
        let text: &[u8; Self::TEXT_LEN] = text.as_bytes().try_into().ok()?;
        if text.iter().fold(0, |seen, &byte| seen | DIGITS[usize::from(byte)]) & NOT_A_DIGIT != 0 {
            return None;
        }
        // 22 digits carry 132 bits, most significant first: the id's 128
        // bits (its little-endian bytes, read as one big-endian number),
        // then 4 bits that must be zero, so each id has one text form. They
        // are read as five groups of four digits (24 bits each, as base64
        // decoders do) and a last pair, each group on its own: one running
        // total over 22 digits would make every step wait for the last.
        let digit = |i: usize| u64::from(DIGITS[usize::from(text[i])]);
        let group = |i: usize| digit(i) << 18 | digit(i + 1) << 12 | digit(i + 2) << 6 | digit(i + 3);
        let last = digit(20) << 6 | digit(21);
        if last & 0x0F != 0 {
            return None;
        }
        // The 132 bits are the five groups, then the pair; the spare 4 bits
        // go. The high half takes 64 of the groups' 120 bits. (Named one by
        // one: `[0, 4, 8, 12, 16].map(group)` measured slower.)
        let (g0, g1, g2, g3, g4) = (group(0), group(4), group(8), group(12), group(16));
        let high = g0 << 40 | g1 << 16 | g2 >> 8;
        let low = (g2 & 0xFF) << 56 | g3 << 32 | g4 << 8 | last >> 4;
        Some(SessionId((u128::from(high) << 64 | u128::from(low)).swap_bytes()))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The inverse of `parse`: the bytes as one big-endian number, four
        // zero bits appended, six bits per digit.
        let bits = self.0.swap_bytes();
        let mut text = [0u8; Self::TEXT_LEN];
        for (i, digit) in text.iter_mut().enumerate() {
            // Where this digit's six bits end, counted from the bottom of
            // the 132-bit number.
            let end = 6 * (Self::TEXT_LEN - 1 - i) as u32;
            let six = if end >= 4 { bits >> (end - 4) } else { bits << (4 - end) };
            *digit = ALPHABET[(six & 0x3F) as usize];
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
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
    fn the_text_form_is_standard_base64url() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for _ in 0..1000 {
            let id = SessionId::generate();
            assert_eq!(id.to_string(), URL_SAFE_NO_PAD.encode(id.0.to_le_bytes()));
        }
        for edge in [0, u128::MAX, 1, 1 << 127, 0x0123_4567_89AB_CDEF_FEDC_BA98_7654_3210] {
            let text = URL_SAFE_NO_PAD.encode(u128::to_le_bytes(edge));
            assert_eq!(SessionId::parse(&text), Some(SessionId(edge)), "{text}");
            assert_eq!(SessionId(edge).to_string(), text);
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
        let mut not_ascii = good.clone();
        not_ascii.replace_range(..2, "é");
        for bad in [
            "",
            "abc",
            &good[..21],
            &format!("{good}A"),
            &wrong_char,
            non_canonical,
            &not_ascii,
            "=AAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad:?} accepted");
        }
    }
}
