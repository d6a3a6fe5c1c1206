//! One behaviour suite, run against both file stores: whatever a user can
//! rely on must hold wherever the file lives. Each case is written once as a
//! generic function; `suite!` runs it against a [`DirStore`] in a temporary
//! folder and against an [`S3Store`] backed by a private S3 server
//! (`local-s3`). Where the two differ by design (whether a second node sees
//! a file), the subject says which answer to expect.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use files::{
    ContentType, DirStore, FileError, FileId, FileStore, MAX_BYTES, S3Settings, S3Store, StoredFile, sha256_hex,
};
use futures::TryStreamExt as _;
use futures::future::join_all;
use local_s3::S3Server;

/// How long any one call may take before the suite calls it a hang. The
/// S3 store's own deadline is a second; this only catches a call that
/// never returns.
const HANG: Duration = Duration::from_secs(10);

/// A store under test, a second node's handle, and the backend behind them.
struct Subject<S> {
    store: S,
    /// What another node would use: for the object store, another client
    /// of the same bucket; for the disk, another node's disk.
    other_node: S,
    /// Whether the other node sees this node's files.
    shared: bool,
    backend: Backend,
}

/// What holds the files, so a case can count them and take it away.
enum Backend {
    Dir { root: PathBuf },
    S3(S3Server),
}

/// A way the backend goes away.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// The node's files folder is replaced by a plain file (a failed or
    /// unmounted disk), then put back.
    DiskGone,
    /// The object store crashes (SIGKILL), then starts again with its data.
    Killed,
    /// The object store hangs (SIGSTOP): it accepts connections and answers
    /// nothing. Then it goes on (SIGCONT).
    Frozen,
}

fn dir() -> Subject<DirStore> {
    let store = DirStore::temporary().unwrap();
    let root = store.root().to_path_buf();
    Subject { store, other_node: DirStore::temporary().unwrap(), shared: false, backend: Backend::Dir { root } }
}

fn s3() -> Subject<S3Store> {
    let server = S3Server::start().expect("start the S3 server");
    let settings = S3Settings::from_url(&server.url()).unwrap();
    Subject {
        store: S3Store::new(&settings).unwrap(),
        other_node: S3Store::new(&settings).unwrap(),
        shared: true,
        backend: Backend::S3(server),
    }
}

impl Backend {
    fn outages(&self) -> &'static [Outage] {
        match self {
            Backend::Dir { .. } => &[Outage::DiskGone],
            Backend::S3(_) => &[Outage::Killed, Outage::Frozen],
        }
    }

    fn take_away(&mut self, outage: Outage) {
        match (self, outage) {
            (Backend::Dir { root }, Outage::DiskGone) => {
                std::fs::rename(&*root, away(root)).unwrap();
                std::fs::write(&*root, b"not a folder").unwrap();
            }
            (Backend::S3(server), Outage::Killed) => server.kill(),
            (Backend::S3(server), Outage::Frozen) => server.freeze(),
            (_, outage) => panic!("{outage:?} does not apply"),
        }
    }

    fn bring_back(&mut self, outage: Outage) {
        match (self, outage) {
            (Backend::Dir { root }, Outage::DiskGone) => {
                std::fs::remove_file(&*root).unwrap();
                std::fs::rename(away(root), &*root).unwrap();
            }
            (Backend::S3(server), Outage::Killed) => server.start_again().unwrap(),
            (Backend::S3(server), Outage::Frozen) => server.thaw(),
            (_, outage) => panic!("{outage:?} does not apply"),
        }
    }

    /// Every file the backend holds, temporary ones included.
    fn file_count(&self) -> usize {
        match self {
            Backend::Dir { root } => count_files(root),
            Backend::S3(server) => count_files(&server.bucket_dir()),
        }
    }
}

fn away(root: &Path) -> PathBuf {
    root.with_extension("away")
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().map(|entry| if entry.path().is_dir() { count_files(&entry.path()) } else { 1 }).sum()
        })
        .unwrap_or(0)
}

