//! `overload`: open-loop load ramps from half the cluster's modelled
//! capacity to well past it; the harness's autoscaler adds nodes. Does the
//! new capacity reach the users who are already there?
//!
//! Every node gets `--capacity` [`NODE_CAPACITY`] (a model: all nodes
//! share one machine). Users arrive in a seeded Poisson process whose
//! request rate ramps from 0.5× to [`PEAK`]× the starting cluster's
//! capacity over the first [`RAMP_UNTIL`] of the run, then holds; each
//! plays a session of [`SESSION`] (a fifth of the run in shorter runs) and leaves. The autoscaler
//! ([`crate::autoscaler`]) adds a node when the mean utilisation stays
//! above 0.8 for a second, up to three more nodes.
//!
//! With round-robin (stateless, token) the new node takes its share of
//! every user's requests at once. With sticky routing (stateful) only
//! users who log in after it joined can land there: the users already
//! pinned to the hot nodes stay there, queued and refused, until their
//! sessions end.

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;
use std::time::Duration;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::arrivals::{MAX_ARRIVALS, OpenLoop, RateSchedule};
use crate::autoscaler::{Autoscaler, Rule};
use crate::config::Config;
use crate::metrics::{EventKind, UserRecord};
use crate::objective::{self, Window};
use crate::services::Services;

/// Modelled capacity of every node, requests a second.
pub const NODE_CAPACITY: u32 = 100;
/// The latency objective: p99 of served requests, ms.
pub const OBJECTIVE_MS: f64 = 250.0;
/// Peak request rate, as a multiple of the starting cluster's capacity.
pub const PEAK: f64 = 1.5;
/// The ramp ends at this fraction of the run.
pub const RAMP_UNTIL: f64 = 0.15;
/// How long one user's session lasts, at most: a fifth of the run in
/// shorter runs.
pub const SESSION: Duration = Duration::from_secs(4);
/// Requests per session after the login, for a user of mean weight.
pub const REQUESTS: u32 = 10;
/// Nodes the autoscaler may add.
pub const MAX_ADDED: usize = 3;

/// Load ramps past capacity; the autoscaler adds nodes.
#[derive(Debug)]
pub struct Overload;

/// The load of `nodes` nodes ramping from half to [`PEAK`] × their capacity.
pub(super) fn ramp(config: &Config, nodes: usize, from: f64, to: f64, until: f64) -> OpenLoop {
    let capacity = f64::from(NODE_CAPACITY) * nodes as f64;
    OpenLoop {
        rate: RateSchedule::ramp(from * capacity, to * capacity, until),
        requests: REQUESTS,
        session: session(config.duration),
        skew: config.skew.unwrap_or_default(),
        max_arrivals: MAX_ARRIVALS,
    }
}

/// The scale-related findings of `overload`, under `findings.overload`.
#[derive(Serialize)]
struct OverloadFindings {
    /// The objective the recovery is read against.
    objective_ms: f64,
    /// Seconds from the last scale-out until p99 is back under the
    /// objective and stays there; `None` if it never is.
    recovery_s: Option<f64>,
    /// The same, reading only users who logged in before the first
    /// scale-out.
    recovery_s_users_before: Option<f64>,
    /// p99 after the first scale-out, of users who logged in before it.
    p99_ms_users_before: Option<f64>,
    /// p99 after the first scale-out, of users who logged in after it.
    p99_ms_users_after: Option<f64>,
    /// Requests refused by a node at capacity (503 overloaded).
    rejected: u64,
    /// Nodes the autoscaler added.
    scale_outs: usize,
    /// When the first and the last node was added, s.
    first_scale_out_s: Option<f64>,
    last_scale_out_s: Option<f64>,
    /// The modelled capacity of one node, requests a second.
    node_capacity_rps: u32,
}

#[derive(Serialize)]
struct Scaling<'a> {
    overload: OverloadFindings,
    latency_over_time: &'a [Window],
}

