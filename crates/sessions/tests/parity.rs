//! One behaviour suite, run against every store: whatever a user can rely
//! on must hold wherever the session lives. Each case is written once as a
//! generic function; `parity!` runs it against the RAM store, against a
//! Redis store backed by a private `redis-server` and against a PostgreSQL
//! store with a database of its own on a private PostgreSQL server that the
//! cases share (starting one costs seconds), and `cases!` runs the
//! ones that hold for signed tokens against the token store, with and
//! without its deny list (what differs is in `tests/token.rs`).
//! `on_one_topology!` runs the whole suite against the Redis store on a
//! Sentinel-managed set and on a Redis Cluster, one after the other on one
//! deployment each (starting one takes seconds; sessions of different cases
//! never meet, their ids being random).
//!
//! Cases act as a client that always sends its latest cookie: they switch
//! to [`Updated::reissued`] whenever a store hands one back.

use std::time::Duration;

use futures::future::join_all;
use local_postgres::PostgresServer;
use local_redis::{RedisCluster, RedisServer, SentinelSet};
use sessions::{
    Change, MemoryStore, Name, PostgresSettings, PostgresStore, RedisHaSettings, RedisHaStore, RedisSettings,
    RedisStore, RedisTopology, SessionStore, TokenKey, TokenStore, Updated,
};

const TTL: Duration = Duration::from_secs(60);

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn add(item: &str, qty: u32) -> Change {
    Change::AddItem { item: name(item), qty }
}

/// A store under test, and whatever must outlive it (the Redis process).
struct Subject<S> {
    store: S,
    _redis: Option<RedisServer>,
}

fn memory(ttl: Duration) -> Subject<MemoryStore> {
    Subject { store: MemoryStore::new(ttl), _redis: None }
}

fn redis(ttl: Duration) -> Subject<RedisStore> {
    let server = RedisServer::start().expect("start redis-server");
    let store = RedisStore::new(&RedisSettings::new(server.url(), ttl)).unwrap();
    Subject { store, _redis: Some(server) }
}

fn postgres(ttl: Duration) -> Subject<PostgresStore> {
    let server = PostgresServer::shared().expect("start postgres");
    let url = server.create_database().expect("create a database");
    Subject { store: PostgresStore::new(&PostgresSettings::new(url, ttl)).unwrap(), _redis: None }
}

fn on_sentinel(set: &SentinelSet, ttl: Duration) -> Subject<RedisHaStore> {
    let sentinels = RedisTopology::addresses(&set.sentinel_addrs());
    let topology = RedisTopology::Sentinel { sentinels, master: set.master_name().to_string() };
    Subject { store: RedisHaStore::new(&RedisHaSettings::new(topology, ttl)).unwrap(), _redis: None }
}

fn on_cluster(cluster: &RedisCluster, ttl: Duration) -> Subject<RedisHaStore> {
    let topology = RedisTopology::Cluster { seeds: RedisTopology::addresses(&cluster.seeds()) };
    Subject { store: RedisHaStore::new(&RedisHaSettings::new(topology, ttl)).unwrap(), _redis: None }
}

fn token(ttl: Duration) -> Subject<TokenStore> {
    Subject { store: TokenStore::new(test_key(), ttl), _redis: None }
}

fn token_with_deny_list(ttl: Duration) -> Subject<TokenStore> {
    let server = RedisServer::start().expect("start redis-server");
    let store = TokenStore::new(test_key(), ttl).with_revocation(&server.url()).unwrap();
    Subject { store, _redis: Some(server) }
}

fn test_key() -> TokenKey {
    TokenKey::new(b"parity-suite-key-of-at-least-32-bytes").unwrap()
}

/// Applies `change` as a client would: with its current cookie, keeping the
/// new one if the store re-issued it.
async fn request<S: SessionStore>(store: &S, sid: &mut String, change: Change) -> Option<Updated> {
    let updated = store.update(sid, change).await.unwrap()?;
    if let Some(reissued) = &updated.reissued {
        sid.clone_from(reissued);
    }
    Some(updated)
}

