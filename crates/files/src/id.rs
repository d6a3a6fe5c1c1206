//! File ids.
//!
//! An id names a file in URLs (`/files/{id}`), so it must not be guessable
//! even though the owner check stands behind it: it is a session id's 128
//! random bits from the operating system's CSPRNG, in the same 22-character
//! base64url text form, with the same strict parsing (see the `sessions`
//! crate's `id` module). Only the type is new, so that a file id and a
//! session id cannot be mixed up.

use std::fmt;

use sessions::SessionId;

/// 128 random bits naming one file.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(SessionId);

impl FileId {
    /// Length of the text form.
    pub const TEXT_LEN: usize = SessionId::TEXT_LEN;

    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> FileId {
        FileId(SessionId::generate())
    }

    /// Parses the text form; `None` for anything that [`generate`](Self::generate)
    /// could not have produced (so it is also safe as a file or key name).
    pub fn parse(text: &str) -> Option<FileId> {
        SessionId::parse(text).map(FileId)
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// Unlike a session id, a file id alone grants nothing (the owner must ask),
// so logs may show it.
impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_is_path_safe() {
        for _ in 0..1000 {
            let id = FileId::generate();
            let text = id.to_string();
            assert_eq!(text.len(), FileId::TEXT_LEN);
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(FileId::parse(&text), Some(id));
        }
    }

    #[test]
    fn what_generate_cannot_produce_is_refused() {
        let good = FileId::generate().to_string();
        for bad in ["", "..", "../../etc/passwd", &good[..21], &format!("{good}A"), &format!(".{}", &good[1..])] {
            assert_eq!(FileId::parse(bad), None, "{bad:?} accepted");
        }
    }
}
