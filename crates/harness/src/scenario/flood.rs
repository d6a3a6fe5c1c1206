//! `flood`: while the usual users play, the generator floods every node of
//! the side at its full rate: first with requests carrying made-up but
//! well-formed session ids, then with password-less logins that are never
//! logged out.
//!
//! What it measures, on the side's clock:
//!
//! | window | what |
//! |---|---|
//! | 0 to 15 % | users log in and settle |
//! | 15 to 30 % | baseline: Redis's commands per user request |
//! | 30 to 45 % | made-up ids: every answer must be 401; Redis's commands per made-up id |
//! | 45 to 80 % | login flood: nodes' memory, Redis's memory (under a `maxmemory` set for it), sessions evicted |
//! | 80 to 100 % | after |
//!
//! The node's resident memory is sampled throughout ([`crate::sample`]); the
//! chart is its curve. The stateful twin's nodes run with `--max-sessions`
//! [`MAX_SESSIONS`], so a login flood evicts the least recently used
//! sessions instead of growing the node; a user evicted that way gets 401
//! and counts as logged out in the table, like any other. The Redis twin's
//! answer is Redis's own bound: for the login flood the harness sets its
//! Redis's `maxmemory` to what it held plus [`REDIS_HEADROOM`], with the
//! `volatile-lru` policy, and lifts it afterwards.

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use super::{Findings, Scenario, SideRun, Stage, findings_of, ratio};
use crate::flood::{FloodPlan, Load};
use crate::metrics::EventKind;
use crate::report::Report;
use crate::sample::{RedisCounters, Sampler, every, health_counters, side_redis, memory_curve, rss_at};
use crate::services::Services;
use crate::side::Side;

/// The stateful twin's `--max-sessions` in this scenario, per node: small
/// enough that the login flood reaches it within a second or two.
pub const MAX_SESSIONS: u64 = 500;
/// The Redis twin's `maxmemory` during the login flood: what Redis held
/// when the flood began, plus this much. With `volatile-lru`, as the RAM
/// store's bound, the least recently used sessions go.
pub const REDIS_HEADROOM: u64 = 1024 * 1024;
/// The flood's connections per side (half made-up ids, half logins when
/// both run), spread over the nodes.
const CONNECTIONS: usize = 8;
/// Requests per flood phase at most, whatever the duration.
const MAX_REQUESTS: u64 = 5_000_000;

/// A flood of made-up ids, then of logins, against every node.
#[derive(Debug)]
pub struct Flood;

/// What the script measured.
#[derive(Serialize)]
struct Measured {
    flood_made_up_requests: u64,
    flood_made_up_per_s: f64,
    /// Share of made-up-id requests answered 401.
    flood_made_up_401_share: f64,
    flood_logins: u64,
    flood_logins_per_s: f64,
    flood_failed: u64,
    /// The side's nodes together: KiB when the flood starts, largest, at
    /// the end.
    rss_kib_before_flood: u64,
    rss_kib_peak: u64,
    rss_kib_last: u64,
    /// Node memory growth in the first and second half of the login flood.
    rss_kib_growth_logins_first_half: i64,
    rss_kib_growth_logins_second_half: i64,
    /// The nodes' `/healthz` counters after the flood, summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions_held_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions_evicted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_sessions_per_node: Option<u64>,
    #[serde(flatten)]
    redis: Option<RedisFigures>,
    /// `[t_ms, KiB]` of the nodes together, for the chart.
    memory_samples: Vec<[u64; 2]>,
}

