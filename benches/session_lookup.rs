//! What one session lookup costs, in RAM and in Redis, beside the floor each
//! store cannot go below.
//!
//! ```text
//! cargo bench --bench session_lookup          # or `just bench`
//! cargo bench --bench session_lookup -- ram   # one group
//! ```
//!
//! Groups (criterion's HTML report: `target/criterion/report/index.html`):
//! - `ram_lookup/*/N`: the RAM store's lookup (`update_now`: find the
//!   session, count the request, renew the TTL, lend the session to the
//!   caller) at 1k, 100k and 1M live sessions, beside a raw
//!   `HashMap<String, Session>` get of the same sessions by the same cookie
//!   text (the floor), and beside the same work done by hand on that map
//!   (get, count, lend), without and with a lock around the map. Keys are
//!   visited in a shuffled order, so at 1M most lookups miss the CPU
//!   caches, as random users would. The paired ratios printed after each
//!   size are the figures `docs/benchmarks.md` reports: the store against
//!   the raw get and against the locked by-hand version, in a loop of
//!   independent lookups (throughput), and one at a time, each lookup
//!   waiting for the previous one's answer (latency, which is what a
//!   request pays).
//! - `ram_lookup_parts/*`: the steps the store's lookup takes beyond the
//!   probe (read the coarse clock, take the shard's lock), each alone, and
//!   what the store no longer does: decode the cookie into the id's 128
//!   bits (it keys its map by the cookie's bytes), read the precise clock,
//!   copy the session out.
//! - `redis_one_in_flight/*`: one request at a time on loopback. `raw_get` is
//!   a plain `GET` of the session's bytes on one redis-rs multiplexed
//!   connection (the client most Rust services use): one round trip, the
//!   floor. `raw_hgetall` reads the session's hash; `raw_update_pipeline`
//!   sends the store's three commands (`HINCRBY`, `PEXPIRE`, `HGETALL`) as
//!   one pipeline, by hand on that connection, and `raw_transaction` the
//!   same inside `MULTI`/`EXEC`. (The store itself sends them on a
//!   connection of its own, `crates/sessions/src/resp.rs`.) `store_touch`
//!   is what `GET /me` asks the Redis store, `store_cart_add` what
//!   `POST /cart` asks.
//!   `pool_checkout_get` is the design the store avoids: a deadpool checkout
//!   per request (which PINGs the connection) and then the `GET`.
//!   After the group, paired ratios to `raw_get` price each command: `GETEX`
//!   (read and renew the TTL), `HGETALL`, `HINCRBY` + `HGETALL`, the store's
//!   three commands, and the three as a Lua script.
//! - `postgres_one_in_flight/*`: the PostgreSQL store on a private server
//!   (`fsync` off), one request at a time: `select_1` is a bare prepared
//!   `SELECT 1` on one tokio-postgres connection (a round trip that touches
//!   no table: the floor), `store_touch` what `GET /me` asks the store (one
//!   `UPDATE … RETURNING`, a commit), `store_cart_add` what `POST /cart`
//!   asks. The paired ratios after the group put `store_touch` beside
//!   `select_1` and beside the Redis store's `store_touch`, measured in the
//!   same rounds.
//! - `serialization/*/SIZE`: JSON encoding and decoding of a session with an
//!   empty cart, 10 items, 1 KiB and 10 KiB: the cost a store that keeps the
//!   session as one blob (or a signed token) pays on every request.
//!
//! Under `cargo test --benches` every benchmark runs once, with 1k sessions
//! only.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deadpool_redis::redis;
use sessions::{
    Change, Name, PostgresSettings, PostgresStore, RedisSettings, RedisStore, Session, SessionId, SessionStore,
};

