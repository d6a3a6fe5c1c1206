//! `database-outage`: the database side's PostgreSQL stops cleanly a quarter
//! of the way in, for a fifth of the run (1 to 5 s), and comes back with its
//! data: `redis-outage` for a session store kept in the database. The
//! stateless twin on Redis and the stateful twin do not notice.

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use serde::Serialize;

use super::redis_outage::outage;
use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::metrics::EventKind;
use crate::services::Services;
use crate::side::Side;

/// PostgreSQL stops for a few seconds and comes back with its data.
#[derive(Debug)]
pub struct DatabaseOutage;

/// How long the database was away and how the nodes answered meanwhile.
#[derive(Serialize)]
struct DatabaseOutageFindings {
    outage_ms: u64,
    answers_503: u64,
    /// From the database's return to the end of the last 100 ms slice with
    /// a failed request.
    failures_end_ms_after_database_up: u64,
}

impl Scenario for DatabaseOutage {
    fn name(&self) -> &'static str {
        "database-outage"
    }

    fn summary(&self) -> &'static str {
        "PostgreSQL stops a quarter of the way in for a few seconds and comes back with its data"
    }

    fn default_sides(&self) -> &'static [Side] {
        &[Side::Stateful, Side::Stateless, Side::Database]
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(database) = &stage.services.database else {
                return Ok(());
            };
            stage.at(0.25).await;
            // The clients see it go when the shutdown begins: a fast
            // shutdown refuses new connections and ends the open ones at
            // once, then checkpoints before the process exits.
            let (down, events) = (database.server(), std::sync::Arc::clone(&stage.events));
            tokio::task::spawn_blocking(move || {
                let mut server = down.lock().unwrap();
                events.record(EventKind::DatabaseDown, "postgres");
                server.stop();
            })
            .await?;
            tokio::time::sleep(outage(stage.duration)).await;
            let up = database.server();
            tokio::task::spawn_blocking(move || up.lock().unwrap().start_again())
                .await?
                .context("PostgreSQL did not come back")?;
            stage.events.record(EventKind::DatabaseUp, "postgres");
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let (Some(down), Some(up)) = (run.first(EventKind::DatabaseDown), run.first(EventKind::DatabaseUp)) else {
            return Findings::new();
        };
        findings_of(&DatabaseOutageFindings {
            outage_ms: up.t_ms - down.t_ms,
            answers_503: run.sum(|u| u.unavailable),
            failures_end_ms_after_database_up: run.failures_end_ms_after(up.t_ms),
        })
    }

    fn notes(&self, services: &Services) -> Vec<String> {
        let mut notes = vec![
            "A session store in the database makes the database the single point of failure of every \
             request, not only of the ones that change data: while PostgreSQL is away no database node \
             can serve a session (503 with Retry-After), and the nodes use it again as soon as it is back, \
             without a restart. The Redis and RAM sides do not notice."
                .to_string(),
        ];
        if services.database.is_none() {
            notes.push("No side kept its sessions in PostgreSQL (add `--sides database`): nothing was stopped.".into());
        }
        notes
    }
}

