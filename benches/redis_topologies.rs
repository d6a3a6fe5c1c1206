//! The Redis store on redis-rs beside its own connection, and on a Redis
//! Cluster beside one Redis, each pair measured in one run.
//!
//! ```text
//! cargo bench --bench redis_topologies
//! ```
//!
//! The stateless twin speaks to one standalone Redis through the crate's
//! own connection (`crates/sessions/src/resp.rs`) and to a Sentinel set or
//! a Cluster through redis-rs (`sessions::RedisHaStore`). Both send the same
//! pipeline per request. Groups, each `GET /me`'s update (`store_touch`)
//! with [`TASKS`](common::TASKS) requests in flight on a two-thread runtime,
//! over two store handles, one per runtime thread, as a server has one per
//! worker thread:
//! - `redis_client/own_connection` and `redis_client/redis_rs`: one Redis,
//!   the two clients. The paired ratio printed after it is redis-rs's time
//!   per request over the own connection's.
//! - `redis_cluster/one_redis` and `redis_cluster/three_primaries`: redis-rs
//!   on one Redis and on a cluster of three primaries (with their three
//!   replicas), on the same machine: what the cluster's routing costs the
//!   node per request (on one machine the primaries share its cores, so
//!   this is not the cluster's capacity). The paired ratio follows.
//!
//! After each pair, a `cpu per op` line gives, for each side over one more
//! batch, the CPU time per update of this process (the node's side of the
//! work: the store and its client) and of every `redis-server` of that side
//! (the cluster's six), read from `/proc` as `harness bench` reads them.
//!
//! Under `cargo test --benches` every benchmark runs once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::in_tasks;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use local_redis::RedisCluster;
use sessions::{Change, RedisHaSettings, RedisHaStore, RedisSettings, RedisStore, RedisTopology, SessionStore};

const TTL: Duration = Duration::from_secs(3600);

/// `count` sessions created through `store`.
async fn sessions_in<S: SessionStore>(store: &S, count: usize) -> Arc<Vec<String>> {
    let mut credentials = Vec::with_capacity(count);
    for n in 0..count {
        credentials.push(store.create(&common::user(n), "node-a", None).await.unwrap().0);
    }
    Arc::new(credentials)
}

/// Store handles the tasks share: one per runtime worker thread, as a
/// server gives each of its worker threads one (a `RedisStore` handle keeps
/// one connection; a handle per request would check one out of the pool
/// each time).
const HANDLES: usize = 2;

/// Time for `iters` touches through `store`, [`TASKS`](common::TASKS) in
/// flight over [`HANDLES`] handles.
fn touches<S: SessionStore>(
    runtime: &tokio::runtime::Runtime,
    store: &S,
    credentials: &Arc<Vec<String>>,
    iters: u64,
) -> Duration {
    let stores: Arc<Vec<S>> = Arc::new((0..HANDLES).map(|_| store.clone()).collect());
    let credentials = Arc::clone(credentials);
    runtime.block_on(in_tasks(iters, move |task| {
        let (stores, credentials) = (Arc::clone(&stores), Arc::clone(&credentials));
        async move {
            let store = &stores[task % stores.len()];
            let sid = &credentials[task % credentials.len()];
            store.update_with(sid, Change::Touch, |s| s.requests).await.unwrap().unwrap();
        }
    }))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// One side of a comparison: a name, a store, sessions in it, and the
/// `redis-server` processes behind it.
type Side<'a, S> = (&'a str, &'a S, &'a Arc<Vec<String>>, &'a [u32]);

/// CPU time so far of process `pid`, every thread (`/proc/PID/task/*/schedstat`).
fn cpu_of(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Duration::ZERO };
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// CPU per update of this process and of `redis` over `batch` updates of one side.
fn cpu_per_op<S: SessionStore>(runtime: &tokio::runtime::Runtime, side: Side<'_, S>, batch: u64) -> (f64, f64) {
    let redis = |pids: &[u32]| pids.iter().map(|&pid| cpu_of(pid)).sum::<Duration>();
    let (node_before, redis_before) = (cpu_of(std::process::id()), redis(side.3));
    touches(runtime, side.1, side.2, batch);
    let per_op = |d: Duration| d.as_secs_f64() * 1e6 / batch as f64;
    (per_op(cpu_of(std::process::id()) - node_before), per_op(redis(side.3) - redis_before))
}

/// Criterion's figures for `a` and `b` in one group, then the paired ratio
/// of `b`'s time per request over `a`'s.
fn compare<A: SessionStore, B: SessionStore>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    group: &str,
    a: Side<'_, A>,
    b: Side<'_, B>,
) {
    let mut criterion_group = c.benchmark_group(group);
    criterion_group.throughput(Throughput::Elements(1));
    criterion_group.bench_function(a.0, |bench| bench.iter_custom(|iters| touches(runtime, a.1, a.2, iters)));
    criterion_group.bench_function(b.0, |bench| bench.iter_custom(|iters| touches(runtime, b.1, b.2, iters)));
    criterion_group.finish();
    let batch = if common::measuring() { 20_000 } else { 200 };
    common::paired_ratio(
        &format!("{group}: {} / {}", b.0, a.0),
        batch,
        |n| touches(runtime, a.1, a.2, n),
        |n| touches(runtime, b.1, b.2, n),
    );
    let (a_node, a_redis) = cpu_per_op(runtime, a, batch);
    let (b_node, b_redis) = cpu_per_op(runtime, b, batch);
    println!(
        "cpu per op {group}: {} node {a_node:.1} µs, redis {a_redis:.1} µs; {} node {b_node:.1} µs, redis {b_redis:.1} µs",
        a.0, b.0
    );
}

fn redis_client(c: &mut Criterion) {
    let runtime = runtime();
    let server = common::start_redis();
    let own = RedisStore::new(&RedisSettings::new(server.url(), TTL)).unwrap();
    let topology = RedisTopology::Standalone { url: server.url() };
    let redis_rs = RedisHaStore::new(&RedisHaSettings::new(topology, TTL)).unwrap();
    let credentials = runtime.block_on(sessions_in(&own, common::TASKS));
    let pids: Vec<u32> = server.pid().into_iter().collect();
    compare(
        c,
        &runtime,
        "redis_client",
        ("own_connection", &own, &credentials, &pids),
        ("redis_rs", &redis_rs, &credentials, &pids),
    );
}

fn redis_cluster(c: &mut Criterion) {
    let runtime = runtime();
    let server = common::start_redis();
    let cluster = RedisCluster::start().unwrap_or_else(|e| panic!("this bench needs a Redis Cluster: {e}"));
    let one = RedisTopology::Standalone { url: server.url() };
    let one = RedisHaStore::new(&RedisHaSettings::new(one, TTL)).unwrap();
    let three = RedisTopology::Cluster { seeds: RedisTopology::addresses(&cluster.seeds()) };
    let three = RedisHaStore::new(&RedisHaSettings::new(three, TTL)).unwrap();
    let on_one = runtime.block_on(sessions_in(&one, common::TASKS));
    let on_three = runtime.block_on(sessions_in(&three, common::TASKS));
    let one_pid: Vec<u32> = server.pid().into_iter().collect();
    let cluster_pids: Vec<u32> = cluster.nodes().iter().filter_map(|node| node.pid()).collect();
    compare(
        c,
        &runtime,
        "redis_cluster",
        ("one_redis", &one, &on_one, &one_pid),
        ("three_primaries", &three, &on_three, &cluster_pids),
    );
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = redis_client, redis_cluster
}
criterion_main!(benches);
