//! `rolling-restart`: every node is restarted in turn, as a deploy does:
//! out of rotation, SIGTERM, start again on the same port, back in.

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::metrics::EventKind;

/// Every node is restarted in turn.
#[derive(Debug)]
pub struct RollingRestart;

/// Who came through the deploy.
#[derive(Serialize)]
struct RollingRestartFindings {
    users_never_logged_out: usize,
}

impl Scenario for RollingRestart {
    fn name(&self) -> &'static str {
        "rolling-restart"
    }

    fn summary(&self) -> &'static str {
        "restart every node in turn, as a deploy does: who survives it"
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let count = stage.cluster.nodes().len();
            for index in 0..count {
                stage.at(0.2 + 0.6 * index as f64 / count as f64).await;
                let name = stage.cluster.nodes()[index].name.clone();
                // As an operator would: out of rotation, restart, back in.
                stage.balancer.take_out(&name).await?;
                stage.events.record(EventKind::Restart, &name);
                stage.cluster.restart(index).await?;
                stage.balancer.put_back(&name).await?;
                stage.events.record(EventKind::Start, &name);
            }
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        findings_of(&RollingRestartFindings {
            users_never_logged_out: run.users.iter().filter(|u| u.logouts.is_empty()).count(),
        })
    }
}
