//! redis-crash: Redis is SIGKILLed and restarted at once. What comes back is
//! what its persistence kept: without persistence every stateless session is
//! gone at once; with an append-only file flushed before every answer,
//! nobody is logged out. The stateful twin and the token twin (no deny list)
//! do not use Redis and do not notice either way.

use crate::common;
use std::time::Duration;

use harness::metrics::EventKind;
use harness::{Config, Persistence, Report, Side, scenario};

fn run(persistence: Persistence, sides: &[Side], redis_url: Option<String>) -> Report {
    let mut config = Config::new(&scenario::RedisCrash);
    config.nodes = 3;
    config.users = 24;
    config.duration = Duration::from_secs(4);
    config.sides = Some(sides.to_vec());
    config.redis_persistence = Some(persistence);
    config.redis_url = redis_url;
    harness::run_blocking(&config).unwrap_or_else(|e| {
        panic!("redis-crash failed: {e:#} (are the server binaries built? `cargo build --workspace --bins`)")
    })
}

#[test]
fn without_persistence_the_crash_logs_out_every_stateless_user_at_once() {
    let report = run(Persistence::None, &[Side::Stateful, Side::Stateless, Side::Token], None);

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.findings["redis_persistence"], "none");
    assert!(stateless.events.iter().any(|e| e.kind == EventKind::RedisUp), "Redis was not restarted");
    let logged_in = common::number(stateless, "users_logged_in_at_crash");
    let logged_out = common::number(stateless, "users_logged_out_by_crash");
    assert!(logged_in >= 20.0, "only {logged_in} users had logged in before the crash");
    // Nearly all: a user whose only request in flight was the one the
    // crash cut off may not have asked again before the run ended.
    assert!(logged_out >= logged_in * 0.9, "{logged_out} of {logged_in} logged-in users were logged out");
    assert!(common::number(stateless, "carts_lost_by_crash") > 0.0);

    for side in [Side::Stateful, Side::Token] {
        let side = common::side(&report, side);
        assert_eq!(side.users_logged_out, 0, "{}", side.side);
        assert_eq!(side.carts_lost, 0, "{}", side.side);
        assert_eq!(side.failed_requests, 0, "{}", side.side);
    }
}

#[test]
fn with_aof_always_the_crash_logs_nobody_out() {
    let report = run(Persistence::AofAlways, &[Side::Stateful, Side::Stateless], None);

    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.findings["redis_persistence"], "aof-always");
    assert!(stateless.events.iter().any(|e| e.kind == EventKind::RedisDown), "Redis was not killed");
    assert!(common::number(stateless, "users_logged_in_at_crash") >= 20.0);
    assert_eq!(stateless.users_logged_out, 0, "a session written before the crash was lost");
    // The users kept playing after Redis came back.
    let up = stateless.events.iter().find(|e| e.kind == EventKind::RedisUp).expect("redis came back").t_ms;
    assert!(stateless.timeline.iter().filter(|b| b.t_ms >= up + 1000).map(|b| b.ok).sum::<u64>() > 0);

    let stateful = common::side(&report, Side::Stateful);
    assert_eq!(stateful.users_logged_out, 0);
    assert_eq!(stateful.failed_requests, 0);
}

#[test]
fn a_redis_the_harness_does_not_own_is_not_killed() {
    let mut redis = local_redis::RedisServer::start_with(Persistence::None).unwrap();
    redis.command(&["SET", "owner", "someone else"]).unwrap();
    let report = run(Persistence::None, &[Side::Stateless], Some(redis.url()));

    let stateless = common::side(&report, Side::Stateless);
    assert!(stateless.findings.contains_key("crash_skipped"), "{:?}", stateless.findings);
    assert_eq!(stateless.users_logged_out, 0);
    assert!(redis.is_running());
    assert_eq!(redis.command(&["GET", "owner"]).unwrap(), "someone else", "the external Redis was restarted");
}
