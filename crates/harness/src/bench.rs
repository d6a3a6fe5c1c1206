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
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use local_redis::RedisServer;
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::cluster::{Cluster, find_binary};
use crate::cpu::{CpuTimes, Processes};
use crate::metrics::{Latency, new_histogram};
use crate::side::{Backing, Side, TokenKeys, random_key};
use crate::user::CookieJar;
use crate::{Interrupted, UsageError, parse_duration};

/// The bodies `POST /cart` rotates through: three items, so the quantities
/// grow and the cart's size stays put.
const CART_BODIES: [&str; 3] = [r#"{"item":"book","qty":1}"#, r#"{"item":"pen","qty":1}"#, r#"{"item":"mug","qty":1}"#];
/// Longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Install hint for `--wrk`.
pub const WRK_INSTALL_HINT: &str = "sudo apt-get install -y wrk";

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

    fn path(self) -> &'static str {
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

/// The whole bench.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Connections per endpoint.
    pub connections: usize,
    /// Measured time per endpoint (ms).
    pub duration_ms: u64,
    /// Answers per measurement at most.
    pub max_requests: u64,
    /// Rounds (each endpoint measured `rounds` times per side, sides alternating).
    pub rounds: usize,
    /// Worker threads per node.
    pub workers: u16,
    /// Cores the machine has (the generator and Redis share them with the node).
    pub cpus: usize,
    /// One entry per side, in the order they ran.
    pub sides: Vec<SideBench>,
    /// Each side's req/s over the stateful side's, per endpoint.
    pub ratios: Vec<Ratio>,
    /// Issue 4's target: `/me` stateless ≥ 0.6× stateful req/s.
    pub me_target: Option<Target>,
    /// Non-2xx answers and requests without an answer, over every endpoint.
    pub errors: u64,
    /// Where the JSON report was written, if anywhere.
    pub json: Option<PathBuf>,
}

impl BenchReport {
    /// The entry of `side`, if it ran.
    pub fn side(&self, side: Side) -> Option<&SideBench> {
        self.sides.iter().find(|s| s.side == side)
    }
}

/// One side's figures.
#[derive(Clone, Debug, Serialize)]
pub struct SideBench {
    /// Which twin.
    pub side: Side,
    /// One entry per endpoint.
    pub endpoints: Vec<EndpointBench>,
}

impl SideBench {
    /// The entry of `endpoint`.
    pub fn endpoint(&self, endpoint: Endpoint) -> Option<&EndpointBench> {
        self.endpoints.iter().find(|e| e.endpoint == endpoint)
    }
}

/// One endpoint on one side.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointBench {
    /// Which request.
    pub endpoint: Endpoint,
    /// Answered requests (any status).
    pub requests: u64,
    /// Answers outside 2xx.
    pub non_2xx: u64,
    /// Requests that got no answer (refused, reset, timed out).
    pub failed: u64,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Measured time (ms), from the first request to the last answer.
    pub elapsed_ms: u64,
    /// Answered requests per second, over every round.
    pub req_per_s: f64,
    /// The same, round by round.
    pub per_round_req_per_s: Vec<f64>,
    /// Latency of answered requests.
    pub latency_ms: Latency,
    /// CPU time per answered request, over every round (µs).
    pub cpu_us_per_request: CpuPerRequest,
    /// wrk's figures on the same node and endpoint, with `--wrk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrk: Option<WrkFigures>,
}

impl EndpointBench {
    /// Non-2xx answers plus requests without an answer.
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.failed
    }
}

/// CPU time per answered request (µs) of each process that served it, read
/// from `/proc` ([`crate::cpu`]); `None` where it could not be read (no
/// `/proc`, or a Redis the harness did not start).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CpuPerRequest {
    /// The node under load, every thread.
    pub node: Option<f64>,
    /// `redis-server` (it runs during every side's turn; the sides that do
    /// not use it show what it spends idle).
    pub redis: Option<f64>,
    /// The load generator: this process.
    pub generator: Option<f64>,
}

