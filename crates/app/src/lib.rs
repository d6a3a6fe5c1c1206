//! The one web application the twin servers share.
//!
//! `stateful-server`, `stateless-server` and `token-server` are this
//! application with different [`Backends`] plugged in: a
//! [`sessions::SessionStore`], a [`jobs::OrderQueue`], a
//! [`live::Rooms`](::live::Rooms) and a [`files::FileStore`](::files::FileStore),
//! each on the node or in a shared service; nothing else differs. That is the point: whether a cluster needs sticky
//! routing is decided by where the state lives, not by the code that
//! serves requests. The book's first chapter, `docs/where-sessions-live.md`,
//! sets the three side by side.
//!
//! # The API
//! `POST /login`, `GET /me`, `GET /cart`, `POST /cart`, `POST /logout` and
//! `GET /healthz`, JSON in and out, the session in the `sid` cookie
//! (`__Host-sid`, `Secure`, with `--secure-cookies`); a user's own sessions
//! at `GET /sessions`, `DELETE /sessions` (log out everywhere) and
//! `DELETE /sessions/{handle}`; queued
//! work at `POST /orders` and `GET /orders/{id}`; live rooms on a WebSocket
//! at `GET /live?room=NAME`; uploaded files at `POST /files` (the raw body)
//! and `GET /files/{id}` (the bytes, streamed). Every response carries `X-Node`, the name of
//! the node that produced it, so a client (or the harness) can see which
//! node served it.
//!
//! # Modules
//! - [`startup`]: [`Application::build`] binds a port (0 works) and returns
//!   a server with its address and a stop handle.
//! - [`backends`]: the bundle of backends a node serves with, one per kind.
//! - [`routes`]: the session handlers and `/healthz`, generic over the store.
//! - [`user_sessions`]: `GET /sessions`, `DELETE /sessions` and
//!   `DELETE /sessions/{handle}`, and how far each store reaches.
//! - [`orders`]: `POST /orders` and `GET /orders/{id}`.
//! - [`live`](crate::live): `GET /live`, the WebSocket and its close codes.
//! - [`files`](crate::files): `POST /files` and `GET /files/{id}`.
//! - [`errors`]: what can go wrong, and the status each maps to.
//! - [`capacity`]: an optional modelled capacity per node (service slots, a
//!   bounded queue, 503 `overloaded`, the load `/healthz` reports), so a
//!   cluster on one machine saturates node by node as a many-machine one
//!   would.
//! - [`cli`]: the command line the three mains share.
//! - [`telemetry`]: logs to stderr, one span per request with the node id.
//!
//! # The allocator
//!
//! The three mains set mimalloc as their global allocator, each in its own
//! `main.rs`: a library does not choose the allocator of the programs that
//! link it (the harness, a bench). glibc's malloc was about a tenth of a
//! stateless node's CPU under load (`harness bench`, profiled with `perf`):
//! each Redis reply was parsed into a few small allocations. mimalloc is
//! what services of this kind commonly ship with; `benches/me_request.rs`
//! sets it too, so that it measures the app as the servers run it.

pub mod backends;
pub mod capacity;
pub mod cli;
pub mod errors;
pub mod files;
pub mod live;
pub mod orders;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod user_sessions;

pub use backends::Backends;
pub use errors::ApiError;
pub use startup::{Application, Settings};
