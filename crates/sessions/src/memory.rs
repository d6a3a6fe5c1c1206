//! Sessions in this process's RAM.
//!
//! A sharded hash map from the session's cookie text to the session and its
//! deadline. Each shard has its own lock, so requests of different users
//! rarely wait for each other, and a change is applied in place under the
//! lock, which makes it atomic.
//!
//! The key is the cookie's 22 bytes as they arrive, not the 128 bits they
//! encode: decoding and checking the text took a third of a lookup
//! (`ram_lookup_parts/parse_credential` in `benches/session_lookup.rs`), and
//! the map does not need it. Text that is not an id the store made cannot
//! equal one of its keys, so it misses like any unknown id. Ids are random
//! and made here, so one multiply of the key's first eight bytes is hash
//! enough; nobody outside can add keys to skew the table.
//!
//! An entry is kept compact, since a node may hold millions: the creation
//! time, the user name and the cart packed into one small allocation (a
//! `String` per name and a `BTreeMap` node per cart would cost several
//! times the data), the deadline as nanoseconds on the store's clock (8
//! bytes instead of an `Instant`'s 16). With its key an entry fills 56 bytes
//! of the table; `docs/benchmarks.md` has what a session costs in all.
//!
//! The clock is the kernel's coarse monotonic one (`CLOCK_MONOTONIC_COARSE`
//! on Linux), which advances once per scheduler tick (1 to 4 ms, see
//! [`MemoryStore::clock_tick`]) and costs a few nanoseconds to read, against
//! about 20 for a precise `Instant::now()` on the machines this was measured
//! on: as much as the rest of a lookup. An idle timeout counted in seconds
//! or minutes loses nothing by it: a session ends within one tick of its
//! TTL, either way (both its deadline and the time it is checked against
//! are read from a clock that lags by up to a tick).
//!
//! A lookup lends the entry in place to the caller's closure as a
//! [`SessionView`] ([`SessionStore::update_with`]), under the shard's lock:
//! copying the session out instead (an owned name and cart) cost about as
//! much as the whole map probe.
//!
//! Expired sessions are dropped when they are next looked up, and a sweeper
//! thread removes the ones nobody asks for again, so memory follows the
//! number of live sessions, not the number ever created. It sweeps one
//! shard at a time, so a request waits at most for one shard's sweep.
//!
//! # The absolute lifetime
//!
//! A session also ends [`with_max_age`](MemoryStore::with_max_age) after
//! its login, however active it is. The entry has no room for a second
//! deadline (the table slot is full), and needs none: a renewal moves the
//! deadline to the idle TTL from now *or the end of the session's life,
//! whichever comes first*. The end of life is the creation time (which the
//! entry keeps, in Unix milliseconds) plus the lifetime, moved onto the
//! store's clock by an offset read from both clocks when the store was
//! made; a lookup pays a multiply and two adds for it, on the allocation it
//! reads anyway. So the deadline is the one thing every path checks: a
//! session past its lifetime answers as unknown even if it was used a
//! moment ago, the sweeper frees it, listings skip it, and an eviction
//! counts it as expired. (A step of the wall clock after the store started
//! moves the end of life of the sessions created after it by the step; the
//! idle timeout does not move.)
//!
//! # A user's sessions
//!
//! [`sessions`](SessionStore::sessions), [`end_all`](SessionStore::end_all)
//! and [`end_one`](SessionStore::end_one) reach the sessions this process
//! holds (`Reach::Node`): another node's RAM holds others of the user, and
//! they live on. There is no index by user: it would cost a map entry per
//! session and a second lock on every login and expiry, for requests that
//! are rare. Instead they scan every shard, one lock at a time, and compare
//! each entry's user name: O(sessions held), one read of each session's
//! allocation, while a request waits at most for one shard's scan, as for
//! the sweeper. Only the user's own sessions are hashed for their
//! handles. A listing's `last_seen` is the deadline less the idle TTL,
//! which is the last use except in a session's last TTL before its end of
//! life, where the deadline is capped and it is the earliest that use can
//! have been.
//!
//! # A bound, and which sessions go
//!
//! A login needs no password, so any client can fill the store. A store
//! made with [`MemoryStore::with_max_sessions`] holds at most that many:
//! a login that would pass the bound first evicts the least recently used
//! sessions, as Redis does under `maxmemory` with `allkeys-lru`, and an
//! evicted user's next request gets 401 like an expired one. The count is
//! kept in an atomic beside the shards, changed where an entry is added or
//! removed; a lookup neither reads nor writes it.
//!
//! The LRU is approximate, in the way Redis's is: it costs nothing per
//! entry and nothing per lookup. Every session's deadline is its last use
//! plus the one TTL, so the oldest deadlines are the least recently used
//! sessions, and no extra field or list is needed (an LRU list would cost
//! two pointers per session and a write on every lookup). A map cannot be
//! sampled at random, but its first entries in iteration order are a
//! random sample by age, since where a key sits depends only on its random
//! bits. So an eviction reads the first [`EVICTION_SAMPLE`] entries of each
//! shard, takes the deadline below which [`EVICTION_BATCH`] of the sample
//! lies, and removes, shard by shard, the sessions at or below it, up to a
//! batch of that share of the bound. The batch makes the cost a pass over
//! the store per batch, a few entries per login; the one login that pays it
//! waits for the pass, and a request waits at most for one shard's, as for
//! the sweeper. A small store is sampled whole, so its LRU is exact.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::id::{self, SessionId};
use crate::session::{Name, Session};
use crate::store::{Change, Ended, Listed, Reach, SessionInfo, SessionStore, StoreError, Updated};
use crate::view::{CartView, SessionView};

