//! Private Redis deployments for tests, examples, benchmarks and the harness.
//!
//! Everything in this project that needs Redis starts its own: on free
//! loopback ports (never 6379, which may belong to someone else), in
//! temporary directories, and stopped when its handle is dropped. Three
//! shapes, the ones production runs:
//!
//! - [`RedisServer`]: one `redis-server`. A test can take it away the ways
//!   production does: [`RedisServer::kill`] (a crash), [`RedisServer::stop`]
//!   (a clean shutdown that keeps the data), [`RedisServer::freeze`] (a hung
//!   server that still holds its socket), and bring it back on the same port
//!   with [`RedisServer::start_again`]. What comes back after a crash depends
//!   on how it persists its data, chosen with [`RedisServer::start_with`] and
//!   a [`Persistence`].
//! - [`SentinelSet`]: one primary, two replicas and three `redis-sentinel`
//!   processes watching them. Kill the primary and the sentinels promote a
//!   replica; clients that ask the sentinels find the new one.
//! - [`RedisCluster`]: a Redis Cluster of three primaries, each with one
//!   replica, the 16384 hash slots spread over the primaries. Kill a primary
//!   and its replica takes its slots over.
//!
//! Every member of a topology is a [`RedisServer`], so each can be killed,
//! stopped, frozen and restarted like the single one. Dropping the topology
//! stops them all and waits for each process to exit.
//!
//! The API is blocking on purpose: it is used from `#[tokio::test]`s,
//! criterion benches and the harness alike, and starting a process is not
//! the part anyone wants to measure.
//!
//! # Modules
//! - [`server`]: one process, and how it persists.
//! - [`sentinel`]: the replicated set and its sentinels.
//! - [`cluster`]: the cluster.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub mod cluster;
pub mod sentinel;
pub mod server;

pub use cluster::RedisCluster;
pub use sentinel::SentinelSet;
pub use server::{Persistence, RedisServer};

/// The command that installs `redis-server` on Debian, for error messages.
pub const INSTALL_HINT: &str = "apt-get install -y redis-server";

/// The command that installs `redis-sentinel` on Debian, for error messages.
pub const SENTINEL_INSTALL_HINT: &str = "apt-get install -y redis-sentinel";

/// Whether `redis-server` is on the `PATH`.
pub fn is_installed() -> bool {
    runs("redis-server")
}

/// Whether `redis-sentinel` and `redis-cli` (which creates a cluster) are on
/// the `PATH`, beside `redis-server`.
pub fn topologies_installed() -> bool {
    is_installed() && runs("redis-sentinel") && runs("redis-cli")
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A loopback TCP port that was free when asked. Another process may take it
/// before the caller binds it; callers that can, retry.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn path_arg(path: &Path) -> String {
    PathBuf::from(path).to_string_lossy().into_owned()
}

fn ping(port: u16) -> io::Result<()> {
    let reply = command(port, &["PING"])?;
    if reply == "PONG" { Ok(()) } else { Err(io::Error::other(reply)) }
}

/// Polls `ready` every 20 ms until it answers `Some`, or fails after
/// `within` saying what was awaited.
fn wait_for<T>(what: &str, within: Duration, mut ready: impl FnMut() -> Option<T>) -> io::Result<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = ready() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what}: not within {within:?}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends one command in RESP and reads one reply as text (for tests and
/// diagnostics; not a client library): a status, an integer or a bulk
/// string as it is, nil as the empty string, an array as its items, one per
/// line (nested arrays flattened).
fn command(port: u16, args: &[&str]) -> io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut items = Vec::new();
    if !read_reply(&mut reader, &mut items)? {
        // SHUTDOWN closes the connection without a reply.
        return Ok(String::new());
    }
    Ok(items.join("\n"))
}

/// Reads one reply into `items`; `false` if the connection closed first.
fn read_reply(reader: &mut impl BufRead, items: &mut Vec<String>) -> io::Result<bool> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(false);
    }
    let line = line.trim_end();
    match line.split_at_checked(1) {
        Some(("+" | ":", rest)) => items.push(rest.to_string()),
        Some(("-", rest)) => return Err(io::Error::other(rest.to_string())),
        Some(("$", len)) => match len.parse::<usize>() {
            Ok(len) => {
                let mut payload = vec![0; len + 2];
                reader.read_exact(&mut payload)?;
                payload.truncate(len);
                items.push(String::from_utf8_lossy(&payload).into_owned());
            }
            Err(_) => items.push(String::new()), // $-1: nil
        },
        Some(("*", len)) => {
            for _ in 0..len.parse::<usize>().unwrap_or(0) {
                if !read_reply(reader, items)? {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "array cut short"));
                }
            }
        }
        _ => items.push(line.to_string()),
    }
    Ok(true)
}

/// The value of `field` in an `INFO` reply (`role`, `master_port`…).
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':').map(|v| v.trim().to_string()))
}
