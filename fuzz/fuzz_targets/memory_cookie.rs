//! The RAM store's cookie keying: the store keys its map by the cookie's
//! bytes as they arrive, without decoding them (`memory.rs`).
//!
//! Property: a cookie finds a session if and only if it is byte for byte
//! the credential the store issued, and logging out with any other cookie
//! leaves the session alone. The input is a list of edits to one issued
//! credential (position, byte), or, with no edit applying, any text.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sessions::{Change, MemoryStore, Name, SessionStore};

/// The RAM store answers at once: its futures are ready on the first poll.
fn now<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the RAM store's future was not ready"),
    }
}

/// One store with a few sessions, kept across inputs.
fn store() -> &'static (MemoryStore, Vec<String>) {
    static STORE: OnceLock<(MemoryStore, Vec<String>)> = OnceLock::new();
    STORE.get_or_init(|| {
        // Sessions that neither idle out nor outlive their lifetime during a run.
        let day = Duration::from_secs(24 * 3600);
        let store = MemoryStore::new(day).with_max_age(day);
        let user = Name::parse("fuzz").unwrap();
        let issued = (0..8).map(|_| now(store.create(&user, "node-a", None)).unwrap().0).collect();
        (store, issued)
    })
}

fn finds(store: &MemoryStore, cookie: &str) -> bool {
    store.update_now(cookie, &Change::Touch, |_| ()).is_some()
}

fuzz_target!(|data: &[u8]| {
    let (store, issued) = store();
    let Some((&pick, edits)) = data.split_first() else {
        return;
    };
    let original = &issued[usize::from(pick) % issued.len()];
    let mut cookie = original.clone().into_bytes();
    for edit in edits.chunks_exact(2) {
        if let Some(byte) = cookie.get_mut(usize::from(edit[0])) {
            *byte = edit[1];
        } else if usize::from(edit[0]) == cookie.len() {
            cookie.push(edit[1]);
        } else {
            cookie.truncate(usize::from(edit[0]) % (cookie.len() + 1));
        }
    }
    let cookie = String::from_utf8_lossy(&cookie);
    assert_eq!(finds(store, &cookie), issued.iter().any(|c| *c == cookie), "{cookie:?}");
    // The raw input as a cookie, too.
    let raw = String::from_utf8_lossy(data);
    assert_eq!(finds(store, &raw), issued.iter().any(|c| *c == raw), "{raw:?}");

    if !issued.iter().any(|c| *c == cookie) {
        now(store.destroy(&cookie)).unwrap();
        assert!(finds(store, original), "logging out with {cookie:?} ended {original:?}");
    }
});
