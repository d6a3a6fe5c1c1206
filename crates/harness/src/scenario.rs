//! The scenarios: what happens to the cluster while users play, and what is
//! worth measuring afterwards.
//!
//! A scenario is a script on the side's clock (kill node 1 at a third of the
//! run, …) plus the findings it computes from the users' records. Every side
//! runs the same script at the same times, so their rows compare.
//!
//! Three scenarios show what the token twin gives up rather than what a
//! cluster does to it: `logout-replay` (users log out; an attacker replays
//! the cookie captured before; it also runs the `token-revocation` side, the
//! token twin with its deny list), `key-mismatch` (token nodes that do not
//! share a key, beside the stateful twin without stickiness) and
//! `concurrent-cart` (two adds at once from one client). They change what
//! users do ([`Scenario::user_script`]) or what nodes are given
//! ([`Scenario::token_keys`]), not the cluster.
//!
//! Two scenarios take Redis away: `redis-outage` stops it cleanly and brings
//! it back with its data; `redis-crash` kills it and restarts it at once with
//! whatever its [`Persistence`] kept, which is what the stateless design
//! loses when its store is not durable.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use local_redis::{Persistence, RedisServer};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::metrics::{Clock, Event, Events, UserRecord};
use crate::router::{LoadBalancer, Policy};
use crate::side::{Side, TokenKeys};
use crate::user::Script;

/// One scenario of the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// SIGKILL one node a third of the way in.
    NodeDeath,
    /// The stateful twin without stickiness.
    RoundRobin,
    /// A node joins a third of the way in; users keep arriving.
    ScaleOut,
    /// Every node is restarted in turn, as a deploy does.
    RollingRestart,
    /// Redis stops for a few seconds and comes back with its data.
    RedisOutage,
    /// Redis is SIGKILLed and restarted at once with what it persisted.
    RedisCrash,
    /// Users log out; an attacker replays the cookies captured before.
    LogoutReplay,
    /// Token nodes each with their own key, round-robin.
    KeyMismatch,
    /// Each cart add is two requests at once with the same cookie.
    ConcurrentCart,
}

/// The Redis a run uses, as the scenario can reach it.
#[derive(Clone, Debug)]
pub enum RedisHandle {
    /// No side needs Redis.
    None,
    /// The harness's own `redis-server`, which a scenario may stop.
    Owned(Arc<Mutex<RedisServer>>),
    /// `--redis-url`: someone else's, never touched.
    External(String),
}

impl RedisHandle {
    /// The URL nodes connect to.
    pub fn url(&self) -> Option<String> {
        match self {
            RedisHandle::None => None,
            RedisHandle::Owned(server) => Some(server.lock().unwrap().url()),
            RedisHandle::External(url) => Some(url.clone()),
        }
    }
}

/// What a script may act on.
pub struct Stage<'a> {
    /// The side's nodes.
    pub cluster: &'a mut Cluster,
    /// The side's load balancer.
    pub balancer: Arc<dyn LoadBalancer>,
    /// The run's Redis.
    pub redis: RedisHandle,
    /// Where events are recorded.
    pub events: Arc<Events>,
    /// The side's clock.
    pub clock: Clock,
    /// How long users play.
    pub duration: Duration,
}

