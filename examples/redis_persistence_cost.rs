//! What each Redis persistence mode costs a write, measured with
//! `redis-benchmark -t set` against a private `redis-server` per mode.
//!
//! The `redis-crash` scenario shows what each mode keeps when Redis is
//! killed; this shows the price: `aof-always` flushes every write to the
//! disk before it answers, `aof-everysec` once a second, the others never.
//! One line per mode, with one client (each write waits for its own
//! answer) and with 50 (many writes share one flush). The figures depend on
//! the disk far more than on Redis: a VM's virtual disk, a local NVMe drive
//! and a network volume differ by orders of magnitude in flush time.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example redis_persistence_cost
//! ```

use std::process::{Command, ExitCode};

use local_redis::{Persistence, RedisServer};

/// `SET`s per measurement: a few seconds per mode even with `aof-always`.
const REQUESTS: u32 = 20_000;

fn main() -> ExitCode {
    if !local_redis::is_installed() {
        eprintln!("redis-server is not installed; install it with `{}`", local_redis::INSTALL_HINT);
        return ExitCode::from(2);
    }
    println!("redis-benchmark -t set -r 100000 -n {REQUESTS}, one private redis-server per persistence mode:");
    for &persistence in Persistence::ALL {
        let server = match RedisServer::start_with(persistence) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot start redis-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut cells = Vec::new();
        for clients in [1, 50] {
            match set_benchmark(server.port(), clients) {
                Ok(figures) => cells.push(format!("{clients} clients {figures}")),
                Err(e) => {
                    eprintln!("redis-benchmark failed: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("persistence {:<13} {}", persistence.name(), cells.join("; "));
    }
    ExitCode::SUCCESS
}

/// `N SET/s, p50 X ms, p99 Y ms` for `clients` connections.
fn set_benchmark(port: u16, clients: u32) -> Result<String, String> {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "set", "-r", "100000", "--csv"])
        .args(["-n", &REQUESTS.to_string(), "-c", &clients.to_string()])
        .output()
        .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    let text = String::from_utf8_lossy(&output.stdout);
    let row = text.lines().find(|l| l.starts_with("\"SET\"")).ok_or("no SET row in redis-benchmark's output")?;
    let fields: Vec<&str> = row.split(',').map(|f| f.trim_matches('"')).collect();
    let field = |i: usize| fields.get(i).copied().ok_or("a short row in redis-benchmark's output");
    let rps: f64 = field(1)?.parse().map_err(|_| "an unreadable rate")?;
    Ok(format!("{rps:.0} SET/s, p50 {} ms, p99 {} ms", field(4)?, field(6)?))
}
