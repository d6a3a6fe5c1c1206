//! The one abstraction both kinds of file store share, and what it speaks:
//! content types, the size limit, what a stored file is, and why a store
//! could not answer.

use std::fmt;
use std::future::Future;

use bytes::Bytes;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};

use crate::id::FileId;

/// The largest file accepted: 1 MiB. Larger uploads are refused whole
/// ([`FileError::TooLarge`]) and nothing of them is stored.
pub const MAX_BYTES: usize = 1 << 20;

/// The kinds of file accepted. Anything else is refused before it reaches a
/// store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `image/png`
    Png,
    /// `image/jpeg`
    Jpeg,
    /// `text/plain`
    Text,
    /// `application/octet-stream`
    OctetStream,
}

impl ContentType {
    /// Every accepted type.
    pub const ALL: &'static [ContentType] =
        &[ContentType::Png, ContentType::Jpeg, ContentType::Text, ContentType::OctetStream];

    /// The media type, as sent back in `Content-Type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Png => "image/png",
            ContentType::Jpeg => "image/jpeg",
            ContentType::Text => "text/plain",
            ContentType::OctetStream => "application/octet-stream",
        }
    }

    /// Reads a `Content-Type` header value: the media type, in any case,
    /// with any parameters (`text/plain; charset=utf-8` is `text/plain`).
    /// `None` for a type that is not accepted.
    pub fn parse(header: &str) -> Option<ContentType> {
        let essence = header.split(';').next().unwrap_or_default().trim();
        ContentType::ALL.iter().copied().find(|t| t.as_str().eq_ignore_ascii_case(essence))
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a store knows about a file it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    /// The id it was stored under.
    pub id: FileId,
    /// Its length in bytes.
    pub bytes: u64,
    /// The SHA-256 of its bytes, in lowercase hex (64 characters).
    pub sha256: String,
    /// The type it was uploaded as.
    pub content_type: ContentType,
}

/// A file's bytes as they arrive from the store, in chunks. An `Err` item
/// means the store failed part way; nothing follows it.
pub type ByteStream = BoxStream<'static, Result<Bytes, FileError>>;

/// Why a store could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The store did not answer in time, or failed. The detail is for logs,
    /// never for clients.
    #[error("file store unavailable: {0}")]
    Unavailable(String),
    /// The file is over [`MAX_BYTES`]; nothing was stored.
    #[error("file of {bytes} bytes is over the limit of {MAX_BYTES} bytes")]
    TooLarge {
        /// The size of the refused file.
        bytes: usize,
    },
}

