//! redis-cluster: sessions spread over three primaries; one dies, and only
//! the users whose session lives on its shard are refused until its replica
//! takes over.

use crate::common;

use harness::metrics::EventKind;
use harness::{Side, scenario};

#[test]
fn one_dead_shard_refuses_only_its_own_users() {
    let report = common::run_sides(&scenario::RedisClusterShards, &[Side::Stateless], 24, 5);

    let stateless = common::side(&report, Side::Stateless);
    assert!(stateless.events.iter().any(|e| e.kind == EventKind::Promoted), "the dead shard was not failed over");
    let spread = stateless.findings["keys_per_shard"].as_object().expect("keys per shard");
    assert_eq!(spread.len(), 3);
    assert!(spread.values().all(|n| n.as_u64().unwrap_or(0) > 0), "sessions did not spread: {spread:?}");
    assert!(common::number(stateless, "answers_503_dead_shard") > 0.0, "the dead shard's users did not notice");
    assert_eq!(common::number(stateless, "answers_503_other_shards"), 0.0, "{:?}", stateless.findings);
    assert!(common::number(stateless, "rps_one_redis") > 0.0);
    assert!(common::number(stateless, "rps_redis_cluster") > 0.0);
}
