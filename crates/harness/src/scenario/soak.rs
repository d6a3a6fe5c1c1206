//! `soak`: a long run with session churn. The usual users play throughout,
//! and from a tenth to about two thirds of the run churn workers keep
//! logging new users in, who make a couple of requests and then either log
//! out or simply go idle, so that their sessions expire after the nodes'
//! short `--session-ttl` ([`SESSION_TTL_S`]). The last third has no churn:
//! what expired must be gone by the end.
//!
//! What a long-lived server must show: resident memory that levels off
//! rather than creeps up with every session ever made, and expired sessions
//! freed (the RAM store's session count, from `/healthz`, and Redis's
//! `DBSIZE` fall back to what the users still playing hold). `just soak`
//! runs it for about ten minutes; the test binary runs a few seconds of it,
//! enough to catch a trend.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::bench::http::Connection;
use crate::metrics::{Clock, EventKind};
use crate::report::Report;
use crate::sample::{RedisCounters, Sampler, every, health_counters, side_redis, mean_between, memory_curve};
use crate::services::Services;
use crate::side::Side;

/// The nodes' `--session-ttl` in this scenario, seconds.
pub const SESSION_TTL_S: u64 = 1;
/// Churn workers per side, each one new user at a time.
const WORKERS: usize = 24;
/// Requests a churned user makes after logging in.
const REQUESTS_PER_SESSION: u32 = 2;
/// A churn worker's pause between two requests.
const THINK: Duration = Duration::from_millis(20);
/// Sessions a churn worker makes at most, whatever the duration.
const MAX_SESSIONS_PER_WORKER: u64 = 200_000;
/// Where the churn runs, as fractions of the run.
const CHURN: (f64, f64) = (0.1, 0.65);

/// A long run with session churn.
#[derive(Debug)]
pub struct Soak;

/// What the script measured.
#[derive(Serialize)]
struct Measured {
    session_ttl_s: u64,
    churn_sessions: u64,
    churn_logouts: u64,
    churn_went_idle: u64,
    churn_failed: u64,
    /// The nodes together: at the start, the mean over the middle and the
    /// last third of the churn, and at the end; the last over the middle.
    rss_kib_first: u64,
    rss_kib_churn_middle_mean: u64,
    rss_kib_churn_late_mean: u64,
    rss_kib_last: u64,
    rss_late_over_middle: f64,
    /// Sessions the nodes hold (`/healthz` `sessions`, summed), when they
    /// say: when the churn starts, at most, at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    node_sessions_at_churn_start: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_sessions_peak: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_sessions_end: Option<u64>,
    /// Redis's session keys (`session:*`), on a side with Redis: the same
    /// three moments. The per-user index keys (`user-sessions:*`) are left
    /// out: each lives for the absolute lifetime after its user's last
    /// login, whatever the idle TTL, so they are not what the churn frees.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_keys_at_churn_start: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_keys_peak: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_keys_end: Option<u64>,
    memory_samples: Vec<[u64; 2]>,
    /// `[t_ms, sessions]`: the nodes' count, or Redis's keys.
    session_samples: Vec<[u64; 2]>,
}

/// What the churn workers did.
#[derive(Default)]
struct Churned {
    sessions: AtomicU64,
    logouts: AtomicU64,
    idle: AtomicU64,
    failed: AtomicU64,
}

