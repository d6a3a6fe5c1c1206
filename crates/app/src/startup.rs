//! Building and running the server.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{self, DefaultHeaders};
use actix_web::{App, HttpServer, web};
use files::FileStore;
use jobs::OrderQueue;
use live::Rooms;
use sessions::SessionStore;
use tracing::Instrument as _;

use crate::backends::Backends;
use crate::capacity::{self, Capacity, Model};
use crate::routes::{self, NodeId};

/// Where and how to serve; the backends are passed separately, since
/// choosing them is the one thing the twins do differently.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Address to bind (an IP or a name that resolves to one).
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// The node's name; by default `HOSTNAME-PORT`.
    pub node_id: Option<String>,
    /// Worker threads; by default one per CPU.
    pub workers: Option<usize>,
    /// The node's modelled capacity; `None` serves as fast as the machine
    /// allows, with nothing measured.
    pub capacity: Option<Model>,
    /// Name the session cookie `__Host-sid` and mark it `Secure` (for a node
    /// behind a TLS-terminating load balancer); `false`: `sid`, for plain
    /// http://. See [`routes::SessionCookie`].
    pub secure_cookies: bool,
}

impl Settings {
    /// Loopback, a free port, one worker: what tests want.
    pub fn for_tests() -> Settings {
        Settings {
            host: "127.0.0.1".into(),
            port: 0,
            node_id: None,
            workers: Some(1),
            capacity: None,
            secure_cookies: false,
        }
    }
}

/// A bound server, not yet running.
pub struct Application {
    addr: SocketAddr,
    node_id: String,
    server: Server,
}

impl Application {
    /// Binds the listener and builds the server around `backends`. Each
    /// worker thread gets its own clone of them (see [`SessionStore`]).
    pub fn build<S: SessionStore, Q: OrderQueue, R: Rooms, F: FileStore>(
        settings: &Settings,
        backends: Backends<S, Q, R, F>,
    ) -> io::Result<Application> {
        Self::build_with(settings, |_| Ok(backends))
    }

    /// [`build`](Self::build), with the backends made once the node's name
    /// is known (a worker names itself after its node, and the default name
    /// holds the bound port). An error from `backends` ends the build.
    pub fn build_with<S: SessionStore, Q: OrderQueue, R: Rooms, F: FileStore>(
        settings: &Settings,
        backends: impl FnOnce(&str) -> io::Result<Backends<S, Q, R, F>>,
    ) -> io::Result<Application> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}:{}: {e}", settings.host, settings.port)))?;
        let addr = listener.local_addr()?;
        let node_id = settings.node_id.clone().unwrap_or_else(|| default_node_id(addr.port()));
        let node = NodeId(node_id.clone());
        let backends = backends(&node_id)?;
        let cookie = routes::SessionCookie::new(settings.secure_cookies);
        let api = {
            let node = node.clone();
            move || {
                App::new()
                    .configure(|cfg| backends.register(cfg))
                    .app_data(web::Data::new(node.clone()))
                    .app_data(cookie)
                    .configure(routes::configure::<S>)
                    .default_service(web::to(routes::not_found))
            }
        };
        // Two shapes of the app rather than a switch inside one: without a
        // capacity no request passes through the capacity middleware at all.
        let server = match settings.capacity {
            None => http_server(api, &node, listener, settings.workers)?,
            Some(model) => {
                let capacity = Arc::new(Capacity::new(model));
                tracing::info!(
                    capacity = model.capacity(),
                    slots = model.slots(),
                    hold_ms = model.hold().as_secs_f64() * 1000.0,
                    queue = model.queue_len(),
                    "modelled capacity"
                );
                let limited = move || {
                    let limit = Arc::clone(&capacity);
                    api()
                        .app_data(web::Data::from(Arc::clone(&capacity)))
                        .wrap(middleware::from_fn(move |req, next| capacity::limit(Arc::clone(&limit), req, next)))
                };
                http_server(limited, &node, listener, settings.workers)?
            }
        };
        Ok(Application { addr, node_id, server })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// This node's name.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// A handle that stops the server: `stop(true)` lets in-flight requests
    /// finish, `stop(false)` drops them.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.server.await
    }
}

/// Runs `app` on `listener` inside the layers every answer passes: the
/// `X-Node` header (on a refusal from within `app` too), and around it all
/// the request's tracing span.
fn http_server<T, B>(
    app: impl Fn() -> App<T> + Send + Clone + 'static,
    node: &NodeId,
    listener: TcpListener,
    workers: Option<usize>,
) -> io::Result<Server>
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let node = node.clone();
    let mut server = HttpServer::new(move || {
        let span_node = node.0.clone();
        app().wrap(DefaultHeaders::new().add(("X-Node", node.0.clone()))).wrap_fn(move |req, srv| {
            let span = tracing::info_span!(
                "request",
                node = %span_node,
                method = %req.method(),
                path = %req.path(),
            );
            srv.call(req).instrument(span)
        })
    })
    .listen(listener)?
    // Signals are handled by `cli::serve`, which makes SIGINT graceful
    // as well; tests stop servers through their handle.
    .disable_signals()
    .shutdown_timeout(10);
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// `HOSTNAME-PORT`: unique per process on one machine at a time.
fn default_node_id(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_string());
    format!("{host}-{port}")
}