/// Where uploaded files live. Implemented by the node's directory
/// ([`DirStore`](crate::DirStore)) and by an S3-compatible object store
/// ([`S3Store`](crate::S3Store)).
///
/// Every file has an owner (the user who uploaded it) and is found only by
/// its owner: asking for another owner's file answers exactly as asking for
/// an id that was never issued, so ids cannot be probed. An id the store
/// could not have issued is answered as unknown without touching the
/// backing service.
///
/// A `put` is atomic: until it has succeeded no reader can see the file,
/// and a `put` that fails leaves nothing behind that a reader could see.
///
/// `Clone` hands out a handle for one more worker thread: clones share the
/// files.
///
/// # Implementing it
///
/// A store keeps, for each owner, files by id. This one keeps them in RAM
/// (useful for nothing but this example: the crate's two stores are the
/// node's disk and an object store):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
///
/// use bytes::Bytes;
/// use files::{ByteStream, ContentType, FileError, FileId, FileStore, StoredFile};
/// use futures::StreamExt as _;
///
/// #[derive(Clone, Default)]
/// struct RamFiles(Arc<Mutex<HashMap<(String, FileId), (StoredFile, Bytes)>>>);
///
/// impl FileStore for RamFiles {
///     fn kind(&self) -> &'static str {
///         "ram"
///     }
///
///     async fn put(&self, owner: &str, content_type: ContentType, bytes: Bytes) -> Result<StoredFile, FileError> {
///         let file = StoredFile::for_upload(content_type, &bytes)?;
///         self.0.lock().unwrap().insert((owner.to_string(), file.id), (file.clone(), bytes));
///         Ok(file)
///     }
///
///     async fn get(&self, owner: &str, id: &str) -> Result<Option<(StoredFile, ByteStream)>, FileError> {
///         let Some(id) = FileId::parse(id) else { return Ok(None) };
///         let found = self.0.lock().unwrap().get(&(owner.to_string(), id)).cloned();
///         Ok(found.map(|(file, bytes)| (file, futures::stream::iter([Ok(bytes)]).boxed())))
///     }
///
///     async fn health(&self) -> Result<(), FileError> {
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = RamFiles::default();
/// let file = store.put("alice", ContentType::Text, Bytes::from_static(b"hello")).await.unwrap();
/// assert_eq!(file.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
/// let (found, mut body) = store.get("alice", &file.id.to_string()).await.unwrap().unwrap();
/// assert_eq!(found, file);
/// assert_eq!(body.next().await.unwrap().unwrap(), "hello");
/// // Another owner's file answers as an unknown id.
/// assert!(store.get("bob", &file.id.to_string()).await.unwrap().is_none());
/// # });
/// ```
pub trait FileStore: Clone + Send + Sync + 'static {
    /// What `/healthz` reports: `"dir"` or `"s3"`.
    fn kind(&self) -> &'static str;

    /// Stores `bytes` as a new file of `owner`, under a fresh id, and
    /// describes it. [`FileError::TooLarge`] over [`MAX_BYTES`], with
    /// nothing stored.
    fn put(
        &self,
        owner: &str,
        content_type: ContentType,
        bytes: Bytes,
    ) -> impl Future<Output = Result<StoredFile, FileError>> + Send;

    /// The file `id` of `owner`, described, and its bytes as a stream.
    /// `Ok(None)`: no such file for this owner (never issued, malformed, or
    /// another owner's: the three are not told apart).
    fn get(
        &self,
        owner: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<(StoredFile, ByteStream)>, FileError>> + Send;

    /// Whether the store can serve requests now.
    fn health(&self) -> impl Future<Output = Result<(), FileError>> + Send;
}

impl StoredFile {
    /// The first step of every `put`: refuses `bytes` over [`MAX_BYTES`],
    /// and describes them under a fresh id (their length and SHA-256).
    pub fn for_upload(content_type: ContentType, bytes: &[u8]) -> Result<StoredFile, FileError> {
        if bytes.len() > MAX_BYTES {
            return Err(FileError::TooLarge { bytes: bytes.len() });
        }
        Ok(StoredFile { id: FileId::generate(), bytes: bytes.len() as u64, sha256: sha256_hex(bytes), content_type })
    }
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The name under which a store files `owner`'s uploads: the SHA-256 of the
/// owner's name, in hex. Any owner name becomes a safe folder name or key
/// prefix this way (user names may be `.` or `..`), and user names do not
/// show in the store's listing.
pub(crate) fn owner_key(owner: &str) -> String {
    sha256_hex(owner.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_read_from_headers_in_any_case_with_parameters() {
        for &t in ContentType::ALL {
            assert_eq!(ContentType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ContentType::parse("Text/Plain; charset=utf-8"), Some(ContentType::Text));
        assert_eq!(ContentType::parse(" image/PNG "), Some(ContentType::Png));
        for bad in ["", "text/html", "image/png2", "image/svg+xml", "multipart/form-data; boundary=x", "text"] {
            assert_eq!(ContentType::parse(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn owner_keys_are_safe_names() {
        for owner in [".", "..", "alice", "a-b.c_d"] {
            let key = owner_key(owner);
            assert_eq!(key.len(), 64);
            assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(owner_key("alice"), owner_key("bob"));
    }
}
