//! A real HAProxy between the virtual users and the nodes (`--lb haproxy`).
//!
//! In production nobody routes with a test harness: stickiness comes from a
//! load balancer, and HAProxy is the one engineers trust for it. With
//! `--lb haproxy` each side gets its own `haproxy` process (Debian's
//! package), started from a configuration generated here, listening on a
//! free loopback port. Users send every request to that one frontend and
//! keep every cookie it gives them, so HAProxy's `SERVERID` persistence
//! cookie works as in a browser.
//!
//! - **Configuration** ([`config::config_text`]): cookie persistence
//!   (`cookie SERVERID insert indirect nocache`) on a sticky side, plain
//!   `balance roundrobin` elsewhere, `option redispatch`, and health checks
//!   on `/healthz` every 200 ms (`fall 2 rise 1`). The check accepts 200
//!   *and* 503: a stateless node whose Redis is down answers 503 but is
//!   alive, and ejecting every node would replace the app's own
//!   `503 + Retry-After` with HAProxy's. The file is written into the run's
//!   out dir (`haproxy-SCENARIO-SIDE.cfg`) so a reader can take it home.
//! - **Node changes go through the runtime API** on the stats socket, not a
//!   reload: `set server … addr` + `state ready` fills a spare slot when a
//!   node is added, `state maint` / `state ready` frame a planned restart.
//!   A reload starts a new HAProxy process that re-reads the file and takes
//!   the listening socket over; it is the right tool for changes the API
//!   cannot make, but it resets the statistics this module compares with
//!   the harness's own counts, and each reload leaves an old process
//!   finishing its connections. A crash (SIGKILL) is *not* announced:
//!   HAProxy finds out through its health checks and failed connections, as
//!   it would in production.
//! - **Statistics** ([`stats::parse_show_stat`]): `show stat` CSV, columns read by
//!   name. A server's `req_tot` counts the HTTP requests it answered; health
//!   checks are not counted, and a request redispatched away from a dead
//!   server counts only on the server that answered it (measured), so these
//!   counts match the users' `X-Node` counts.
//! - **Status changes** are polled every 25 ms into
//!   [`Haproxy::status_changes`], which is how the report can say how long
//!   a dead node stayed in rotation.
//!
//! The process is killed and waited for on drop; its socket lives in a private
//! temporary directory (a unix socket path must stay under 108 bytes),
//! removed on drop.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::metrics::Clock;
use crate::router::{LoadBalancer, Policy, Route};

pub mod config;
pub mod stats;

pub use config::{Balance, Server, Settings, config_text};
pub use stats::{ServerStat, parse_show_stat, runtime_command};

/// How to install HAProxy on Debian or Ubuntu.
pub const INSTALL_HINT: &str = "sudo apt-get install -y haproxy";
/// Environment variable naming the `haproxy` binary to use.
pub const BINARY_ENV: &str = "HARNESS_HAPROXY";
/// The backend every generated configuration declares.
pub const BACKEND: &str = "nodes";
/// Spare server slots per configuration, for nodes added during a run.
pub const SPARE_SLOTS: usize = 2;

/// How long HAProxy gets to accept connections and see its nodes up.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a node taken out of rotation gets to finish in-flight requests.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);
/// How long a node put back gets to pass its health check.
const READY_DEADLINE: Duration = Duration::from_secs(5);
/// How often the status watcher reads `show stat`.
const WATCH_EVERY: Duration = Duration::from_millis(25);

/// The `haproxy` binary: `$HARNESS_HAPROXY` when set, else `haproxy` on
/// `PATH`, else `/usr/sbin` and `/usr/local/sbin` (Debian installs it in
/// `/usr/sbin`, which a non-root `PATH` often lacks).
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    path_dirs
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|path| path.is_file())
}

/// Whether a `haproxy` binary can be found.
pub fn is_installed() -> bool {
    find_binary().is_some()
}

/// A status change HAProxy reported for one server.
#[derive(Clone, Debug, Serialize)]
pub struct StatusChange {
    /// When the watcher saw it, on the side's clock.
    pub t_ms: u64,
    /// The server (node) name.
    pub node: String,
    /// The new status (`UP`, `DOWN`, `MAINT`, `DRAIN`).
    pub status: String,
}