impl Scenario for Overload {
    fn name(&self) -> &'static str {
        "overload"
    }

    fn summary(&self) -> &'static str {
        "open-loop load ramps past capacity, an autoscaler adds nodes: who recovers"
    }

    fn open_loop(&self, config: &Config) -> Option<OpenLoop> {
        Some(ramp(config, config.nodes, 0.5, PEAK, RAMP_UNTIL))
    }

    fn node_capacity(&self) -> Option<u32> {
        Some(NODE_CAPACITY)
    }

    fn script<'a>(&'a self, mut stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let nodes = stage.cluster.nodes().len();
            let autoscaler = Autoscaler {
                rule: Some(Rule {
                    high: 0.8,
                    low: 0.0,
                    sustain_ms: 1000,
                    cooldown_ms: 1500,
                    min_nodes: nodes,
                    max_nodes: nodes + MAX_ADDED,
                }),
                every: Duration::from_millis(250),
                drain_deadline: Duration::ZERO,
            };
            autoscaler.run_recorded(&mut stage).await
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let duration_ms = u64::try_from(run.config.duration.as_millis()).unwrap_or(u64::MAX);
        let all = run.users.iter().flat_map(|u| &u.samples);
        let windows = objective::windows(all, duration_ms);
        let outs: Vec<u64> = run.events.iter().filter(|e| e.kind == EventKind::ScaleOut).map(|e| e.t_ms).collect();
        let (first, last) = (outs.first().copied(), outs.last().copied());
        let logged_in_before = |u: &UserRecord, t: u64| u.logins.first().is_some_and(|l| l.t_ms < t);
        let after = |t: u64| move |s: &&crate::metrics::Sample| s.t_ms >= t;
        let before_users: Vec<&UserRecord> = match first {
            Some(t) => run.users.iter().filter(|u| logged_in_before(u, t)).collect(),
            None => Vec::new(),
        };
        let recovery_s_users_before = first.zip(last).and_then(|(first, last)| {
            let samples = before_users.iter().flat_map(|u| &u.samples).filter(after(first));
            objective::recovery_ms(&objective::windows(samples, duration_ms), last, OBJECTIVE_MS)
        });
        let overload = OverloadFindings {
            objective_ms: OBJECTIVE_MS,
            recovery_s: last.and_then(|t| objective::recovery_ms(&windows, t, OBJECTIVE_MS)).map(seconds),
            recovery_s_users_before: recovery_s_users_before.map(seconds),
            p99_ms_users_before: first.and_then(|t| {
                objective::p99_ms(before_users.iter().flat_map(|u| &u.samples).filter(after(t)))
            }),
            p99_ms_users_after: first.and_then(|t| {
                let users = run.users.iter().filter(|u| u.logins.first().is_some_and(|l| l.t_ms >= t));
                objective::p99_ms(users.flat_map(|u| &u.samples).filter(after(t)))
            }),
            rejected: run.users.iter().flat_map(|u| &u.samples).filter(|s| s.refused()).count() as u64,
            scale_outs: outs.len(),
            first_scale_out_s: first.map(seconds),
            last_scale_out_s: last.map(seconds),
            node_capacity_rps: NODE_CAPACITY,
        };
        let mut findings = findings_of(&Scaling { overload, latency_over_time: &windows });
        findings.extend(run.measured.clone());
        findings
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![
            format!(
                "Each node's capacity is modelled ({NODE_CAPACITY} requests/s, 50 ms service time, 500 ms queue), \
                 and so is the autoscaler (mean utilisation above 0.8 for 1 s adds a node): all nodes share one \
                 machine. Latency objective: p99 of served requests <= {OBJECTIVE_MS} ms with at most 1% refused."
            ),
            "Open-loop load: users arrive at a ramping rate whatever the latency, and each request's latency \
             counts from when it was meant to start; --users is not used."
                .to_string(),
        ]
    }
}

/// How long a session lasts in a run of `duration`.
pub(super) fn session(duration: Duration) -> Duration {
    SESSION.min(duration / 5)
}

/// Milliseconds as seconds, to a tenth.
pub(super) fn seconds(ms: u64) -> f64 {
    (ms as f64 / 100.0).round() / 10.0
}