async fn a_new_session_is_empty_and_counts_requests<S: SessionStore>(s: Subject<S>) {
    let (mut sid, created) = s.store.create(&name("alice"), "node-a", None).await.unwrap();
    assert_eq!(created.user, "alice");
    assert_eq!(created.requests, 0);
    assert!(created.cart.is_empty());
    for n in 1..=3 {
        let updated = request(&s.store, &mut sid, Change::Touch).await.expect("session");
        assert_eq!(updated.session.requests, n);
        assert_eq!(updated.session.created_at, created.created_at);
        // Server-side stores keep the cookie; a token store must re-issue it.
        assert_eq!(updated.reissued.is_some(), s.store.kind() == "token");
    }
}

async fn cart_adds_accumulate<S: SessionStore>(s: Subject<S>) {
    let (mut sid, _) = s.store.create(&name("bob"), "node-a", None).await.unwrap();
    request(&s.store, &mut sid, add("book", 2)).await.unwrap();
    request(&s.store, &mut sid, add("pen", 1)).await.unwrap();
    let last = request(&s.store, &mut sid, add("book", 3)).await.unwrap().session;
    assert_eq!(last.cart.get("book"), Some(&5));
    assert_eq!(last.cart.get("pen"), Some(&1));
    assert_eq!(last.requests, 3);
}

async fn the_lent_session_is_the_changed_one_with_its_cart_in_name_order<S: SessionStore>(s: Subject<S>) {
    // What the handlers see: `update_with` lends the session after the
    // change (`GET /cart` lists the cart in the order it is lent).
    let (mut sid, _) = s.store.create(&name("ivy"), "node-a", None).await.unwrap();
    request(&s.store, &mut sid, add("pen", 1)).await.unwrap();
    request(&s.store, &mut sid, add("book", 2)).await.unwrap();
    let read = s
        .store
        .update_with(&sid, add("apple", 3), |session| {
            let cart: Vec<(String, u64)> = session.cart().map(|(item, qty)| (item.to_string(), qty)).collect();
            (session.user.to_string(), session.requests, cart)
        })
        .await
        .unwrap()
        .expect("a live session");
    let cart = vec![("apple".to_string(), 3), ("book".to_string(), 2), ("pen".to_string(), 1)];
    assert_eq!(read.session, ("ivy".to_string(), 3, cart));
    assert_eq!(read.reissued.is_some(), s.store.kind() == "token");
}

async fn unknown_and_malformed_credentials_find_nothing<S: SessionStore>(s: Subject<S>) {
    let unknown = sessions::SessionId::generate().to_string();
    for credential in [unknown.as_str(), "", "garbage", "../../etc/passwd", &"A".repeat(4096)] {
        assert!(s.store.update(credential, Change::Touch).await.unwrap().is_none(), "{credential:?}");
        s.store.destroy(credential).await.unwrap();
    }
}

/// A cookie that differs from a live one in a single character (inside
/// the alphabet or out of it) or in length names no session, and asking
/// for it or ending it leaves the live session alone.
async fn a_credential_one_character_off_finds_nothing<S: SessionStore>(s: Subject<S>) {
    let (sid, _) = s.store.create(&name("erin"), "node-a", None).await.unwrap();
    let with = |at: usize, to: char| {
        let mut changed = sid.clone();
        changed.replace_range(at..at + 1, &to.to_string());
        changed
    };
    let near_end = sid.len() - 2;
    let other = if sid[near_end..].starts_with('A') { 'B' } else { 'A' };
    let off = [with(0, '+'), with(near_end, other), with(sid.len() / 2, '.'), format!("{sid}A"), sid[1..].to_string()];
    for credential in &off {
        assert_ne!(credential, &sid);
        assert!(s.store.update(credential, Change::Touch).await.unwrap().is_none(), "{credential:?}");
        s.store.destroy(credential).await.unwrap();
    }
    let live = s.store.update(&sid, Change::Touch).await.unwrap().expect("the live session is still there");
    assert_eq!(live.session.requests, 1);
}

