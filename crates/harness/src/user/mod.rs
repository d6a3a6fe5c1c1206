//! Virtual users: a login, then a loop of cart updates and checks.
//!
//! Each user is one tokio task with its own cookie jar, its own ledger (what
//! it believes is in its cart) and its own [`UserRecord`]. Users share one
//! `reqwest::Client`, so connections are kept alive as a browser's would be.
//!
//! The loop, one request per step, with a think time between steps:
//! log in (when not logged in), `POST /cart`, `GET /cart` (compared with the
//! ledger), `GET /me`, and, when the run exercises other kinds of state
//! (`--mix`), a fourth step for them (see [`crate::mix`] and the modules
//! [`files`], [`orders`], [`live`]). What counts:
//!
//! - **forced logout**: a 401 to a user that had logged in. The user logs
//!   in again, which starts a new, empty cart and a new ledger.
//! - **lost cart**: the server's cart no longer matches the ledger. That
//!   happens in two ways: a `GET /cart` whose items differ from the ledger
//!   (the ledger is then resynced to the server, so one loss counts once),
//!   or a forced logout while the ledger held items (the cart went with the
//!   session). A `POST /cart` that got no answer or a 5xx may or may not
//!   have been applied: until the next check, the ledger accepts either.
//!
//! Three scenarios change the loop ([`Script`]):
//!
//! - **logout, then replay** (`logout-replay`): once, somewhere between 30 %
//!   and 60 % of the run, the user copies its `sid` cookie, logs out and
//!   logs in again. An attacker who captured that copy then replays it
//!   ([`REPLAYS`] times right away, through the same load balancer, and once
//!   more when the run ends): each `GET /me` answered 200 is a replay the
//!   logout did not stop.
//! - **concurrent adds** (`concurrent-cart`): the add step sends two
//!   `POST /cart` at once (two different items, one each) with the same
//!   cookie, as two tabs would, and keeps every `Set-Cookie` in the order
//!   the answers arrive, as a browser does, so the later one wins. The next
//!   cart read counts acknowledged adds that are missing.
//! - **two devices, one logs out everywhere** (`logout-everywhere`): the
//!   user has two devices, each with its own cookie jar, login and route
//!   (see [`devices`]); part-way through, one of them ends every session
//!   of the user with `DELETE /sessions`, and the other keeps reading
//!   `/me` until it gets a 401.
//!
//! A 501 is an answer, not a failure: a twin that cannot do what was asked
//! says so (the token twin without a deny list cannot end every session),
//! and the scenario that asks counts it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::metrics::{Class, Clock, Live, Login, Logout, Refusal, UserRecord};
use crate::mix::Mix;
use crate::router::{LoadBalancer, Outcome, Route};

mod devices;
pub mod files;
mod jar;
mod kinds;
pub mod live;
pub mod orders;
mod session;

pub use devices::{LOGOUT_EVERYWHERE_AT, device_key};
pub use jar::CookieJar;
pub use session::session;

/// Items users put in their carts.
const ITEMS: &[&str] = &["book", "pen", "mug", "lamp", "sock", "tea"];
/// Longest a request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Replays of a captured cookie right after the logout (with round-robin
/// routing on 3 nodes, one per node).
pub const REPLAYS: u64 = 3;

/// What a user does beyond the usual loop, as the scenario asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Script {
    /// The usual loop.
    #[default]
    Shop,
    /// Log out once mid-run; an attacker replays the old cookie.
    LogoutThenReplay,
    /// Cart adds go two at a time, with the same cookie.
    ConcurrentAdds,
    /// Two devices log in; part-way through, one ends every session of
    /// the user (`DELETE /sessions`).
    LogoutEverywhere,
}

/// What all users of one side share.
pub struct Crowd {
    /// The HTTP client (one connection pool).
    pub client: reqwest::Client,
    /// Where requests go.
    pub balancer: Arc<dyn LoadBalancer>,
    /// The side's clock.
    pub clock: Clock,
    /// Counters for the progress bar.
    pub live: Arc<Live>,
    /// Pause between two requests of one user (jittered ±50 %).
    pub think: Duration,
    /// When users stop, since the start.
    pub duration: Duration,
    /// Requests one user sends at most, whatever the duration.
    pub max_requests: u64,
    /// The run's seed.
    pub seed: u64,
    /// What users do beyond the usual loop.
    pub script: Script,
    /// The kinds of state users exercise besides their session.
    pub mix: Mix,
}

