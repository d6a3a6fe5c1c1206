//! The harness's autoscaler: it reads every node's load and adds a node
//! when the cluster stays busy, drains and removes one when it stays idle.
//!
//! It is a model of an autoscaler, as the nodes' capacity is a model of a
//! machine's (the reports say so): a rule on the cluster's mean
//! utilisation, as a cloud provider's target-tracking or step-scaling
//! policy has, but with a node that starts in a fraction of a second
//! rather than minutes.
//!
//! - **Sampling.** Every [`Autoscaler::every`] (250 ms) it reads each
//!   running node's `/healthz`; a node started with a capacity reports
//!   `"load":{"utilisation","queued","capacity"}`, kept per node over time
//!   ([`LoadLog`]). `/healthz` is never held up by the capacity model, so a
//!   saturated node still answers.
//! - **The rule** ([`Rule`], [`Decider`]): when the mean utilisation of the
//!   nodes in rotation has stayed above `high` for `sustain`, add a node;
//!   below `low` for `sustain`, remove one; never two changes within
//!   `cooldown`, never beyond `max_nodes` or below `min_nodes`. The mean is
//!   what such policies read, and it is blind to one hot node among cool
//!   ones: a sticky cluster can be overloaded on two nodes while its mean
//!   says all is well.
//! - **Scaling out**: a node is started with the same arguments, put in
//!   the load balancer (a spare HAProxy slot filled through the runtime
//!   API with `--lb haproxy`), and a [`EventKind::ScaleOut`] event marks the
//!   moment.
//! - **Scaling in, gracefully**: the newest node is drained
//!   ([`LoadBalancer::drain`]: no new user is sent to it, users pinned to
//!   it keep going there; HAProxy's `state drain`), [`EventKind::Drain`];
//!   once it has served nothing for a second (its utilisation reads 0) or
//!   the drain deadline has passed, it gets SIGTERM, which lets it finish
//!   the requests in flight, and [`EventKind::ScaleIn`]. No decision is
//!   taken while a node drains.
//!
//! [`LoadBalancer::drain`]: crate::router::LoadBalancer::drain

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::metrics::EventKind;
use crate::scenario::Stage;

/// When to add or remove a node.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rule {
    /// Mean utilisation above which the cluster is busy (0.0 to 1.0).
    pub high: f64,
    /// Mean utilisation below which the cluster is idle.
    pub low: f64,
    /// How long busy (or idle) must last before a change.
    pub sustain_ms: u64,
    /// Least time between two changes.
    pub cooldown_ms: u64,
    /// Never fewer nodes in rotation.
    pub min_nodes: usize,
    /// Never more nodes in rotation.
    pub max_nodes: usize,
}

/// What the rule says at one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Change nothing.
    Hold,
    /// Add a node.
    Out,
    /// Remove a node.
    In,
}

/// The rule with its memory: since when the cluster has been busy or idle,
/// and when it last changed.
#[derive(Clone, Debug)]
pub struct Decider {
    rule: Rule,
    busy_since: Option<u64>,
    idle_since: Option<u64>,
    last_change: Option<u64>,
}

impl Decider {
    /// A decider that has seen nothing yet.
    pub fn new(rule: Rule) -> Decider {
        Decider { rule, busy_since: None, idle_since: None, last_change: None }
    }

    /// Reads the cluster's mean utilisation `mean` over `nodes` nodes in
    /// rotation at `t_ms` and says what to do. A decision to change counts
    /// as done: the next one needs a new sustained reading and the cooldown.
    pub fn decide(&mut self, t_ms: u64, mean: f64, nodes: usize) -> Decision {
        let rule = self.rule;
        if mean > rule.high {
            self.idle_since = None;
            self.busy_since.get_or_insert(t_ms);
        } else if mean < rule.low {
            self.busy_since = None;
            self.idle_since.get_or_insert(t_ms);
        } else {
            self.busy_since = None;
            self.idle_since = None;
        }
        let cooled = self.last_change.is_none_or(|at| t_ms.saturating_sub(at) >= rule.cooldown_ms);
        let lasted = |since: Option<u64>| since.is_some_and(|s| t_ms.saturating_sub(s) >= rule.sustain_ms);
        let decision = if cooled && lasted(self.busy_since) && nodes < rule.max_nodes {
            Decision::Out
        } else if cooled && lasted(self.idle_since) && nodes > rule.min_nodes {
            Decision::In
        } else {
            Decision::Hold
        };
        if decision != Decision::Hold {
            self.last_change = Some(t_ms);
            self.busy_since = None;
            self.idle_since = None;
        }
        decision
    }
}