fn ram_lookup(c: &mut Criterion) {
    let sizes: &[usize] = if common::measuring() { &[1_000, 100_000, 1_000_000] } else { &[1_000] };
    let mut group = c.benchmark_group("ram_lookup");
    for &size in sizes {
        let (store, mut credentials) = common::memory_store_with(size);
        // The same sessions, in the map a first version would use: the
        // cookie text as the key, the standard hasher. Built in creation
        // order, as the store was: built in lookup order, its keys and names
        // would sit in memory in the order the loop reads them, and the CPU's
        // prefetcher would hide misses that a real server pays.
        let mut raw: HashMap<String, Session> = credentials
            .iter()
            .map(|c| (c.clone(), store.update_now(c, &Change::Touch, |s| s.to_session()).expect("a live session")))
            .collect();
        common::shuffle(&mut credentials);
        let label = label(size);

        group.bench_with_input(BenchmarkId::new("hashmap_get", &label), &credentials, |b, credentials| {
            let mut next = Cycle::new(credentials.len());
            b.iter(|| black_box(raw.get(black_box(credentials[next.step()].as_str())).map(read_raw)));
        });
        group.bench_with_input(BenchmarkId::new("store_lookup", &label), &credentials, |b, credentials| {
            let mut next = Cycle::new(credentials.len());
            b.iter(|| black_box(store.update_now(black_box(&credentials[next.step()]), &Change::Touch, read)));
        });
        group.bench_with_input(BenchmarkId::new("hashmap_get_mut", &label), &credentials, |b, credentials| {
            let mut next = Cycle::new(credentials.len());
            b.iter(|| black_box(count_and_read(&mut raw, black_box(&credentials[next.step()]))));
        });
        // The same again behind one lock, as any map shared by worker
        // threads must be: a locked instruction stops the CPU from
        // overlapping this lookup's cache misses with the next one's.
        let locked = Mutex::new(raw);
        group.bench_with_input(BenchmarkId::new("locked_hashmap_get_mut", &label), &credentials, |b, credentials| {
            let mut next = Cycle::new(credentials.len());
            b.iter(|| black_box(count_and_read(&mut locked.lock().unwrap(), black_box(&credentials[next.step()]))));
        });

        // The target's figure, measured so that background load cancels.
        let batch = if common::measuring() { 20_000 } else { 100 };
        let (mut next_a, mut next_b, mut next_c) =
            (Cycle::new(credentials.len()), Cycle::new(credentials.len()), Cycle::new(credentials.len()));
        let raw_get = |n| {
            let raw = locked.lock().unwrap();
            let start = Instant::now();
            for _ in 0..n {
                black_box(raw.get(black_box(credentials[next_a.step()].as_str())).map(read_raw));
            }
            start.elapsed()
        };
        let mut store_lookup = |n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(store.update_now(black_box(&credentials[next_b.step()]), &Change::Touch, read));
            }
            start.elapsed()
        };
        common::paired_ratio(
            &format!("ram_lookup/{label}: store_lookup / hashmap_get"),
            batch,
            raw_get,
            &mut store_lookup,
        );
        let by_hand = |n| {
            let start = Instant::now();
            for _ in 0..n {
                black_box(count_and_read(&mut locked.lock().unwrap(), black_box(&credentials[next_c.step()])));
            }
            start.elapsed()
        };
        common::paired_ratio(
            &format!("ram_lookup/{label}: store_lookup / locked_hashmap_get_mut"),
            batch,
            by_hand,
            store_lookup,
        );

        // The store against the raw get again, one lookup at a time (see
        // `chained`). A server's lookups are a whole request apart, so this
        // latency, not the loop's throughput above, is what a request pays.
        // Then against the same work by hand on the locked map, one at a
        // time too: the floor of what any map shared by worker threads must
        // do.
        let cycle = || Cycle::new(credentials.len());
        let (mut next_d, mut next_e, mut next_f, mut next_g) = (cycle(), cycle(), cycle(), cycle());
        common::paired_ratio(
            &format!("ram_lookup/{label}: store_lookup / hashmap_get, one at a time"),
            batch,
            |n| {
                let raw = locked.lock().unwrap();
                chained(n, &credentials, &mut next_d, |credential| raw.get(credential).map(read_raw))
            },
            |n| chained(n, &credentials, &mut next_e, |credential| store.update_now(credential, &Change::Touch, read)),
        );
        common::paired_ratio(
            &format!("ram_lookup/{label}: store_lookup / locked_hashmap_get_mut, one at a time"),
            batch,
            |n| {
                chained(n, &credentials, &mut next_f, |credential| {
                    count_and_read(&mut locked.lock().unwrap(), credential)
                })
            },
            |n| chained(n, &credentials, &mut next_g, |credential| store.update_now(credential, &Change::Touch, read)),
        );
    }
    group.finish();
}

