//! The command line the mains share, and the loop that runs a server.
//!
//! A main parses its own `Cli` (these flags plus its store's), builds its
//! store and hands both to [`serve`], with a closure that makes the other
//! backends once the node's name is known. Errors at start-up are one line
//! on stderr and a non-zero exit, never a backtrace.

use std::io::Write as _;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser};
use files::{DirStore, FileStore, S3Settings, S3Store};
use jobs::{OrderQueue, RabbitQueue, RabbitSettings, WorkerSettings};
use live::{RedisRooms, Rooms};
use sessions::{DEFAULT_MAX_AGE, SessionStore};

use crate::backends::Backends;
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
    /// Absolute lifetime of a session, in seconds after its login (43200:
    /// 12 hours): past it the session ends, 401 on every node, however
    /// active it is.
    #[arg(long, env = "SESSION_MAX_AGE", default_value_t = DEFAULT_MAX_AGE.as_secs(), value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub session_max_age: u64,
    /// Name the session cookie __Host-sid and mark it Secure (still
    /// HttpOnly, SameSite=Lax, Path=/); only that name is then read.
    ///
    /// Turn it on behind a load balancer that terminates TLS. Leave it off
    /// where clients speak plain http:// (loopback, tests, the harness): a
    /// browser never sends a Secure cookie over it, so every request would
    /// be logged out. Login still trusts the user name it is given: the flag
    /// guards the session once it exists, not the login.
    #[arg(long, env = "SECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new())]
    pub secure_cookies: bool,
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

    /// The absolute lifetime every store is given.
    pub fn session_max_age(&self) -> Duration {
        Duration::from_secs(self.session_max_age)
    }

    /// The settings for [`Application::build`].
    pub fn settings(&self) -> Settings {
        Settings {
            host: self.host.clone(),
            port: self.port,
            node_id: self.node_id.clone(),
            workers: self.workers.map(usize::from),
            secure_cookies: self.secure_cookies,
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

/// The queued work's flags, on every server.
#[derive(Args, Clone, Debug)]
pub struct OrderArgs {
    /// Modelled work per order, in milliseconds: a worker sleeps this long
    /// (as a payment or mail call would keep it waiting), then confirms it.
    #[arg(long, env = "ORDER_PROCESSING_MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub order_processing_ms: u64,
}

impl OrderArgs {
    /// The settings of this node's order worker, named after the node.
    pub fn worker(&self, node: &str) -> WorkerSettings {
        WorkerSettings::new(node).processing(Duration::from_millis(self.order_processing_ms))
    }
}

/// Where `stateful-server` keeps uploaded files: a folder of the node's own
/// disk.
#[derive(Args, Clone, Debug)]
pub struct FilesDirArgs {
    /// Folder for uploaded files, created if missing [default: a fresh temporary folder per node, removed when it exits].
    #[arg(long, env = "FILES_DIR")]
    pub files_dir: Option<PathBuf>,
}

impl FilesDirArgs {
    /// The store in `--files-dir`, or in a fresh temporary folder.
    pub fn store(&self) -> Result<DirStore, String> {
        match &self.files_dir {
            Some(dir) => DirStore::open(dir).map_err(|e| format!("cannot use --files-dir {}: {e}", dir.display())),
            None => {
                DirStore::temporary().map_err(|e| format!("cannot make a temporary folder for uploaded files: {e}"))
            }
        }
    }
}

/// Where a shared-state server keeps queued work, live rooms and uploaded
/// files. A kind whose service is not given is *not configured*: the server
/// starts and serves sessions, the kind's routes answer 501, `/healthz`
/// says so.
#[derive(Args, Clone, Debug)]
pub struct SharedArgs {
    /// RabbitMQ for queued orders, `amqp://USER:PASSWORD@HOST:PORT/%2f` [default: none; orders not configured].
    #[arg(long, env = "AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<String>,
    /// Redis for order records and live rooms, `redis://HOST:PORT` [default: stateless-server's --redis-url; none on token-server: orders and rooms not configured].
    #[arg(long, env = "BROKER_URL")]
    pub broker_url: Option<String>,
    /// S3-compatible bucket for uploaded files, `http://KEY:SECRET@HOST:PORT/BUCKET` (plain http on loopback only) [default: none; files not configured].
    #[arg(long, env = "OBJECT_STORE_URL", hide_env_values = true)]
    pub object_store: Option<String>,
}

impl SharedArgs {
    /// Orders in RabbitMQ with their records in the Redis at `broker`, or
    /// `None` without `--amqp-url`. Connects lazily (the worker keeps
    /// trying): only a URL that cannot be used is an error.
    pub fn rabbit_queue(&self, broker: Option<&str>, worker: WorkerSettings) -> Result<Option<RabbitQueue>, String> {
        let Some(amqp) = &self.amqp_url else {
            return Ok(None);
        };
        if let Err(e) = amqp.parse::<lapin::uri::AMQPUri>() {
            return Err(format!("cannot use --amqp-url: {e}"));
        }
        let Some(broker) = broker else {
            return Err("--amqp-url needs --broker-url too: the order records live in Redis".into());
        };
        RabbitQueue::new(RabbitSettings::new(amqp, broker, worker))
            .map(Some)
            .map_err(|e| format!("cannot use --broker-url {broker}: {e}"))
    }

    /// Uploaded files in the bucket of `--object-store`, or `None` without
    /// it. Connects lazily (a store that is down answers 503 until it is
    /// back): only a URL that cannot be used is an error, and the error
    /// never repeats the URL, which holds the secret key.
    pub fn s3_files(&self) -> Result<Option<S3Store>, String> {
        let Some(url) = &self.object_store else {
            return Ok(None);
        };
        let settings = S3Settings::from_url(url).map_err(|e| format!("cannot use --object-store: {e}"))?;
        let store = S3Store::new(&settings).map_err(|e| format!("cannot use --object-store: {e}"))?;
        tracing::info!(endpoint = settings.endpoint(), bucket = settings.bucket(), "uploaded files in an object store");
        Ok(Some(store))
    }

    /// Live rooms in the Redis at `broker`, or `None` without one. Connects
    /// lazily: only a URL that cannot be used is an error.
    pub fn redis_rooms(broker: Option<&str>) -> Result<Option<RedisRooms>, String> {
        let Some(broker) = broker else {
            return Ok(None);
        };
        RedisRooms::new(broker, live::redis::DEFAULT_HISTORY)
            .map(Some)
            .map_err(|e| format!("cannot use --broker-url {broker}: {e}"))
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
///
/// `backends` is called once the port is bound, with the node's name (the
/// order worker names itself after its node); an error it returns is the
/// start-up error.
pub fn serve<S: SessionStore, Q: OrderQueue, R: Rooms, F: FileStore>(
    args: &ServerArgs,
    backends: impl FnOnce(&str) -> Result<Backends<S, Q, R, F>, String>,
) -> ExitCode {
    telemetry::init();
    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        // Listen for signals before announcing the port: a supervisor may
        // send SIGTERM as soon as it has read the start-up line.
        let shutdown = shutdown_signal()?;
        let app = Application::build_with(&args.settings(), |node| backends(node).map_err(std::io::Error::other))?;
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