/// The name of user `index`: the same on every side of a run.
pub fn user_name(index: usize) -> String {
    format!("user-{index:04}")
}

/// What one request got.
struct Answer {
    status: Option<StatusCode>,
    node: Option<String>,
    /// The answer's headers (empty when none came).
    headers: HeaderMap,
    body: Option<Value>,
    /// The body as it came (a file's bytes).
    bytes: Option<Vec<u8>>,
}

impl Answer {
    fn none(node: Option<String>) -> Answer {
        Answer { status: None, node, headers: HeaderMap::new(), body: None, bytes: None }
    }
}

/// Sets `body`, if any, as the request's JSON body.
fn json_body(body: Option<Value>) -> impl FnOnce(RequestBuilder) -> RequestBuilder {
    move |request| match body {
        Some(body) => request.json(&body),
        None => request,
    }
}

/// An HTTP answer as it came off the wire, before the user looked at it.
struct Reply {
    status: StatusCode,
    node: Option<String>,
    set_cookies: Vec<String>,
    headers: HeaderMap,
    /// `None` when the body broke off.
    bytes: Option<Vec<u8>>,
}

/// A sent request: when it started, where it went, what came back, how long it took.
struct Exchange {
    t_ms: u64,
    route: Route,
    reply: reqwest::Result<Reply>,
    latency: Duration,
}

/// Sends a prepared request and reads the whole answer, touching nothing
/// of the user's (so two can be in flight at once).
async fn exchange((t_ms, route, request): (u64, Route, RequestBuilder)) -> Exchange {
    let started = Instant::now();
    let reply = async {
        let mut response = request.send().await?;
        let status = response.status();
        let node = response.headers().get("x-node").and_then(|v| v.to_str().ok()).map(str::to_string);
        let set_cookies =
            response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect();
        let headers = std::mem::take(response.headers_mut());
        let bytes = response.bytes().await.ok().map(|b| b.to_vec());
        Ok(Reply { status, node, set_cookies, headers, bytes })
    }
    .await;
    Exchange { t_ms, route, reply, latency: started.elapsed() }
}

/// One virtual user.
struct User {
    index: usize,
    crowd: Arc<Crowd>,
    record: UserRecord,
    jar: CookieJar,
    rng: StdRng,
    logged_in: bool,
    session_node: String,
    ledger: BTreeMap<String, u64>,
    /// Adds that may or may not have reached the server.
    uncertain: BTreeMap<String, u64>,
    /// Items of acknowledged two-at-once adds since the last cart read.
    paired: Vec<String>,
    /// When the next request was meant to start (open-loop sessions): its
    /// latency counts from then, not from when it could be sent.
    intended: Option<Instant>,
    /// The user's socket, while the run exercises live rooms.
    live: Option<live::Member>,
}

impl User {
    /// User `index` of `crowd`, not logged in, with an empty jar.
    fn new(crowd: Arc<Crowd>, index: usize) -> User {
        let seed = crowd.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        User {
            index,
            record: UserRecord::new(user_name(index)),
            jar: CookieJar::default(),
            rng: StdRng::seed_from_u64(seed),
            logged_in: false,
            session_node: String::new(),
            ledger: BTreeMap::new(),
            uncertain: BTreeMap::new(),
            paired: Vec::new(),
            intended: None,
            live: None,
            crowd,
        }
    }
}

