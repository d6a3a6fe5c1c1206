//! `redis-cluster`: the stateless twin on a Redis Cluster of three
//! primaries, each with one replica; a third of the way in, one primary is
//! SIGKILLed.
//!
//! A session's key decides its hash slot and its slot its shard, so
//! sessions spread over the three primaries (the script counts the keys on
//! each before the kill). When one primary dies, its replica takes its
//! slots over once the other nodes agree it has failed; until then only the
//! users whose session lives on that shard are refused. The findings count
//! every 503 by the shard of the session key the request carried.
//!
//! After the users are done, a short closed-loop phase measures the
//! sustained throughput of one fresh stateless node on the cluster and of
//! one on a single Redis, in the same run, so the two compare.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use local_redis::RedisCluster;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of, ratio};
use crate::cluster::Cluster;
use crate::metrics::EventKind;
use crate::services::{Services, Topology};
use crate::side::{Backing, Side};

/// The stateless twin's key of a session: this prefix and the `sid`.
const KEY_PREFIX: &str = "session:";
/// How long the cluster gets to fail the dead primary over.
const FAILOVER_WITHIN: Duration = Duration::from_secs(30);
/// Requests in flight at once in the closed-loop phase.
const CLOSED_LOOP_CLIENTS: usize = 16;
/// The longest closed-loop phase on each store.
const CLOSED_LOOP_MAX: Duration = Duration::from_secs(3);
/// The most requests one closed-loop client sends.
const CLOSED_LOOP_MAX_REQUESTS: u64 = 200_000;

/// One primary of a three-primary Redis Cluster is SIGKILLed under load.
#[derive(Debug)]
pub struct RedisClusterShards;

/// One slot of each shard's range as `redis-cli --cluster create` cuts
/// them for three primaries: shard 1 serves slot 0 (and is the one
/// killed), shard 2 slot 5461, shard 3 slot 10923.
const SHARD_SLOTS: [u16; 3] = [0, 5461, 10923];

/// How the sessions spread over the shards before the kill.
#[derive(Serialize)]
struct Spread {
    keys_on_shard_1: u64,
    keys_on_shard_2: u64,
    keys_on_shard_3: u64,
    /// The smallest shard's keys over the largest's (1 is even).
    keys_smallest_over_largest: f64,
}

/// What one shard's failover cost, shard by shard.
#[derive(Serialize)]
struct ShardFindings {
    killed_at_ms: u64,
    /// When every slot was served again, the dead shard's by its replica.
    promoted_ms_after_kill: Option<u64>,
    answers_503: u64,
    /// 503s to requests whose session lives on the shard that died.
    answers_503_dead_shard: u64,
    /// 503s to requests whose session lives on another shard: the claim is
    /// that this stays 0.
    answers_503_other_shards: u64,
    /// 503s to requests with no session (a login whose new key's shard is
    /// not known).
    answers_503_no_session: u64,
    /// 503s by the shard of the session's key (shard 1 died).
    answers_503_shard_1: u64,
    answers_503_shard_2: u64,
    answers_503_shard_3: u64,
    users_logged_out_by_failover: usize,
    carts_lost_by_failover: usize,
}

/// Sustained throughput of one node on each store, measured one after the
/// other with the same closed loop.
#[derive(Serialize)]
struct Throughput {
    closed_loop_ms: u64,
    closed_loop_clients: usize,
    rps_one_redis: f64,
    rps_redis_cluster: f64,
    /// The cluster's requests per second over one Redis's.
    rps_cluster_over_one_redis: f64,
}

#[derive(Serialize)]
struct NotThisSide {
    shard_kill_skipped: &'static str,
}

fn node_name(index: usize) -> String {
    format!("redis-node-{}", index + 1)
}

