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

use std::time::{Duration, Instant};

use futures::future::join_all;
use local_postgres::PostgresServer;
use local_redis::{RedisCluster, RedisServer, SentinelSet};
use sessions::{
    Change, DEFAULT_MAX_AGE, MemoryStore, Name, PostgresSettings, PostgresStore, Reach, RedisHaSettings, RedisHaStore,
    RedisSettings, RedisStore, RedisTopology, SessionInfo, SessionStore, TokenKey, TokenStore, Updated,
};

const TTL: Duration = Duration::from_secs(60);

/// The idle timeout and the absolute lifetime a case's store gets.
#[derive(Clone, Copy)]
struct Lifetimes {
    ttl: Duration,
    max_age: Duration,
}

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

fn memory(life: Lifetimes) -> Subject<MemoryStore> {
    Subject { store: MemoryStore::new(life.ttl).with_max_age(life.max_age), _redis: None }
}

fn redis(life: Lifetimes) -> Subject<RedisStore> {
    let server = RedisServer::start().expect("start redis-server");
    let settings = RedisSettings { max_age: life.max_age, ..RedisSettings::new(server.url(), life.ttl) };
    Subject { store: RedisStore::new(&settings).unwrap(), _redis: Some(server) }
}

fn postgres(life: Lifetimes) -> Subject<PostgresStore> {
    let server = PostgresServer::shared().expect("start postgres");
    let url = server.create_database().expect("create a database");
    let settings = PostgresSettings { max_age: life.max_age, ..PostgresSettings::new(url, life.ttl) };
    Subject { store: PostgresStore::new(&settings).unwrap(), _redis: None }
}

fn on_topology(topology: RedisTopology, life: Lifetimes) -> Subject<RedisHaStore> {
    let settings = RedisHaSettings { max_age: life.max_age, ..RedisHaSettings::new(topology, life.ttl) };
    Subject { store: RedisHaStore::new(&settings).unwrap(), _redis: None }
}

fn on_sentinel(set: &SentinelSet, life: Lifetimes) -> Subject<RedisHaStore> {
    let sentinels = RedisTopology::addresses(&set.sentinel_addrs());
    on_topology(RedisTopology::Sentinel { sentinels, master: set.master_name().to_string() }, life)
}

fn on_cluster(cluster: &RedisCluster, life: Lifetimes) -> Subject<RedisHaStore> {
    on_topology(RedisTopology::Cluster { seeds: RedisTopology::addresses(&cluster.seeds()) }, life)
}

fn token(life: Lifetimes) -> Subject<TokenStore> {
    Subject { store: TokenStore::new(test_key(), life.ttl).with_max_age(life.max_age), _redis: None }
}

