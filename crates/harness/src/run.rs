//! Running a scenario: Redis, then each side in turn, then the report.
//!
//! Sides run one after another, not at once. On a 2-core machine two
//! clusters and two crowds of users would compete for the same cores, and
//! whichever side is heavier (the stateless one talks to Redis) would slow
//! the other down; one after another, each side has the machine to itself,
//! with the same users, seed, think time and script times on its own clock.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use local_redis::{Persistence, RedisServer};
use serde::Serialize;
use serde_json::Value;

use crate::cluster::{Cluster, find_binary};
use crate::haproxy::{Balance, Files, Haproxy, StatusChange};
use crate::metrics::{Bucket, Clock, Event, Events, Latency, Live, Logout, UserRecord, merge_timeline, new_histogram};
use crate::router::{LoadBalancer, Policy, Router};
use crate::scenario::{RedisHandle, Scenario, Stage};
use crate::side::{Backing, Side};
use crate::user::{Crowd, play};

/// Forced logouts kept by name in the report (the counts are always full).
const LOGOUTS_KEPT: usize = 2000;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The scenario.
    pub scenario: Scenario,
    /// Nodes per side at the start.
    pub nodes: usize,
    /// Virtual users per side.
    pub users: usize,
    /// How long users play, per side.
    pub duration: Duration,
    /// Seed of the users' random choices.
    pub seed: u64,
    /// Pause between two requests of one user (jittered ±50 %).
    pub think: Duration,
    /// Use this Redis instead of starting one.
    pub redis_url: Option<String>,
    /// The sides to run; `None` = every side whose binary is built.
    pub sides: Option<Vec<Side>>,
    /// Where the server binaries are; `None` = beside this executable.
    pub bin_dir: Option<PathBuf>,
    /// Where the JSON report, the SVG chart and node logs go; `None` writes nothing.
    pub out_dir: Option<PathBuf>,
    /// Also write the JSON report here.
    pub json: Option<PathBuf>,
    /// Draw a progress bar (only on a terminal).
    pub progress: bool,
    /// What balances the load: the harness's own router or a real HAProxy.
    pub lb: Lb,
    /// HAProxy's `balance` algorithm (`--lb haproxy` only); `None` = roundrobin.
    pub lb_balance: Option<Balance>,
    /// How the harness's own Redis persists its data; `None` = the
    /// scenario's default. Ignored with `redis_url`.
    pub redis_persistence: Option<Persistence>,
}

/// What sits between the users and the nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lb {
    /// The harness's own [`Router`].
    #[default]
    Harness,
    /// A real `haproxy` process per side (see [`crate::haproxy`]).
    Haproxy,
}

impl std::fmt::Display for Lb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lb::Harness => "harness",
            Lb::Haproxy => "haproxy",
        })
    }
}

impl std::str::FromStr for Lb {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "harness" => Ok(Lb::Harness),
            "haproxy" => Ok(Lb::Haproxy),
            _ => Err(format!("unknown load balancer `{s}` (expected harness or haproxy)")),
        }
    }
}

impl Config {
    /// The defaults of `harness run`, for `scenario`.
    pub fn new(scenario: Scenario) -> Config {
        Config {
            scenario,
            nodes: 3,
            users: 200,
            duration: Duration::from_secs(15),
            seed: 42,
            think: Duration::from_millis(50),
            redis_url: None,
            sides: None,
            bin_dir: None,
            out_dir: None,
            json: None,
            progress: false,
            lb: Lb::Harness,
            lb_balance: None,
            redis_persistence: None,
        }
    }

    /// Requests one user sends at most: twice what its think time allows
    /// in the duration, so the count bound never ends a normal run early.
    pub fn max_requests_per_user(&self) -> u64 {
        let per_second = 1000 / self.think.as_millis().max(1) as u64;
        2 * per_second.max(1) * self.duration.as_secs().max(1) + 100
    }
}

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
    /// The scenario's own numbers.
    pub findings: BTreeMap<String, Value>,
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

/// Why a run could not start: reported as bad usage (exit 2) by the binary.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The sides to run and their binaries. Without an explicit list, every
/// side whose binary is found; with one, a missing binary is an error.
pub fn resolve_sides(config: &Config) -> Result<Vec<(Side, PathBuf)>> {
    let bin_dir = config.bin_dir.as_deref();
    let build_hint = "build them with `cargo build --release --workspace --bins` (or pass --bin-dir)";
    match &config.sides {
        Some(sides) => sides
            .iter()
            .map(|&side| match find_binary(side.info().binary, bin_dir) {
                Some(path) => Ok((side, path)),
                None => Err(UsageError(format!("no `{}` binary found; {build_hint}", side.info().binary)).into()),
            })
            .collect(),
        None => {
            let found: Vec<_> = config
                .scenario
                .default_sides()
                .iter()
                .filter_map(|&side| find_binary(side.info().binary, bin_dir).map(|path| (side, path)))
                .collect();
            if found.is_empty() {
                bail!(UsageError(format!("no server binary found; {build_hint}")));
            }
            Ok(found)
        }
    }
}

