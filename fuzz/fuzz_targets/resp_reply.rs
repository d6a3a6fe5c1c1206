//! The Redis store's RESP reader, on any bytes a server could send.
//!
//! Properties, beyond "no panic, no hang":
//! - `reply_len` agrees with the reference parser below wherever both
//!   accept the input: the same length for a whole reply, "not yet" for a
//!   truncated one. (The reference is stricter: it also checks the CRLF
//!   after a bulk string and the digits of an integer, which `reply_len`
//!   leaves to the reader; inputs only one of them accepts are not compared.)
//! - A reply's length does not depend on what follows it, and every strict
//!   prefix of a whole reply is "not yet", never an error or a shorter reply.
//! - Reading a reply whose length `reply_len` gave (`Replies::next_reply`,
//!   `Replies::skip`) never reads past its end: a sentinel reply appended
//!   after it is what comes next. Where the reference holds no error reply,
//!   the reader succeeds and sees the same values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions::fuzzing::{Replies, Reply, reply_len};

/// A reply, as the reference parser reads it.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

impl Value {
    fn has_error(&self) -> bool {
        match self {
            Value::Error(_) => true,
            Value::Array(Some(items)) => items.iter().any(Value::has_error),
            _ => false,
        }
    }
}

#[derive(Debug)]
enum Parsed {
    /// A whole reply and its length in bytes.
    Whole(Value, usize),
    /// Valid so far, more bytes needed.
    Truncated,
    Invalid,
}

/// RESP2 read by the letter of the protocol, with an explicit stack rather
/// than recursion (any depth), and no shortcut.
fn reference(buf: &[u8]) -> Parsed {
    // Arrays being filled: the items so far and how many are expected.
    let mut open: Vec<(Vec<Value>, usize)> = Vec::new();
    let mut at = 0;
    loop {
        let Some(lf) = buf[at..].iter().position(|&b| b == b'\n').map(|i| at + i) else {
            return Parsed::Truncated;
        };
        if lf < at + 2 || buf[lf - 1] != b'\r' {
            return Parsed::Invalid;
        }
        let (kind, line) = (buf[at], &buf[at + 1..lf - 1]);
        at = lf + 1;
        let value = match kind {
            b'+' => Value::Status(line.to_vec()),
            b'-' => Value::Error(line.to_vec()),
            b':' => match integer(line) {
                Some(n) => Value::Integer(n),
                None => return Parsed::Invalid,
            },
            b'$' => match integer(line) {
                Some(-1) => Value::Bulk(None),
                Some(len) if len >= 0 => {
                    let len = len as usize;
                    if buf.len() - at < len.saturating_add(2) {
                        // Whatever has arrived must still be able to end well.
                        let tail = &buf[at.saturating_add(len).min(buf.len())..];
                        return if b"\r\n".starts_with(tail) { Parsed::Truncated } else { Parsed::Invalid };
                    }
                    if &buf[at + len..at + len + 2] != b"\r\n" {
                        return Parsed::Invalid;
                    }
                    let body = buf[at..at + len].to_vec();
                    at += len + 2;
                    Value::Bulk(Some(body))
                }
                _ => return Parsed::Invalid,
            },
            b'*' => match integer(line) {
                Some(-1) => Value::Array(None),
                Some(0) => Value::Array(Some(Vec::new())),
                Some(n) if n > 0 => {
                    open.push((Vec::new(), n as usize));
                    continue;
                }
                _ => return Parsed::Invalid,
            },
            _ => return Parsed::Invalid,
        };
        if let Some(whole) = place(&mut open, value) {
            return Parsed::Whole(whole, at);
        }
    }
}

/// Puts `value` in the innermost open array, closing every array it
/// completes; the whole reply once the outermost is complete.
fn place(open: &mut Vec<(Vec<Value>, usize)>, mut value: Value) -> Option<Value> {
    loop {
        let Some((items, expected)) = open.last_mut() else {
            return Some(value);
        };
        items.push(value);
        if items.len() < *expected {
            return None;
        }
        let (items, _) = open.pop().unwrap();
        value = Value::Array(Some(items));
    }
}

/// `-?[0-9]+` that fits an i64.
fn integer(digits: &[u8]) -> Option<i64> {
    let unsigned = digits.strip_prefix(b"-").unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Reads one whole reply, array items included, with the store's reader.
fn read_one(replies: &mut Replies<'_>) -> Result<Value, String> {
    // The same explicit stack as the reference.
    let mut open: Vec<(Vec<Value>, usize)> = Vec::new();
    loop {
        let value = match replies.next_reply()? {
            Reply::Status(line) => Value::Status(line.to_vec()),
            Reply::Integer(n) => Value::Integer(n),
            Reply::Bulk(body) => Value::Bulk(body.map(<[u8]>::to_vec)),
            Reply::Array(None) => Value::Array(None),
            Reply::Array(Some(0)) => Value::Array(Some(Vec::new())),
            Reply::Array(Some(n)) => {
                open.push((Vec::new(), n));
                continue;
            }
        };
        if let Some(whole) = place(&mut open, value) {
            return Ok(whole);
        }
    }
}

const SENTINEL: &[u8] = b"+END\r\n";

fuzz_target!(|data: &[u8]| {
    let found = reply_len(data);
    let expected = reference(data);
    match (&found, &expected) {
        (Ok(Some(len)), Parsed::Whole(_, whole)) => assert_eq!(len, whole, "lengths differ"),
        (Ok(Some(len)), Parsed::Truncated) => panic!("a whole reply of {len} bytes where bytes are missing"),
        (Ok(None), Parsed::Whole(_, whole)) => panic!("still waiting after a whole reply of {whole} bytes"),
        _ => {}
    }

    if let Ok(Some(len)) = found {
        assert!(len > 0 && len <= data.len(), "length {len} of {} bytes", data.len());
        let reply = &data[..len];
        assert_eq!(reply_len(reply), Ok(Some(len)), "the length depends on the bytes after the reply");
        // Every strict prefix: all of them for short replies, a spread of them for long ones.
        let step = (len / 64).max(1);
        for cut in (0..len).step_by(step).chain([len - 1]) {
            assert_eq!(reply_len(&data[..cut]), Ok(None), "prefix of {cut} of {len} bytes");
        }

        let mut framed = reply.to_vec();
        framed.extend_from_slice(SENTINEL);
        let mut replies = Replies::new(&framed);
        let read = read_one(&mut replies);
        if read.is_ok() {
            assert_eq!(replies.next_reply(), Ok(Reply::Status(b"END")), "read past the reply's end");
        }
        let mut skipped = Replies::new(&framed);
        if skipped.skip(1).is_ok() {
            assert_eq!(skipped.next_reply(), Ok(Reply::Status(b"END")), "skipped past the reply's end");
        }
        if let Parsed::Whole(value, _) = &expected
            && !value.has_error()
        {
            assert_eq!(read.as_ref(), Ok(value), "the reader and the reference disagree");
            assert!(Replies::new(&framed).skip(1).is_ok(), "skip refused a reply the reader accepts");
        }
    }

    // The reader alone, on the raw bytes: it ends, one way or the other.
    let mut replies = Replies::new(data);
    for _ in 0..64 {
        if replies.next_reply().is_err() {
            break;
        }
    }
});
