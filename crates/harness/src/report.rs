//! The report of a scenario run: what [`crate::run`] returns and what
//! [`crate::output`] writes. Its own module, so running and writing files
//! depend on it and not on each other.
//!
//! The side's fields of the contract come first; every scenario's own
//! numbers are in `findings`. Fields for other kinds of state (files,
//! orders, live connections) are `Option`s skipped when absent, so a side
//! that did not exercise a kind has no such field at all.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Lb;
use crate::haproxy::{Balance, StatusChange};
use crate::metrics::{Bucket, Event, Latency, Logout};
use crate::router::Policy;
use crate::scenario::Findings;
use crate::side::Side;

/// The report of one run: `{"scenario": …, "sides": […]}` plus extras.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Seed of the users' random choices.
    pub seed: u64,
    /// How long users played, per side.
    pub duration_ms: u64,
    /// One entry per side, in the order they ran.
    pub sides: Vec<SideReport>,
    /// Plain-language notes about the run.
    pub notes: Vec<String>,
    /// Where the SVG chart was written, if anywhere.
    pub chart: Option<PathBuf>,
    /// Where the JSON report was written, if anywhere.
    pub json: Option<PathBuf>,
}

impl Report {
    /// The row of `side`, if it ran.
    pub fn side(&self, side: Side) -> Option<&SideReport> {
        self.sides.iter().find(|s| s.side == side)
    }
}

/// What one side measured (the fields of the contract first).
#[derive(Clone, Debug, Serialize)]
pub struct SideReport {
    /// Which twin.
    pub side: Side,
    /// Why this side's counts are not a result, when most of its requests
    /// failed (a store that never answered, nodes that never served): then
    /// `users_logged_out` and `carts_lost` say nothing about the design.
    /// Absent when the side ran as it should.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
    /// How it was routed.
    pub routing: Policy,
    /// Nodes at the start.
    pub nodes: usize,
    /// Virtual users.
    pub users: usize,
    /// Requests sent.
    pub requests: u64,
    /// Requests that got no HTTP answer or a 5xx.
    pub failed_requests: u64,
    /// 401 answers after a successful login.
    pub unauthorized: u64,
    /// Distinct users that were forced to log in again.
    pub users_logged_out: usize,
    /// Distinct users whose cart no longer matched their ledger.
    pub carts_lost: usize,
    /// Requests served per node (from `X-Node`).
    pub per_node_requests: BTreeMap<String, u64>,
    /// Latency of answered requests.
    pub latency_ms: Latency,
    /// Per-100 ms counts.
    pub timeline: Vec<Bucket>,
    /// What the scenario did, when.
    pub events: Vec<Event>,
    /// Forced logouts in total (a user can be logged out many times).
    pub forced_logouts: usize,
    /// Cart losses in total.
    pub cart_loss_events: usize,
    /// Successful logins (the first ones included).
    pub logins: usize,
    /// 503 answers.
    pub service_unavailable: u64,
    /// 4xx answers other than 401 (none expected).
    pub other_client_errors: u64,
    /// Logins per node.
    pub per_node_logins: BTreeMap<String, u64>,
    /// The scenario's own numbers (see [`crate::scenario::Findings`]).
    pub findings: Findings,
    /// The first forced logouts, in time order, by user.
    pub logouts: Vec<Logout>,
    /// What balanced the load.
    pub lb: Lb,
    /// HAProxy's `balance` algorithm, with `--lb haproxy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_balance: Option<Balance>,
    /// The HAProxy configuration this side ran, when written to `--out`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_config: Option<PathBuf>,
    /// Requests served per node by HAProxy's count (`show stat` `req_tot`),
    /// beside `per_node_requests` (the users' `X-Node` count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lb_per_node_requests: Option<BTreeMap<String, u64>>,
    /// Requests HAProxy redispatched away from a node (`wredis`): it could
    /// not connect, so another node served them. Nodes with none are left out.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lb_redispatched: BTreeMap<String, u64>,
    /// Server status changes HAProxy reported (`UP`, `DOWN`, `MAINT`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lb_status_changes: Vec<StatusChange>,
}
