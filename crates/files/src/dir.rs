//! The node's own directory: what `stateful-server` uses.
//!
//! Each file is one file on the node's disk, `ROOT/OWNER/ID`, where `OWNER`
//! is the SHA-256 of the owner's name (any user name becomes a safe folder
//! name) and `ID` the file id's text form. The first line of the file holds
//! what the store knows about it, `CONTENT-TYPE SHA256`, and the uploaded
//! bytes follow: one file, so the description and the bytes appear
//! together or not at all.
//!
//! A `put` writes a temporary file in the owner's folder and renames it to
//! its id once every byte is written: a rename within one folder is atomic,
//! so a reader finds the whole file or none. A temporary file left by a
//! crash has a name no id can have, so it is never served. (Nothing is
//! flushed to the disk with `fsync`: the files die with the node anyway,
//! which is the point of this store.)
//!
//! Reads stream the file from disk in chunks rather than loading it whole.
//!
//! [`DirStore::temporary`] gives each node a fresh folder, removed when the
//! node exits cleanly: a restarted node does not find its files again, as a
//! replaced machine or container would not.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio_util::io::ReaderStream;

use crate::id::FileId;
use crate::store::{ByteStream, ContentType, FileError, FileStore, StoredFile, owner_key};

/// The longest first line a stored file can have: a content type, a space,
/// 64 hex digits and a newline.
const HEADER_MAX: u64 = 128;

/// Files in a directory of this node's disk.
#[derive(Clone, Debug)]
pub struct DirStore {
    root: Arc<PathBuf>,
    /// The fresh folder of [`temporary`](Self::temporary), removed when the
    /// last handle is dropped.
    _temporary: Option<Arc<tempfile::TempDir>>,
}

impl DirStore {
    /// Keeps files under `root` (`--files-dir`), creating it if needed.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<DirStore> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(DirStore { root: Arc::new(root), _temporary: None })
    }

    /// Keeps files in a fresh temporary folder, removed when the last handle
    /// is dropped (the default when no `--files-dir` is given).
    pub fn temporary() -> io::Result<DirStore> {
        let dir = tempfile::Builder::new().prefix("node-files-").tempdir()?;
        Ok(DirStore { root: Arc::new(dir.path().to_path_buf()), _temporary: Some(Arc::new(dir)) })
    }

    /// The folder that holds the files.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, owner: &str, id: FileId) -> PathBuf {
        self.root.join(owner_key(owner)).join(id.to_string())
    }
}

impl FileStore for DirStore {
    fn kind(&self) -> &'static str {
        "dir"
    }

    async fn put(&self, owner: &str, content_type: ContentType, bytes: Bytes) -> Result<StoredFile, FileError> {
        let file = StoredFile::for_upload(content_type, &bytes)?;
        let path = self.path_of(owner, file.id);
        let header = format!("{} {}\n", file.content_type, file.sha256);
        // std's file API on the blocking pool (as tokio::fs does): tempfile
        // names the temporary file, removes it on failure, and renames it.
        let written = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let dir = path.parent().ok_or_else(|| io::Error::other("file path has no folder"))?;
            std::fs::create_dir_all(dir)?;
            let mut partial = tempfile::Builder::new().prefix(".partial-").tempfile_in(dir)?;
            partial.write_all(header.as_bytes())?;
            partial.write_all(&bytes)?;
            partial.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(file),
            Ok(Err(e)) => Err(FileError::Unavailable(format!("writing a file: {e}"))),
            Err(e) => Err(FileError::Unavailable(format!("file writer: {e}"))),
        }
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<(StoredFile, ByteStream)>, FileError> {
        let Some(id) = FileId::parse(id) else {
            return Ok(None);
        };
        let opened = match tokio::fs::File::open(self.path_of(owner, id)).await {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FileError::Unavailable(format!("opening a file: {e}"))),
        };
        let unavailable = |e: io::Error| FileError::Unavailable(format!("reading a file: {e}"));
        let len = opened.metadata().await.map_err(unavailable)?.len();
        let mut reader = BufReader::new(opened);
        let mut header = Vec::new();
        (&mut reader).take(HEADER_MAX).read_until(b'\n', &mut header).await.map_err(unavailable)?;
        let (content_type, sha256) =
            parse_header(&header).ok_or_else(|| FileError::Unavailable(format!("file {id} has no valid header")))?;
        let file = StoredFile { id, bytes: len - header.len() as u64, sha256, content_type };
        let body = ReaderStream::new(reader).map_err(unavailable).boxed();
        Ok(Some((file, body)))
    }

    async fn health(&self) -> Result<(), FileError> {
        match tokio::fs::metadata(self.root.as_path()).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(FileError::Unavailable("the files folder is not a folder".into())),
            Err(e) => Err(FileError::Unavailable(format!("the files folder: {e}"))),
        }
    }
}

/// Reads `CONTENT-TYPE SHA256\n`.
fn parse_header(line: &[u8]) -> Option<(ContentType, String)> {
    let line = std::str::from_utf8(line).ok()?.strip_suffix('\n')?;
    let (content_type, sha256) = line.split_once(' ')?;
    let valid_digest = sha256.len() == 64 && sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    Some((ContentType::parse(content_type)?, sha256.to_string())).filter(|_| valid_digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_is_one_file_on_disk_with_its_description_first() {
        let store = DirStore::temporary().unwrap();
        let file = store.put("..", ContentType::Png, Bytes::from_static(b"\x89PNG")).await.unwrap();
        let on_disk = std::fs::read(store.path_of("..", file.id)).unwrap();
        assert_eq!(on_disk, [format!("image/png {}\n", file.sha256).as_bytes(), b"\x89PNG"].concat());
        // The owner's folder is inside the root, whatever the owner's name.
        assert!(store.path_of("..", file.id).starts_with(store.root()));
        let names: Vec<_> = std::fs::read_dir(store.path_of("..", file.id).parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [file.id.to_string()], "a temporary file was left behind");
    }

    #[tokio::test]
    async fn a_temporary_folder_is_removed_with_its_last_handle() {
        let store = DirStore::temporary().unwrap();
        let root = store.root().to_path_buf();
        let clone = store.clone();
        drop(store);
        assert!(root.is_dir());
        drop(clone);
        assert!(!root.exists());
    }

    #[test]
    fn headers_that_a_put_cannot_write_are_refused() {
        let digest = "a".repeat(64);
        assert!(parse_header(format!("text/plain {digest}\n").as_bytes()).is_some());
        for bad in [
            format!("text/plain {digest}"),
            format!("text/html {digest}\n"),
            format!("text/plain {}\n", &digest[1..]),
            format!("text/plain {}\n", "A".repeat(64)),
            "\n".to_string(),
        ] {
            assert!(parse_header(bad.as_bytes()).is_none(), "{bad:?} accepted");
        }
    }
}
