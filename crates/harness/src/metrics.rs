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

use crate::mix::KindRecords;

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

    /// Milliseconds from the start to `instant` (0 if before it).
    pub fn t_ms_of(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
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
    /// Cart adds sent two at a time that a cart read in this slice checked
    /// (`concurrent-cart`; absent from the JSON when 0, as are the next three).
    #[serde(skip_serializing_if = "is_zero")]
    pub concurrent_adds_checked: u64,
    /// Of those, missing from the cart read: lost.
    #[serde(skip_serializing_if = "is_zero")]
    pub concurrent_adds_lost: u64,
    /// Replays of a logged-out cookie sent in this slice (`logout-replay`).
    #[serde(skip_serializing_if = "is_zero")]
    pub replays_sent: u64,
    /// Of those, accepted (answered 200).
    #[serde(skip_serializing_if = "is_zero")]
    pub replays_accepted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a scenario did to the cluster or to a service, as the report and
/// the chart name it. A new kind (a scale-in, a failover) is a variant: its
/// name comes from the variant, kebab-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A node was SIGKILLed.
    Kill,
    /// The autoscaler added a node (it is in rotation from this moment).
    ScaleOut,
    /// A node was taken out of rotation for new users, to be removed.
    Drain,
    /// A drained node was stopped (SIGTERM, in-flight requests finished).
    ScaleIn,
    /// A node started (joined, or came back from a restart).
    Start,
    /// A node was taken out of rotation to be restarted.
    Restart,
    /// Redis went away (stopped or killed).
    RedisDown,
    /// Redis answers again.
    RedisUp,
    /// Redis was frozen (SIGSTOP): its socket is open, nothing answers.
    RedisFrozen,
    /// A frozen Redis was let go on (SIGCONT).
    RedisThawed,
    /// A flood of made-up requests began.
    FloodStart,
    /// The flood ended.
    FloodEnd,
    /// PostgreSQL went away (stopped or killed).
    DatabaseDown,
    /// PostgreSQL answers again.
    DatabaseUp,
    /// A replica was promoted to primary (Sentinel or the cluster said so).
    Promoted,
    /// Users began ending every session of theirs (`DELETE /sessions`)
    /// from one of their devices.
    LogoutEverywhere,
}

impl EventKind {
    /// The name in the JSON report and on the chart.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Kill => "kill",
            EventKind::ScaleOut => "scale-out",
            EventKind::Drain => "drain",
            EventKind::ScaleIn => "scale-in",
            EventKind::Start => "start",
            EventKind::Restart => "restart",
            EventKind::RedisDown => "redis-down",
            EventKind::RedisUp => "redis-up",
            EventKind::RedisFrozen => "redis-frozen",
            EventKind::RedisThawed => "redis-thawed",
            EventKind::FloodStart => "flood-start",
            EventKind::FloodEnd => "flood-end",
            EventKind::DatabaseDown => "database-down",
            EventKind::DatabaseUp => "database-up",
            EventKind::Promoted => "promoted",
            EventKind::LogoutEverywhere => "logout-everywhere",
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

/// A 503 answer.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// When the request started.
    pub t_ms: u64,
    /// The `sid` cookie it carried, if any.
    pub sid: Option<String>,
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
    /// Every 503: when, and the `sid` cookie the request carried (to tell
    /// which shard of a Redis Cluster the session lived on).
    pub refusals: Vec<Refusal>,
    /// Items an acknowledged add had put in the cart that a later cart read
    /// no longer showed.
    pub cart_items_missing: u64,
    /// Bytes of the longest `sid` cookie value the user was given.
    pub sid_bytes_max: u64,
    /// Sum and count of the `sid` cookie values' lengths, for the mean.
    pub sid_bytes_sum: u64,
    /// How many `sid` cookies the user was given.
    pub sid_cookies: u64,
    /// The ledgers of the other kinds of state the run exercised.
    pub kinds: KindRecords,
    /// Every request that was sent, in order: when, its status, its latency.
    pub samples: Vec<Sample>,
    /// The user's devices, when it has more than one (`logout-everywhere`):
    /// the first is the one that ends every session.
    pub devices: Vec<DeviceRecord>,
    /// Its `DELETE /sessions`, once answered.
    pub everywhere: Option<EverywhereLogout>,
}