/// The last status of each server and the changes so far, shared by the
/// watcher thread and the runtime API calls.
#[derive(Debug, Default)]
struct States {
    clock: std::sync::OnceLock<Clock>,
    /// Held while reading and noting a state, so readings stay in order.
    turn: Mutex<()>,
    last: Mutex<BTreeMap<String, String>>,
    changes: Mutex<Vec<StatusChange>>,
}

impl States {
    /// Records `status` for `server`; a change is kept when `record` is
    /// set and the clock runs.
    fn note(&self, server: &str, status: &str, record: bool) {
        let mut last = self.last.lock().unwrap();
        let previous = last.insert(server.to_string(), status.to_string());
        if let Some(clock) = self.clock.get()
            && record
            && previous.is_some_and(|p| p != status)
        {
            let change = StatusChange { t_ms: clock.t_ms(), node: server.to_string(), status: status.to_string() };
            self.changes.lock().unwrap().push(change);
        }
    }
}

/// Where a HAProxy process puts its files.
#[derive(Clone, Debug)]
pub struct Files {
    /// Where to write the configuration; `None` = the private directory.
    pub config: Option<PathBuf>,
    /// Where HAProxy's own messages (stderr) go; `None` = nowhere.
    pub log: Option<PathBuf>,
}

#[derive(Debug)]
struct Slot {
    server: String,
    /// The node in it, `None` while it is a spare.
    node: Option<String>,
}

/// A running HAProxy in front of one side's nodes.
#[derive(Debug)]
pub struct Haproxy {
    policy: Policy,
    balance: Balance,
    url: Arc<str>,
    socket: PathBuf,
    config: PathBuf,
    private_dir: PathBuf,
    slots: Mutex<Vec<Slot>>,
    states: Arc<States>,
    stop_watching: Arc<AtomicBool>,
    child: Mutex<Option<Child>>,
}

