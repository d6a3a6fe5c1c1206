//! A private S3-compatible object store for tests, examples and the harness.
//!
//! The stateless twins keep uploaded files in an object store, so that any
//! node can serve any file and a node can die without taking files with it.
//! Everything in this project that needs one starts its own, as it does
//! Redis: a real server process on a free loopback port, in a temporary
//! directory, with a bucket ready and an access key and secret made up for
//! this run, stopped when the [`S3Server`] is dropped. A test can also take
//! the store away the ways production does: [`S3Server::kill`] (a crash),
//! [`S3Server::stop`] (a clean shutdown), [`S3Server::freeze`] (a hung
//! server that still accepts connections and answers nothing), and bring it
//! back on the same port, with the same objects, with
//! [`S3Server::start_again`].
//!
//! # Which server, and why
//!
//! The server is [`s3s-fs`](https://crates.io/crates/s3s-fs) (Apache-2.0),
//! the file-system S3 server of the `s3s` project: a real S3 endpoint
//! (SigV4 authentication, path-style buckets, `PUT`, streaming `GET`,
//! `HEAD`, `DELETE`, listing, user metadata, multipart) that keeps each
//! bucket as a folder and each object as a file, written to a temporary
//! name and renamed into place, so an object's bytes appear whole or not at
//! all. (Its metadata, such as the content type, is written to a second
//! file just after, before the `PUT` is answered: a client that learns a
//! key from the answer always finds both.) Version 0.14.1 is pinned: it is
//! the newest that builds with this workspace's toolchain.
//!
//! Garage, a distributed object store written in Rust, was the first
//! candidate and was set aside for this role: its `cargo install` builds
//! nearly 300 crates (s3s-fs: about 170), with libsodium, SQLite and LMDB
//! from C sources,
//! and a node must be given a cluster layout, a key and a bucket through
//! its admin CLI before it serves a request. It is also AGPL-3.0. What the
//! project shows (a file kept off the node survives the node and is seen
//! by every node) does not depend on how the store replicates its data.
//!
//! Measured once while this crate was written, on the shared 2-core
//! machine with a load average above 20 from other builds, so only the
//! order of magnitude means anything: `cargo install --locked s3s-fs`
//! cost about 230 s of CPU time (a few minutes of wall-clock time on an
//! idle 2-core machine; 32 minutes on the loaded one), for a 10 MB binary
//! that answers its first request 50 to 160 ms after it is started.
//! Garage's `cargo install --locked garage`, started at the same time at
//! low priority, got too little of the machine to say more than that: it
//! was stopped after 39 minutes, with 77 of its crates built.
//!
//! The API is blocking on purpose, like `local-redis`'s: it is used from
//! `#[tokio::test]`s and the harness alike, and starting a process is not
//! the part anyone wants to measure.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The server's executable, as `cargo install` names it.
pub const BINARY: &str = "s3s-fs";

/// The command that installs the server (the version is pinned so that
/// every machine runs the same server; it builds with this workspace's
/// toolchain).
pub const INSTALL_HINT: &str = "cargo install --locked s3s-fs --version 0.14.1 --features binary";

/// The bucket every [`S3Server`] starts with.
pub const BUCKET: &str = "files";

/// The region the credentials are scoped to. `s3s-fs` accepts any; clients
/// must sign with the one they name.
pub const REGION: &str = "us-east-1";

/// How long a fresh server gets to answer its first request.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// How long a clean stop may take before the process is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// The server's data folder inside its temporary directory (one subfolder
/// per bucket).
const DATA_DIR: &str = "data";

/// The server's log, inside its temporary directory.
const LOG_FILE: &str = "s3s-fs.log";

/// An `s3s-fs` process owned by this one.
#[derive(Debug)]
pub struct S3Server {
    port: u16,
    dir: tempfile::TempDir,
    access_key: String,
    secret_key: String,
    child: Option<Child>,
}