async fn destroy_ends_the_session<S: SessionStore>(s: Subject<S>) {
    let (sid, _) = s.store.create(&name("carol"), "node-a", None).await.unwrap();
    s.store.destroy(&sid).await.unwrap();
    assert!(s.store.update(&sid, Change::Touch).await.unwrap().is_none());
}

async fn a_new_login_ends_the_session_it_replaces<S: SessionStore>(s: Subject<S>) {
    let (old, _) = s.store.create(&name("dave"), "node-a", None).await.unwrap();
    let (new, _) = s.store.create(&name("dave"), "node-a", Some(&old)).await.unwrap();
    assert_ne!(old, new);
    assert!(s.store.update(&old, Change::Touch).await.unwrap().is_none());
    assert!(s.store.update(&new, Change::Touch).await.unwrap().is_some());
}

async fn clones_share_sessions<S: SessionStore>(s: Subject<S>) {
    let other = s.store.clone();
    let (sid, _) = s.store.create(&name("erin"), "node-a", None).await.unwrap();
    assert!(other.update(&sid, Change::Touch).await.unwrap().is_some());
}

async fn concurrent_updates_lose_nothing<S: SessionStore>(s: Subject<S>) {
    let (sid, _) = s.store.create(&name("frank"), "node-a", None).await.unwrap();
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let store = s.store.clone();
            let sid = sid.clone();
            tokio::spawn(async move {
                let change = if i % 2 == 0 { add("book", 1) } else { Change::Touch };
                store.update(&sid, change).await.unwrap().unwrap();
            })
        })
        .collect();
    for result in join_all(handles).await {
        result.unwrap();
    }
    let last = s.store.update(&sid, Change::Touch).await.unwrap().unwrap().session;
    assert_eq!(last.cart.get("book"), Some(&100));
    assert_eq!(last.requests, 201);
}

async fn a_checkout_takes_the_cart_and_leaves_it_empty<S: SessionStore>(s: Subject<S>) {
    let (mut sid, _) = s.store.create(&name("ivan"), "node-a", None).await.unwrap();
    request(&s.store, &mut sid, add("book", 2)).await.unwrap();
    request(&s.store, &mut sid, add("pen", 1)).await.unwrap();
    let taken = s.store.take_cart(&sid).await.unwrap().expect("session");
    assert_eq!(taken.session.user, "ivan");
    assert_eq!(taken.session.requests, 3, "a checkout counts as a request");
    assert_eq!(taken.session.cart, [("book".to_string(), 2), ("pen".to_string(), 1)].into());
    if let Some(reissued) = &taken.reissued {
        sid.clone_from(reissued);
    }
    let after = request(&s.store, &mut sid, Change::Touch).await.unwrap().session;
    assert!(after.cart.is_empty(), "the cart is still there: {:?}", after.cart);
    assert_eq!(after.requests, 4);
    let again = s.store.take_cart(&sid).await.unwrap().expect("session");
    assert!(again.session.cart.is_empty());
    for nobody in ["", "not-a-session", "AAAAAAAAAAAAAAAAAAAAAA"] {
        assert!(s.store.take_cart(nobody).await.unwrap().is_none());
    }
}

async fn concurrent_adds_and_checkouts_lose_no_item<S: SessionStore>(s: Subject<S>) {
    let (sid, _) = s.store.create(&name("judy"), "node-a", None).await.unwrap();
    let handles: Vec<_> = (0..120)
        .map(|i| {
            let store = s.store.clone();
            let sid = sid.clone();
            tokio::spawn(async move {
                if i % 10 == 0 {
                    store.take_cart(&sid).await.unwrap().unwrap().session.cart.get("book").copied().unwrap_or(0)
                } else {
                    store.update(&sid, add("book", 1)).await.unwrap().unwrap();
                    0
                }
            })
        })
        .collect();
    let mut taken = 0;
    for result in join_all(handles).await {
        taken += result.unwrap();
    }
    let left = s.store.update(&sid, Change::Touch).await.unwrap().unwrap().session.cart.get("book").copied();
    assert_eq!(taken + left.unwrap_or(0), 108, "every item added is either taken once or still in the cart");
}