impl Scenario {
    /// Every scenario, in the order `harness list` shows them.
    pub const ALL: &'static [Scenario] = &[
        Scenario::NodeDeath,
        Scenario::RoundRobin,
        Scenario::ScaleOut,
        Scenario::RollingRestart,
        Scenario::RedisOutage,
        Scenario::RedisCrash,
        Scenario::LogoutReplay,
        Scenario::KeyMismatch,
        Scenario::ConcurrentCart,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::NodeDeath => "node-death",
            Scenario::RoundRobin => "round-robin",
            Scenario::ScaleOut => "scale-out",
            Scenario::RollingRestart => "rolling-restart",
            Scenario::RedisOutage => "redis-outage",
            Scenario::RedisCrash => "redis-crash",
            Scenario::LogoutReplay => "logout-replay",
            Scenario::KeyMismatch => "key-mismatch",
            Scenario::ConcurrentCart => "concurrent-cart",
        }
    }

    /// One line for `harness list`.
    pub fn summary(self) -> &'static str {
        match self {
            Scenario::NodeDeath => "SIGKILL one node a third of the way in: who gets logged out, whose cart is lost",
            Scenario::RoundRobin => "the stateful twin without sticky routing: sessions one node cannot see",
            Scenario::ScaleOut => "a node joins a third of the way in: where new and old users go",
            Scenario::RollingRestart => "restart every node in turn, as a deploy does: who survives it",
            Scenario::RedisOutage => {
                "Redis stops a quarter of the way in for a few seconds and comes back with its data"
            }
            Scenario::RedisCrash => {
                "Redis is SIGKILLed a third of the way in and restarted at once: what its persistence kept"
            }
            Scenario::LogoutReplay => {
                "users log out mid-run; an attacker replays their old cookies: how many are still accepted"
            }
            Scenario::KeyMismatch => "token nodes without a shared key (round-robin), beside stateful round-robin",
            Scenario::ConcurrentCart => "two cart adds at once from one client: how many updates are lost",
        }
    }

    /// How `side` is routed in this scenario.
    pub fn routing(self, side: Side) -> Policy {
        match self {
            // key-mismatch compares token nodes that cannot read each
            // other's sessions with the stateful twin in the same position.
            Scenario::RoundRobin | Scenario::KeyMismatch => Policy::RoundRobin,
            _ => side.info().routing,
        }
    }

    /// The sides a run picks without `--sides`: one per twin, plus the
    /// token twin with its deny list where logout is the point.
    pub fn default_sides(self) -> &'static [Side] {
        match self {
            Scenario::LogoutReplay => Side::ALL,
            _ => Side::DEFAULT,
        }
    }

    /// Which key each token node gets: the run's shared key, except in
    /// key-mismatch.
    pub fn token_keys(self, run_key: &str) -> TokenKeys {
        match self {
            Scenario::KeyMismatch => TokenKeys::PerNode,
            _ => TokenKeys::Shared(run_key.to_string()),
        }
    }

    /// How the harness's own Redis persists its data unless
    /// `--redis-persistence` says otherwise: what most deployments run for
    /// the crash, today's snapshot-on-clean-stop elsewhere.
    pub fn default_persistence(self) -> Persistence {
        match self {
            Scenario::RedisCrash => Persistence::AofEverySec,
            _ => Persistence::Snapshot,
        }
    }

    /// What users do beyond the usual loop.
    pub fn user_script(self) -> Script {
        match self {
            Scenario::LogoutReplay => Script::LogoutThenReplay,
            Scenario::ConcurrentCart => Script::ConcurrentAdds,
            _ => Script::Shop,
        }
    }

    /// When user `index` of `users` starts, given the run's duration. In
    /// scale-out, users keep arriving over the first two thirds of the run,
    /// so some log in after the new node joined; elsewhere they all start in
    /// the first half second (spread so logins do not arrive as one burst).
    pub fn arrival(self, index: usize, users: usize, duration: Duration) -> Duration {
        let window = match self {
            Scenario::ScaleOut => duration.mul_f64(2.0 / 3.0),
            _ => Duration::from_millis(500).min(duration / 4),
        };
        window.mul_f64(index as f64 / users.max(1) as f64)
    }

    /// What the scenario does to the cluster while users play.
    pub async fn script(self, stage: Stage<'_>) -> Result<()> {
        let Stage { cluster, balancer, redis, events, clock, duration } = stage;
        let at = |fraction: f64| tokio::time::sleep_until(clock.at(duration.mul_f64(fraction)).into());
        match self {
            Scenario::NodeDeath => {
                at(1.0 / 3.0).await;
                let name = cluster.nodes()[0].name.clone();
                cluster.kill(0).await?;
                events.record("kill", &name);
            }
            Scenario::RoundRobin | Scenario::LogoutReplay | Scenario::KeyMismatch | Scenario::ConcurrentCart => {}
            Scenario::ScaleOut => {
                at(1.0 / 3.0).await;
                let index = cluster.add_node().await?;
                let node = &cluster.nodes()[index];
                balancer.add_backend(&node.name, &node.url());
                events.record("start", &node.name);
            }
            Scenario::RollingRestart => {
                let count = cluster.nodes().len();
                for index in 0..count {
                    at(0.2 + 0.6 * index as f64 / count as f64).await;
                    let name = cluster.nodes()[index].name.clone();
                    // As an operator would: out of rotation, restart, back in.
                    balancer.take_out(&name).await?;
                    events.record("restart", &name);
                    cluster.restart(index).await?;
                    balancer.put_back(&name).await?;
                    events.record("start", &name);
                }
            }
            Scenario::RedisOutage => {
                let RedisHandle::Owned(server) = redis else {
                    return Ok(());
                };
                at(0.25).await;
                let down = Arc::clone(&server);
                tokio::task::spawn_blocking(move || down.lock().unwrap().stop()).await?;
                events.record("redis-down", "redis");
                tokio::time::sleep(outage(duration)).await;
                let up = Arc::clone(&server);
                tokio::task::spawn_blocking(move || up.lock().unwrap().start_again())
                    .await?
                    .context("Redis did not come back")?;
                events.record("redis-up", "redis");
            }
            Scenario::RedisCrash => {
                let RedisHandle::Owned(server) = redis else {
                    return Ok(());
                };
                at(1.0 / 3.0).await;
                // Killed and restarted under one lock: nothing reaches Redis
                // in between, and it is back as fast as a supervisor could.
                let crashed = Arc::clone(&server);
                let down = Arc::clone(&events);
                tokio::task::spawn_blocking(move || {
                    let mut server = crashed.lock().unwrap();
                    server.kill();
                    down.record("redis-down", "redis");
                    server.start_again()
                })
                .await?
                .context("Redis did not come back after the kill")?;
                events.record("redis-up", "redis");
            }
        }
        Ok(())
    }

    /// Numbers this scenario is about, computed from the users' records.
    pub fn findings(self, users: &[UserRecord], events: &[Event]) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        let first = |kind: &str| events.iter().find(|e| e.kind == kind);
        match self {
            Scenario::NodeDeath => {
                if let Some(kill) = first("kill") {
                    // Users whose live session was on the killed node when it died.
                    let on_node = users
                        .iter()
                        .filter(|u| {
                            u.logins.iter().rev().find(|l| l.t_ms <= kill.t_ms).is_some_and(|l| l.node == kill.node)
                        })
                        .count();
                    out.insert("killed_node".into(), json!(kill.node));
                    out.insert("killed_at_ms".into(), json!(kill.t_ms));
                    out.insert("users_logged_in_on_killed_node".into(), json!(on_node));
                    let failed_far = users
                        .iter()
                        .flat_map(|u| u.timeline.iter().enumerate().map(|(i, b)| (i as u64 * 100, b.failed)))
                        .filter(|&(t, f)| f > 0 && (t + 1000 < kill.t_ms || t > kill.t_ms + 2000))
                        .map(|(_, f)| f)
                        .sum::<u64>();
                    out.insert("failed_away_from_kill".into(), json!(failed_far));
                }
            }
            Scenario::RoundRobin | Scenario::KeyMismatch => {
                let logins: usize = users.iter().map(|u| u.logins.len()).sum();
                let requests: u64 = users.iter().map(|u| u.requests).sum();
                let unauthorized: u64 = users.iter().map(|u| u.unauthorized).sum();
                let after_login = requests.saturating_sub(logins as u64);
                out.insert("requests_after_login".into(), json!(after_login));
                out.insert("unauthorized_share".into(), json!(ratio(unauthorized, after_login)));
            }
            Scenario::ScaleOut => {
                if let Some(join) = first("start") {
                    let old_users_on_new = users
                        .iter()
                        .filter(|u| u.logins.first().is_some_and(|l| l.t_ms < join.t_ms))
                        .filter(|u| u.per_node.contains_key(&join.node))
                        .count();
                    let new_users =
                        users.iter().filter(|u| u.logins.first().is_some_and(|l| l.t_ms >= join.t_ms)).count();
                    let logins_on_new = users.iter().flat_map(|u| &u.logins).filter(|l| l.node == join.node).count();
                    // Share of the requests each node served from the first
                    // whole second after the join to the end.
                    let first_second = join.t_ms.div_ceil(1000) as usize;
                    let mut after: BTreeMap<String, u64> = BTreeMap::new();
                    for user in users {
                        for (node, seconds) in &user.per_node_seconds {
                            *after.entry(node.clone()).or_default() += seconds.iter().skip(first_second).sum::<u64>();
                        }
                    }
                    let all: u64 = after.values().sum();
                    let on_new = after.get(&join.node).copied().unwrap_or(0);
                    let shares: BTreeMap<&String, f64> = after.iter().map(|(n, &c)| (n, ratio(c, all))).collect();
                    let first_request = users.iter().filter_map(|u| u.first_served_ms.get(&join.node)).min();
                    out.insert("share_after_join".into(), json!(shares));
                    out.insert(
                        "new_node_first_request_ms_after_join".into(),
                        json!(first_request.map(|t| t.saturating_sub(join.t_ms))),
                    );
                    out.insert("new_node".into(), json!(join.node));
                    out.insert("joined_at_ms".into(), json!(join.t_ms));
                    out.insert("users_arrived_after_join".into(), json!(new_users));
                    out.insert("logins_on_new_node".into(), json!(logins_on_new));
                    out.insert("earlier_users_served_by_new_node".into(), json!(old_users_on_new));
                    out.insert("new_node_share_after_join".into(), json!(ratio(on_new, all)));
                }
            }
            Scenario::RollingRestart => {
                let never = users.iter().filter(|u| u.logouts.is_empty()).count();
                out.insert("users_never_logged_out".into(), json!(never));
            }
            Scenario::RedisOutage => {
                if let (Some(down), Some(up)) = (first("redis-down"), first("redis-up")) {
                    let unavailable: u64 = users.iter().map(|u| u.unavailable).sum();
                    out.insert("outage_ms".into(), json!(up.t_ms - down.t_ms));
                    out.insert("answers_503".into(), json!(unavailable));
                    out.insert("failures_end_ms_after_redis_up".into(), json!(failures_end_ms(users, up.t_ms)));
                } else {
                    out.insert(
                        "outage_skipped".into(),
                        json!("Redis is external (--redis-url): the harness does not stop it"),
                    );
                }
            }
            Scenario::RedisCrash => {
                if let (Some(down), Some(up)) = (first("redis-down"), first("redis-up")) {
                    let logged_in = users.iter().filter(|u| u.logins.iter().any(|l| l.t_ms <= down.t_ms)).count();
                    let logged_out: Vec<&UserRecord> =
                        users.iter().filter(|u| u.logouts.iter().any(|l| l.t_ms >= down.t_ms)).collect();
                    let carts = users.iter().filter(|u| u.cart_losses.iter().any(|&t| t >= down.t_ms)).count();
                    // How old the lost sessions were when Redis died: the
                    // whole run without persistence, at most the last
                    // moment with an append-only file.
                    let ages: Vec<u64> = logged_out
                        .iter()
                        .filter_map(|u| u.logins.iter().rev().find(|l| l.t_ms <= down.t_ms))
                        .map(|l| down.t_ms - l.t_ms)
                        .collect();
                    out.insert("crash_at_ms".into(), json!(down.t_ms));
                    out.insert("redis_back_ms_after_kill".into(), json!(up.t_ms - down.t_ms));
                    out.insert("users_logged_in_at_crash".into(), json!(logged_in));
                    out.insert("users_logged_out_by_crash".into(), json!(logged_out.len()));
                    out.insert(
                        "logged_in_share_logged_out".into(),
                        json!(ratio(logged_out.len() as u64, logged_in as u64)),
                    );
                    out.insert("carts_lost_by_crash".into(), json!(carts));
                    out.insert("lost_sessions_oldest_ms".into(), json!(ages.iter().max()));
                    out.insert("lost_sessions_newest_ms".into(), json!(ages.iter().min()));
                    out.insert("answers_503".into(), json!(users.iter().map(|u| u.unavailable).sum::<u64>()));
                } else {
                    out.insert(
                        "crash_skipped".into(),
                        json!("Redis is external (--redis-url): the harness does not kill it"),
                    );
                }
            }
            Scenario::LogoutReplay => {
                let sent: u64 = users.iter().map(|u| u.replays_sent).sum();
                let accepted: u64 = users.iter().map(|u| u.replays_accepted).sum();
                out.insert("logouts".into(), json!(users.iter().map(|u| u.logouts_done).sum::<u64>()));
                out.insert("replays_sent".into(), json!(sent));
                out.insert("replays_accepted".into(), json!(accepted));
                out.insert(
                    "sessions_replayed_after_logout".into(),
                    json!(users.iter().filter(|u| u.replays_accepted > 0).count()),
                );
            }
            Scenario::ConcurrentCart => {
                let checked: u64 = users.iter().map(|u| u.paired_adds).sum();
                let lost: u64 = users.iter().map(|u| u.paired_adds_lost).sum();
                out.insert("concurrent_adds_checked".into(), json!(checked));
                out.insert("concurrent_adds_lost".into(), json!(lost));
                out.insert("concurrent_adds_lost_share".into(), json!(ratio(lost, checked)));
            }
        }
        // Every scenario: what a session costs on the wire.
        let cookies: u64 = users.iter().map(|u| u.sid_cookies).sum();
        let bytes: u64 = users.iter().map(|u| u.sid_bytes_sum).sum();
        if let Some(mean) = bytes.checked_div(cookies) {
            out.insert("sid_cookie_bytes_mean".into(), json!(mean));
            out.insert("sid_cookie_bytes_max".into(), json!(users.iter().map(|u| u.sid_bytes_max).max()));
        }
        out
    }

    /// Findings about the run's Redis rather than the users: how the
    /// harness's own Redis persisted its data, where that is the point.
    pub fn redis_findings(self, redis: &RedisHandle) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        if let (Scenario::RedisCrash, RedisHandle::Owned(server)) = (self, redis) {
            out.insert("redis_persistence".into(), json!(server.lock().unwrap().persistence().name()));
        }
        out
    }

    /// Plain-language notes printed under the table and kept in the report.
    pub fn notes(self, redis: &RedisHandle) -> Vec<String> {
        match self {
            Scenario::RedisOutage => {
                let mut notes = vec![
                    "The stateless twin did not remove state: it moved it, and the single point of failure, into Redis. \
                     While Redis is away no stateless node can serve a session; the stateful twin does not notice."
                        .to_string(),
                ];
                if matches!(redis, RedisHandle::External(_)) {
                    notes.push(
                        "Redis came from --redis-url, so the harness did not stop it: the outage part was skipped."
                            .to_string(),
                    );
                }
                notes
            }
            Scenario::RedisCrash => {
                let mut notes = vec![
                    "Redis was killed (SIGKILL) and restarted at once with what it had persisted. The stateful side \
                     loses users only per dead node; the stateless side loses every session at once when its store \
                     is not durable. The token side (no deny list) keeps no session in Redis and does not notice."
                        .to_string(),
                ];
                match redis {
                    RedisHandle::Owned(server) => {
                        let persistence = server.lock().unwrap().persistence();
                        notes.push(format!("Redis persistence: {persistence}. {}", crash_loss(persistence)));
                    }
                    RedisHandle::External(_) => notes.push(
                        "Redis came from --redis-url, so the harness did not kill it: the crash part was skipped \
                         (--redis-persistence applies to the harness's own Redis only)."
                            .to_string(),
                    ),
                    RedisHandle::None => {}
                }
                notes
            }
            Scenario::LogoutReplay => vec![
                "A replay is the attacker's GET /me with a cookie copied before the user logged out. The token twin \
                 cannot end a copy it handed out: it keeps working until it expires (--session-ttl after its last \
                 use). token-revocation puts the session's id on a deny list in Redis at logout, and every node \
                 refuses it: that is server-side state again."
                    .to_string(),
            ],
            Scenario::KeyMismatch => vec![
                "Each token node made up its own key, so no node accepts another's tokens: under round-robin users \
                 are logged out as on the stateful twin without stickiness. Stateless nodes still need shared \
                 configuration: the same key, delivered to every node."
                    .to_string(),
            ],
            Scenario::ConcurrentCart => vec![
                "Each add is two POST /cart sent at once with the same cookie. The token twin answers each with a new \
                 cookie holding only its own change; the client keeps the later one and the other add is gone. The \
                 server-side stores apply both."
                    .to_string(),
            ],
            _ => Vec::new(),
        }
    }
}

