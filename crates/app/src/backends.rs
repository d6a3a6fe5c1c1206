//! The bundle of backends a node serves with: one per kind of state.
//!
//! A twin is the app with a choice per kind: where sessions live, where
//! queued orders wait, where live rooms are, where uploaded files are
//! kept. [`Backends`] carries those choices from a main into
//! [`Application::build`](crate::Application::build), which registers each
//! as `web::Data` and mounts each kind's routes.
//!
//! A kind other than sessions may be absent (`None`): a shared-state node
//! started without that kind's service (no `--amqp-url` or no
//! `--object-store`, say). It still starts and serves sessions; the kind's
//! routes answer 501 "not configured on this node" (after the session
//! check, as every route does), and `/healthz` says `"orders":"not
//! configured"`. An absent kind is a choice made at start-up; a kind whose
//! service is down is an outage, answered 503 by its own routes.

use actix_web::web;
use files::FileStore;
use jobs::OrderQueue;
use live::Rooms;
use sessions::SessionStore;

use crate::{files as file_routes, live as live_routes, orders};

/// What `/healthz` says of a kind that has no backend on this node.
pub const NOT_CONFIGURED: &str = "not configured";

/// The backends of one node, one per kind of state. Clones share them (a
/// clone per worker thread, as for the session store).
///
/// ```
/// use app::Backends;
/// use files::DirStore;
/// use jobs::{MemoryQueue, WorkerSettings};
/// use live::MemoryRooms;
/// use sessions::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // What `stateful-server` serves with: everything on the node.
/// let backends = Backends {
///     sessions: MemoryStore::new(std::time::Duration::from_secs(60)),
///     orders: Some(MemoryQueue::new(WorkerSettings::new("node-1"))),
///     rooms: Some(MemoryRooms::new()),
///     files: Some(DirStore::temporary().unwrap()),
/// };
/// assert_eq!(backends.kinds().to_vec(), [("orders", "memory"), ("rooms", "memory"), ("files", "dir")]);
/// # }
/// ```
#[derive(Clone)]
pub struct Backends<S, Q, R, F> {
    /// Where sessions live (every node has them).
    pub sessions: S,
    /// Where orders wait for a worker (`POST /orders`, `GET /orders/{id}`).
    pub orders: Option<Q>,
    /// Where live rooms are (`GET /live`).
    pub rooms: Option<R>,
    /// Where uploaded files are kept (`POST /files`, `GET /files/{id}`).
    pub files: Option<F>,
}

/// Each optional kind's backend as `/healthz` reports it: `("orders",
/// "rabbitmq")`, `("rooms", "not configured")`…
#[derive(Clone, Debug)]
pub struct Kinds(Vec<(&'static str, &'static str)>);

impl Kinds {
    /// The pairs, in a fixed order.
    pub fn to_vec(&self) -> Vec<(&'static str, &'static str)> {
        self.0.clone()
    }

    /// Adds each kind to a `/healthz` body.
    pub fn report(&self, body: &mut serde_json::Value) {
        if let Some(body) = body.as_object_mut() {
            for (kind, backend) in &self.0 {
                body.insert((*kind).to_string(), (*backend).into());
            }
        }
    }
}

impl<S: SessionStore, Q: OrderQueue, R: Rooms, F: FileStore> Backends<S, Q, R, F> {
    /// What `/healthz` reports of the optional kinds.
    pub fn kinds(&self) -> Kinds {
        Kinds(vec![
            ("orders", self.orders.as_ref().map_or(NOT_CONFIGURED, OrderQueue::kind)),
            ("rooms", self.rooms.as_ref().map_or(NOT_CONFIGURED, Rooms::kind)),
            ("files", self.files.as_ref().map_or(NOT_CONFIGURED, FileStore::kind)),
        ])
    }

    /// Registers every backend as `web::Data` (an absent one as
    /// `web::Data<Option<_>>` holding `None`), and each optional kind's
    /// routes. The session routes and `/healthz` are `routes::configure`'s.
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.sessions.clone()))
            .app_data(web::Data::new(self.orders.clone()))
            .app_data(web::Data::new(self.rooms.clone()))
            .app_data(web::Data::new(self.files.clone()))
            .app_data(web::Data::new(self.kinds()))
            .configure(orders::configure::<S, Q>)
            .configure(live_routes::configure::<S, R>)
            .configure(file_routes::configure::<S, F>);
    }
}
