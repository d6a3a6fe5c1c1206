//! `redis-outage`: Redis stops cleanly a quarter of the way in, for a fifth
//! of the run (1 to 5 s), and comes back with its data. The stateless twin
//! moved the single point of failure into Redis; the stateful twin does not
//! notice.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::metrics::EventKind;
use crate::services::{RedisHandle, Services};

/// Redis stops for a few seconds and comes back with its data.
#[derive(Debug)]
pub struct RedisOutage;

/// How long Redis was away and how the nodes answered meanwhile.
#[derive(Serialize)]
#[serde(untagged)]
enum RedisOutageFindings {
    Measured {
        outage_ms: u64,
        answers_503: u64,
        /// From Redis's return to the end of the last 100 ms slice with a
        /// failed request.
        failures_end_ms_after_redis_up: u64,
    },
    Skipped {
        outage_skipped: &'static str,
    },
}

impl Scenario for RedisOutage {
    fn name(&self) -> &'static str {
        "redis-outage"
    }

    fn summary(&self) -> &'static str {
        "Redis stops a quarter of the way in for a few seconds and comes back with its data"
    }

    fn stops_redis(&self) -> bool {
        true
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(server) = stage.services.redis.own("outage") else {
                return Ok(());
            };
            stage.at(0.25).await;
            let down = Arc::clone(&server);
            tokio::task::spawn_blocking(move || down.lock().unwrap().stop()).await?;
            stage.events.record(EventKind::RedisDown, "redis");
            tokio::time::sleep(outage(stage.duration)).await;
            let up = Arc::clone(&server);
            tokio::task::spawn_blocking(move || up.lock().unwrap().start_again())
                .await?
                .context("Redis did not come back")?;
            stage.events.record(EventKind::RedisUp, "redis");
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let (Some(down), Some(up)) = (run.first(EventKind::RedisDown), run.first(EventKind::RedisUp)) else {
            return findings_of(&RedisOutageFindings::Skipped {
                outage_skipped: "Redis is external (--redis-url): the harness does not stop it",
            });
        };
        let failures_end = run
            .timeline()
            .iter()
            .filter(|b| b.failed > 0 && b.t_ms + 100 > up.t_ms)
            .map(|b| (b.t_ms + 100).saturating_sub(up.t_ms))
            .max()
            .unwrap_or(0);
        findings_of(&RedisOutageFindings::Measured {
            outage_ms: up.t_ms - down.t_ms,
            answers_503: run.sum(|u| u.unavailable),
            failures_end_ms_after_redis_up: failures_end,
        })
    }

    fn notes(&self, services: &Services) -> Vec<String> {
        let mut notes = vec![
            "The stateless twin did not remove state: it moved it, and the single point of failure, into Redis. \
             While Redis is away no stateless node can serve a session; the stateful twin does not notice."
                .to_string(),
        ];
        if matches!(services.redis, RedisHandle::External(_)) {
            notes.push(
                "Redis came from --redis-url, so the harness did not stop it: the outage part was skipped.".to_string(),
            );
        }
        notes
    }
}

/// How long Redis stays away: a fifth of the run, between 1 and 5 s.
fn outage(duration: Duration) -> Duration {
    (duration / 5).clamp(Duration::from_secs(1), Duration::from_secs(5))
}
