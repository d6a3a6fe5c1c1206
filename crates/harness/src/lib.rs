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
//! - **Sides in a table.** [`side::Side`] lists the sides (the token twin
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
//!   The scaling scenarios use open-loop load instead ([`arrivals`]): users
//!   arrive at a rate whatever the latency, and a request's latency counts
//!   from when it was meant to start, so an overloaded node cannot hide
//!   its queue.
//! - **Modelled capacity, modelled autoscaler.** Every node of a cluster
//!   shares one machine, so the scaling scenarios start nodes with
//!   `--capacity` (a queueing model in the server) and scale them with a
//!   rule in the harness ([`autoscaler`]); their reports say so.
//! - **Lock-free measuring.** Each user keeps its own HDR histogram, timeline
//!   and counts; a side's records are merged once, at the end.
//! - **One scenario, one file.** A scenario is a type implementing
//!   [`Scenario`]: its script of typed events, its findings as a typed
//!   struct, its notes. The runner, the report and the table know no
//!   scenario by name.
//! - **Preconditions first.** Every binary and service a run will use is
//!   found or checked before the first node starts; a side whose requests
//!   mostly failed anyway is flagged `invalid` in the table and the JSON.
//! - **Nothing left running.** Nodes and HAProxy are killed *and reaped*
//!   when dropped, Redis is stopped by its own `Drop`, and the binary drops
//!   the whole run when it gets Ctrl-C; a finished, failed or panicking run
//!   unwinds the same way.
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
//! - *invalid side*: more than half of its requests failed; the report
//!   gives it an `invalid` reason and the table a `result` row, since its
//!   other counts then measure the outage, not the design.
//!
//! # Modules
//!
//! - [`scenario`]: the [`Scenario`] trait and one file per scenario; the
//!   list of them ([`scenario::ALL`]) is the only place that names them all.
//! - [`config`]: what a run is asked to do.
//! - [`runner`]: what scenario runs and `harness bench` share: the sides'
//!   binaries, a runtime that Ctrl-C stops, JSON files, exit statuses.
//! - [`mix`]: the kinds of state users exercise (`--mix`: sessions, files,
//!   jobs, live), where each side's nodes keep them, and their report.
//! - [`services`]: the services a run uses (Redis, a Sentinel set or a
//!   Redis Cluster, PostgreSQL, an S3 server, RabbitMQ), started or checked
//!   before the first node starts.
//! - [`database`]: the `database` side's private PostgreSQL and how it
//!   treats the disk (`--database-durability`).
//! - [`run`]: one scenario on every side in turn.
//! - [`report`]: the report types; [`output`] writes them (table, verdict,
//!   JSON, SVG), [`table`] is the one plain-text table writer.
//! - [`side`]: the twins and how each is started and routed.
//! - [`cluster`]: node processes: start, kill, restart on the same port, add.
//! - [`router`]: the load-balancer trait and the harness's own router.
//! - [`haproxy`]: a real HAProxy behind the same trait (`--lb haproxy`).
//! - [`user`]: virtual users, their cookie jar and ledgers (the cart, and the
//!   files, orders and room of `--mix`); open-loop sessions.
//! - [`mix`]: the kinds of state users exercise (`--mix`), and their report rows.
//! - [`arrivals`]: open-loop load: seeded Poisson arrivals at a rate that can
//!   ramp or step, sessions that leave, Zipf-skewed users.
//! - [`autoscaler`]: each node's `/healthz` load sampled over time, and a
//!   modelled autoscaler that adds, drains and removes nodes.
//! - [`objective`]: a latency objective, and requests read against it in
//!   windows (p99 over time, time to recover).
//! - [`metrics`]: per-user records, timeline buckets, typed events, latency.
//! - [`bench`]: `harness bench`, closed-loop HTTP load on one node per side
//!   (its HTTP/1.1 generator, the wrk runner, its report).
//! - [`cpu`]: the CPU time a process has used, from `/proc`, for `harness bench`.
//! - [`flood`]: load beyond the users' at the generator's full rate (made-up
//!   ids, password-less logins, logged-in requests), for `flood` and
//!   `redis-hang`.
//! - [`sample`]: what a run reads about its processes from outside: memory,
//!   threads and open files from `/proc`, bytes queued toward Redis, the
//!   nodes' `/healthz` counters and Redis's `INFO`.
//!
//! # Where the next features go
//!
//! - **A new kind of load** goes beside [`arrivals`]: a scenario picks it
//!   with a [`Scenario`] method (as [`Scenario::open_loop`] picks the
//!   open-loop arrivals over the closed-loop crowd), and its users play
//!   [`user`] sessions so their counts and samples are the same.
//! - **Another scaling policy** (a step policy, a queue-length rule, a
//!   predictive one) is another [`autoscaler::Rule`]-like decider that the
//!   [`autoscaler::Autoscaler`] loop calls; each change it makes is an
//!   [`metrics::EventKind`] so that it shows in the timeline.
//! - **Other services.** A Sentinel set or a Redis Cluster is one more
//!   field of [`services::Services`] and [`services::Needs`], started from
//!   its launcher crate or checked when a URL is given, before any node
//!   starts; a side that uses it says so in its [`side::SideInfo`] and
//!   passes the URL in [`side::Side::extra_args`], as the `database` side
//!   does with its PostgreSQL ([`database`]).
//! - **Another kind of state in the mix.** A kind is a variant of
//!   [`mix::Kind`], a user step module beside [`user::files`],
//!   [`user::orders`] and [`user::live`] with its ledger in
//!   [`mix::KindRecords`], its `Option` fields in [`mix::KindsReport`]
//!   (rows and a verdict sentence there too), and where the nodes keep it
//!   in [`mix::NodeKinds`].
//! - **Per-scenario findings.** A scenario's findings are a typed struct
//!   ([`scenario::findings_of`]); one that nests its numbers (for example
//!   `findings.overload.recovery_s`) wraps them in a field named after it.

