//! The load balancer in front of the nodes.
//!
//! Virtual users ask a [`LoadBalancer`] two things: "where does this user's
//! next request go?" ([`LoadBalancer::route`]) and "here is what happened to
//! it" ([`LoadBalancer::observe`]). [`Router`] answers both in-process, with
//! the two policies of the contract. A real load balancer (HAProxy, in
//! [`crate::haproxy`]) fits the same trait: `route` returns its one frontend
//! URL, `observe` does nothing, and stickiness travels in a cookie, which is
//! why virtual users keep every cookie they are given, not only `sid`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

/// How a load balancer picks a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// A user stays on the node it was first sent to; when that node is
    /// down it is re-pinned to a live one (HAProxy's `option redispatch`).
    Sticky,
    /// Every request goes to the next live node.
    RoundRobin,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Sticky => "sticky",
            Policy::RoundRobin => "round-robin",
        })
    }
}

/// Where one request goes.
#[derive(Clone, Debug)]
pub struct Route {
    /// Base URL, `http://ADDR`, without a trailing slash.
    pub url: Arc<str>,
    /// The backend the router chose, when the router is the harness's own.
    pub backend: Option<usize>,
}

/// What happened to a routed request, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer came back (any status).
    Answered,
    /// The node refused the connection or could not be reached.
    Unreachable,
    /// The connection broke after it was made (reset, timeout).
    Broken,
}

/// The interface between virtual users and whatever balances their load.
pub trait LoadBalancer: Send + Sync {
    /// Where `user`'s next request goes; `None` when no node is live
    /// (the request counts as failed, as a load balancer's own 503 would).
    fn route(&self, user: usize) -> Option<Route>;
    /// Reports the result of a routed request.
    fn observe(&self, user: usize, route: &Route, outcome: Outcome);
    /// A node joined the cluster.
    fn add_backend(&self, name: &str, url: &str);
    /// The policy, for the report.
    fn policy(&self) -> Policy;
    /// An operator takes node `name` out of rotation before a planned
    /// restart; resolves once it has no request in flight. The harness's own
    /// router needs no notice: it sees the refused connections.
    fn take_out<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Node `name` is back after a planned restart; resolves once the load
    /// balancer sends it requests again.
    fn put_back<'a>(&'a self, _name: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[derive(Debug)]
struct Backend {
    name: String,
    url: Arc<str>,
    up: AtomicBool,
}

/// The harness's own load balancer.
#[derive(Debug)]
pub struct Router {
    policy: Policy,
    backends: RwLock<Vec<Arc<Backend>>>,
    next: AtomicUsize,
    pins: Mutex<HashMap<usize, usize>>,
}

impl Router {
    /// A router over `(name, url)` backends, all assumed up.
    pub fn new(policy: Policy, backends: impl IntoIterator<Item = (String, String)>) -> Arc<Router> {
        let router = Router {
            policy,
            backends: RwLock::new(Vec::new()),
            next: AtomicUsize::new(0),
            pins: Mutex::new(HashMap::new()),
        };
        for (name, url) in backends {
            router.add_backend(&name, &url);
        }
        Arc::new(router)
    }

    /// Names of the backends in rotation now.
    pub fn live_backends(&self) -> Vec<String> {
        self.backends.read().unwrap().iter().filter(|b| b.up.load(Ordering::Relaxed)).map(|b| b.name.clone()).collect()
    }

    /// Puts backends that are out of rotation back once `GET /healthz`
    /// answers 200, checking every `every`, until the returned task is
    /// aborted. A HAProxy health check does the same.
    pub fn spawn_health_checks(
        self: &Arc<Self>,
        client: reqwest::Client,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let router = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let down: Vec<Arc<Backend>> =
                    router.backends.read().unwrap().iter().filter(|b| !b.up.load(Ordering::Relaxed)).cloned().collect();
                for backend in down {
                    let answer =
                        client.get(format!("{}/healthz", backend.url)).timeout(Duration::from_millis(500)).send().await;
                    if answer.is_ok_and(|r| r.status().is_success()) {
                        tracing::debug!(node = backend.name, "back in rotation");
                        backend.up.store(true, Ordering::Relaxed);
                    }
                }
            }
        })
    }

    fn next_live(&self, backends: &[Arc<Backend>]) -> Option<usize> {
        // Rotate over the live nodes only, so a dead node's turn is shared
        // evenly rather than handed to its neighbour.
        let live: Vec<usize> = (0..backends.len()).filter(|&i| backends[i].up.load(Ordering::Relaxed)).collect();
        if live.is_empty() {
            return None;
        }
        Some(live[self.next.fetch_add(1, Ordering::Relaxed) % live.len()])
    }
}

impl LoadBalancer for Router {
    fn route(&self, user: usize) -> Option<Route> {
        let backends = self.backends.read().unwrap();
        let index = match self.policy {
            Policy::RoundRobin => self.next_live(&backends)?,
            Policy::Sticky => {
                let mut pins = self.pins.lock().unwrap();
                match pins.get(&user) {
                    Some(&i) if backends[i].up.load(Ordering::Relaxed) => i,
                    // First request, or the pinned node is down: pick a
                    // live node and pin the user there (redispatch).
                    _ => {
                        let i = self.next_live(&backends)?;
                        pins.insert(user, i);
                        i
                    }
                }
            }
        };
        Some(Route { url: Arc::clone(&backends[index].url), backend: Some(index) })
    }

    fn observe(&self, _user: usize, route: &Route, outcome: Outcome) {
        if outcome == Outcome::Unreachable
            && let Some(i) = route.backend
            && let Some(backend) = self.backends.read().unwrap().get(i)
            && backend.up.swap(false, Ordering::Relaxed)
        {
            tracing::debug!(node = backend.name, "out of rotation");
        }
    }

    fn add_backend(&self, name: &str, url: &str) {
        let url = url.trim_end_matches('/');
        self.backends.write().unwrap().push(Arc::new(Backend {
            name: name.to_string(),
            url: Arc::from(url),
            up: AtomicBool::new(true),
        }));
    }

    fn policy(&self) -> Policy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(policy: Policy) -> Arc<Router> {
        Router::new(policy, (1..=3).map(|i| (format!("n{i}"), format!("http://127.0.0.1:{i}"))))
    }

    #[test]
    fn sticky_keeps_a_user_on_one_node_and_redispatches_when_it_is_down() {
        let router = three(Policy::Sticky);
        let first = router.route(7).unwrap();
        for _ in 0..10 {
            assert_eq!(router.route(7).unwrap().url, first.url);
        }
        router.observe(7, &first, Outcome::Unreachable);
        let moved = router.route(7).unwrap();
        assert_ne!(moved.url, first.url);
        assert_eq!(router.route(7).unwrap().url, moved.url, "re-pinned, not bouncing");
    }

    #[test]
    fn round_robin_spreads_one_user_and_skips_dead_nodes() {
        let router = three(Policy::RoundRobin);
        let urls: std::collections::HashSet<_> = (0..3).map(|_| router.route(1).unwrap().url).collect();
        assert_eq!(urls.len(), 3);
        let dead = router.route(1).unwrap();
        router.observe(1, &dead, Outcome::Unreachable);
        assert!((0..10).all(|_| router.route(1).unwrap().url != dead.url));
        assert_eq!(router.live_backends().len(), 2);
    }

    #[test]
    fn no_live_node_means_no_route() {
        let router = three(Policy::RoundRobin);
        for _ in 0..3 {
            let r = router.route(0).unwrap();
            router.observe(0, &r, Outcome::Unreachable);
        }
        assert!(router.route(0).is_none());
    }
}
