//! What one session costs in the RAM store's memory, beside the bytes of the
//! session itself.
//!
//! ```text
//! cargo bench --bench session_memory          # 1M sessions (or `just bench`)
//! ```
//!
//! It fills a fresh `MemoryStore` with live sessions and reads the process's
//! resident memory (`/proc/self/statm`) before and after: the difference,
//! divided by the number of sessions, is what a session really costs,
//! allocator overhead and the hash table's empty slots included. Two
//! yardsticks for "the session data itself":
//! - *JSON*: the session serialized as JSON, plus its 16-byte id: the bytes
//!   a store that keeps sessions as blobs (or the raw `GET` in
//!   `session_lookup`) would hold.
//! - *fields*: only the information: the 16-byte id, the user name's bytes,
//!   three 8-byte numbers (created, requests, expiry) and the cart's items.
//!
//! Not a criterion bench: a memory figure has no timing to sample. Under
//! `cargo test --benches` it runs with 10k sessions.

mod common;

use std::time::Duration;

use sessions::{Change, MemoryStore, SessionStore};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Each measurement runs in a fresh child process: memory the allocator
    // kept from an earlier one would hide part of the next one's cost.
    if let [_, flag, count, items] = args.as_slice()
        && flag == "--measure-one"
    {
        measure(count.parse().unwrap(), items.parse().unwrap());
        return;
    }
    let count = if common::measuring() { 1_000_000 } else { 10_000 };
    let exe = std::env::current_exe().unwrap();
    for items in [0, 3] {
        let status = std::process::Command::new(&exe)
            .args(["--measure-one", &count.to_string(), &items.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "the measurement failed: {status}");
    }
}

/// Fills a store with `count` sessions of `items` cart items each and prints
/// the bytes per session.
fn measure(count: usize, items: usize) {
    let before = resident_bytes();
    let store = MemoryStore::new(Duration::from_secs(3600));
    let (mut json, mut fields) = (0usize, 0usize);
    let carts: Vec<Change> = common::session_with_items(items)
        .cart
        .keys()
        .map(|item| Change::AddItem { item: sessions::Name::parse(item).unwrap(), qty: 3 })
        .collect();
    for n in 0..count {
        let (credential, _) = futures::executor::block_on(store.create(&common::user(n), "node-a", None)).unwrap();
        let mut session = None;
        for change in &carts {
            session = store.update_now(&credential, change, |s| s.to_session());
        }
        let session =
            session.unwrap_or_else(|| store.update_now(&credential, &Change::Touch, |s| s.to_session()).unwrap());
        json += 16 + serde_json::to_vec(&session).unwrap().len();
        fields += 16 + session.user.as_str().len() + 3 * 8 + session.cart.keys().map(|k| k.len() + 8).sum::<usize>();
    }
    let after = resident_bytes();
    assert_eq!(store.len(), count);
    let per_session = after.saturating_sub(before) as f64 / count as f64;
    let (json, fields) = (json as f64 / count as f64, fields as f64 / count as f64);
    println!(
        "session_memory: {count} sessions, {items} cart items each: {per_session:.0} B/session resident; \
         data {json:.0} B as JSON ({:.2}x), {fields:.0} B as fields ({:.2}x)",
        per_session / json,
        per_session / fields,
    );
}

/// The process's resident set, from `/proc/self/statm` (in pages).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux only)");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("statm's second field");
    pages * 4096
}
