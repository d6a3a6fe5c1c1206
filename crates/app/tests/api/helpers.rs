//! `spawn_app()` and friends: in-process servers on free ports, a client
//! with one method per endpoint (and a WebSocket client for `/live`), and
//! the Redis, PostgreSQL and RabbitMQ they need.

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use app::capacity::Model;
use app::{Application, Backends, Settings};
use files::{DirStore, FileStore};
use futures::{SinkExt as _, StreamExt as _};
use jobs::{MemoryQueue, OrderQueue, WorkerSettings};
use live::{MemoryRooms, Rooms};
use local_postgres::PostgresServer;
use local_redis::{RedisCluster, RedisServer, SentinelSet};
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sessions::{
    MemoryStore, PostgresSettings, PostgresStore, RedisHaSettings, RedisHaStore, RedisSettings, RedisStore,
    RedisTopology, SessionStore, TokenKey, TokenStore,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};

pub const TTL: Duration = Duration::from_secs(60);

/// One running node and a client for it.
pub struct TestApp {
    pub address: String,
    pub node_id: String,
    client: reqwest::Client,
    handle: ServerHandle,
}

/// How long a test's order worker "works" on an order.
pub const PROCESSING: Duration = Duration::from_millis(20);

/// How long a case waits for something that should happen (an order done, a
/// message delivered) before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A test worker named after its node.
pub fn worker(node_id: &str) -> WorkerSettings {
    WorkerSettings::new(node_id).processing(PROCESSING)
}

/// The default bundle for tests: `store`, and orders, rooms and files on
/// the node (an in-process queue with this node's worker, this node's
/// rooms, a fresh folder of this node's own).
pub fn on_the_node<S: SessionStore>(store: S, node_id: &str) -> Backends<S, MemoryQueue, MemoryRooms, DirStore> {
    Backends {
        sessions: store,
        orders: Some(MemoryQueue::new(worker(node_id))),
        rooms: Some(MemoryRooms::new()),
        files: Some(DirStore::temporary().expect("a temporary folder for files")),
    }
}

/// Builds and starts a server around `store` on a free loopback port, with
/// orders, rooms and files on the node ([`on_the_node`]).
pub async fn spawn_app<S: SessionStore>(store: S, node_id: &str) -> TestApp {
    spawn_app_with(store, node_id, None).await
}

/// [`spawn_app`], with a modelled capacity if one is given.
pub async fn spawn_app_with<S: SessionStore>(store: S, node_id: &str, capacity: Option<Model>) -> TestApp {
    start(on_the_node(store, node_id), node_id, capacity).await
}

/// [`spawn_app`] with these settings (their node name, or `node_id`).
pub async fn spawn_app_in<S: SessionStore>(store: S, node_id: &str, settings: Settings) -> TestApp {
    let settings = Settings { node_id: Some(settings.node_id.unwrap_or_else(|| node_id.to_string())), ..settings };
    start_in(on_the_node(store, node_id), &settings).await
}

/// Builds and starts a server around `backends` on a free loopback port.
pub async fn spawn_with<S: SessionStore, Q: OrderQueue, R: Rooms, F: FileStore>(
    backends: Backends<S, Q, R, F>,
    node_id: &str,
) -> TestApp {
    start(backends, node_id, None).await
}

async fn start<S: SessionStore, Q: OrderQueue, R: Rooms, F: FileStore>(
    backends: Backends<S, Q, R, F>,
    node_id: &str,
    capacity: Option<Model>,
) -> TestApp {
    let settings = Settings { node_id: Some(node_id.to_string()), capacity, ..Settings::for_tests() };
    start_in(backends, &settings).await
}

async fn start_in<S: SessionStore, Q: OrderQueue, R: Rooms, F: FileStore>(
    backends: Backends<S, Q, R, F>,
    settings: &Settings,
) -> TestApp {
    let node_id = settings.node_id.as_deref().expect("a test node has a name");
    let app = Application::build(settings, backends).expect("build app");
    let address = format!("http://{}", app.addr());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp { address, node_id: node_id.to_string(), client, handle }
}