const SHARDS: usize = 64;

/// Entries read from the front of each shard to choose what to evict.
pub const EVICTION_SAMPLE: usize = 16;

/// The share of the bound one eviction removes (at least one session).
pub const EVICTION_BATCH: f64 = 1.0 / 64.0;

/// What one session is taken to cost when the bound is sized from the
/// machine's memory: above what `benches/session_memory.rs` measures for a
/// session with a three-item cart (`docs/benchmarks.md`).
pub const BYTES_PER_SESSION: u64 = 256;

/// The share of the machine's memory the default bound allows the store.
pub const DEFAULT_MEMORY_SHARE: f64 = 0.25;

/// The RAM store. Clones share the sessions.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<Shard>>,
    ttl: Duration,
    /// Where the store's [`clock`] stood at the Unix epoch, in nanoseconds
    /// (negative: the clock starts near boot): a Unix time plus this is the
    /// same moment on the clock. Read from both clocks when the store was
    /// made.
    unix_to_clock_ns: i64,
    /// [`unix_to_clock_ns`](Self::unix_to_clock_ns) plus the absolute
    /// lifetime of a session in nanoseconds: a creation time in Unix
    /// nanoseconds plus this is the end of the session's life on the clock
    /// (see [`Inner::end_of_life`]). Set once, by
    /// [`MemoryStore::with_max_age`], before the store is shared; an atomic
    /// only because the sweeper thread already holds the store.
    end_of_life_offset_ns: AtomicI64,
    /// The most sessions held (see the module docs).
    max_sessions: usize,
    /// Sessions held, and the one each login in progress is about to add.
    held: AtomicUsize,
    /// Sessions evicted to stay within the bound.
    evicted: AtomicU64,
    /// One eviction at a time; the logins that need one wait for it.
    evicting: Mutex<()>,
}

type Shard = HashMap<Key, Entry, BuildHasherDefault<KeyHasher>>;

/// A session's cookie text as a map key (see the module docs): its 22 bytes
/// in three words, the last one's top two bytes zero.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u64; 3]);

impl Key {
    /// `None` for text of the wrong length, which no id has.
    fn of(credential: &str) -> Option<Key> {
        let text: &[u8; SessionId::TEXT_LEN] = credential.as_bytes().try_into().ok()?;
        let word = |at: usize| {
            let mut le = [0u8; 8];
            le.copy_from_slice(&text[at..at + 8]);
            u64::from_le_bytes(le)
        };
        // Bytes 16 to 21: the word at 14, less its two low (first) bytes.
        Some(Key([word(0), word(8), word(14) >> 16]))
    }

