//! A replicated set: one primary, two replicas, three sentinels.
//!
//! The replicas copy the primary asynchronously (`--replicaof`). The three
//! `redis-sentinel` processes watch the primary; when two of them agree it
//! has not answered for [`DOWN_AFTER`], they elect one of themselves to
//! promote a replica and point the other replica (and, once it is back, the
//! old primary) at the new one. A client asks any sentinel
//! `SENTINEL get-master-addr-by-name` to find the primary of the day.
//!
//! What the primary acknowledged but had not yet sent to a replica is lost
//! when it dies: replication is asynchronous.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::server::Launch;
use crate::{
    Persistence, RedisServer, SENTINEL_INSTALL_HINT, command, free_port, info_field, path_arg, runs, wait_for,
};

/// The name the sentinels know the primary by (`--redis-master`).
pub const MASTER_NAME: &str = "sessions";

/// How long the primary must be silent before a sentinel thinks it down.
/// Production uses seconds to tens of seconds; a test wants a quick
/// failover.
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// How long a whole set gets to come up, or a failover to complete.
const SETTLE: Duration = Duration::from_secs(30);

/// One primary, two replicas and three sentinels, on loopback.
#[derive(Debug)]
pub struct SentinelSet {
    // Dropped first, so that no sentinel starts a failover while the data
    // servers are being stopped.
    sentinels: Vec<RedisServer>,
    servers: Vec<RedisServer>,
}

