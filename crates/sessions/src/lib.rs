//! Where a session lives.
//!
//! A web application remembers who you are between two requests by keeping
//! a *session*: your user name, when you logged in, how many requests you
//! made, and your cart. This crate is about one question only: **where is
//! that session kept?** The answer decides whether a cluster of servers can
//! send your next request to any node, or only to the one that knows you.
//!
//! - [`MemoryStore`] keeps sessions in this process's RAM. A lookup costs a
//!   hash-map probe; but only this process can see them, so a load balancer
//!   must send a user back to the same node every time (sticky routing), and
//!   when the process dies its users are logged out.
//! - [`RedisStore`] keeps sessions in Redis. A lookup costs a network round
//!   trip; in exchange every node sees every session, so any node can serve
//!   any request, and a node can die without anyone noticing. Redis is now
//!   the one place that must stay up.
//! - [`PostgresStore`] keeps them in a PostgreSQL table, as many teams do
//!   with the database they already run: the same sharing as Redis, one
//!   `UPDATE … RETURNING` per request, and the database's durability, at the
//!   price of a commit per request.
//!   When one Redis is not enough, [`RedisHaStore`] keeps the same layout
//!   on a Sentinel-managed primary with replicas, or on a Redis Cluster.
//! - [`TokenStore`] keeps them nowhere: the whole session rides in the
//!   cookie as a signed token, re-issued with every answer. Any node with the
//!   key serves any request; logout, size and concurrent updates are what it
//!   gives up.
//!
//! All of them implement [`SessionStore`]. The server-side stores apply
//! every change *inside* the store, atomically: the RAM store under a lock,
//! the Redis store with `HINCRBY` on the one field that changes, the
//! PostgreSQL store in one `UPDATE` that locks the row. Two
//! concurrent requests of one user therefore never overwrite each other's
//! update, which a "load the session, change it, save it back" design would.
//!
//! The book explains each store with runs: `docs/stores.md` (RAM, Redis
//! and PostgreSQL, the layouts, atomic updates) and `docs/token.md` (the
//! token twin).
//!
//! This crate knows no HTTP. The `app` crate puts it behind an actix-web API.
//!
//! # Modules
//! - [`session`]: the session model and the names it accepts.
//! - [`view`]: the view of a session a store lends for one update.
//! - [`id`]: session ids: 128 random bits from the OS, in base64url.
//! - [`store`]: the [`SessionStore`] trait and its error.
//! - [`memory`]: the RAM store.
//! - [`redis`]: the Redis store and its key layout.
//! - [`postgres`]: the PostgreSQL store and its table.
//! - [`redis_ha`]: the same store on Sentinel or a Cluster, through redis-rs.
//! - [`token`]: the signed-token store: the whole session in the cookie, as
//!   an HS256 JWT re-issued with every answer; nothing on the server unless a
//!   logout deny list in Redis is asked for.

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod id;
pub mod memory;
pub mod postgres;
pub mod redis;
pub mod redis_ha;
mod resp;
pub mod session;
pub mod store;
pub mod token;
pub mod view;

pub use id::SessionId;
pub use memory::MemoryStore;
pub use postgres::{PostgresSettings, PostgresStore};
pub use redis::{RedisSettings, RedisStore};
pub use redis_ha::{RedisHaSettings, RedisHaStore, RedisTopology, WaitReplicas};
pub use session::{Name, NameError, Session, now_ms};
pub use store::{Change, DEFAULT_MAX_AGE, Ended, Listed, Reach, SessionInfo, SessionStore, StoreError, Updated};
pub use token::{TokenKey, TokenKeyError, TokenStore};
pub use view::SessionView;
