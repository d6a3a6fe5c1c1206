//! A Redis Cluster: three primaries, each with one replica.
//!
//! The key space is cut into 16384 hash slots (`CRC16(key) mod 16384`, or
//! of the part of the key between `{` and `}`), spread over the primaries by
//! `redis-cli --cluster create`. A client sends each command to the primary
//! that serves its key's slot, learns the map from any node (`CLUSTER
//! SLOTS`), and follows `MOVED` when it changes. A command that names keys
//! in two slots fails with `CROSSSLOT`, also inside `MULTI`.
//!
//! The nodes watch each other over their bus port (the client port plus
//! 10000). When a primary has not answered for [`NODE_TIMEOUT`], the others
//! mark it failed and its replica takes its slots over. The cluster keeps
//! serving the other slots meanwhile (`cluster-require-full-coverage no`):
//! only the users whose keys live on the dead shard notice.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::server::Launch;
use crate::{Persistence, RedisServer, command, free_port, info_field, runs, wait_for};

/// How many hash slots a cluster has.
pub const SLOTS: u16 = 16384;

/// How long a node may be silent before the others fail it over.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// How long a whole cluster gets to come up, or a failover to complete.
const SETTLE: Duration = Duration::from_secs(30);

/// Six `redis-server`s in cluster mode: three primaries, three replicas.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster with `redis-cli --cluster
    /// create … --cluster-replicas 1`, and waits until every node says the
    /// cluster is ok with all 16384 slots served and every replica in sync.
    pub fn start() -> io::Result<RedisCluster> {
        if !runs("redis-cli") {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("redis-cli is not installed; install it with `{}`", crate::INSTALL_HINT),
            ));
        }
        let mut nodes = Vec::new();
        for _ in 0..6 {
            nodes.push(RedisServer::start_as(Persistence::Snapshot, cluster_port, |_, _| {
                let args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    &NODE_TIMEOUT.as_millis().to_string(),
                    "--cluster-require-full-coverage",
                    "no",
                ];
                Ok(Launch {
                    last: args.iter().map(|a| a.to_string()).collect(),
                    name: "redis-server (cluster node)",
                    ..Launch::default()
                })
            })?);
        }
        let cluster = RedisCluster { nodes };
        let addrs: Vec<String> = cluster.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()?;
        if !created.status.success() {
            let out = String::from_utf8_lossy(&created.stdout);
            let last = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
            return Err(io::Error::other(format!("redis-cli --cluster create failed: {last}")));
        }
        cluster.wait_until_served(SETTLE)?;
        wait_for("cluster replicas in sync", SETTLE, || {
            let in_sync = cluster
                .nodes
                .iter()
                .filter_map(|n| command(n.port(), &["INFO", "replication"]).ok())
                .filter(|info| info_field(info, "role").as_deref() == Some("slave"))
                .filter(|info| info_field(info, "master_link_status").as_deref() == Some("up"))
                .count();
            (in_sync == 3).then_some(())
        })?;
        Ok(cluster)
    }

    /// The nodes' addresses for `--redis-cluster` (any of them would do as
    /// a seed): `127.0.0.1:PORT,…`.
    pub fn seeds(&self) -> String {
        let addrs: Vec<_> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        addrs.join(",")
    }

    /// The six nodes, in the order they were started.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One node, to kill, stop, freeze or restart it. A restarted node
    /// rejoins with the cluster's view it saved (`nodes.conf`); a primary
    /// that was failed over comes back as its replacement's replica.
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// The indexes of the running nodes that are primaries now.
    pub fn primaries(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.role(i).as_deref() == Some("master")).collect()
    }

    fn role(&self, index: usize) -> Option<String> {
        info_field(&command(self.nodes[index].port(), &["INFO", "replication"]).ok()?, "role")
    }

    /// The hash slot of `key`, as the cluster computes it.
    pub fn slot_of(&self, key: &str) -> io::Result<u16> {
        let reply = self.ask(&["CLUSTER", "KEYSLOT", key])?;
        reply.parse().map_err(|_| io::Error::other(format!("unexpected reply: {reply:?}")))
    }

    /// The index of the running primary that serves `slot` now.
    pub fn primary_of_slot(&self, slot: u16) -> io::Result<usize> {
        self.primaries()
            .into_iter()
            .find(|&i| self.own_slots(i).iter().any(|&(from, to)| (from..=to).contains(&slot)))
            .ok_or_else(|| io::Error::other(format!("no running primary serves slot {slot}")))
    }

    /// How many keys each node holds (`DBSIZE`), `None` for a node that
    /// does not answer: with [`primaries`](Self::primaries), how the
    /// sessions spread over the shards.
    pub fn keys_per_node(&self) -> Vec<Option<u64>> {
        self.nodes.iter().map(|n| n.command(&["DBSIZE"]).ok().and_then(|d| d.parse().ok())).collect()
    }

    /// The slot ranges node `index` says it serves itself (`CLUSTER NODES`,
    /// its `myself` line).
    fn own_slots(&self, index: usize) -> Vec<(u16, u16)> {
        let nodes = command(self.nodes[index].port(), &["CLUSTER", "NODES"]).unwrap_or_default();
        let Some(myself) = nodes.lines().find(|line| line.split(' ').nth(2).is_some_and(|f| f.contains("myself")))
        else {
            return Vec::new();
        };
        myself
            .split(' ')
            .skip(8)
            .filter_map(|range| match range.split_once('-') {
                Some((from, to)) => Some((from.parse().ok()?, to.parse().ok()?)),
                None => range.parse().ok().map(|slot| (slot, slot)),
            })
            .collect()
    }

    /// Waits until the running primaries serve all 16384 slots between
    /// them and every running node says `cluster_state:ok` with every slot
    /// on a primary that is not failing: after a primary was killed, that
    /// is when its replica has taken over.
    pub fn wait_until_served(&self, within: Duration) -> io::Result<()> {
        let all = SLOTS.to_string();
        wait_for("every slot served", within, || {
            let served: u32 = self
                .primaries()
                .into_iter()
                .flat_map(|p| self.own_slots(p))
                .map(|(from, to)| u32::from(to) - u32::from(from) + 1)
                .sum();
            if served != u32::from(SLOTS) {
                return None;
            }
            let infos: Vec<String> =
                self.nodes.iter().filter_map(|n| command(n.port(), &["CLUSTER", "INFO"]).ok()).collect();
            (!infos.is_empty()
                && infos.iter().all(|info| {
                    info_field(info, "cluster_state").as_deref() == Some("ok")
                        && info_field(info, "cluster_slots_ok").as_deref() == Some(all.as_str())
                }))
            .then_some(())
        })
    }

    /// Asks the first running node.
    fn ask(&self, args: &[&str]) -> io::Result<String> {
        let mut last = io::Error::other("no cluster node is running");
        for node in &self.nodes {
            match command(node.port(), args) {
                Ok(reply) => return Ok(reply),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// A free port whose cluster bus port (the port plus 10000) is free too.
fn cluster_port() -> io::Result<u16> {
    for _ in 0..100 {
        let port = free_port()?;
        if let Some(bus) = port.checked_add(10000)
            && TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok()
        {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free port with a free bus port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole life of a cluster: keys spread over three primaries, a
    /// killed primary's replica takes its slots over while the other
    /// shards keep serving, the old primary rejoins as a replica, and
    /// dropping the cluster leaves nothing running.
    #[test]
    fn a_killed_primary_is_replaced_by_its_replica_and_nothing_is_left_running() {
        let mut cluster = RedisCluster::start().unwrap();
        let primaries = cluster.primaries();
        assert_eq!(primaries.len(), 3);
        // Every slot has exactly one primary.
        for slot in [0, 5000, 10000, SLOTS - 1] {
            cluster.primary_of_slot(slot).unwrap();
        }
        let keys: Vec<String> = (0..30).map(|i| format!("session:{i}")).collect();
        for key in &keys {
            let owner = cluster.primary_of_slot(cluster.slot_of(key).unwrap()).unwrap();
            cluster.nodes()[owner].command(&["SET", key, "v"]).unwrap();
            cluster.nodes()[owner].command(&["WAIT", "1", "2000"]).unwrap();
        }
        let holding: Vec<u64> = primaries.iter().map(|&p| cluster.keys_per_node()[p].unwrap()).collect();
        assert!(holding.iter().all(|&n| n > 0), "keys did not spread: {holding:?}");

        let victim = cluster.primary_of_slot(cluster.slot_of(&keys[0]).unwrap()).unwrap();
        let other_key = keys.iter().find(|k| cluster.primary_of_slot(cluster.slot_of(k).unwrap()).unwrap() != victim);
        let other_key = other_key.unwrap().clone();
        cluster.node_mut(victim).kill();
        // The other shards answer while the failover runs.
        let other = cluster.primary_of_slot(cluster.slot_of(&other_key).unwrap()).unwrap();
        assert_eq!(cluster.nodes()[other].command(&["GET", &other_key]).unwrap(), "v");
        cluster.wait_until_served(SETTLE).unwrap();
        let heir = cluster.primary_of_slot(cluster.slot_of(&keys[0]).unwrap()).unwrap();
        assert_ne!(heir, victim);
        assert_eq!(cluster.nodes()[heir].command(&["GET", &keys[0]]).unwrap(), "v");

        cluster.node_mut(victim).start_again().unwrap();
        wait_for("the old primary to rejoin as a replica", SETTLE, || (cluster.role(victim)? == "slave").then_some(()))
            .unwrap();
        cluster.wait_until_served(SETTLE).unwrap();

        let ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
        drop(cluster);
        for port in ports {
            assert!(crate::ping(port).is_err(), "port {port} still answers");
        }
    }
}