/// Times `n` lookups one at a time: each key depends on the previous
/// lookup's answer (through a test that never passes), so the CPU cannot
/// start a lookup's memory reads before the last one is done.
fn chained(n: u64, credentials: &[String], next: &mut Cycle, mut lookup: impl FnMut(&str) -> Option<u64>) -> Duration {
    let (start, mut carry) = (Instant::now(), 0);
    for _ in 0..n {
        let requests = lookup(&credentials[next.step() ^ carry]);
        carry = usize::from(requests == Some(u64::MAX));
    }
    start.elapsed()
}

/// What these benches read from the session the RAM store lends: what
/// `GET /me` shows. Returns the request count.
fn read(session: sessions::SessionView<'_>) -> u64 {
    black_box((session.user, session.created_at));
    session.requests
}

/// [`read`], from a session in the raw map.
fn read_raw(session: &Session) -> u64 {
    black_box((session.user.as_str(), session.created_at));
    session.requests
}

/// The by-hand version of the store's lookup on a raw map: find, count the
/// request, read.
fn count_and_read(raw: &mut HashMap<String, Session>, credential: &str) -> Option<u64> {
    raw.get_mut(credential).map(|session| {
        session.requests += 1;
        read_raw(session)
    })
}

/// Where the RAM store's time goes beyond the map probe: the steps its
/// lookup takes that a bare `HashMap::get` does not.
fn ram_lookup_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("ram_lookup_parts");
    // The Redis and token stores still decode the cookie; the RAM store
    // no longer does.
    let credential = SessionId::generate().to_string();
    group.bench_function("parse_credential", |b| b.iter(|| black_box(SessionId::parse(black_box(&credential)))));
    // The store reads the coarse clock; `precise_clock` is what it would
    // pay for `Instant::now()`.
    group.bench_function("precise_clock", |b| b.iter(|| black_box(Instant::now())));
    group.bench_function("coarse_clock", |b| {
        b.iter(|| black_box(rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse)))
    });
    let lock = Mutex::new(0u64);
    group.bench_function("lock_count_unlock", |b| {
        b.iter(|| *black_box(&lock).lock().unwrap() += 1);
    });
    // What lending spares: a copy of the session to hand out, as
    // `SessionStore::update` (not `update_with`) makes.
    let session = Session::new(&common::user(1));
    group.bench_function("copy_session", |b| b.iter(|| black_box(black_box(&session).view().to_session())));
    group.finish();
}

/// Live sessions the Redis benchmarks cycle through.
const REDIS_SESSIONS: usize = 1_000;

