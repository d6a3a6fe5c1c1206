//! Sessions on a Redis Cluster: one shard dies, the others do not notice.
//!
//! The stateless twin runs on a cluster of three primaries, each with a
//! replica. Sessions spread over the shards by their key's hash slot; a
//! third of the way in, the primary of shard 1 is SIGKILLed and its replica
//! takes its slots over. This prints the keys each shard held, the 503s
//! counted by the shard of the session each request carried (the other
//! shards' should be 0), and the sustained throughput of one node on the
//! cluster against one node on a single Redis, measured in the same run.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example redis_cluster
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, scenario};

fn main() -> ExitCode {
    println!("One of three Redis primaries is SIGKILLed a third of the way in; 100 users, 9 s.\n");
    let mut config = Config::new(&scenario::RedisClusterShards);
    config.users = 100;
    config.duration = Duration::from_secs(9);
    config.sides = Some(vec![Side::Stateless]);
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };
    let Some(side) = report.side(Side::Stateless) else {
        eprintln!("no stateless row in the report");
        return ExitCode::FAILURE;
    };
    let found = |key: &str| side.findings.get(key).map_or_else(|| "-".to_string(), |v| v.to_string());
    for shard in 1..=3 {
        println!(
            "shard {shard}{}: {} session keys before the kill, {} answers 503",
            if shard == 1 { " (killed)" } else { "" },
            found(&format!("keys_on_shard_{shard}")),
            found(&format!("answers_503_shard_{shard}")),
        );
    }
    println!("logins refused with no session yet: {}", found("answers_503_no_session"));
    println!("the replica served shard 1 again {} ms after the kill", found("promoted_ms_after_kill"));
    println!(
        "\none node, closed loop: {} req/s on one Redis, {} req/s on the cluster ({}x)",
        found("rps_one_redis"),
        found("rps_redis_cluster"),
        found("rps_cluster_over_one_redis"),
    );
    ExitCode::SUCCESS
}