/// A node's load as `/healthz` reports it.
#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Load {
    /// Busy slot-time over the last second, 0.0 to 1.0.
    pub utilisation: f64,
    /// Requests waiting for a slot.
    pub queued: u32,
    /// The node's modelled capacity, requests a second.
    pub capacity: u32,
}

/// One reading of one node.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct NodeLoad {
    /// When, on the side's clock.
    pub t_ms: u64,
    /// Its utilisation.
    pub utilisation: f64,
    /// Requests waiting.
    pub queued: u32,
}

/// One reading of the cluster, as the rule saw it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ClusterLoad {
    /// When.
    pub t_ms: u64,
    /// Mean utilisation of the nodes in rotation.
    pub utilisation: f64,
    /// Nodes in rotation.
    pub nodes: usize,
}

/// How one drain went.
#[derive(Clone, Debug, Serialize)]
pub struct DrainRecord {
    /// The node drained.
    pub node: String,
    /// When the drain began.
    pub started_ms: u64,
    /// When the node was stopped.
    pub stopped_ms: u64,
    /// `idle`: it had served nothing for a second; `deadline`: it was
    /// stopped with users still on it.
    pub ended: &'static str,
}

/// What the autoscaler read and did over a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadLog {
    /// Each node's readings.
    pub per_node: BTreeMap<String, Vec<NodeLoad>>,
    /// The cluster's mean, reading by reading.
    pub cluster: Vec<ClusterLoad>,
    /// The drains, in order.
    pub drains: Vec<DrainRecord>,
}

/// Reads `url`'s `/healthz` `load`; `None` when it does not answer or has
/// no capacity.
pub async fn read_load(client: &reqwest::Client, url: &str) -> Option<Load> {
    #[derive(Deserialize)]
    struct Health {
        load: Option<Load>,
    }
    let answer = client.get(format!("{url}/healthz")).send().await.ok()?;
    answer.json::<Health>().await.ok()?.load
}

/// The sampler and, with a rule, the autoscaler.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    /// The rule; `None` only samples.
    pub rule: Option<Rule>,
    /// Time between readings.
    pub every: Duration,
    /// Longest a drain waits for the node's users to leave.
    pub drain_deadline: Duration,
}

/// A drain in progress.
struct Draining {
    index: usize,
    started_ms: u64,
    deadline: Instant,
}

impl Autoscaler {
    /// A sampler that never changes the cluster.
    pub fn sampler() -> Autoscaler {
        Autoscaler { rule: None, every: Duration::from_millis(250), drain_deadline: Duration::ZERO }
    }

    /// [`Autoscaler::run`], keeping the rule under `autoscaler` and the log
    /// under `load_over_time` in the stage's [`crate::scenario::Measured`].
    pub async fn run_recorded(&self, stage: &mut Stage<'_>) -> Result<()> {
        stage.measured.put("autoscaler", self.rule);
        let log = self.run(stage).await?;
        stage.measured.put("load_over_time", &log);
        Ok(())
    }