    /// The cookie text the key was made from.
    fn text(self) -> [u8; SessionId::TEXT_LEN] {
        let mut text = [0u8; SessionId::TEXT_LEN];
        text[..8].copy_from_slice(&self.0[0].to_le_bytes());
        text[8..16].copy_from_slice(&self.0[1].to_le_bytes());
        text[16..].copy_from_slice(&self.0[2].to_le_bytes()[..SessionId::TEXT_LEN - 16]);
        text
    }

    /// The session's [handle](SessionStore::handle): that of its cookie.
    fn handle(self) -> String {
        // Made from a credential's bytes, which were text.
        id::handle(std::str::from_utf8(&self.text()).unwrap_or_default())
    }

    /// The first eight digits carry 48 random bits, six in each byte; a
    /// folded multiply spreads them over all 64 bits, since the table takes
    /// its bucket from the low bits and its tag from the top ones.
    fn hash(self) -> u64 {
        let product = u128::from(self.0[0]) * 0x9E37_79B9_7F4A_7C15;
        product as u64 ^ (product >> 64) as u64
    }

    /// The shard, from hash bits that neither the bucket (the low bits, of
    /// a table smaller than 2^32 slots) nor the tag (the top 7) use.
    fn shard(self) -> usize {
        (self.hash() >> 32) as usize % SHARDS
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(Key::hash(*self));
    }
}

/// A [`Session`] as the store keeps it (see the module docs for why it is
/// not a `Session`).
struct Entry {
    packed: Packed,
    requests: u64,
    /// On the [`clock`] (nanoseconds, enough for 584 years).
    expires_at: u64,
}

impl Entry {
    fn new(session: &Session, expires_at: u64) -> Entry {
        let mut packed = Packed::new(session.created_at, session.user.as_str());
        for (item, qty) in &session.cart {
            packed.add(item, *qty);
        }
        Entry { packed, requests: session.requests, expires_at }
    }

    /// [`Session::apply`], on the compact form.
    fn apply(&mut self, change: &Change) {
        self.requests += 1;
        if let Change::AddItem { item, qty } = change {
            self.packed.add(item.as_str(), u64::from(*qty));
        }
    }

    fn view(&self) -> SessionView<'_> {
        SessionView {
            user: self.packed.user(),
            created_at: self.packed.created_at(),
            requests: self.requests,
            cart: CartView::Packed(self.packed.items()),
        }
    }
}

/// What never changes and the cart in one allocation: `[created_at as u64
/// LE][len][user]`, then for each item, in name order, `[len][name][quantity
/// as u64 LE]`. Names are at most [`Name::MAX_LEN`] bytes, so a length fits
/// in one byte. (The creation time lives here rather than in [`Entry`]:
/// the allocation has room for it, the table slot does not.)
struct Packed(Box<[u8]>);

impl Packed {
    /// Where the user name's length byte is.
    const USER_AT: usize = 8;

    fn new(created_at: u64, user: &str) -> Packed {
        let mut bytes = Vec::with_capacity(Self::USER_AT + 1 + user.len());
        bytes.extend_from_slice(&created_at.to_le_bytes());
        push_name(&mut bytes, user);
        Packed(bytes.into_boxed_slice())
    }

    fn created_at(&self) -> u64 {
        u64_at(&self.0, 0)
    }

    fn user(&self) -> &str {
        // Written from a `Name`, so always ASCII.
        std::str::from_utf8(&self.0[Self::USER_AT + 1..self.items_start()]).unwrap_or_default()
    }

    /// Whether the session is `user`'s: the bytes compared, no decoding.
    fn is_of(&self, user: &Name) -> bool {
        self.0.get(Self::USER_AT + 1..self.items_start()) == Some(user.as_str().as_bytes())
    }

    fn items_start(&self) -> usize {
        Self::USER_AT + 1 + usize::from(self.0[Self::USER_AT])
    }

