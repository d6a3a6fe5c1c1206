//! The token twin over HTTP: in-process apps (`spawn_app`) around a
//! `TokenStore`, and a client that handles the `sid` cookie by hand, as the
//! harness does, so a test decides which cookie it keeps.
//!
//! The API is the one the other twins serve; these tests cover what a user
//! of the token twin meets on top: a new cookie with every answer, bad tokens
//! as 401, a cart the cookie cannot hold as 400, logout that does not reach a
//! captured copy (unless the deny list is on), and lost concurrent updates.

use std::time::{Duration, Instant};

use local_redis::RedisServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions::{TokenKey, TokenStore};

use crate::helpers::{TestApp, set_cookie, spawn_app};

const TTL: Duration = Duration::from_secs(60);
const KEY: &[u8] = b"token-twin-tests-key-longer-than-32-bytes";

fn token_store(key: &[u8], ttl: Duration) -> TokenStore {
    TokenStore::new(TokenKey::new(key).unwrap(), ttl)
}

/// One running node, whose answers the tests read as [`Answer`]s.
struct Node(TestApp);

impl Node {
    async fn start(store: TokenStore, node_id: &str) -> Node {
        Node(spawn_app(store, node_id).await)
    }

    async fn send(&self, method: reqwest::Method, path: &str, sid: Option<&str>, body: Option<Value>) -> Answer {
        let response = self.0.send_json(method, path, sid, body).await;
        let status = response.status();
        let set_cookie = set_cookie(response.headers());
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") };
        Answer { status, set_cookie, retry_after, body }
    }

    async fn login(&self, user: &str, sid: Option<&str>) -> Answer {
        self.send(reqwest::Method::POST, "/login", sid, Some(json!({ "user": user }))).await
    }

    async fn me(&self, sid: &str) -> Answer {
        self.send(reqwest::Method::GET, "/me", Some(sid), None).await
    }

    async fn add(&self, sid: &str, item: &str, qty: i64) -> Answer {
        self.send(reqwest::Method::POST, "/cart", Some(sid), Some(json!({ "item": item, "qty": qty }))).await
    }

    async fn logout(&self, sid: &str) -> Answer {
        self.send(reqwest::Method::POST, "/logout", Some(sid), None).await
    }

    async fn healthz(&self) -> Answer {
        self.send(reqwest::Method::GET, "/healthz", None, None).await
    }
}

struct Answer {
    status: StatusCode,
    set_cookie: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

impl Answer {
    /// The new `sid` value this answer sets.
    fn sid(&self) -> String {
        let cookie = self.set_cookie.as_deref().expect("a Set-Cookie for sid");
        cookie.split(';').next().unwrap().strip_prefix("sid=").unwrap().to_string()
    }
}

/// Logs `user` in on `node` and returns the cookie.
async fn login(node: &Node, user: &str) -> String {
    let answer = node.login(user, None).await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.sid()
}

/// Two nodes sharing a key, and a deny list when `revocation` is given.
async fn pair(revocation: Option<&RedisServer>) -> (Node, Node) {
    let store = || {
        let store = token_store(KEY, TTL);
        match revocation {
            Some(redis) => store.with_revocation(&redis.url()).unwrap(),
            None => store,
        }
    };
    (Node::start(store(), "token-a").await, Node::start(store(), "token-b").await)
}

#[tokio::test]
async fn every_answer_reissues_the_cookie_and_any_node_serves_it() {
    let (a, b) = pair(None).await;
    let health = json!({
        "node": "token-a", "store": "token", "status": "ok",
        "orders": "memory", "rooms": "memory", "files": "dir",
    });
    assert_eq!(a.healthz().await.body, health);
    let login = a.login("alice", None).await;
    assert_eq!(login.body, json!({ "user": "alice", "node": "token-a" }));
    let cookie = login.set_cookie.clone().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    let mut sid = login.sid();

    // A client that always sends its latest cookie sees what the other twins
    // show, alternating nodes as round-robin routing would.
    let mut created_at = None;
    for n in 1..=4u64 {
        let node = if n % 2 == 0 { &a } else { &b };
        let me = node.me(&sid).await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["requests"], n);
        assert_eq!(me.body["user"], "alice");
        created_at.get_or_insert(me.body["created_at"].clone());
        assert_eq!(Some(&me.body["created_at"]), created_at.as_ref());
        let next = me.sid();
        assert_ne!(next, sid, "the cookie was not re-issued");
        sid = next;
    }
    let added = b.add(&sid, "book", 2).await;
    assert_eq!(added.body, json!({ "items": { "book": 2 } }));
    let added = a.add(&added.sid(), "book", 3).await;
    let cart = b.send(reqwest::Method::GET, "/cart", Some(&added.sid()), None).await;
    assert_eq!(cart.body, json!({ "items": { "book": 5 } }));
    assert!(cart.set_cookie.is_some());
}

