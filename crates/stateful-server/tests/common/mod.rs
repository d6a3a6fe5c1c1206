//! Running a server binary as a real process, as the harness and a load
//! balancer meet it. Shared by the binaries' CLI tests (the stateless
//! server's tests include this file by path).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A server process and the address from its start-up line.
pub struct Node {
    pub child: Child,
    pub line: String,
    pub base_url: String,
    stdout: mpsc::Receiver<String>,
    /// The folder given as `FILES_DIR`, removed on drop (a killed node
    /// cannot remove a folder of its own).
    files_dir: PathBuf,
}

impl Node {
    /// Starts `binary` with `args` (and extra environment) and waits up to
    /// 10 s for its start-up line.
    pub fn start(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Node {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let files_dir = std::env::temp_dir().join(format!(
            "cli-test-files-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let mut command = Command::new(binary);
        command.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).env_remove("PORT").env_remove("NODE_ID");
        command.env("FILES_DIR", &files_dir);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("no start-up line within 10 s");
        let base_url = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split(' ').next())
            .expect("start-up line format")
            .to_string();
        Node { child, line, base_url, stdout: rx, files_dir }
    }

    /// Stops the server with SIGTERM and returns what it printed on stdout
    /// after the start-up line (the contract says: nothing).
    pub fn stop_and_collect_stdout(&mut self) -> Vec<String> {
        self.signal(Signal::SIGTERM);
        self.wait_exit();
        // Ends when the reader thread reaches end-of-file, i.e. all was read.
        self.stdout.iter().collect()
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits up to 10 s for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        for _ in 0..1000 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("server did not exit within 10 s");
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.base_url)).await.expect("server answers")
    }

    /// Logs `user` in and returns the `sid` cookie's value.
    pub async fn login(&self, user: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/login", self.base_url))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "user": user }).to_string())
            .send()
            .await
            .expect("server answers");
        assert_eq!(response.status(), 200);
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().strip_prefix("sid=").unwrap().to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.files_dir);
    }
}

/// Runs `binary` to completion (for start-up errors): exit code and stderr.
pub fn run_to_exit(binary: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(binary);
    command.args(args).stdin(Stdio::null()).env_remove("PORT");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run server");
    assert!(output.stdout.is_empty(), "stdout must stay empty on errors");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A start-up error is one line on stderr, with no panic or backtrace.
pub fn assert_one_line_error(stderr: &str) {
    assert_eq!(stderr.trim_end().lines().count(), 1, "not one line: {stderr:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
}