pub mod arrivals;
pub mod autoscaler;
pub mod bench;
pub mod cluster;
pub mod config;
pub mod cpu;
pub mod database;
pub mod flood;
pub mod haproxy;
pub mod metrics;
pub mod mix;
pub mod objective;
pub mod output;
pub mod report;
pub mod router;
pub mod run;
pub mod runner;
pub mod sample;
pub mod scenario;
pub mod services;
pub mod side;
pub mod table;
pub mod user;

pub use config::{Config, Lb};
pub use database::DatabaseDurability;
/// How the harness's own Redis persists (`--redis-persistence`).
pub use local_redis::Persistence;
pub use mix::{Kind, Mix};
pub use report::{Report, SideReport};
pub use router::{LoadBalancer, Policy, Router};
pub use run::run;
pub use runner::{Interrupted, UsageError, exit_for, missing_binaries};
pub use scenario::Scenario;
pub use side::Side;

/// For examples: checks that the server binaries are built, then runs
/// `config` like [`run_blocking`]. On failure it prints one line saying what
/// to do and returns the exit status the example should end with.
pub fn run_example(config: &Config) -> Result<Report, std::process::ExitCode> {
    let missing = missing_binaries(None);
    if !missing.is_empty() {
        eprintln!("missing {}: run `cargo build --release --workspace --bins` first", missing.join(", "));
        return Err(std::process::ExitCode::from(2));
    }
    run_blocking(config).map_err(|e| exit_for(&e, &format!("{} run", config.scenario.name())))
}

/// Runs `config` on a runtime of its own and returns the report; Ctrl-C
/// stops the run (every process it started is stopped) and returns an
/// error. For examples and tests, which need no async code of their own.
pub fn run_blocking(config: &Config) -> anyhow::Result<Report> {
    runner::block_on(runner::Threads::Two, run(config))
}

/// Parses a duration as people write it (`15s`, `500ms`, `2m`, `1m 30s`;
/// humantime's syntax) or a plain number of seconds, above 0 and at most
/// one hour.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(seconds) => Ok(std::time::Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text),
    };
    let duration = parsed.map_err(|e| format!("`{text}` is not a duration (try 15s, 500ms, 2m): {e}"))?;
    if duration.is_zero() || duration > std::time::Duration::from_secs(3600) {
        return Err(format!("`{text}`: a duration must be above 0 and at most 1 hour"));
    }
    Ok(duration)
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
