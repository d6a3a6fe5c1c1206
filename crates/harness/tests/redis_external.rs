//! With `--redis-url` the Redis belongs to someone else: redis-outage uses it
//! but never stops it, and says so.

use std::time::Duration;

use harness::{Config, Side, scenario};
use local_redis::RedisServer;

#[test]
fn an_external_redis_is_used_but_never_stopped() {
    let mut redis = RedisServer::start().unwrap();
    let mut config = Config::new(&scenario::RedisOutage);
    config.nodes = 2;
    config.users = 10;
    config.duration = Duration::from_secs(2);
    config.sides = Some(vec![Side::Stateless]);
    config.redis_url = Some(redis.url());
    let report = harness::run_blocking(&config).unwrap();

    assert!(redis.is_running());
    assert_eq!(redis.command(&["PING"]).unwrap(), "PONG");
    // The sessions went to this Redis.
    assert!(redis.command(&["DBSIZE"]).unwrap().parse::<u64>().unwrap() >= 10);
    let side = report.side(Side::Stateless).unwrap();
    assert!(side.events.is_empty(), "{:?}", side.events);
    assert_eq!(side.failed_requests, 0);
    assert!(report.notes.iter().any(|n| n.contains("skipped")), "{:?}", report.notes);
}
