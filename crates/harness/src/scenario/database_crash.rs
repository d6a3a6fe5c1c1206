//! `database-crash`: the database side's PostgreSQL is SIGKILLed (with every
//! process it started) a third of the way in and restarted at once. It
//! replays its write-ahead log and comes back with every committed session:
//! unlike a Redis without persistence, a crashed database logs nobody out.
//! What `--database-durability` changes: with `synchronous_commit = off`
//! (`async-commit`) a commit answers before its WAL record is written, and
//! the commits of the last moment before the kill are gone.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use local_postgres::PostgresServer;
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::database::DatabaseDurability;
use crate::metrics::EventKind;
use crate::services::Services;
use crate::side::Side;

/// PostgreSQL is SIGKILLed and restarted at once.
#[derive(Debug)]
pub struct DatabaseCrash;

/// Who the crash logged out, and what the database's durability was.
#[derive(Serialize)]
struct DatabaseCrashFindings {
    crash_at_ms: u64,
    database_back_ms_after_kill: u64,
    users_logged_in_at_crash: usize,
    users_logged_out_by_crash: usize,
    carts_lost_by_crash: usize,
    answers_503: u64,
    database_durability: &'static str,
}

/// How long a supervisor keeps trying to start the killed server.
const RESTART_DEADLINE: Duration = Duration::from_secs(10);

/// Starts the killed server again, as a supervisor would: the killed
/// server's backends may still be exiting (holding its shared memory) for a
/// moment, and until they are gone PostgreSQL refuses to start.
fn restart(server: &mut PostgresServer) -> std::io::Result<()> {
    let deadline = Instant::now() + RESTART_DEADLINE;
    loop {
        match server.start_again() {
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            result => return result,
        }
    }
}

impl Scenario for DatabaseCrash {
    fn name(&self) -> &'static str {
        "database-crash"
    }

    fn summary(&self) -> &'static str {
        "PostgreSQL is SIGKILLed a third of the way in and restarted at once: committed sessions survive"
    }

    fn default_sides(&self) -> &'static [Side] {
        &[Side::Stateful, Side::Stateless, Side::Database]
    }

    /// PostgreSQL's own defaults: what a deployment runs.
    fn default_database_durability(&self) -> DatabaseDurability {
        DatabaseDurability::Fsync
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(database) = &stage.services.database else {
                return Ok(());
            };
            stage.at(1.0 / 3.0).await;
            // Killed and restarted under one lock, as fast as a supervisor
            // could; the restart includes replaying the WAL.
            let (crashed, down) = (database.server(), std::sync::Arc::clone(&stage.events));
            tokio::task::spawn_blocking(move || {
                let mut server = crashed.lock().unwrap();
                server.kill();
                down.record(EventKind::DatabaseDown, "postgres");
                restart(&mut server)
            })
            .await?
            .context("PostgreSQL did not come back after the kill")?;
            stage.events.record(EventKind::DatabaseUp, "postgres");
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let (Some(down), Some(up), Some(database)) =
            (run.first(EventKind::DatabaseDown), run.first(EventKind::DatabaseUp), &run.services.database)
        else {
            return Findings::new();
        };
        let users = run.users;
        findings_of(&DatabaseCrashFindings {
            crash_at_ms: down.t_ms,
            database_back_ms_after_kill: up.t_ms - down.t_ms,
            users_logged_in_at_crash: users.iter().filter(|u| u.logins.iter().any(|l| l.t_ms <= down.t_ms)).count(),
            users_logged_out_by_crash: users.iter().filter(|u| u.logouts.iter().any(|l| l.t_ms >= down.t_ms)).count(),
            carts_lost_by_crash: users.iter().filter(|u| u.cart_losses.iter().any(|&t| t >= down.t_ms)).count(),
            answers_503: run.sum(|u| u.unavailable),
            database_durability: database.durability().name(),
        })
    }

    fn notes(&self, services: &Services) -> Vec<String> {
        let Some(database) = &services.database else {
            return vec!["No side kept its sessions in PostgreSQL (add `--sides database`): nothing was killed.".into()];
        };
        vec![
            "PostgreSQL was killed (SIGKILL, every process of it) and restarted at once; it replayed its \
             write-ahead log before answering. Only the database side uses it."
                .to_string(),
            format!("Database durability: {}. {}", database.durability(), database.durability().crash_loss()),
        ]
    }
}