impl Haproxy {
    /// Starts HAProxy in front of `nodes` (`(name, addr)`), with
    /// [`SPARE_SLOTS`] spare slots named `SIDE-(N+1)`…, as the cluster names
    /// the nodes it adds. Returns once the frontend accepts connections and
    /// every node is `UP`.
    pub async fn start(
        side_name: &str,
        policy: Policy,
        balance: Balance,
        nodes: &[(String, SocketAddr)],
        files: Files,
    ) -> Result<Arc<Haproxy>> {
        let binary = find_binary().with_context(|| format!("haproxy is not installed; `{INSTALL_HINT}`"))?;
        let private_dir = private_dir()?;
        let socket = private_dir.join("admin.sock");
        let config = files.config.clone().unwrap_or_else(|| private_dir.join("haproxy.cfg"));
        let mut servers: Vec<Server> =
            nodes.iter().map(|(name, addr)| Server { name: name.clone(), addr: Some(*addr) }).collect();
        servers.extend(
            (nodes.len() + 1..=nodes.len() + SPARE_SLOTS)
                .map(|i| Server { name: format!("{side_name}-{i}"), addr: None }),
        );
        let slots = servers
            .iter()
            .map(|s| Slot { server: s.name.clone(), node: s.addr.map(|_| s.name.clone()) })
            .collect::<Vec<_>>();
        let mut haproxy = Haproxy {
            policy,
            balance,
            url: Arc::from(""),
            socket,
            config,
            private_dir,
            slots: Mutex::new(slots),
            states: Arc::new(States::default()),
            stop_watching: Arc::new(AtomicBool::new(false)),
            child: Mutex::new(None),
        };
        // The frontend's port was free when asked; if someone takes it
        // before HAProxy binds it, HAProxy exits and we try another.
        let mut last_error = None;
        for _ in 0..3 {
            let port = local_redis::free_port().context("cannot find a free port for HAProxy")?;
            let frontend = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let settings =
                Settings { policy, balance, frontend, socket: haproxy.socket.clone(), servers: servers.clone() };
            if let Some(dir) = haproxy.config.parent() {
                fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            fs::write(&haproxy.config, config_text(&settings))
                .with_context(|| format!("cannot write {}", haproxy.config.display()))?;
            match spawn(&binary, &haproxy.config, files.log.as_deref(), frontend, &haproxy.socket).await {
                Ok(child) => {
                    haproxy.url = Arc::from(format!("http://{frontend}"));
                    *haproxy.child.get_mut().unwrap() = Some(child);
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            return Err(e.context("cannot start haproxy"));
        }
        let haproxy = Arc::new(haproxy);
        let names: Vec<String> = nodes.iter().map(|(name, _)| name.clone()).collect();
        haproxy.wait_for_status(&names, "UP", START_DEADLINE).await.context("HAProxy never saw the nodes up")?;
        Ok(haproxy)
    }

    /// The frontend, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The configuration file HAProxy runs.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The `balance` algorithm.
    pub fn balance(&self) -> Balance {
        self.balance
    }

    /// Sends one runtime API command (blocking; a local socket answers in
    /// well under a millisecond).
    pub fn command(&self, command: &str) -> Result<String> {
        runtime_command(&self.socket, command)
    }

    /// The backend's servers as `show stat` reports them now.
    pub fn stats(&self) -> Result<Vec<ServerStat>> {
        parse_show_stat(&self.command("show stat")?, BACKEND)
    }

    /// HAProxy's statistics of each node, for every slot that held one,
    /// keyed by node name.
    pub fn per_node_stats(&self) -> Result<BTreeMap<String, ServerStat>> {
        let stats = self.stats()?;
        let slots = self.slots.lock().unwrap();
        Ok(slots
            .iter()
            .filter_map(|slot| {
                let node = slot.node.as_ref()?;
                let stat = stats.iter().find(|s| s.name == slot.server)?;
                Some((node.clone(), stat.clone()))
            })
            .collect())
    }

    /// Starts recording status changes on `clock`: those HAProxy decides
    /// (its health checks), seen by polling `show stat` every 25 ms on a
    /// thread of its own until this HAProxy is dropped, and those the
    /// harness orders through the runtime API, recorded when ordered (a
    /// restart can be shorter than one poll).
    pub fn watch(self: &Arc<Self>, clock: Clock) {
        let (socket, states, stop) = (self.socket.clone(), Arc::clone(&self.states), Arc::clone(&self.stop_watching));
        states.clock.set(clock).ok();
        if let Ok(stats) = self.stats() {
            for stat in &stats {
                states.note(&stat.name, stat.state(), false);
            }
        }
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                {
                    // A state ordered between the read and the notes would
                    // be overwritten by this older reading.
                    let _turn = states.turn.lock().unwrap();
                    let stats = runtime_command(&socket, "show stat").and_then(|csv| parse_show_stat(&csv, BACKEND));
                    for stat in stats.iter().flatten() {
                        states.note(&stat.name, stat.state(), true);
                    }
                }
                std::thread::sleep(WATCH_EVERY);
            }
        });
    }

    /// The status changes seen since [`Haproxy::watch`] began (`UP`,
    /// `DOWN`, `MAINT`, `DRAIN`; check progress such as `UP 1/2` is not a
    /// change of rotation and is not recorded).
    pub fn status_changes(&self) -> Vec<StatusChange> {
        self.states.changes.lock().unwrap().clone()
    }

