//! `harness bench`: what a whole HTTP request costs on each twin.
//!
//! The criterion benches price a session lookup in isolation; this prices
//! the request around it, over real sockets, against the real binaries. It
//! is a *closed-loop* load generator: N connections, each kept alive and
//! each logged in as its own user, and each sends its next request the
//! moment the previous answer has arrived. The request rate is then what
//! the node serves with N requests in flight, which is the figure to
//! compare (an open-loop, paced load like `harness run`'s would measure the
//! offered rate instead). It is all the node can serve only if N is enough
//! to keep it busy: the `node µs` column times the rate says how busy it
//! was, and a node that waits on Redis needs more requests in flight than
//! one that does not (`docs/benchmarks.md` has the figures).
//!
//! # Equal terms
//!
//! - **One node per side, started the same way**: the same binary flags
//!   ([`Cluster`]), the same worker count (`--workers`, default 1), the
//!   same connection count and duration, one side after another so each
//!   has the machine to itself.
//! - **One worker per node by default.** The machine this project is
//!   measured on has 2 cores: one worker leaves the other core to the load
//!   generator (and, on the Redis-backed sides, to Redis: the cost of the
//!   store is part of what is measured, so it shares the generator's core
//!   rather than getting a free one).
//! - **The generator runs on one thread** (a current-thread runtime, like
//!   `wrk -t1`), so it cannot take the node's core, and `--wrk` checks that
//!   it is not the bottleneck: after its own measurement of an endpoint it
//!   runs `wrk` with the same connection count and duration on the same
//!   node and prints both.
//! - **Bounded**: each endpoint runs for the duration or until `--max-requests`
//!   answers, whichever comes first, after a short warm-up that is not
//!   counted.
//! - **Rounds against noise**: every node is up for the whole bench, but
//!   only one is under load at a time. `--rounds N` measures each endpoint
//!   N times per side, the sides alternating, and each ratio is the median
//!   of the per-round ratios, so a busy moment of a shared machine weighs
//!   on both sides of a ratio.
//! - **Where the time went**: around each measurement the harness reads
//!   the CPU time of the node, of the `redis-server` it started and of
//!   itself from `/proc` ([`crate::cpu`]), and divides by the answers: the
//!   `node µs`, `redis µs` and `load µs` columns. Their sum is what one
//!   request cost the machine; a node whose workers are all busy serves
//!   about one request per `node µs` per worker.
//!
//! # Endpoints
//!
//! - `GET /healthz`: no session at all, the floor of a request.
//! - `GET /me`: a session lookup that counts the request and renews the TTL.
//! - `POST /cart`: a session update. Items rotate through three names, so
//!   the quantities grow and the cart does not: a token side carries the
//!   cart in its cookie (4 KiB at most), and every connection keeps the
//!   cookie each answer re-issues, as a browser does.
//!
//! Non-2xx answers and requests with no answer are counted per endpoint; a
//! bench that saw any says so in its table and its JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use local_redis::Persistence;
use serde::Serialize;

use crate::cluster::Cluster;
use crate::cpu::{CpuTimes, Processes};
use crate::metrics::{Latency, new_histogram};
use crate::runner::{Threads, UsageError, block_on, resolve_sides, write_json};
use crate::services::{Needs, Services};
use crate::side::{Backing, Side, TokenKeys, random_key};

mod cli;
mod http;
mod report;
mod wrk;

pub use cli::{BenchArgs, main};
pub use report::{BenchReport, CpuPerRequest, EndpointBench, Floor, Ratio, SideBench, WrkFigures, table};
pub use wrk::{WRK_INSTALL_HINT, parse_wrk, wrk_is_installed, wrk_script};

use http::Connection;
use wrk::run_wrk;

/// One endpoint the bench measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Endpoint {
    /// `GET /healthz`: no session.
    #[serde(rename = "GET /healthz")]
    Healthz,
    /// `GET /me`: a session lookup (and its counter).
    #[serde(rename = "GET /me")]
    Me,
    /// `POST /cart`: a session update.
    #[serde(rename = "POST /cart")]
    Cart,
}

impl Endpoint {
    /// Every endpoint, in the order they run and print.
    pub const ALL: [Endpoint; 3] = [Endpoint::Healthz, Endpoint::Me, Endpoint::Cart];

