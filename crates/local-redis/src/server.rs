//! One `redis-server` process: started, stopped, killed, frozen, restarted.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{INSTALL_HINT, command, free_port, is_installed, path_arg, ping};

/// How long a fresh `redis-server` gets to answer its first `PING`.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// Where Redis 7 puts its append-only files, inside the server's directory
/// (its default `appenddirname`).
const AOF_DIR: &str = "appendonlydir";

/// How a [`RedisServer`] keeps its data on disk, and so what a crash
/// ([`RedisServer::kill`]) takes with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Persistence {
    /// Nothing on disk, not even on a clean stop (`SHUTDOWN NOSAVE`): any
    /// restart starts empty, as a cache would.
    None,
    /// An RDB snapshot written only by a clean stop (`SHUTDOWN SAVE`); no
    /// periodic `save` points. A crash loses everything written since the
    /// last clean stop.
    #[default]
    Snapshot,
    /// Append-only file (`--appendonly yes --appendfsync everysec`): every
    /// write command reaches the file (the kernel's page cache) right after
    /// it runs, and is flushed to the disk once a second. A killed process
    /// loses (nearly) nothing; a machine that loses power loses up to the
    /// last second or two.
    AofEverySec,
    /// Append-only file with `--appendfsync always`: each write is flushed to
    /// the disk before its reply is sent, which costs an fsync per write.
    AofAlways,
}

impl Persistence {
    /// Every mode, from least to most durable.
    pub const ALL: &'static [Persistence] =
        &[Persistence::None, Persistence::Snapshot, Persistence::AofEverySec, Persistence::AofAlways];

    /// The name used on command lines: `none`, `snapshot`, `aof-everysec`, `aof-always`.
    pub fn name(self) -> &'static str {
        match self {
            Persistence::None => "none",
            Persistence::Snapshot => "snapshot",
            Persistence::AofEverySec => "aof-everysec",
            Persistence::AofAlways => "aof-always",
        }
    }

    /// Whether writes go to an append-only file.
    pub fn is_aof(self) -> bool {
        matches!(self, Persistence::AofEverySec | Persistence::AofAlways)
    }

    /// The `redis-server` options of this mode.
    fn args(self) -> Vec<&'static str> {
        // No background saves in any mode: a snapshot is written on a clean
        // stop only, so what a crash loses does not depend on timing.
        let mut args = vec!["--save", ""];
        match self {
            Persistence::None | Persistence::Snapshot => args.extend(["--appendonly", "no"]),
            Persistence::AofEverySec => args.extend(["--appendonly", "yes", "--appendfsync", "everysec"]),
            Persistence::AofAlways => args.extend(["--appendonly", "yes", "--appendfsync", "always"]),
        }
        args
    }
}

impl std::fmt::Display for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Persistence {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Persistence::ALL.iter().copied().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<_> = Persistence::ALL.iter().map(|p| p.name()).collect();
            format!("unknown Redis persistence `{s}` (expected one of: {})", names.join(", "))
        })
    }
}

/// A `redis-server` process owned by this one.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    persistence: Persistence,
    launch: Launch,
    child: Option<Child>,
}