/// Runs `config.scenario` on every selected side and writes the outputs.
pub async fn run(config: &Config) -> Result<Report> {
    if config.nodes == 0 || config.users == 0 || config.duration.is_zero() {
        bail!(UsageError("--nodes, --users and --duration must be greater than zero".into()));
    }
    if config.lb == Lb::Harness && config.lb_balance.is_some() {
        bail!(UsageError("--lb-balance chooses HAProxy's algorithm: it needs --lb haproxy".into()));
    }
    if config.lb == Lb::Haproxy && !crate::haproxy::is_installed() {
        bail!(UsageError(format!(
            "haproxy is not installed (--lb haproxy runs it); install it with `{}`",
            crate::haproxy::INSTALL_HINT
        )));
    }
    let sides = resolve_sides(config)?;
    let redis = start_redis(config, &sides).await?;
    // One key per run, shared by every token node (see `side`).
    let token_key = crate::side::random_key()?;
    let mut reports = Vec::new();
    for (side, binary) in &sides {
        let backing = Backing { redis_url: redis.url(), token_keys: config.scenario.token_keys(&token_key) };
        reports.push(run_side(config, *side, binary.clone(), &redis, backing).await?);
    }
    let mut report = Report {
        scenario: config.scenario.name().to_string(),
        seed: config.seed,
        duration_ms: u64::try_from(config.duration.as_millis()).unwrap_or(u64::MAX),
        sides: reports,
        notes: config.scenario.notes(&redis),
        chart: None,
        json: None,
    };
    drop(redis);
    crate::output::write_files(config, &mut report)?;
    Ok(report)
}

async fn start_redis(config: &Config, sides: &[(Side, PathBuf)]) -> Result<RedisHandle> {
    if !sides.iter().any(|(side, _)| side.info().needs_redis) {
        return Ok(RedisHandle::None);
    }
    if let Some(url) = &config.redis_url {
        return Ok(RedisHandle::External(url.clone()));
    }
    if !local_redis::is_installed() {
        bail!(UsageError(format!(
            "redis-server is not installed (the stateless side needs it); install it with `{}`",
            local_redis::INSTALL_HINT
        )));
    }
    let persistence = config.redis_persistence.unwrap_or(config.scenario.default_persistence());
    let server = tokio::task::spawn_blocking(move || RedisServer::start_with(persistence))
        .await?
        .context("cannot start redis-server")?;
    Ok(RedisHandle::Owned(Arc::new(Mutex::new(server))))
}