    /// Samples (and scales) `stage`'s cluster until the end of the run.
    pub async fn run(&self, stage: &mut Stage<'_>) -> Result<LoadLog> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .context("cannot build the sampler's HTTP client")?;
        let end = stage.clock.at(stage.duration);
        let mut decider = self.rule.map(Decider::new);
        let mut log = LoadLog::default();
        let mut stopped = BTreeSet::new();
        let mut draining: Option<Draining> = None;
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if Instant::now() >= end {
                return Ok(log);
            }
            let t_ms = stage.clock.t_ms();
            let targets: Vec<(usize, String, String)> = (stage.cluster.nodes().iter().enumerate())
                .filter(|(i, _)| !stopped.contains(i))
                .map(|(i, n)| (i, n.name.clone(), n.url()))
                .collect();
            let loads = futures::future::join_all(targets.iter().map(|(_, _, url)| read_load(&client, url))).await;
            let mut in_rotation = Vec::new();
            let mut drained_load = None;
            for ((index, name, _), load) in targets.iter().zip(loads) {
                let Some(load) = load else { continue };
                let reading = NodeLoad { t_ms, utilisation: load.utilisation, queued: load.queued };
                log.per_node.entry(name.clone()).or_default().push(reading);
                match &draining {
                    Some(d) if d.index == *index => drained_load = Some(load.utilisation),
                    _ => in_rotation.push(load.utilisation),
                }
            }
            if let Some(d) = &draining {
                let idle = drained_load == Some(0.0) && t_ms >= d.started_ms + 1000;
                if idle || Instant::now() >= d.deadline {
                    let name = stage.cluster.nodes()[d.index].name.clone();
                    stage.cluster.stop(d.index).await?;
                    let stopped_ms = stage.events.record(EventKind::ScaleIn, &name);
                    let ended = if idle { "idle" } else { "deadline" };
                    log.drains.push(DrainRecord { node: name, started_ms: d.started_ms, stopped_ms, ended });
                    stopped.insert(d.index);
                    draining = None;
                }
                continue;
            }
            if in_rotation.is_empty() {
                continue;
            }
            let mean = in_rotation.iter().sum::<f64>() / in_rotation.len() as f64;
            log.cluster.push(ClusterLoad {
                t_ms,
                utilisation: (mean * 1000.0).round() / 1000.0,
                nodes: in_rotation.len(),
            });
            let Some(decider) = &mut decider else { continue };
            match decider.decide(t_ms, mean, in_rotation.len()) {
                Decision::Hold => {}
                Decision::Out => {
                    let index = stage.cluster.add_node().await?;
                    let node = &stage.cluster.nodes()[index];
                    stage.balancer.add_backend(&node.name, &node.url());
                    stage.events.record(EventKind::ScaleOut, &node.name);
                }
                Decision::In => {
                    let Some(&(index, ref name, _)) = targets.iter().rev().find(|(i, _, _)| !stopped.contains(i))
                    else {
                        continue;
                    };
                    stage.balancer.drain(name).await?;
                    let started_ms = stage.events.record(EventKind::Drain, name);
                    draining = Some(Draining { index, started_ms, deadline: Instant::now() + self.drain_deadline });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule { high: 0.8, low: 0.3, sustain_ms: 1000, cooldown_ms: 2000, min_nodes: 2, max_nodes: 4 }
    }

    #[test]
    fn adds_a_node_only_when_busy_lasts() {
        let mut d = Decider::new(rule());
        assert_eq!(d.decide(0, 0.95, 2), Decision::Hold, "busy, not yet for long");
        assert_eq!(d.decide(500, 0.95, 2), Decision::Hold);
        assert_eq!(d.decide(750, 0.5, 2), Decision::Hold, "a dip resets the count");
        assert_eq!(d.decide(1000, 0.9, 2), Decision::Hold);
        assert_eq!(d.decide(2000, 0.9, 2), Decision::Out, "busy for a second");
        assert_eq!(d.decide(3000, 0.9, 3), Decision::Hold, "a new reading must last again");
        assert_eq!(d.decide(3500, 0.9, 3), Decision::Hold, "cooldown: two seconds since the change");
        assert_eq!(d.decide(4000, 0.9, 3), Decision::Out);
        assert_eq!(d.decide(9000, 0.99, 4), Decision::Hold);
        assert_eq!(d.decide(20000, 0.99, 4), Decision::Hold, "never beyond max_nodes");
    }

    #[test]
    fn removes_a_node_when_idle_lasts_but_not_below_the_minimum() {
        let mut d = Decider::new(rule());
        assert_eq!(d.decide(0, 0.1, 3), Decision::Hold);
        assert_eq!(d.decide(1000, 0.1, 3), Decision::In);
        assert_eq!(d.decide(4000, 0.1, 2), Decision::Hold);
        assert_eq!(d.decide(9000, 0.0, 2), Decision::Hold, "never below min_nodes");
        assert_eq!(d.decide(9500, 0.5, 2), Decision::Hold, "between the thresholds: nothing");
    }
}