impl S3Server {
    /// Starts the server on a free loopback port with an empty bucket
    /// [`BUCKET`] and fresh credentials, and waits until it answers.
    pub fn start() -> io::Result<Self> {
        let Some(binary) = binary() else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{BINARY} is not installed; install it with `{INSTALL_HINT}`"),
            ));
        };
        // A port that was free a moment ago can be taken before the server
        // binds it; try a few before giving up.
        let mut last_error = None;
        for _ in 0..5 {
            let dir = tempfile::Builder::new().prefix("local-s3-").tempdir()?;
            // s3s-fs keeps a bucket as a folder of its root: making the
            // folder creates the bucket.
            std::fs::create_dir_all(dir.path().join(DATA_DIR).join(BUCKET))?;
            let mut server = S3Server {
                port: local_redis::free_port()?,
                dir,
                access_key: format!("local-{}", random_hex(8)),
                secret_key: random_hex(20),
                child: None,
            };
            match server.spawn(&binary) {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("s3s-fs did not start")))
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`: the endpoint S3 clients are given.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bucket's name ([`BUCKET`]).
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// The access key id made up for this server.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The secret key made up for this server.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// `http://KEY:SECRET@127.0.0.1:PORT/BUCKET`: the bucket's path-style
    /// URL with the credentials in it, the form `--object-store` takes.
    pub fn url(&self) -> String {
        format!("http://{}:{}@127.0.0.1:{}/{BUCKET}", self.access_key, self.secret_key, self.port)
    }

    /// The folder that holds the bucket's objects, one file each (for
    /// tests that look at what reached the disk).
    pub fn bucket_dir(&self) -> PathBuf {
        self.dir.path().join(DATA_DIR).join(BUCKET)
    }

    /// The temporary directory that holds the data and the server's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running (it may still be frozen).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server again on the same port, with the same credentials
    /// and the objects it had. Does nothing to a server that is running.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let binary = binary()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{BINARY} is no longer installed")))?;
        self.spawn(&binary)
    }

    fn spawn(&mut self, binary: &Path) -> io::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join(LOG_FILE))?;
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1"])
            .args(["--port", &self.port.to_string()])
            .args(["--access-key", &self.access_key])
            .args(["--secret-key", &self.secret_key])
            .arg(self.dir.path().join(DATA_DIR))
            // Errors only, whatever the caller's own log filter says.
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if answers_http(self.port) {
                return Ok(());
            }
            if !self.is_running() {
                self.child = None;
                return Err(io::Error::other(format!(
                    "{BINARY} exited at start on port {}: {}",
                    self.port,
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{BINARY} did not answer within 10 s")));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A clean shutdown, as an operator's restart would do: SIGINT, which
    /// `s3s-fs` answers by finishing the requests in flight and exiting
    /// (SIGKILL if it takes longer than a few seconds). Objects are kept.
    /// Waits until the process has exited.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(pid(&child), Signal::SIGCONT);
        let _ = kill(pid(&child), Signal::SIGINT);
        let deadline = Instant::now() + STOP_DEADLINE;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGKILL: the process dies at once. Objects whose `PUT` had completed
    /// are kept (each was renamed into place before the answer); one being
    /// written is not, and never shows as half an object. Waits until the
    /// process has exited.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process keeps its socket, so connections are still
    /// accepted by the kernel, but nothing is answered: a hung store.
    pub fn freeze(&self) {
        if let Some(child) = &self.child {
            let _ = kill(pid(child), Signal::SIGSTOP);
        }
    }

    /// SIGCONT: undoes [`freeze`](Self::freeze).
    pub fn thaw(&self) {
        if let Some(child) = &self.child {
            let _ = kill(pid(child), Signal::SIGCONT);
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no log").trim().to_string()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.thaw();
        self.kill();
    }
}

/// Whether the server's executable can be found (see [`INSTALL_HINT`]).
pub fn is_installed() -> bool {
    binary().is_some()
}

/// The server's executable: on the `PATH`, or where `cargo install` puts
/// it (`$CARGO_HOME/bin`, `~/.cargo/bin`) when that folder is not on the
/// `PATH`.
fn binary() -> Option<PathBuf> {
    let answers = |path: &Path| {
        Command::new(path)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    std::iter::once(PathBuf::from(BINARY))
        .chain(cargo_home.map(|home| home.join("bin").join(BINARY)))
        .find(|path| answers(path))
}

/// Whether something on `port` answers an HTTP request (any status: an
/// unsigned request is refused, which is an answer).
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// `bytes` random bytes from the OS, in lowercase hex.
fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).expect("the OS random number generator failed");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn pid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one unsigned request and returns the status line's code.
    fn status_of(port: u16, request: &str) -> io::Result<u16> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(request.as_bytes())?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        let text = String::from_utf8_lossy(&head[9..12]).into_owned();
        text.parse().map_err(|_| io::Error::other(text))
    }

    #[test]
    fn starts_on_a_free_port_with_credentials_of_its_own_and_refuses_anonymous_requests() {
        let a = S3Server::start().unwrap();
        let b = S3Server::start().unwrap();
        assert_ne!(a.port(), b.port());
        assert_ne!(a.secret_key(), b.secret_key());
        assert!(a.bucket_dir().is_dir());
        assert!(a.url().starts_with("http://local-"));
        assert!(a.url().ends_with(&format!("@127.0.0.1:{}/{BUCKET}", a.port())));
        // Authentication is on: an unsigned read of the bucket is refused.
        let code = status_of(a.port(), "GET /files HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(code, 403);
    }

    #[test]
    fn objects_survive_a_stop_and_a_kill() {
        let mut s3 = S3Server::start().unwrap();
        // What the server keeps is its bucket folder; a file there is an object.
        std::fs::write(s3.bucket_dir().join("kept"), b"v").unwrap();
        s3.stop();
        assert!(!answers_http(s3.port()), "a stopped server still answers");
        s3.start_again().unwrap();
        s3.kill();
        assert!(!answers_http(s3.port()), "a killed server still answers");
        s3.start_again().unwrap();
        assert!(answers_http(s3.port()));
        assert_eq!(std::fs::read(s3.bucket_dir().join("kept")).unwrap(), b"v");
    }

    #[test]
    fn a_frozen_server_accepts_but_does_not_answer_until_thawed() {
        let s3 = S3Server::start().unwrap();
        s3.freeze();
        assert!(!answers_http(s3.port()), "a frozen server answered");
        s3.thaw();
        assert!(answers_http(s3.port()));
    }

    #[test]
    fn dropping_the_handle_stops_the_process_and_removes_its_folder() {
        let s3 = S3Server::start().unwrap();
        let (port, dir) = (s3.port(), s3.dir().to_path_buf());
        s3.freeze();
        drop(s3);
        assert!(!answers_http(port));
        assert!(!dir.exists());
    }
}
