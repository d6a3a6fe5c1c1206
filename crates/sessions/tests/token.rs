//! What only the token store has to prove, and where it differs from the
//! server-side stores on purpose: the session lives in the credential, so a
//! forged, edited or expired credential must be refused on its own, a
//! logged-out token lives on unless a deny list is used, two concurrent
//! requests with one token lose one of the two changes, and a user's
//! sessions can be listed only as far as the caller's own token and ended
//! all at once only through the deny list.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use local_redis::RedisServer;
use serde_json::{Value, json};
use sessions::token::{MAX_TOKEN_LEN, NEEDS_DENY_LIST, REVOCATION_MARGIN};
use sessions::{
    Change, DEFAULT_MAX_AGE, Name, Reach, Session, SessionStore, StoreError, TokenKey, TokenKeyError, TokenStore,
    now_ms,
};

const TTL: Duration = Duration::from_secs(60);
const SECRET: &[u8] = b"token-tests-key-with-more-than-32-bytes";

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn store() -> TokenStore {
    TokenStore::new(TokenKey::new(SECRET).unwrap(), TTL)
}

fn add(item: &str, qty: u32) -> Change {
    Change::AddItem { item: name(item), qty }
}

/// The payload of a token, decoded without checking anything.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// `token` with its payload replaced and its signature kept.
fn with_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{body}.{}", parts[0], parts[2])
}

#[test]
fn keys_shorter_than_32_bytes_are_refused() {
    for len in [0, 1, 31] {
        match TokenKey::new(&vec![b'k'; len]) {
            Err(TokenKeyError::TooShort(got)) => assert_eq!(got, len),
            Ok(_) => panic!("a {len}-byte key was accepted"),
        }
    }
    assert!(TokenKey::new(&[b'k'; 32]).is_ok());
    let debug = format!("{:?}", TokenKey::new(SECRET).unwrap());
    assert!(!debug.contains("token-tests"), "the key leaks through Debug: {debug}");
}

#[tokio::test]
async fn the_whole_session_is_in_the_token_and_each_answer_reissues_it() {
    let store = store();
    let (first, created) = store.create(&name("alice"), "node-a", None).await.unwrap();
    assert!(first.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')), "not cookie-safe");
    let claims = payload(&first);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["requests"], 0);
    let jti = claims["jti"].as_str().unwrap().to_string();
    assert_eq!(store.token_id(&first).as_deref(), Some(jti.as_str()));

    let updated = store.update(&first, add("book", 2)).await.unwrap().unwrap();
    let second = updated.reissued.expect("a token store re-issues");
    assert_ne!(second, first);
    assert_eq!(updated.session.requests, 1);
    assert_eq!(updated.session.created_at, created.created_at);
    // The new token carries the new state; the id names the session and stays.
    let claims = payload(&second);
    assert_eq!(claims["cart"]["book"], 2);
    assert_eq!(claims["requests"], 1);
    assert_eq!(claims["jti"], jti.as_str());
    assert_eq!(store.verify(&second).unwrap().cart.get("book"), Some(&2));
    // Any node with the key reads it: the store keeps nothing.
    let elsewhere = store_with(SECRET);
    assert_eq!(elsewhere.verify(&second), Some(updated.session));
}

fn store_with(secret: &[u8]) -> TokenStore {
    TokenStore::new(TokenKey::new(secret).unwrap(), TTL)
}

#[tokio::test]
async fn a_node_with_another_key_refuses_the_token() {
    let (token, _) = store().create(&name("alice"), "node-a", None).await.unwrap();
    let other = store_with(b"another-key-that-is-also-32-bytes-long");
    assert!(other.update(&token, Change::Touch).await.unwrap().is_none());
    assert!(other.verify(&token).is_none());
}

#[tokio::test]
async fn forged_edited_truncated_and_oversized_tokens_are_refused() {
    let store = store();
    let (token, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    let mut claims = payload(&token);

    // The payload edited, the old signature kept.
    claims["requests"] = json!(1_000_000);
    let edited = with_payload(&token, &claims);
    // `alg: none` with no signature, the classic JWT forgery.
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", URL_SAFE_NO_PAD.encode(payload(&token).to_string()));
    // Signed correctly, but with another algorithm of the same family.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &payload(&token),
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    let truncated = &token[..token.len() - 5];
    let oversized = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));

    for (what, bad) in [
        ("edited", edited.as_str()),
        ("alg none", unsigned.as_str()),
        ("HS512", hs512.as_str()),
        ("truncated", truncated),
        ("oversized", oversized.as_str()),
        ("two parts", &token[..token.rfind('.').unwrap()]),
    ] {
        assert!(store.update(bad, Change::Touch).await.unwrap().is_none(), "{what} token accepted");
        assert!(store.verify(bad).is_none(), "{what} token verified");
    }
    // The genuine one still works.
    assert!(store.update(&token, Change::Touch).await.unwrap().is_some());
}

