//! CPU time of whole processes, read from `/proc`, so that `harness bench`
//! can say what one request cost each process that served it: the node,
//! `redis-server` or PostgreSQL, and the load generator itself. On a small machine these
//! share the cores, so a node's rate alone does not say where the time went.

use std::time::Duration;

/// CPU time (user and system, every thread) process `pid` has used so far:
/// the sum of the first field of `/proc/PID/task/*/schedstat`, which the
/// kernel keeps in nanoseconds (`/proc/PID/stat` counts 10 ms ticks, too
/// coarse for a 2-second measurement). `None` where there is no `/proc`
/// (not Linux) or the process is gone. A thread that exits takes its time
/// with it; the processes measured here keep theirs for the whole run.
pub fn used(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Some(Duration::from_nanos(nanos))
}

/// CPU time of process `pid` and of its children: PostgreSQL's server and
/// the backends and workers it started (one backend per connection). A
/// child that exits takes its time with it; the pooled connections of a
/// bench live for the whole run.
pub fn used_with_children(pid: u32) -> Option<Duration> {
    let own = used(pid)?;
    let children = std::fs::read_dir("/proc").ok()?.flatten().filter_map(|entry| {
        let child = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // `pid (comm) state ppid …`; comm may hold spaces or parentheses.
        let ppid = stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse::<u32>().ok()?;
        if ppid == pid { used(child) } else { None }
    });
    Some(own + children.sum::<Duration>())
}

/// The processes one measurement's CPU is read from.
#[derive(Clone, Copy, Debug)]
pub struct Processes {
    /// The node under load.
    pub node: Option<u32>,
    /// The `redis-server` the harness started, if any.
    pub redis: Option<u32>,
    /// The PostgreSQL server the harness started, if any (read with its
    /// children).
    pub database: Option<u32>,
    /// This process: the load generator.
    pub generator: u32,
}

/// CPU time per process, at one moment or over a span.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTimes {
    /// The node.
    pub node: Option<Duration>,
    /// `redis-server`.
    pub redis: Option<Duration>,
    /// PostgreSQL, every process of it.
    pub database: Option<Duration>,
    /// The load generator.
    pub generator: Option<Duration>,
}

impl Processes {
    /// Each process's CPU time so far.
    pub fn read(&self) -> CpuTimes {
        CpuTimes {
            node: self.node.and_then(used),
            redis: self.redis.and_then(used),
            database: self.database.and_then(used_with_children),
            generator: used(self.generator),
        }
    }
}

impl CpuTimes {
    /// What was used between `earlier` and `self`.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        let span = |now: Option<Duration>, then: Option<Duration>| now?.checked_sub(then?);
        CpuTimes {
            node: span(self.node, earlier.node),
            redis: span(self.redis, earlier.redis),
            database: span(self.database, earlier.database),
            generator: span(self.generator, earlier.generator),
        }
    }

    /// Two spans together (`None` where either lacks a figure).
    pub fn plus(self, other: CpuTimes) -> CpuTimes {
        let sum = |a: Option<Duration>, b: Option<Duration>| Some(a? + b?);
        CpuTimes {
            node: sum(self.node, other.node),
            redis: sum(self.redis, other.redis),
            database: sum(self.database, other.database),
            generator: sum(self.generator, other.generator),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_shows_its_cpu_time_growing() {
        let me = Processes { node: None, redis: None, database: None, generator: std::process::id() };
        let before = me.read();
        // Work until the kernel has counted at least 20 ms of it; bounded,
        // so a /proc that never moves fails the test instead of hanging it.
        let mut spent = Duration::ZERO;
        for round in 0..10_000u64 {
            std::hint::black_box((0..100_000u64).fold(round, |a, b| a.wrapping_mul(31).wrapping_add(b)));
            spent = me.read().since(before).generator.expect("/proc/self/task/*/schedstat is readable");
            if spent >= Duration::from_millis(20) {
                break;
            }
        }
        assert!(spent >= Duration::from_millis(20), "only {spent:?} counted");
        assert_eq!(me.read().node, None);
        assert_eq!(used(u32::MAX), None, "no such process");
    }
}
