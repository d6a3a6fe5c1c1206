//! `redis-hang`: Redis hangs (SIGSTOP) a third of the way in for a fifth of
//! the run (1.5 to 5 s) while the generator loads the side at its full rate
//! on top of the usual users, then goes on (SIGCONT).
//!
//! A hung Redis is worse than a stopped one: its port still accepts
//! connections and takes bytes, it just never answers, so a node that
//! waits without a deadline waits forever, and one that keeps asking piles
//! up requests, sockets and buffered bytes. What a node should do instead:
//! answer every request 503 with `Retry-After: 1` within its deadline
//! (about a second), hold its memory, threads and sockets steady, and serve
//! again by itself soon after Redis does.
//!
//! Measured: the times and status of each of the generator's requests
//! ([`crate::flood`]),
//! probe requests during the hang that read the 503's `Retry-After`,
//! and every node's resident memory, threads and open file descriptors plus
//! the bytes queued on sockets to and from Redis's port, sampled throughout
//! ([`crate::sample`]). Tasks inside a node cannot be seen from outside; a
//! pile-up of them would show in those figures.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::flood::{Exchange, FloodPlan, FloodRecord, Load};
use crate::metrics::{Clock, EventKind};
use crate::report::Report;
use crate::sample::{Sample, Sampler, every, memory_curve};
use crate::services::{RedisHandle, Services};
use crate::side::Side;

/// The nodes' deadline for one store operation (the stores' default).
pub const DEADLINE: Duration = Duration::from_secs(1);
/// The generator's connections per side.
const CONNECTIONS: usize = 8;
/// Its requests at most, whatever the duration.
const MAX_REQUESTS: u64 = 5_000_000;

/// Redis hangs under full load and goes on.
#[derive(Debug)]
pub struct RedisHang;

/// Why nothing was measured.
#[derive(Serialize)]
struct Skipped {
    hang_skipped: &'static str,
}

/// What the script measured.
#[derive(Serialize)]
struct Measured {
    frozen_ms: u64,
    generator_requests: u64,
    generator_per_s: f64,
    /// The generator's requests that met the hang (sent before the thaw,
    /// answered after the freeze), by answer: 503, served (by Redis before
    /// the freeze or after the thaw), anything else, no answer at all.
    met_hang_503: u64,
    met_hang_served: u64,
    met_hang_other: u64,
    met_hang_no_answer: u64,
    /// The slowest answer to a request that met the hang (answered after
    /// the freeze, sent before the thaw).
    slowest_answer_ms_while_frozen: u64,
    /// Probes sent and answered while Redis was frozen, and those of them
    /// answered 503 with `Retry-After: 1`.
    probes_within_hang: u64,
    probes_503_retry_after_1: u64,
    /// Every probe, sent every quarter second while its deadline ends
    /// before the thaw.
    probes: Vec<Probe>,
    /// From the thaw to the first 2xx answer, and to the last answer other
    /// than 2xx (or given-up request) of a request sent after it (0: none).
    first_ok_ms_after_thaw: Option<u64>,
    recovered_ms_after_thaw: u64,
    /// The side's nodes together, before the freeze, their peak while it
    /// lasted (and a deadline after), and at the end.
    rss_kib_before: u64,
    rss_kib_peak_frozen: u64,
    rss_kib_after: u64,
    threads_before: u64,
    threads_peak_frozen: u64,
    fds_before: u64,
    fds_peak_frozen: u64,
    /// Bytes in the kernel's queues of every socket to or from Redis.
    redis_queued_bytes_before: u64,
    redis_queued_bytes_peak_frozen: u64,
    redis_queued_bytes_after: u64,
    memory_samples: Vec<[u64; 2]>,
}

