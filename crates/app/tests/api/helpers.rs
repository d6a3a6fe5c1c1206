//! `spawn_app()` and friends: in-process servers on free ports, a client
//! with one method per endpoint, and the Redis or PostgreSQL they need.

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use app::capacity::Model;
use app::{Application, Settings};
use local_postgres::PostgresServer;
use local_redis::{RedisCluster, RedisServer, SentinelSet};
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sessions::{
    MemoryStore, PostgresSettings, PostgresStore, RedisHaSettings, RedisHaStore, RedisSettings, RedisStore,
    RedisTopology, SessionStore, TokenKey, TokenStore,
};

pub const TTL: Duration = Duration::from_secs(60);

/// One running node and a client for it.
pub struct TestApp {
    pub address: String,
    pub node_id: String,
    client: reqwest::Client,
    handle: ServerHandle,
}

/// Builds and starts a server around `store` on a free loopback port.
pub async fn spawn_app<S: SessionStore>(store: S, node_id: &str) -> TestApp {
    spawn_app_with(store, node_id, None).await
}

/// [`spawn_app`], with a modelled capacity if one is given.
pub async fn spawn_app_with<S: SessionStore>(store: S, node_id: &str, capacity: Option<Model>) -> TestApp {
    let settings = Settings { node_id: Some(node_id.to_string()), capacity, ..Settings::for_tests() };
    let app = Application::build(&settings, store).expect("build app");
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

    /// Any request, for paths and methods the API does not have.
    pub async fn send(&self, method: reqwest::Method, path: &str, sid: Option<&str>) -> Response {
        self.request(method, path, sid).send().await.unwrap()
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