#[tokio::test]
async fn a_token_past_its_millisecond_expiry_is_refused() {
    // Signed with the right key, whole-second `exp` still in the future, but
    // the precise `exp_ms` already past: the store goes by `exp_ms`.
    let now = now_ms();
    let claims = json!({
        "jti": sessions::SessionId::generate().to_string(), "sub": "alice", "created_at": now - 10_000,
        "requests": 3, "cart": {}, "exp": now / 1000 + 60, "exp_ms": now - 1,
    });
    let expired =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET).unwrap())
            .unwrap();
    assert!(store().update(&expired, Change::Touch).await.unwrap().is_none());

    // And one the store issued itself, once its TTL is over.
    let short = TokenStore::new(TokenKey::new(SECRET).unwrap(), Duration::from_millis(20));
    let (token, _) = short.create(&name("alice"), "node-a", None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while short.verify(&token).is_some() {
        assert!(Instant::now() < deadline, "the token outlived its TTL by seconds");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(short.update(&token, Change::Touch).await.unwrap().is_none());
}

#[tokio::test]
async fn each_reissue_slides_the_expiry() {
    let store = store();
    let (token, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    let first_exp = payload(&token)["exp_ms"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let next = store.update(&token, Change::Touch).await.unwrap().unwrap().reissued.unwrap();
    let next_exp = payload(&next)["exp_ms"].as_u64().unwrap();
    assert!(next_exp >= first_exp + 20, "expiry did not move: {first_exp} -> {next_exp}");
    assert!(next_exp <= now_ms() + 60_000);
    assert_eq!(payload(&next)["exp"].as_u64().unwrap(), next_exp.div_ceil(1000));
}

#[tokio::test]
async fn concurrent_updates_with_one_token_keep_only_one_change() {
    let store = store();
    let (token, _) = store.create(&name("frank"), "node-a", None).await.unwrap();
    let (book, pen) = tokio::join!(store.update(&token, add("book", 1)), store.update(&token, add("pen", 1)));
    let (book, pen) = (book.unwrap().unwrap(), pen.unwrap().unwrap());
    // Each answer started from the same state and carries a new cookie ...
    let (book_token, pen_token) = (book.reissued.unwrap(), pen.reissued.unwrap());
    assert_ne!(book_token, pen_token);
    // ... so whichever the client keeps, the other change is gone: the
    // server-side stores would show both items and two requests.
    for (kept, has, lost) in [(&book_token, "book", "pen"), (&pen_token, "pen", "book")] {
        let next = store.update(kept, Change::Touch).await.unwrap().unwrap().session;
        assert_eq!(next.cart.get(has), Some(&1));
        assert_eq!(next.cart.get(lost), None, "the {lost} update survived");
        assert_eq!(next.requests, 2, "one of the two counted requests is lost");
    }
}

#[tokio::test]
async fn a_cart_that_outgrows_the_cookie_is_refused_and_the_last_token_still_works() {
    let store = store();
    let (mut token, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    let mut added = 0;
    let refused = loop {
        let item = format!("{added:0>64}");
        match store.update(&token, add(&item, 1000)).await {
            Ok(Some(updated)) => {
                token = updated.reissued.unwrap();
                assert!(token.len() <= MAX_TOKEN_LEN);
                added += 1;
            }
            Ok(None) => panic!("the token stopped verifying after {added} items"),
            Err(e) => break e,
        }
        assert!(added < 1000, "the cart never hit the cookie limit");
    };
    assert!(matches!(refused, StoreError::TooLarge(_)), "{refused:?}");
    assert!(added > 10, "only {added} items fit");
    // The client still holds its last token, and counting requests on a full
    // cart must keep working (the headroom), for many requests.
    for _ in 0..100 {
        let updated = store.update(&token, Change::Touch).await.unwrap().expect("the last token works");
        assert_eq!(updated.session.cart.len(), added);
        token = updated.reissued.unwrap();
    }
}

/// Two "nodes" sharing a key and a deny list, and the Redis behind it.
struct DenyList {
    a: TokenStore,
    b: TokenStore,
    redis: RedisServer,
}

fn deny_list() -> DenyList {
    let redis = RedisServer::start().expect("start redis-server");
    let node = || store().with_revocation(&redis.url()).unwrap();
    DenyList { a: node(), b: node(), redis }
}

#[tokio::test]
async fn without_a_deny_list_a_logged_out_token_stays_valid() {
    let (node_a, node_b) = (store(), store());
    let (token, _) = node_a.create(&name("alice"), "node-a", None).await.unwrap();
    node_a.destroy(&token).await.unwrap();
    // The cookie is gone from the browser, but a captured copy replays fine,
    // on this node and on any other with the key.
    assert!(node_a.update(&token, Change::Touch).await.unwrap().is_some());
    assert!(node_b.update(&token, Change::Touch).await.unwrap().is_some());
    // Same for the token a new login replaced.
    let (_, _) = node_a.create(&name("alice"), "node-a", Some(&token)).await.unwrap();
    assert!(node_b.update(&token, Change::Touch).await.unwrap().is_some());
    assert!(!node_a.revokes());
}

#[tokio::test]
async fn with_a_deny_list_logout_refuses_every_copy_on_every_node() {
    let d = deny_list();
    let (first, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    let latest = d.a.update(&first, Change::Touch).await.unwrap().unwrap().reissued.unwrap();
    let jti = d.a.token_id(&latest).unwrap();

    d.b.destroy(&latest).await.unwrap();
    for (node, name) in [(&d.a, "a"), (&d.b, "b")] {
        assert!(node.update(&latest, Change::Touch).await.unwrap().is_none(), "node {name} accepts the latest");
        assert!(node.update(&first, Change::Touch).await.unwrap().is_none(), "node {name} accepts an earlier copy");
    }
    // The documented layout: `revoked:<jti>`, living as long as any copy of
    // the session could (one TTL, plus the margin for requests in flight).
    let key = TokenStore::revocation_key(&jti);
    assert_eq!(key, format!("revoked:{jti}"));
    let pttl: u64 = d.redis.command(&["PTTL", &key]).unwrap().trim().parse().unwrap();
    let most = (TTL + REVOCATION_MARGIN).as_millis() as u64;
    assert!(pttl > most - 5_000 && pttl <= most, "PTTL {pttl} ms, expected about {most}");
    // Other sessions are untouched.
    let (other, _) = d.a.create(&name("bob"), "node-a", None).await.unwrap();
    assert!(d.b.update(&other, Change::Touch).await.unwrap().is_some());
}

#[tokio::test]
async fn a_copy_refreshed_after_the_logged_out_one_stays_refused_after_that_one_expires() {
    // Time is what is tested: a 400 ms TTL, and a copy refreshed 200 ms
    // after the one the user logs out with.
    let redis = RedisServer::start().expect("start redis-server");
    let node = TokenStore::new(TokenKey::new(SECRET).unwrap(), Duration::from_millis(400))
        .with_revocation(&redis.url())
        .unwrap();
    let (shown, _) = node.create(&name("alice"), "node-a", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let captured = node.update(&shown, Change::Touch).await.unwrap().unwrap().reissued.unwrap();
    node.destroy(&shown).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.verify(&shown).is_some() {
        assert!(Instant::now() < deadline, "the token outlived its TTL by seconds");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The logged-out token is past its own expiry; the refreshed copy is not,
    // and the deny list must still hold its id.
    assert!(node.verify(&captured).is_some(), "the copy expired too early for this test to say anything");
    assert!(node.update(&captured, Change::Touch).await.unwrap().is_none(), "the refreshed copy came back");
}

#[tokio::test]
async fn with_a_deny_list_a_new_login_ends_the_token_it_replaces() {
    let d = deny_list();
    let (old, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    let (new, _) = d.a.create(&name("alice"), "node-a", Some(&old)).await.unwrap();
    assert!(d.b.update(&old, Change::Touch).await.unwrap().is_none());
    assert!(d.b.update(&new, Change::Touch).await.unwrap().is_some());
}

#[tokio::test]
async fn bad_tokens_are_refused_without_asking_the_deny_list() {
    let mut d = deny_list();
    let (token, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    let mut claims = payload(&token);
    claims["sub"] = json!("mallory");
    let edited = with_payload(&token, &claims);
    d.redis.kill();
    // Redis is gone: a lookup would fail with Unavailable. These never get
    // that far, so they are a plain "no session", at once.
    for bad in [edited.as_str(), "garbage", &token[..20]] {
        assert!(d.a.update(bad, Change::Touch).await.unwrap().is_none());
        d.a.destroy(bad).await.unwrap();
    }
    // A good token does need the list, and says so rather than guess.
    let started = Instant::now();
    let outage = d.a.update(&token, Change::Touch).await;
    assert!(matches!(outage, Err(StoreError::Unavailable(_))), "{outage:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(d.a.health().await.is_err());
    // Without a deny list there is nothing to be down.
    assert!(store().health().await.is_ok());
}

#[test]
fn signing_and_reading_back_agree() {
    let store = store();
    let mut session = Session::new(&name("alice"));
    session.cart.insert("book".into(), 2);
    let token = store.sign(&session).unwrap();
    assert_eq!(store.verify(&token), Some(session));
}

#[tokio::test]
async fn a_sessions_handle_stays_the_same_across_reissues() {
    let store = store();
    let (first, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    let second = store.update(&first, Change::Touch).await.unwrap().unwrap().reissued.unwrap();
    let third = store.update(&second, add("book", 1)).await.unwrap().unwrap().reissued.unwrap();
    let handle = store.handle(&first).unwrap();
    assert_eq!(handle, sessions::id::handle(&store.token_id(&first).unwrap()), "the handle is the jti's");
    assert_eq!(store.handle(&second).as_deref(), Some(handle.as_str()));
    assert_eq!(store.handle(&third).as_deref(), Some(handle.as_str()));
    let (other, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    assert_ne!(store.handle(&other).unwrap(), handle);
    assert_eq!(store.handle("garbage"), None);
}

#[tokio::test]
async fn a_listing_shows_the_callers_own_token_only() {
    let store = store();
    let (mine, created) = store.create(&name("alice"), "node-a", None).await.unwrap();
    let (other_tab, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    let listed = store.sessions(&name("alice"), &mine).await.unwrap();
    assert_eq!(listed.reach, Reach::Caller);
    assert_eq!(listed.sessions.len(), 1, "the store keeps no list: {listed:?}");
    let info = &listed.sessions[0];
    assert_eq!(info.handle, store.handle(&mine).unwrap());
    assert_ne!(info.handle, store.handle(&other_tab).unwrap());
    assert_eq!(info.created_at, created.created_at);
    assert!(info.last_seen >= info.created_at && info.last_seen <= now_ms());
    assert_eq!(info.node, None);
    // Never another user's token, even shown by its holder.
    assert!(store.sessions(&name("bob"), &mine).await.unwrap().sessions.is_empty());
}

#[tokio::test]
async fn without_a_deny_list_sessions_cannot_be_ended_by_name_or_all_at_once() {
    let store = store();
    let (mine, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    let (other_tab, _) = store.create(&name("alice"), "node-a", None).await.unwrap();
    match store.end_all(&name("alice"), &mine).await {
        Err(StoreError::Unsupported(why)) => assert_eq!(why, NEEDS_DENY_LIST),
        other => panic!("{other:?}"),
    }
    assert_eq!(NEEDS_DENY_LIST, "ending every session needs a deny list: start token-server with --revocation-redis");
    let own = store.handle(&mine).unwrap();
    assert!(matches!(store.end_one(&name("alice"), &mine, &own).await, Err(StoreError::Unsupported(_))));
    // A handle that is not the caller's is simply unknown.
    let other = store.handle(&other_tab).unwrap();
    assert!(!store.end_one(&name("alice"), &mine, &other).await.unwrap());
    assert!(!store.end_one(&name("alice"), &mine, "0123456789abcdef").await.unwrap());
    // Nothing was ended.
    assert!(store.update(&mine, Change::Touch).await.unwrap().is_some());
    assert!(store.update(&other_tab, Change::Touch).await.unwrap().is_some());
}

#[tokio::test]
async fn with_a_deny_list_ending_every_session_refuses_all_of_the_users_tokens_on_every_node() {
    let d = deny_list();
    // Two sessions of alice made on two nodes, one of them re-issued, and bob's.
    let (on_a, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    let earlier_copy = on_a.clone();
    let on_a = d.b.update(&on_a, Change::Touch).await.unwrap().unwrap().reissued.unwrap();
    let (on_b, _) = d.b.create(&name("alice"), "node-b", None).await.unwrap();
    let (bobs, _) = d.a.create(&name("bob"), "node-a", None).await.unwrap();

    let ended = d.b.end_all(&name("alice"), &on_b).await.unwrap();
    assert_eq!((ended.count, ended.reach), (1, Reach::Everywhere), "at least the caller's, everywhere");
    for (node, node_name) in [(&d.a, "a"), (&d.b, "b")] {
        for (token, which) in [(&on_a, "a's"), (&earlier_copy, "an earlier copy of a's"), (&on_b, "b's")] {
            assert!(node.update(token, Change::Touch).await.unwrap().is_none(), "node {node_name} accepts {which}");
            assert!(node.take_cart(token).await.unwrap().is_none(), "node {node_name} checks out {which}");
        }
        assert!(node.update(&bobs, Change::Touch).await.unwrap().is_some(), "node {node_name} refuses bob");
    }

    // The documented layout: the time of the end, kept as long as a
    // session can live.
    let key = TokenStore::revoked_before_key(&name("alice"));
    assert_eq!(key, "revoked-before:alice");
    let ended_at: u64 = d.redis.command(&["GET", &key]).unwrap().trim().parse().unwrap();
    let pttl: u64 = d.redis.command(&["PTTL", &key]).unwrap().trim().parse().unwrap();
    let most = (DEFAULT_MAX_AGE + REVOCATION_MARGIN).as_millis() as u64;
    assert!(pttl > most - 5_000 && pttl <= most, "PTTL {pttl} ms, expected about {most}");

    // A login after the end is a new session, accepted everywhere.
    while now_ms() <= ended_at {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (later, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    assert!(d.b.update(&later, Change::Touch).await.unwrap().is_some(), "a login after the end is refused");
}

#[tokio::test]
async fn with_a_deny_list_the_caller_can_end_its_own_session_by_handle_and_no_other() {
    let d = deny_list();
    let (mine, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    let (other_tab, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    let alice = name("alice");
    let other = d.a.handle(&other_tab).unwrap();
    assert!(!d.a.end_one(&alice, &mine, &other).await.unwrap(), "the store cannot reach another token");
    assert!(d.b.update(&other_tab, Change::Touch).await.unwrap().is_some());
    // The same handle shown by another user names nothing of theirs.
    let (bobs, _) = d.a.create(&name("bob"), "node-a", None).await.unwrap();
    let own = d.a.handle(&mine).unwrap();
    assert!(!d.a.end_one(&name("bob"), &bobs, &own).await.unwrap());
    assert!(d.a.end_one(&alice, &mine, &own).await.unwrap());
    assert!(d.b.update(&mine, Change::Touch).await.unwrap().is_none(), "the ended token is accepted elsewhere");
    assert!(d.b.update(&other_tab, Change::Touch).await.unwrap().is_some());
}

#[tokio::test]
async fn the_deny_list_costs_one_redis_command_per_request() {
    let d = deny_list();
    let (token, _) = d.a.create(&name("alice"), "node-a", None).await.unwrap();
    d.a.update(&token, Change::Touch).await.unwrap().unwrap();
    d.redis.command(&["CONFIG", "RESETSTAT"]).unwrap();
    for _ in 0..5 {
        d.a.update(&token, Change::Touch).await.unwrap().unwrap();
    }
    let stats = d.redis.command(&["INFO", "commandstats"]).unwrap();
    // What the test itself sent aside.
    let commands: Vec<&str> = stats
        .lines()
        .filter(|line| line.starts_with("cmdstat_"))
        .filter(|line| !line.starts_with("cmdstat_info:") && !line.starts_with("cmdstat_config|resetstat:"))
        .collect();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(commands[0].starts_with("cmdstat_mget:calls=5,"), "{commands:?}");
}

#[tokio::test]
async fn a_token_in_constant_use_ends_at_its_absolute_lifetime() {
    const MAX_AGE: Duration = Duration::from_secs(1);
    let node = store().with_max_age(MAX_AGE);
    let (mut token, created) = node.create(&name("alice"), "node-a", None).await.unwrap();
    // The token itself says when its life ends at the latest.
    assert!(payload(&token)["exp_ms"].as_u64().unwrap() <= created.created_at + 1_000);
    let deadline = Instant::now() + Duration::from_secs(10);
    let last = loop {
        match node.update(&token, Change::Touch).await.unwrap() {
            Some(updated) => token = updated.reissued.unwrap(),
            None => break token,
        }
        assert!(Instant::now() < deadline, "the session outlived its absolute lifetime by seconds");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(now_ms() >= created.created_at + 1_000, "ended before its time");
    assert!(node.verify(&last).is_none());
    assert!(node.take_cart(&last).await.unwrap().is_none());

    // A node with a shorter lifetime goes by its own, whoever signed it.
    let mut session = Session::new(&name("alice"));
    session.created_at -= 2_000;
    let old = store().sign(&session).unwrap();
    assert!(store().verify(&old).is_some(), "the default lifetime is twelve hours");
    assert!(node.update(&old, Change::Touch).await.unwrap().is_none());
    assert!(node.sessions(&name("alice"), &old).await.unwrap().sessions.is_empty());
}
