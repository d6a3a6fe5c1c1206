//! `harness bench`'s command line.

use std::process::ExitCode;
use std::time::Duration;

use super::BenchConfig;
use super::report::table;
use crate::parse_duration;
use crate::runner::RunArgs;
use crate::side::Side;

/// `harness bench`'s flags.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Concurrent keep-alive connections, each logged in as its own user.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    connections: u16,
    /// How long each endpoint is measured, per side (5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Answers per measurement (one endpoint, one side, one round) at most, whatever the duration.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_requests: u64,
    /// Measure every endpoint this many times per side, sides alternating; ratios are per-round medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    rounds: u16,
    /// Worker threads per node (1 leaves a core of a 2-core machine to the load generator).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Sides to measure, comma-separated [default: stateful,stateless,token].
    #[arg(long, value_delimiter = ',')]
    sides: Option<Vec<Side>>,
    /// After each measurement, run `wrk -t1` with the same connections and duration on the same node.
    #[arg(long)]
    wrk: bool,
    #[command(flatten)]
    files: RunArgs,
}

/// Runs `harness bench` and returns the exit status (0 done, 1 failed,
/// 2 bad usage, 130 Ctrl-C).
pub fn main(args: BenchArgs) -> ExitCode {
    let config = BenchConfig {
        sides: args.sides,
        connections: usize::from(args.connections),
        duration: args.duration,
        max_requests: args.max_requests,
        rounds: usize::from(args.rounds),
        workers: args.workers,
        redis_url: args.files.redis_url,
        bin_dir: args.files.bin_dir,
        out_dir: Some(args.files.out),
        json: args.files.json,
        wrk: args.wrk,
        progress: true,
    };
    println!(
        "HTTP bench: one node per side ({} worker{}), {} keep-alive connections (one user each), \
         closed loop, {:.1} s per endpoint after a {:.1} s warm-up, {} round{}; one side under load at a time.",
        config.workers,
        if config.workers == 1 { "" } else { "s" },
        config.connections,
        config.duration.as_secs_f64(),
        config.warm_up().as_secs_f64(),
        config.rounds,
        if config.rounds == 1 { "" } else { "s" }
    );
    match super::run_blocking(&config) {
        Ok(report) => {
            println!("\n{}", table(&report));
            if let Some(json) = &report.json {
                println!("report: {}", json.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => crate::exit_for(&e, "harness bench"),
    }
}
