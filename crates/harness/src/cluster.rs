//! Real server processes: start, kill, restart, add.
//!
//! The harness meets the servers only as a load balancer and an operator
//! would: as processes with a port. Each node is started from the built
//! binary with `--port 0`, and the harness reads the port from the start-up
//! line the contract promises (`listening on http://ADDR node=ID`). A
//! restarted node comes back on the same port, as a deployed service does,
//! so the router's address for it stays right. (The servers bind with Rust's
//! `std::net::TcpListener`, which sets `SO_REUSEADDR` on Unix, so sockets in
//! `TIME_WAIT` from the old process do not block the new one; a short retry
//! covers the rare case of the port being briefly taken by someone else.)
//!
//! Every node is killed *and waited for* when it is dropped ([`reap`]), so
//! dropping a [`Cluster`], whether the run finished, failed, panicked or
//! was interrupted, leaves no process behind, not even for a moment after
//! the harness has returned. [`Cluster::shutdown`] does the same without
//! blocking the runtime, at the end of a side.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::side::{Backing, Side};

/// How long a node gets to print its start-up line.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long a node gets to finish in-flight requests after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// How long a restart keeps trying to bind the old port.
const REBIND_DEADLINE: Duration = Duration::from_secs(5);
/// How long a child killed on drop gets to be reaped.
const REAP_DEADLINE: Duration = Duration::from_secs(5);

/// SIGKILLs `child` and waits (blocking, as a `Drop` must) until it has
/// exited and been reaped: tokio's `kill_on_drop` sends the signal but
/// reaps later, in the background, so a process could outlive its owner.
pub fn reap(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    child.start_kill().ok();
    let until = std::time::Instant::now() + REAP_DEADLINE;
    while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where to look for the server binaries when no `--bin-dir` is given:
/// beside the running executable, and one level up (test and example
/// executables live in `target/<profile>/deps` and `.../examples`).
pub fn default_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
        if let Some(parent) = dir.parent() {
            dirs.push(parent.to_path_buf());
        }
    }
    dirs
}

/// The path of a server binary, from `bin_dir` or the default places.
pub fn find_binary(name: &str, bin_dir: Option<&Path>) -> Option<PathBuf> {
    let dirs = match bin_dir {
        Some(dir) => vec![dir.to_path_buf()],
        None => default_bin_dirs(),
    };
    dirs.into_iter().map(|dir| dir.join(name)).find(|path| path.is_file())
}

/// One running server process.
#[derive(Debug)]
pub struct Node {
    /// `--node-id`, and what `X-Node` says.
    pub name: String,
    /// The address it listens on (kept across restarts).
    pub addr: SocketAddr,
    child: Option<Child>,
    // Held so the pipe stays open; the server writes nothing after the
    // start-up line.
    stdout_pipe: Option<BufReader<ChildStdout>>,
}

impl Node {
    /// `http://ADDR`, the base URL a router sends requests to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id while it runs (to read its CPU time, for example).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            reap(child);
        }
    }
}

/// The nodes of one side.
#[derive(Debug)]
pub struct Cluster {
    side: Side,
    binary: PathBuf,
    backing: Backing,
    log_dir: Option<PathBuf>,
    nodes: Vec<Node>,
    /// `--workers` of every node.
    workers: u16,
}

impl Cluster {
    /// Starts `count` nodes of `side`, named `SIDE-1` … `SIDE-N`, one worker
    /// thread each. Node stderr goes to `log_dir/NAME.log` when given.
    pub async fn start(
        side: Side,
        binary: PathBuf,
        backing: Backing,
        count: usize,
        log_dir: Option<PathBuf>,
    ) -> Result<Cluster> {
        if let Some(dir) = &log_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut cluster = Cluster { side, binary, backing, log_dir, nodes: Vec::new(), workers: 1 };
        for _ in 0..count {
            cluster.add_node().await?;
        }
        Ok(cluster)
    }

    /// Like [`Cluster::start`], with `workers` worker threads per node
    /// (`harness bench --workers`).
    pub async fn start_with_workers(
        side: Side,
        binary: PathBuf,
        backing: Backing,
        count: usize,
        workers: u16,
        log_dir: Option<PathBuf>,
    ) -> Result<Cluster> {
        let mut cluster = Cluster::start(side, binary, backing, 0, log_dir).await?;
        cluster.workers = workers.max(1);
        for _ in 0..count {
            cluster.add_node().await?;
        }
        Ok(cluster)
    }