fn token_with_deny_list(life: Lifetimes) -> Subject<TokenStore> {
    let server = RedisServer::start().expect("start redis-server");
    let store =
        TokenStore::new(test_key(), life.ttl).with_max_age(life.max_age).with_revocation(&server.url()).unwrap();
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

/// The absolute lifetime of the `absolute_…` case's store.
const SHORT_MAX_AGE: Duration = Duration::from_secs(1);

/// How far a store's listing reaches, and how far its `end_all` does
/// (the contract's table).
fn reach_of<S: SessionStore>(store: &S) -> (Reach, Reach) {
    match store.kind() {
        "memory" => (Reach::Node, Reach::Node),
        "token" => (Reach::Caller, Reach::Everywhere),
        _ => (Reach::Everywhere, Reach::Everywhere),
    }
}

/// The node a store lists for a session created on `node`: the RAM store
/// keeps none (every session it holds is this node's).
fn listed_node<S: SessionStore>(store: &S, node: &str) -> Option<String> {
    (store.kind() != "memory").then(|| node.to_string())
}

/// `user`'s listing, asked with `current`, checked for the store's reach.
async fn listed<S: SessionStore>(store: &S, user: &str, current: &str) -> Vec<SessionInfo> {
    let listed = store.sessions(&name(user), current).await.unwrap();
    assert_eq!(listed.reach, reach_of(store).0, "{}", store.kind());
    listed.sessions
}

/// Waits until the clock has passed the millisecond `ms`.
async fn after_millisecond(ms: u64) {
    while sessions::now_ms() <= ms {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn handles(sessions: &[SessionInfo]) -> Vec<&str> {
    sessions.iter().map(|info| info.handle.as_str()).collect()
}

/// Every store lists at least the caller's own session, with its handle
/// and creation time, and a last use no earlier than its creation.
async fn the_listing_shows_the_callers_own_session<S: SessionStore>(s: Subject<S>) {
    let (mut sid, created) = s.store.create(&name("kate"), "node-a", None).await.unwrap();
    request(&s.store, &mut sid, Change::Touch).await.expect("session");
    let handle = s.store.handle(&sid).expect("a handle for a live credential");
    assert_eq!(handle.len(), 16);
    assert!(handle.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{handle}");
    let sessions = listed(&s.store, "kate", &sid).await;
    let own = sessions.iter().find(|info| info.handle == handle).expect("the caller's session is listed");
    assert_eq!(own.created_at, created.created_at);
    assert!(own.last_seen >= own.created_at && own.last_seen <= sessions::now_ms(), "{own:?}");
    if s.store.kind() != "token" {
        assert_eq!(own.node, listed_node(&s.store, "node-a"));
    }
}

/// Two nodes (two handles on one store: clones are what a server gives its
/// workers, and on a shared backend, what another node holds) each log
/// the user in: either lists both, oldest first, each with its node, and
/// no one else's.
async fn sessions_made_on_two_nodes_are_listed_on_either<S: SessionStore>(s: Subject<S>) {
    let other = s.store.clone();
    let (first, session) = s.store.create(&name("liam"), "node-a", None).await.unwrap();
    // Oldest first: the second login comes a millisecond later at least.
    after_millisecond(session.created_at).await;
    let (second, _) = other.create(&name("liam"), "node-b", None).await.unwrap();
    let (stranger, _) = s.store.create(&name("mona"), "node-a", None).await.unwrap();
    let expected = [s.store.handle(&first).unwrap(), s.store.handle(&second).unwrap()];
    for (store, current) in [(&s.store, &first), (&other, &second)] {
        let sessions = listed(store, "liam", current).await;
        assert_eq!(handles(&sessions), expected, "both, oldest first");
        assert!(sessions[0].created_at <= sessions[1].created_at);
        assert_eq!(sessions[0].node, listed_node(&s.store, "node-a"));
        assert_eq!(sessions[1].node, listed_node(&s.store, "node-b"));
    }
    assert_eq!(handles(&listed(&s.store, "mona", &stranger).await), [s.store.handle(&stranger).unwrap()]);
}

/// Ending every session of a user from one node ends the one made on the
/// other too, and no other user's; the user can log in again afterwards.
async fn ending_all_sessions_ends_them_on_every_node<S: SessionStore>(s: Subject<S>) {
    let other = s.store.clone();
    let (first, _) = s.store.create(&name("nina"), "node-a", None).await.unwrap();
    let (mut second, _) = other.create(&name("nina"), "node-b", None).await.unwrap();
    let (mut stranger, _) = s.store.create(&name("omar"), "node-a", None).await.unwrap();
    request(&other, &mut second, Change::Touch).await.expect("session");
    let ended = s.store.end_all(&name("nina"), &first).await.unwrap();
    assert_eq!(ended.reach, reach_of(&s.store).1);
    if s.store.kind() != "token" {
        // A token store ends them by time, without a list to count.
        assert_eq!(ended.count, 2);
    }
    assert!(other.update(&second, Change::Touch).await.unwrap().is_none(), "the other node's session lived on");
    assert!(s.store.update(&first, Change::Touch).await.unwrap().is_none(), "the caller's session lived on");
    assert!(s.store.take_cart(&first).await.unwrap().is_none());
    assert!(request(&s.store, &mut stranger, Change::Touch).await.is_some(), "another user's session ended");

    // A token store refuses what was created up to the millisecond of the
    // end: the next login comes after it.
    after_millisecond(sessions::now_ms()).await;
    let (mut again, _) = other.create(&name("nina"), "node-b", None).await.unwrap();
    assert!(request(&s.store, &mut again, Change::Touch).await.is_some(), "a login after the end was refused");
    let sessions = listed(&s.store, "nina", &again).await;
    assert_eq!(handles(&sessions), [s.store.handle(&again).unwrap()]);
}

/// A session logged out, replaced by a new login, ended by its handle or
/// idled out is never listed; the live ones are. (The store's idle TTL is
/// 300 ms here: the live session is renewed while the idle one runs out.)
async fn idle_or_ended_sessions_are_never_listed<S: SessionStore>(s: Subject<S>) {
    let user = name("pete");
    let (mut live, _) = s.store.create(&user, "node-a", None).await.unwrap();
    let (idle, _) = s.store.create(&user, "node-a", None).await.unwrap();
    let (logged_out, _) = s.store.create(&user, "node-a", None).await.unwrap();
    let (replaced, _) = s.store.create(&user, "node-a", None).await.unwrap();
    let (replacing, _) = s.store.create(&user, "node-b", Some(&replaced)).await.unwrap();
    let (ended, _) = s.store.create(&user, "node-a", None).await.unwrap();
    s.store.destroy(&logged_out).await.unwrap();
    assert!(s.store.end_one(&user, &live, &s.store.handle(&ended).unwrap()).await.unwrap());
    let gone = [&logged_out, &replaced, &ended].map(|sid| s.store.handle(sid).unwrap());
    let (live_handle, idle_handle) = (s.store.handle(&live).unwrap(), s.store.handle(&idle).unwrap());

    let sessions = listed(&s.store, "pete", &live).await;
    for handle in &gone {
        assert!(!handles(&sessions).contains(&handle.as_str()), "an ended session is listed: {sessions:?}");
    }
    for handle in [&live_handle, &s.store.handle(&replacing).unwrap()] {
        assert!(handles(&sessions).contains(&handle.as_str()), "a live session is not listed: {sessions:?}");
    }

    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        request(&s.store, &mut live, Change::Touch).await.expect("a renewed session expired");
        let sessions = listed(&s.store, "pete", &live).await;
        assert!(handles(&sessions).contains(&live_handle.as_str()), "the live session is not listed");
        if !handles(&sessions).contains(&idle_handle.as_str()) {
            break;
        }
        assert!(Instant::now() < give_up, "an idle session is still listed after 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.store.update(&idle, Change::Touch).await.unwrap().is_none());
}

/// Another user's handle (or a made-up one) is unknown to `end_one`, and
/// the session behind it lives on.
async fn another_users_handle_is_unknown<S: SessionStore>(s: Subject<S>) {
    let (mut mine, _) = s.store.create(&name("quinn"), "node-a", None).await.unwrap();
    let (mut theirs, _) = s.store.create(&name("rosa"), "node-a", None).await.unwrap();
    let their_handle = s.store.handle(&theirs).unwrap();
    for handle in [their_handle.as_str(), "0123456789abcdef", "", "not a handle", &"f".repeat(4096)] {
        assert!(!s.store.end_one(&name("quinn"), &mine, handle).await.unwrap(), "{handle:?} was ended");
    }
    assert!(request(&s.store, &mut theirs, Change::Touch).await.is_some(), "another user's session ended");
    assert!(request(&s.store, &mut mine, Change::Touch).await.is_some(), "the caller's session ended");
}

/// Ending one of one's own sessions by its handle, from another node, ends
/// that one only; ending it again finds nothing.
async fn ending_one_session_ends_only_that_one<S: SessionStore>(s: Subject<S>) {
    let other = s.store.clone();
    let (mut first, _) = s.store.create(&name("sam"), "node-a", None).await.unwrap();
    let (second, _) = other.create(&name("sam"), "node-b", None).await.unwrap();
    let handle = s.store.handle(&second).unwrap();
    assert!(s.store.end_one(&name("sam"), &first, &handle).await.unwrap());
    assert!(other.update(&second, Change::Touch).await.unwrap().is_none(), "the ended session lived on");
    assert!(request(&s.store, &mut first, Change::Touch).await.is_some(), "the caller's session ended too");
    assert_eq!(handles(&listed(&s.store, "sam", &first).await), [s.store.handle(&first).unwrap()]);
    assert!(!s.store.end_one(&name("sam"), &first, &handle).await.unwrap(), "ended twice");
}

/// A session can end itself by its own handle (what `DELETE
/// /sessions/{handle}` does when the handle is the caller's).
async fn a_session_can_end_itself_by_its_handle<S: SessionStore>(s: Subject<S>) {
    let (mut sid, _) = s.store.create(&name("tara"), "node-a", None).await.unwrap();
    request(&s.store, &mut sid, Change::Touch).await.expect("session");
    let handle = s.store.handle(&sid).unwrap();
    assert!(s.store.end_one(&name("tara"), &sid, &handle).await.unwrap());
    assert!(s.store.update(&sid, Change::Touch).await.unwrap().is_none(), "the session lived on");
}

/// A session ends at its absolute lifetime however active it is: updated
/// without a pause (its idle TTL is a minute), it answers "no such
/// session" once a second has passed since its login, and not before; a
/// checkout of another session as old finds nothing either; neither is
/// listed.
async fn absolute_lifetime_ends_even_an_active_session<S: SessionStore>(s: Subject<S>) {
    let user = name("uma");
    let born = Instant::now();
    // The session with a cart is the older: once the active one has ended,
    // so has it.
    let (mut with_cart, _) = s.store.create(&user, "node-a", None).await.unwrap();
    let (mut active, _) = s.store.create(&user, "node-a", None).await.unwrap();
    request(&s.store, &mut with_cart, add("book", 1)).await.expect("session");
    let give_up = born + SHORT_MAX_AGE + Duration::from_secs(10);
    let mut served = 0;
    loop {
        let answer = request(&s.store, &mut active, Change::Touch).await;
        let age = born.elapsed();
        match answer {
            Some(_) => served += 1,
            None => {
                // Clocks tick in milliseconds (the RAM store's in a few):
                // the end may come a tick before the exact second.
                assert!(age + Duration::from_millis(20) >= SHORT_MAX_AGE, "ended after {age:?}");
                break;
            }
        }
        assert!(Instant::now() < give_up, "a session outlived its absolute lifetime by 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served > 0, "the session never served");
    assert!(s.store.update(&active, Change::Touch).await.unwrap().is_none(), "an ended session came back");
    assert!(s.store.take_cart(&with_cart).await.unwrap().is_none(), "a checkout past the lifetime");
    assert!(s.store.update(&with_cart, Change::Touch).await.unwrap().is_none());

    let (fresh, _) = s.store.create(&user, "node-a", None).await.unwrap();
    let sessions = listed(&s.store, "uma", &fresh).await;
    assert_eq!(handles(&sessions), [s.store.handle(&fresh).unwrap()], "a session past its lifetime is listed");
}

/// The lifetimes a case's store gets: an idle TTL of 300 ms for the cases
/// that wait for sessions to idle out (named `idle_…`), an absolute
/// lifetime of one second for the one that waits for it (named
/// `absolute_…`), the defaults otherwise.
fn lifetimes_for(case: &str) -> Lifetimes {
    if case.starts_with("idle") {
        Lifetimes { ttl: Duration::from_millis(300), max_age: DEFAULT_MAX_AGE }
    } else if case.starts_with("absolute") {
        Lifetimes { ttl: TTL, max_age: SHORT_MAX_AGE }
    } else {
        Lifetimes { ttl: TTL, max_age: DEFAULT_MAX_AGE }
    }
}

/// One test module: every listed case against the store `$subject` builds.
macro_rules! cases {
    ($module:ident, $subject:ident: $($case:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($subject(lifetimes_for(stringify!($case)))).await
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
                $case($subject(&deployment, lifetimes_for(stringify!($case)))).await;
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
    the_listing_shows_the_callers_own_session,
    sessions_made_on_two_nodes_are_listed_on_either,
    ending_all_sessions_ends_them_on_every_node,
    idle_or_ended_sessions_are_never_listed,
    another_users_handle_is_unknown,
    ending_one_session_ends_only_that_one,
    a_session_can_end_itself_by_its_handle,
    absolute_lifetime_ends_even_an_active_session,
);

// A token cannot apply concurrent changes atomically (the client keeps one
// of two new tokens), without a deny list it cannot end a session, and it
// lists only the caller's own session (it keeps no list), so it cannot
// show or end another of the user's sessions by its handle: those cases
// are left out here and their opposite is asserted in `tests/token.rs`.
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
    the_listing_shows_the_callers_own_session,
    another_users_handle_is_unknown,
    absolute_lifetime_ends_even_an_active_session,
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
    the_listing_shows_the_callers_own_session,
    ending_all_sessions_ends_them_on_every_node,
    another_users_handle_is_unknown,
    a_session_can_end_itself_by_its_handle,
    absolute_lifetime_ends_even_an_active_session,
);
