//! `redis-crash`: Redis is SIGKILLed a third of the way in and restarted at
//! once with whatever its persistence kept, which is what the stateless
//! design loses when its store is not durable.

use std::sync::Arc;

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use local_redis::Persistence;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of, ratio};
use crate::metrics::EventKind;
use crate::services::{RedisHandle, Services};

/// Redis is SIGKILLed and restarted at once with what it persisted.
#[derive(Debug)]
pub struct RedisCrash;

/// Who the crash logged out, and how old their sessions were.
#[derive(Serialize)]
struct CrashFindings {
    crash_at_ms: u64,
    redis_back_ms_after_kill: u64,
    users_logged_in_at_crash: usize,
    users_logged_out_by_crash: usize,
    logged_in_share_logged_out: f64,
    carts_lost_by_crash: usize,
    /// How old the lost sessions were when Redis died: the whole run
    /// without persistence, at most the last moment with an append-only file.
    lost_sessions_oldest_ms: Option<u64>,
    lost_sessions_newest_ms: Option<u64>,
    answers_503: u64,
}

#[derive(Serialize)]
struct Skipped {
    crash_skipped: &'static str,
}

/// How the harness's own Redis persisted its data.
#[derive(Serialize)]
struct RedisPersistence {
    redis_persistence: &'static str,
}

impl Scenario for RedisCrash {
    fn name(&self) -> &'static str {
        "redis-crash"
    }

    fn summary(&self) -> &'static str {
        "Redis is SIGKILLed a third of the way in and restarted at once: what its persistence kept"
    }

    /// What most deployments run.
    fn default_persistence(&self) -> Persistence {
        Persistence::AofEverySec
    }

    fn stops_redis(&self) -> bool {
        true
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(server) = stage.services.redis.own("crash") else {
                return Ok(());
            };
            stage.at(1.0 / 3.0).await;
            // Killed and restarted under one lock: nothing reaches Redis in
            // between, and it is back as fast as a supervisor could.
            let crashed = server;
            let down = Arc::clone(&stage.events);
            tokio::task::spawn_blocking(move || {
                let mut server = crashed.lock().unwrap();
                server.kill();
                down.record(EventKind::RedisDown, "redis");
                server.start_again()
            })
            .await?
            .context("Redis did not come back after the kill")?;
            stage.events.record(EventKind::RedisUp, "redis");
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let mut findings = match (run.first(EventKind::RedisDown), run.first(EventKind::RedisUp)) {
            (Some(down), Some(up)) => {
                let users = run.users;
                let logged_in = users.iter().filter(|u| u.logins.iter().any(|l| l.t_ms <= down.t_ms)).count();
                let logged_out: Vec<_> =
                    users.iter().filter(|u| u.logouts.iter().any(|l| l.t_ms >= down.t_ms)).collect();
                let ages: Vec<u64> = logged_out
                    .iter()
                    .filter_map(|u| u.logins.iter().rev().find(|l| l.t_ms <= down.t_ms))
                    .map(|l| down.t_ms - l.t_ms)
                    .collect();
                findings_of(&CrashFindings {
                    crash_at_ms: down.t_ms,
                    redis_back_ms_after_kill: up.t_ms - down.t_ms,
                    users_logged_in_at_crash: logged_in,
                    users_logged_out_by_crash: logged_out.len(),
                    logged_in_share_logged_out: ratio(logged_out.len() as u64, logged_in as u64),
                    carts_lost_by_crash: users.iter().filter(|u| u.cart_losses.iter().any(|&t| t >= down.t_ms)).count(),
                    lost_sessions_oldest_ms: ages.iter().max().copied(),
                    lost_sessions_newest_ms: ages.iter().min().copied(),
                    answers_503: run.sum(|u| u.unavailable),
                })
            }
            _ => findings_of(&Skipped {
                crash_skipped: "Redis is external (--redis-url): the harness does not kill it",
            }),
        };
        if let RedisHandle::Owned(server) = &run.services.redis {
            let persistence = server.lock().unwrap().persistence();
            findings.extend(findings_of(&RedisPersistence { redis_persistence: persistence.name() }));
        }
        findings
    }

    fn notes(&self, services: &Services) -> Vec<String> {
        let mut notes = vec![
            "Redis was killed (SIGKILL) and restarted at once with what it had persisted. The stateful side \
             loses users only per dead node; the stateless side loses every session at once when its store \
             is not durable. The token side (no deny list) keeps no session in Redis and does not notice."
                .to_string(),
        ];
        match &services.redis {
            RedisHandle::Owned(server) => {
                let persistence = server.lock().unwrap().persistence();
                notes.push(format!("Redis persistence: {persistence}. {}", crash_loss(persistence)));
            }
            RedisHandle::External(_) => notes.push(
                "Redis came from --redis-url, so the harness did not kill it: the crash part was skipped \
                 (--redis-persistence applies to the harness's own Redis only)."
                    .to_string(),
            ),
            RedisHandle::None => {}
        }
        notes
    }
}

/// What a killed Redis loses in each persistence mode, in a sentence.
fn crash_loss(persistence: Persistence) -> &'static str {
    match persistence {
        Persistence::None => "Nothing was on disk: every session and cart is gone.",
        Persistence::Snapshot => {
            "The snapshot is written on a clean shutdown only, and there was none: every session and cart is gone."
        }
        Persistence::AofEverySec => {
            "Every write reached the append-only file before the kill, so a killed process loses (nearly) nothing; \
             a machine that loses power loses up to the last second or two not yet flushed to disk."
        }
        Persistence::AofAlways => "Every write was on disk before its answer: nothing acknowledged is lost.",
    }
}