impl Scenario for RedisHang {
    fn name(&self) -> &'static str {
        "redis-hang"
    }

    fn summary(&self) -> &'static str {
        "Redis hangs (SIGSTOP) for a few seconds under full load, then goes on (SIGCONT)"
    }

    fn default_sides(&self) -> &'static [Side] {
        &[Side::Stateless, Side::TokenRevocation]
    }

    fn stops_redis(&self) -> bool {
        true
    }

    fn chart(&self, report: &Report) -> Option<String> {
        Some(crate::output::memory::chart(report, "redis-hang: the nodes' resident memory"))
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(server) = stage.services.redis.own("hang") else {
                return Ok(());
            };
            let redis_port = server.lock().unwrap_or_else(|e| e.into_inner()).port();
            let pids = stage.cluster.nodes().iter().filter_map(|n| n.pid()).collect();
            let sampler = Sampler::start(pids, Some(redis_port), stage.clock, every(stage.duration));
            let probe_url = stage.cluster.nodes()[0].url();
            let plan = FloodPlan {
                nodes: stage.cluster.nodes().iter().map(|n| n.addr).collect(),
                loads: vec![Load::LoggedIn],
                connections: CONNECTIONS,
                max_requests: MAX_REQUESTS,
                duration: stage.duration.mul_f64(0.85),
                seed: 3,
                keep_each: true,
                token_shape: None,
            };
            stage.at(0.1).await;
            let clock = stage.clock;
            let generator = tokio::spawn(async move { crate::flood::run(&plan, clock).await });
            let client = reqwest::Client::new();
            let probe_cookie = log_in(&client, &probe_url).await;

            stage.at(1.0 / 3.0).await;
            server.lock().unwrap_or_else(|e| e.into_inner()).freeze();
            stage.events.record(EventKind::RedisFrozen, "redis");
            let thaw_at = tokio::time::Instant::now() + hang(stage.duration);
            // Probes while a deadline (and some slack) still ends before the
            // thaw; the thaw does not wait for their answers.
            let mut probes = tokio::task::JoinSet::new();
            let mut next = tokio::time::Instant::now() + Duration::from_millis(50);
            while next + DEADLINE + Duration::from_millis(200) <= thaw_at {
                tokio::time::sleep_until(next).await;
                let (client, url, cookie) = (client.clone(), probe_url.clone(), probe_cookie.clone());
                probes.spawn(async move { probe(&client, &url, cookie.as_deref(), clock).await });
                next += Duration::from_millis(250);
            }
            tokio::time::sleep_until(thaw_at).await;
            server.lock().unwrap_or_else(|e| e.into_inner()).thaw();
            stage.events.record(EventKind::RedisThawed, "redis");

            let mut probed = Vec::new();
            while let Some(probe) = probes.join_next().await {
                probed.push(probe.context("a probe panicked")?);
            }
            probed.sort_by_key(|p| p.sent_ms);
            let record = generator.await.context("the generator panicked")??;
            stage.at(0.98).await;
            let samples = sampler.stop();
            let events = stage.events.snapshot();
            let at = |kind| events.iter().find(|e| e.kind == kind).map_or(0, |e| e.t_ms);
            let (frozen, thawed) = (at(EventKind::RedisFrozen), at(EventKind::RedisThawed));
            let measured = measure(&record, &samples, frozen, thawed, probed);
            stage.measured.extend(findings_of(&measured));
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        if run.measured.is_empty() {
            return findings_of(&Skipped {
                hang_skipped: "Redis is external (--redis-url): the harness does not freeze it",
            });
        }
        Findings::new()
    }

    fn notes(&self, services: &Services) -> Vec<String> {
        let mut notes = vec![format!(
            "While Redis hangs, a node must answer 503 with Retry-After within its deadline (about {} s) and hold \
             its memory, threads and sockets steady; `recovered ms after thaw` is how long it took to serve again.",
            DEADLINE.as_secs()
        )];
        if matches!(services.redis, RedisHandle::External(_)) {
            notes.push("Redis came from --redis-url, so the harness did not freeze it.".to_string());
        }
        notes
    }
}

/// How long Redis hangs: a fifth of the run, at least the deadline and a
/// half (so that a request sent early in the hang meets its deadline before
/// Redis answers), at most 5 s.
fn hang(duration: Duration) -> Duration {
    (duration / 5).clamp(DEADLINE + Duration::from_millis(500), Duration::from_secs(5))
}

/// Logs a probe user in; its `sid=…` cookie.
async fn log_in(client: &reqwest::Client, url: &str) -> Option<String> {
    let answer = client.post(format!("{url}/login")).json(&serde_json::json!({ "user": "probe" })).send().await.ok()?;
    let cookie = answer.headers().get(reqwest::header::SET_COOKIE)?.to_str().ok()?;
    Some(cookie.split(';').next()?.to_string())
}