/// Plays user `index` from `start_after` until the crowd's duration ends
/// or it has sent `max_requests`, and returns what it saw.
pub async fn play(crowd: Arc<Crowd>, index: usize, start_after: Duration) -> UserRecord {
    if crowd.script == Script::LogoutEverywhere {
        return devices::play(crowd, index, start_after).await;
    }
    let mut user = User::new(crowd, index);
    user.record.kinds = user.crowd.mix.kinds_records();
    tokio::time::sleep_until(user.crowd.clock.at(start_after).into()).await;
    let end = user.crowd.clock.at(user.crowd.duration);
    // When this user logs out, in `logout-replay`; the captured cookie.
    let mut logout_at = match user.crowd.script {
        Script::LogoutThenReplay => {
            Some(user.crowd.clock.at(user.crowd.duration.mul_f64(user.rng.random_range(0.3..0.6))))
        }
        _ => None,
    };
    let mut captured: Option<String> = None;
    let mut step = 0_u64;
    while Instant::now() < end && user.record.requests < user.crowd.max_requests {
        if user.logged_in && logout_at.is_some_and(|at| Instant::now() >= at) {
            if let Some(copy) = user.log_out().await {
                logout_at = None;
                for _ in 0..REPLAYS {
                    user.replay(&copy).await;
                }
                captured = Some(copy);
            }
        } else if user.logged_in && user.upload_due() {
            user.upload_file().await;
        } else if user.logged_in {
            match step % user.round() {
                0 if user.crowd.script == Script::ConcurrentAdds => user.add_two_at_once().await,
                0 => user.add_item().await,
                1 => user.check_cart().await,
                2 => user.read_me().await,
                _ => user.kind_step().await,
            }
            step += 1;
        } else {
            user.login().await;
            step = 0;
        }
        user.share_cookies();
        let think = user.crowd.think.mul_f64(user.rng.random_range(0.5..1.5));
        let wake = (Instant::now() + think).min(end);
        tokio::time::sleep_until(wake.into()).await;
    }
    user.finish_kinds().await;
    // The attacker tries once more, seconds after the logout.
    if let Some(copy) = captured {
        user.replay(&copy).await;
    }
    user.record
}

impl User {
    async fn login(&mut self) {
        let body = json!({ "user": self.record.name });
        let t_ms = self.crowd.clock.t_ms();
        let answer = self.send(Method::POST, "/login", Some(body)).await;
        if answer.status == Some(StatusCode::OK) {
            let node = answer.node.unwrap_or_default();
            self.logged_in = true;
            self.session_node.clone_from(&node);
            self.ledger.clear();
            self.uncertain.clear();
            self.record.logins.push(Login { t_ms, node });
            self.after_login();
        }
    }

    async fn add_item(&mut self) {
        let item = ITEMS[self.rng.random_range(0..ITEMS.len())].to_string();
        let qty = self.rng.random_range(1..=3_u64);
        let answer = self.send(Method::POST, "/cart", Some(json!({ "item": item, "qty": qty }))).await;
        match answer.status {
            Some(StatusCode::OK) => *self.ledger.entry(item).or_default() += qty,
            Some(StatusCode::UNAUTHORIZED) => {}
            _ => *self.uncertain.entry(item).or_default() += qty,
        }
    }

    async fn check_cart(&mut self) {
        let answer = self.send(Method::GET, "/cart", None).await;
        if answer.status != Some(StatusCode::OK) {
            return;
        }
        let server: BTreeMap<String, u64> = answer
            .body
            .as_ref()
            .and_then(|b| b.get("items"))
            .and_then(|items| serde_json::from_value(items.clone()).ok())
            .unwrap_or_default();
        if !self.cart_matches(&server) {
            self.record.cart_losses.push(self.crowd.clock.t_ms());
            let missing =
                self.ledger.iter().map(|(item, &want)| want.saturating_sub(server.get(item).copied().unwrap_or(0)));
            self.record.cart_items_missing += missing.sum::<u64>();
        }
        // An acknowledged add the cart does not show is lost. Only adds a
        // cart read checked count, so the share is not diluted by the last
        // pair of the run, which no read follows.
        let t_ms = self.crowd.clock.t_ms();
        for item in std::mem::take(&mut self.paired) {
            self.record.paired_adds += 1;
            self.record.bucket(t_ms).concurrent_adds_checked += 1;
            let want = self.ledger.get(&item).copied().unwrap_or(0);
            let got = server.get(&item).copied().unwrap_or(0);
            if got < want {
                self.record.paired_adds_lost += 1;
                self.record.bucket(t_ms).concurrent_adds_lost += 1;
            }
        }
        self.ledger = server;
        self.uncertain.clear();
    }

    /// The server's cart matches when each item lies between what the ledger
    /// knows was added and that plus the adds that may have been applied.
    fn cart_matches(&self, server: &BTreeMap<String, u64>) -> bool {
        let known = self.ledger.keys().chain(self.uncertain.keys());
        let every_known_fits = known.clone().all(|item| {
            let low = self.ledger.get(item).copied().unwrap_or(0);
            let high = low + self.uncertain.get(item).copied().unwrap_or(0);
            let got = server.get(item).copied().unwrap_or(0);
            (low..=high).contains(&got)
        });
        let nothing_unknown =
            server.keys().all(|item| self.ledger.contains_key(item) || self.uncertain.contains_key(item));
        every_known_fits && nothing_unknown
    }