    /// `GET /me`, as the table prints it.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "GET /healthz",
            Endpoint::Me => "GET /me",
            Endpoint::Cart => "POST /cart",
        }
    }

    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::Healthz => "/healthz",
            Endpoint::Me => "/me",
            Endpoint::Cart => "/cart",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Sides to measure; `None` = stateful, stateless and token.
    pub sides: Option<Vec<Side>>,
    /// Concurrent keep-alive connections, each its own user.
    pub connections: usize,
    /// How long each endpoint is measured, per side.
    pub duration: Duration,
    /// Answers per measurement (one endpoint, one side, one round) at most,
    /// whatever the duration.
    pub max_requests: u64,
    /// Times every measurement is repeated, sides alternating.
    pub rounds: usize,
    /// `--workers` of each node.
    pub workers: u16,
    /// Use this Redis instead of starting one.
    pub redis_url: Option<String>,
    /// Where the server binaries are; `None` = beside this executable.
    pub bin_dir: Option<PathBuf>,
    /// Where `bench.json`, node logs and wrk scripts go; `None` writes nothing.
    pub out_dir: Option<PathBuf>,
    /// Also write the JSON report here.
    pub json: Option<PathBuf>,
    /// Also run `wrk` on every endpoint, after the harness's own measurement.
    pub wrk: bool,
    /// Print a line as each endpoint finishes (stderr).
    pub progress: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            sides: None,
            connections: 32,
            duration: Duration::from_secs(5),
            max_requests: 5_000_000,
            rounds: 1,
            workers: 1,
            redis_url: None,
            bin_dir: None,
            out_dir: None,
            json: None,
            wrk: false,
            progress: false,
        }
    }
}

impl BenchConfig {
    /// Unmeasured time before each measurement: connections are open and
    /// the node's caches and allocator are warm when the clock starts.
    pub fn warm_up(&self) -> Duration {
        (self.duration / 5).min(Duration::from_secs(1))
    }
}

/// Runs the bench on a one-thread runtime of its own (see the module docs);
/// Ctrl-C stops it (every process it started is killed) and returns an error.
pub fn run_blocking(config: &BenchConfig) -> Result<BenchReport> {
    block_on(Threads::One, run(config))
}

/// Measures every endpoint on every selected side, one after another, and
/// writes the JSON report.
pub async fn run(config: &BenchConfig) -> Result<BenchReport> {
    if config.connections == 0 || config.max_requests == 0 || config.duration.is_zero() {
        bail!(UsageError("--connections, --max-requests and --duration must be greater than zero".into()));
    }
    if config.wrk && !wrk_is_installed() {
        bail!(UsageError(format!("wrk is not installed (--wrk runs it); install it with `{WRK_INSTALL_HINT}`")));
    }
    let wanted = config.sides.as_deref().unwrap_or(Side::DEFAULT);
    let sides = resolve_sides(Some(wanted), Side::DEFAULT, config.bin_dir.as_deref())?;
    let needs = Needs {
        redis: sides.iter().any(|(side, _)| side.info().needs_redis),
        redis_url: config.redis_url.clone(),
        redis_persistence: Persistence::Snapshot,
    };
    let services = Services::start(&needs).await?;
    let backing = Backing { redis_url: services.redis.url(), token_keys: TokenKeys::Shared(random_key()?) };
    // Every node starts first and idles while another is measured: the
    // load goes to one node at a time. Dropping `nodes` kills them, whatever
    // happens (kill_on_drop); a finished bench stops them gracefully.
    let log_dir = config.out_dir.as_ref().map(|d| d.join("logs").join("bench"));
    let mut nodes = Vec::new();
    for (side, binary) in sides {
        let cluster = Cluster::start_with_workers(side, binary, backing.clone(), 1, config.workers, log_dir.clone())
            .await
            .with_context(|| format!("cannot start a {side} node"))?;
        nodes.push((side, cluster));
    }
    let measured = measure_all(config, &nodes, services.redis.pid()).await;
    for (_, cluster) in &mut nodes {
        cluster.stop(0).await.ok();
    }
    drop(nodes);
    drop(services);
    let results = measured?;

    let ratios = ratios(&results);
    let me_floor = ratios.iter().find(|r| r.endpoint == Endpoint::Me && r.side == Side::Stateless).map(|r| Floor {
        floor: "GET /me: stateless ≥ 0.6× stateful req/s".into(),
        measured: r.harness,
        held: r.harness >= 0.6,
    });
    let errors = results.iter().flat_map(|s| &s.endpoints).map(EndpointBench::errors).sum();
    let mut report = BenchReport {
        connections: config.connections,
        duration_ms: millis(config.duration),
        max_requests: config.max_requests,
        rounds: config.rounds.max(1),
        workers: config.workers,
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        sides: results,
        ratios,
        me_floor,
        errors,
        json: None,
    };
    let mut targets: Vec<PathBuf> = Vec::new();
    targets.extend(config.out_dir.as_ref().map(|dir| dir.join("bench.json")));
    targets.extend(config.json.clone());
    for path in &targets {
        write_json(&report, path)?;
    }
    report.json = targets.pop();
    Ok(report)
}