/// `len` bytes that differ from one position to the next (and from one
/// call to the next), so a chunk out of place or missing shows.
fn sample(len: usize) -> Bytes {
    let seed = FileId::generate().to_string();
    let seed = seed.as_bytes();
    (0..len).map(|i| seed[i % seed.len()].wrapping_add((i / seed.len()) as u8)).collect::<Vec<_>>().into()
}

/// Runs `call`, failing the test if it does not return within [`HANG`].
async fn bounded<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, call).await.expect("a file store call hung")
}

/// Reads `owner`'s file `id` whole, or `None`.
async fn read<S: FileStore>(store: &S, owner: &str, id: &FileId) -> Option<(StoredFile, Vec<u8>)> {
    let (file, body) = bounded(store.get(owner, &id.to_string())).await.unwrap()?;
    let chunks: Vec<Bytes> = bounded(body.try_collect()).await.unwrap();
    Some((file, chunks.concat()))
}

async fn a_file_reads_back_byte_for_byte_with_its_digest_and_type<S: FileStore>(s: Subject<S>) {
    // Large enough to arrive in several chunks; the limit itself; empty.
    for (len, content_type) in
        [(300_000, ContentType::Png), (MAX_BYTES, ContentType::OctetStream), (0, ContentType::Text)]
    {
        let bytes = sample(len);
        let stored = bounded(s.store.put("alice", content_type, bytes.clone())).await.unwrap();
        assert_eq!(stored.bytes, len as u64);
        assert_eq!(stored.sha256, sha256_hex(&bytes));
        assert_eq!(stored.content_type, content_type);
        let (found, read_back) = read(&s.store, "alice", &stored.id).await.expect("the file just stored");
        assert_eq!(found, stored);
        assert!(read_back == bytes, "the bytes read back differ from the bytes stored ({len} bytes)");
    }
}

async fn another_nodes_handle_sees_the_file_only_in_a_shared_store<S: FileStore>(s: Subject<S>) {
    let bytes = sample(10_000);
    let stored = bounded(s.store.put("alice", ContentType::Jpeg, bytes.clone())).await.unwrap();
    // Clones are one node's workers: they always share.
    let (_, same_node) = read(&s.store.clone(), "alice", &stored.id).await.expect("a clone sees the file");
    assert!(same_node == bytes);
    match read(&s.other_node, "alice", &stored.id).await {
        Some((found, other_node)) => {
            assert!(s.shared, "another node's disk holds this node's file");
            assert_eq!(found, stored);
            assert!(other_node == bytes, "another node read different bytes");
        }
        None => assert!(!s.shared, "another node cannot read a file of the shared store"),
    }
    // And the other way round.
    let theirs = bounded(s.other_node.put("alice", ContentType::Text, sample(10))).await.unwrap();
    assert_eq!(read(&s.store, "alice", &theirs.id).await.is_some(), s.shared);
}

async fn another_owners_file_answers_as_an_unknown_id<S: FileStore>(s: Subject<S>) {
    let stored = bounded(s.store.put("alice", ContentType::Png, sample(100))).await.unwrap();
    assert!(read(&s.store, "bob", &stored.id).await.is_none(), "bob read alice's file");
    assert!(read(&s.store, "alice", &FileId::generate()).await.is_none());
    // Malformed ids, including ones that try to leave the owner's folder.
    let owner_dir_of_alice = files::sha256_hex(b"alice");
    for bad in ["", "..", "../x", &format!("../{owner_dir_of_alice}/{}", stored.id), &stored.id.to_string()[1..]] {
        assert!(bounded(s.store.get("bob", bad)).await.unwrap().is_none(), "{bad:?} found a file");
    }
    // Owner names that look like paths are only names.
    for owner in [".", ".."] {
        let theirs = bounded(s.store.put(owner, ContentType::Text, sample(10))).await.unwrap();
        assert!(read(&s.store, owner, &theirs.id).await.is_some());
        assert!(read(&s.store, "alice", &theirs.id).await.is_none());
    }
    assert!(read(&s.store, "alice", &stored.id).await.is_some());
}