impl Scenario for Soak {
    fn name(&self) -> &'static str {
        "soak"
    }

    fn summary(&self) -> &'static str {
        "a long run with session churn: memory levels off, expired sessions are freed"
    }

    fn own_redis(&self) -> bool {
        true
    }

    fn node_args(&self, _: Side) -> Vec<String> {
        vec!["--session-ttl".into(), SESSION_TTL_S.to_string()]
    }

    fn chart(&self, report: &Report) -> Option<String> {
        Some(crate::output::memory::chart(report, "soak: the nodes' resident memory under session churn"))
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let nodes: Vec<SocketAddr> = stage.cluster.nodes().iter().map(|n| n.addr).collect();
            let urls: Vec<String> = stage.cluster.nodes().iter().map(|n| n.url()).collect();
            let pids = stage.cluster.nodes().iter().filter_map(|n| n.pid()).collect();
            let sampler = Sampler::start(pids, None, stage.clock, every(stage.duration));
            let redis = side_redis(&stage);
            // Sessions held, sampled beside the memory, a few times less often.
            let held: Arc<Mutex<Vec<Held>>> = Arc::default();
            let counting = tokio::spawn(count_sessions(urls, redis, stage.clock, every(stage.duration) * 4, {
                Arc::clone(&held)
            }));

            stage.at(CHURN.0).await;
            let churn_start = stage.clock.t_ms();
            stage.events.record(EventKind::FloodStart, "churn");
            let churned = Arc::new(Churned::default());
            let until = tokio::time::Instant::now() + stage.duration.mul_f64(CHURN.1 - CHURN.0);
            let mut workers = tokio::task::JoinSet::new();
            for index in 0..WORKERS {
                workers.spawn(churn(nodes[index % nodes.len()], index, until, Arc::clone(&churned)));
            }
            while workers.join_next().await.is_some() {}
            let churn_end = stage.clock.t_ms();
            stage.events.record(EventKind::FloodEnd, "churn");
            stage.at(0.98).await;
            counting.abort();
            let samples = sampler.stop();
            let held = std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner()));

            let third = (churn_end - churn_start) / 3;
            let rss = |s: &crate::sample::Sample| s.nodes.rss_kib;
            let middle = mean_between(&samples, churn_start + third, churn_start + 2 * third, rss).unwrap_or(0.0);
            let late = mean_between(&samples, churn_start + 2 * third, churn_end, rss).unwrap_or(0.0);
            // The count when the churn starts: the last sample before it.
            let at_start = |f: Count| held.iter().rev().find(|h| h.t_ms <= churn_start).and_then(f);
            let peak = |f: Count| held.iter().filter_map(f).max();
            let end = |f: Count| held.last().and_then(f);
            let sessions: Count = |h| h.sessions;
            let keys: Count = |h| h.keys;
            let measured = Measured {
                session_ttl_s: SESSION_TTL_S,
                churn_sessions: churned.sessions.load(Ordering::Relaxed),
                churn_logouts: churned.logouts.load(Ordering::Relaxed),
                churn_went_idle: churned.idle.load(Ordering::Relaxed),
                churn_failed: churned.failed.load(Ordering::Relaxed),
                rss_kib_first: samples.first().map_or(0, rss),
                rss_kib_churn_middle_mean: middle.round() as u64,
                rss_kib_churn_late_mean: late.round() as u64,
                rss_kib_last: samples.last().map_or(0, rss),
                rss_late_over_middle: if middle > 0.0 { (late / middle * 1000.0).round() / 1000.0 } else { 0.0 },
                node_sessions_at_churn_start: at_start(sessions),
                node_sessions_peak: peak(sessions),
                node_sessions_end: end(sessions),
                redis_keys_at_churn_start: at_start(keys),
                redis_keys_peak: peak(keys),
                redis_keys_end: end(keys),
                memory_samples: memory_curve(&samples),
                session_samples: held.iter().filter_map(|h| Some([h.t_ms, h.sessions.or(h.keys)?])).collect(),
            };
            stage.measured.extend(findings_of(&measured));
            Ok(())
        })
    }

    fn findings(&self, _: &SideRun<'_>) -> Findings {
        Findings::new()
    }

    fn notes(&self, _: &Services) -> Vec<String> {
        vec![format!(
            "Nodes run with --session-ttl {SESSION_TTL_S}: churned users who go idle expire, and the last third \
             of the run has no churn, so what they held must be freed by the end."
        )]
    }
}

/// The stateless twin's session keys, as its documented layout names them.
const SESSION_KEYS: &str = "session:*";

/// One count of a [`Held`].
type Count = fn(&Held) -> Option<u64>;

/// Sessions held at one moment.
struct Held {
    t_ms: u64,
    /// The nodes' `/healthz` `sessions`, summed, when they report it.
    sessions: Option<u64>,
    /// Redis's session keys, on a side with the harness's own Redis.
    keys: Option<u64>,
}

/// Samples the sessions held every `every` into `held`, until aborted.
async fn count_sessions(
    urls: Vec<String>,
    redis: Option<Arc<std::sync::Mutex<local_redis::RedisServer>>>,
    clock: Clock,
    every: Duration,
    held: Arc<Mutex<Vec<Held>>>,
) {
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let mut sessions = None;
        for url in &urls {
            if let Some(n) = health_counters(&client, url).await.get("sessions") {
                sessions = Some(sessions.unwrap_or(0) + n);
            }
        }
        let keys = match &redis {
            Some(server) => {
                let server = Arc::clone(server);
                tokio::task::spawn_blocking(move || {
                    let server = server.lock().unwrap_or_else(|e| e.into_inner());
                    RedisCounters::count_matching(&server, SESSION_KEYS).ok()
                })
                .await
                .ok()
                .flatten()
            }
            None => None,
        };
        held.lock().unwrap_or_else(|e| e.into_inner()).push(Held { t_ms: clock.t_ms(), sessions, keys });
    }
}

/// One churn worker: log a new user in, make a few requests, log out or go
/// idle (every other user), until `until`.
async fn churn(addr: SocketAddr, index: usize, until: tokio::time::Instant, churned: Arc<Churned>) {
    let mut made = 0_u64;
    while tokio::time::Instant::now() < until && made < MAX_SESSIONS_PER_WORKER {
        made += 1;
        let Ok(mut connection) = Connection::open(addr).await else {
            churned.failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(THINK).await;
            continue;
        };
        if connection.log_in(&format!("churn-{index}-{made}")).await.is_err() {
            churned.failed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        churned.sessions.fetch_add(1, Ordering::Relaxed);
        for _ in 0..REQUESTS_PER_SESSION {
            tokio::time::sleep(THINK).await;
            if !matches!(connection.exchange("GET", "/me", b"", true).await, Ok(200)) {
                churned.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if made.is_multiple_of(2) {
            match connection.exchange("POST", "/logout", b"", true).await {
                Ok(204) => churned.logouts.fetch_add(1, Ordering::Relaxed),
                _ => churned.failed.fetch_add(1, Ordering::Relaxed),
            };
        } else {
            churned.idle.fetch_add(1, Ordering::Relaxed);
        }
    }
}