/// Every endpoint on every node: `rounds` times over, each round taking the
/// endpoints in turn and, for each, the sides one after another, so the
/// sides compared in one round ran within seconds of each other.
async fn measure_all(config: &BenchConfig, nodes: &[(Side, Cluster)], redis: Option<u32>) -> Result<Vec<SideBench>> {
    let mut pools = Vec::new();
    for (side, cluster) in nodes {
        let node = &cluster.nodes()[0];
        let (addr, processes) = (node.addr, Processes { node: node.pid(), redis, generator: std::process::id() });
        let mut connections = Vec::with_capacity(config.connections);
        for index in 0..config.connections {
            let mut connection = Connection::open(addr).await.with_context(|| format!("{side}: cannot connect"))?;
            connection.log_in(&format!("bench-{index:04}")).await.with_context(|| format!("{side}: login failed"))?;
            connections.push(connection);
        }
        pools.push((*side, addr, processes, connections));
    }
    let rounds = config.rounds.max(1);
    // records[side][endpoint]: one record per round.
    let mut records: Vec<Vec<Vec<Record>>> =
        pools.iter().map(|_| Endpoint::ALL.iter().map(|_| Vec::new()).collect()).collect();
    for round in 1..=rounds {
        for (e, endpoint) in Endpoint::ALL.into_iter().enumerate() {
            for (i, (side, _, processes, connections)) in pools.iter_mut().enumerate() {
                let taken = std::mem::take(connections);
                let (back, _) = drive_all(taken, endpoint, config.warm_up(), config.max_requests).await?;
                let before = processes.read();
                let (back, mut record) = drive_all(back, endpoint, config.duration, config.max_requests).await?;
                record.cpu = processes.read().since(before);
                *connections = back;
                if config.progress {
                    eprintln!(
                        "  round {round}/{rounds}  {:<16} {:<13} {:>9.0} req/s",
                        side.name(),
                        endpoint.name(),
                        record.req_per_s()
                    );
                }
                records[i][e].push(record);
            }
        }
    }
    let mut results = Vec::new();
    for ((side, addr, _, _), per_endpoint) in pools.iter().zip(records) {
        let mut endpoints = Vec::new();
        for (endpoint, rounds) in Endpoint::ALL.into_iter().zip(per_endpoint) {
            let mut figures = Record::figures(endpoint, &rounds);
            if config.wrk {
                let wrk = run_wrk(config, *side, *addr, endpoint).await?;
                if config.progress {
                    eprintln!(
                        "  wrk            {:<16} {:<13} {:>9.0} req/s",
                        side.name(),
                        endpoint.name(),
                        wrk.req_per_s
                    );
                }
                figures.wrk = Some(wrk);
            }
            endpoints.push(figures);
        }
        results.push(SideBench { side: *side, endpoints });
    }
    Ok(results)
}

/// What the connections saw during one measurement.
struct Record {
    latency_us: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    failed: u64,
    elapsed: Duration,
    /// What each process spent while this was measured.
    cpu: CpuTimes,
}

impl Record {
    fn new() -> Record {
        Record {
            latency_us: new_histogram(),
            statuses: BTreeMap::new(),
            failed: 0,
            elapsed: Duration::ZERO,
            cpu: CpuTimes::default(),
        }
    }

