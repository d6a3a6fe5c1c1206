//! What only the RAM store has to prove: it gives memory back, and it
//! stays within its bound under a login flood, evicting the least recently
//! used.

use std::time::{Duration, Instant};

use sessions::{Change, MemoryStore, Name, SessionStore};

#[tokio::test]
async fn expired_sessions_are_freed_without_being_looked_up() {
    let store = MemoryStore::new(Duration::from_secs(1));
    let user = Name::parse("churn").unwrap();
    // Login churn: many sessions that nobody uses again (created well
    // within the TTL, even on a busy machine).
    for _ in 0..20_000 {
        store.create(&user, "node-a", None).await.unwrap();
    }
    assert_eq!(store.len(), 20_000);
    // The sweeper thread must bring the count back to zero by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.is_empty() {
        assert!(Instant::now() < deadline, "{} expired sessions still held", store.len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_expired_session_is_gone_even_before_the_sweep() {
    let store = MemoryStore::new(Duration::from_millis(1));
    let (sid, _) = store.create(&Name::parse("x").unwrap(), "node-a", None).await.unwrap();
    // Past the TTL on the store's clock, which moves in steps.
    let created = Instant::now();
    while created.elapsed() < Duration::from_millis(2) + 2 * MemoryStore::clock_tick() {
        std::hint::spin_loop();
    }
    assert!(store.update(&sid, Change::Touch).await.unwrap().is_none());
}

#[test]
fn a_login_flood_cannot_grow_the_store_past_its_bound() {
    const MAX: usize = 2_000;
    const THREADS: usize = 4;
    const LOGINS: usize = 5_000;
    let store = MemoryStore::with_max_sessions(Duration::from_secs(60), MAX);
    let user = Name::parse("flood").unwrap();
    let flooding = std::sync::atomic::AtomicUsize::new(THREADS);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..LOGINS {
                    futures::executor::block_on(store.create(&user, "node-a", None)).unwrap();
                }
                flooding.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
        // While it lasts, each login in progress may count one session more.
        // (The store's own count: `len` adds the shards up one at a time,
        // so amid evictions it may count some sessions twice.)
        while flooding.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            let held = store.counters().into_iter().find(|(name, _)| *name == "sessions").unwrap().1 as usize;
            assert!(held <= MAX + THREADS, "{held} sessions held, bound {MAX}");
            std::thread::yield_now();
        }
    });
    assert!(store.len() <= MAX, "{} sessions held after the flood, bound {MAX}", store.len());
    // Nothing expired and nobody logged out: every session not held was evicted.
    assert_eq!(store.evicted() as usize, THREADS * LOGINS - store.len());
}

/// Until the store's clock has surely moved on: it advances in ticks, and
/// sessions touched within one tick are equally recent to it.
fn next_tick() {
    let start = Instant::now();
    while start.elapsed() < 2 * MemoryStore::clock_tick() + Duration::from_millis(1) {
        std::hint::spin_loop();
    }
}

#[tokio::test]
async fn the_least_recently_used_are_evicted_first_and_then_find_nothing() {
    const MAX: usize = 50;
    let store = MemoryStore::with_max_sessions(Duration::from_secs(60), MAX);
    let user = Name::parse("u").unwrap();
    let (honest, _) = store.create(&user, "node-a", None).await.unwrap();
    let mut idle = Vec::new();
    for _ in 1..MAX {
        idle.push(store.create(&user, "node-a", None).await.unwrap().0);
    }
    next_tick();
    assert!(store.update(&honest, Change::Touch).await.unwrap().is_some());
    next_tick();
    // As many logins as idle sessions: they go, the one in use stays.
    let mut flood = Vec::new();
    for _ in 1..MAX {
        flood.push(store.create(&user, "node-a", None).await.unwrap().0);
    }
    assert_eq!((store.len(), store.evicted()), (MAX, (MAX - 1) as u64));
    for sid in &idle {
        assert!(store.update(sid, Change::Touch).await.unwrap().is_none(), "an idle session survived");
    }
    assert!(store.update(&honest, Change::Touch).await.unwrap().is_some(), "the session in use was evicted");
    for sid in &flood {
        assert!(store.update(sid, Change::Touch).await.unwrap().is_some(), "a newer session was evicted");
    }
}