#[tokio::test]
async fn forged_edited_expired_truncated_and_oversized_tokens_get_401() {
    let store = token_store(KEY, Duration::from_millis(300));
    let node = Node::start(store.clone(), "token-a").await;
    let sid = login(&node, "alice").await;
    let parts: Vec<&str> = sid.split('.').collect();

    // A token minted with another key for "mallory": its payload pasted under
    // alice's signature is the "edited payload, old signature" attack.
    let foreign = token_store(b"an-attackers-key-of-more-than-32-bytes", TTL);
    let (mallory, _) =
        sessions::SessionStore::create(&foreign, &sessions::Name::parse("mallory").unwrap(), "node-a", None)
            .await
            .unwrap();
    let edited = format!("{}.{}.{}", parts[0], mallory.split('.').nth(1).unwrap(), parts[2]);
    // {"alg":"none","typ":"JWT"} and no signature.
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    let truncated = sid[..sid.len() - 4].to_string();
    let oversized = format!("{sid}{}", "A".repeat(5000));

    for (what, bad) in [
        ("another key", mallory.as_str()),
        ("edited payload", &edited),
        ("alg none", &alg_none),
        ("truncated", &truncated),
        ("oversized", &oversized),
        ("garbage", "not.a.jwt"),
    ] {
        for path in ["/me", "/cart"] {
            let answer = node.send(reqwest::Method::GET, path, Some(bad), None).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what} on {path}");
            assert_eq!(answer.body, json!({ "error": "not logged in" }));
            assert!(answer.set_cookie.is_none(), "{what}: a cookie was issued");
        }
        assert_eq!(node.add(bad, "book", 1).await.status, StatusCode::UNAUTHORIZED, "{what}");
    }

    // Expired: wait (without using it, which would renew it) until the
    // token's TTL is over, then the node refuses it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.verify(&sid).is_some() {
        assert!(Instant::now() < deadline, "the token outlived its TTL by seconds");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(node.me(&sid).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cart_the_cookie_cannot_hold_is_a_400_and_the_old_cookie_still_works() {
    let (node, _) = pair(None).await;
    let mut sid = login(&node, "alice").await;
    let mut items = 0;
    let refused = loop {
        let answer = node.add(&sid, &format!("{items:x>64}"), 1000).await;
        if answer.status != StatusCode::OK {
            break answer;
        }
        let cookie = answer.set_cookie.as_deref().unwrap();
        assert!(cookie.len() <= 4096, "a Set-Cookie of {} bytes", cookie.len());
        sid = answer.sid();
        items += 1;
        assert!(items < 1000, "the cart never hit the cookie limit");
    };
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.body, json!({ "error": "cart too large: the session would not fit in its cookie" }));
    assert!(refused.set_cookie.is_none(), "the 400 replaced the cookie");
    let cart = node.send(reqwest::Method::GET, "/cart", Some(&sid), None).await;
    assert_eq!(cart.status, StatusCode::OK);
    assert_eq!(cart.body["items"].as_object().unwrap().len(), items);
    assert_eq!(node.me(&cart.sid()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_the_deny_list_a_logged_out_token_replays_on_every_node() {
    let (a, b) = pair(None).await;
    let sid = login(&a, "alice").await;
    let captured = a.me(&sid).await.sid();
    let logout = a.logout(&captured).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert!(logout.set_cookie.unwrap().starts_with("sid=;"), "the cookie is not cleared");
    // The browser forgot it; an attacker who kept a copy did not.
    assert_eq!(a.me(&captured).await.status, StatusCode::OK);
    assert_eq!(b.me(&captured).await.status, StatusCode::OK);
    assert_eq!(b.me(&sid).await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_the_deny_list_a_logged_out_token_is_refused_on_every_node() {
    let redis = RedisServer::start().expect("start redis-server");
    let (a, b) = pair(Some(&redis)).await;
    let first = login(&a, "alice").await;
    let latest = b.me(&first).await.sid();
    assert_eq!(a.logout(&latest).await.status, StatusCode::NO_CONTENT);
    for (node, name) in [(&a, "a"), (&b, "b")] {
        assert_eq!(node.me(&latest).await.status, StatusCode::UNAUTHORIZED, "node {name}, latest cookie");
        assert_eq!(node.me(&first).await.status, StatusCode::UNAUTHORIZED, "node {name}, earlier cookie");
    }
    // A login that brings a valid token ends it the same way.
    let old = login(&a, "bob").await;
    let new = b.login("bob", Some(&old)).await;
    assert_eq!(new.status, StatusCode::OK);
    assert_eq!(a.me(&old).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.me(&new.sid()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn without_the_deny_list_a_new_login_leaves_the_old_token_valid() {
    let (a, b) = pair(None).await;
    let old = login(&a, "bob").await;
    let new = a.login("bob", Some(&old)).await;
    assert_eq!(new.status, StatusCode::OK);
    assert_ne!(new.sid(), old);
    assert_eq!(b.me(&old).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_deny_list_outage_is_503_but_bad_tokens_stay_401() {
    let mut redis = RedisServer::start().expect("start redis-server");
    let (node, _) = pair(Some(&redis)).await;
    let sid = login(&node, "alice").await;
    redis.kill();
    let started = Instant::now();
    let me = node.me(&sid).await;
    assert_eq!(me.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(me.retry_after.as_deref(), Some("1"));
    assert_eq!(me.body, json!({ "error": "session store unavailable" }));
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let health = node.healthz().await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.body["status"], "store unavailable");
    // Checked before any lookup, so no outage shows through.
    assert_eq!(node.me("forged.token.value").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(node.logout(&sid).await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn two_concurrent_updates_from_one_client_keep_only_the_cookie_it_keeps() {
    let (a, b) = pair(None).await;
    let sid = login(&a, "frank").await;
    // Two tabs, one cookie, sent at once (to two nodes, as round-robin would).
    let (book, pen) = tokio::join!(a.add(&sid, "book", 1), b.add(&sid, "pen", 1));
    assert_eq!((book.status, pen.status), (StatusCode::OK, StatusCode::OK));
    // Each answer is right about its own change and sets its own cookie ...
    assert_eq!(book.body, json!({ "items": { "book": 1 } }));
    assert_eq!(pen.body, json!({ "items": { "pen": 1 } }));
    assert_ne!(book.sid(), pen.sid());
    // ... and the browser keeps the one that arrived last: the other change
    // is lost. The server-side twins would show both items here.
    let cart = a.send(reqwest::Method::GET, "/cart", Some(&pen.sid()), None).await;
    assert_eq!(cart.body, json!({ "items": { "pen": 1 } }));
    let cart = a.send(reqwest::Method::GET, "/cart", Some(&book.sid()), None).await;
    assert_eq!(cart.body, json!({ "items": { "book": 1 } }));
}