    fn merge(&mut self, other: &Record) {
        self.latency_us.add(&other.latency_us).ok();
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_insert(0) += n;
        }
        self.failed += other.failed;
    }

    fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn req_per_s(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 { (self.answered() as f64 / seconds).round() } else { 0.0 }
    }

    /// The figures of one endpoint from its rounds: counts and latency over
    /// every round, req/s = all answers over all measured time.
    fn figures(endpoint: Endpoint, rounds: &[Record]) -> EndpointBench {
        let mut total = Record::new();
        for round in rounds {
            total.merge(round);
            total.elapsed += round.elapsed;
        }
        let cpu = rounds.iter().map(|round| round.cpu).reduce(CpuTimes::plus).unwrap_or_default();
        let answered = total.answered();
        let per_request = |spent: Option<Duration>| {
            spent.filter(|_| answered > 0).map(|spent| spent.as_secs_f64() * 1e6 / answered as f64)
        };
        let non_2xx = total.statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(_, n)| n).sum();
        EndpointBench {
            endpoint,
            requests: answered,
            non_2xx,
            failed: total.failed,
            statuses: total.statuses.clone(),
            elapsed_ms: millis(total.elapsed),
            req_per_s: total.req_per_s(),
            per_round_req_per_s: rounds.iter().map(Record::req_per_s).collect(),
            latency_ms: Latency::precise(&total.latency_us),
            cpu_us_per_request: CpuPerRequest {
                node: per_request(cpu.node),
                redis: per_request(cpu.redis),
                generator: per_request(cpu.generator),
            },
            wrk: None,
        }
    }
}

/// Every connection sends `endpoint` in a closed loop until `duration` has
/// passed or `max_requests` requests were sent; returns the connections
/// (still open, still logged in) and what they saw.
async fn drive_all(
    connections: Vec<Connection>,
    endpoint: Endpoint,
    duration: Duration,
    max_requests: u64,
) -> Result<(Vec<Connection>, Record)> {
    let budget = Arc::new(AtomicU64::new(max_requests));
    let started = Instant::now();
    let until = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for connection in connections {
        tasks.spawn(drive(connection, endpoint, until, Arc::clone(&budget)));
    }
    let mut back = Vec::new();
    let mut total = Record::new();
    while let Some(done) = tasks.join_next().await {
        let (connection, record) = done.context("a bench connection panicked")?;
        total.merge(&record);
        back.push(connection);
    }
    total.elapsed = started.elapsed();
    Ok((back, total))
}

async fn drive(
    mut connection: Connection,
    endpoint: Endpoint,
    until: Instant,
    budget: Arc<AtomicU64>,
) -> (Connection, Record) {
    let mut record = Record::new();
    loop {
        let now = Instant::now();
        if now >= until || budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_err() {
            break;
        }
        match connection.send(endpoint).await {
            Some(status) => {
                let us = u64::try_from(now.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                record.latency_us.saturating_record(us);
                *record.statuses.entry(status).or_insert(0) += 1;
            }
            None => record.failed += 1,
        }
    }
    (connection, record)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn ratios(sides: &[SideBench]) -> Vec<Ratio> {
    let Some(stateful) = sides.iter().find(|s| s.side == Side::Stateful) else {
        return Vec::new();
    };
    let mut ratios = Vec::new();
    for side in sides.iter().filter(|s| s.side != Side::Stateful) {
        for endpoint in Endpoint::ALL {
            let (Some(base), Some(this)) = (stateful.endpoint(endpoint), side.endpoint(endpoint)) else {
                continue;
            };
            let ratio = |a: f64, b: f64| if b > 0.0 { (a / b * 100.0).round() / 100.0 } else { 0.0 };
            let wrk = match (&this.wrk, &base.wrk) {
                (Some(a), Some(b)) => Some(ratio(a.req_per_s, b.req_per_s)),
                _ => None,
            };
            let per_round: Vec<f64> =
                this.per_round_req_per_s.iter().zip(&base.per_round_req_per_s).map(|(a, b)| ratio(*a, *b)).collect();
            ratios.push(Ratio { endpoint, side: side.side, harness: median(&per_round), per_round, wrk });
        }
    }
    ratios
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => ((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 * 100.0).round() / 100.0,
    }
}