/// What wrk measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WrkFigures {
    /// The command that ran.
    pub command: String,
    /// Requests per second.
    pub req_per_s: f64,
    /// Requests completed.
    pub requests: u64,
    /// Latency percentiles (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// "Non-2xx or 3xx responses".
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors, summed.
    pub socket_errors: u64,
}

/// One side's req/s over the stateful side's, for one endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The side compared with stateful.
    pub side: Side,
    /// side req/s ÷ stateful req/s (harness figures): the median of the
    /// per-round ratios, so a busy moment weighs on both sides of a ratio.
    pub harness: f64,
    /// The ratio in each round.
    pub per_round: Vec<f64>,
    /// The same from wrk's figures, with `--wrk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrk: Option<f64>,
}

/// A target and whether it was met.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// What is asked.
    pub target: String,
    /// What was measured.
    pub measured: f64,
    /// Whether it was met.
    pub met: bool,
}

/// Runs the bench on a one-thread runtime of its own (see the module docs);
/// Ctrl-C stops it (every process it started is killed) and returns an error.
pub fn run_blocking(config: &BenchConfig) -> Result<BenchReport> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        tokio::select! {
            report = run(config) => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(Interrupted)),
        }
    })
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
    let sides = resolve_sides(config)?;
    let redis = start_redis(config, &sides).await?;
    let redis_url = redis.as_ref().map(RedisServer::url).or_else(|| config.redis_url.clone());
    let backing = Backing { redis_url, token_keys: TokenKeys::Shared(random_key()?) };
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
    let measured = measure_all(config, &nodes, redis.as_ref().and_then(RedisServer::pid)).await;
    for (_, cluster) in &mut nodes {
        cluster.stop(0).await.ok();
    }
    drop(nodes);
    drop(redis);
    let results = measured?;

    let ratios = ratios(&results);
    let me_target = ratios.iter().find(|r| r.endpoint == Endpoint::Me && r.side == Side::Stateless).map(|r| Target {
        target: "GET /me: stateless ≥ 0.6× stateful req/s".into(),
        measured: r.harness,
        met: r.harness >= 0.6,
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
        me_target,
        errors,
        json: None,
    };
    write_json(config, &mut report)?;
    Ok(report)
}

fn resolve_sides(config: &BenchConfig) -> Result<Vec<(Side, PathBuf)>> {
    let wanted = config.sides.clone().unwrap_or_else(|| Side::DEFAULT.to_vec());
    wanted
        .into_iter()
        .map(|side| match find_binary(side.info().binary, config.bin_dir.as_deref()) {
            Some(path) => Ok((side, path)),
            None => Err(UsageError(format!(
                "no `{}` binary found; build them with `cargo build --release --workspace --bins` (or pass --bin-dir)",
                side.info().binary
            ))
            .into()),
        })
        .collect()
}