/// What a killed Redis loses in each persistence mode, in a sentence.
fn crash_loss(persistence: Persistence) -> &'static str {
    match persistence {
        Persistence::None => "Nothing was on disk: every session and cart is gone.",
        Persistence::Snapshot => {
            "The snapshot is written on a clean shutdown only, and there was none: every session and cart is gone."
        }
        Persistence::AofEverySec => {
            "Every write reached the append-only file before the kill, so a killed process loses (nearly) nothing; \
             a machine that loses power loses up to the last second or two not yet flushed to disk."
        }
        Persistence::AofAlways => "Every write was on disk before its answer: nothing acknowledged is lost.",
    }
}

/// How long Redis stays away: a fifth of the run, between 1 and 5 s.
fn outage(duration: Duration) -> Duration {
    (duration / 5).clamp(Duration::from_secs(1), Duration::from_secs(5))
}

/// Milliseconds from `up_ms` to the end of the last 100 ms slice that had
/// a failed request (0 when none failed after `up_ms`).
fn failures_end_ms(users: &[UserRecord], up_ms: u64) -> u64 {
    let mut timeline = Vec::new();
    for user in users {
        crate::metrics::merge_timeline(&mut timeline, &user.timeline);
    }
    timeline
        .iter()
        .filter(|b| b.failed > 0 && b.t_ms + 100 > up_ms)
        .map(|b| (b.t_ms + 100).saturating_sub(up_ms))
        .max()
        .unwrap_or(0)
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 / whole as f64 * 1000.0).round() / 1000.0 }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL.iter().copied().find(|sc| sc.name() == s).ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scenario `{s}` (expected one of: {})", names.join(", "))
        })
    }
}
