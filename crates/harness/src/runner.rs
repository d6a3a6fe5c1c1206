//! What every command of the harness shares, scenario runs and `harness
//! bench` alike: finding the sides' binaries, an async runtime that Ctrl-C
//! stops, writing a JSON report, and the errors that decide the exit status.
//! The services a run starts are in [`crate::services`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cluster::find_binary;
use crate::services::Unavailable;
use crate::side::Side;

/// The flags every command that starts nodes shares: where the binaries
/// are, which Redis, where the files go.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Use this Redis instead of starting a private one (a scenario then never stops or kills it).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Where the JSON report, the chart, node logs (and bench's wrk scripts) go.
    #[arg(long, default_value = "target/harness")]
    pub out: PathBuf,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Directory holding the server binaries [default: beside this executable].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

/// How the build hint reads wherever a binary is missing.
const BUILD_HINT: &str = "build them with `cargo build --release --workspace --bins` (or pass --bin-dir)";

/// Why a run could not start: reported as bad usage (exit 2) by the binary.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The run was stopped by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// The runtime a command runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Two worker threads: a scenario's users, script and health checks.
    Two,
    /// One thread, like `wrk -t1`: `harness bench`'s generator, which must
    /// not take the node's core.
    One,
}

/// Runs `work` on a runtime of its own; Ctrl-C stops it (every process it
/// started is stopped and waited for as its owners drop) and returns
/// [`Interrupted`]. For the binary, examples and tests, which need no async
/// code of their own.
pub fn block_on<T>(threads: Threads, work: impl Future<Output = Result<T>>) -> Result<T> {
    let mut builder = match threads {
        Threads::Two => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
        Threads::One => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = builder.enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        tokio::select! {
            result = work => result,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(Interrupted)),
        }
    })
}

/// How a command ends after `error`: it prints one line saying what went
/// wrong and returns 2 for bad usage, 130 for Ctrl-C, 1 for a failed
/// precondition or a failure of `command` itself.
pub fn exit_for(error: &anyhow::Error, command: &str) -> ExitCode {
    if error.is::<UsageError>() {
        eprintln!("error: {error}");
        ExitCode::from(2)
    } else if error.is::<Unavailable>() {
        eprintln!("cannot run: {error}");
        ExitCode::FAILURE
    } else if error.is::<Interrupted>() {
        eprintln!("interrupted: every node and service the {command} started has been stopped");
        ExitCode::from(130)
    } else {
        eprintln!("{command} failed: {error:#}");
        ExitCode::FAILURE
    }
}

/// The sides to run and their binaries. `wanted` (`--sides`) must all be
/// built; without it, every side of `defaults` whose binary is found, and
/// at least one.
pub fn resolve_sides(
    wanted: Option<&[Side]>,
    defaults: &[Side],
    bin_dir: Option<&Path>,
) -> Result<Vec<(Side, PathBuf)>> {
    match wanted {
        Some(sides) => sides
            .iter()
            .map(|&side| match find_binary(side.info().binary, bin_dir) {
                Some(path) => Ok((side, path)),
                None => Err(UsageError(format!("no `{}` binary found; {BUILD_HINT}", side.info().binary)).into()),
            })
            .collect(),
        None => {
            let found: Vec<_> = defaults
                .iter()
                .filter_map(|&side| find_binary(side.info().binary, bin_dir).map(|path| (side, path)))
                .collect();
            if found.is_empty() {
                bail!(UsageError(format!("no server binary found; {BUILD_HINT}")));
            }
            Ok(found)
        }
    }
}

/// Writes `report` as pretty JSON to `path`, creating its folder.
pub fn write_json(report: &impl Serialize, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(report).context("cannot encode the report")?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// Server binaries of the known sides that cannot be found in `bin_dir` (or
/// beside this executable): examples use it to say what to build first.
pub fn missing_binaries(bin_dir: Option<&Path>) -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = Side::ALL
        .iter()
        .map(|side| side.info().binary)
        .filter(|binary| find_binary(binary, bin_dir).is_none())
        .collect();
    // Two token sides share one binary.
    missing.dedup();
    missing
}
