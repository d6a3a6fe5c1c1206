//! What a run measures: counts, latencies, a timeline, events.
//!
//! Each virtual user keeps its own [`UserRecord`] (no lock on the hot
//! path); a side's records are merged once, at the end. Only the live
//! counters behind the progress bar are shared.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Width of one timeline bucket.
pub const BUCKET: Duration = Duration::from_millis(100);

/// Milliseconds since the run of one side started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        Clock { start: Instant::now() }
    }

    /// Milliseconds since the start.
    pub fn t_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant `offset` after the start.
    pub fn at(&self, offset: Duration) -> Instant {
        self.start + offset
    }
}

/// How a request ended, for the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// An answer below 500 that is not a 401 after login.
    Ok,
    /// No HTTP answer, no live node, or a 5xx.
    Failed,
    /// 401 after a successful login.
    Unauthorized,
}

/// One 100 ms slice of the run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Bucket {
    /// Start of the slice.
    pub t_ms: u64,
    /// Requests answered normally.
    pub ok: u64,
    /// Requests with no answer or a 5xx.
    pub failed: u64,
    /// 401s after login.
    pub unauthorized: u64,
}

/// What a scenario did to the cluster or to a service, as the report and
/// the chart name it. A new kind (a scale-in, a failover) is a variant: its
/// name comes from the variant, kebab-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A node was SIGKILLed.
    Kill,
    /// A node started (joined, or came back from a restart).
    Start,
    /// A node was taken out of rotation to be restarted.
    Restart,
    /// Redis went away (stopped or killed).
    RedisDown,
    /// Redis answers again.
    RedisUp,
}

impl EventKind {
    /// The name in the JSON report and on the chart.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Kill => "kill",
            EventKind::Start => "start",
            EventKind::Restart => "restart",
            EventKind::RedisDown => "redis-down",
            EventKind::RedisUp => "redis-up",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A cluster or service event the scenario caused.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// When, since the side's start.
    pub t_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The node's name, or the service's (`redis`).
    pub node: String,
}

/// The events of one side's run, in order.
#[derive(Debug)]
pub struct Events {
    clock: Clock,
    list: Mutex<Vec<Event>>,
}

impl Events {
    /// An empty log on `clock`.
    pub fn new(clock: Clock) -> Events {
        Events { clock, list: Mutex::new(Vec::new()) }
    }

    /// Records `kind` for `node` now and returns its time.
    pub fn record(&self, kind: EventKind, node: &str) -> u64 {
        let t_ms = self.clock.t_ms();
        self.list.lock().unwrap().push(Event { t_ms, kind, node: node.to_string() });
        t_ms
    }

    /// The events so far.
    pub fn snapshot(&self) -> Vec<Event> {
        self.list.lock().unwrap().clone()
    }
}

/// Counters the progress bar reads while users run.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Of those, failed.
    pub failed: AtomicU64,
    /// Of those, 401 after login.
    pub unauthorized: AtomicU64,
    /// Forced logouts.
    pub logouts: AtomicU64,
}