async fn run_side(
    config: &Config,
    side: Side,
    binary: PathBuf,
    redis: &RedisHandle,
    backing: Backing,
) -> Result<SideReport> {
    let log_dir = config.out_dir.as_ref().map(|d| d.join("logs").join(config.scenario.name()));
    let mut cluster = Cluster::start(side, binary, backing, config.nodes, log_dir)
        .await
        .with_context(|| format!("cannot start the {side} cluster"))?;
    let routing = config.scenario.routing(side);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let (balancer, health, haproxy): (Arc<dyn LoadBalancer>, _, _) = match config.lb {
        Lb::Harness => {
            let router = Router::new(routing, cluster.nodes().iter().map(|n| (n.name.clone(), n.url())));
            let health = router.spawn_health_checks(client.clone(), Duration::from_millis(100));
            (router, Some(health), None)
        }
        Lb::Haproxy => {
            let haproxy = start_haproxy(config, side, routing, &cluster).await?;
            (Arc::clone(&haproxy) as Arc<dyn LoadBalancer>, None, Some(haproxy))
        }
    };

    let clock = Clock::start();
    if let Some(haproxy) = &haproxy {
        haproxy.watch(clock);
    }
    let events = Arc::new(Events::new(clock));
    let live = Arc::new(Live::default());
    let crowd = Arc::new(Crowd {
        client,
        balancer: Arc::clone(&balancer),
        clock,
        live: Arc::clone(&live),
        think: config.think,
        duration: config.duration,
        max_requests: config.max_requests_per_user(),
        seed: config.seed,
        script: config.scenario.user_script(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..config.users {
        let start_after = config.scenario.arrival(index, config.users, config.duration);
        tasks.spawn(play(Arc::clone(&crowd), index, start_after));
    }
    let progress = progress_bar(config, side, routing, &live, clock);

    let stage = Stage {
        cluster: &mut cluster,
        balancer: Arc::clone(&balancer),
        redis: redis.clone(),
        events: Arc::clone(&events),
        clock,
        duration: config.duration,
    };
    let scripted = config.scenario.script(stage).await;
    let mut users = Vec::with_capacity(config.users);
    while let Some(record) = tasks.join_next().await {
        users.push(record.context("a virtual user panicked")?);
    }
    if let Some(health) = health {
        health.abort();
    }
    // Read HAProxy's counts now: every user is done, no request is in flight.
    let lb_stats = match &haproxy {
        Some(haproxy) => Some(haproxy.per_node_stats().context("cannot read HAProxy's statistics")?),
        None => None,
    };
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }
    drop(cluster);
    scripted.with_context(|| format!("the {} script failed on the {side} side", config.scenario))?;
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let events = events.snapshot();
    let mut report = summarize(config, side, routing, &users, events);
    report.findings.extend(config.scenario.redis_findings(redis));
    if let Some(haproxy) = haproxy {
        report.lb_balance = Some(haproxy.balance());
        report.lb_config = config.out_dir.as_ref().map(|_| haproxy.config_path().to_path_buf());
        if let Some(stats) = lb_stats {
            report.lb_per_node_requests = Some(stats.iter().map(|(node, s)| (node.clone(), s.req_tot)).collect());
            report.lb_redispatched =
                stats.iter().filter(|(_, s)| s.wredis > 0).map(|(node, s)| (node.clone(), s.wredis)).collect();
        }
        report.lb_status_changes = haproxy.status_changes();
    }
    Ok(report)
}

/// Starts HAProxy in front of `cluster`; its configuration goes into the
/// out dir as `haproxy-SCENARIO-SIDE.cfg`, its messages beside the node logs.
async fn start_haproxy(config: &Config, side: Side, routing: Policy, cluster: &Cluster) -> Result<Arc<Haproxy>> {
    let scenario = config.scenario.name();
    let files = Files {
        config: config.out_dir.as_ref().map(|d| d.join(format!("haproxy-{scenario}-{side}.cfg"))),
        log: config.out_dir.as_ref().map(|d| d.join("logs").join(scenario).join(format!("haproxy-{side}.log"))),
    };
    let nodes: Vec<(String, std::net::SocketAddr)> = cluster.nodes().iter().map(|n| (n.name.clone(), n.addr)).collect();
    let balance = config.lb_balance.unwrap_or_default();
    Haproxy::start(side.name(), routing, balance, &nodes, files)
        .await
        .with_context(|| format!("cannot start HAProxy in front of the {side} cluster"))
}

fn summarize(config: &Config, side: Side, routing: Policy, users: &[UserRecord], events: Vec<Event>) -> SideReport {
    let mut latency = new_histogram();
    let mut timeline = Vec::new();
    let mut per_node_requests = BTreeMap::new();
    let mut per_node_logins = BTreeMap::new();
    let mut logouts = Vec::new();
    for user in users {
        latency.add(&user.latency_us).ok();
        merge_timeline(&mut timeline, &user.timeline);
        for (node, n) in &user.per_node {
            *per_node_requests.entry(node.clone()).or_insert(0) += n;
        }
        for login in &user.logins {
            *per_node_logins.entry(login.node.clone()).or_insert(0) += 1;
        }
        logouts.extend(user.logouts.iter().cloned());
    }
    let forced_logouts = logouts.len();
    logouts.sort_by_key(|l| l.t_ms);
    logouts.truncate(LOGOUTS_KEPT);
    // Slices past the end hold requests that started in the last moment.
    timeline.truncate(usize::try_from(config.duration.as_millis() / 100).unwrap_or(usize::MAX).max(1));
    SideReport {
        side,
        routing,
        nodes: config.nodes,
        users: users.len(),
        requests: users.iter().map(|u| u.requests).sum(),
        failed_requests: users.iter().map(|u| u.failed).sum(),
        unauthorized: users.iter().map(|u| u.unauthorized).sum(),
        users_logged_out: users.iter().filter(|u| !u.logouts.is_empty()).count(),
        carts_lost: users.iter().filter(|u| !u.cart_losses.is_empty()).count(),
        per_node_requests,
        latency_ms: Latency::of(&latency),
        findings: config.scenario.findings(users, &events),
        timeline,
        events,
        forced_logouts,
        cart_loss_events: users.iter().map(|u| u.cart_losses.len()).sum(),
        logins: users.iter().map(|u| u.logins.len()).sum(),
        service_unavailable: users.iter().map(|u| u.unavailable).sum(),
        other_client_errors: users.iter().map(|u| u.other_client_errors).sum(),
        per_node_logins,
        logouts,
        lb: config.lb,
        lb_balance: None,
        lb_config: None,
        lb_per_node_requests: None,
        lb_redispatched: BTreeMap::new(),
        lb_status_changes: Vec::new(),
    }
}

fn progress_bar(
    config: &Config,
    side: Side,
    routing: Policy,
    live: &Arc<Live>,
    clock: Clock,
) -> Option<(ProgressBar, tokio::task::JoinHandle<()>)> {
    if !config.progress || !std::io::stdout().is_terminal() {
        return None;
    }
    let total = u64::try_from(config.duration.as_millis()).unwrap_or(u64::MAX);
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
    let style = ProgressStyle::with_template("{prefix:>24} [{bar:20}] {wide_msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(format!("{side} ({routing})"));
    let (ticking, live) = (bar.clone(), Arc::clone(live));
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            ticking.set_position(clock.t_ms().min(total));
            ticking.set_message(format!(
                "{} req, {} failed, {} 401s, {} logouts",
                Live::get(&live.requests),
                Live::get(&live.failed),
                Live::get(&live.unauthorized),
                Live::get(&live.logouts)
            ));
        }
    });
    Some((bar, ticker))
}