    /// Polls `show stat` until every server in `names` is in `status`
    /// (`UP 1/2`, a server up whose last check failed, counts as `UP`).
    pub async fn wait_for_status(&self, names: &[String], status: &str, deadline: Duration) -> Result<()> {
        let until = Instant::now() + deadline;
        loop {
            let last = match self.stats() {
                Ok(stats) => {
                    let pending: Vec<String> = names
                        .iter()
                        .filter(|name| !stats.iter().any(|s| &s.name == *name && s.state() == status))
                        .cloned()
                        .collect();
                    if pending.is_empty() {
                        return Ok(());
                    }
                    anyhow!("not {status} yet: {}", pending.join(", "))
                }
                Err(e) => e,
            };
            if Instant::now() >= until {
                return Err(last.context(format!("waited {deadline:?}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn server_of(&self, node: &str) -> Result<String> {
        let slots = self.slots.lock().unwrap();
        slots
            .iter()
            .find(|s| s.node.as_deref() == Some(node))
            .map(|s| s.server.clone())
            .ok_or_else(|| anyhow!("no HAProxy server holds node {node}"))
    }

    fn set_state(&self, server: &str, state: &str) -> Result<()> {
        let _turn = self.states.turn.lock().unwrap();
        let answer = self.command(&format!("set server {BACKEND}/{server} state {state}"))?;
        if !answer.trim().is_empty() {
            bail!("HAProxy refused `state {state}` for {server}: {}", answer.trim());
        }
        // `ready` leaves maintenance at once (`UP/READY` in HAProxy's log).
        let status = if state == "ready" { "UP" } else { state };
        self.states.note(server, &status.to_ascii_uppercase(), true);
        Ok(())
    }

    /// Puts node `name` at `addr` into a spare slot (the one named after it,
    /// else the first free one) and makes it ready; health checks bring it
    /// `UP` within one check interval.
    pub fn fill_spare(&self, name: &str, addr: SocketAddr) -> Result<()> {
        let server = {
            let mut slots = self.slots.lock().unwrap();
            let index = slots
                .iter()
                .position(|s| s.node.is_none() && s.server == name)
                .or_else(|| slots.iter().position(|s| s.node.is_none()))
                .with_context(|| format!("no spare HAProxy slot left for {name} (there are {SPARE_SLOTS})"))?;
            slots[index].node = Some(name.to_string());
            slots[index].server.clone()
        };
        let answer = self.command(&format!("set server {BACKEND}/{server} addr {} port {}", addr.ip(), addr.port()))?;
        if !(answer.contains("changed") || answer.contains("no need")) {
            bail!("HAProxy refused the address of {server}: {}", answer.trim());
        }
        self.set_state(&server, "ready")
    }
}

/// Spawns `haproxy -db -f CONFIG` and waits until the frontend accepts
/// connections and the stats socket answers.
async fn spawn(binary: &Path, config: &Path, log: Option<&Path>, frontend: SocketAddr, socket: &Path) -> Result<Child> {
    let stderr = match log {
        Some(path) => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            }
            Stdio::from(fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Stdio::null(),
    };
    let mut child = Command::new(binary)
        .arg("-db")
        .arg("-f")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let until = Instant::now() + START_DEADLINE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "haproxy exited at start ({status}); see its messages in the run's logs, config {}",
                config.display()
            );
        }
        let accepting = tokio::net::TcpStream::connect(frontend).await.is_ok();
        if accepting && UnixStream::connect(socket).is_ok() {
            return Ok(child);
        }
        if Instant::now() >= until {
            bail!("haproxy did not accept connections on {frontend} within {START_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn private_dir() -> Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "harness-haproxy-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.stop_watching.store(true, Ordering::Relaxed);
        if let Some(mut child) = self.child.get_mut().unwrap().take() {
            crate::cluster::reap(&mut child);
        }
        fs::remove_dir_all(&self.private_dir).ok();
    }
}

impl LoadBalancer for Haproxy {
    fn route(&self, _user: usize) -> Option<Route> {
        Some(Route { url: Arc::clone(&self.url), backend: None })
    }

    fn observe(&self, _user: usize, _route: &Route, _outcome: crate::router::Outcome) {
        // HAProxy sees every request itself.
    }

    fn add_backend(&self, name: &str, url: &str) {
        let addr = url.trim_start_matches("http://").trim_end_matches('/').parse::<SocketAddr>();
        let result = match addr {
            Ok(addr) => self.fill_spare(name, addr),
            Err(e) => Err(anyhow!("`{url}` is not http://IP:PORT: {e}")),
        };
        if let Err(e) = result {
            tracing::error!("cannot add {name} to HAProxy: {e:#}");
        }
    }

    fn policy(&self) -> Policy {
        self.policy
    }

    /// `state maint`, then wait until the node's in-flight requests are done.
    fn take_out<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let server = self.server_of(name)?;
            self.set_state(&server, "maint")?;
            let until = Instant::now() + DRAIN_DEADLINE;
            while Instant::now() < until {
                if self.stats()?.iter().any(|s| s.name == server && s.scur == 0) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        })
    }

    /// `state ready`, then wait until a health check has passed.
    fn put_back<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let server = self.server_of(name)?;
            self.set_state(&server, "ready")?;
            self.wait_for_status(&[server], "UP", READY_DEADLINE).await
        })
    }
}