async fn idle_sessions_expire_and_requests_renew_them<S: SessionStore>(s: Subject<S>) {
    // The macro builds this case's store with a 300 ms idle TTL. Time passing
    // is what is tested here, so this case waits on the clock.
    let (idle, _) = s.store.create(&name("gina"), "node-a", None).await.unwrap();
    let (mut kept, _) = s.store.create(&name("hank"), "node-a", None).await.unwrap();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(request(&s.store, &mut kept, Change::Touch).await.is_some(), "a renewed session expired");
    }
    assert!(s.store.update(&idle, Change::Touch).await.unwrap().is_none(), "an idle session outlived its TTL");
}

/// The idle TTL a case's store gets: 300 ms for the case that waits for
/// sessions to expire.
fn ttl_for(case: &str) -> Duration {
    if case.starts_with("idle") { Duration::from_millis(300) } else { TTL }
}

/// One test module: every listed case against the store `$subject` builds.
macro_rules! cases {
    ($module:ident, $subject:ident: $($case:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($subject(ttl_for(stringify!($case)))).await
                }
            )*
        }
    };
}

/// One test: every listed case, in turn, against a store `$subject` builds
/// on the one deployment `$start` starts.
macro_rules! on_one_topology {
    ($test:ident, $start:expr, $subject:ident: $($case:ident),* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let deployment = $start.expect("start the Redis deployment");
            $(
                eprintln!("case: {}", stringify!($case));
                $case($subject(&deployment, ttl_for(stringify!($case)))).await;
            )*
        }
    };
}

/// The whole suite, against every server-side store, the Redis one on
/// every topology.
macro_rules! parity {
    ($($case:ident),* $(,)?) => {
        cases!(memory_store, memory: $($case),*);
        cases!(redis_store, redis: $($case),*);
        cases!(postgres_store, postgres: $($case),*);
        on_one_topology!(redis_store_on_sentinel, SentinelSet::start(), on_sentinel: $($case),*);
        on_one_topology!(redis_store_on_cluster, RedisCluster::start(), on_cluster: $($case),*);
    };
}

parity!(
    a_new_session_is_empty_and_counts_requests,
    cart_adds_accumulate,
    the_lent_session_is_the_changed_one_with_its_cart_in_name_order,
    unknown_and_malformed_credentials_find_nothing,
    a_credential_one_character_off_finds_nothing,
    destroy_ends_the_session,
    a_new_login_ends_the_session_it_replaces,
    clones_share_sessions,
    concurrent_updates_lose_nothing,
    a_checkout_takes_the_cart_and_leaves_it_empty,
    concurrent_adds_and_checkouts_lose_no_item,
    idle_sessions_expire_and_requests_renew_them,
);

// A token cannot apply concurrent changes atomically (the client keeps one
// of two new tokens), and without a deny list it cannot end a session:
// those cases are left out here and their opposite is asserted in
// `tests/token.rs`.
cases!(
    token_store,
    token: a_new_session_is_empty_and_counts_requests,
    cart_adds_accumulate,
    the_lent_session_is_the_changed_one_with_its_cart_in_name_order,
    unknown_and_malformed_credentials_find_nothing,
    a_credential_one_character_off_finds_nothing,
    clones_share_sessions,
    a_checkout_takes_the_cart_and_leaves_it_empty,
    idle_sessions_expire_and_requests_renew_them,
);

cases!(
    token_store_with_deny_list,
    token_with_deny_list: a_new_session_is_empty_and_counts_requests,
    cart_adds_accumulate,
    the_lent_session_is_the_changed_one_with_its_cart_in_name_order,
    unknown_and_malformed_credentials_find_nothing,
    a_credential_one_character_off_finds_nothing,
    destroy_ends_the_session,
    a_new_login_ends_the_session_it_replaces,
    clones_share_sessions,
    a_checkout_takes_the_cart_and_leaves_it_empty,
    idle_sessions_expire_and_requests_renew_them,
);
