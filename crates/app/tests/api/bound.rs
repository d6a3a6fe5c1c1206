//! The RAM store's bound, over HTTP: past it a login evicts the least
//! recently used session, whose owner then gets 401 as if it had expired,
//! and `/healthz` counts the evictions.

use reqwest::StatusCode;
use sessions::MemoryStore;

use crate::helpers::{TTL, json, spawn_app};

#[tokio::test]
async fn an_evicted_user_gets_401_and_healthz_counts_the_eviction() {
    let app = spawn_app(MemoryStore::with_max_sessions(TTL, 3), "bounded").await;
    let mut sids = Vec::new();
    for user in ["ann", "bob", "cat"] {
        sids.push(app.login(user).await);
        // Each later than the one before on the store's clock.
        let start = std::time::Instant::now();
        while start.elapsed() < 2 * MemoryStore::clock_tick() + std::time::Duration::from_millis(1) {
            std::hint::spin_loop();
        }
    }
    // Ann is the least recently used: the fourth login evicts her.
    let dan = app.login("dan").await;
    assert_eq!(app.me(Some(&sids[0])).await.status(), StatusCode::UNAUTHORIZED);
    for sid in [&sids[1], &sids[2], &dan] {
        assert_eq!(app.me(Some(sid)).await.status(), StatusCode::OK);
    }
    // She logs in again, as after an expiry, which evicts another session.
    let ann = app.login("ann").await;
    assert_eq!(app.me(Some(&ann)).await.status(), StatusCode::OK);

    let health = json(app.healthz().await).await;
    assert_eq!((&health["status"], &health["store"]), (&"ok".into(), &"memory".into()));
    assert_eq!((&health["sessions"], &health["max_sessions"], &health["evicted"]), (&3.into(), &3.into(), &2.into()));
}