fn redis_one_in_flight(c: &mut Criterion) {
    let server = common::start_redis();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = RedisStore::new(&RedisSettings::new(server.url(), Duration::from_secs(3600))).unwrap();
    const SESSIONS: usize = REDIS_SESSIONS;

    // Live sessions, and the same sessions' bytes under plain keys for GET.
    let (credentials, raw_keys, mut raw_conn) = runtime.block_on(common::seed_redis(&store, &server.url(), SESSIONS));
    let pool =
        deadpool_redis::Config::from_url(server.url()).create_pool(Some(deadpool_redis::Runtime::Tokio1)).unwrap();

    let mut group = c.benchmark_group("redis_one_in_flight");
    group.bench_function("raw_get", |b| {
        let mut next = Cycle::new(SESSIONS);
        b.to_async(&runtime).iter(|| {
            let key = &raw_keys[next.step()];
            let mut conn = raw_conn.clone();
            async move { black_box(redis::cmd("GET").arg(key).query_async::<Vec<u8>>(&mut conn).await.unwrap()) }
        });
    });
    group.bench_function("raw_transaction", |b| {
        let mut next = Cycle::new(SESSIONS);
        b.to_async(&runtime).iter(|| {
            let key = RedisStore::key(&SessionId::parse(&credentials[next.step()]).unwrap());
            let mut conn = raw_conn.clone();
            async move {
                let mut pipe = redis::pipe();
                pipe.atomic().hincr(&key, "requests", 1).ignore().pexpire(&key, 3_600_000).ignore().hgetall(&key);
                let (hash,): (HashMap<String, String>,) = pipe.query_async(&mut conn).await.unwrap();
                black_box(hash)
            }
        });
    });
    group.bench_function("raw_update_pipeline", |b| {
        let mut next = Cycle::new(SESSIONS);
        b.to_async(&runtime).iter(|| {
            let key = RedisStore::key(&SessionId::parse(&credentials[next.step()]).unwrap());
            let mut conn = raw_conn.clone();
            async move {
                let mut pipe = redis::pipe();
                pipe.hincr(&key, "requests", 1).ignore().pexpire(&key, 3_600_000).ignore().hgetall(&key);
                let (hash,): (HashMap<String, String>,) = pipe.query_async(&mut conn).await.unwrap();
                black_box(hash)
            }
        });
    });
    group.bench_function("raw_hgetall", |b| {
        let mut next = Cycle::new(SESSIONS);
        b.to_async(&runtime).iter(|| {
            let key = RedisStore::key(&SessionId::parse(&credentials[next.step()]).unwrap());
            let mut conn = raw_conn.clone();
            async move {
                let hash: HashMap<String, String> =
                    redis::cmd("HGETALL").arg(&key).query_async(&mut conn).await.unwrap();
                black_box(hash)
            }
        });
    });
    group.bench_function("store_touch", |b| {
        let mut next = Cycle::new(SESSIONS);
        b.to_async(&runtime).iter(|| {
            let credential = &credentials[next.step()];
            let store = &store;
            async move { black_box(store.update_with(credential, Change::Touch, read).await.unwrap().unwrap()) }
        });
    });
    let book = Name::parse("book").unwrap();
    group.bench_function("store_cart_add", |b| {
        let mut next = Cycle::new(SESSIONS);
        b.to_async(&runtime).iter(|| {
            let credential = &credentials[next.step()];
            let (store, change) = (&store, Change::AddItem { item: book, qty: 1 });
            async move { black_box(store.update_with(credential, change, read).await.unwrap().unwrap()) }
        });
    });
    group.bench_function("pool_checkout_get", |b| {
        let mut next = Cycle::new(SESSIONS);
        b.to_async(&runtime).iter(|| {
            let key = &raw_keys[next.step()];
            let pool = &pool;
            async move {
                let mut conn = pool.get().await.unwrap();
                black_box(redis::cmd("GET").arg(key).query_async::<Vec<u8>>(&mut conn).await.unwrap())
            }
        });
    });
    group.finish();

    // The target's figures, measured so that background load cancels.
    let batch = if common::measuring() { 300 } else { 2 };
    let raw_get = |n: u64| {
        let mut conn = raw_conn.clone();
        one_at_a_time(&runtime, n, async |i| {
            black_box(redis::cmd("GET").arg(&raw_keys[i]).query_async::<Vec<u8>>(&mut conn).await.unwrap());
        })
    };
    let store_touch = |n: u64| {
        one_at_a_time(&runtime, n, async |i| {
            black_box(store.update_with(&credentials[i], Change::Touch, read).await.unwrap().unwrap());
        })
    };
    let update_pipeline = |n: u64| {
        let mut conn = raw_conn.clone();
        one_at_a_time(&runtime, n, async |i| {
            let key = RedisStore::key(&SessionId::parse(&credentials[i]).unwrap());
            let mut pipe = redis::pipe();
            pipe.hincr(&key, "requests", 1).ignore().pexpire(&key, 3_600_000).ignore().hgetall(&key);
            let (hash,): (HashMap<String, String>,) = pipe.query_async(&mut conn).await.unwrap();
            black_box(hash);
        })
    };
    let pool_checkout_get = |n: u64| {
        one_at_a_time(&runtime, n, async |i| {
            let mut conn = pool.get().await.unwrap();
            black_box(redis::cmd("GET").arg(&raw_keys[i]).query_async::<Vec<u8>>(&mut conn).await.unwrap());
        })
    };
    common::paired_ratio("redis_one_in_flight: store_touch / raw_get", batch, raw_get, store_touch);
    common::paired_ratio("redis_one_in_flight: store_touch / raw_update_pipeline", batch, update_pipeline, store_touch);
    common::paired_ratio("redis_one_in_flight: pool_checkout_get / raw_get", batch, raw_get, pool_checkout_get);

    // What each command adds to one round trip, to see how close a lookup
    // that must count and renew can get to a bare read: a read that renews
    // the TTL (`GETEX`), the hash alone, the count and the read without the
    // renewal, all three (the store's pipeline), and all three as a Lua
    // script.
    let script = redis::Script::new(
        "redis.call('HINCRBY', KEYS[1], 'requests', 1) redis.call('PEXPIRE', KEYS[1], ARGV[1]) \
         return redis.call('HGETALL', KEYS[1])",
    );
    let keys: Vec<String> = credentials.iter().map(|c| RedisStore::key(&SessionId::parse(c).unwrap())).collect();
    // Each builds its commands from the session's key and its raw copy's.
    type Commands = fn(&str, &str) -> redis::Pipeline;
    let variants: [(&str, Commands); 4] = [
        ("getex", |_, raw| redis::pipe().cmd("GETEX").arg(raw).arg("PX").arg(3_600_000).clone()),
        ("hgetall", |key, _| redis::pipe().hgetall(key).clone()),
        ("hincrby_hgetall", |key, _| redis::pipe().hincr(key, "requests", 1).ignore().hgetall(key).clone()),
        ("raw_update_pipeline", |key, _| {
            redis::pipe().hincr(key, "requests", 1).ignore().pexpire(key, 3_600_000).ignore().hgetall(key).clone()
        }),
    ];
    for (name, pipeline) in variants {
        let variant = |n: u64| {
            let mut conn = raw_conn.clone();
            one_at_a_time(&runtime, n, async |i| {
                let pipe = pipeline(&keys[i], &raw_keys[i]);
                black_box(pipe.query_async::<redis::Value>(&mut conn).await.unwrap());
            })
        };
        common::paired_ratio(&format!("redis_one_in_flight: {name} / raw_get"), batch, raw_get, variant);
    }
    let lua_script = |n: u64| {
        let mut conn = raw_conn.clone();
        one_at_a_time(&runtime, n, async |i| {
            let mut call = script.key(&keys[i]);
            black_box(call.arg(3_600_000).invoke_async::<redis::Value>(&mut conn).await.unwrap());
        })
    };
    common::paired_ratio("redis_one_in_flight: lua_script / raw_get", batch, raw_get, lua_script);

    runtime.block_on(async {
        let () = redis::cmd("FLUSHALL").query_async(&mut raw_conn).await.unwrap();
    });
    drop(server);
}

