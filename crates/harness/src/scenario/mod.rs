//! The scenarios: what happens to the cluster while users play, and what is
//! worth measuring afterwards.
//!
//! A scenario is one type implementing [`Scenario`], in a file of its own:
//! its script on the side's clock (kill node 1 at a third of the run, …),
//! the typed findings it computes from the users' records, and the notes
//! printed under the table. Every side runs the same script at the same
//! times, so their rows compare. The list below is the only place that
//! names every scenario: `harness list`, the command line and the book's
//! check read it. Adding a scenario is one file and one line here.
//!
//! Four scenarios show what a twin gives up rather than what a cluster
//! does to it: `logout-replay`, `logout-everywhere` (a user on two devices
//! ends every session from one), `key-mismatch` and `concurrent-cart`.
//! They change what users do ([`Scenario::user_script`]) or what nodes are
//! given ([`Scenario::shares_token_key`]), not the cluster. Two take Redis
//! away: `redis-outage` stops it cleanly, `redis-crash` kills it and
//! restarts it with whatever its persistence kept. Three are about scaling,
//! with nodes of a modelled capacity ([`Scenario::node_capacity`]) under
//! open-loop load ([`Scenario::open_loop`]): `overload` and `scale-in` run
//! the harness's autoscaler, `capacity` sweeps node counts and rates.
//! Three load the twins
//! beyond what users do and sample the processes from outside (see
//! [`crate::sample`]): `flood` (made-up ids and password-less logins at the
//! generator's full rate), `redis-hang` (Redis frozen under full load) and
//! `soak` (a long run with session churn).
//! Two put the stateless twin on a replicated Redis
//! ([`Scenario::redis_topology`]) and kill one primary: `redis-failover` on
//! a Sentinel set, `redis-cluster` on a Redis Cluster; their scripts act on
//! the stateless side only.
//!
//! # Implementing a scenario
//!
//! ```
//! use futures::future::BoxFuture;
//! use harness::metrics::EventKind;
//! use harness::scenario::{Findings, Scenario, SideRun, Stage, findings_of};
//!
//! /// Kills the last node half-way through.
//! #[derive(Debug)]
//! struct LastNodeDeath;
//!
//! #[derive(serde::Serialize)]
//! struct LastNodeFindings {
//!     killed_at_ms: Option<u64>,
//! }
//!
//! impl Scenario for LastNodeDeath {
//!     fn name(&self) -> &'static str {
//!         "last-node-death"
//!     }
//!     fn summary(&self) -> &'static str {
//!         "SIGKILL the last node half-way through"
//!     }
//!     fn script<'a>(&'a self, mut stage: Stage<'a>) -> BoxFuture<'a, anyhow::Result<()>> {
//!         Box::pin(async move {
//!             stage.at(0.5).await;
//!             let last = stage.cluster.nodes().len() - 1;
//!             let name = stage.cluster.nodes()[last].name.clone();
//!             stage.cluster.kill(last).await?;
//!             stage.events.record(EventKind::Kill, &name);
//!             Ok(())
//!         })
//!     }
//!     fn findings(&self, run: &SideRun<'_>) -> Findings {
//!         findings_of(&LastNodeFindings { killed_at_ms: run.first(EventKind::Kill).map(|e| e.t_ms) })
//!     }
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;
use local_redis::Persistence;
use serde::Serialize;
use serde_json::Value;

use crate::arrivals::OpenLoop;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::database::DatabaseDurability;
use crate::metrics::{Bucket, Clock, Event, EventKind, Events, UserRecord, merge_timeline};
use crate::router::{LoadBalancer, Policy};
use crate::services::{Services, Topology};
use crate::side::Side;
use crate::user::Script;

/// Declares the scenario modules and [`ALL`], in the order `harness list`
/// shows them: one line per scenario.
macro_rules! scenarios {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(mod $module; pub use $module::$kind;)*
        /// Every scenario, in the order `harness list` shows them.
        pub const ALL: &[&dyn Scenario] = &[$(&$kind),*];
    };
}

scenarios! {
    node_death::NodeDeath,
    round_robin::RoundRobin,
    scale_out::ScaleOut,
    rolling_restart::RollingRestart,
    redis_outage::RedisOutage,
    redis_crash::RedisCrash,
    database_outage::DatabaseOutage,
    database_crash::DatabaseCrash,
    logout_replay::LogoutReplay,
    logout_everywhere::LogoutEverywhere,
    key_mismatch::KeyMismatch,
    concurrent_cart::ConcurrentCart,
    overload::Overload,
    scale_in::ScaleIn,
    capacity::CapacitySweep,
    flood::Flood,
    redis_hang::RedisHang,
    soak::Soak,
    redis_failover::RedisFailover,
    redis_cluster::RedisClusterShards,
}

