//! A private PostgreSQL for tests, examples, benchmarks and the harness.
//!
//! Everything in this project that needs a database starts its own: a fresh
//! cluster made by `initdb` in a temporary directory, a server on a free
//! loopback port (never 5432, which may belong to someone else) and a unix
//! socket inside that directory, trust authentication for one private user
//! ([`USER`]), stopped when the [`PostgresServer`] is dropped. A test can
//! also take the database away the ways production does:
//! [`PostgresServer::kill`] (a crash), [`PostgresServer::stop`] (a clean,
//! fast shutdown), [`PostgresServer::freeze`] (a hung server that still
//! holds its sockets), and bring it back on the same port with its data with
//! [`PostgresServer::start_again`].
//!
//! # Choices
//!
//! - **Binaries.** Debian installs PostgreSQL's programs outside the `PATH`
//!   (`/usr/lib/postgresql/VERSION/bin`). [`bin_dir`] asks `pg_config
//!   --bindir`, then takes the newest `/usr/lib/postgresql/*/bin`, then an
//!   `initdb` on the `PATH` (following its symlink).
//! - **The server is a child process.** `initdb` makes the cluster; the
//!   server runs as `postgres -D …` started directly, not through `pg_ctl
//!   start`: `pg_ctl` detaches the server into a session of its own, where
//!   the terminal's Ctrl-C no longer reaches it. As a child in this
//!   process's group the server gets Ctrl-C too (a fast shutdown). Stopping
//!   uses the signals `pg_ctl stop` sends: SIGINT (fast) and SIGQUIT
//!   (immediate).
//! - **Nothing left running.** A small watchdog (`sh`) reads a pipe from
//!   this process; when this process ends in any way, even SIGKILL, the pipe
//!   closes and the watchdog stops the server and removes its directory. So
//!   a server shared by a whole test binary ([`PostgresServer::shared`]),
//!   which no `Drop` ever stops, does not outlive it either.
//! - **Root.** PostgreSQL refuses to run as root. When this process is
//!   root, `initdb` and the server run as the `postgres` system user that
//!   Debian's package creates (through `setpriv`), in a temporary directory
//!   handed to that user; clients (this process, `psql`) connect as before.
//! - **Durability.** [`Durability::NoFsync`] (the default) turns `fsync`
//!   off: nothing waits for the disk, which makes tests fast and loses
//!   nothing when only the *process* dies ([`kill`](PostgresServer::kill)):
//!   what was written is in the kernel's page cache. [`Durability::Fsync`]
//!   is PostgreSQL's own default, for runs that measure what a commit costs.
//!
//! The API is blocking on purpose, as `local-redis`'s is: starting a
//! process is not the part anyone wants to measure.

use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User};

/// The command that installs PostgreSQL on Debian, for error messages.
pub const INSTALL_HINT: &str = "apt-get install -y postgresql";

/// The one user of a private server: its superuser, trusted without a
/// password on loopback and on the unix socket.
pub const USER: &str = "sessions";

/// The database every cluster starts with.
pub const DATABASE: &str = "postgres";

/// How long `initdb` plus a first start may take.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The system user the server runs as when this process is root.
const SYSTEM_USER: &str = "postgres";

/// How a [`PostgresServer`] treats the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// `fsync = off`: no commit waits for the disk. A killed server loses
    /// nothing it had committed (the kernel still holds the writes); a
    /// machine that lost power could lose anything. Fast; for tests.
    #[default]
    NoFsync,
    /// PostgreSQL's defaults: each commit waits until its WAL record is on
    /// the disk (`fsync = on`, `synchronous_commit = on`).
    Fsync,
}

/// A PostgreSQL server process owned by this one.
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The user the server runs as, when this process is root.
    run_as: Option<User>,
    durability: Durability,
    child: Option<Child>,
    /// The watchdog's pipe: closing it (this process ending) stops the server.
    watchdog: Option<(Child, ChildStdin)>,
}

impl PostgresServer {
    /// Makes a cluster with `initdb` and starts it on a free loopback port
    /// with `fsync` off ([`Durability::NoFsync`]); waits until it accepts
    /// connections.
    pub fn start() -> io::Result<Self> {
        Self::start_with(Durability::NoFsync)
    }