async fn start_redis(config: &BenchConfig, sides: &[(Side, PathBuf)]) -> Result<Option<RedisServer>> {
    if config.redis_url.is_some() || !sides.iter().any(|(side, _)| side.info().needs_redis) {
        return Ok(None);
    }
    if !local_redis::is_installed() {
        bail!(UsageError(format!(
            "redis-server is not installed (the Redis-backed sides need it); install it with `{}`",
            local_redis::INSTALL_HINT
        )));
    }
    let server = tokio::task::spawn_blocking(RedisServer::start).await?.context("cannot start redis-server")?;
    Ok(Some(server))
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

/// A keep-alive HTTP/1.1 connection logged in as its own user, spoken by
/// hand: the request is written as bytes, the answer's head is parsed with
/// `httparse` and its body skipped by `Content-Length`, all in the task
/// that drives the connection.
///
/// Why not a client library: the generator must cost less per request than
/// the node it loads, or it, not the node, sets the rate. With reqwest's
/// pool, wrk served `/healthz` 40 % faster; a bare hyper connection (a
/// driver task per connection, a channel each way, a `Request` and a
/// `HeaderMap` per request) still took 7 µs of CPU per request, a whole
/// core at the stateful node's rate, and served it about 8 % less than wrk
/// did. This does what wrk does: one `write` per request, one `read` per
/// answer.
struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    jar: CookieJar,
    /// The `Cookie` header's value (kept in step with `jar`).
    cookie: Option<String>,
    /// `Host: …` and its CRLF, the same on every request.
    host_line: String,
    /// The request being sent, and the answer being read; reused.
    request: Vec<u8>,
    answer: Vec<u8>,
    sent: u64,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Connection> {
        let mut connection = Connection {
            addr,
            stream: None,
            jar: CookieJar::default(),
            cookie: None,
            host_line: format!("Host: {addr}\r\n"),
            request: Vec::with_capacity(512),
            answer: Vec::with_capacity(4096),
            sent: 0,
        };
        connection.connect().await?;
        Ok(connection)
    }

    async fn connect(&mut self) -> Result<()> {
        self.stream = None;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .context("connect timed out")?
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_nodelay(true).ok();
        self.stream = Some(stream);
        Ok(())
    }

    async fn log_in(&mut self, user: &str) -> Result<()> {
        let body = format!(r#"{{"user":"{user}"}}"#);
        let status = self.exchange("POST", "/login", body.as_bytes(), false).await?;
        if !(200..300).contains(&status) {
            bail!("POST /login answered {status}");
        }
        Ok(())
    }

    /// One request of `endpoint`; the status, or `None` when no answer came
    /// (the connection is opened again for the next request).
    async fn send(&mut self, endpoint: Endpoint) -> Option<u16> {
        let (method, body) = match endpoint {
            Endpoint::Healthz | Endpoint::Me => ("GET", ""),
            Endpoint::Cart => ("POST", CART_BODIES[(self.sent % 3) as usize]),
        };
        self.sent += 1;
        match self.exchange(method, endpoint.path(), body.as_bytes(), endpoint != Endpoint::Healthz).await {
            Ok(status) => Some(status),
            Err(_) => {
                self.connect().await.ok();
                None
            }
        }
    }

    /// Sends one request and reads its whole answer; the status. On any
    /// error the connection is dropped (the next request opens a new one).
    async fn exchange(&mut self, method: &str, path: &str, body: &[u8], with_cookie: bool) -> Result<u16> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let request = &mut self.request;
        request.clear();
        for part in [method, " ", path, " HTTP/1.1\r\n", &self.host_line] {
            request.extend_from_slice(part.as_bytes());
        }
        if !body.is_empty() {
            // Into the reused buffer: no `String` per request.
            let head = format_args!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
            std::io::Write::write_fmt(request, head).expect("writing to a Vec cannot fail");
        }
        if with_cookie && let Some(cookie) = &self.cookie {
            for part in ["Cookie: ", cookie, "\r\n"] {
                request.extend_from_slice(part.as_bytes());
            }
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        let stream = self.stream.as_mut().context("no connection")?;
        let exchange = round_trip(stream, &self.request, &mut self.answer, &mut self.jar);
        let answer = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        match answer {
            Ok(Answer { status, set_cookie }) => {
                // The token twin re-issues its cookie on every answer.
                if set_cookie {
                    self.cookie = self.jar.header();
                }
                Ok(status)
            }
            Err(error) => {
                self.stream = None;
                Err(error.context("HTTP exchange"))
            }
        }
    }
}

/// What [`round_trip`] read of an answer.
struct Answer {
    status: u16,
    /// Whether it set a cookie (now in the jar).
    set_cookie: bool,
}

/// Writes `request`, reads one whole answer into `answer` (cleared first),
/// and stores the cookies it sets in `jar`.
async fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    answer: &mut Vec<u8>,
    jar: &mut CookieJar,
) -> Result<Answer> {
    stream.write_all(request).await?;
    answer.clear();
    loop {
        if answer.capacity() - answer.len() < 1024 {
            answer.reserve(4096);
        }
        if stream.read_buf(answer).await? == 0 {
            bail!("the node closed the connection");
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head_len) = head.parse(answer)? else {
            continue;
        };
        let status = head.code.context("an answer without a status")?;
        let (mut body_len, mut set_cookie) = (None, false);
        for header in head.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let digits = std::str::from_utf8(header.value).ok();
                body_len = Some(digits.and_then(|d| d.trim().parse::<usize>().ok()).context("a bad Content-Length")?);
            } else if header.name.eq_ignore_ascii_case("set-cookie") {
                jar.store(std::str::from_utf8(header.value).context("a Set-Cookie that is not text")?);
                set_cookie = true;
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                // The servers send every body with its length; a chunked
                // one would be a change to notice, not to measure around.
                bail!("an answer with Transfer-Encoding");
            }
        }
        let body_len = match (status, body_len) {
            (_, Some(len)) => len,
            (204 | 304, None) => 0,
            (_, None) => bail!("an answer without Content-Length"),
        };
        let whole = head_len + body_len;
        while answer.len() < whole {
            answer.reserve(whole - answer.len());
            if stream.read_buf(answer).await? == 0 {
                bail!("the node closed the connection mid-answer");
            }
        }
        if answer.len() > whole {
            bail!("bytes after the answer, before the next request");
        }
        return Ok(Answer { status, set_cookie });
    }
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
            latency_ms: precise_latency(&total.latency_us),
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

