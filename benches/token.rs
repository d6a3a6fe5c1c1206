//! What a signed-token session costs the server per request: signing a new
//! token and verifying the one the client sent, by session size.
//!
//! ```text
//! cargo bench --bench token
//! ```
//!
//! The token twin keeps nothing, so where the RAM twin does a map lookup and
//! the Redis twin a round trip, it does CPU work: every authenticated request
//! verifies the token it is shown (base64url, JSON, HMAC-SHA256) and signs a
//! new one with the change applied. Both grow with the session, since the
//! whole session is in the token. Groups (criterion's HTML report:
//! `target/criterion/report/index.html`):
//!
//! - `token_sign/SIZE`: `TokenStore::sign`, a new token for a session.
//! - `token_verify/SIZE`: `TokenStore::verify`, signature and expiry checked,
//!   the session read back.
//! - `token_request/SIZE`: what `GET /me` asks the store: verify, count the
//!   request, sign again (`SessionStore::update` with `Change::Touch`, no
//!   deny list).
//! - `token_forged/SIZE`: verify a token signed under another key (refused);
//!   the price of turning away a forgery, which never reaches Redis.
//!
//! SIZE is `empty` (no cart), `10_items`, and `near_limit` (the largest cart
//! whose token still fits under the 4000-byte cap). The token lengths are
//! printed before the groups run; after them, one `token cost SIZE:` line
//! per size gives each price as the median of 21 rounds, for the book.
//!
//! Under `cargo test --benches` every benchmark runs once.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sessions::token::MAX_TOKEN_LEN;
use sessions::{Change, Session, SessionStore, TokenKey, TokenStore};

fn token_store(secret: &[u8]) -> TokenStore {
    TokenStore::new(TokenKey::new(secret).expect("a 32-byte key"), Duration::from_secs(1800))
}

/// The sessions to measure: an empty cart, 10 items, and the largest cart
/// that still signs (one more item would break the cap).
fn sizes(store: &TokenStore) -> Vec<(&'static str, Session)> {
    let mut largest = common::session_with_items(10);
    for items in 11.. {
        let session = common::session_with_items(items);
        if store.sign(&session).is_err() {
            break;
        }
        largest = session;
    }
    vec![
        ("empty", common::session_with_items(0)),
        ("10_items", common::session_with_items(10)),
        ("near_limit", largest),
    ]
}

fn token(c: &mut Criterion) {
    let store = token_store(b"benchmark key: 32 bytes or more, shared by every node");
    let other = token_store(b"another key that no node of this cluster holds, 32+ bytes");
    let sessions = sizes(&store);
    for (name, session) in &sessions {
        let token = store.sign(session).unwrap();
        eprintln!(
            "token size {name}: {} items in the cart, {} bytes (cap {MAX_TOKEN_LEN})",
            session.cart.len(),
            token.len()
        );
    }

    let mut group = c.benchmark_group("token_sign");
    for (name, session) in &sessions {
        group.bench_with_input(BenchmarkId::from_parameter(name), session, |b, session| {
            b.iter(|| store.sign(black_box(session)).unwrap())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("token_verify");
    for (name, session) in &sessions {
        let token = store.sign(session).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(name), &token, |b, token| {
            b.iter(|| store.verify(black_box(token)).expect("a good token"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("token_request");
    for (name, session) in &sessions {
        let token = store.sign(session).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(name), &token, |b, token| {
            b.iter(|| {
                let updated =
                    futures::executor::block_on(store.update_with(black_box(token), Change::Touch, |s| s.requests));
                updated.unwrap().expect("a live session")
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("token_forged");
    for (name, session) in &sessions {
        let forged = other.sign(session).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(name), &forged, |b, forged| {
            b.iter(|| assert!(store.verify(black_box(forged)).is_none()))
        });
    }
    group.finish();

    // One line per size with every price side by side, for the book (the
    // token chapter reads its table from these lines).
    for (name, session) in &sessions {
        let token = store.sign(session).unwrap();
        let forged = other.sign(session).unwrap();
        let sign = common::median_per_op(200, || {
            let _ = black_box(store.sign(black_box(session)));
        });
        let verify = common::median_per_op(200, || {
            let _ = black_box(store.verify(black_box(&token)));
        });
        let request = common::median_per_op(200, || {
            let updated =
                futures::executor::block_on(store.update_with(black_box(&token), Change::Touch, |s| s.requests));
            let _ = black_box(updated);
        });
        let refuse = common::median_per_op(200, || {
            let _ = black_box(store.verify(black_box(&forged)));
        });
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "token cost {name}: {} bytes, sign {:.2} µs, verify {:.2} µs, request {:.2} µs, refuse a forged token {:.2} µs",
            token.len(),
            us(sign),
            us(verify),
            us(request),
            us(refuse)
        );
    }
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = token
}
criterion_main!(benches);
