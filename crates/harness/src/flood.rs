//! Load beyond what the virtual users do, at the highest rate the harness's
//! generator reaches: the keep-alive HTTP/1.1 connections of `harness
//! bench` ([`crate::bench`]), each sending its next request the moment the
//! previous answer has arrived, spread over a side's nodes. Bounded in time
//! and in count, like every load loop of the harness.
//!
//! Three kinds of load ([`Load`]):
//!
//! - **Made-up ids**: `GET /me` with a well-formed credential no server
//!   issued: 128 random bits written as a session id, or, on a token side,
//!   a real token with a random signature. Every one must answer 401; what
//!   it costs the store behind the node is the point (the Redis store pays
//!   a second round trip for each, see `crates/sessions/src/redis.rs`).
//! - **Logins**: `POST /login` as a new user each time, never logging out:
//!   a login needs no password, so anyone can make a node hold sessions.
//! - **Logged in**: `GET /me` on a session of its own, as `harness bench`
//!   does: the full rate an honest crowd could ask for (`redis-hang`).
//!
//! With [`FloodPlan::keep_each`] every request's send time, answer time and
//! status are kept ([`Exchange`]), so a scenario can say how requests that
//! met a frozen Redis were answered and when service came back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;

use crate::bench::http::Connection;
use crate::metrics::Clock;

/// What the flood's connections send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Load {
    /// `GET /me` with a made-up, well-formed credential.
    MadeUpIds,
    /// `POST /login` as a new user each time.
    Logins,
    /// `GET /me` on the connection's own session.
    LoggedIn,
}

/// How a flood runs.
#[derive(Clone, Debug)]
pub struct FloodPlan {
    /// The nodes, taken in turn by the connections.
    pub nodes: Vec<SocketAddr>,
    /// What each connection sends: connection `i` sends `loads[i % len]`.
    pub loads: Vec<Load>,
    /// Connections in all.
    pub connections: usize,
    /// Requests in all, at most.
    pub max_requests: u64,
    /// How long it runs, at most.
    pub duration: Duration,
    /// Seed of the made-up ids and user names.
    pub seed: u64,
    /// Keep every request's times and status ([`FloodRecord::each`]).
    pub keep_each: bool,
    /// On a token side, what its tokens look like ([`token_shape`]): made-up
    /// credentials are then tokens with a random signature.
    pub token_shape: Option<TokenShape>,
}

/// A token's signed part and its signature's length.
pub type TokenShape = (String, usize);

/// What the credentials of the node at `addr` look like: a token's
/// (`Some`), or a plain session id (`None`). Logs a user in and out again.
pub async fn token_shape(addr: SocketAddr) -> Result<Option<TokenShape>> {
    let mut connection = Connection::open(addr).await?;
    connection.log_in("flood-shape").await?;
    let cookie = connection.cookie.clone().unwrap_or_default();
    let value = cookie.strip_prefix("sid=").unwrap_or(&cookie);
    let shape = value.rsplit_once('.').map(|(body, signature)| (body.to_string(), signature.len()));
    connection.exchange("POST", "/logout", b"", true).await?;
    Ok(shape)
}

/// One request of a flood that keeps each ([`FloodPlan::keep_each`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// When it was sent, on the side's clock.
    pub sent_ms: u64,
    /// When its answer came, or when it was given up.
    pub answered_ms: u64,
    /// The answer's status; `None` when there was no answer.
    pub status: Option<u16>,
}

/// What the flood's connections saw, per [`Load`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct FloodRecord {
    /// Requests sent, per load.
    pub requests: BTreeMap<String, u64>,
    /// Answers per status, per load.
    pub statuses: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Requests with no answer.
    pub failed: u64,
    /// How long the flood ran, ms.
    pub elapsed_ms: u64,
    /// Every request, in the order sent, when the plan keeps each.
    #[serde(skip)]
    pub each: Vec<Exchange>,
}

impl FloodRecord {
    /// Requests sent of `load`.
    pub fn sent(&self, load: Load) -> u64 {
        self.requests.get(load.name()).copied().unwrap_or(0)
    }

    /// Answers of `load` with `status`.
    pub fn answered(&self, load: Load, status: u16) -> u64 {
        self.statuses.get(load.name()).and_then(|s| s.get(&status)).copied().unwrap_or(0)
    }

    /// Requests of every load per second of the flood.
    pub fn per_second(&self) -> f64 {
        let all: u64 = self.requests.values().sum();
        if self.elapsed_ms == 0 { 0.0 } else { (all as f64 * 1000.0 / self.elapsed_ms as f64).round() }
    }

