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
    for shard in ["keys_on_shard_1", "keys_on_shard_2", "keys_on_shard_3"] {
        assert!(common::number(stateless, shard) > 0.0, "sessions did not spread: {:?}", stateless.findings);
    }
    assert!(common::number(stateless, "answers_503_dead_shard") > 0.0, "the dead shard's users did not notice");
    assert_eq!(common::number(stateless, "answers_503_other_shards"), 0.0, "{:?}", stateless.findings);
    assert!(common::number(stateless, "rps_one_redis") > 0.0);
    assert!(common::number(stateless, "rps_redis_cluster") > 0.0);
}