impl Scenario for RedisClusterShards {
    fn name(&self) -> &'static str {
        "redis-cluster"
    }

    fn summary(&self) -> &'static str {
        "sessions on a three-primary Redis Cluster; one primary is SIGKILLed: only its shard's users notice"
    }

    fn redis_topology(&self) -> Topology {
        Topology::Cluster
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (Side::Stateless, Some(cluster)) = (stage.cluster.side(), &stage.services.redis_cluster) else {
                return Ok(());
            };
            stage.at(1.0 / 3.0).await;
            let (redis, events) = (Arc::clone(cluster), Arc::clone(&stage.events));
            let spread = tokio::task::spawn_blocking(move || {
                let mut redis = redis.lock().unwrap();
                let spread = spread(&redis);
                // Shard 1, which serves slot 0, dies.
                let victim = redis.primary_of_slot(SHARD_SLOTS[0]).context("no primary serves slot 0")?;
                redis.node_mut(victim).kill();
                events.record(EventKind::RedisDown, &node_name(victim));
                redis.wait_until_served(FAILOVER_WITHIN).context("the dead shard was not failed over")?;
                let heir = redis.primary_of_slot(0).context("no primary serves slot 0 after the failover")?;
                events.record(EventKind::Promoted, &node_name(heir));
                anyhow::Ok(spread)
            })
            .await??;
            stage.measure(&spread);

            // After the users: one node on each store, the same closed loop.
            stage.at(1.0).await;
            let single = stage.services.redis.url().context("the run has no single Redis to compare with")?;
            let length = (stage.duration / 4).min(CLOSED_LOOP_MAX);
            let binary = stage.cluster.binary().to_path_buf();
            let one_redis = Backing { redis_url: Some(single), ..Backing::default() };
            let on_cluster = Backing { replicated_redis: stage.services.replicated_store_args(), ..Backing::default() };
            let rps_one_redis = closed_loop(binary.clone(), one_redis, length).await?;
            let rps_redis_cluster = closed_loop(binary, on_cluster, length).await?;
            stage.measure(&Throughput {
                closed_loop_ms: u64::try_from(length.as_millis()).unwrap_or(u64::MAX),
                closed_loop_clients: CLOSED_LOOP_CLIENTS,
                rps_one_redis: rps_one_redis.round(),
                rps_redis_cluster: rps_redis_cluster.round(),
                rps_cluster_over_one_redis: if rps_one_redis > 0.0 {
                    (rps_redis_cluster / rps_one_redis * 1000.0).round() / 1000.0
                } else {
                    0.0
                },
            });
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let (Some(down), Some(redis)) = (run.first(EventKind::RedisDown), &run.services.redis_cluster) else {
            return findings_of(&NotThisSide {
                shard_kill_skipped: "no session in Redis",
            });
        };
        let promoted = run.first(EventKind::Promoted);
        let refusals: Vec<_> = run.users.iter().flat_map(|u| &u.refusals).collect();
        let sids: BTreeSet<&str> = refusals.iter().filter_map(|r| r.sid.as_deref()).collect();
        let shard_of = shards_of(&redis.lock().unwrap(), &sids);
        let (mut per_shard, mut no_session) = ([0_u64; 3], 0);
        for refusal in &refusals {
            match refusal.sid.as_deref().and_then(|sid| shard_of.get(sid)) {
                Some(&shard) => per_shard[shard] += 1,
                None => no_session += 1,
            }
        }
        findings_of(&ShardFindings {
            killed_at_ms: down.t_ms,
            promoted_ms_after_kill: promoted.map(|p| p.t_ms - down.t_ms),
            answers_503: run.sum(|u| u.unavailable),
            answers_503_dead_shard: per_shard[0],
            answers_503_other_shards: per_shard[1] + per_shard[2],
            answers_503_no_session: no_session,
            answers_503_shard_1: per_shard[0],
            answers_503_shard_2: per_shard[1],
            answers_503_shard_3: per_shard[2],
            users_logged_out_by_failover: run.users.iter().filter(|u| u.logouts.iter().any(|l| l.t_ms >= down.t_ms)).count(),
            carts_lost_by_failover: run
                .users
                .iter()
                .filter(|u| u.cart_losses.iter().any(|&t| t >= down.t_ms))
                .count(),
        })
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![
            "The stateless twin ran on a Redis Cluster of three primaries and three replicas \
             (--redis-cluster); the primary serving slot 0 was SIGKILLed a third of the way in, and its \
             replica took its slots over. 503s are counted by the shard of the session key each request \
             carried: the other shards' users should see none."
                .to_string(),
            "rps_one_redis and rps_redis_cluster: one fresh stateless node each, closed loop, after the \
             users were done, on the run's single Redis and on the cluster. On one machine the cluster's \
             primaries share the cores, so this shows what routing costs, not the ceiling three machines \
             would lift."
                .to_string(),
            "The stateful and token sides run unchanged beside it: they keep no session in Redis."
                .to_string(),
        ]
    }
}