/// What Redis did in each window (absent on a side without Redis).
#[derive(Serialize)]
struct RedisFigures {
    /// Commands per user request with no flood (the baseline window).
    redis_baseline_calls: u64,
    redis_baseline_window_ms: [u64; 2],
    /// Commands in the made-up-id window beyond the users' baseline rate,
    /// per made-up id, and the `DEL`s among them.
    redis_commands_per_made_up_id: f64,
    redis_del_per_made_up_id: f64,
    redis_calls_made_up_window: std::collections::BTreeMap<String, u64>,
    redis_keys_before: u64,
    redis_keys_after_made_up_ids: u64,
    redis_keys_after_logins: u64,
    redis_used_memory_kib_before: u64,
    redis_used_memory_kib_after_made_up_ids: u64,
    redis_used_memory_kib_after_logins: u64,
    /// The `maxmemory` set for the login flood, and the keys it evicted.
    redis_maxmemory_kib: Option<u64>,
    redis_evicted_keys: u64,
}

impl Scenario for Flood {
    fn name(&self) -> &'static str {
        "flood"
    }

    fn summary(&self) -> &'static str {
        "made-up ids, then password-less logins, at the generator's full rate while users play"
    }

    fn own_redis(&self) -> bool {
        true
    }

    fn node_args(&self, side: Side) -> Vec<String> {
        match side {
            Side::Stateful => vec!["--max-sessions".into(), MAX_SESSIONS.to_string()],
            _ => Vec::new(),
        }
    }

    fn chart(&self, report: &Report) -> Option<String> {
        Some(crate::output::memory::chart(report, "flood: the nodes' resident memory"))
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let nodes: Vec<_> = stage.cluster.nodes().iter().map(|n| n.addr).collect();
            let urls: Vec<_> = stage.cluster.nodes().iter().map(|n| n.url()).collect();
            let pids = stage.cluster.nodes().iter().filter_map(|n| n.pid()).collect();
            let sampler = Sampler::start(pids, None, stage.clock, every(stage.duration));
            let redis = side_redis(&stage);
            // What a made-up credential must look like, learnt before the
            // baseline so that its login and logout are not counted.
            let token_shape = crate::flood::token_shape(nodes[0]).await?;

            let read = || async {
                match &redis {
                    Some(server) => RedisCounters::read_shared(server).await,
                    None => None,
                }
            };
            let phase = |from: f64, to: f64, loads: Vec<Load>, seed: u64| FloodPlan {
                nodes: nodes.clone(),
                loads,
                connections: CONNECTIONS,
                max_requests: MAX_REQUESTS,
                duration: stage.duration.mul_f64(to - from),
                seed,
                keep_each: false,
                token_shape: token_shape.clone(),
            };

            stage.at(0.15).await;
            let (baseline_from, baseline) = (stage.clock.t_ms(), read().await);
            stage.at(0.30).await;
            let (baseline_to, before) = (stage.clock.t_ms(), read().await);
            stage.events.record(EventKind::FloodStart, "made-up ids");
            let made_up = crate::flood::run(&phase(0.30, 0.45, vec![Load::MadeUpIds], 1), stage.clock).await?;
            let made_up_to = stage.clock.t_ms();
            let after_made_up = read().await;
            // Redis's bound, as the RAM store has its own: set for the login
            // flood, lifted after it.
            let maxmemory = match (&redis, &after_made_up) {
                (Some(server), Some(counters)) => {
                    let bound = counters.used_memory + REDIS_HEADROOM;
                    set_maxmemory(server, bound).await.then_some(bound)
                }
                _ => None,
            };
            stage.events.record(EventKind::FloodStart, "logins");
            let logins_from = stage.clock.t_ms();
            let logins = crate::flood::run(&phase(0.45, 0.80, vec![Load::Logins], 2), stage.clock).await?;
            let logins_to = stage.clock.t_ms();
            stage.events.record(EventKind::FloodEnd, "flood");
            let after_logins = read().await;
            if let (Some(server), Some(_)) = (&redis, maxmemory) {
                set_maxmemory(server, 0).await;
            }
            let client = reqwest::Client::new();
            let mut health = Vec::new();
            for url in &urls {
                health.push(health_counters(&client, url).await);
            }
            stage.at(0.98).await;
            let samples = sampler.stop();

            let sum = |key: &str| {
                let values: Vec<u64> = health.iter().filter_map(|h| h.get(key).copied()).collect();
                (!values.is_empty()).then(|| values.iter().sum())
            };
            let rss_near = |t_ms: u64| rss_at(&samples, t_ms) as i64;
            let logins_mid = (logins_from + logins_to) / 2;
            let redis_figures = match (baseline, before, after_made_up, after_logins) {
                (Some(baseline), Some(before), Some(after_made_up), Some(after_logins)) => {
                    Some(redis_figures(RedisWindows {
                        baseline: (&baseline, &before, baseline_to.saturating_sub(baseline_from)),
                        baseline_window_ms: [baseline_from, baseline_to],
                        made_up: (&after_made_up, made_up_to.saturating_sub(baseline_to)),
                        after_logins: &after_logins,
                        made_up_requests: made_up.sent(Load::MadeUpIds),
                        maxmemory,
                    }))
                }
                _ => None,
            };
            let measured = Measured {
                flood_made_up_requests: made_up.sent(Load::MadeUpIds),
                flood_made_up_per_s: made_up.per_second(),
                flood_made_up_401_share: ratio(
                    made_up.answered(Load::MadeUpIds, 401),
                    made_up.sent(Load::MadeUpIds),
                ),
                flood_logins: logins.answered(Load::Logins, 200),
                flood_logins_per_s: logins.per_second(),
                flood_failed: made_up.failed + logins.failed,
                rss_kib_before_flood: rss_at(&samples, baseline_to),
                rss_kib_peak: samples.iter().map(|s| s.nodes.rss_kib).max().unwrap_or(0),
                rss_kib_last: samples.last().map_or(0, |s| s.nodes.rss_kib),
                rss_kib_growth_logins_first_half: rss_near(logins_mid) - rss_near(logins_from),
                rss_kib_growth_logins_second_half: rss_near(logins_to) - rss_near(logins_mid),
                sessions_held_after: sum("sessions"),
                sessions_evicted: sum("evicted"),
                max_sessions_per_node: health.iter().find_map(|h| h.get("max_sessions").copied()),
                redis: redis_figures,
                memory_samples: memory_curve(&samples),
            };
            stage.measured.extend(findings_of(&measured));
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        #[derive(Serialize)]
        struct Honest {
            /// Redis commands per user request in the baseline window.
            #[serde(skip_serializing_if = "Option::is_none")]
            redis_commands_per_user_request: Option<f64>,
            /// Users that got a 401 while the flood ran.
            users_logged_out_during_flood: usize,
        }
        let window = |key: &str| run.measured.get(key).and_then(Value::as_array).cloned();
        let per_request = window("redis_baseline_window_ms").and_then(|w| {
            let (from, to) = (w.first()?.as_u64()?, w.get(1)?.as_u64()?);
            let calls = run.measured.get("redis_baseline_calls")?.as_u64()?;
            let answered: u64 = run
                .timeline()
                .iter()
                .filter(|b| b.t_ms >= from && b.t_ms + 100 <= to)
                .map(|b| b.ok + b.unauthorized + b.failed)
                .sum();
            // The window's slices cover a whole number of 100 ms slices.
            let covered = (to / 100).saturating_sub(from.div_ceil(100)) * 100;
            let calls = calls as f64 * covered as f64 / (to - from).max(1) as f64;
            (answered > 0).then(|| (calls / answered as f64 * 100.0).round() / 100.0)
        });
        let flood = (
            run.events.iter().find(|e| e.kind == EventKind::FloodStart).map(|e| e.t_ms),
            run.first(EventKind::FloodEnd).map(|e| e.t_ms),
        );
        let during = |t: u64| matches!(flood, (Some(from), Some(to)) if t >= from && t <= to);
        findings_of(&Honest {
            redis_commands_per_user_request: per_request,
            users_logged_out_during_flood: run
                .users
                .iter()
                .filter(|u| u.logouts.iter().any(|l| during(l.t_ms)))
                .count(),
        })
    }

    fn notes(&self, _: &Services) -> Vec<String> {
        vec![
            format!(
                "The stateful twin's nodes run with --max-sessions {MAX_SESSIONS}: past it a login evicts the \
                 least recently used session, and a user evicted that way gets 401 (counted in `users logged out`)."
            ),
            "A made-up id costs the Redis store a second round trip: its update pipeline creates a placeholder \
             hash, which the store then deletes (`redis del per made up id`). Without that DEL, every made-up \
             id would hold a key in Redis for the whole session TTL."
                .to_string(),
        ]
    }
}

