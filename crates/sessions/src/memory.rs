//! Sessions in this process's RAM.
//!
//! A sharded hash map from the 128-bit id to the session and its deadline.
//! Each shard has its own lock, so requests of different users rarely wait
//! for each other, and a change is applied in place under the lock, which
//! makes it atomic. Ids are random and generated here, so their low bits are
//! already a good hash: no hashing work is spent on a lookup.
//!
//! Expired sessions are dropped when they are next looked up, and a sweeper
//! thread removes the ones nobody asks for again, so memory follows the
//! number of live sessions, not the number ever created.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::id::SessionId;
use crate::session::{Name, Session};
use crate::store::{Change, SessionStore, StoreError, Updated};

const SHARDS: usize = 64;

/// The RAM store. Clones share the sessions.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<Shard>>,
    ttl: Duration,
}

type Shard = HashMap<u128, Entry, BuildHasherDefault<IdHasher>>;

struct Entry {
    session: Session,
    expires_at: Instant,
}

impl MemoryStore {
    /// A store whose sessions expire after `ttl` without a request. Starts a
    /// sweeper thread that ends when the last clone is dropped.
    pub fn new(ttl: Duration) -> MemoryStore {
        let inner = Arc::new(Inner { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(), ttl });
        let weak = Arc::downgrade(&inner);
        // Sweep often enough that an expired session lingers at most about a
        // quarter of its TTL, and rarely enough to cost nothing.
        let every = (ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        std::thread::Builder::new()
            .name("session-sweeper".into())
            .spawn(move || sweep_until_dropped(&weak, every))
            .expect("cannot start the session sweeper thread");
        MemoryStore { inner }
    }

    /// Live sessions held now (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired session now; returns how many were removed.
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    fn shard(&self, id: SessionId) -> MutexGuard<'_, Shard> {
        // High bits pick the shard, low bits the bucket inside it.
        lock(&self.inner.shards[(id.bits() >> 122) as usize % SHARDS])
    }

    /// The synchronous core of [`SessionStore::update`], for benchmarks that
    /// want the lookup without an executor around it.
    pub fn update_now(&self, credential: &str, change: &Change) -> Option<Session> {
        let id = SessionId::parse(credential)?;
        let now = Instant::now();
        let mut shard = self.shard(id);
        let entry = shard.get_mut(&id.bits())?;
        if entry.expires_at <= now {
            shard.remove(&id.bits());
            return None;
        }
        entry.expires_at = now + self.inner.ttl;
        entry.session.apply(change);
        Some(entry.session.clone())
    }

    fn create_now(&self, user: &Name, replacing: Option<&str>) -> (String, Session) {
        if let Some(old) = replacing {
            self.destroy_now(old);
        }
        let id = SessionId::generate();
        let session = Session::new(user);
        let entry = Entry { session: session.clone(), expires_at: Instant::now() + self.inner.ttl };
        self.shard(id).insert(id.bits(), entry);
        (id.to_string(), session)
    }

    fn destroy_now(&self, credential: &str) {
        if let Some(id) = SessionId::parse(credential) {
            self.shard(id).remove(&id.bits());
        }
    }
}

impl Inner {
    fn sweep(&self) -> usize {
        let mut removed = 0;
        for shard in &self.shards {
            let now = Instant::now();
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, entry| entry.expires_at > now);
            removed += before - shard.len();
            // A map keeps its capacity after a spike; give memory back once
            // it is mostly empty.
            if shard.capacity() > 1024 && shard.len() < shard.capacity() / 4 {
                shard.shrink_to_fit();
            }
        }
        removed
    }
}

fn sweep_until_dropped(inner: &Weak<Inner>, every: Duration) {
    loop {
        std::thread::sleep(every);
        match inner.upgrade() {
            Some(inner) => {
                inner.sweep();
            }
            None => return,
        }
    }
}

/// A poisoned lock means a panic while a session was being changed; the map
/// itself is still sound, so keep serving instead of failing every request.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Uses the id's own (random) low bits as its hash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than u128, which this map has none of.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

impl SessionStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn create(&self, user: &Name, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        Ok(self.create_now(user, replacing))
    }

    async fn update(&self, credential: &str, change: Change) -> Result<Option<Updated>, StoreError> {
        Ok(self.update_now(credential, &change).map(|session| Updated { session, reissued: None }))
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        self.destroy_now(credential);
        Ok(())
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
