//! `harness`: runs the scenarios of the project against real server
//! processes and prints what each twin's users lost.
//!
//! Exit status: 0 when the run completed (whatever it measured), 1 when the
//! harness itself failed or a service the run would use does not answer
//! (a `--redis-url` where nothing listens), 2 on bad usage (including a
//! missing `redis-server`, a missing PostgreSQL for the database side, or missing server binaries), 130 on Ctrl-C. Its
//! own warnings and errors go to stderr (`RUST_LOG`, default `warn`).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use harness::arrivals::Skew;
use harness::haproxy::Balance;
use harness::runner::RunArgs;
use harness::{
    Config, DatabaseDurability, Lb, Mix, Persistence, Report, Scenario, Side, output, parse_duration, scenario,
};

#[derive(Parser)]
#[command(name = "harness", version, about = "Real clusters of the twin servers under load: what each user lost")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Node death on every twin side by side, about 30 seconds.
    Demo {
        #[command(flatten)]
        common: Common,
    },
    /// Run one scenario on every selected side.
    Run {
        /// One of the scenarios of `harness list`.
        #[arg(value_parser = scenario::find)]
        scenario: &'static dyn Scenario,
        /// Nodes per side at the start.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
        nodes: u16,
        /// Virtual users per side.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5000))]
        users: u32,
        /// How long users play, per side (15s, 500ms, 1m).
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        duration: Duration,
        /// How the harness's own Redis persists: none, snapshot, aof-everysec, aof-always
        /// [default: aof-everysec for redis-crash, snapshot otherwise]. Ignored with --redis-url.
        #[arg(long, value_parser = parse_persistence)]
        redis_persistence: Option<Persistence>,
        /// Open-loop scenarios (overload, scale-in, capacity): how request rates are spread over
        /// arriving users: uniform, or zipf (a few heavy users) [default: zipf for capacity, uniform otherwise].
        #[arg(long, value_enum)]
        skew: Option<Skew>,
        /// How the database side's PostgreSQL treats the disk: no-fsync, fsync (PostgreSQL's
        /// defaults), async-commit (synchronous_commit off) [default: fsync for database-crash,
        /// no-fsync otherwise].
        #[arg(long, value_enum)]
        database_durability: Option<DatabaseDurability>,
        /// redis-failover: the stateless nodes send `WAIT 1 MS` after every write
        /// (--redis-wait-replicas 1 --redis-wait-timeout-ms MS).
        #[arg(long, value_name = "MS")]
        redis_wait_ms: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// The scenarios, one line each.
    List,
    /// Closed-loop HTTP load on one node per side: req/s, p50/p99 and CPU per request of /healthz, /me and POST /cart.
    Bench(harness::bench::BenchArgs),
}

#[derive(Args)]
struct Common {
    /// Seed of the users' random choices (same seed, same users).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Pause between two requests of one user, jittered ±50 %.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    think: Duration,
    #[command(flatten)]
    files: RunArgs,
    /// Sides to run, comma-separated [default: every side whose binary is built].
    #[arg(long, value_delimiter = ',')]
    sides: Option<Vec<Side>>,
    /// What balances the load: the harness's own router, or a real HAProxy process per side.
    #[arg(long, value_enum, default_value_t = Lb::Harness)]
    lb: Lb,
    /// HAProxy's `balance` algorithm: roundrobin, or source (nginx's ip_hash) [default: roundrobin].
    #[arg(long, value_enum)]
    lb_balance: Option<Balance>,
    /// Kinds of state users exercise, comma-separated: sessions and any of files, jobs, live.
    #[arg(long, default_value = "sessions", value_parser = Mix::parse)]
    mix: Mix,
}

fn parse_persistence(text: &str) -> Result<Persistence, String> {
    text.parse()
}

/// Where the harness's own warnings and errors go: stderr, filtered by
/// `RUST_LOG` (default `warn`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let (config, demo) = match cli.command {
        Command::Bench(args) => return harness::bench::main(args),
        Command::List => {
            let width = scenario::ALL.iter().map(|s| s.name().len()).max().unwrap_or(0);
            for scenario in scenario::ALL {
                println!("{:<width$}  {}", scenario.name(), scenario.summary());
            }
            return ExitCode::SUCCESS;
        }
        Command::Demo { common } => {
            let mut config = Config::new(&scenario::NodeDeath);
            config.duration = Duration::from_secs(8);
            apply(&mut config, common);
            (config, true)
        }
        Command::Run {
            scenario,
            nodes,
            users,
            duration,
            redis_persistence,
            skew,
            database_durability,
            redis_wait_ms,
            common,
        } => {
            let mut config = Config::new(scenario);
            config.skew = skew;
            config.redis_persistence = redis_persistence;
            config.database_durability = database_durability;
            config.redis_wait = redis_wait_ms.map(Duration::from_millis);
            config.nodes = usize::from(nodes);
            config.users = usize::try_from(users).unwrap_or(usize::MAX);
            config.duration = duration;
            apply(&mut config, common);
            (config, false)
        }
    };
    print_intro(&config, demo);
    match harness::run_blocking(&config) {
        Ok(report) => {
            print_report(&report, demo);
            ExitCode::SUCCESS
        }
        Err(e) => harness::exit_for(&e, "harness"),
    }
}

fn apply(config: &mut Config, common: Common) {
    config.seed = common.seed;
    config.think = common.think;
    config.redis_url = common.files.redis_url;
    config.out_dir = Some(common.files.out);
    config.json = common.files.json;
    config.sides = common.sides;
    config.bin_dir = common.files.bin_dir;
    config.lb = common.lb;
    config.lb_balance = common.lb_balance;
    config.mix = common.mix;
    config.progress = true;
}

fn print_intro(config: &Config, demo: bool) {
    if demo {
        println!(
            "Demo: {} nodes per twin, {} users each, one node is killed (SIGKILL) a third of the way in.",
            config.nodes, config.users
        );
        println!("Sides run one after another, {} s each, same users and seed.", config.duration.as_secs_f64());
    } else if let Some(open) = config.scenario.open_loop(config) {
        println!(
            "{}: {} nodes at start, open-loop users arriving (up to {:.0} requests/s, {} users), {:.1} s per side, seed {}",
            config.scenario,
            config.scenario.nodes_at_start(config),
            open.rate.peak(),
            open.skew,
            config.duration.as_secs_f64(),
            config.seed
        );
    } else {
        println!(
            "{}: {} nodes, {} users, {:.1} s per side, seed {}",
            config.scenario,
            config.nodes,
            config.users,
            config.duration.as_secs_f64(),
            config.seed
        );
    }
    if config.mix.is_mixed() {
        println!("Users exercise: {} (one ledger per kind of state).", config.mix);
    }
    if config.lb == Lb::Haproxy {
        println!(
            "Load balancer: a real HAProxy per side (balance {}); its configuration is written to --out.",
            config.lb_balance.unwrap_or_default()
        );
    }
    println!();
}

fn print_report(report: &Report, demo: bool) {
    println!("{}", output::table(report));
    let verdict = output::verdict(report);
    if demo {
        println!("What happened:");
    }
    for line in verdict {
        println!("  {line}");
    }
    println!();
    if let Some(chart) = &report.chart {
        println!("chart:  {}", chart.display());
    }
    for chart in &report.more_charts {
        println!("chart:  {}", chart.display());
    }
    if let Some(json) = &report.json {
        println!("report: {}", json.display());
    }
}
