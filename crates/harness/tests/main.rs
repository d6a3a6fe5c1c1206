//! The harness's tests, in one test binary: the command line, `harness
//! bench`, and every scenario at small size against the real server
//! binaries, which must be built first (`cargo build --workspace --bins`,
//! which `just test` does); the harness finds them in `target/<profile>/`,
//! one level above the test executable.

mod bench;
mod cli;
mod common;
mod concurrent_cart;
mod database;
mod flood;
mod haproxy;
mod key_mismatch;
mod logout_everywhere;
mod logout_replay;
mod mix;
mod node_death;
mod redis_cluster;
mod redis_crash;
mod redis_external;
mod redis_failover;
mod redis_hang;
mod redis_outage;
mod rolling_restart;
mod round_robin;
mod scale_out;
mod scaling;
mod soak;