impl TestApp {
    fn request(&self, method: reqwest::Method, path: &str, sid: Option<&str>) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.address));
        match sid {
            Some(sid) => builder.header(COOKIE, format!("sid={sid}")),
            None => builder,
        }
    }

    pub async fn login_raw(&self, body: impl Into<reqwest::Body>, sid: Option<&str>) -> Response {
        self.request(reqwest::Method::POST, "/login", sid)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn login_with(&self, user: &str, sid: Option<&str>) -> Response {
        self.login_raw(serde_json::json!({ "user": user }).to_string(), sid).await
    }

    /// Logs `user` in and returns the session cookie's value.
    pub async fn login(&self, user: &str) -> String {
        let response = self.login_with(user, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        sid_of(response.headers()).expect("login sets the sid cookie")
    }

    pub async fn me(&self, sid: Option<&str>) -> Response {
        self.request(reqwest::Method::GET, "/me", sid).send().await.unwrap()
    }

    pub async fn cart(&self, sid: Option<&str>) -> Response {
        self.request(reqwest::Method::GET, "/cart", sid).send().await.unwrap()
    }

    pub async fn add_raw(&self, sid: Option<&str>, body: impl Into<reqwest::Body>) -> Response {
        self.request(reqwest::Method::POST, "/cart", sid)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn add(&self, sid: Option<&str>, item: &str, qty: i64) -> Response {
        self.add_raw(sid, serde_json::json!({ "item": item, "qty": qty }).to_string()).await
    }

    pub async fn logout(&self, sid: Option<&str>) -> Response {
        self.request(reqwest::Method::POST, "/logout", sid).send().await.unwrap()
    }

    pub async fn healthz(&self) -> Response {
        self.request(reqwest::Method::GET, "/healthz", None).send().await.unwrap()
    }

    /// Any request with an optional JSON body.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        sid: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Response {
        let mut request = self.request(method, path, sid);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        request.send().await.expect("the node answers")
    }

    pub async fn place_order(&self, sid: Option<&str>) -> Response {
        self.request(reqwest::Method::POST, "/orders", sid).send().await.unwrap()
    }

    pub async fn order(&self, sid: Option<&str>, id: &str) -> Response {
        self.request(reqwest::Method::GET, &format!("/orders/{id}"), sid).send().await.unwrap()
    }

    /// Places an order from `sid`'s cart and returns its id (202 asserted).
    pub async fn place(&self, sid: &mut String) -> String {
        let response = self.place_order(Some(sid)).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        follow(sid, &response);
        let location = response.headers().get("location").expect("a Location").to_str().unwrap().to_string();
        let body = json(response).await;
        assert_eq!(body["status"], "queued");
        let id = body["order"].as_str().expect("an order id").to_string();
        assert_eq!(location, format!("/orders/{id}"));
        id
    }

    /// Polls `GET /orders/{id}` until the order is done; returns its JSON.
    pub async fn wait_done(&self, sid: &mut String, id: &str) -> Value {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let response = self.order(Some(sid), id).await;
            assert_eq!(response.status(), StatusCode::OK, "order {id} on {}", self.node_id);
            follow(sid, &response);
            let order = json(response).await;
            if order["status"] == "done" {
                return order;
            }
            assert!(std::time::Instant::now() < deadline, "order not done within {DEADLINE:?}: {order}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `POST /files` with `body` as the raw body and `content_type` (none if `None`).
    pub async fn upload(
        &self,
        sid: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self.request(reqwest::Method::POST, "/files", sid);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.body(body).send().await.expect("the node answers")
    }

    /// `GET /files/{id}`, with `If-None-Match` if given.
    pub async fn file(&self, sid: Option<&str>, id: &str, if_none_match: Option<&str>) -> Response {
        let mut request = self.request(reqwest::Method::GET, &format!("/files/{id}"), sid);
        if let Some(tag) = if_none_match {
            request = request.header("if-none-match", tag);
        }
        request.send().await.expect("the node answers")
    }

    /// Opens `GET /live?{query}` as a WebSocket with the session cookie.
    pub async fn live(&self, sid: Option<&str>, query: &str) -> Result<Socket, tungstenite::Error> {
        let url = format!("{}/live?{query}", self.address.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request()?;
        if let Some(sid) = sid {
            request.headers_mut().insert(COOKIE, format!("sid={sid}").parse().unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Socket(socket))
    }

    /// The HTTP status `GET /live?{query}` was refused with.
    pub async fn live_refused(&self, sid: Option<&str>, query: &str) -> StatusCode {
        match self.live(sid, query).await {
            Err(tungstenite::Error::Http(response)) => StatusCode::from_u16(response.status().as_u16()).unwrap(),
            Err(other) => panic!("refused without an HTTP answer: {other}"),
            Ok(_) => panic!("the socket opened"),
        }
    }

    /// Any request, for paths and methods the API does not have.
    pub async fn send(&self, method: reqwest::Method, path: &str, sid: Option<&str>) -> Response {
        self.request(method, path, sid).send().await.unwrap()
    }

    /// Any request with this whole `Cookie` header (`name=value; …`).
    pub async fn send_cookies(&self, method: reqwest::Method, path: &str, cookies: &str) -> Response {
        self.request(method, path, None).header(COOKIE, cookies).send().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Fire and forget: the runtime may already be going away.
        let handle = self.handle.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// Keeps the cookie a response re-issued, as a browser would: the token
/// twin sends a new one with every authenticated answer.
pub fn follow(sid: &mut String, response: &Response) {
    if let Some(new) = sid_of(response.headers()).filter(|new| !new.is_empty()) {
        *sid = new;
    }
}

/// The value of `sid` in the response's `Set-Cookie` headers.
pub fn sid_of(headers: &HeaderMap) -> Option<String> {
    set_cookie(headers).and_then(|c| c.split(';').next()?.strip_prefix("sid=").map(str::to_string))
}

/// The whole `Set-Cookie` header for `sid`.
pub fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sid="))
        .map(str::to_string)
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Which twin a cluster runs.
#[derive(Clone, Copy, Debug)]
pub enum Twin {
    Stateful,
    Stateless,
    /// The stateless twin with its sessions in PostgreSQL (`--database-url`).
    Postgres,
    /// The token twin with its deny list, so that logout holds on every
    /// node as on the other twins (`token.rs` covers the plain one).
    Token,
    /// The stateless twin on a Sentinel-managed primary with replicas.
    OnSentinel,
    /// The stateless twin on a Redis Cluster.
    OnCluster,
}

/// A deployment shared by the cases that run at the same time (starting
/// one takes seconds; their sessions never meet, ids being random). It
/// stops when the last case holding it ends.
fn shared<T>(slot: &Mutex<Weak<T>>, start: impl FnOnce() -> std::io::Result<T>) -> Arc<T> {
    let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(running) = slot.upgrade() {
        return running;
    }
    let started = Arc::new(start().expect("start a Redis deployment"));
    *slot = Arc::downgrade(&started);
    started
}

static SENTINEL_SET: Mutex<Weak<SentinelSet>> = Mutex::new(Weak::new());
static REDIS_CLUSTER: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());

/// Nodes of one twin, and the Redis they share (stateless only), or the
/// PostgreSQL server when the cluster has one of its own.
pub struct Cluster {
    pub nodes: Vec<TestApp>,
    pub redis: Option<RedisServer>,
    pub postgres: Option<PostgresServer>,
    /// A Sentinel set or a Redis Cluster the nodes use, kept running.
    _deployment: Option<Arc<dyn Any + Send + Sync>>,
}

impl Cluster {
    pub async fn start(twin: Twin, nodes: usize) -> Cluster {
        Cluster::start_with(twin, nodes, None).await
    }

    /// [`Cluster::start`], each node with the modelled capacity if given.
    pub async fn start_with(twin: Twin, nodes: usize, capacity: Option<Model>) -> Cluster {
        match twin {
            Twin::Stateful => {
                let mut apps = Vec::new();
                for i in 0..nodes {
                    // Each stateful node has its own RAM, as separate machines would.
                    apps.push(spawn_app_with(MemoryStore::new(TTL), &format!("stateful-{i}"), capacity).await);
                }
                Cluster { nodes: apps, redis: None, postgres: None, _deployment: None }
            }
            Twin::Stateless => {
                let redis = RedisServer::start().expect("start redis-server");
                let mut apps = Vec::new();
                for i in 0..nodes {
                    let store = RedisStore::new(&RedisSettings::new(redis.url(), TTL)).unwrap();
                    apps.push(spawn_app_with(store, &format!("stateless-{i}"), capacity).await);
                }
                Cluster { nodes: apps, redis: Some(redis), postgres: None, _deployment: None }
            }
            Twin::Postgres => {
                // One server for the test binary, a database per cluster:
                // starting PostgreSQL costs seconds.
                let url = PostgresServer::shared().expect("start postgres").create_database().unwrap();
                Cluster { nodes: postgres_nodes(&url, nodes).await, redis: None, postgres: None, _deployment: None }
            }
            Twin::Token => {
                let redis = RedisServer::start().expect("start redis-server");
                let key = TokenKey::new(b"parity-suite-key-of-at-least-32-bytes").unwrap();
                let mut apps = Vec::new();
                for i in 0..nodes {
                    let store = TokenStore::new(key.clone(), TTL).with_revocation(&redis.url()).unwrap();
                    apps.push(spawn_app_with(store, &format!("token-{i}"), capacity).await);
                }
                Cluster { nodes: apps, redis: Some(redis), postgres: None, _deployment: None }
            }
            Twin::OnSentinel => {
                let set = shared(&SENTINEL_SET, SentinelSet::start);
                let sentinels = RedisTopology::addresses(&set.sentinel_addrs());
                let topology = RedisTopology::Sentinel { sentinels, master: set.master_name().to_string() };
                Cluster::on(topology, nodes, "sentinel", set).await
            }
            Twin::OnCluster => {
                let cluster = shared(&REDIS_CLUSTER, RedisCluster::start);
                let topology = RedisTopology::Cluster { seeds: RedisTopology::addresses(&cluster.seeds()) };
                Cluster::on(topology, nodes, "cluster", cluster).await
            }
        }
    }

    /// Stateless nodes on a PostgreSQL server of their own, which a test
    /// may stop or freeze.
    pub async fn start_on_own_database(nodes: usize) -> Cluster {
        let server = PostgresServer::start().expect("start postgres");
        let nodes = postgres_nodes(&server.url(), nodes).await;
        Cluster { nodes, redis: None, postgres: Some(server), _deployment: None }
    }

    /// Stateless nodes on a Sentinel set or a Redis Cluster.
    async fn on(topology: RedisTopology, nodes: usize, name: &str, deployment: Arc<dyn Any + Send + Sync>) -> Cluster {
        let mut apps = Vec::new();
        for i in 0..nodes {
            let store = RedisHaStore::new(&RedisHaSettings::new(topology.clone(), TTL)).unwrap();
            apps.push(spawn_app(store, &format!("{name}-{i}")).await);
        }
        Cluster { nodes: apps, redis: None, postgres: None, _deployment: Some(deployment) }
    }

    pub fn redis(&mut self) -> &mut RedisServer {
        self.redis.as_mut().expect("a stateless cluster")
    }

    pub fn postgres(&mut self) -> &mut PostgresServer {
        self.postgres.as_mut().expect("a cluster on its own database")
    }
}

async fn postgres_nodes(url: &str, nodes: usize) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for i in 0..nodes {
        let store = PostgresStore::new(&PostgresSettings::new(url, TTL)).unwrap();
        apps.push(spawn_app(store, &format!("postgres-{i}")).await);
    }
    apps
}

/// A client's WebSocket to `/live`.
pub struct Socket(tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>);

/// What a socket received next: a room message (as JSON) or a close code.
#[derive(Debug)]
pub enum Received {
    Message(Value),
    Closed(Option<u16>),
}

impl Socket {
    pub async fn say(&mut self, text: impl Into<String>) {
        self.0.send(Message::text(text.into())).await.expect("send a frame");
    }

    /// The next message or close, skipping pings; fails after [`DEADLINE`].
    pub async fn next(&mut self) -> Received {
        let next = async {
            loop {
                match self.0.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return Received::Message(serde_json::from_str(&text).expect("a JSON message"));
                    }
                    Some(Ok(Message::Close(frame))) => return Received::Closed(frame.map(|f| u16::from(f.code))),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Received::Closed(None),
                }
            }
        };
        tokio::time::timeout(DEADLINE, next).await.expect("nothing received within the deadline")
    }

    /// The next room message; fails on a close.
    pub async fn message(&mut self) -> Value {
        match self.next().await {
            Received::Message(message) => message,
            closed => panic!("expected a message, got {closed:?}"),
        }
    }
}