    fn items(&self) -> PackedItems<'_> {
        PackedItems(&self.0[self.items_start()..])
    }

    /// Adds `qty` of `item`: in place when the cart has it, else by
    /// re-packing with the new item at its place in name order.
    fn add(&mut self, item: &str, qty: u64) {
        // The first item not before `item`: `item` itself, or where it goes.
        let start = self.items_start();
        let found = self
            .items()
            .entries()
            .find(|(name, _)| *name >= item.as_bytes())
            .map(|(name, at)| (name == item.as_bytes(), start + at, name.len()));
        let insert_at = match found {
            Some((true, at, _)) => {
                let sum = u64_at(&self.0, at).saturating_add(qty);
                self.0[at..at + 8].copy_from_slice(&sum.to_le_bytes());
                return;
            }
            // Back over the name and its length byte.
            Some((false, at, len)) => at - len - 1,
            None => self.0.len(),
        };
        let mut bytes = Vec::with_capacity(self.0.len() + 1 + item.len() + 8);
        bytes.extend_from_slice(&self.0[..insert_at]);
        push_name(&mut bytes, item);
        bytes.extend_from_slice(&qty.to_le_bytes());
        bytes.extend_from_slice(&self.0[insert_at..]);
        self.0 = bytes.into_boxed_slice();
    }
}

/// The items part of a [`Packed`], as a [`SessionView`] lends it.
#[derive(Clone, Copy)]
pub(crate) struct PackedItems<'a>(&'a [u8]);

impl<'a> PackedItems<'a> {
    /// Item name and quantity, in name order.
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'a str, u64)> {
        self.entries().map(move |(name, at)| (std::str::from_utf8(name).unwrap_or_default(), u64_at(self.0, at)))
    }

    /// Each item's name and the offset of its quantity.
    fn entries(self) -> impl Iterator<Item = (&'a [u8], usize)> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let len = usize::from(*self.0.get(at)?);
            let name = &self.0[at + 1..at + 1 + len];
            let qty_at = at + 1 + len;
            at = qty_at + 8;
            Some((name, qty_at))
        })
    }
}

/// The little-endian u64 stored at `at` (a quantity, or the creation time).
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(le)
}

fn push_name(bytes: &mut Vec<u8>, name: &str) {
    debug_assert!(name.len() <= Name::MAX_LEN);
    bytes.push(name.len().min(Name::MAX_LEN) as u8);
    bytes.extend_from_slice(&name.as_bytes()[..name.len().min(Name::MAX_LEN)]);
}

impl MemoryStore {
    /// A store whose sessions expire after `ttl` without a request, with no
    /// bound on their number. Starts a sweeper thread that ends when the
    /// last clone is dropped.
    pub fn new(ttl: Duration) -> MemoryStore {
        MemoryStore::with_max_sessions(ttl, usize::MAX)
    }

    /// A store that holds at most `max_sessions` (at least one): beyond it,
    /// a login evicts the least recently used (see the module docs).
    pub fn with_max_sessions(ttl: Duration, max_sessions: usize) -> MemoryStore {
        let unix_to_clock_ns = clock_minus_unix_ns();
        let inner = Arc::new(Inner {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            ttl,
            unix_to_clock_ns,
            end_of_life_offset_ns: AtomicI64::new(end_of_life_offset(unix_to_clock_ns, crate::store::DEFAULT_MAX_AGE)),
            max_sessions: max_sessions.max(1),
            held: AtomicUsize::new(0),
            evicted: AtomicU64::new(0),
            evicting: Mutex::new(()),
        });
        let weak = Arc::downgrade(&inner);
        // Sweep every shard often enough that an expired session lingers at
        // most about a quarter of its TTL (and never more than a minute), and
        // one shard per tick, so no request waits for a whole sweep.
        let every = (ttl / 4).clamp(Duration::from_millis(10), Duration::from_secs(60)) / SHARDS as u32;
        std::thread::Builder::new()
            .name("session-sweeper".into())
            .spawn(move || sweep_until_dropped(&weak, every))
            .expect("cannot start the session sweeper thread");
        MemoryStore { inner }
    }