impl SentinelSet {
    /// Starts the primary, its two replicas and three sentinels, and waits
    /// until both replicas are in sync and every sentinel knows both
    /// replicas and the two other sentinels.
    pub fn start() -> io::Result<SentinelSet> {
        if !runs("redis-sentinel") {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("redis-sentinel is not installed; install it with `{SENTINEL_INSTALL_HINT}`"),
            ));
        }
        let primary = RedisServer::start()?;
        let primary_port = primary.port();
        let mut servers = vec![primary];
        for _ in 0..2 {
            servers.push(RedisServer::start_as(Persistence::Snapshot, free_port, |_, _| {
                Ok(Launch {
                    last: vec!["--replicaof".into(), "127.0.0.1".into(), primary_port.to_string()],
                    name: "redis-server (replica)",
                    ..Launch::default()
                })
            })?);
        }
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(RedisServer::start_as(Persistence::None, free_port, |dir, port| {
                sentinel_launch(dir, port, primary_port)
            })?);
        }
        let set = SentinelSet { sentinels, servers };
        set.wait_until_replicated(SETTLE)?;
        wait_for("sentinels to know the whole set", SETTLE, || {
            set.sentinels
                .iter()
                .all(|sentinel| {
                    let master = command(sentinel.port(), &["SENTINEL", "MASTER", MASTER_NAME]).unwrap_or_default();
                    pair(&master, "num-slaves").as_deref() == Some("2")
                        && pair(&master, "num-other-sentinels").as_deref() == Some("2")
                })
                .then_some(())
        })?;
        Ok(set)
    }

    /// The primary's name for `--redis-master`.
    pub fn master_name(&self) -> &'static str {
        MASTER_NAME
    }

    /// The sentinels' addresses for `--redis-sentinel`:
    /// `127.0.0.1:PORT,127.0.0.1:PORT,127.0.0.1:PORT`.
    pub fn sentinel_addrs(&self) -> String {
        let addrs: Vec<_> = self.sentinels.iter().map(|s| format!("127.0.0.1:{}", s.port())).collect();
        addrs.join(",")
    }

    /// The data servers: the first started as the primary, the others as its
    /// replicas. Which one is the primary now, ask [`primary`](Self::primary).
    pub fn servers(&self) -> &[RedisServer] {
        &self.servers
    }

    /// One data server, to kill, stop, freeze or restart it. A restarted
    /// server comes back with its first role (the first as a primary, the
    /// others as replicas of it); the sentinels then point it at the primary
    /// of the day.
    pub fn server_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.servers[index]
    }

    /// The sentinels.
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// One sentinel, to kill, stop or restart it.
    pub fn sentinel_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.sentinels[index]
    }

    /// The index in [`servers`](Self::servers) of the primary as the first
    /// sentinel that answers knows it.
    pub fn primary(&self) -> io::Result<usize> {
        let port = self.primary_port()?;
        self.servers
            .iter()
            .position(|s| s.port() == port)
            .ok_or_else(|| io::Error::other(format!("the sentinels name an unknown primary on port {port}")))
    }

    fn primary_port(&self) -> io::Result<u16> {
        let mut last = io::Error::other("no sentinel is running");
        for sentinel in &self.sentinels {
            match command(sentinel.port(), &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME]) {
                Ok(reply) => {
                    let port = reply.lines().nth(1).and_then(|p| p.parse().ok());
                    return port.ok_or_else(|| io::Error::other(format!("unexpected reply: {reply:?}")));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Waits until the sentinels name a primary other than server `old`,
    /// and that server says it is a primary; returns its index.
    pub fn wait_for_failover(&self, old: usize, within: Duration) -> io::Result<usize> {
        wait_for("a failover", within, || {
            let new = self.primary().ok().filter(|&new| new != old)?;
            let role = command(self.servers[new].port(), &["INFO", "replication"]).ok()?;
            (info_field(&role, "role")? == "master").then_some(new)
        })
    }

    /// Waits until every running replica has its link to the primary up.
    pub fn wait_until_replicated(&self, within: Duration) -> io::Result<()> {
        wait_for("replicas in sync", within, || {
            self.servers
                .iter()
                .filter_map(|s| command(s.port(), &["INFO", "replication"]).ok())
                .filter(|info| info_field(info, "role").as_deref() == Some("slave"))
                .all(|info| info_field(&info, "master_link_status").as_deref() == Some("up"))
                .then_some(())
        })
    }
}

/// Writes a sentinel's configuration file (a sentinel rewrites it as it
/// learns the set, so it lives in the sentinel's own directory).
fn sentinel_launch(dir: &Path, port: u16, primary_port: u16) -> io::Result<Launch> {
    let conf = dir.join("sentinel.conf");
    let down_after = DOWN_AFTER.as_millis();
    std::fs::write(
        &conf,
        format!(
            "port {port}\n\
             bind 127.0.0.1\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} {down_after}\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n"
        ),
    )?;
    Ok(Launch { first: vec![path_arg(&conf), "--sentinel".into()], name: "redis-sentinel", ..Launch::default() })
}

/// The value after `field` in a flattened field/value reply.
fn pair(reply: &str, field: &str) -> Option<String> {
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        let value = lines.next()?;
        if line == field {
            return Some(value.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole life of a set: it serves, the replicas copy, a killed
    /// primary is replaced by a replica the sentinels name, the old primary
    /// comes back as a replica, and dropping the set leaves nothing running.
    #[test]
    fn a_killed_primary_is_replaced_and_nothing_is_left_running() {
        let mut set = SentinelSet::start().unwrap();
        let old = set.primary().unwrap();
        assert_eq!(old, 0);
        let primary_port = set.servers()[old].port();
        set.servers()[old].command(&["SET", "k", "v"]).unwrap();
        set.servers()[old].command(&["WAIT", "2", "2000"]).unwrap();
        // WAIT gives up after its timeout on a busy machine: poll the replica.
        let deadline = std::time::Instant::now() + SETTLE;
        while set.servers()[1].command(&["GET", "k"]).unwrap() != "v" {
            assert!(std::time::Instant::now() < deadline, "the replica never got the write");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(set.servers()[1].command(&["SET", "k", "w"]).unwrap_err().to_string().starts_with("READONLY"));

        set.server_mut(old).kill();
        let new = set.wait_for_failover(old, SETTLE).unwrap();
        assert_ne!(new, old);
        assert_eq!(set.servers()[new].command(&["GET", "k"]).unwrap(), "v");
        set.servers()[new].command(&["SET", "k", "after"]).unwrap();

        set.server_mut(old).start_again().unwrap();
        wait_for("the old primary to follow the new one", SETTLE, || {
            let info = set.servers()[old].command(&["INFO", "replication"]).ok()?;
            let port = set.servers()[new].port().to_string();
            (info_field(&info, "role")? == "slave"
                && info_field(&info, "master_port")? == port
                && info_field(&info, "master_link_status")? == "up")
                .then_some(())
        })
        .unwrap();
        wait_for("the write to reach the old primary", SETTLE, || {
            (set.servers()[old].command(&["GET", "k"]).ok()? == "after").then_some(())
        })
        .unwrap();

        let ports: Vec<u16> = set.servers().iter().chain(set.sentinels()).map(RedisServer::port).collect();
        assert!(ports.contains(&primary_port));
        drop(set);
        for port in ports {
            assert!(crate::ping(port).is_err(), "port {port} still answers");
        }
    }
}