/// Redis's counters at the edges of the windows.
struct RedisWindows<'a> {
    /// Counters at the start and end of the baseline window, and its length.
    baseline: (&'a RedisCounters, &'a RedisCounters, u64),
    baseline_window_ms: [u64; 2],
    /// Counters at the end of the made-up-id window, and its length.
    made_up: (&'a RedisCounters, u64),
    after_logins: &'a RedisCounters,
    made_up_requests: u64,
    maxmemory: Option<u64>,
}

fn redis_figures(w: RedisWindows<'_>) -> RedisFigures {
    let (start, before, baseline_ms) = w.baseline;
    let (after_made_up, made_up_ms) = w.made_up;
    let baseline_calls = before.calls_since(start);
    let made_up_calls = after_made_up.calls_since(before);
    // The users keep sending during the flood: take away what they sent in
    // a baseline window of the same length.
    let scaled = |n: u64| n as f64 * made_up_ms as f64 / baseline_ms.max(1) as f64;
    let beyond = |now: u64, then: f64| (now as f64 - then).max(0.0);
    let all = |calls: &std::collections::BTreeMap<String, u64>| calls.values().sum::<u64>();
    let per_id = |n: f64| {
        if w.made_up_requests == 0 { 0.0 } else { (n / w.made_up_requests as f64 * 1000.0).round() / 1000.0 }
    };
    let del = |calls: &std::collections::BTreeMap<String, u64>| calls.get("del").copied().unwrap_or(0);
    RedisFigures {
        redis_baseline_calls: all(&baseline_calls),
        redis_baseline_window_ms: w.baseline_window_ms,
        redis_commands_per_made_up_id: per_id(beyond(all(&made_up_calls), scaled(all(&baseline_calls)))),
        redis_del_per_made_up_id: per_id(beyond(del(&made_up_calls), scaled(del(&baseline_calls)))),
        redis_calls_made_up_window: made_up_calls,
        redis_keys_before: before.keys,
        redis_keys_after_made_up_ids: after_made_up.keys,
        redis_keys_after_logins: w.after_logins.keys,
        redis_used_memory_kib_before: before.used_memory / 1024,
        redis_used_memory_kib_after_made_up_ids: after_made_up.used_memory / 1024,
        redis_used_memory_kib_after_logins: w.after_logins.used_memory / 1024,
        redis_maxmemory_kib: w.maxmemory.map(|b| b / 1024),
        redis_evicted_keys: w.after_logins.evicted_keys.saturating_sub(after_made_up.evicted_keys),
    }
}

/// `CONFIG SET maxmemory BYTES` with `volatile-lru` (0 lifts the bound);
/// whether Redis took it.
async fn set_maxmemory(server: &std::sync::Arc<std::sync::Mutex<local_redis::RedisServer>>, bytes: u64) -> bool {
    let server = std::sync::Arc::clone(server);
    tokio::task::spawn_blocking(move || {
        let server = server.lock().unwrap_or_else(|e| e.into_inner());
        server.command(&["CONFIG", "SET", "maxmemory-policy", "volatile-lru"]).is_ok()
            && server.command(&["CONFIG", "SET", "maxmemory", &bytes.to_string()]).is_ok()
    })
    .await
    .unwrap_or(false)
}