impl Live {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A successful login.
#[derive(Clone, Debug, Serialize)]
pub struct Login {
    /// When.
    pub t_ms: u64,
    /// The node that created the session.
    pub node: String,
}

/// A forced logout: a 401 to a user who had logged in.
#[derive(Clone, Debug, Serialize)]
pub struct Logout {
    /// When the 401 came.
    pub t_ms: u64,
    /// The virtual user.
    pub user: String,
    /// The node the session was created on.
    pub session_node: String,
    /// The node that answered 401.
    pub answered_by: String,
    /// Items in the user's cart that went with the session.
    pub items_lost: u32,
}

/// Everything one virtual user saw.
#[derive(Debug)]
pub struct UserRecord {
    /// Its name (the same on every side of a run).
    pub name: String,
    /// Latencies in microseconds, of requests that got an HTTP answer.
    pub latency_us: Histogram<u64>,
    /// Per-bucket counts, indexed by `t_ms / 100`.
    pub timeline: Vec<Bucket>,
    /// Requests served per node (from `X-Node`).
    pub per_node: BTreeMap<String, u64>,
    /// Requests served per node per whole second.
    pub per_node_seconds: BTreeMap<String, Vec<u64>>,
    /// When each node first served this user.
    pub first_served_ms: BTreeMap<String, u64>,
    /// Requests sent.
    pub requests: u64,
    /// No answer, no live node, or 5xx.
    pub failed: u64,
    /// 503 answers (a subset of `failed`).
    pub unavailable: u64,
    /// 401 after login.
    pub unauthorized: u64,
    /// Other 4xx answers (a harness or server bug if any).
    pub other_client_errors: u64,
    /// Successful logins.
    pub logins: Vec<Login>,
    /// Forced logouts.
    pub logouts: Vec<Logout>,
    /// Times at which the cart stopped matching the ledger.
    pub cart_losses: Vec<u64>,
    /// Logouts the user asked for (`POST /logout` answered 204).
    pub logouts_done: u64,
    /// Requests an attacker sent with a cookie captured before a logout.
    pub replays_sent: u64,
    /// Of those, answered 200: the logged-out session still worked.
    pub replays_accepted: u64,
    /// Cart adds sent two at a time, acknowledged with 200, and checked
    /// by the next cart read.
    pub paired_adds: u64,
    /// Of those, missing from the next cart read.
    pub paired_adds_lost: u64,
    /// Bytes of the longest `sid` cookie value the user was given.
    pub sid_bytes_max: u64,
    /// Sum and count of the `sid` cookie values' lengths, for the mean.
    pub sid_bytes_sum: u64,
    /// How many `sid` cookies the user was given.
    pub sid_cookies: u64,
}

impl UserRecord {
    /// An empty record for `name`.
    pub fn new(name: String) -> UserRecord {
        UserRecord {
            name,
            latency_us: new_histogram(),
            timeline: Vec::new(),
            per_node: BTreeMap::new(),
            per_node_seconds: BTreeMap::new(),
            first_served_ms: BTreeMap::new(),
            requests: 0,
            failed: 0,
            unavailable: 0,
            unauthorized: 0,
            other_client_errors: 0,
            logins: Vec::new(),
            logouts: Vec::new(),
            cart_losses: Vec::new(),
            logouts_done: 0,
            replays_sent: 0,
            replays_accepted: 0,
            paired_adds: 0,
            paired_adds_lost: 0,
            sid_bytes_max: 0,
            sid_bytes_sum: 0,
            sid_cookies: 0,
        }
    }

    /// Counts one request that started at `t_ms`.
    pub fn count(&mut self, t_ms: u64, class: Class, node: Option<&str>, latency: Option<Duration>) {
        self.requests += 1;
        let index = usize::try_from(t_ms / 100).unwrap_or(usize::MAX - 1);
        if self.timeline.len() <= index {
            self.timeline.resize(index + 1, Bucket::default());
        }
        let bucket = &mut self.timeline[index];
        match class {
            Class::Ok => bucket.ok += 1,
            Class::Failed => {
                bucket.failed += 1;
                self.failed += 1;
            }
            Class::Unauthorized => {
                bucket.unauthorized += 1;
                self.unauthorized += 1;
            }
        }
        if let Some(node) = node {
            *self.per_node.entry(node.to_string()).or_default() += 1;
            self.first_served_ms.entry(node.to_string()).or_insert(t_ms);
            let second = usize::try_from(t_ms / 1000).unwrap_or(0);
            let seconds = self.per_node_seconds.entry(node.to_string()).or_default();
            if seconds.len() <= second {
                seconds.resize(second + 1, 0);
            }
            seconds[second] += 1;
        }
        if let Some(latency) = latency {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.latency_us.saturating_record(us.max(1));
        }
    }
}

/// A histogram from 1 µs to 60 s at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Latency {
    /// Reads the percentiles of a microsecond histogram, in ms rounded to
    /// 10 µs (what a scenario's table shows).
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        Latency::rounded(histogram, |ms| (ms * 100.0).round() / 100.0)
    }

    /// The same at full µs precision (loopback requests in `harness bench`
    /// take tens of µs).
    pub fn precise(histogram: &Histogram<u64>) -> Latency {
        Latency::rounded(histogram, |ms| ms)
    }

    fn rounded(histogram: &Histogram<u64>, round: impl Fn(f64) -> f64) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| round(us as f64 / 1000.0);
        Latency {
            p50: ms(histogram.value_at_quantile(0.50)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

/// Adds bucket counts of `other` into `into`, position by position.
pub fn merge_timeline(into: &mut Vec<Bucket>, other: &[Bucket]) {
    if into.len() < other.len() {
        into.resize(other.len(), Bucket::default());
    }
    for (a, b) in into.iter_mut().zip(other) {
        a.ok += b.ok;
        a.failed += b.failed;
        a.unauthorized += b.unauthorized;
    }
    for (i, bucket) in into.iter_mut().enumerate() {
        bucket.t_ms = i as u64 * 100;
    }
}
