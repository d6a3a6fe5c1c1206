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
//! - [`services`]: the services a run uses (Redis), started or checked
//!   before the first node starts.
//! - [`run`]: one scenario on every side in turn.
//! - [`report`]: the report types; [`output`] writes them (table, verdict,
//!   JSON, SVG), [`table`] is the one plain-text table writer.
//! - [`side`]: the twins and how each is started and routed.
//! - [`cluster`]: node processes: start, kill, restart on the same port, add.
//! - [`router`]: the load-balancer trait and the harness's own router.
//! - [`haproxy`]: a real HAProxy behind the same trait (`--lb haproxy`).
//! - [`user`]: virtual users, their cookie jar and ledger.
//! - [`metrics`]: per-user records, timeline buckets, typed events, latency.
//! - [`bench`]: `harness bench`, closed-loop HTTP load on one node per side
//!   (its HTTP/1.1 generator, the wrk runner, its report).
//! - [`cpu`]: the CPU time a process has used, from `/proc`, for `harness bench`.
//!
//! # Where the next features go
//!
//! - **Open-loop arrivals.** Today's crowd is closed-loop: each user waits
//!   for an answer, thinks, asks again. An arrival mode (seeded Poisson
//!   arrivals at a rate that can ramp, each user a session of requests that
//!   then leaves, heavy users drawn from a Zipf spread) is a new module
//!   beside [`user`] that spawns [`user::play`]-like sessions on a schedule,
//!   chosen by a field of [`Config`]; latency is taken from each request's
//!   intended start, so a slow node cannot hide its queue. Scenarios keep
//!   using [`Scenario::arrival`] for the closed loop.
//! - **An autoscaler.** A loop that reads every node's `/healthz` `load`
//!   object (`utilisation`, `queued`, `capacity`) and adds or drains nodes
//!   is a module the `overload` and `scale-in` scripts call with their
//!   [`scenario::Stage`] (it holds the cluster and the balancer, which is
//!   all `scale-out` needs today); each change is a new
//!   [`metrics::EventKind`] variant (scale-out, scale-in, drain) so it
//!   shows in the timeline. `capacity`, a sweep, is a scenario whose
//!   findings combine several runs: a loop over [`run()`] with different
//!   node counts and rates, outside the per-side runner.
//! - **Other services.** A Sentinel set, a Redis Cluster, a private
//!   PostgreSQL, RabbitMQ or an S3 server is one more field of
//!   [`services::Services`] and [`services::Needs`], started from its
//!   launcher crate or checked when a URL is given, before any node
//!   starts; a side that uses it says so in its [`side::SideInfo`] and
//!   passes the URL in [`side::Side::extra_args`].
//! - **A mix of kinds of state** (`--mix sessions,files,jobs,live`): each
//!   kind is a user step module (upload and read back, order and poll,
//!   a WebSocket room) that keeps its own ledger in the [`metrics::UserRecord`];
//!   its counts go into [`report::SideReport`] as `Option` fields
//!   (`files_unreachable`, `orders_lost`, `orders_done_twice`,
//!   `live_messages_missed`, `live_connections_dropped`), skipped in the
//!   JSON when the kind was not exercised, and into the table as rows.
//! - **Per-scenario findings.** A scenario's findings are a typed struct
//!   ([`scenario::findings_of`]); one that nests its numbers (for example
//!   `findings.overload.recovery_s`) wraps them in a field named after it.

pub mod bench;
pub mod cluster;
pub mod config;
pub mod cpu;
pub mod haproxy;
pub mod metrics;
pub mod output;
pub mod report;
pub mod router;
pub mod run;
pub mod runner;
pub mod scenario;
pub mod services;
pub mod side;
pub mod table;
pub mod user;

pub use config::{Config, Lb};
/// How the harness's own Redis persists (`--redis-persistence`).
pub use local_redis::Persistence;
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
