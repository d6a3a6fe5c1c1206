//! How many session updates per second the Redis store gets out of one
//! Redis when 64 requests are in flight at once, beside `redis-benchmark`
//! (the C client that ships with Redis) against the same Redis, in the same
//! run.
//!
//! ```text
//! cargo bench --bench redis_throughput        # or `just bench`
//! ```
//!
//! First the bench runs `redis-benchmark -c 50 -t get` (and `-c 1`, the
//! round trip of a C client) against its private Redis when the binary is
//! installed, and prints the figures. Then criterion measures, with 64 tokio
//! tasks on a two-thread runtime (the two worker threads a two-core server
//! runs), the time per operation, which it also shows as `thrpt` (ops/s):
//! - `redis_64_tasks/raw_get`: plain `GET`s on one redis-rs multiplexed
//!   connection.
//! - `redis_64_tasks/raw_update_pipeline`: the store's update commands, by
//!   hand, on that connection: what redis-rs makes of them.
//! - `redis_64_tasks/raw_transaction`: the same inside `MULTI`/`EXEC`.
//! - `redis_64_tasks/store_touch/handles=K`: `GET /me`'s update through `K`
//!   clones of one `RedisStore` (the app hands each worker thread a clone).
//!
//! The 64 tasks share the work of one criterion iteration batch: the batch
//! ends when the last task is done, so a figure includes the tail.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deadpool_redis::redis;
use sessions::{Change, RedisSettings, RedisStore, SessionId, SessionStore};

use common::{TASKS, in_tasks};

fn redis_64_tasks(c: &mut Criterion) {
    let server = common::start_redis();
    if common::measuring() {
        redis_benchmark(server.port(), 50, 200_000);
        redis_benchmark(server.port(), 1, 20_000);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let base = RedisStore::new(&RedisSettings::new(server.url(), Duration::from_secs(3600))).unwrap();
    let (credentials, raw_keys, raw_conn) = runtime.block_on(common::seed_redis(&base, &server.url(), TASKS));
    let (credentials, raw_keys) = (Arc::new(credentials), Arc::new(raw_keys));

    let mut group = c.benchmark_group("redis_64_tasks");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_get", |b| {
        b.iter_custom(|iters| {
            let (keys, conn) = (Arc::clone(&raw_keys), raw_conn.clone());
            runtime.block_on(in_tasks(iters, move |task| {
                let (keys, mut conn) = (Arc::clone(&keys), conn.clone());
                async move {
                    let value: Vec<u8> = redis::cmd("GET").arg(&keys[task]).query_async(&mut conn).await.unwrap();
                    black_box(value);
                }
            }))
        });
    });
    group.bench_function("raw_update_pipeline", |b| {
        b.iter_custom(|iters| {
            let (credentials, conn) = (Arc::clone(&credentials), raw_conn.clone());
            runtime.block_on(in_tasks(iters, move |task| {
                let key = RedisStore::key(&SessionId::parse(&credentials[task]).unwrap());
                let mut conn = conn.clone();
                async move {
                    let mut pipe = redis::pipe();
                    pipe.hincr(&key, "requests", 1).ignore().pexpire(&key, 3_600_000).ignore().hgetall(&key);
                    let (hash,): (HashMap<String, String>,) = pipe.query_async(&mut conn).await.unwrap();
                    black_box(hash);
                }
            }))
        });
    });
    group.bench_function("raw_transaction", |b| {
        b.iter_custom(|iters| {
            let (credentials, conn) = (Arc::clone(&credentials), raw_conn.clone());
            runtime.block_on(in_tasks(iters, move |task| {
                let key = RedisStore::key(&SessionId::parse(&credentials[task]).unwrap());
                let mut conn = conn.clone();
                async move {
                    let mut pipe = redis::pipe();
                    pipe.atomic().hincr(&key, "requests", 1).ignore().pexpire(&key, 3_600_000).ignore().hgetall(&key);
                    let (hash,): (HashMap<String, String>,) = pipe.query_async(&mut conn).await.unwrap();
                    black_box(hash);
                }
            }))
        });
    });
    for handles in [1, 2, 8] {
        let stores: Arc<Vec<RedisStore>> = Arc::new((0..handles).map(|_| base.clone()).collect());
        group.bench_with_input(BenchmarkId::new("store_touch", format!("handles={handles}")), &stores, |b, stores| {
            b.iter_custom(|iters| {
                let (stores, credentials) = (Arc::clone(stores), Arc::clone(&credentials));
                runtime.block_on(in_tasks(iters, move |task| {
                    let (stores, credentials) = (Arc::clone(&stores), Arc::clone(&credentials));
                    async move {
                        let store = &stores[task % stores.len()];
                        black_box(
                            store
                                .update_with(&credentials[task], Change::Touch, |s| s.requests)
                                .await
                                .unwrap()
                                .unwrap(),
                        );
                    }
                }))
            });
        });
    }
    group.finish();

    // The target's figure: the store with one handle per worker thread, as
    // the app runs it, against redis-benchmark, in alternating rounds so
    // that background load weighs on both alike.
    if common::measuring() && redis_benchmark_rps(server.port(), 50, 1_000).is_some() {
        let stores: Arc<Vec<RedisStore>> = Arc::new((0..2).map(|_| base.clone()).collect());
        let store_rounds = |n| {
            let (stores, credentials) = (Arc::clone(&stores), Arc::clone(&credentials));
            runtime.block_on(in_tasks(n, move |task| {
                let (stores, credentials) = (Arc::clone(&stores), Arc::clone(&credentials));
                async move {
                    let store = &stores[task % stores.len()];
                    black_box(
                        store.update_with(&credentials[task], Change::Touch, |s| s.requests).await.unwrap().unwrap(),
                    );
                }
            }))
        };
        let benchmark_rounds = |n| {
            let rps = redis_benchmark_rps(server.port(), 50, n).unwrap_or(f64::NAN);
            Duration::from_secs_f64(n as f64 / rps)
        };
        common::paired_ratio(
            "redis_64_tasks: store_touch ops/s (handles=2) / redis-benchmark -c 50 -t get ops/s",
            50_000,
            store_rounds,
            benchmark_rounds,
        );
    }
    drop(server);
}

