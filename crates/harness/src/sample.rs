//! What a run reads about the processes it started, from outside them: a
//! node's resident memory, threads and open files (`/proc/PID/status` and
//! `/proc/PID/fd`), the bytes waiting in loopback sockets to and from a port
//! (`/proc/net/tcp`), a node's own counters (`/healthz`), and Redis's
//! (`INFO`, `DBSIZE`).
//!
//! These are proxies, chosen because a server cannot hide them: a node
//! whose requests pile up waiting for a hung Redis shows it in memory, in
//! threads or open sockets, or in bytes queued toward Redis, whatever its
//! code thinks it does. An async node's tasks are not visible from outside;
//! its memory and its sockets are where a pile-up of tasks would show.
//!
//! A [`Sampler`] reads them every few milliseconds on a task of its own and
//! keeps a series per side ([`Sample`]), which the `flood`, `redis-hang` and
//! `soak` scenarios report and [`crate::output::memory`] draws.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use local_redis::RedisServer;
use serde::Serialize;

use crate::metrics::Clock;

/// One process's figures at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProcessFigures {
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Threads (`Threads`).
    pub threads: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`): sockets included.
    pub fds: u64,
}

impl ProcessFigures {
    /// The figures of process `pid` now; `None` where there is no `/proc`
    /// or the process is gone.
    pub fn of(pid: u32) -> Option<ProcessFigures> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        Some(ProcessFigures { rss_kib: field("VmRSS:")?, threads: field("Threads:")?, fds })
    }

    /// Two processes' figures added up (a side's nodes together).
    pub fn plus(self, other: ProcessFigures) -> ProcessFigures {
        ProcessFigures {
            rss_kib: self.rss_kib + other.rss_kib,
            threads: self.threads + other.threads,
            fds: self.fds + other.fds,
        }
    }
}

/// Bytes sitting in the kernel's buffers of every IPv4 TCP socket whose
/// local or remote port is `port` (send queues and receive queues, both
/// ends of each loopback connection): what was written toward a server
/// that did not read it yet, and its answers not yet read. `None` where
/// `/proc/net/tcp` cannot be read.
pub fn queued_bytes(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    Some(queued_in(&table, port))
}

/// [`queued_bytes`] over the text of a `/proc/net/tcp` table.
fn queued_in(table: &str, port: u16) -> u64 {
    let port_of = |address: &str| address.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, queues) = (fields.get(1)?, fields.get(2)?, fields.get(4)?);
            if port_of(local) != Some(port) && port_of(remote) != Some(port) {
                return None;
            }
            let (tx, rx) = queues.split_once(':')?;
            Some(u64::from_str_radix(tx, 16).ok()? + u64::from_str_radix(rx, 16).ok()?)
        })
        .sum()
}

/// Redis's own counters at one moment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RedisCounters {
    /// `used_memory` of `INFO memory`, bytes.
    pub used_memory: u64,
    /// `DBSIZE`: keys held (expired keys Redis has not removed yet included).
    pub keys: u64,
    /// `evicted_keys` of `INFO stats`: keys `maxmemory` made Redis drop.
    pub evicted_keys: u64,
    /// Calls per command (`INFO commandstats`), lower-case names; the
    /// harness's own `info` and `dbsize` are left out.
    pub calls: BTreeMap<String, u64>,
}

impl RedisCounters {
    /// Reads them from `server` (blocking: a few milliseconds, or two
    /// seconds against a frozen server, so never call it on one).
    pub fn read(server: &RedisServer) -> std::io::Result<RedisCounters> {
        let memory = server.command(&["INFO", "memory"])?;
        let stats = server.command(&["INFO", "commandstats"])?;
        let evicted = server.command(&["INFO", "stats"])?;
        let keys = server.command(&["DBSIZE"])?.trim().parse().unwrap_or(0);
        Ok(RedisCounters {
            used_memory: info_field(&memory, "used_memory").unwrap_or(0),
            keys,
            evicted_keys: info_field(&evicted, "evicted_keys").unwrap_or(0),
            calls: calls(&stats),
        })
    }

    /// Keys of `server` whose name matches `pattern` (`SCAN … MATCH`, a
    /// thousand at a time; blocking, like [`read`](Self::read)).
    pub fn count_matching(server: &RedisServer, pattern: &str) -> std::io::Result<u64> {
        let (mut cursor, mut count) = ("0".to_string(), 0_u64);
        loop {
            let reply = server.command(&["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"])?;
            let mut items = reply.lines();
            cursor = items.next().unwrap_or("0").to_string();
            count += items.filter(|item| !item.is_empty()).count() as u64;
            if cursor == "0" {
                return Ok(count);
            }
        }
    }

    /// Reads them from the harness's own Redis on a blocking thread;
    /// `None` if it does not answer.
    pub async fn read_shared(server: &Arc<Mutex<RedisServer>>) -> Option<RedisCounters> {
        let server = Arc::clone(server);
        tokio::task::spawn_blocking(move || RedisCounters::read(&server.lock().unwrap_or_else(|e| e.into_inner())))
            .await
            .ok()?
            .ok()
    }

    /// Calls made between `earlier` and `self`, per command (commands
    /// with none left out).
    pub fn calls_since(&self, earlier: &RedisCounters) -> BTreeMap<String, u64> {
        self.calls
            .iter()
            .map(|(name, n)| (name.clone(), n.saturating_sub(earlier.calls.get(name).copied().unwrap_or(0))))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// `NAME:VALUE` of an `INFO` section, as a number.
fn info_field(info: &str, name: &str) -> Option<u64> {
    info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':')?.parse().ok())
}

/// `cmdstat_NAME:calls=N,usec=…` lines of `INFO commandstats`.
fn calls(stats: &str) -> BTreeMap<String, u64> {
    stats
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|part| part.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_lowercase(), calls))
        })
        .filter(|(name, _)| name != "info" && name != "dbsize")
        .collect()
}

/// A node's numeric `/healthz` fields (the RAM store's `sessions` and
/// `evicted`, for one), or an empty map when it does not answer in time.
pub async fn health_counters(client: &reqwest::Client, url: &str) -> BTreeMap<String, u64> {
    let answer = client.get(format!("{url}/healthz")).timeout(Duration::from_millis(500)).send().await;
    let Ok(body) = (match answer {
        Ok(answer) => answer.json::<serde_json::Value>().await,
        Err(e) => Err(e),
    }) else {
        return BTreeMap::new();
    };
    body.as_object()
        .map(|fields| fields.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
        .unwrap_or_default()
}

/// One moment of a side, as the scenarios report it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Since the side's start.
    pub t_ms: u64,
    /// Every node of the side, added up.
    pub nodes: ProcessFigures,
    /// The largest node's resident memory, KiB.
    pub largest_rss_kib: u64,
    /// Bytes queued on sockets to and from Redis's port, when the run has
    /// a Redis of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_queued_bytes: Option<u64>,
}

/// Samples a side's node processes every `every` until stopped.
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `pids` (and the bytes queued to `redis_port`).
    pub fn start(pids: Vec<u32>, redis_port: Option<u16>, clock: Clock, every: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&samples);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let sample = Sample::now(&pids, redis_port, clock);
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
            }
        });
        Sampler { samples, task }
    }

    /// Stops sampling and returns the series (one last sample included).
    pub fn stop(self) -> Vec<Sample> {
        self.task.abort();
        let mut samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        samples.sort_by_key(|s| s.t_ms);
        samples
    }

    /// The samples so far.
    pub fn so_far(&self) -> Vec<Sample> {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Sample {
    fn now(pids: &[u32], redis_port: Option<u16>, clock: Clock) -> Sample {
        let figures: Vec<ProcessFigures> = pids.iter().filter_map(|&pid| ProcessFigures::of(pid)).collect();
        Sample {
            t_ms: clock.t_ms(),
            nodes: figures.iter().copied().fold(ProcessFigures::default(), ProcessFigures::plus),
            largest_rss_kib: figures.iter().map(|f| f.rss_kib).max().unwrap_or(0),
            redis_queued_bytes: redis_port.and_then(queued_bytes),
        }
    }
}

/// The summary of one figure over a series: its first, largest and last
/// value, and the largest over the first.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Span {
    /// The first sample's value (before the event the scenario is about).
    pub first: u64,
    /// The largest value.
    pub peak: u64,
    /// The last sample's value.
    pub last: u64,
}

impl Span {
    /// `figure` over `samples`.
    pub fn of(samples: &[Sample], figure: impl Fn(&Sample) -> u64) -> Span {
        Span {
            first: samples.first().map(&figure).unwrap_or(0),
            peak: samples.iter().map(&figure).max().unwrap_or(0),
            last: samples.last().map(&figure).unwrap_or(0),
        }
    }
}

/// The mean of `figure` over the samples between `from_ms` and `to_ms`.
pub fn mean_between(samples: &[Sample], from_ms: u64, to_ms: u64, figure: impl Fn(&Sample) -> u64) -> Option<f64> {
    let picked: Vec<u64> = samples.iter().filter(|s| s.t_ms >= from_ms && s.t_ms < to_ms).map(figure).collect();
    (!picked.is_empty()).then(|| picked.iter().sum::<u64>() as f64 / picked.len() as f64)
}

/// The harness's own Redis, when the stage's side uses it, to read its
/// counters (`None` on a side without Redis, or with `--redis-url`).
pub fn side_redis(stage: &crate::scenario::Stage<'_>) -> Option<Arc<Mutex<RedisServer>>> {
    match stage.cluster.side().info().needs_redis {
        true => stage.services.redis.own("counters"),
        false => None,
    }
}

/// How often a run's nodes are sampled: 200 samples a run, 20 ms to 1 s
/// apart.
pub fn every(duration: Duration) -> Duration {
    (duration / 200).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// The nodes' memory at the sample nearest `t_ms`, KiB.
pub fn rss_at(samples: &[Sample], t_ms: u64) -> u64 {
    samples.iter().min_by_key(|s| s.t_ms.abs_diff(t_ms)).map_or(0, |s| s.nodes.rss_kib)
}

/// `[t_ms, KiB]` of the nodes together, as the findings keep it for the
/// chart ([`crate::output::memory`]).
pub fn memory_curve(samples: &[Sample]) -> Vec<[u64; 2]> {
    samples.iter().map(|s| [s.t_ms, s.nodes.rss_kib]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_threads_and_open_files() {
        let me = ProcessFigures::of(std::process::id()).expect("/proc/self is readable");
        assert!(me.rss_kib > 0 && me.threads >= 1 && me.fds >= 3, "{me:?}");
        assert_eq!(ProcessFigures::of(u32::MAX), None, "no such process");
    }

    #[test]
    fn queued_bytes_count_both_queues_of_sockets_on_the_port_only() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n\
            0: 0100007F:1F90 0100007F:C350 01 00000010:00000000 00:00000000 00000000  1000\n\
            1: 0100007F:C350 0100007F:1F90 01 00000000:00000100 00:00000000 00000000  1000\n\
            2: 0100007F:0050 0100007F:C351 01 00000FFF:00000FFF 00:00000000 00000000  1000\n";
        assert_eq!(queued_in(table, 0x1F90), 0x10 + 0x100);
        assert_eq!(queued_in(table, 6379), 0);
    }

    #[test]
    fn redis_info_is_read_field_by_field() {
        let memory = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n";
        assert_eq!(info_field(memory, "used_memory"), Some(1_048_576));
        let stats = "# Commandstats\r\ncmdstat_hincrby:calls=30,usec=40,usec_per_call=1.33\r\n\
                     cmdstat_del:calls=7,usec=9\r\ncmdstat_info:calls=2,usec=1\r\n";
        let read = calls(stats);
        assert_eq!(read.get("hincrby"), Some(&30));
        assert_eq!(read.get("del"), Some(&7));
        assert!(!read.contains_key("info"), "the harness's own INFO is not the nodes' load");
    }
}
