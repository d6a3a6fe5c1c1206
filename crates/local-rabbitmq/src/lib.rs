//! A private RabbitMQ node for tests, examples and the harness.
//!
//! Everything in this project that needs a message broker starts its own
//! node, the way it starts its own Redis (`local-redis`): never the
//! machine's broker on 5672, never the machine's `epmd` on 4369. A
//! [`RabbitMq`] is one Erlang node with
//!
//! - its own node name (`svs-<random>@localhost`) and Erlang cookie, in a
//!   private `HOME`, so it cannot join or be joined by another node;
//! - its own free loopback ports: AMQP, Erlang distribution, and an `epmd`
//!   of its own (`ERL_EPMD_PORT`), which this crate starts and stops;
//! - its own data, log and configuration files in a temporary directory,
//!   with no plugins (no management UI) and a user and password made up for
//!   this run (the `guest` account is not used);
//! - a readiness check that speaks AMQP: [`RabbitMq::start`] returns once the
//!   node answers an AMQP protocol header with `connection.start`.
//!
//! Dropping it stops the node and every process it started (`beam.smp`,
//! `erl_child_setup`, its port programs, `epmd`). A test can take the broker
//! away the ways production does: [`RabbitMq::kill`] (a crash: SIGKILL),
//! [`RabbitMq::stop`] (a clean shutdown), and bring it back on the same ports
//! with the same data with [`RabbitMq::start_again`]. Durable queues and
//! persistent messages survive both; that is what they are for.
//!
//! The node is started through Debian's internal start script
//! (`/usr/lib/rabbitmq/bin/rabbitmq-server`), not the `/usr/sbin` wrapper,
//! which switches to the `rabbitmq` user when run as root: this node runs as
//! whoever runs the tests, and writes only in its temporary directory.
//!
//! Starting a node takes seconds (an Erlang VM boots, Mnesia creates its
//! schema), far longer than Redis; [`RabbitMq::started_in`] says how long
//! the last start took. Share one node across the cases of a test binary
//! where they do not interfere (one queue name each).
//!
//! The API is blocking on purpose, as `local-redis`'s is: starting a process
//! is not the part anyone wants to measure.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use local_redis::free_port;

/// The start script the Debian package installs. It runs the node in the
/// foreground as the calling user (the `/usr/sbin` wrapper would `su` to
/// `rabbitmq`).
const SERVER_SCRIPT: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// The command that installs RabbitMQ on Debian, for error messages.
pub const INSTALL_HINT: &str = "apt-get install -y rabbitmq-server";

/// How long a node gets to accept AMQP connections. Booting an Erlang VM
/// and a fresh Mnesia schema takes seconds, and over a minute on a machine
/// whose cores are all busy.
const START_DEADLINE: Duration = Duration::from_secs(180);

/// How long a clean stop may take before the node is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// A RabbitMQ node (and its `epmd`) owned by this process.
#[derive(Debug)]
pub struct RabbitMq {
    amqp_port: u16,
    dist_port: u16,
    epmd_port: u16,
    node_name: String,
    user: String,
    password: String,
    dir: tempfile::TempDir,
    node: Option<Child>,
    epmd: Option<Child>,
    started_in: Duration,
}