/// Keys on each shard's primary, before the kill.
fn spread(redis: &RedisCluster) -> Spread {
    let keys = redis.keys_per_node();
    let on = |slot: u16| redis.primary_of_slot(slot).ok().and_then(|p| keys.get(p).copied().flatten()).unwrap_or(0);
    let counts = SHARD_SLOTS.map(on);
    let smallest = counts.iter().min().copied().unwrap_or(0);
    let largest = counts.iter().max().copied().unwrap_or(0);
    Spread {
        keys_on_shard_1: counts[0],
        keys_on_shard_2: counts[1],
        keys_on_shard_3: counts[2],
        keys_smallest_over_largest: ratio(smallest, largest),
    }
}

/// The shard (0 for shard 1…) of each session's key: the one whose primary
/// serves the key's slot now.
fn shards_of(redis: &RedisCluster, sids: &BTreeSet<&str>) -> BTreeMap<String, usize> {
    let primaries: Vec<Option<usize>> = SHARD_SLOTS.iter().map(|&slot| redis.primary_of_slot(slot).ok()).collect();
    sids.iter()
        .filter_map(|sid| {
            let slot = redis.slot_of(&format!("{KEY_PREFIX}{sid}")).ok()?;
            let primary = redis.primary_of_slot(slot).ok()?;
            Some((sid.to_string(), primaries.iter().position(|&p| p == Some(primary))?))
        })
        .collect()
}

/// Requests per second one fresh stateless node on `backing` answers with
/// 200 for `length`, from [`CLOSED_LOOP_CLIENTS`] clients that each log in
/// and then add items as fast as answers come.
async fn closed_loop(binary: PathBuf, backing: Backing, length: Duration) -> Result<f64> {
    let mut node = Cluster::start(Side::Stateless, binary, backing, 1, None).await?;
    let url = node.nodes()[0].url();
    let client = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
    let served = Arc::new(Mutex::new(0_u64));
    let started = Instant::now();
    let end = started + length;
    let mut clients = tokio::task::JoinSet::new();
    for index in 0..CLOSED_LOOP_CLIENTS {
        let (client, url, served) = (client.clone(), url.clone(), Arc::clone(&served));
        clients.spawn(async move {
            let login = client
                .post(format!("{url}/login"))
                .json(&serde_json::json!({ "user": format!("loop{index}") }))
                .send()
                .await;
            let Some(cookie) = login.ok().and_then(|r| {
                r.headers().get_all(reqwest::header::SET_COOKIE).iter().find_map(|v| {
                    let v = v.to_str().ok()?;
                    v.starts_with("sid=").then(|| v.split(';').next().unwrap_or(v).to_string())
                })
            }) else {
                return;
            };
            let (mut ok, mut sent) = (0, 0);
            while Instant::now() < end && sent < CLOSED_LOOP_MAX_REQUESTS {
                sent += 1;
                let answer = client
                    .post(format!("{url}/cart"))
                    .header(reqwest::header::COOKIE, &cookie)
                    .json(&serde_json::json!({ "item": "tea", "qty": 1 }))
                    .send()
                    .await;
                if answer.is_ok_and(|a| a.status().is_success()) {
                    ok += 1;
                }
            }
            *served.lock().unwrap() += ok;
        });
    }
    while clients.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    node.shutdown().await;
    let served = *served.lock().unwrap();
    Ok(served as f64 / elapsed.max(0.001))
}