    fn merge(&mut self, other: FloodRecord) {
        for (load, n) in other.requests {
            *self.requests.entry(load).or_default() += n;
        }
        for (load, statuses) in other.statuses {
            let mine = self.statuses.entry(load).or_default();
            for (status, n) in statuses {
                *mine.entry(status).or_default() += n;
            }
        }
        self.failed += other.failed;
        self.each.extend(other.each);
    }
}

impl Load {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Load::MadeUpIds => "made-up-ids",
            Load::Logins => "logins",
            Load::LoggedIn => "logged-in",
        }
    }
}

/// Runs `plan` on the side's `clock` and returns what its connections saw.
/// Fails only when no connection could be opened or logged in at all.
pub async fn run(plan: &FloodPlan, clock: Clock) -> Result<FloodRecord> {
    let shared = Arc::new(Shared {
        budget: AtomicU64::new(plan.max_requests),
        until: tokio::time::Instant::now() + plan.duration,
        clock,
        keep_each: plan.keep_each,
        token_shape: plan.token_shape.clone(),
    });
    let started = clock.t_ms();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..plan.connections.max(1) {
        let addr = plan.nodes[index % plan.nodes.len().max(1)];
        let load = plan.loads[index % plan.loads.len().max(1)];
        let seed = plan.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tasks.spawn(drive(addr, load, index, seed, Arc::clone(&shared)));
    }
    let mut record = FloodRecord::default();
    let mut errors = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.context("a flood connection panicked")? {
            Ok(one) => record.merge(one),
            Err(e) => errors.push(e),
        }
    }
    if record.requests.is_empty()
        && let Some(error) = errors.pop()
    {
        return Err(error.context("no flood connection could start"));
    }
    record.elapsed_ms = clock.t_ms().saturating_sub(started);
    record.each.sort_by_key(|e| e.sent_ms);
    Ok(record)
}

/// What a flood's connections share.
struct Shared {
    /// Requests left.
    budget: AtomicU64,
    until: tokio::time::Instant,
    clock: Clock,
    keep_each: bool,
    token_shape: Option<TokenShape>,
}

/// One connection's loop.
async fn drive(addr: SocketAddr, load: Load, index: usize, seed: u64, shared: Arc<Shared>) -> Result<FloodRecord> {
    let Shared { ref budget, until, clock, keep_each, ref token_shape } = *shared;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut connection = Connection::open(addr).await?;
    if load == Load::LoggedIn {
        connection.log_in(&format!("flood-{index}")).await?;
    }
    let mut record = FloodRecord::default();
    let (mut sent, mut statuses) = (0_u64, BTreeMap::new());
    let mut logins = 0_u64;
    while tokio::time::Instant::now() < until
        && budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    {
        let sent_ms = clock.t_ms();
        let answer = match load {
            Load::MadeUpIds => {
                connection.cookie = Some(format!("sid={}", made_up(&mut rng, token_shape.as_ref())));
                connection.exchange("GET", "/me", b"", true).await
            }
            Load::Logins => {
                logins += 1;
                let body = format!(r#"{{"user":"flood-{index}-{logins}"}}"#);
                connection.exchange("POST", "/login", body.as_bytes(), false).await
            }
            Load::LoggedIn => connection.exchange("GET", "/me", b"", true).await,
        };
        sent += 1;
        match answer {
            Ok(status) => *statuses.entry(status).or_insert(0) += 1,
            Err(_) => record.failed += 1,
        }
        if keep_each {
            record.each.push(Exchange { sent_ms, answered_ms: clock.t_ms(), status: answer.ok() });
        }
    }
    record.requests.insert(load.name().to_string(), sent);
    record.statuses.insert(load.name().to_string(), statuses);
    Ok(record)
}

/// A credential no server issued: 128 random bits written as a session id
/// (22 base64url characters), or a token of `token_shape` with a random
/// signature.
fn made_up(rng: &mut rand::rngs::StdRng, token_shape: Option<&TokenShape>) -> String {
    match token_shape {
        None => URL_SAFE_NO_PAD.encode(rng.random::<u128>().to_le_bytes()),
        Some((body, signature_len)) => {
            let mut signature = Vec::with_capacity(signature_len.div_ceil(4) * 3);
            while signature.len() * 4 < signature_len * 3 {
                signature.push(rng.random::<u8>());
            }
            let mut signature = URL_SAFE_NO_PAD.encode(signature);
            signature.truncate(*signature_len);
            format!("{body}.{signature}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_ids_are_well_formed_and_never_repeat() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = made_up(&mut rng, None);
        let b = made_up(&mut rng, None);
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        let token = made_up(&mut rng, Some(&("aGVhZA.Ym9keQ".to_string(), 43)));
        let (body, signature) = token.rsplit_once('.').unwrap();
        assert_eq!(body, "aGVhZA.Ym9keQ");
        assert_eq!(signature.len(), 43);
    }
}