    async fn read_me(&mut self) {
        self.send(Method::GET, "/me", None).await;
    }

    /// Adds two different items, one each, with two requests sent at once
    /// with the same cookie. Answers are taken in the order they arrive, so
    /// the cookie of the later one is what the jar keeps.
    async fn add_two_at_once(&mut self) {
        let first = self.rng.random_range(0..ITEMS.len());
        let second = (first + self.rng.random_range(1..ITEMS.len())) % ITEMS.len();
        let mut in_flight = FuturesUnordered::new();
        for item in [ITEMS[first], ITEMS[second]] {
            match self.prepare(Method::POST, "/cart", Some(json!({ "item": item, "qty": 1 }))) {
                Ok(request) => in_flight.push(async move { (item, exchange(request).await) }),
                Err(t_ms) => self.no_route(t_ms),
            }
        }
        while let Some((item, exchange)) = in_flight.next().await {
            let answer = self.absorb(exchange);
            match answer.status {
                Some(StatusCode::OK) => {
                    *self.ledger.entry(item.to_string()).or_default() += 1;
                    self.paired.push(item.to_string());
                }
                Some(StatusCode::UNAUTHORIZED) => {}
                _ => *self.uncertain.entry(item.to_string()).or_default() += 1,
            }
        }
    }

    /// Logs out, and returns the `sid` cookie as it was just before: what an
    /// attacker who captured it holds. `None` when the logout was not
    /// confirmed (the user tries again later).
    async fn log_out(&mut self) -> Option<String> {
        let copy = self.jar.get("sid")?.to_string();
        let answer = self.send(Method::POST, "/logout", None).await;
        if answer.status != Some(StatusCode::NO_CONTENT) {
            return None;
        }
        self.record.logouts_done += 1;
        // The server cleared the cookie; a browser forgets it either way.
        self.jar.clear();
        self.logged_in = false;
        self.ledger.clear();
        self.uncertain.clear();
        self.paired.clear();
        Some(copy)
    }

    /// The attacker: `GET /me` with a captured cookie, through the same load
    /// balancer, outside the user's own counts. 200 means the logged-out
    /// session still works.
    async fn replay(&mut self, sid: &str) {
        let t_ms = self.crowd.clock.t_ms();
        let Some(route) = self.crowd.balancer.route(self.index) else {
            return;
        };
        let request = self
            .crowd
            .client
            .get(format!("{}/me", route.url))
            .timeout(REQUEST_TIMEOUT)
            .header(COOKIE, format!("sid={sid}"));
        let answer = request.send().await;
        let outcome = match &answer {
            Ok(_) => Outcome::Answered,
            Err(e) if e.is_connect() => Outcome::Unreachable,
            Err(_) => Outcome::Broken,
        };
        self.crowd.balancer.observe(self.index, &route, outcome);
        self.record.replays_sent += 1;
        self.record.bucket(t_ms).replays_sent += 1;
        if answer.is_ok_and(|r| r.status() == StatusCode::OK) {
            self.record.replays_accepted += 1;
            self.record.bucket(t_ms).replays_accepted += 1;
        }
    }