/// What one `GET /me` sent while Redis hung was answered.
#[derive(Serialize)]
struct Probe {
    sent_ms: u64,
    answered_ms: u64,
    /// `None`: no answer within three deadlines.
    status: Option<u16>,
    retry_after: Option<String>,
}

async fn probe(client: &reqwest::Client, url: &str, cookie: Option<&str>, clock: Clock) -> Probe {
    let mut request = client.get(format!("{url}/me")).timeout(DEADLINE * 3);
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let sent_ms = clock.t_ms();
    let answer = request.send().await;
    let answered_ms = clock.t_ms();
    match answer {
        Ok(answer) => Probe {
            sent_ms,
            answered_ms,
            status: Some(answer.status().as_u16()),
            retry_after: answer
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        },
        Err(_) => Probe { sent_ms, answered_ms, status: None, retry_after: None },
    }
}

fn measure(record: &FloodRecord, samples: &[Sample], frozen: u64, thawed: u64, probes: Vec<Probe>) -> Measured {
    let deadline_ms = u64::try_from(DEADLINE.as_millis()).unwrap_or(u64::MAX);
    let met: Vec<&Exchange> = record.each.iter().filter(|e| e.sent_ms < thawed && e.answered_ms > frozen).collect();
    let count = |wanted: fn(Option<u16>) -> bool| met.iter().filter(|e| wanted(e.status)).count() as u64;
    let within: Vec<&Probe> = probes.iter().filter(|p| p.sent_ms >= frozen && p.answered_ms <= thawed).collect();
    // The slowest answer to a request that met the hang.
    let slowest_ms = record
        .each
        .iter()
        .filter(|e| e.answered_ms >= frozen && e.sent_ms <= thawed)
        .map(|e| e.answered_ms - e.sent_ms)
        .max()
        .unwrap_or(0);
    let served = |e: &&Exchange| matches!(e.status, Some(200..=299));
    let first_ok = record.each.iter().filter(|e| e.answered_ms >= thawed).filter(served).map(|e| e.answered_ms).min();
    let recovered = record
        .each
        .iter()
        .filter(|e| e.sent_ms >= thawed && !served(e))
        .map(|e| e.answered_ms - thawed)
        .max()
        .unwrap_or(0);
    let during: Vec<&Sample> = samples.iter().filter(|s| s.t_ms >= frozen && s.t_ms <= thawed + deadline_ms).collect();
    let before = samples.iter().rev().find(|s| s.t_ms < frozen).or(samples.first());
    let peak = |f: fn(&Sample) -> u64| during.iter().map(|s| f(s)).max().unwrap_or(0);
    let queued = |s: &Sample| s.redis_queued_bytes.unwrap_or(0);
    Measured {
        frozen_ms: thawed.saturating_sub(frozen),
        generator_requests: record.sent(Load::LoggedIn),
        generator_per_s: record.per_second(),
        met_hang_503: count(|s| s == Some(503)),
        met_hang_served: count(|s| matches!(s, Some(200..=299))),
        met_hang_other: count(|s| matches!(s, Some(s) if s != 503 && !(200..=299).contains(&s))),
        met_hang_no_answer: count(|s| s.is_none()),
        slowest_answer_ms_while_frozen: slowest_ms,
        probes_within_hang: within.len() as u64,
        probes_503_retry_after_1: within
            .iter()
            .filter(|p| p.status == Some(503) && p.retry_after.as_deref() == Some("1"))
            .count() as u64,
        probes,
        first_ok_ms_after_thaw: first_ok.map(|t| t - thawed),
        recovered_ms_after_thaw: recovered,
        rss_kib_before: before.map_or(0, |s| s.nodes.rss_kib),
        rss_kib_peak_frozen: peak(|s| s.nodes.rss_kib),
        rss_kib_after: samples.last().map_or(0, |s| s.nodes.rss_kib),
        threads_before: before.map_or(0, |s| s.nodes.threads),
        threads_peak_frozen: peak(|s| s.nodes.threads),
        fds_before: before.map_or(0, |s| s.nodes.fds),
        fds_peak_frozen: peak(|s| s.nodes.fds),
        redis_queued_bytes_before: before.map_or(0, queued),
        redis_queued_bytes_peak_frozen: peak(queued),
        redis_queued_bytes_after: samples.last().map_or(0, queued),
        memory_samples: memory_curve(samples),
    }
}