/// Percentiles in ms with µs precision (loopback requests take tens of µs).
fn precise_latency(histogram: &Histogram<u64>) -> Latency {
    if histogram.is_empty() {
        return Latency::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Latency {
        p50: ms(histogram.value_at_quantile(0.50)),
        p99: ms(histogram.value_at_quantile(0.99)),
        max: ms(histogram.max()),
    }
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

// ---- wrk -------------------------------------------------------------------

/// Whether `wrk` is on the PATH.
pub fn wrk_is_installed() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Runs `wrk -t1 -cN -dD --latency` on `endpoint` of the node at `base`,
/// logged in as a user of its own (every wrk connection sends that user's
/// cookie; wrk does not keep re-issued cookies, so on the token side each
/// `POST /cart` adds to the same small cart).
async fn run_wrk(config: &BenchConfig, side: Side, addr: SocketAddr, endpoint: Endpoint) -> Result<WrkFigures> {
    let mut connection = Connection::open(addr).await?;
    connection.log_in("bench-wrk").await.with_context(|| format!("{side}: login for wrk failed"))?;
    let dir = match &config.out_dir {
        Some(dir) => dir.join("wrk"),
        None => std::env::temp_dir().join(format!("harness-bench-wrk-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script = dir.join(format!("{side}-{}.lua", endpoint.path().trim_start_matches('/')));
    std::fs::write(&script, wrk_script(endpoint, connection.cookie.as_deref()))
        .with_context(|| format!("cannot write {}", script.display()))?;
    let seconds = config.duration.as_secs().max(1);
    let args = vec![
        "-t1".to_string(),
        format!("-c{}", config.connections),
        format!("-d{seconds}s"),
        "--latency".to_string(),
        "-s".to_string(),
        script.display().to_string(),
        format!("http://{addr}{}", endpoint.path()),
    ];
    let output =
        tokio::process::Command::new("wrk").args(&args).kill_on_drop(true).output().await.context("cannot run wrk")?;
    if !output.status.success() {
        bail!("wrk failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut figures = parse_wrk(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))?;
    figures.command = format!("wrk {}", args.join(" "));
    Ok(figures)
}

/// The Lua script that makes wrk send `endpoint` with the session cookie.
pub fn wrk_script(endpoint: Endpoint, cookie: Option<&str>) -> String {
    let mut script =
        format!("-- Written by `harness bench --wrk`: {} with one user's session cookie.\n", endpoint.name());
    match endpoint {
        Endpoint::Healthz | Endpoint::Me => script.push_str("wrk.method = \"GET\"\n"),
        Endpoint::Cart => {
            script.push_str("wrk.method = \"POST\"\n");
            script.push_str("wrk.body = '{\"item\":\"book\",\"qty\":1}'\n");
            script.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
        }
    }
    if endpoint != Endpoint::Healthz
        && let Some(cookie) = cookie
    {
        let _ = writeln!(script, "wrk.headers[\"Cookie\"] = \"{cookie}\"");
    }
    script
}

/// Reads req/s, request count, p50/p99, non-2xx and socket errors from
/// wrk's `--latency` output.
pub fn parse_wrk(text: &str) -> Option<WrkFigures> {
    let mut figures = WrkFigures::default();
    let mut seen_rate = false;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            figures.req_per_s = rest.trim().parse().ok()?;
            seen_rate = true;
        } else if let Some(rest) = line.strip_prefix("50%") {
            figures.p50_ms = wrk_ms(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("99%") {
            figures.p99_ms = wrk_ms(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            figures.non_2xx = rest.trim().parse().ok()?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            figures.socket_errors =
                rest.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum();
        } else if line.contains(" requests in ") {
            figures.requests = line.split_whitespace().next()?.parse().ok()?;
        }
    }
    seen_rate.then_some(figures)
}

/// `812.00us`, `1.23ms`, `2.01s`, `1.00m` in milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(value / 1000.0),
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        "m" => Some(value * 60_000.0),
        _ => None,
    }
}

// ---- output ----------------------------------------------------------------

fn write_json(config: &BenchConfig, report: &mut BenchReport) -> Result<()> {
    let mut targets: Vec<PathBuf> = Vec::new();
    if let Some(dir) = &config.out_dir {
        targets.push(dir.join("bench.json"));
    }
    if let Some(path) = &config.json {
        targets.push(path.clone());
    }
    for path in &targets {
        write_file(path, report)?;
    }
    report.json = targets.pop();
    Ok(())
}

fn write_file(path: &Path, report: &BenchReport) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(report).context("cannot encode the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// The plain-text table, the ratios, the target and any errors.
pub fn table(report: &BenchReport) -> String {
    let with_wrk = report.sides.iter().flat_map(|s| &s.endpoints).any(|e| e.wrk.is_some());
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<17} {:<13} {:>10} {:>9} {:>9} {:>8} {:>7} {:>8} {:>8} {:>8}",
        "side", "endpoint", "req/s", "p50 ms", "p99 ms", "non-2xx", "failed", "node µs", "redis µs", "load µs"
    );
    if with_wrk {
        let _ = write!(out, " {:>10} {:>9} {:>9}", "wrk req/s", "wrk p50", "wrk p99");
    }
    out.push('\n');
    for side in &report.sides {
        for e in &side.endpoints {
            let cpu = |us: Option<f64>| us.map_or_else(|| "-".to_string(), |us| format!("{us:.1}"));
            let _ = write!(
                out,
                "{:<17} {:<13} {:>10.0} {:>9.3} {:>9.3} {:>8} {:>7} {:>8} {:>8} {:>8}",
                side.side.name(),
                e.endpoint.name(),
                e.req_per_s,
                e.latency_ms.p50,
                e.latency_ms.p99,
                e.non_2xx,
                e.failed,
                cpu(e.cpu_us_per_request.node),
                cpu(e.cpu_us_per_request.redis),
                cpu(e.cpu_us_per_request.generator),
            );
            if let Some(w) = &e.wrk {
                let _ = write!(out, " {:>10.0} {:>9.3} {:>9.3}", w.req_per_s, w.p50_ms, w.p99_ms);
            }
            out.push('\n');
        }
    }
    out.push_str(
        "(µs columns: CPU time per answered request of the node, of redis-server and of the load generator, \
         every thread, from /proc)\n",
    );
    if !report.ratios.is_empty() {
        out.push_str("\nreq/s over stateful (harness, median of rounds");
        out.push_str(if with_wrk { "; wrk)\n" } else { ")\n" });
        for r in &report.ratios {
            let _ = write!(
                out,
                "  {:<17} {:<13} {:>5.2}×",
                format!("{}/stateful", r.side.name()),
                r.endpoint.name(),
                r.harness
            );
            if let Some(w) = r.wrk {
                let _ = write!(out, "  (wrk {w:.2}×)");
            }
            out.push('\n');
        }
    }
    if let Some(target) = &report.me_target {
        let _ = writeln!(
            out,
            "\ntarget {}: {:.2}× — {}",
            target.target,
            target.measured,
            if target.met { "met" } else { "NOT met" }
        );
    }
    let wrk_errors: u64 = report
        .sides
        .iter()
        .flat_map(|s| &s.endpoints)
        .filter_map(|e| e.wrk.as_ref())
        .map(|w| w.non_2xx + w.socket_errors)
        .sum();
    if report.errors > 0 || wrk_errors > 0 {
        let _ = writeln!(
            out,
            "\nWARNING: this bench saw errors ({} from the harness, {wrk_errors} from wrk): its rates include failed requests.",
            report.errors
        );
    }
    out
}

// ---- command line ----------------------------------------------------------

/// `harness bench`'s flags.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Concurrent keep-alive connections, each logged in as its own user.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    connections: u16,
    /// How long each endpoint is measured, per side (5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Answers per measurement (one endpoint, one side, one round) at most, whatever the duration.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_requests: u64,
    /// Measure every endpoint this many times per side, sides alternating; ratios are per-round medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    rounds: u16,
    /// Worker threads per node (1 leaves a core of a 2-core machine to the load generator).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Sides to measure, comma-separated [default: stateful,stateless,token].
    #[arg(long, value_delimiter = ',', value_parser = |s: &str| s.parse::<Side>())]
    sides: Option<Vec<Side>>,
    /// After each measurement, run `wrk -t1` with the same connections and duration on the same node.
    #[arg(long)]
    wrk: bool,
    /// Use this Redis instead of starting a private one.
    #[arg(long, env = "REDIS_URL")]
    redis_url: Option<String>,
    /// Where bench.json, node logs and wrk scripts go.
    #[arg(long, default_value = "target/harness")]
    out: PathBuf,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Directory holding the server binaries [default: beside this executable].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// Runs `harness bench` and returns the exit status (0 done, 1 failed,
/// 2 bad usage, 130 Ctrl-C).
pub fn main(args: BenchArgs) -> ExitCode {
    let config = BenchConfig {
        sides: args.sides,
        connections: usize::from(args.connections),
        duration: args.duration,
        max_requests: args.max_requests,
        rounds: usize::from(args.rounds),
        workers: args.workers,
        redis_url: args.redis_url,
        bin_dir: args.bin_dir,
        out_dir: Some(args.out),
        json: args.json,
        wrk: args.wrk,
        progress: true,
    };
    println!(
        "HTTP bench: one node per side ({} worker{}), {} keep-alive connections (one user each), \
         closed loop, {:.1} s per endpoint after a {:.1} s warm-up, {} round{}; one side under load at a time.",
        config.workers,
        if config.workers == 1 { "" } else { "s" },
        config.connections,
        config.duration.as_secs_f64(),
        config.warm_up().as_secs_f64(),
        config.rounds,
        if config.rounds == 1 { "" } else { "s" }
    );
    match run_blocking(&config) {
        Ok(report) => {
            println!("\n{}", table(&report));
            if let Some(json) = &report.json {
                println!("report: {}", json.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => crate::exit_for(&e, "harness bench"),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:4000/me
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  200.00us   5.00ms   90.00%
    Req/Sec    29.00k     1.00k   31.00k    80.00%
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    1.50ms
     99%    2.01ms
  145000 requests in 5.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  28999.50
Transfer/sec:      6.00MB
";
        let f = parse_wrk(text).unwrap();
        assert_eq!(f.req_per_s, 28999.5);
        assert_eq!(f.requests, 145_000);
        assert!((f.p50_ms - 0.812).abs() < 1e-9);
        assert!((f.p99_ms - 2.01).abs() < 1e-9);
        assert_eq!(f.non_2xx, 7);
        assert_eq!(f.socket_errors, 3);
        assert!(parse_wrk("wrk: connection refused").is_none());
    }

    #[test]
    fn wrk_scripts_send_the_cookie_only_where_a_session_is_needed() {
        let me = wrk_script(Endpoint::Me, Some("sid=abc"));
        assert!(me.contains("wrk.headers[\"Cookie\"] = \"sid=abc\""));
        let cart = wrk_script(Endpoint::Cart, Some("sid=abc"));
        assert!(cart.contains("wrk.method = \"POST\"") && cart.contains("\"qty\":1"));
        assert!(!wrk_script(Endpoint::Healthz, Some("sid=abc")).contains("Cookie"));
    }
}

/// The generator's HTTP/1.1, against a peer on loopback that answers in
/// pieces, as a real node may.
#[cfg(test)]
mod hand_spoken_http {
    use tokio::net::TcpListener;

    use super::*;

    /// A peer that answers each of `requests` requests on one connection
    /// with `answer`, written in `pieces` writes with a yield between them
    /// (so the client may read a piece at a time); returns what it read.
    async fn peer(
        answer: &'static [u8],
        pieces: usize,
        requests: usize,
    ) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let mut read = Vec::new();
            for _ in 0..requests {
                let mut request = vec![0; 4096];
                let n = socket.read(&mut request).await.unwrap();
                read.extend_from_slice(&request[..n]);
                for piece in answer.chunks(answer.len().div_ceil(pieces)) {
                    socket.write_all(piece).await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            String::from_utf8(read).unwrap()
        });
        (addr, serve)
    }

    #[tokio::test]
    async fn answers_split_across_reads_are_read_whole_and_their_cookie_kept() {
        let answer =
            b"HTTP/1.1 200 OK\r\nset-cookie: sid=abc; Path=/; HttpOnly\r\ncontent-length: 12\r\n\r\n{\"items\":{}}";
        let (addr, serve) = peer(answer, 7, 2).await;
        let mut connection = Connection::open(addr).await.unwrap();
        connection.cookie = Some("sid=old".into());
        // Two on one connection: a body left unread would be taken for the
        // start of the second answer.
        for _ in 0..2 {
            let status = connection.exchange("POST", "/cart", br#"{"item":"pen","qty":1}"#, true).await.unwrap();
            assert_eq!(status, 200);
        }
        assert_eq!(connection.cookie.as_deref(), Some("sid=abc"));
        let read = serve.await.unwrap();
        let first = "POST /cart HTTP/1.1\r\nHost: ADDR\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\
                     Cookie: sid=old\r\n\r\n{\"item\":\"pen\",\"qty\":1}"
            .replace("ADDR", &addr.to_string());
        assert_eq!(read, format!("{first}{}", first.replace("sid=old", "sid=abc")));
    }

    #[tokio::test]
    async fn an_answer_it_cannot_frame_fails_and_drops_the_connection() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}{}",
        ] {
            let (addr, serve) = peer(answer, 1, 1).await;
            let mut connection = Connection::open(addr).await.unwrap();
            let text = String::from_utf8_lossy(answer).into_owned();
            assert!(connection.exchange("GET", "/me", b"", false).await.is_err(), "{text}");
            assert!(connection.stream.is_none(), "{text}");
            serve.await.unwrap();
        }
    }
}
