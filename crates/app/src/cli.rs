//! The command line the mains share, and the loop that runs a server.
//!
//! A main parses its own `Cli` (these flags plus its store's), builds its
//! store and hands both to [`serve`]. Errors at start-up are one line on
//! stderr and a non-zero exit, never a backtrace.

use std::io::Write as _;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser};
use sessions::SessionStore;

use crate::capacity::{self, Model};
use crate::startup::{Application, Settings};
use crate::telemetry;

/// Flags every server has. Each also reads an environment variable; the
/// flag wins.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free one (the start-up line says which).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// This node's name in `X-Node` and in answers [default: HOSTNAME-PORT].
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,
    /// Idle timeout of a session, in seconds; every request renews it.
    #[arg(long, env = "SESSION_TTL", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub session_ttl: u64,
    /// Worker threads [default: one per CPU].
    #[arg(long, env = "WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Modelled capacity of this node, in requests a second: a model, not a
    /// measurement [default: none: no limit, nothing measured].
    ///
    /// All nodes of a cluster on one machine share its cores, so a node
    /// added there adds no real capacity. A modelled capacity per node is
    /// what lets a one-machine cluster behave like a many-machine one: the
    /// node has capacity x service time (rounded, at least 1) service slots,
    /// each request holds one for slots / capacity seconds (its real work
    /// included), waits in a bounded queue while all are busy, and gets 503
    /// {"error":"overloaded"} with Retry-After: 1 when the queue is full.
    /// /healthz is never limited and then also reports
    /// "load":{"utilisation","queued","capacity"}. CPU and memory are not
    /// modelled.
    #[arg(long, env = "CAPACITY", help_heading = "Capacity model", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub capacity: Option<u32>,
    /// With --capacity: modelled service time of one request, in
    /// milliseconds; sets the number of slots (capacity x service time).
    #[arg(long, env = "SERVICE_MS", help_heading = "Capacity model", requires = "capacity", default_value_t = capacity::DEFAULT_SERVICE_MS, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub service_ms: u32,
    /// With --capacity: the longest a request waits for a slot, in
    /// milliseconds; the queue has capacity x this many places, and a
    /// request that finds it full is refused at once (0: no queue).
    #[arg(long, env = "QUEUE_MS", help_heading = "Capacity model", requires = "capacity", default_value_t = capacity::DEFAULT_QUEUE_MS, value_parser = clap::value_parser!(u32).range(0..=60_000))]
    pub queue_ms: u32,
}

impl ServerArgs {
    /// The idle timeout.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl)
    }

    /// The settings for [`Application::build`].
    pub fn settings(&self) -> Settings {
        Settings {
            host: self.host.clone(),
            port: self.port,
            node_id: self.node_id.clone(),
            workers: self.workers.map(usize::from),
            capacity: self.capacity.and_then(NonZeroU32::new).map(|capacity| {
                Model::new(
                    capacity,
                    Duration::from_millis(self.service_ms.into()),
                    Duration::from_millis(self.queue_ms.into()),
                )
            }),
        }
    }
}

/// Parses the command line; on a bad flag prints clap's reason on one line and
/// exits with status 2 (`--help` and `--version` print in full and exit 0).
pub fn parse<T: Parser>() -> T {
    match T::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let rendered = e.render().to_string();
            // The reason is the first paragraph; a missing argument is named
            // on the lines below its first.
            let reason: Vec<&str> = rendered.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
            let reason = if reason.is_empty() { "error: bad command line".to_string() } else { reason.join(" ") };
            eprintln!("{reason} (try --help)");
            std::process::exit(2);
        }
    }
}

/// Prints a start-up error as one line and returns the failing exit code.
pub fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// Runs a server until SIGTERM or SIGINT, then shuts it down gracefully
/// (in-flight requests finish). Prints `listening on http://ADDR node=ID`
/// on stdout once the socket accepts connections.
pub fn serve<S: SessionStore>(args: &ServerArgs, store: S) -> ExitCode {
    telemetry::init();
    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        // Listen for signals before announcing the port: a supervisor may
        // send SIGTERM as soon as it has read the start-up line.
        let shutdown = shutdown_signal()?;
        let app = Application::build(&args.settings(), store)?;
        println!("listening on http://{} node={}", app.addr(), app.node_id());
        std::io::stdout().flush()?;
        tracing::info!(node = app.node_id(), store = std::any::type_name::<S>(), "serving");
        let handle = app.handle();
        actix_web::rt::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down gracefully");
            handle.stop(true).await;
        });
        app.run_until_stopped().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Resolves on the first SIGTERM or SIGINT. Registers both handlers now.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
