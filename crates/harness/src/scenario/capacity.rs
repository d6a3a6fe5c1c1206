//! `capacity`: a sweep. The highest request rate each twin sustains within
//! the latency objective at 1, 2, 3 and 4 nodes, and where one Redis would
//! stop the stateless twin.
//!
//! The side starts with one node of modelled capacity [`NODE_CAPACITY`];
//! the run is cut into [`SWEEP_NODES`] × [`FACTORS`] steps of equal length.
//! For each node count the open-loop rate steps through [`FACTORS`] × the
//! cluster's capacity; at the next count a node joins. A step is sustained
//! when, over its second half (the first lets sessions of the previous
//! step leave), the p99 of served requests is within [`OBJECTIVE_MS`] and
//! at most 1 % were refused or failed; `sustained_rps` is the highest
//! offered rate sustained at each count. Users are skewed by default (a
//! Zipf spread, `--skew uniform` to change it): sticky routing then piles
//! a few heavy users onto one node, which saturates while others idle.
//!
//! The sides that use Redis also report `redis-server`'s CPU time per
//! request over the sweep (read from `/proc`, as `harness bench` does) and
//! what follows: the rate at which one Redis would use a whole core, and
//! the node count at which the cluster would reach it. That is the next
//! ceiling, after the nodes'. What Redis spends with no request at all (its
//! timers, its clients' idle connections) is measured over
//! [`IDLE_WINDOW`] once the sweep's sessions have left, and taken off
//! before dividing: it does not grow with the rate, so leaving it in would
//! put the ceiling too low. What is left still holds a wake-up of Redis per
//! request at the sweep's low rates, which a busier Redis shares between
//! the requests one wake-up reads, so the ceiling stays on the cautious
//! side; `redis_64_tasks` in the benchmarks prices a busy Redis.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;

use super::overload::{NODE_CAPACITY, OBJECTIVE_MS};
use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::arrivals::{MAX_ARRIVALS, OpenLoop, RateSchedule, Skew};
use crate::config::Config;
use crate::metrics::EventKind;
use crate::objective::{self, MAX_BAD_SHARE};
use crate::services::Services;

/// Node counts swept: 1 to this.
pub const SWEEP_NODES: usize = 4;
/// Offered rates at each node count, as multiples of its capacity.
pub const FACTORS: [f64; 5] = [0.5, 0.7, 0.85, 1.0, 1.15];
/// Requests a second one user sends, on average.
const USER_RPS: f64 = 5.0;
/// How long after the last arrival the sweep's sessions have surely left
/// (a session lasts at most a second, see `open_loop`).
const SESSIONS_GONE: Duration = Duration::from_millis(1500);
/// How long Redis's idle CPU is read for, once the load is gone.
pub const IDLE_WINDOW: Duration = Duration::from_secs(1);

/// The sweep over node counts and rates.
#[derive(Debug)]
pub struct CapacitySweep;

/// One step of the sweep.
#[derive(Clone, Debug, Serialize)]
struct Step {
    nodes: usize,
    offered_rps: f64,
    served_rps: f64,
    p99_ms: Option<f64>,
    refused: u64,
    failed: u64,
    sustained: bool,
}

#[derive(Serialize)]
struct CapacityFindings {
    objective_ms: f64,
    node_capacity_rps: u32,
    skew: Skew,
    /// The highest offered rate sustained, by node count.
    sustained_rps: BTreeMap<String, f64>,
    /// `sustained_rps` at the most nodes over that at one.
    scaling_ratio: Option<f64>,
    /// `redis-server`'s CPU time per request of this side, µs, with its
    /// idle CPU over the same span taken off.
    redis_cpu_us_per_request: Option<f64>,
    /// `redis-server`'s CPU with no load, µs per second.
    redis_idle_cpu_us_per_s: Option<f64>,
    /// Requests a second at which one Redis would use a whole core.
    redis_ceiling_rps: Option<f64>,
    /// Nodes of this capacity at which the cluster would reach it.
    redis_saturates_at_nodes: Option<f64>,
}

#[derive(Serialize)]
struct Wrapped {
    capacity: CapacityFindings,
    capacity_steps: Vec<Step>,
}

/// How long one step lasts in a run of `duration`.
fn step_length(duration: Duration) -> Duration {
    duration / u32::try_from(SWEEP_NODES * FACTORS.len()).unwrap_or(1)
}

/// The steps' (start fraction, node count, offered rate), in order.
fn plan() -> Vec<(f64, usize, f64)> {
    let steps = (SWEEP_NODES * FACTORS.len()) as f64;
    (1..=SWEEP_NODES)
        .flat_map(|nodes| FACTORS.iter().enumerate().map(move |(i, f)| (nodes, i, *f)))
        .enumerate()
        .map(|(k, (nodes, _, factor))| {
            (k as f64 / steps, nodes, factor * f64::from(NODE_CAPACITY) * nodes as f64)
        })
        .collect()
}