/// What a member of a topology adds to the plain server's command line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Launch {
    /// Before every other argument: a configuration file, `--sentinel`.
    pub(crate) first: Vec<String>,
    /// After the others: `--replicaof`, `--cluster-enabled`.
    pub(crate) last: Vec<String>,
    /// What the log calls this process, in errors.
    pub(crate) name: &'static str,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it
    /// answers `PING`.
    ///
    /// Data survives [`stop`](Self::stop) and [`start_again`](Self::start_again)
    /// (an RDB file in the temporary directory), as it would for a Redis
    /// configured to persist; it does not survive [`kill`](Self::kill).
    /// That is [`Persistence::Snapshot`]; see [`start_with`](Self::start_with).
    pub fn start() -> io::Result<Self> {
        Self::start_with(Persistence::Snapshot)
    }

    /// Starts `redis-server` as [`start`](Self::start) does, keeping its data
    /// as `persistence` says: that decides what [`start_again`](Self::start_again)
    /// finds after a [`kill`](Self::kill) or a [`stop`](Self::stop).
    pub fn start_with(persistence: Persistence) -> io::Result<Self> {
        Self::start_as(persistence, free_port, |_, _| Ok(Launch { name: "redis-server", ..Launch::default() }))
    }

    /// Starts a server on a port `port` picks, with the extra arguments
    /// `launch` gives for that port and directory (it may write a
    /// configuration file there).
    pub(crate) fn start_as(
        persistence: Persistence,
        port: impl Fn() -> io::Result<u16>,
        launch: impl Fn(&Path, u16) -> io::Result<Launch>,
    ) -> io::Result<Self> {
        if !is_installed() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("redis-server is not installed; install it with `{INSTALL_HINT}`"),
            ));
        }
        // A port that was free a moment ago can be taken before Redis binds
        // it; try a few before giving up.
        let mut last_error = None;
        for _ in 0..5 {
            let port = port()?;
            let dir = tempfile::Builder::new().prefix("local-redis-").tempdir()?;
            let launch = launch(dir.path(), port)?;
            let mut server = RedisServer { port, dir, persistence, launch, child: None };
            match server.start_again() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    /// The process id while it runs (to read its CPU time, for example).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The loopback port Redis listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`, for clients.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The directory that holds this server's data files and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// How this server keeps its data.
    pub fn persistence(&self) -> Persistence {
        self.persistence
    }

    /// The append-only files' directory, when the mode writes one: Redis 7
    /// keeps a base file, the increments and a manifest in `appendonlydir`
    /// (Redis 6 wrote one `appendonly.aof` beside it, in [`dir`](Self::dir)).
    pub fn aof_dir(&self) -> Option<PathBuf> {
        self.persistence.is_aof().then(|| self.dir.path().join(AOF_DIR))
    }

    /// Whether the process is running (it may still be frozen).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server again on the same port with the data its
    /// [`Persistence`] kept. Does nothing to a server that is running.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let child = Command::new("redis-server")
            .args(&self.launch.first)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--dir", &path_arg(self.dir.path())])
            .args(["--dbfilename", "dump.rdb"])
            .args(["--logfile", "redis.log"])
            .args(self.persistence.args())
            .args(["--daemonize", "no"])
            .args(&self.launch.last)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if ping(self.port).is_ok() {
                return Ok(());
            }
            if !self.is_running() {
                self.child = None;
                return Err(io::Error::other(format!(
                    "{} exited at start on port {}: {}",
                    self.launch.name,
                    self.port,
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                let name = self.launch.name;
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{name} did not answer PING within 10 s")));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A clean shutdown, as an operator's restart would do: `SHUTDOWN SAVE`
    /// (the data is kept), or `SHUTDOWN NOSAVE` with [`Persistence::None`].
    /// Waits until the process has exited.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        self.thaw_pid(&child);
        let save = if self.persistence == Persistence::None { "NOSAVE" } else { "SAVE" };
        let asked = command(self.port, &["SHUTDOWN", save]).is_ok();
        if !asked {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// SIGKILL: the process dies at once, losing what it had not written to
    /// a file. (What it had written survives in the kernel's page cache even
    /// if not yet flushed to the disk: this is a crashed process, not a
    /// machine that lost power.) Waits until the process has exited.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process keeps its socket but answers nothing, like a
    /// server stuck in a long command or a network partition.
    pub fn freeze(&self) {
        if let Some(child) = &self.child {
            let _ = kill(pid(child), Signal::SIGSTOP);
        }
    }

    /// SIGCONT: undoes [`freeze`](Self::freeze).
    pub fn thaw(&self) {
        if let Some(child) = &self.child {
            self.thaw_pid(child);
        }
    }

    fn thaw_pid(&self, child: &Child) {
        let _ = kill(pid(child), Signal::SIGCONT);
    }

    /// Runs one Redis command and returns its reply as text (for tests and
    /// diagnostics; not a client library).
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        command(self.port, args)
    }

    /// The last line of its log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
        log.lines().last().unwrap_or("no log").to_string()
    }
}

fn pid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            self.thaw_pid(child);
        }
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_survives_a_clean_stop_but_not_a_kill() {
        let mut redis = RedisServer::start().unwrap();
        assert_ne!(redis.port(), 6379);
        redis.command(&["SET", "k", "v"]).unwrap();
        redis.stop();
        assert!(ping(redis.port()).is_err(), "stopped Redis still answers");
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["GET", "k"]).unwrap(), "v");
        redis.kill();
        redis.start_again().unwrap();
        // The RDB from the clean stop is still there, the later state is not.
        redis.command(&["SET", "k", "w"]).unwrap();
        redis.kill();
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["GET", "k"]).unwrap(), "v");
    }

    #[test]
    fn without_persistence_a_kill_or_a_clean_stop_loses_every_key() {
        let mut redis = RedisServer::start_with(Persistence::None).unwrap();
        redis.command(&["SET", "k", "v"]).unwrap();
        redis.kill();
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["GET", "k"]).unwrap(), "", "a key survived a crash with nothing on disk");
        redis.command(&["SET", "k", "v"]).unwrap();
        redis.stop();
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["DBSIZE"]).unwrap(), "0", "a key survived a restart with nothing on disk");
    }

    #[test]
    fn aof_always_keeps_a_key_written_just_before_the_kill() {
        let mut redis = RedisServer::start_with(Persistence::AofAlways).unwrap();
        for i in 0..50 {
            redis.command(&["SET", &format!("k{i}"), "v"]).unwrap();
        }
        redis.command(&["SET", "last", "v"]).unwrap();
        redis.kill();
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["GET", "last"]).unwrap(), "v");
        assert_eq!(redis.command(&["DBSIZE"]).unwrap(), "51");
    }

    #[test]
    fn aof_everysec_keeps_what_reached_the_file_before_the_kill() {
        let mut redis = RedisServer::start_with(Persistence::AofEverySec).unwrap();
        redis.command(&["SET", "older", "kept"]).unwrap();
        // How much of the last second a crash loses depends on timing; what
        // reached the file must come back.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !aof_contains(&redis, "older") {
            assert!(Instant::now() < deadline, "the key never reached the append-only file");
            std::thread::sleep(Duration::from_millis(10));
        }
        redis.kill();
        redis.start_again().unwrap();
        assert_eq!(redis.command(&["GET", "older"]).unwrap(), "kept");
    }

    #[test]
    fn persistence_names_read_back() {
        for &mode in Persistence::ALL {
            assert_eq!(mode.name().parse::<Persistence>().unwrap(), mode);
        }
        assert!("fsync".parse::<Persistence>().is_err());
    }

    /// Whether any append-only file holds `needle`.
    fn aof_contains(redis: &RedisServer, needle: &str) -> bool {
        let dirs = [redis.dir().to_path_buf(), redis.aof_dir().unwrap()];
        dirs.iter().filter_map(|d| std::fs::read_dir(d).ok()).flatten().flatten().any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.contains(".aof")
                && std::fs::read(entry.path())
                    .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
    }

    #[test]
    fn dropping_the_handle_stops_the_process() {
        let redis = RedisServer::start().unwrap();
        let port = redis.port();
        drop(redis);
        assert!(ping(port).is_err());
    }
}