/// A scenario's own numbers: a typed `Serialize` struct turned into the
/// JSON object of the report's `findings` ([`findings_of`]). The table
/// shows its scalar entries, one row each; maps and lists stay in the JSON.
pub type Findings = BTreeMap<String, Value>;

/// One scenario of the harness. Every method but the first two and
/// [`Scenario::findings`] has the default most scenarios want.
pub trait Scenario: Send + Sync + fmt::Debug + 'static {
    /// The name on the command line, in the report and in file names.
    fn name(&self) -> &'static str;

    /// One line for `harness list`.
    fn summary(&self) -> &'static str;

    /// How `side` is routed in this scenario.
    fn routing(&self, side: Side) -> Policy {
        side.info().routing
    }

    /// The sides a run picks without `--sides` (those whose binary is built).
    fn default_sides(&self) -> &'static [Side] {
        Side::DEFAULT
    }

    /// Whether every token node gets the run's one key (what a real deploy
    /// must do); `false` gives each node a key of its own.
    fn shares_token_key(&self) -> bool {
        true
    }

    /// How the harness's own Redis persists unless `--redis-persistence`
    /// says otherwise.
    fn default_persistence(&self) -> Persistence {
        Persistence::Snapshot
    }

    /// How the run's PostgreSQL (the `database` side's store) treats the
    /// disk unless `--database-durability` says otherwise.
    fn default_database_durability(&self) -> DatabaseDurability {
        DatabaseDurability::NoFsync
    }

    /// Whether the script stops or kills the run's Redis (it does so only
    /// to a Redis the harness started, never to a `--redis-url`). Runs of
    /// scenarios that do not may share one Redis.
    fn stops_redis(&self) -> bool {
        false
    }

    /// Whether the scenario reads Redis's own counters (`INFO`, `DBSIZE`),
    /// which another run sharing that Redis would disturb, or stops it: then
    /// it wants a Redis of its own.
    fn own_redis(&self) -> bool {
        self.stops_redis()
    }

    /// Flags this scenario adds for `side`'s nodes (`--session-ttl`,
    /// `--max-sessions`).
    fn node_args(&self, side: Side) -> Vec<String> {
        let _ = side;
        Vec::new()
    }

    /// The run's SVG chart, when the scenario draws its own (the memory
    /// curve of [`crate::output::memory`]); `None` draws the timeline.
    fn chart(&self, report: &crate::Report) -> Option<String> {
        let _ = report;
        None
    }

    /// Whether the report keeps each node's requests per second
    /// (`per_node_per_second`), which the chart draws as each node's share
    /// over time: for scenarios whose finding is where the load goes.
    fn charts_node_shares(&self) -> bool {
        false
    }

    /// Where the stateless twin keeps its sessions: one Redis unless the
    /// scenario is about a replicated one.
    fn redis_topology(&self) -> Topology {
        Topology::Single
    }

    /// What users do beyond the usual loop.
    fn user_script(&self) -> Script {
        Script::Shop
    }

    /// When user `index` of `users` starts: by default all within the first
    /// half second (spread so logins do not arrive as one burst).
    fn arrival(&self, index: usize, users: usize, duration: Duration) -> Duration {
        spread(Duration::from_millis(500).min(duration / 4), index, users)
    }

    /// An open-loop load ([`crate::arrivals`]): users arrive at a rate,
    /// play one session each and leave, instead of the closed-loop crowd
    /// of `config.users`. `None` (the default): the crowd.
    fn open_loop(&self, config: &Config) -> Option<OpenLoop> {
        let _ = config;
        None
    }

    /// The modelled capacity every node is started with (`--capacity`,
    /// requests a second); `None` (the default): none, the server as is.
    fn node_capacity(&self) -> Option<u32> {
        None
    }

    /// Nodes per side at the start; by default `--nodes`.
    fn nodes_at_start(&self, config: &Config) -> usize {
        config.nodes
    }

    /// What the scenario does to the cluster while users play; it may
    /// return early (the runner waits for the users either way).
    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        let _ = stage;
        Box::pin(async { Ok(()) })
    }

    /// The numbers this scenario is about, from one side's records.
    fn findings(&self, run: &SideRun<'_>) -> Findings;

    /// Plain-language notes printed under the table and kept in the report.
    fn notes(&self, services: &Services) -> Vec<String> {
        let _ = services;
        Vec::new()
    }
}

impl fmt::Display for dyn Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The scenario called `name`, from [`ALL`].
pub fn find(name: &str) -> Result<&'static dyn Scenario, String> {
    ALL.iter().copied().find(|s| s.name() == name).ok_or_else(|| {
        let names: Vec<_> = ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario `{name}` (expected one of: {})", names.join(", "))
    })
}