    /// Sends one request through the balancer, records it, and handles a 401
    /// after login as a forced logout.
    async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_with(method, path, false, json_body(body)).await
    }

    /// Like [`User::send`], with the body `build` gives the request. With
    /// `measures_404`, a 404 is what the caller's ledger measures (a file or
    /// an order the node does not have), not an unexpected client error.
    async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        measures_404: bool,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Answer {
        match self.prepare_with(method, path, build) {
            Ok(mut request) => {
                let intended = self.intended.take();
                if let Some(at) = intended {
                    request.0 = self.crowd.clock.t_ms_of(at);
                }
                let mut exchange = exchange(request).await;
                if let Some(at) = intended {
                    exchange.latency = exchange.latency.max(at.elapsed());
                }
                let answer = self.absorb(exchange);
                if measures_404 && answer.status == Some(StatusCode::NOT_FOUND) {
                    self.record.other_client_errors -= 1;
                }
                answer
            }
            Err(t_ms) => {
                self.no_route(t_ms);
                Answer::none(None)
            }
        }
    }

    /// Routes a request and builds it with the jar's cookies; `Err(t_ms)`
    /// when no node is live.
    fn prepare(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u64, Route, RequestBuilder), u64> {
        self.prepare_with(method, path, json_body(body))
    }

    fn prepare_with(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<(u64, Route, RequestBuilder), u64> {
        let t_ms = self.crowd.clock.t_ms();
        let route = self.crowd.balancer.route(self.index).ok_or(t_ms)?;
        let mut request = self.crowd.client.request(method, format!("{}{path}", route.url)).timeout(REQUEST_TIMEOUT);
        if let Some(cookie) = self.jar.header() {
            request = request.header(COOKIE, cookie);
        }
        Ok((t_ms, route, build(request)))
    }

    /// A request that had nowhere to go counts as failed, as a load
    /// balancer's own 503 would.
    fn no_route(&mut self, t_ms: u64) {
        self.crowd.live.requests.fetch_add(1, Ordering::Relaxed);
        self.crowd.live.failed.fetch_add(1, Ordering::Relaxed);
        self.record.count(t_ms, Class::Failed, None, None);
    }

    /// Records what a request got: cookies into the jar, the outcome to the
    /// balancer, the counts, and a forced logout on a 401 after login.
    fn absorb(&mut self, exchange: Exchange) -> Answer {
        let crowd = Arc::clone(&self.crowd);
        let Exchange { t_ms, route, reply, latency } = exchange;
        crowd.live.requests.fetch_add(1, Ordering::Relaxed);
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                let outcome = if e.is_connect() { Outcome::Unreachable } else { Outcome::Broken };
                crowd.balancer.observe(self.index, &route, outcome);
                crowd.live.failed.fetch_add(1, Ordering::Relaxed);
                self.record.count(t_ms, Class::Failed, None, None);
                self.record.sample(t_ms, 0, latency);
                return Answer::none(None);
            }
        };
        let Reply { status, node, set_cookies, headers, bytes } = reply;
        for set_cookie in &set_cookies {
            self.jar.store(set_cookie);
            self.note_sid_size(set_cookie);
        }
        crowd.balancer.observe(self.index, &route, Outcome::Answered);
        let Some(bytes) = bytes else {
            crowd.live.failed.fetch_add(1, Ordering::Relaxed);
            self.record.count(t_ms, Class::Failed, node.as_deref(), None);
            return Answer::none(node);
        };
        let class = if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            if status == StatusCode::SERVICE_UNAVAILABLE {
                self.record.unavailable += 1;
                let sid = self.jar.get("sid").map(str::to_string);
                self.record.refusals.push(Refusal { t_ms, sid });
            }
            crowd.live.failed.fetch_add(1, Ordering::Relaxed);
            Class::Failed
        } else if status == StatusCode::UNAUTHORIZED && self.logged_in {
            crowd.live.unauthorized.fetch_add(1, Ordering::Relaxed);
            Class::Unauthorized
        } else {
            if status.is_client_error() && status != StatusCode::UNAUTHORIZED {
                self.record.other_client_errors += 1;
            }
            Class::Ok
        };
        self.record.count(t_ms, class, node.as_deref(), Some(latency));
        self.record.sample(t_ms, status.as_u16(), latency);
        if class == Class::Unauthorized {
            self.forced_logout(t_ms, node.clone().unwrap_or_default());
        }
        let body = serde_json::from_slice(&bytes).ok();
        Answer { status: Some(status), node, headers, body, bytes: Some(bytes) }
    }

    /// Keeps the size of a `sid` cookie the server set (not of one it cleared).
    fn note_sid_size(&mut self, set_cookie: &str) {
        let Ok(cookie) = cookie::Cookie::parse(set_cookie) else {
            return;
        };
        if cookie.name() != "sid" || cookie.value().is_empty() {
            return;
        }
        let bytes = cookie.value().len() as u64;
        self.record.sid_bytes_max = self.record.sid_bytes_max.max(bytes);
        self.record.sid_bytes_sum += bytes;
        self.record.sid_cookies += 1;
    }

    fn forced_logout(&mut self, t_ms: u64, answered_by: String) {
        self.crowd.live.logouts.fetch_add(1, Ordering::Relaxed);
        let items_lost = u32::try_from(self.ledger.values().sum::<u64>()).unwrap_or(u32::MAX);
        if items_lost > 0 {
            self.record.cart_losses.push(t_ms);
        }
        self.record.logouts.push(Logout {
            t_ms,
            user: self.record.name.clone(),
            session_node: self.session_node.clone(),
            answered_by,
            items_lost,
        });
        self.logged_in = false;
        self.ledger.clear();
        self.uncertain.clear();
    }
}