    /// The same store with sessions ending `max_age` after their login,
    /// however active ([`DEFAULT_MAX_AGE`](crate::store::DEFAULT_MAX_AGE)
    /// by default).
    pub fn with_max_age(self, max_age: Duration) -> MemoryStore {
        let offset = end_of_life_offset(self.inner.unix_to_clock_ns, max_age);
        self.inner.end_of_life_offset_ns.store(offset, Ordering::Relaxed);
        self
    }

    /// Live sessions held now (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// The most sessions the store holds.
    pub fn max_sessions(&self) -> usize {
        self.inner.max_sessions
    }

    /// Sessions evicted so far to stay within the bound.
    pub fn evicted(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }

    /// The bound that lets the store use [`DEFAULT_MEMORY_SHARE`] of the
    /// machine's memory (`MemTotal` in `/proc/meminfo`) at
    /// [`BYTES_PER_SESSION`] each; `None` where that cannot be read.
    pub fn default_max_sessions() -> Option<usize> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let kib: u64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        let share = (kib.saturating_mul(1024) as f64 * DEFAULT_MEMORY_SHARE) as u64;
        usize::try_from(share / BYTES_PER_SESSION).ok().map(|n| n.max(1))
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How far the store's clock advances at a time: a session ends within
    /// this much of its idle timeout, either way.
    pub fn clock_tick() -> Duration {
        clock::tick()
    }

    /// Removes every expired session now; returns how many were removed.
    pub fn sweep(&self) -> usize {
        self.inner.sweep()
    }

