//! What only the RAM store has to prove: it gives memory back.

use std::time::{Duration, Instant};

use sessions::{Change, MemoryStore, Name, SessionStore};

#[tokio::test]
async fn expired_sessions_are_freed_without_being_looked_up() {
    let store = MemoryStore::new(Duration::from_millis(200));
    let user = Name::parse("churn").unwrap();
    // Login churn: many sessions that nobody uses again.
    for _ in 0..20_000 {
        store.create(&user, None).await.unwrap();
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
    let (sid, _) = store.create(&Name::parse("x").unwrap(), None).await.unwrap();
    // Past the TTL on the store's clock, which moves in steps.
    let created = Instant::now();
    while created.elapsed() < Duration::from_millis(2) + 2 * MemoryStore::clock_tick() {
        std::hint::spin_loop();
    }
    assert!(store.update(&sid, Change::Touch).await.unwrap().is_none());
}