/// One device of a user who has several (`logout-everywhere`): a browser
/// with its own cookie jar and its own session.
#[derive(Clone, Debug, Default)]
pub struct DeviceRecord {
    /// The node that created its session (`X-Node` of its login).
    pub session_node: Option<String>,
    /// When its login was answered.
    pub logged_in_ms: Option<u64>,
    /// When its last request answered 200 started.
    pub last_ok_ms: Option<u64>,
    /// Its requests that started after its user's `DELETE /sessions` had
    /// returned and got an answer.
    pub answered_after_logout: u64,
    /// Of those, answered 200: its session outlived the logout.
    pub ok_after_logout: u64,
    /// When a 401 stopped it (a device does not log in again).
    pub ended_ms: Option<u64>,
    /// Its last answer was a 200: its session still worked when the run ended.
    pub alive_at_end: bool,
}

/// A user's request to end every session of theirs (`DELETE /sessions`),
/// as it was answered.
#[derive(Clone, Debug)]
pub struct EverywhereLogout {
    /// When it was sent.
    pub asked_ms: u64,
    /// When its answer came back.
    pub returned_ms: u64,
    /// Its status: 204 done, 501 the side cannot do it.
    pub status: u16,
    /// `X-Sessions-Ended`: how many sessions the node says it ended.
    pub ended: Option<u64>,
    /// `X-Sessions-Reach`: `node` or `everywhere`.
    pub reach: Option<String>,
    /// The node that answered (`X-Node`).
    pub node: Option<String>,
    /// How many sessions `GET /sessions` listed just before.
    pub listed: Option<usize>,
}

/// One sent request, as the latency-over-time findings read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// When it started (open-loop sessions: when it was meant to start).
    pub t_ms: u64,
    /// Its HTTP status; 0 when no answer came.
    pub status: u16,
    /// From its start to its answer (or failure), in microseconds.
    pub latency_us: u64,
}

impl Sample {
    /// Answered below 500: served.
    pub fn served(&self) -> bool {
        (1..500).contains(&self.status)
    }

    /// Refused by a node at capacity (503).
    pub fn refused(&self) -> bool {
        self.status == 503
    }
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
            refusals: Vec::new(),
            cart_items_missing: 0,
            sid_bytes_max: 0,
            sid_bytes_sum: 0,
            sid_cookies: 0,
            samples: Vec::new(),
            kinds: KindRecords::default(),
            devices: Vec::new(),
            everywhere: None,
        }
    }

    /// Keeps one sent request for the latency-over-time findings.
    pub fn sample(&mut self, t_ms: u64, status: u16, latency: Duration) {
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.samples.push(Sample { t_ms, status, latency_us });
    }

    /// The timeline slice holding `t_ms`.
    pub fn bucket(&mut self, t_ms: u64) -> &mut Bucket {
        let index = usize::try_from(t_ms / 100).unwrap_or(usize::MAX - 1);
        if self.timeline.len() <= index {
            self.timeline.resize(index + 1, Bucket::default());
        }
        &mut self.timeline[index]
    }

    /// Counts one request that started at `t_ms`.
    pub fn count(&mut self, t_ms: u64, class: Class, node: Option<&str>, latency: Option<Duration>) {
        self.requests += 1;
        let bucket = self.bucket(t_ms);
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
        add_scenario_counts(a, b);
    }
    for (i, bucket) in into.iter_mut().enumerate() {
        bucket.t_ms = i as u64 * 100;
    }
}

/// Cuts a side's timeline at `slices`. Requests that started in the last
/// moment past it leave the slices (they stay in the side's totals); the
/// scenario's counts taken then (the attacker's last replay, the check of a
/// last cart read) go into the last slice, so that the timeline's sums equal
/// the findings.
pub fn cut_timeline(timeline: &mut Vec<Bucket>, slices: usize) {
    let slices = slices.max(1);
    if timeline.len() <= slices {
        return;
    }
    let late = timeline.split_off(slices);
    if let Some(last) = timeline.last_mut() {
        for bucket in &late {
            add_scenario_counts(last, bucket);
        }
    }
}

fn add_scenario_counts(into: &mut Bucket, other: &Bucket) {
    into.concurrent_adds_checked += other.concurrent_adds_checked;
    into.concurrent_adds_lost += other.concurrent_adds_lost;
    into.replays_sent += other.replays_sent;
    into.replays_accepted += other.replays_accepted;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_the_timeline_keeps_the_late_scenario_counts_in_its_last_slice() {
        let slice = |ok, replays_sent| Bucket { ok, replays_sent, replays_accepted: replays_sent, ..Bucket::default() };
        let mut timeline = vec![slice(5, 0), slice(6, 1), slice(7, 2), slice(8, 3)];
        cut_timeline(&mut timeline, 2);
        assert_eq!(timeline.len(), 2);
        assert_eq!(timeline[1].ok, 6, "requests past the end leave the slices");
        assert_eq!((timeline[1].replays_sent, timeline[1].replays_accepted), (6, 6), "late replays stay counted");
    }
}
