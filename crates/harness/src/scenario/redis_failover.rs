//! `redis-failover`: the stateless twin on a Sentinel-managed primary with
//! two replicas; a third of the way in the primary is SIGKILLed.
//!
//! The sentinels notice after `down-after-milliseconds`, elect a leader and
//! promote a replica; the nodes, which ask the sentinels where the primary
//! is whenever their connection breaks, find it without a restart. The
//! script records Sentinel's own timeline (it polls `SENTINEL
//! get-master-addr-by-name` until another server is named and says it is a
//! primary); the findings say how long users got 503, and what the dead
//! primary had acknowledged but not yet sent to a replica: sessions whose
//! owners were then logged out, cart items that were gone.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of, ratio};
use crate::metrics::EventKind;
use crate::services::{Services, Topology};
use crate::side::Side;

/// How long the sentinels get to promote a replica.
const FAILOVER_WITHIN: Duration = Duration::from_secs(30);

/// The primary of a Sentinel set is SIGKILLed under load.
#[derive(Debug)]
pub struct RedisFailover;

/// What the failover cost the stateless twin's users.
#[derive(Serialize)]
struct FailoverFindings {
    killed_at_ms: u64,
    /// When the sentinels named the new primary, and it said it was one.
    promoted_ms_after_kill: Option<u64>,
    /// The first and the last 503 after the kill: how long users were
    /// refused.
    first_503_ms_after_kill: Option<u64>,
    last_503_ms_after_kill: Option<u64>,
    answers_503: u64,
    /// Requests answered normally after the promotion (the same nodes, no
    /// restart).
    requests_ok_after_promotion: Option<u64>,
    users_logged_in_at_kill: usize,
    /// Users whose session the new primary did not have: the old primary
    /// acknowledged it and died before a replica had it.
    users_logged_out_by_failover: usize,
    logged_in_share_logged_out: f64,
    carts_lost_by_failover: usize,
    /// Items acknowledged to users and gone after the failover: in carts
    /// that came back shorter, and in the carts of logged-out users.
    cart_items_lost: u64,
}

/// Whether each write waited for a replica (`--redis-wait-ms`).
#[derive(Serialize)]
struct WaitSetting {
    /// `WAIT 1 <this>` after every write; absent: no `WAIT`.
    redis_wait_ms: Option<u64>,
}

#[derive(Serialize)]
struct NotThisSide {
    failover_skipped: &'static str,
}

impl Scenario for RedisFailover {
    fn name(&self) -> &'static str {
        "redis-failover"
    }

    fn summary(&self) -> &'static str {
        "the Sentinel-managed Redis primary is SIGKILLed a third of the way in: 503 window, promotion, what was lost"
    }

    fn redis_topology(&self) -> Topology {
        Topology::Sentinel
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // Only the stateless twin keeps its sessions on the set.
            let (Side::Stateless, Some(set)) = (stage.cluster.side(), &stage.services.sentinel) else {
                return Ok(());
            };
            let wait = stage.cluster.backing().redis_wait;
            stage.measure(&WaitSetting { redis_wait_ms: wait.map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX)) });
            stage.at(1.0 / 3.0).await;
            let (set, events) = (Arc::clone(set), Arc::clone(&stage.events));
            tokio::task::spawn_blocking(move || {
                let mut set = set.lock().unwrap();
                let old = set.primary().context("no sentinel names a primary")?;
                set.server_mut(old).kill();
                events.record(EventKind::RedisDown, &format!("redis-{}", old + 1));
                let new = set.wait_for_failover(old, FAILOVER_WITHIN).context("no replica was promoted")?;
                events.record(EventKind::Promoted, &format!("redis-{}", new + 1));
                anyhow::Ok(())
            })
            .await?
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let Some(down) = run.first(EventKind::RedisDown) else {
            return findings_of(&NotThisSide {
                failover_skipped: "no session in Redis",
            });
        };
        let promoted = run.first(EventKind::Promoted);
        let users = run.users;
        let after_kill: Vec<u64> = users
            .iter()
            .flat_map(|u| &u.refusals)
            .filter(|r| r.t_ms >= down.t_ms)
            .map(|r| r.t_ms - down.t_ms)
            .collect();
        let logged_in = users.iter().filter(|u| u.logins.iter().any(|l| l.t_ms <= down.t_ms)).count();
        let logged_out = users.iter().filter(|u| u.logouts.iter().any(|l| l.t_ms >= down.t_ms)).count();
        let items_of_logouts: u64 =
            users.iter().flat_map(|u| &u.logouts).filter(|l| l.t_ms >= down.t_ms).map(|l| u64::from(l.items_lost)).sum();
        findings_of(&FailoverFindings {
            killed_at_ms: down.t_ms,
            promoted_ms_after_kill: promoted.map(|p| p.t_ms - down.t_ms),
            first_503_ms_after_kill: after_kill.iter().min().copied(),
            last_503_ms_after_kill: after_kill.iter().max().copied(),
            answers_503: run.sum(|u| u.unavailable),
            requests_ok_after_promotion: promoted
                .map(|p| run.timeline().iter().filter(|b| b.t_ms >= p.t_ms).map(|b| b.ok).sum()),
            users_logged_in_at_kill: logged_in,
            users_logged_out_by_failover: logged_out,
            logged_in_share_logged_out: ratio(logged_out as u64, logged_in as u64),
            carts_lost_by_failover: users
                .iter()
                .filter(|u| u.cart_losses.iter().any(|&t| t >= down.t_ms))
                .count(),
            cart_items_lost: items_of_logouts + run.sum(|u| u.cart_items_missing),
        })
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![
            "The stateless twin ran on a primary, two replicas and three sentinels (--redis-sentinel); its \
             primary was SIGKILLed a third of the way in. Requests got 503 until the sentinels promoted a \
             replica, then the same nodes served again: nobody restarted anything."
                .to_string(),
            "Replication is asynchronous: what the primary acknowledged and had not yet sent to a replica \
             died with it. Those are the users logged out and the cart items lost by the failover."
                .to_string(),
            "With --redis-wait-ms MS the stateless nodes send WAIT 1 MS after every write: the answer waits \
             until a replica has the write (or MS passed), which narrows that window at the price of a \
             replica's round trip per request (compare latency with a run without it)."
                .to_string(),
            "The stateful and token sides run unchanged beside it: they keep no session in Redis, so the \
             Sentinel set is not theirs and nothing is killed on their runs."
                .to_string(),
        ]
    }
}
