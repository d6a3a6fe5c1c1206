//! The harness: real clusters of the twin servers, a load balancer in front
//! of them, many virtual users, and a report of what each user lost.
//!
//! The project's claim is that a service whose nodes keep sessions in RAM
//! cannot be scaled out or restarted without logging users out, and that a
//! service that keeps them in a shared store can. The harness makes that
//! visible with measured numbers: it starts N nodes of each twin as real
//! processes (the built binaries), routes requests across them as a load
//! balancer would, plays virtual users that keep their own ledger of what
//! they put in their carts, does something to the cluster (kill a node, add
//! one, restart all, stop Redis), and counts who was logged out and whose
//! cart went missing.
//!
//! The book reads its output scenario by scenario (`docs/scenarios/`, with
//! `docs/scenarios/README.md` explaining every row), and `docs/haproxy.md`
//! and `docs/benchmarks.md` cover `--lb haproxy` and `harness bench`.
//!
//! # Design choices, and why
//!
//! - **Processes, not linked code.** The harness never links the `app`
//!   crate: it meets the servers over HTTP, as a load balancer does, so what
//!   it measures includes the real start-up, the real signal handling and
//!   the real death of a process. (See [`cluster`].)
//! - **A swappable load balancer.** Users ask a [`router::LoadBalancer`]
//!   where their next request goes and report what happened. The harness's
//!   own [`router::Router`] implements `sticky` (with redispatch) and
//!   `round-robin` and takes a node out of rotation when it refuses
//!   connections, back in when `/healthz` answers. A real HAProxy sits
//!   behind the same trait with `--lb haproxy` ([`haproxy`]); since its
//!   stickiness travels in a cookie, users keep every cookie they are given
//!   ([`user::CookieJar`]).
//! - **Sides in a table.** [`side::Side`] lists the twins (the token twin
//!   twice: without and with its deny list); adding one is a variant and a
//!   row. Token nodes get one random key per run, in their environment.
//! - **Sides one after another.** On a 2-core machine two clusters under load
//!   at once would compete for the cores; run in turn, each side has the
//!   machine to itself, with the same users, seed, think time and script
//!   times on its own clock (see [`run`]).
//! - **Bounded, paced load.** Each user thinks about 50 ms (±50 %) between
//!   requests, so the load is a function of the user count, not of how fast
//!   a side answers, and every side sees the same offered load. Every user
//!   stops at the duration or at a request count, whichever comes first.
//! - **Lock-free measuring.** Each user keeps its own HDR histogram, timeline
//!   and counts; a side's records are merged once, at the end.
//! - **Nothing left running.** Nodes are spawned with `kill_on_drop`, Redis
//!   is stopped by its own `Drop`, and the binary drops the whole run when it
//!   gets Ctrl-C; a finished, failed or panicking run unwinds the same way.
//!
//! # Definitions the report uses
//!
//! - *forced logout*: a 401 to a user that had logged in (the user then
//!   logs in again, with a new, empty cart); `users_logged_out` counts
//!   distinct users.
//! - *lost cart*: the server's cart stopped matching the user's ledger: a
//!   cart read that differs from the ledger (counted once, then the ledger
//!   follows the server), or a forced logout while the cart held items;
//!   `carts_lost` counts distinct users.
//! - *failed request*: no HTTP answer (refused, reset, timed out), no live
//!   node to send it to, or a 5xx.
//!
//! # Modules
//!
//! - [`side`]: the twins and how each is started and routed.
//! - [`cluster`]: node processes: start, kill, restart on the same port, add.
//! - [`router`]: the load-balancer trait and the harness's own router.
//! - [`haproxy`]: a real HAProxy behind the same trait (`--lb haproxy`).
//! - [`user`]: virtual users, their cookie jar and ledger.
//! - [`metrics`]: per-user records, timeline buckets, events, latency.
//! - [`scenario`]: the scenarios' scripts and findings.
//! - [`run`]: configuration, running every side, the report types.
//! - [`output`]: terminal table, verdict, JSON and SVG files.
//! - [`bench`]: `harness bench`, closed-loop HTTP load on one node per side (req/s, p50/p99).
//! - [`cpu`]: the CPU time a process has used, from `/proc`, for `harness bench`.

pub mod bench;
pub mod cluster;
pub mod cpu;
pub mod haproxy;
pub mod metrics;
pub mod output;
pub mod router;
pub mod run;
pub mod scenario;
pub mod side;
pub mod user;

/// How the harness's own Redis persists (`--redis-persistence`).
pub use local_redis::Persistence;
pub use router::{LoadBalancer, Policy, Router};
pub use run::{Config, Lb, Report, SideReport, UsageError, run};
pub use scenario::Scenario;
pub use side::Side;

/// Server binaries of the known sides that cannot be found in `bin_dir` (or
/// beside this executable): examples use it to say what to build first.
pub fn missing_binaries(bin_dir: Option<&std::path::Path>) -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = Side::ALL
        .iter()
        .map(|side| side.info().binary)
        .filter(|binary| cluster::find_binary(binary, bin_dir).is_none())
        .collect();
    // Two token sides share one binary.
    missing.dedup();
    missing
}

/// For examples: checks that the server binaries are built, then runs
/// `config` like [`run_blocking`]. On failure it prints one line saying what
/// to do and returns the exit status the example should end with.
pub fn run_example(config: &Config) -> Result<Report, std::process::ExitCode> {
    let missing = missing_binaries(None);
    if !missing.is_empty() {
        eprintln!("missing {}: run `cargo build --release --workspace --bins` first", missing.join(", "));
        return Err(std::process::ExitCode::from(2));
    }
    run_blocking(config).map_err(|e| {
        eprintln!("the {} run failed: {e:#}", config.scenario.name());
        std::process::ExitCode::FAILURE
    })
}

/// Runs `config` on a runtime of its own and returns the report; Ctrl-C
/// stops the run (every process it started is killed) and returns an error.
/// For examples and tests, which need no async code of their own.
pub fn run_blocking(config: &Config) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        tokio::select! {
            report = run(config) => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(Interrupted)),
        }
    })
}

/// How a command ends after `error`: it prints one line saying what went
/// wrong and returns 2 for bad usage, 130 for Ctrl-C, 1 for a failure of
/// `command` itself.
pub fn exit_for(error: &anyhow::Error, command: &str) -> std::process::ExitCode {
    if error.is::<UsageError>() {
        eprintln!("error: {error}");
        std::process::ExitCode::from(2)
    } else if error.is::<Interrupted>() {
        eprintln!("interrupted: every node and Redis the {command} started has been stopped");
        std::process::ExitCode::from(130)
    } else {
        eprintln!("{command} failed: {error:#}");
        std::process::ExitCode::FAILURE
    }
}

/// The run was stopped by Ctrl-C.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Parses `15s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration (try 15s, 500ms, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 3600.0 {
        return Err(format!("`{text}`: a duration must be above 0 and at most 1 hour"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_the_way_people_write_them() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