/// What a script may act on.
pub struct Stage<'a> {
    /// The side's nodes.
    pub cluster: &'a mut Cluster,
    /// The side's load balancer.
    pub balancer: Arc<dyn LoadBalancer>,
    /// The services the run started (or was given).
    pub services: &'a Services,
    /// Where events are recorded.
    pub events: Arc<Events>,
    /// The side's clock.
    pub clock: Clock,
    /// How long users play.
    pub duration: Duration,
    /// What the script measured itself, for its findings.
    pub measured: Measured,
}

/// What a script measures itself (a node's load over time, a drain's
/// length), handed to [`Scenario::findings`] as [`SideRun::measured`].
#[derive(Clone, Debug, Default)]
pub struct Measured(Arc<Mutex<Findings>>);

impl Measured {
    /// Keeps `value` under `key`.
    pub fn put(&self, key: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.0.lock().unwrap().insert(key.to_string(), value);
    }

    /// Keeps every one of `findings`.
    pub fn extend(&self, findings: Findings) {
        self.0.lock().unwrap().extend(findings);
    }

    /// Everything kept so far.
    pub fn snapshot(&self) -> Findings {
        self.0.lock().unwrap().clone()
    }
}

impl Stage<'_> {
    /// Adds the typed `numbers` to the side's findings.
    pub fn measure<T: Serialize>(&self, numbers: &T) {
        self.measured.extend(findings_of(numbers));
    }

    /// Waits until `fraction` of the run has passed on the side's clock.
    pub async fn at(&self, fraction: f64) {
        tokio::time::sleep_until(self.clock.at(self.duration.mul_f64(fraction)).into()).await;
    }
}

/// One side's records, as a scenario reads them for its findings.
pub struct SideRun<'a> {
    /// Every user's record, sorted by name.
    pub users: &'a [UserRecord],
    /// The script's events, in order.
    pub events: &'a [Event],
    /// The services of the run.
    pub services: &'a Services,
    /// What the script measured itself.
    pub measured: &'a Findings,
    /// What the run was asked to do.
    pub config: &'a Config,
}

impl SideRun<'_> {
    /// The first event of `kind`.
    pub fn first(&self, kind: EventKind) -> Option<&Event> {
        self.events.iter().find(|e| e.kind == kind)
    }

    /// The sum of `count` over every user.
    pub fn sum(&self, count: impl Fn(&UserRecord) -> u64) -> u64 {
        self.users.iter().map(count).sum()
    }

    /// From `t_ms` (a service came back) to the end of the last 100 ms
    /// slice with a failed request: when failures ended after it.
    pub fn failures_end_ms_after(&self, t_ms: u64) -> u64 {
        self.timeline()
            .iter()
            .filter(|b| b.failed > 0 && b.t_ms + 100 > t_ms)
            .map(|b| (b.t_ms + 100).saturating_sub(t_ms))
            .max()
            .unwrap_or(0)
    }

    /// The users' timelines merged.
    pub fn timeline(&self) -> Vec<Bucket> {
        let mut timeline = Vec::new();
        for user in self.users {
            merge_timeline(&mut timeline, &user.timeline);
        }
        timeline
    }
}

/// Turns a scenario's typed findings into the report's `findings` object;
/// `None` (or any non-object) gives no findings.
pub fn findings_of<T: Serialize>(typed: &T) -> Findings {
    match serde_json::to_value(typed) {
        Ok(Value::Object(map)) => map.into_iter().collect(),
        _ => Findings::new(),
    }
}

/// What every scenario reports besides its own findings: what a session
/// costs on the wire.
#[derive(Serialize)]
struct CookieSize {
    sid_cookie_bytes_mean: u64,
    sid_cookie_bytes_max: Option<u64>,
}

/// The findings of `scenario` on one side, with the cookie size every
/// scenario reports.
pub fn all_findings(scenario: &dyn Scenario, run: &SideRun<'_>) -> Findings {
    let mut findings = scenario.findings(run);
    findings.extend(run.measured.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(mean) = run.sum(|u| u.sid_bytes_sum).checked_div(run.sum(|u| u.sid_cookies)) {
        let max = run.users.iter().map(|u| u.sid_bytes_max).max();
        findings.extend(findings_of(&CookieSize { sid_cookie_bytes_mean: mean, sid_cookie_bytes_max: max }));
    }
    findings
}

/// `window × index / users`: users spread evenly over `window`.
pub fn spread(window: Duration, index: usize, users: usize) -> Duration {
    window.mul_f64(index as f64 / users.max(1) as f64)
}

/// `part / whole` rounded to three decimals (0 when `whole` is 0).
pub fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 / whole as f64 * 1000.0).round() / 1000.0 }
}
