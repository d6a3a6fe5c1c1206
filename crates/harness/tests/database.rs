//! The database side: the stateless twin with its sessions in a private
//! PostgreSQL the run starts. A dead node logs none of its users out; while
//! the database is stopped its nodes answer 503 and recover by themselves
//! when it is back; a crashed database comes back with every committed
//! session. Every run stops its PostgreSQL before it returns.

use std::sync::Mutex;

use crate::common;
use harness::metrics::EventKind;
use harness::{Report, Scenario, Side, scenario};

/// The runs that start a PostgreSQL take turns, so each can check that
/// its own was stopped: none of this process's children is a `postgres`.
static ONE_DATABASE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(scenario: &'static dyn Scenario, sides: &[Side], users: usize, seconds: u64) -> Report {
    let _turn = ONE_DATABASE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let report = common::run_sides(scenario, sides, users, seconds);
    let left = postgres_children();
    assert!(left.is_empty(), "{scenario}: PostgreSQL outlived the run: {left:?}");
    report
}

/// The `postgres` processes whose parent is this test process.
fn postgres_children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| {
            // `pid (comm) state ppid …`
            let comm = stat.split_once('(').and_then(|(_, rest)| rest.rsplit_once(')'));
            comm.is_some_and(|(comm, rest)| comm == "postgres" && rest.split_whitespace().nth(1) == Some(me.as_str()))
        })
        .collect()
}

#[test]
fn a_dead_node_logs_out_no_user_of_the_database_side() {
    let users = 24;
    let report = run(&scenario::NodeDeath, &[Side::Stateful, Side::Stateless, Side::Database], users, 4);

    let database = common::side(&report, Side::Database);
    assert!(database.events.iter().any(|e| e.kind == EventKind::Kill));
    assert_eq!(database.users_logged_out, 0, "{database:#?}");
    assert_eq!(database.carts_lost, 0);
    assert_eq!(database.unauthorized, 0);
    assert_eq!(database.other_client_errors, 0);
    assert!(database.requests > users as u64 * 10, "the database side sent too few requests");
    assert_eq!(common::number(database, "failed_away_from_kill"), 0.0);
    // The stateful side in the same run did lose users: the run measured.
    assert!(common::side(&report, Side::Stateful).users_logged_out > 0);
}

#[test]
fn the_database_side_fails_while_postgres_is_away_and_recovers_without_losing_sessions() {
    let report = run(&scenario::DatabaseOutage, &[Side::Stateless, Side::Database], 24, 6);
    assert!(report.notes.iter().any(|n| n.contains("single point of failure")), "{:?}", report.notes);

    let database = common::side(&report, Side::Database);
    let down = database.events.iter().find(|e| e.kind == EventKind::DatabaseDown).expect("postgres stopped").t_ms;
    let up = database.events.iter().find(|e| e.kind == EventKind::DatabaseUp).expect("postgres came back").t_ms;
    assert!(common::number(database, "outage_ms") >= 1000.0);
    assert!(database.service_unavailable > 0, "no 503 while PostgreSQL was away");
    assert_eq!(common::number(database, "answers_503"), database.service_unavailable as f64);
    // The failures came during the outage: requests in flight when it
    // began (counted in the slice they started in) up to a second after it
    // ended (the store's deadline).
    let during: u64 =
        database.timeline.iter().filter(|b| b.t_ms + 200 > down && b.t_ms < up + 1000).map(|b| b.failed).sum();
    assert_eq!(during, database.failed_requests, "failures away from the outage: {:?}", database.timeline);
    assert_eq!(database.users_logged_out, 0, "a session was lost");
    assert_eq!(database.carts_lost, 0);
    // Recovered by itself: no failure from a moment after PostgreSQL is back.
    let after: Vec<_> = database.timeline.iter().filter(|b| b.t_ms >= up + 1500).collect();
    assert!(!after.is_empty() && after.iter().all(|b| b.failed == 0), "still failing after PostgreSQL came back");
    assert!(after.iter().map(|b| b.ok).sum::<u64>() > 0);
    assert!(common::number(database, "failures_end_ms_after_database_up") < 1500.0);

    // Redis-backed sessions do not depend on the database.
    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.failed_requests, 0);
    assert_eq!(stateless.users_logged_out, 0);
}

#[test]
fn a_crashed_database_comes_back_with_every_committed_session() {
    let report = run(&scenario::DatabaseCrash, &[Side::Database], 24, 4);

    let database = common::side(&report, Side::Database);
    assert_eq!(database.findings["database_durability"], "fsync");
    assert!(database.events.iter().any(|e| e.kind == EventKind::DatabaseUp), "PostgreSQL was not restarted");
    assert!(common::number(database, "users_logged_in_at_crash") >= 20.0);
    // Unlike a Redis without persistence: nobody logged out, no cart lost.
    assert_eq!(common::number(database, "users_logged_out_by_crash"), 0.0, "{database:#?}");
    assert_eq!(database.users_logged_out, 0);
    assert_eq!(database.carts_lost, 0);
    assert!(report.notes.iter().any(|n| n.contains("nothing acknowledged is lost")), "{:?}", report.notes);
}