    /// As [`start`](Self::start), with the durability asked for.
    pub fn start_with(durability: Durability) -> io::Result<Self> {
        let Some(bin) = bin_dir() else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("PostgreSQL is not installed; install it with `{INSTALL_HINT}`"),
            ));
        };
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = User::from_name(SYSTEM_USER).map_err(io::Error::from)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("PostgreSQL refuses to run as root, and there is no `{SYSTEM_USER}` user to run it as"),
                )
            })?;
            Some(user)
        } else {
            None
        };
        let dir = tempfile::Builder::new().prefix("local-postgres-").tempdir()?;
        if let Some(user) = &run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
        }
        let mut server = PostgresServer { port: 0, dir, bin, run_as, durability, child: None, watchdog: None };
        server.initdb()?;
        // A port that was free a moment ago can be taken before the server
        // binds it; try a few before giving up.
        let mut last_error = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.start_again() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("postgres did not start")))
    }

    /// One server for the whole test binary (or bench), started on first
    /// use. Cases that share it each take a database of their own
    /// ([`create_database`](Self::create_database)). It cannot be stopped or
    /// frozen (that needs `&mut`): a case that takes the database away starts
    /// its own. The watchdog stops it when the process ends.
    pub fn shared() -> io::Result<&'static PostgresServer> {
        static SHARED: OnceLock<Result<PostgresServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| PostgresServer::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))
    }

    /// The server's process id while it runs (to read its CPU time, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://sessions@127.0.0.1:PORT/postgres`, for clients.
    pub fn url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// The URL of another database on this server.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The directory that holds the cluster (`data/`), the server's log and
    /// its unix socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How this server treats the disk.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether the server process is running (it may be frozen).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Creates a new, empty database with a unique name and returns its URL:
    /// cases that share one server each take one.
    pub fn create_database(&self) -> io::Result<String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("db_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql(DATABASE, &format!("CREATE DATABASE {name}"))?;
        Ok(self.url_of(&name))
    }

    /// Runs SQL (or a `psql` meta-command such as `\d sessions`) in
    /// `database` with `psql` over the unix socket and returns what it printed,
    /// unaligned, tuples only when it is a query. For tests and diagnostics.
    pub fn psql(&self, database: &str, sql: &str) -> io::Result<String> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", USER, "-d", database, "-c", sql])
            .args(if sql.starts_with('\\') { &[][..] } else { &["-A", "-t"][..] })
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            let error = String::from_utf8_lossy(&output.stderr);
            return Err(io::Error::other(format!("psql: {}", error.trim())));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_string())
    }

    /// Starts the server again on the same port with the data it kept
    /// (after a crash, PostgreSQL replays its WAL first). Does nothing to a
    /// server that is running.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("postgres.log"))?;
        let fsync = match self.durability {
            Durability::NoFsync => "off",
            Durability::Fsync => "on",
        };
        let socket_dir = self.dir.path().to_string_lossy().into_owned();
        let child = self
            .as_server_user(&self.bin.join("postgres"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("unix_socket_directories={socket_dir}")])
            .args(["-c", &format!("fsync={fsync}")])
            .args(["-c", &format!("full_page_writes={fsync}")])
            .args(["-c", "max_connections=300", "-c", "shared_buffers=32MB"])
            .args(["-c", "logging_collector=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let pid = child.id();
        self.child = Some(child);
        self.watchdog = Some(watchdog(pid, self.dir.path())?);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if self.is_ready(pid) {
                return Ok(());
            }
            if !self.is_running() {
                self.child = None;
                self.end_watchdog();
                return Err(io::Error::other(format!(
                    "postgres exited at start on port {}: {}",
                    self.port,
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(io::ErrorKind::TimedOut, "postgres did not become ready within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A clean, fast shutdown (SIGINT, what `pg_ctl stop -m fast` sends):
    /// clients are disconnected, the data is checkpointed. Waits until the
    /// server has exited.
    pub fn stop(&mut self) {
        self.end(Signal::SIGINT);
    }

    /// A crash: SIGKILL to the server and every process it started. What
    /// was committed survives (the WAL is replayed on the next start).
    /// Waits until the server has exited.
    pub fn kill(&mut self) {
        self.end(Signal::SIGKILL);
    }

    /// SIGSTOP to the server and every process it started: it keeps its
    /// sockets (a client's connect is even accepted by the kernel) but
    /// answers nothing, like a hung machine or a partition.
    pub fn freeze(&mut self) {
        if let Some(child) = &self.child {
            let main = pid(child.id());
            let _ = kill(main, Signal::SIGSTOP);
            for worker in children_of(main) {
                let _ = kill(worker, Signal::SIGSTOP);
            }
        }
    }

    /// SIGCONT: undoes [`freeze`](Self::freeze).
    pub fn thaw(&mut self) {
        if let Some(child) = &self.child {
            let main = pid(child.id());
            for worker in children_of(main) {
                let _ = kill(worker, Signal::SIGCONT);
            }
            let _ = kill(main, Signal::SIGCONT);
        }
    }

    /// Sends `signal` to the server (and, for SIGKILL, to every process it
    /// started), waits for it to exit and ends the watchdog.
    fn end(&mut self, signal: Signal) {
        self.thaw();
        if let Some(mut child) = self.child.take() {
            let main = pid(child.id());
            let workers = if signal == Signal::SIGKILL { children_of(main) } else { Vec::new() };
            let _ = kill(main, signal);
            for worker in workers {
                let _ = kill(worker, signal);
            }
            let _ = child.wait();
        }
        self.end_watchdog();
    }

    fn end_watchdog(&mut self) {
        if let Some((mut watchdog, _pipe)) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `program`, run as the system user when this process is root.
    fn as_server_user(&self, program: &Path) -> Command {
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={}", user.uid))
                    .arg(format!("--regid={}", user.gid))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(program)
                    .env("HOME", self.dir.path());
                command
            }
            None => Command::new(program),
        }
    }

    fn initdb(&self) -> io::Result<()> {
        let output = self
            .as_server_user(&self.bin.join("initdb"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", USER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()?;
        if output.status.success() {
            return Ok(());
        }
        let error = String::from_utf8_lossy(&output.stderr);
        Err(io::Error::other(format!("initdb failed: {}", error.trim())))
    }

    /// Whether the server with process id `pid` says it accepts
    /// connections: the status line of `postmaster.pid` reads `ready`.
    fn is_ready(&self, pid: u32) -> bool {
        let Ok(lock) = std::fs::read_to_string(self.data_dir().join("postmaster.pid")) else {
            return false;
        };
        let lines: Vec<&str> = lock.lines().collect();
        lines.first() == Some(&pid.to_string().as_str()) && lines.get(7).is_some_and(|s| s.trim() == "ready")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no log").to_string()
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Immediate: nothing here needs a checkpoint, and the directory goes.
        self.end(Signal::SIGQUIT);
    }
}

/// Where PostgreSQL's programs are: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`, else the directory of an `initdb` on the
/// `PATH`. `None` when none holds both `initdb` and `postgres`.
pub fn bin_dir() -> Option<PathBuf> {
    let complete = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| complete(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("initdb"))
        .filter(|initdb| initdb.is_file())
        .filter_map(|initdb| Some(std::fs::canonicalize(initdb).ok()?.parent()?.to_path_buf()))
        .find(|dir| complete(dir))
}

/// Whether PostgreSQL's server programs (`initdb`, `postgres`) are installed.
pub fn is_installed() -> bool {
    bin_dir().is_some()
}

/// A loopback TCP port that was free when asked. Another process may take it
/// before the caller binds it; callers that can, retry.
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn pid(id: u32) -> Pid {
    Pid::from_raw(i32::try_from(id).unwrap_or(i32::MAX))
}

/// The processes whose parent is `parent` (the server's workers and
/// connection backends), from `/proc`.
fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let child = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces or parentheses.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let ppid = after_comm.split_whitespace().nth(1)?.parse::<i32>().ok()?;
            (ppid == parent.as_raw()).then(|| Pid::from_raw(child))
        })
        .collect()
}

/// Starts the watchdog of the server `pid` in `dir`: a shell that waits for
/// its standard input to close (this process ended, or the handle let it
/// go), then stops the server at once and removes the directory. It ignores
/// Ctrl-C, which the server itself gets.
fn watchdog(server: u32, dir: &Path) -> io::Result<(Child, ChildStdin)> {
    let script = r#"trap '' INT TERM HUP
read -r _ignored
kill -QUIT "$1" 2>/dev/null
while kill -0 "$1" 2>/dev/null; do sleep 0.05; done
rm -rf -- "$2""#;
    let mut child = Command::new("sh")
        .args(["-c", script, "local-postgres-watchdog", &server.to_string()])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut pipe = child.stdin.take().ok_or_else(|| io::Error::other("watchdog without stdin"))?;
    // Nothing is ever written; an empty write checks the pipe is open.
    pipe.write_all(b"")?;
    Ok((child, pipe))
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    fn accepts(port: u16) -> bool {
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(500)).is_ok()
    }

    #[test]
    fn committed_rows_survive_a_clean_stop_and_a_crash() {
        let mut pg = PostgresServer::start().unwrap();
        assert_ne!(pg.port(), 5432);
        pg.psql(DATABASE, "CREATE TABLE t (v text); INSERT INTO t VALUES ('a')").unwrap();
        pg.stop();
        assert!(!accepts(pg.port()), "a stopped server still accepts connections");
        pg.start_again().unwrap();
        pg.psql(DATABASE, "INSERT INTO t VALUES ('b')").unwrap();
        pg.kill();
        assert!(!accepts(pg.port()), "a killed server still accepts connections");
        pg.start_again().unwrap();
        assert_eq!(pg.psql(DATABASE, "SELECT string_agg(v, ',' ORDER BY v) FROM t").unwrap(), "a,b");
    }

    #[test]
    fn the_server_listens_on_loopback_only_and_is_not_run_as_root() {
        let pg = PostgresServer::start().unwrap();
        assert_eq!(pg.psql(DATABASE, "SHOW listen_addresses").unwrap(), "127.0.0.1");
        assert_eq!(pg.psql(DATABASE, "SHOW fsync").unwrap(), "off");
        let status = std::fs::read_to_string(format!("/proc/{}/status", pg.pid().unwrap())).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().split_whitespace().nth(1).unwrap();
        let expected = match &pg.run_as {
            Some(user) => user.uid,
            None => nix::unistd::geteuid(),
        };
        assert_eq!(uid, expected.to_string());
        assert_ne!(uid, "0", "postgres runs as root");
    }

    #[test]
    fn a_frozen_server_accepts_nothing_until_thawed() {
        let mut pg = PostgresServer::start().unwrap();
        pg.freeze();
        let started = Instant::now();
        let mut psql = Command::new(pg.bin.join("psql"))
            .args(["-X", "-h", "127.0.0.1", "-p", &pg.port().to_string(), "-U", USER, "-d", DATABASE, "-c", "SELECT 1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(psql.try_wait().unwrap().is_none(), "a frozen server answered");
        pg.thaw();
        assert!(psql.wait().unwrap().success(), "the thawed server did not answer the waiting client");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn each_created_database_starts_empty() {
        let pg = PostgresServer::start().unwrap();
        let first = pg.create_database().unwrap();
        let second = pg.create_database().unwrap();
        assert_ne!(first, second);
        let name = |url: &str| url.rsplit('/').next().unwrap().to_string();
        pg.psql(&name(&first), "CREATE TABLE t (v int)").unwrap();
        assert_eq!(pg.psql(&name(&second), "SELECT count(*) FROM pg_tables WHERE tablename = 't'").unwrap(), "0");
    }

    #[test]
    fn dropping_the_handle_stops_the_server_and_removes_its_directory() {
        let pg = PostgresServer::start().unwrap();
        let (port, dir, server) = (pg.port(), pg.dir().to_path_buf(), pid(pg.pid().unwrap()));
        drop(pg);
        assert!(!accepts(port));
        assert!(kill(server, None).is_err(), "the server process is still there");
        assert!(!dir.exists());
    }

    #[test]
    fn when_this_process_ends_the_watchdog_stops_the_server() {
        let mut pg = PostgresServer::start().unwrap();
        let server = pid(pg.pid().unwrap());
        // What the end of this process does: the watchdog's pipe closes.
        let (mut watchdog, pipe) = pg.watchdog.take().unwrap();
        drop(pipe);
        let deadline = Instant::now() + Duration::from_secs(10);
        while kill(server, None).is_ok() && pg.is_running() {
            assert!(Instant::now() < deadline, "the server outlived its watchdog's pipe");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(watchdog.wait().unwrap().success());
        assert!(!pg.dir().exists(), "the watchdog left the directory");
    }

    #[test]
    fn the_binaries_are_found() {
        let dir = bin_dir().expect(INSTALL_HINT);
        assert!(dir.join("pg_ctl").is_file() && dir.join("psql").is_file());
    }
}