/// `redis-benchmark -c CLIENTS -n REQUESTS -t get` against `port`: its
/// requests per second, or `None` when it cannot run.
fn redis_benchmark_rps(port: u16, clients: u32, requests: u64) -> Option<f64> {
    let args = ["-p", &port.to_string(), "-c", &clients.to_string(), "-n", &requests.to_string(), "-t", "get", "--csv"]
        .map(String::from);
    let out = Command::new("redis-benchmark").args(&args).output().ok().filter(|out| out.status.success())?;
    // "test","rps",...  then  "GET","104166.66",...
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("\"GET\""))?;
    line.split(',').nth(1)?.trim_matches('"').parse().ok()
}

/// Runs `redis-benchmark -c CLIENTS -t get` against `port` and prints its
/// figure, or says why not.
fn redis_benchmark(port: u16, clients: u32, requests: u32) {
    let args = ["-p", &port.to_string(), "-c", &clients.to_string(), "-n", &requests.to_string(), "-t", "get", "-q"]
        .map(String::from);
    match Command::new("redis-benchmark").args(&args).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            // `-q` redraws a progress line with `\r`; the figure is the last.
            let figure = text.rsplit(['\r', '\n']).find(|l| l.contains("requests per second")).unwrap_or("no figure");
            println!("redis-benchmark {}: {}", args.join(" "), figure.trim());
        }
        Ok(out) => println!("redis-benchmark failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => println!("redis-benchmark not run ({e}); it ships with the redis-tools package"),
    }
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = redis_64_tasks
}
criterion_main!(benches);
