//! `scale-out`: a node joins a third of the way in while users keep
//! arriving, so some log in after it joined. Where do new and old users go?

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of, ratio, spread};
use crate::metrics::EventKind;

/// A node joins a third of the way in; users keep arriving.
#[derive(Debug)]
pub struct ScaleOut;

/// Who the new node served after it joined.
#[derive(Serialize)]
struct ScaleOutFindings {
    /// Each node's share of the requests from the first whole second after
    /// the join to the end.
    share_after_join: BTreeMap<String, f64>,
    new_node_first_request_ms_after_join: Option<u64>,
    new_node: String,
    joined_at_ms: u64,
    users_arrived_after_join: usize,
    logins_on_new_node: usize,
    earlier_users_served_by_new_node: usize,
    new_node_share_after_join: f64,
}

impl Scenario for ScaleOut {
    fn name(&self) -> &'static str {
        "scale-out"
    }

    fn summary(&self) -> &'static str {
        "a node joins a third of the way in: where new and old users go"
    }

    /// Users keep arriving over the first two thirds of the run.
    fn arrival(&self, index: usize, users: usize, duration: Duration) -> Duration {
        spread(duration.mul_f64(2.0 / 3.0), index, users)
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            stage.at(1.0 / 3.0).await;
            let index = stage.cluster.add_node().await?;
            let node = &stage.cluster.nodes()[index];
            stage.balancer.add_backend(&node.name, &node.url());
            stage.events.record(EventKind::Start, &node.name);
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let Some(join) = run.first(EventKind::Start) else {
            return Findings::new();
        };
        let users = run.users;
        let earlier_users_served_by_new_node = users
            .iter()
            .filter(|u| u.logins.first().is_some_and(|l| l.t_ms < join.t_ms))
            .filter(|u| u.per_node.contains_key(&join.node))
            .count();
        let first_second = join.t_ms.div_ceil(1000) as usize;
        let mut after: BTreeMap<String, u64> = BTreeMap::new();
        for user in users {
            for (node, seconds) in &user.per_node_seconds {
                *after.entry(node.clone()).or_default() += seconds.iter().skip(first_second).sum::<u64>();
            }
        }
        let all: u64 = after.values().sum();
        let on_new = after.get(&join.node).copied().unwrap_or(0);
        let first_request = users.iter().filter_map(|u| u.first_served_ms.get(&join.node)).min();
        findings_of(&ScaleOutFindings {
            share_after_join: after.iter().map(|(n, &c)| (n.clone(), ratio(c, all))).collect(),
            new_node_first_request_ms_after_join: first_request.map(|t| t.saturating_sub(join.t_ms)),
            new_node: join.node.clone(),
            joined_at_ms: join.t_ms,
            users_arrived_after_join: users
                .iter()
                .filter(|u| u.logins.first().is_some_and(|l| l.t_ms >= join.t_ms))
                .count(),
            logins_on_new_node: users.iter().flat_map(|u| &u.logins).filter(|l| l.node == join.node).count(),
            earlier_users_served_by_new_node,
            new_node_share_after_join: ratio(on_new, all),
        })
    }
}