    fn shard(&self, key: Key) -> MutexGuard<'_, Shard> {
        lock(&self.inner.shards[key.shard()])
    }

    /// The synchronous core of [`SessionStore::update_with`], for benchmarks
    /// that want the lookup without an executor around it.
    pub fn update_now<R>(
        &self,
        credential: &str,
        change: &Change,
        read: impl FnOnce(SessionView<'_>) -> R,
    ) -> Option<R> {
        self.renewed(credential, |entry| {
            entry.apply(change);
            read(entry.view())
        })
    }

    /// Renews the live session behind `credential` and hands its entry to
    /// `f`, under the shard's lock; `None` when there is no live session.
    fn renewed<R>(&self, credential: &str, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let key = Key::of(credential)?;
        let now = clock::now();
        let mut shard = self.shard(key);
        let entry = shard.get_mut(&key)?;
        // Never past the end of its life (see the module docs), which the
        // deadline reaches before `now` does once the session is too old.
        let renewed = self.inner.deadline(now).min(self.inner.end_of_life(entry.packed.created_at()));
        if entry.expires_at <= now || renewed <= now {
            shard.remove(&key);
            self.inner.held.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        entry.expires_at = renewed;
        Some(f(entry))
    }

    fn create_now(&self, user: &Name, replacing: Option<&str>) -> (String, Session) {
        if let Some(old) = replacing {
            self.destroy_now(old);
        }
        // Counted before it is added, so that logins running together each
        // make room for their own.
        if self.inner.held.fetch_add(1, Ordering::Relaxed) >= self.inner.max_sessions {
            self.inner.make_room();
        }
        let credential = SessionId::generate().to_string();
        let key = Key::of(&credential).expect("an id's text form has TEXT_LEN bytes");
        let session = Session::new(user);
        let deadline = self.inner.deadline(clock::now()).min(self.inner.end_of_life(session.created_at));
        let entry = Entry::new(&session, deadline);
        if self.shard(key).insert(key, entry).is_some() {
            // 128 random bits met an id in use: the old session is gone.
            self.inner.held.fetch_sub(1, Ordering::Relaxed);
        }
        (credential, session)
    }

    fn destroy_now(&self, credential: &str) {
        if let Some(key) = Key::of(credential)
            && self.shard(key).remove(&key).is_some()
        {
            self.inner.held.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Inner {
    /// The deadline of a session touched at `now`.
    fn deadline(&self, now: u64) -> u64 {
        now.saturating_add(u64::try_from(self.ttl.as_nanos()).unwrap_or(u64::MAX))
    }

    /// When a session created at `created_at` (Unix milliseconds) reaches
    /// its absolute lifetime, on the store's clock: no deadline goes past
    /// it. A multiply and two adds, on what the lookup reads anyway.
    fn end_of_life(&self, created_at: u64) -> u64 {
        let created = i64::try_from(created_at).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        u64::try_from(created.saturating_add(self.end_of_life_offset_ns.load(Ordering::Relaxed))).unwrap_or(0)
    }

    /// A time on the store's clock as Unix milliseconds.
    fn unix_ms(&self, at: u64) -> u64 {
        let unix_ns = i64::try_from(at).unwrap_or(i64::MAX).saturating_sub(self.unix_to_clock_ns);
        u64::try_from(unix_ns / 1_000_000).unwrap_or(0)
    }

    /// The live sessions of `user`: key, creation time and deadline, read
    /// one shard at a time (see the module docs for the cost).
    fn live_of(&self, user: &Name) -> Vec<(Key, u64, u64)> {
        let now = clock::now();
        let mut found = Vec::new();
        for shard in &self.shards {
            let shard = lock(shard);
            found.extend(
                shard
                    .iter()
                    .filter(|(_, entry)| entry.expires_at > now && entry.packed.is_of(user))
                    .map(|(key, entry)| (*key, entry.packed.created_at(), entry.expires_at)),
            );
        }
        found
    }

    /// Removes every session of `user`, one shard at a time; returns how
    /// many of them were live.
    fn end_all(&self, user: &Name) -> u64 {
        let now = clock::now();
        let mut live = 0;
        for shard in &self.shards {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, entry| {
                let ends = entry.packed.is_of(user);
                live += u64::from(ends && entry.expires_at > now);
                !ends
            });
            self.held.fetch_sub(before - shard.len(), Ordering::Relaxed);
        }
        live
    }

    /// Removes the live session of `user` whose handle is `handle`; whether
    /// there was one. Only the user's own sessions are hashed.
    fn end_one(&self, user: &Name, handle: &str) -> bool {
        let now = clock::now();
        for shard in &self.shards {
            let mut shard = lock(shard);
            let found = shard
                .iter()
                .find(|(key, entry)| entry.expires_at > now && entry.packed.is_of(user) && key.handle() == handle)
                .map(|(key, _)| *key);
            if let Some(key) = found {
                shard.remove(&key);
                self.held.fetch_sub(1, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    fn sweep(&self) -> usize {
        (0..SHARDS).map(|shard| self.sweep_shard(shard)).sum()
    }

    fn sweep_shard(&self, shard: usize) -> usize {
        let now = clock::now();
        let mut shard = lock(&self.shards[shard]);
        let before = shard.len();
        shard.retain(|_, entry| entry.expires_at > now);
        // A map keeps its capacity after a spike; give memory back once it
        // is mostly empty.
        if shard.capacity() > 1024 && shard.len() < shard.capacity() / 4 {
            shard.shrink_to_fit();
        }
        let removed = before - shard.len();
        self.held.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    /// Evicts the least recently used sessions until the store is within
    /// its bound, the login that called it included (see the module docs).
    fn make_room(&self) {
        let _one_at_a_time = self.evicting.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while self.held.load(Ordering::Relaxed) > self.max_sessions {
            let over = self.held.load(Ordering::Relaxed).saturating_sub(self.max_sessions);
            let batch = over.max((self.max_sessions as f64 * EVICTION_BATCH) as usize).max(1);
            if self.evict(batch) == 0 {
                // Nothing held: the count is of logins still adding theirs.
                return;
            }
        }
    }

    /// Removes up to `batch` of the sessions used longest ago; returns how
    /// many it removed.
    fn evict(&self, batch: usize) -> usize {
        let mut sample: Vec<u64> = Vec::with_capacity(SHARDS * EVICTION_SAMPLE);
        for shard in &self.shards {
            sample.extend(lock(shard).values().take(EVICTION_SAMPLE).map(|entry| entry.expires_at));
        }
        if sample.is_empty() {
            return 0;
        }
        // The deadline below which `batch` sessions lie, estimated from the
        // sample (exact when the sample is the whole store).
        let held = self.held.load(Ordering::Relaxed).max(1);
        let rank = (batch as f64 * sample.len() as f64 / held as f64).ceil() as usize;
        let rank = rank.clamp(1, sample.len()) - 1;
        let cutoff = *sample.select_nth_unstable(rank).1;
        let now = clock::now();
        let (mut removed, mut evicted) = (0, 0);
        for shard in &self.shards {
            if removed >= batch {
                break;
            }
            let mut shard = lock(shard);
            shard.retain(|_, entry| {
                if removed >= batch || entry.expires_at > cutoff {
                    return true;
                }
                removed += 1;
                evicted += usize::from(entry.expires_at > now);
                false
            });
        }
        self.held.fetch_sub(removed, Ordering::Relaxed);
        self.evicted.fetch_add(evicted as u64, Ordering::Relaxed);
        removed
    }
}

/// A duration in nanoseconds, saturating.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Where the store's clock stood at the Unix epoch (see
/// [`Inner::unix_to_clock_ns`]), read from both clocks now.
fn clock_minus_unix_ns() -> i64 {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let unix = i64::try_from(unix.as_nanos()).unwrap_or(i64::MAX);
    i64::try_from(clock::now()).unwrap_or(i64::MAX).saturating_sub(unix)
}

/// [`Inner::end_of_life_offset_ns`] for an absolute lifetime of `max_age`.
fn end_of_life_offset(unix_to_clock_ns: i64, max_age: Duration) -> i64 {
    unix_to_clock_ns.saturating_add(i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX))
}

fn sweep_until_dropped(inner: &Weak<Inner>, every: Duration) {
    for shard in (0..SHARDS).cycle() {
        std::thread::sleep(every);
        match inner.upgrade() {
            Some(inner) => {
                inner.sweep_shard(shard);
            }
            None => return,
        }
    }
}

/// The coarse monotonic clock deadlines are kept on (see the module docs).
mod clock {
    use std::time::Duration;

    /// Nanoseconds on the clock.
    #[cfg(target_os = "linux")]
    pub(super) fn now() -> u64 {
        nanos(rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse))
    }

    #[cfg(target_os = "linux")]
    pub(super) fn tick() -> Duration {
        Duration::from_nanos(nanos(rustix::time::clock_getres(rustix::time::ClockId::MonotonicCoarse)))
    }

    #[cfg(target_os = "linux")]
    fn nanos(t: rustix::time::Timespec) -> u64 {
        let (secs, nanos) = (u64::try_from(t.tv_sec).unwrap_or(0), u64::try_from(t.tv_nsec).unwrap_or(0));
        secs.saturating_mul(1_000_000_000).saturating_add(nanos)
    }

    /// Elsewhere, the precise clock, counted from the first reading.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn now() -> u64 {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        u64::try_from(EPOCH.get_or_init(std::time::Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn tick() -> Duration {
        Duration::from_nanos(1)
    }
}

/// A poisoned lock means a panic while a session was being changed; the map
/// itself is still sound, so keep serving instead of failing every request.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Passes on the hash [`Key`] computes.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than Key, which this map has none of.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl SessionStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn create(&self, user: &Name, _node: &str, replacing: Option<&str>) -> Result<(String, Session), StoreError> {
        Ok(self.create_now(user, replacing))
    }

    async fn update_with<R: Send>(
        &self,
        credential: &str,
        change: Change,
        read: impl FnOnce(SessionView<'_>) -> R + Send,
    ) -> Result<Option<Updated<R>>, StoreError> {
        Ok(self.update_now(credential, &change, read).map(|session| Updated { session, reissued: None }))
    }

    async fn take_cart(&self, credential: &str) -> Result<Option<Updated>, StoreError> {
        // Under the shard's lock: the copy and the emptying are one step.
        let taken = self.renewed(credential, |entry| {
            entry.apply(&Change::Touch);
            let session = entry.view().to_session();
            entry.packed = Packed::new(session.created_at, session.user.as_str());
            session
        });
        Ok(taken.map(|session| Updated { session, reissued: None }))
    }

    async fn destroy(&self, credential: &str) -> Result<(), StoreError> {
        self.destroy_now(credential);
        Ok(())
    }

    /// Every live session of `user` this process holds, found by a scan of
    /// every shard (see the module docs). `node` is `None`: they are all
    /// this node's.
    async fn sessions(&self, user: &Name, _current: &str) -> Result<Listed, StoreError> {
        let ttl_ns = nanos(self.inner.ttl);
        let mut sessions: Vec<SessionInfo> = self
            .inner
            .live_of(user)
            .into_iter()
            .map(|(key, created_at, deadline)| SessionInfo {
                handle: key.handle(),
                created_at,
                // Exact while the deadline is last use plus the TTL; in a
                // session's last TTL before its end of life the deadline is
                // capped, and this is the earliest its last use can be.
                last_seen: self.inner.unix_ms(deadline.saturating_sub(ttl_ns)).max(created_at),
                node: None,
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.handle).cmp(&(b.created_at, &b.handle)));
        Ok(Listed { sessions, reach: Reach::Node })
    }

    /// Removes every session of `user` this process holds, by a scan of
    /// every shard; `count` is the live ones among them.
    async fn end_all(&self, user: &Name, _current: &str) -> Result<Ended, StoreError> {
        Ok(Ended { count: self.inner.end_all(user), reach: Reach::Node })
    }

    async fn end_one(&self, user: &Name, _current: &str, handle: &str) -> Result<bool, StoreError> {
        let well_formed =
            handle.len() == id::HANDLE_LEN && handle.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        Ok(well_formed && self.inner.end_one(user, handle))
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Sessions held (logins in progress included), the bound unless there
    /// is none, and the sessions evicted.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let mut counters = vec![("sessions", as_u64(self.inner.held.load(Ordering::Relaxed)))];
        if self.inner.max_sessions != usize::MAX {
            counters.push(("max_sessions", as_u64(self.inner.max_sessions)));
        }
        counters.push(("evicted", self.evicted()));
        counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packed_form_keeps_what_a_session_holds() {
        let user = Name::parse("alice").unwrap();
        let mut expected = Session::new(&user);
        let mut entry = Entry::new(&expected, 0);
        // Out of order, repeated, prefixes of each other, both ends of the
        // alphabet and of the length range.
        let long = "z".repeat(Name::MAX_LEN);
        for (item, qty) in [("m", 1), ("b", 2), ("m", 3), ("mm", 4), ("A", 5), (&long, 1000), ("b", 1), ("-", 7)] {
            let change = Change::AddItem { item: Name::parse(item).unwrap(), qty };
            expected.apply(&change);
            entry.apply(&change);
        }
        entry.apply(&Change::Touch);
        expected.apply(&Change::Touch);
        assert_eq!(entry.view().to_session(), expected);
        // Lent in name order, as `GET /cart` lists it.
        let lent: Vec<(&str, u64)> = entry.view().cart().collect();
        let in_order: Vec<(&str, u64)> = expected.cart.iter().map(|(item, qty)| (item.as_str(), *qty)).collect();
        assert_eq!(lent, in_order);
        assert_eq!(Entry::new(&expected, 0).view().to_session(), expected);
    }

    #[test]
    fn sessions_spread_evenly_over_the_shards() {
        // A shard's lock is what concurrent requests wait for; keys bunched
        // in a few shards would make them wait more.
        let mut counts = [0usize; SHARDS];
        for _ in 0..64_000 {
            counts[Key::of(&SessionId::generate().to_string()).unwrap().shard()] += 1;
        }
        let (fewest, most) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*fewest > 800 && *most < 1200, "shard sizes from {fewest} to {most}, 1000 expected");
    }

    #[test]
    fn a_table_slot_stays_small() {
        // What a session costs in the table (see `benches/session_memory.rs`).
        assert_eq!(std::mem::size_of::<(Key, Entry)>(), 56);
    }
}
