//! `node-death`: one node is SIGKILLed a third of the way in, as a crashed
//! machine dies. Its stateful users' sessions die with it.

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::metrics::EventKind;

/// SIGKILL one node a third of the way in.
#[derive(Debug)]
pub struct NodeDeath;

/// Who lived on the killed node, and whether anything failed away from it.
#[derive(Serialize)]
struct NodeDeathFindings {
    killed_node: String,
    killed_at_ms: u64,
    /// Users whose live session was on the killed node when it died.
    users_logged_in_on_killed_node: usize,
    /// Failed requests more than 1 s before or 2 s after the kill.
    failed_away_from_kill: u64,
}

impl Scenario for NodeDeath {
    fn name(&self) -> &'static str {
        "node-death"
    }

    fn summary(&self) -> &'static str {
        "SIGKILL one node a third of the way in: who gets logged out, whose cart is lost"
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            stage.at(1.0 / 3.0).await;
            let name = stage.cluster.nodes()[0].name.clone();
            stage.cluster.kill(0).await?;
            stage.events.record(EventKind::Kill, &name);
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let Some(kill) = run.first(EventKind::Kill) else {
            return Findings::new();
        };
        let on_node = run
            .users
            .iter()
            .filter(|u| u.logins.iter().rev().find(|l| l.t_ms <= kill.t_ms).is_some_and(|l| l.node == kill.node))
            .count();
        let failed_far = run
            .users
            .iter()
            .flat_map(|u| u.timeline.iter().enumerate().map(|(i, b)| (i as u64 * 100, b.failed)))
            .filter(|&(t, f)| f > 0 && (t + 1000 < kill.t_ms || t > kill.t_ms + 2000))
            .map(|(_, f)| f)
            .sum();
        findings_of(&NodeDeathFindings {
            killed_node: kill.node.clone(),
            killed_at_ms: kill.t_ms,
            users_logged_in_on_killed_node: on_node,
            failed_away_from_kill: failed_far,
        })
    }
}
