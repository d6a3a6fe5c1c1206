//! Running a scenario: its services, then each side in turn, then the
//! report.
//!
//! Sides run one after another, not at once. On a 2-core machine two
//! clusters and two crowds of users would compete for the same cores, and
//! whichever side is heavier (the stateless one talks to Redis) would slow
//! the other down; one after another, each side has the machine to itself,
//! with the same users, seed, think time and script times on its own clock.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cluster::Cluster;
use crate::config::{Config, Lb};
use crate::haproxy::{Files, Haproxy};
use crate::metrics::{Clock, Event, Events, Latency, Live, UserRecord, merge_timeline, new_histogram};
use crate::report::{Report, SideReport};
use crate::router::{LoadBalancer, Policy, Router};
use crate::runner::{UsageError, resolve_sides};
use crate::scenario::{SideRun, Stage, all_findings};
use crate::services::{Needs, Services};
use crate::side::{Backing, Side, TokenKeys};
use crate::user::{Crowd, play};

/// Forced logouts kept by name in the report (the counts are always full).
const LOGOUTS_KEPT: usize = 2000;
/// A side whose failed requests are above this share of all it sent is
/// flagged `invalid`: its other counts are not a result.
const INVALID_FAILED_SHARE: f64 = 0.5;

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
    let sides = resolve_sides(config.sides.as_deref(), config.scenario.default_sides(), config.bin_dir.as_deref())?;
    let needs = Needs {
        redis: sides.iter().any(|(side, _)| side.info().needs_redis),
        redis_url: config.redis_url.clone(),
        redis_persistence: config.persistence(),
    };
    let services = Services::start(&needs).await?;
    // One key per run, shared by every token node (see `side`).
    let token_keys = match config.scenario.shares_token_key() {
        true => TokenKeys::Shared(crate::side::random_key()?),
        false => TokenKeys::PerNode,
    };
    let mut reports = Vec::new();
    for (side, binary) in &sides {
        let backing = Backing { redis_url: services.redis.url(), token_keys: token_keys.clone() };
        reports.push(run_side(config, *side, binary.clone(), &services, backing).await?);
    }
    let mut report = Report {
        scenario: config.scenario.name().to_string(),
        seed: config.seed,
        duration_ms: u64::try_from(config.duration.as_millis()).unwrap_or(u64::MAX),
        sides: reports,
        notes: config.scenario.notes(&services),
        chart: None,
        json: None,
    };
    drop(services);
    crate::output::write_files(config, &mut report)?;
    Ok(report)
}

async fn run_side(
    config: &Config,
    side: Side,
    binary: PathBuf,
    services: &Services,
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
        services,
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
    cluster.shutdown().await;
    scripted.with_context(|| format!("the {} script failed on the {side} side", config.scenario))?;
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let events = events.snapshot();
    let mut report = summarize(config, side, routing, &users, events, services);
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

fn summarize(
    config: &Config,
    side: Side,
    routing: Policy,
    users: &[UserRecord],
    events: Vec<Event>,
    services: &Services,
) -> SideReport {
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
    let requests = users.iter().map(|u| u.requests).sum();
    let failed_requests = users.iter().map(|u| u.failed).sum();
    let findings = all_findings(config.scenario, &SideRun { users, events: &events, services });
    SideReport {
        side,
        invalid: invalid(requests, failed_requests),
        routing,
        nodes: config.nodes,
        users: users.len(),
        requests,
        failed_requests,
        unauthorized: users.iter().map(|u| u.unauthorized).sum(),
        users_logged_out: users.iter().filter(|u| !u.logouts.is_empty()).count(),
        carts_lost: users.iter().filter(|u| !u.cart_losses.is_empty()).count(),
        per_node_requests,
        latency_ms: Latency::of(&latency),
        findings,
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

/// Why a side's counts are not a result: most of its requests failed.
fn invalid(requests: u64, failed: u64) -> Option<String> {
    if requests == 0 {
        return Some("no request was sent".to_string());
    }
    (failed as f64 > requests as f64 * INVALID_FAILED_SHARE).then(|| {
        format!(
            "{failed} of {requests} requests failed: its nodes or their store did not serve, \
             so its logouts and lost carts are not a result"
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_whose_requests_mostly_failed_is_not_a_result() {
        assert_eq!(invalid(1000, 0), None);
        assert_eq!(invalid(1000, 500), None, "half is still a measurement (an outage scenario)");
        let why = invalid(1000, 501).expect("flagged");
        assert!(why.starts_with("501 of 1000 requests failed"), "{why}");
        assert!(invalid(0, 0).is_some());
    }
}