async fn a_file_over_the_limit_is_refused_and_leaves_nothing<S: FileStore>(s: Subject<S>) {
    let before = s.backend.file_count();
    let refused = bounded(s.store.put("alice", ContentType::OctetStream, sample(MAX_BYTES + 1))).await;
    assert!(matches!(refused, Err(FileError::TooLarge { bytes }) if bytes == MAX_BYTES + 1), "{refused:?}");
    assert_eq!(s.backend.file_count(), before, "a refused file left something in the store");
}

async fn concurrent_uploads_each_get_their_own_file<S: FileStore>(s: Subject<S>) {
    let uploads: Vec<Bytes> = (0..16).map(|i| sample(1000 + i)).collect();
    let stored = join_all(uploads.iter().map(|bytes| {
        let store = s.store.clone();
        let bytes = bytes.clone();
        async move { bounded(store.put("alice", ContentType::OctetStream, bytes)).await.unwrap() }
    }))
    .await;
    for (file, bytes) in stored.iter().zip(&uploads) {
        let (_, read_back) = read(&s.store, "alice", &file.id).await.expect("an uploaded file");
        assert!(read_back == *bytes);
    }
    assert_eq!(s.backend.file_count(), uploads.len(), "each upload is exactly one file in the store");
}

async fn an_outage_answers_unavailable_without_hanging_then_the_store_works_again<S: FileStore>(mut s: Subject<S>) {
    bounded(s.store.health()).await.expect("healthy at start");
    let kept = bounded(s.store.put("alice", ContentType::Png, sample(5000))).await.unwrap();
    for &outage in s.backend.outages() {
        let before = s.backend.file_count();
        s.backend.take_away(outage);
        let put = bounded(s.store.put("alice", ContentType::Text, sample(100))).await;
        assert!(matches!(put, Err(FileError::Unavailable(_))), "{outage:?}: put gave {put:?}");
        let get = bounded(s.store.get("alice", &kept.id.to_string())).await;
        assert!(matches!(get, Err(FileError::Unavailable(_))), "{outage:?}: get did not say unavailable");
        let health = bounded(s.store.health()).await;
        assert!(matches!(health, Err(FileError::Unavailable(_))), "{outage:?}: health gave {health:?}");
        s.backend.bring_back(outage);
        // Back without restarting the node: the next calls go through (a
        // pooled connection to the old process may fail once first).
        let deadline = Instant::now() + HANG;
        let after = loop {
            match bounded(s.store.put("alice", ContentType::Text, sample(100))).await {
                Ok(file) => break file,
                Err(e) => assert!(Instant::now() < deadline, "{outage:?}: the store did not come back: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        bounded(s.store.health()).await.expect("healthy again");
        let (found, _) = read(&s.store, "alice", &kept.id).await.expect("a file from before the outage");
        assert_eq!(found, kept);
        assert!(read(&s.store, "alice", &after.id).await.is_some());
        if matches!(outage, Outage::DiskGone | Outage::Killed) {
            // The put that failed left nothing; only the new one is there.
            assert_eq!(s.backend.file_count(), before + 1, "{outage:?}: a failed put left something behind");
        }
    }
}

macro_rules! cases {
    ($module:ident, $subject:ident: $($case:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($subject()).await
                }
            )*
        }
    };
}

/// The whole suite, against both stores.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        cases!(dir_store, dir: $($case),*);
        cases!(s3_store, s3: $($case),*);
    };
}

suite!(
    a_file_reads_back_byte_for_byte_with_its_digest_and_type,
    another_nodes_handle_sees_the_file_only_in_a_shared_store,
    another_owners_file_answers_as_an_unknown_id,
    a_file_over_the_limit_is_refused_and_leaves_nothing,
    concurrent_uploads_each_get_their_own_file,
    an_outage_answers_unavailable_without_hanging_then_the_store_works_again,
);