impl RabbitMq {
    /// Starts a node on free loopback ports and waits until it accepts AMQP
    /// connections.
    pub fn start() -> io::Result<Self> {
        if !is_installed() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("RabbitMQ is not installed ({SERVER_SCRIPT} is missing); install it with `{INSTALL_HINT}`"),
            ));
        }
        // A port that was free a moment ago can be taken before the node
        // binds it; try a few times before giving up.
        let mut last_error = None;
        for _ in 0..3 {
            let suffix = random_hex(6);
            let mut node = RabbitMq {
                amqp_port: free_port()?,
                dist_port: free_port()?,
                epmd_port: free_port()?,
                node_name: format!("svs-{suffix}@localhost"),
                user: format!("svs-{suffix}"),
                password: random_hex(16),
                dir: tempfile::Builder::new().prefix("local-rabbitmq-").tempdir()?,
                node: None,
                epmd: None,
                started_in: Duration::ZERO,
            };
            node.write_files()?;
            match node.start_again() {
                Ok(()) => return Ok(node),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("RabbitMQ did not start")))
    }

    /// `amqp://USER:PASSWORD@127.0.0.1:PORT/%2f`: the default virtual host,
    /// with this run's credentials.
    pub fn url(&self) -> String {
        format!("amqp://{}:{}@127.0.0.1:{}/%2f", self.user, self.password, self.amqp_port)
    }

    /// The loopback port the node accepts AMQP connections on.
    pub fn port(&self) -> u16 {
        self.amqp_port
    }

    /// The Erlang node name, `svs-<random>@localhost`.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The directory that holds the node's data, logs, configuration and
    /// private `HOME`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How long the last (re)start took, from spawning the node to its
    /// first AMQP answer.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The node's process id while it runs (the start script's; the VM is
    /// its child).
    pub fn pid(&self) -> Option<u32> {
        self.node.as_ref().map(Child::id)
    }

    /// Whether the node's process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.node {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the node again on the same ports with the data it kept (a
    /// durable queue and its persistent messages come back). Does nothing
    /// to a node that is running.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.start_epmd()?;
        let began = Instant::now();
        let dir = self.dir.path();
        let mut command = Command::new(SERVER_SCRIPT);
        command
            .current_dir(dir)
            // Nothing from the machine's own configuration.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("HOME", dir.join("home"))
            .env("LANG", "C.UTF-8")
            .env("RABBITMQ_NODENAME", &self.node_name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", dir.join("plugins-expand"))
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("stdout.log"))?)
            .stderr(fs::File::create(dir.join("stderr.log"))?)
            // Its own process group, so a stop signals the script and the
            // VM together.
            .process_group(0);
        self.node = Some(command.spawn()?);
        let deadline = began + START_DEADLINE;
        loop {
            if amqp_answers(self.amqp_port) {
                self.started_in = began.elapsed();
                return Ok(());
            }
            if !self.is_running() {
                self.kill();
                return Err(io::Error::other(format!(
                    "rabbitmq-server exited at start (AMQP port {}): {}",
                    self.amqp_port,
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("RabbitMQ did not accept AMQP connections within {START_DEADLINE:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A clean shutdown (SIGTERM: the node closes its connections, writes
    /// its queues and stops), as an operator's restart would do. Waits until
    /// every process of the node has exited; `epmd` keeps running until the
    /// handle is dropped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.node.take() else {
            return;
        };
        let processes = descendants(child.id());
        let _ = killpg(pid(child.id()), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_DEADLINE;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The VM's helpers (`erl_child_setup` starts a session of its own)
        // exit when the VM does; whatever outlived the deadline is killed.
        kill_all(&mut child, &processes);
    }

    /// SIGKILL to the node and every process it started: a crash. What the
    /// node had written to its files survives; [`start_again`](Self::start_again)
    /// recovers it. Waits until the processes have exited.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.node.take() {
            let processes = descendants(child.id());
            kill_all(&mut child, &processes);
        }
    }

    /// Starts this node's own `epmd` (the Erlang port mapper the node
    /// registers with) on its private port, unless it is running.
    fn start_epmd(&mut self) -> io::Result<()> {
        if let Some(epmd) = &mut self.epmd
            && matches!(epmd.try_wait(), Ok(None))
        {
            return Ok(());
        }
        let epmd = Command::new("epmd")
            .args(["-port", &self.epmd_port.to_string(), "-address", "127.0.0.1"])
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        self.epmd = Some(epmd);
        // The node starts its own `epmd -daemon` if it finds none on the
        // port; wait until ours listens so that never happens.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, self.epmd_port)),
            Duration::from_millis(200),
        )
        .is_err()
        {
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "epmd did not listen within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The configuration, plugin list and cookie, written once per node.
    fn write_files(&self) -> io::Result<()> {
        let dir = self.dir.path();
        let home = dir.join("home");
        fs::create_dir_all(&home)?;
        for sub in ["mnesia", "log", "plugins-expand"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let cookie = home.join(".erlang.cookie");
        fs::write(&cookie, random_hex(20))?;
        fs::set_permissions(&cookie, fs::Permissions::from_mode(0o400))?;
        // No plugins: no management UI listening on 15672.
        fs::write(dir.join("enabled_plugins"), "[].\n")?;
        let config = format!(
            "listeners.tcp.default = 127.0.0.1:{port}\n\
             default_user = {user}\n\
             default_pass = {password}\n\
             default_vhost = /\n\
             loopback_users = none\n\
             log.console = false\n\
             log.file.level = info\n\
             # A test machine's disk may be nearly full; the default limit would\n\
             # block every publisher.\n\
             disk_free_limit.absolute = 1MB\n",
            port = self.amqp_port,
            user = self.user,
            password = self.password,
        );
        fs::write(dir.join("rabbitmq.conf"), config)
    }

    fn log_tail(&self) -> String {
        let dir = self.dir.path();
        let mut text = fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        text.push_str(&fs::read_to_string(dir.join("stdout.log")).unwrap_or_default());
        let lines: Vec<_> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.kill();
        if let Some(mut epmd) = self.epmd.take() {
            let _ = epmd.kill();
            let _ = epmd.wait();
        }
    }
}

/// Whether Debian's RabbitMQ start script and `epmd` are installed.
pub fn is_installed() -> bool {
    Path::new(SERVER_SCRIPT).exists()
        && Command::new("epmd").arg("-help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Whether a process is listening on `port` and answers an AMQP 0-9-1
/// protocol header with a method frame (`connection.start`).
fn amqp_answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    if stream.set_read_timeout(Some(Duration::from_secs(2))).is_err()
        || stream.write_all(b"AMQP\x00\x00\x09\x01").is_err()
    {
        return false;
    }
    let mut frame_type = [0u8; 1];
    // Frame type 1 is a method frame.
    stream.read_exact(&mut frame_type).is_ok() && frame_type[0] == 1
}

/// Every process below `root`, found by walking `/proc` (the VM's helpers
/// start sessions of their own, so a process group does not hold them all).
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let ppid = after_comm.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|&&(_, ppid)| ppid == parent).map(|&(pid, _)| pid));
        i += 1;
    }
    found.remove(0);
    found
}

/// SIGKILL to `child`'s process group and to each of `processes`, then
/// waits for `child` and for the others to be gone.
fn kill_all(child: &mut Child, processes: &[u32]) {
    let _ = killpg(pid(child.id()), Signal::SIGKILL);
    // Only those still running: after a clean stop a pid may already have
    // been given to some other process.
    for &process in processes.iter().filter(|&&p| is_alive(p)) {
        let _ = kill(pid(process), Signal::SIGKILL);
    }
    let _ = child.wait();
    // The others are not our children: wait until they no longer run (a
    // zombie waiting for its new parent counts as gone).
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes.iter().any(|&p| is_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `process` exists and is not a zombie.
fn is_alive(process: u32) -> bool {
    fs::read_to_string(format!("/proc/{process}/stat"))
        .ok()
        .and_then(|stat| stat.rfind(')').map(|end| stat[end + 1..].trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

fn pid(process: u32) -> Pid {
    Pid::from_raw(i32::try_from(process).unwrap_or(i32::MAX))
}

/// `bytes` random bytes from the OS, in hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The processes of a node: its script, the VM and the VM's helpers.
    fn tree(node: &RabbitMq) -> Vec<u32> {
        let root = node.pid().unwrap();
        let mut all = descendants(root);
        all.push(root);
        all
    }

    #[test]
    fn a_node_starts_on_private_ports_and_drop_leaves_no_process() {
        let mut node = RabbitMq::start().unwrap();
        eprintln!("RabbitMQ started in {:?}", node.started_in());
        assert!(![5672, 4369, 25672, 15672].contains(&node.port()));
        assert!(node.node_name().starts_with("svs-") && node.node_name().ends_with("@localhost"));
        assert!(amqp_answers(node.port()));
        assert!(node.url().starts_with("amqp://svs-"));
        let mut processes = tree(&node);
        processes.push(node.epmd.as_ref().unwrap().id());
        let names: Vec<String> = processes
            .iter()
            .filter_map(|p| fs::read_to_string(format!("/proc/{p}/comm")).ok())
            .map(|c| c.trim().to_string())
            .collect();
        assert!(names.iter().any(|n| n == "beam.smp"), "{names:?}");
        assert!(names.iter().any(|n| n == "epmd"), "{names:?}");
        // A clean stop and a start again keep the node usable.
        node.stop();
        assert!(!amqp_answers(node.port()));
        node.start_again().unwrap();
        assert!(amqp_answers(node.port()));
        processes.extend(tree(&node));
        let port = node.port();
        drop(node);
        assert!(!amqp_answers(port));
        let left: Vec<_> = processes.iter().filter(|&&p| is_alive(p)).collect();
        assert!(left.is_empty(), "processes left running: {left:?}");
    }

    #[test]
    fn a_killed_node_leaves_no_process_and_starts_again() {
        let mut node = RabbitMq::start().unwrap();
        let processes = tree(&node);
        node.kill();
        assert!(!node.is_running());
        let left: Vec<_> = processes.iter().filter(|&&p| is_alive(p)).collect();
        assert!(left.is_empty(), "processes left running after a kill: {left:?}");
        node.start_again().unwrap();
        assert!(amqp_answers(node.port()));
    }
}