fn postgres_one_in_flight(c: &mut Criterion) {
    let (postgres, redis) = (common::start_postgres(), common::start_redis());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ttl = Duration::from_secs(3600);
    let store = PostgresStore::new(&PostgresSettings::new(postgres.url(), ttl)).unwrap();
    let redis_store = RedisStore::new(&RedisSettings::new(redis.url(), ttl)).unwrap();
    let (credentials, redis_credentials, client, select_1) = runtime.block_on(async {
        let mut credentials = Vec::with_capacity(REDIS_SESSIONS);
        let mut redis_credentials = Vec::with_capacity(REDIS_SESSIONS);
        for n in 0..REDIS_SESSIONS {
            credentials.push(store.create(&common::user(n), "node-a", None).await.unwrap().0);
            redis_credentials.push(redis_store.create(&common::user(n), "node-a", None).await.unwrap().0);
        }
        let (client, connection) = tokio_postgres::connect(&postgres.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let select_1 = client.prepare("SELECT 1").await.unwrap();
        (credentials, redis_credentials, client, select_1)
    });

    let mut group = c.benchmark_group("postgres_one_in_flight");
    group.bench_function("select_1", |b| {
        b.to_async(&runtime).iter(|| async { black_box(client.query_one(&select_1, &[]).await.unwrap()) });
    });
    group.bench_function("store_touch", |b| {
        let mut next = Cycle::new(REDIS_SESSIONS);
        b.to_async(&runtime).iter(|| {
            let (credential, store) = (&credentials[next.step()], &store);
            async move { black_box(store.update_with(credential, Change::Touch, read).await.unwrap().unwrap()) }
        });
    });
    let book = Name::parse("book").unwrap();
    group.bench_function("store_cart_add", |b| {
        let mut next = Cycle::new(REDIS_SESSIONS);
        b.to_async(&runtime).iter(|| {
            let (credential, store, change) =
                (&credentials[next.step()], &store, Change::AddItem { item: book, qty: 1 });
            async move { black_box(store.update_with(credential, change, read).await.unwrap().unwrap()) }
        });
    });
    group.finish();

    let batch = if common::measuring() { 300 } else { 2 };
    let on_select_1 = |n: u64| {
        one_at_a_time(&runtime, n, async |_| {
            black_box(client.query_one(&select_1, &[]).await.unwrap());
        })
    };
    let on_postgres = |n: u64| {
        one_at_a_time(&runtime, n, async |i| {
            black_box(store.update_with(&credentials[i], Change::Touch, read).await.unwrap().unwrap());
        })
    };
    let on_redis = |n: u64| {
        one_at_a_time(&runtime, n, async |i| {
            black_box(redis_store.update_with(&redis_credentials[i], Change::Touch, read).await.unwrap().unwrap());
        })
    };
    common::paired_ratio("postgres_one_in_flight: store_touch / select_1", batch, on_select_1, on_postgres);
    common::paired_ratio("postgres_one_in_flight: store_touch / redis store_touch", batch, on_redis, on_postgres);
}

fn serialization(c: &mut Criterion) {
    let sizes = [
        ("empty", Session::new(&common::user(1))),
        ("10_items", common::session_with_items(10)),
        ("1KiB", common::session_of_json_size(1024)),
        ("10KiB", common::session_of_json_size(10 * 1024)),
    ];
    let mut group = c.benchmark_group("serialization");
    for (label, session) in &sizes {
        let bytes = serde_json::to_vec(session).unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("json_encode", label), session, |b, session| {
            b.iter(|| black_box(serde_json::to_vec(black_box(session)).unwrap()));
        });
        group.bench_with_input(BenchmarkId::new("json_decode", label), &bytes, |b, bytes| {
            b.iter(|| black_box(serde_json::from_slice::<Session>(black_box(bytes)).unwrap()));
        });
    }
    group.finish();
}

/// Runs `op` on `n` sessions in turn, one request in flight at a time, and
/// returns the wall time: one round of a paired ratio.
fn one_at_a_time(runtime: &tokio::runtime::Runtime, n: u64, mut op: impl AsyncFnMut(usize)) -> Duration {
    let mut next = Cycle::new(REDIS_SESSIONS);
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            op(next.step()).await;
        }
        start.elapsed()
    })
}

/// Walks 0..len round and round without a division on the hot path.
struct Cycle {
    next: usize,
    len: usize,
}

impl Cycle {
    fn new(len: usize) -> Cycle {
        Cycle { next: 0, len }
    }

    fn step(&mut self) -> usize {
        let at = self.next;
        self.next += 1;
        if self.next == self.len {
            self.next = 0;
        }
        at
    }
}

fn label(size: usize) -> String {
    match size {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = ram_lookup, ram_lookup_parts, redis_one_in_flight, postgres_one_in_flight, serialization
}
criterion_main!(benches);
