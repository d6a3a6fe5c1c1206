//! What the criterion benches share: quick settings, test-mode detection,
//! a private Redis, and sessions to look up.
//!
//! `cargo bench` passes `--bench` to every bench binary; `cargo test
//! --benches` (and `--all-targets`) runs the same binaries without it, once
//! per benchmark. The benches read that flag to pick their sizes, so a test
//! run stays cheap while `cargo bench` measures the real thing.

#![allow(dead_code)] // Each bench binary uses a different part of this module.

use std::time::{Duration, Instant};

use criterion::Criterion;
use deadpool_redis::redis::{self, aio::MultiplexedConnection};
use local_redis::RedisServer;
use sessions::{Change, MemoryStore, Name, RedisStore, Session, SessionStore};

/// Whether this run measures (`cargo bench`) rather than only checks that
/// every benchmark runs (`cargo test --benches`).
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Short warm-up and measurement, few samples: all benches together stay a
/// few minutes on two cores. Enough for ratios that differ by 10 %; run a
/// single group with `-- --measurement-time 10` when a figure is close.
pub fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

/// A private `redis-server` on a free loopback port, stopped on drop.
pub fn start_redis() -> RedisServer {
    RedisServer::start()
        .unwrap_or_else(|e| panic!("the benches need redis-server ({}): {e}", local_redis::INSTALL_HINT))
}

/// A private PostgreSQL on a free loopback port (`fsync` off), stopped on drop.
pub fn start_postgres() -> local_postgres::PostgresServer {
    local_postgres::PostgresServer::start()
        .unwrap_or_else(|e| panic!("the benches need PostgreSQL ({}): {e}", local_postgres::INSTALL_HINT))
}

/// A name for the `n`-th benchmark user, the length of a typical login.
pub fn user(n: usize) -> Name {
    Name::parse(&format!("user-{n:07}")).unwrap()
}

/// `count` live sessions in a RAM store, and their credentials in the
/// order they were created (shuffle them before a lookup loop, so that it
/// touches memory the way random users do, not in allocation order).
pub fn memory_store_with(count: usize) -> (MemoryStore, Vec<String>) {
    let store = MemoryStore::new(Duration::from_secs(3600));
    let mut credentials = Vec::with_capacity(count);
    for n in 0..count {
        let (credential, _) = futures::executor::block_on(store.create(&user(n), "node-a", None)).unwrap();
        credentials.push(credential);
    }
    (store, credentials)
}

/// A deterministic shuffle (xorshift), so runs compare.
pub fn shuffle<T>(items: &mut [T]) {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// A session whose cart holds `items` distinct items.
pub fn session_with_items(items: usize) -> Session {
    let mut session = Session::new(&user(1));
    for i in 0..items {
        session.apply(&Change::AddItem { item: Name::parse(&format!("item-{i:05}")).unwrap(), qty: 3 });
    }
    session
}

/// A session whose JSON form is at least `bytes` long.
pub fn session_of_json_size(bytes: usize) -> Session {
    let mut items = 0;
    loop {
        let session = session_with_items(items);
        if serde_json::to_vec(&session).unwrap().len() >= bytes {
            return session;
        }
        items += 1;
    }
}

/// The ratio `b / a` of two operations' costs, robust to the background
/// load of a shared machine: `a` and `b` run in alternating rounds of
/// `batch` operations each (`run(batch)` returns the wall time of one
/// round), and the median of the per-round ratios is kept, so a busy
/// moment weighs on both sides of a ratio alike. Prints and returns it.
pub fn paired_ratio(
    what: &str,
    batch: u64,
    mut a: impl FnMut(u64) -> Duration,
    mut b: impl FnMut(u64) -> Duration,
) -> f64 {
    let rounds = if measuring() { 21 } else { 1 };
    let (mut ratios, mut a_times, mut b_times) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let ta = a(batch).as_secs_f64() / batch as f64;
        let tb = b(batch).as_secs_f64() / batch as f64;
        ratios.push(tb / ta);
        a_times.push(ta);
        b_times.push(tb);
    }
    let (ratio, ta, tb) = (median(&mut ratios), median(&mut a_times), median(&mut b_times));
    println!(
        "paired ratio {what} = {ratio:.2} (median of {rounds} alternating rounds of {batch}; {} vs {} per op)",
        human(tb),
        human(ta)
    );
    ratio
}

/// The median time of one call of `op`, over rounds of `batch` calls (21
/// rounds when measuring, one under `cargo test --benches`).
pub fn median_per_op(batch: u64, mut op: impl FnMut()) -> Duration {
    let rounds = if measuring() { 21 } else { 1 };
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = std::time::Instant::now();
            for _ in 0..batch {
                op();
            }
            started.elapsed().as_secs_f64() / batch as f64
        })
        .collect();
    Duration::from_secs_f64(median(&mut times))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn human(seconds: f64) -> String {
    match seconds {
        s if s < 1e-6 => format!("{:.0} ns", s * 1e9),
        s if s < 1e-3 => format!("{:.1} µs", s * 1e6),
        s => format!("{:.2} ms", s * 1e3),
    }
}

/// Creates `count` live sessions in `store` (each touched once) and returns
/// their cookies, with a copy of each session's bytes under a plain key
/// (`raw:<cookie>`) for the floor, a raw `GET` of the same data; plus the
/// connection that wrote them.
pub async fn seed_redis(
    store: &RedisStore,
    url: &str,
    count: usize,
) -> (Vec<String>, Vec<String>, MultiplexedConnection) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut credentials = Vec::with_capacity(count);
    let mut raw_keys = Vec::with_capacity(count);
    for n in 0..count {
        let (credential, _) = store.create(&user(n), "node-a", None).await.unwrap();
        let session = store.update(&credential, Change::Touch).await.unwrap().unwrap().session;
        let key = format!("raw:{credential}");
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(serde_json::to_vec(&session).unwrap())
            .query_async(&mut conn)
            .await
            .unwrap();
        credentials.push(credential);
        raw_keys.push(key);
    }
    (credentials, raw_keys, conn)
}

/// How many requests the throughput benches keep in flight at once.
pub const TASKS: usize = 64;

/// Runs `iters` operations spread over [`TASKS`] tasks, each calling
/// `op(task_index)` in a loop; returns the wall time until all are done.
pub async fn in_tasks<F, Fut>(iters: u64, op: F) -> Duration
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..TASKS)
        .map(|task| {
            let share = iters / TASKS as u64 + u64::from((task as u64) < iters % TASKS as u64);
            let op = op.clone();
            tokio::spawn(async move {
                for _ in 0..share {
                    op(task).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    start.elapsed()
}