impl Scenario for CapacitySweep {
    fn name(&self) -> &'static str {
        "capacity"
    }

    fn summary(&self) -> &'static str {
        "sweep: the highest rate each twin sustains at 1-4 nodes, and where Redis stops it"
    }

    fn open_loop(&self, config: &Config) -> Option<OpenLoop> {
        let steps: Vec<(f64, f64)> = plan().iter().map(|&(at, _, rate)| (at, rate)).collect();
        // Sessions fit in a step, so each step measures its own rate.
        let session = step_length(config.duration).min(Duration::from_secs(2)) / 2;
        let requests = ((session.as_secs_f64() * USER_RPS).round() as u32).max(2);
        Some(OpenLoop {
            rate: RateSchedule::steps(&steps),
            requests,
            session,
            skew: config.skew.unwrap_or(Skew::Zipf),
            max_arrivals: MAX_ARRIVALS,
        })
    }

    fn node_capacity(&self) -> Option<u32> {
        Some(NODE_CAPACITY)
    }

    fn nodes_at_start(&self, _config: &Config) -> usize {
        1
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let redis = stage.cluster.side().info().needs_redis.then(|| stage.services.redis.pid()).flatten();
            let before = redis.and_then(crate::cpu::used);
            for nodes in 2..=SWEEP_NODES {
                stage.at((nodes - 1) as f64 / SWEEP_NODES as f64).await;
                let index = stage.cluster.add_node().await?;
                let node = &stage.cluster.nodes()[index];
                stage.balancer.add_backend(&node.name, &node.url());
                stage.events.record(EventKind::Start, &node.name);
            }
            stage.at(1.0).await;
            let Some(pid) = redis else { return Ok(()) };
            if let Some(used) = crate::cpu::used(pid).zip(before).and_then(|(a, b)| a.checked_sub(b)) {
                stage.measured.put("redis_cpu_us", used.as_micros() as u64);
            }
            // Redis with no load: the sweep's last sessions gone, one window.
            tokio::time::sleep(SESSIONS_GONE).await;
            let quiet = crate::cpu::used(pid);
            tokio::time::sleep(IDLE_WINDOW).await;
            if let Some(idle) = crate::cpu::used(pid).zip(quiet).and_then(|(a, b)| a.checked_sub(b)) {
                let per_s = idle.as_secs_f64() * 1e6 / IDLE_WINDOW.as_secs_f64();
                stage.measured.put("redis_idle_cpu_us_per_s", per_s.round() as u64);
            }
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let duration_ms = run.config.duration.as_millis() as u64;
        let plan = plan();
        let step_ms = duration_ms as f64 / plan.len() as f64;
        let samples: Vec<_> = run.users.iter().flat_map(|u| &u.samples).collect();
        let mut steps = Vec::new();
        for (k, &(_, nodes, offered)) in plan.iter().enumerate() {
            let from = ((k as f64 + 0.5) * step_ms) as u64;
            let to = ((k as f64 + 1.0) * step_ms) as u64;
            let inside: Vec<_> = samples.iter().copied().filter(|s| (from..to).contains(&s.t_ms)).collect();
            let refused = inside.iter().filter(|s| s.refused()).count() as u64;
            let served = inside.iter().filter(|s| s.served()).count() as u64;
            let failed = inside.len() as u64 - refused - served;
            let p99 = objective::p99_ms(inside.iter().copied());
            let bad = (refused + failed) as f64 / inside.len().max(1) as f64;
            let span_s = ((to - from) as f64 / 1000.0).max(0.001);
            steps.push(Step {
                nodes,
                offered_rps: offered,
                served_rps: (served as f64 / span_s).round(),
                p99_ms: p99,
                refused,
                failed,
                sustained: !inside.is_empty() && p99.is_some_and(|p| p <= OBJECTIVE_MS) && bad <= MAX_BAD_SHARE,
            });
        }
        let sustained_rps: BTreeMap<String, f64> = (1..=SWEEP_NODES)
            .map(|n| {
                let best = steps.iter().filter(|s| s.nodes == n && s.sustained).map(|s| s.offered_rps).fold(0.0, f64::max);
                (n.to_string(), best)
            })
            .collect();
        let one = sustained_rps.get("1").copied().unwrap_or(0.0);
        let most = sustained_rps.get(&SWEEP_NODES.to_string()).copied().unwrap_or(0.0);
        let requests: u64 = run.users.iter().map(|u| u.requests).sum();
        let idle_per_s = run.measured.get("redis_idle_cpu_us_per_s").and_then(|v| v.as_u64()).map(|us| us as f64);
        let idle_over_run = idle_per_s.unwrap_or(0.0) * run.config.duration.as_secs_f64();
        let per_request = run
            .measured
            .get("redis_cpu_us")
            .and_then(|v| v.as_u64())
            .filter(|_| requests > 0)
            .map(|us| ((us as f64 - idle_over_run).max(0.0) / requests as f64 * 10.0).round() / 10.0)
            .filter(|us| *us > 0.0);
        let ceiling = per_request.map(|us| (1_000_000.0 / us).round());
        let capacity = CapacityFindings {
            objective_ms: OBJECTIVE_MS,
            node_capacity_rps: NODE_CAPACITY,
            skew: run.config.skew.unwrap_or(Skew::Zipf),
            sustained_rps,
            scaling_ratio: (one > 0.0).then(|| (most / one * 100.0).round() / 100.0),
            redis_cpu_us_per_request: per_request,
            redis_idle_cpu_us_per_s: idle_per_s,
            redis_ceiling_rps: ceiling,
            redis_saturates_at_nodes: ceiling.map(|c| (c / f64::from(NODE_CAPACITY) * 10.0).round() / 10.0),
        };
        findings_of(&Wrapped { capacity, capacity_steps: steps })
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![format!(
            "Each node's capacity is modelled ({NODE_CAPACITY} requests/s): all nodes share one machine, so the \
             node counts' real CPU stays far below its limit. A step is sustained when the p99 of its second half \
             is <= {OBJECTIVE_MS} ms with at most 1% refused. Redis's CPU per request is real (from /proc, its idle \
             CPU taken off); the node count at which one Redis core would be full is an extrapolation. --users and --nodes are not used."
        )]
    }
}
