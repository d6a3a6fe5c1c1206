//! What only the RAM store has to prove: it gives memory back, it stays
//! within its bound under a login flood, evicting the least recently used,
//! it lists and ends a user's sessions among those this node holds, and a
//! session ends at its absolute lifetime however busy it is.

use std::time::{Duration, Instant};

use sessions::{Change, MemoryStore, Name, Reach, SessionStore, now_ms};

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

fn user(text: &str) -> Name {
    Name::parse(text).unwrap()
}

/// The store's own count of sessions held.
fn held(store: &MemoryStore) -> u64 {
    store.counters().into_iter().find(|(name, _)| *name == "sessions").unwrap().1
}

#[tokio::test]
async fn a_listing_shows_the_users_live_sessions_on_this_node_oldest_first() {
    let store = MemoryStore::new(Duration::from_secs(60));
    let before = now_ms();
    let (first, first_session) = store.create(&user("alice"), "node-a", None).await.unwrap();
    // Created in a later millisecond, so the order is the creation order.
    while now_ms() <= first_session.created_at {
        std::hint::spin_loop();
    }
    let (second, _) = store.create(&user("alice"), "node-a", None).await.unwrap();
    let (bobs, _) = store.create(&user("bob"), "node-a", None).await.unwrap();
    let (ended, _) = store.create(&user("alice"), "node-a", None).await.unwrap();
    store.destroy(&ended).await.unwrap();
    store.update(&second, Change::Touch).await.unwrap().unwrap();

    let listed = store.sessions(&user("alice"), &second).await.unwrap();
    assert_eq!(listed.reach, Reach::Node);
    let handles: Vec<String> = listed.sessions.iter().map(|info| info.handle.clone()).collect();
    assert_eq!(handles, [store.handle(&first).unwrap(), store.handle(&second).unwrap()]);
    assert!(!handles.contains(&store.handle(&bobs).unwrap()));
    for info in &listed.sessions {
        assert_eq!(info.node, None, "the RAM store leaves the node to the app");
        assert!(info.created_at >= before && info.created_at <= info.last_seen, "{info:?}");
        assert!(info.last_seen <= now_ms(), "{info:?}");
        // The handle is safe to show: never the credential.
        assert!(info.handle != first && info.handle != second);
    }
    assert_eq!(listed.sessions[0].created_at, first_session.created_at);
    let bob = store.sessions(&user("bob"), &bobs).await.unwrap().sessions;
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].handle, store.handle(&bobs).unwrap());
}

#[tokio::test]
async fn ending_every_session_of_a_user_ends_them_all_on_this_node_and_frees_room() {
    // A bound of ten: the ended sessions must no longer count against it.
    let store = MemoryStore::with_max_sessions(Duration::from_secs(60), 10);
    let mut alices = Vec::new();
    for _ in 0..6 {
        alices.push(store.create(&user("alice"), "node-a", None).await.unwrap().0);
    }
    let (bobs, _) = store.create(&user("bob"), "node-a", None).await.unwrap();
    let ended = store.end_all(&user("alice"), &alices[0]).await.unwrap();
    assert_eq!((ended.count, ended.reach), (6, Reach::Node));
    for sid in &alices {
        assert!(store.update(sid, Change::Touch).await.unwrap().is_none(), "an ended session still works");
    }
    assert!(store.sessions(&user("alice"), &alices[0]).await.unwrap().sessions.is_empty());
    assert!(store.update(&bobs, Change::Touch).await.unwrap().is_some(), "another user's session ended");
    assert_eq!((store.len(), held(&store)), (1, 1));
    // Nine more logins fit in the bound without evicting anyone.
    for _ in 0..9 {
        store.create(&user("carol"), "node-a", None).await.unwrap();
    }
    assert_eq!(store.evicted(), 0);
    assert!(store.update(&bobs, Change::Touch).await.unwrap().is_some());
    // Nothing left to end.
    assert_eq!(store.end_all(&user("alice"), &alices[0]).await.unwrap().count, 0);
}