    /// The nodes, in the order they were added.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Starts one more node on a free port and returns its index.
    pub async fn add_node(&mut self) -> Result<usize> {
        let name = format!("{}-{}", self.side.name(), self.nodes.len() + 1);
        let node = self.spawn(&name, 0).await?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    /// SIGKILL: the node dies as a crashed machine does. Waits for the exit.
    pub async fn kill(&mut self, index: usize) -> Result<()> {
        let node = self.node_mut(index)?;
        if let Some(mut child) = node.child.take() {
            child.start_kill().ok();
            child.wait().await.context("waiting for a killed node")?;
        }
        node.stdout_pipe = None;
        Ok(())
    }

    /// SIGKILLs every node and waits for each to exit (the end of a side:
    /// nothing is measured any more, so nothing needs a graceful stop).
    pub async fn shutdown(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index).await.ok();
        }
    }

    /// SIGTERM, wait for the graceful exit, start again on the same port.
    pub async fn restart(&mut self, index: usize) -> Result<()> {
        self.stop(index).await?;
        let (name, port) = {
            let node = self.node_mut(index)?;
            (node.name.clone(), node.addr.port())
        };
        let deadline = tokio::time::Instant::now() + REBIND_DEADLINE;
        let fresh = loop {
            match self.spawn(&name, port).await {
                Ok(node) => break node,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!("restart of {name} on port {port} failed, retrying: {e:#}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.context(format!("cannot restart {name} on port {port}"))),
            }
        };
        self.nodes[index] = fresh;
        Ok(())
    }

    /// SIGTERM and wait until the node has exited (SIGKILL after a deadline).
    pub async fn stop(&mut self, index: usize) -> Result<()> {
        let node = self.node_mut(index)?;
        let Some(mut child) = node.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            let _ = kill(Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)), Signal::SIGTERM);
        }
        if tokio::time::timeout(STOP_DEADLINE, child.wait()).await.is_err() {
            child.start_kill().ok();
            child.wait().await.ok();
        }
        node.stdout_pipe = None;
        Ok(())
    }

    fn node_mut(&mut self, index: usize) -> Result<&mut Node> {
        let count = self.nodes.len();
        self.nodes.get_mut(index).ok_or_else(|| anyhow!("no node {index} (cluster has {count})"))
    }

    async fn spawn(&self, name: &str, port: u16) -> Result<Node> {
        let stderr = match &self.log_dir {
            Some(dir) => {
                let path = dir.join(format!("{name}.log"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                Stdio::from(file)
            }
            None => Stdio::null(),
        };
        let mut command = Command::new(&self.binary);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--node-id", name])
            .args(["--workers", &self.workers.to_string()])
            .args(self.side.extra_args(&self.backing))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        for (name, value) in self.side.env(&self.backing)? {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        // Per-request logging would cost CPU the measurement needs.
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command.spawn().with_context(|| format!("cannot start {}", self.binary.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = tokio::time::timeout(START_DEADLINE, reader.read_line(&mut line)).await;
        let addr = match read {
            Ok(Ok(n)) if n > 0 => parse_listening_line(&line)
                .with_context(|| format!("{name} printed an unexpected start-up line: {line:?}")),
            Ok(Ok(_)) => {
                let status = child.wait().await.ok();
                Err(anyhow!("{name} exited before listening ({status:?}); see its log in the run's out dir"))
            }
            Ok(Err(e)) => Err(anyhow::Error::from(e).context("reading a node's stdout")),
            Err(_) => Err(anyhow!("{name} did not print its start-up line within {START_DEADLINE:?}")),
        };
        let addr = match addr {
            Ok(addr) => addr,
            Err(e) => {
                reap(&mut child);
                return Err(e);
            }
        };
        Ok(Node { name: name.to_string(), addr, child: Some(child), stdout_pipe: Some(reader) })
    }
}

/// Parses `listening on http://ADDR node=ID` and returns ADDR.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("listening on http://")?;
    let addr = rest.split_whitespace().next()?;
    addr.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_from_the_start_up_line() {
        let addr = parse_listening_line("listening on http://127.0.0.1:4242 node=a\n").unwrap();
        assert_eq!(addr.port(), 4242);
        let v6 = parse_listening_line("listening on http://[::1]:80 node=b").unwrap();
        assert!(v6.is_ipv6());
        assert!(parse_listening_line("starting up").is_none());
    }
}
