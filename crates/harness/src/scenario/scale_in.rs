//! `scale-in`: the load drops and the autoscaler removes a node
//! gracefully. Who is logged out?
//!
//! Open-loop users (as in `overload`) arrive at 0.6× the cluster's
//! modelled capacity, then, from [`DROP_AT`] of the run, at 0.15×. The
//! autoscaler sees the mean utilisation stay under 0.3 for a second and
//! removes the newest node the graceful way: drained (no new user is sent
//! there; users pinned to it keep going there), stopped once it has served
//! nothing for a second or at the drain deadline ([`DRAIN_DEADLINE`], half a session),
//! with SIGTERM so that requests in flight finish.
//!
//! Round-robin sides (stateless, token) send a drained node nothing more:
//! it is idle a second later and nobody notices it went. A sticky side
//! (stateful) keeps its pinned users on it; the drain either waits for
//! their sessions to end (up to a session's length) or, at the deadline,
//! stops the node with them on it: their sessions go with it.

use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;

use super::overload::{NODE_CAPACITY, SESSION, ramp, seconds};
use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::arrivals::{OpenLoop, RateSchedule};
use crate::autoscaler::{Autoscaler, Rule};
use crate::config::Config;
use crate::metrics::EventKind;
use crate::services::Services;

/// The load drops at this fraction of the run.
pub const DROP_AT: f64 = 0.25;
/// Longest a drain waits for the node's users to leave: half a session.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// The load drops; the autoscaler drains and removes a node.
#[derive(Debug)]
pub struct ScaleIn;

#[derive(Serialize)]
struct ScaleInFindings {
    /// The node removed.
    removed_node: Option<String>,
    /// When the drain began, s.
    drain_started_s: Option<f64>,
    /// From the drain's start to the node's stop, s.
    drain_s: Option<f64>,
    /// `idle`: its users had left; `deadline`: stopped with users on it.
    drain_ended: Option<&'static str>,
    /// The longest the drain may wait, s.
    drain_deadline_s: f64,
    /// How long a session lasts, s: what waiting for every user to leave
    /// can take.
    session_s: f64,
    /// Distinct users forced to log in again after the drain began.
    users_logged_out_by_removal: usize,
    /// Requests with no answer after the drain began.
    failed_after_drain: u64,
}

#[derive(Serialize)]
struct Wrapped {
    scale_in: ScaleInFindings,
}

impl Scenario for ScaleIn {
    fn name(&self) -> &'static str {
        "scale-in"
    }

    fn summary(&self) -> &'static str {
        "the load drops, the autoscaler drains and removes a node: who is logged out"
    }

    fn open_loop(&self, config: &Config) -> Option<OpenLoop> {
        let capacity = f64::from(NODE_CAPACITY) * config.nodes as f64;
        let rate = RateSchedule::steps(&[(0.0, 0.6 * capacity), (DROP_AT, 0.15 * capacity)]);
        // Sessions of their full length whatever the run's: the drain's
        // deadline is half of one.
        Some(OpenLoop { rate, session: SESSION, ..ramp(config, config.nodes, 0.6, 0.6, 0.0) })
    }

    fn node_capacity(&self) -> Option<u32> {
        Some(NODE_CAPACITY)
    }

    fn script<'a>(&'a self, mut stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let nodes = stage.cluster.nodes().len();
            let autoscaler = Autoscaler {
                rule: Some(Rule {
                    high: 1.1,
                    low: 0.3,
                    sustain_ms: 1000,
                    cooldown_ms: 1000,
                    min_nodes: nodes.saturating_sub(1).max(1),
                    max_nodes: nodes,
                }),
                every: Duration::from_millis(250),
                drain_deadline: DRAIN_DEADLINE,
            };
            // Nothing to decide while the load is high.
            stage.at(DROP_AT).await;
            autoscaler.run_recorded(&mut stage).await
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let drain = run.first(EventKind::Drain);
        let stop = run.first(EventKind::ScaleIn);
        let from = drain.map_or(u64::MAX, |d| d.t_ms);
        let ended = run
            .measured
            .get("load_over_time")
            .and_then(|l| l.get("drains"))
            .and_then(|d| d.get(0))
            .and_then(|d| d.get("ended"))
            .and_then(|e| e.as_str())
            .map(|e| if e == "idle" { "idle" } else { "deadline" });
        let scale_in = ScaleInFindings {
            removed_node: drain.map(|d| d.node.clone()),
            drain_started_s: drain.map(|d| seconds(d.t_ms)),
            drain_s: drain.zip(stop).map(|(d, s)| seconds(s.t_ms.saturating_sub(d.t_ms))),
            drain_ended: ended,
            drain_deadline_s: DRAIN_DEADLINE.as_secs_f64(),
            session_s: SESSION.as_secs_f64(),
            users_logged_out_by_removal: run.users.iter().filter(|u| u.logouts.iter().any(|l| l.t_ms >= from)).count(),
            failed_after_drain: run
                .users
                .iter()
                .flat_map(|u| &u.samples)
                .filter(|s| s.t_ms >= from && s.status == 0)
                .count() as u64,
        };
        let mut findings = findings_of(&Wrapped { scale_in });
        findings.extend(run.measured.clone());
        findings
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![format!(
            "Each node's capacity is modelled ({NODE_CAPACITY} requests/s) and so is the autoscaler (mean \
             utilisation under 0.3 for 1 s removes the newest node: drained, then SIGTERM once it served nothing \
             for 1 s or after {} s, half a session). --users is not used.",
            DRAIN_DEADLINE.as_secs()
        )]
    }
}