#[tokio::test]
async fn ending_one_session_by_its_handle_takes_only_that_users_own() {
    let store = MemoryStore::new(Duration::from_secs(60));
    let (current, _) = store.create(&user("alice"), "node-a", None).await.unwrap();
    let (other_tab, _) = store.create(&user("alice"), "node-a", None).await.unwrap();
    let (bobs, _) = store.create(&user("bob"), "node-a", None).await.unwrap();
    let alice = user("alice");

    // Another user's handle is unknown to alice, and the session lives on.
    let bobs_handle = store.handle(&bobs).unwrap();
    assert!(!store.end_one(&alice, &current, &bobs_handle).await.unwrap());
    assert!(store.update(&bobs, Change::Touch).await.unwrap().is_some());
    for malformed in ["", "0123", "0123456789ABCDEF", "zzzzzzzzzzzzzzzz", &other_tab] {
        assert!(!store.end_one(&alice, &current, malformed).await.unwrap(), "{malformed:?}");
    }

    let handle = store.handle(&other_tab).unwrap();
    assert!(store.end_one(&alice, &current, &handle).await.unwrap());
    assert!(store.update(&other_tab, Change::Touch).await.unwrap().is_none());
    assert!(store.update(&current, Change::Touch).await.unwrap().is_some());
    assert!(!store.end_one(&alice, &current, &handle).await.unwrap(), "ended twice");
    assert_eq!(held(&store), 2);
    // The caller's own session, too.
    assert!(store.end_one(&alice, &current, &store.handle(&current).unwrap()).await.unwrap());
    assert!(store.update(&current, Change::Touch).await.unwrap().is_none());
}

#[tokio::test]
async fn a_session_in_constant_use_ends_at_its_absolute_lifetime() {
    const MAX_AGE: Duration = Duration::from_secs(1);
    let store = MemoryStore::new(Duration::from_secs(60)).with_max_age(MAX_AGE);
    let (sid, created) = store.create(&user("alice"), "node-a", None).await.unwrap();
    let (busy, _) = store.create(&user("alice"), "node-a", None).await.unwrap();
    let started = Instant::now();
    // Used every few milliseconds, it still ends; the idle TTL is a minute.
    let deadline = started + Duration::from_secs(10);
    while store.update(&sid, Change::Touch).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the session outlived its absolute lifetime by seconds");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Not before its time (give or take the clocks' ticks).
    let lived = now_ms() - created.created_at;
    assert!(lived + 50 >= MAX_AGE.as_millis() as u64, "ended after {lived} ms");
    // Gone for good, from every path: the lookup removed it, the other
    // session as old is neither listed nor usable, and the sweeper frees it.
    assert!(store.take_cart(&sid).await.unwrap().is_none());
    assert!(store.sessions(&user("alice"), &sid).await.unwrap().sessions.is_empty());
    assert!(store.update(&busy, Change::Touch).await.unwrap().is_none());
    assert!(store.is_empty(), "{} sessions past their lifetime still held", store.len());
    assert_eq!(store.evicted(), 0);
    // A new login starts a new lifetime.
    let (fresh, _) = store.create(&user("alice"), "node-a", None).await.unwrap();
    assert!(store.update(&fresh, Change::Touch).await.unwrap().is_some());
}

#[tokio::test]
async fn the_sweeper_frees_sessions_past_their_lifetime_that_nobody_asks_for() {
    // Swept every 2.5 s; the idle TTL alone would keep them 10 s.
    const TTL: Duration = Duration::from_secs(10);
    let store = MemoryStore::new(TTL).with_max_age(Duration::from_millis(200));
    let created = Instant::now();
    for _ in 0..100 {
        store.create(&user("alice"), "node-a", None).await.unwrap();
    }
    while !store.is_empty() {
        assert!(created.elapsed() < TTL, "{} sessions past their lifetime held until their TTL", store.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
