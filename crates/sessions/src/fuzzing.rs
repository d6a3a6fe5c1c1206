//! What the fuzz targets (`fuzz/` at the workspace root) reach that the
//! crate does not export: the RESP reader of the Redis store's connection.
//! Compiled only with the `fuzzing` feature; not an API. Errors come back
//! as their text, so the targets do not depend on the error types.

use crate::resp;
pub use crate::resp::Reply;

/// The length of the first whole reply in `buf`, `None` while it has not
/// all arrived: how the connection's reader splits what Redis sent.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, String> {
    resp::reply_len(buf).map_err(|error| error.to_string())
}

/// Reads replies in order, in place, as the store does.
pub struct Replies<'a>(resp::Replies<'a>);

impl<'a> Replies<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Replies<'a> {
        Replies(resp::Replies::new(bytes))
    }

    /// The next reply; an error reply is an `Err`.
    pub fn next_reply(&mut self) -> Result<Reply<'a>, String> {
        self.0.next().map_err(|error| error.to_string())
    }

    /// Skips the next `n` replies, the items of arrays included.
    pub fn skip(&mut self, n: usize) -> Result<(), String> {
        self.0.skip(n).map_err(|error| error.to_string())
    }
}
