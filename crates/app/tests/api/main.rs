//! The HTTP API of the twins, tested over real sockets against in-process
//! servers (`Application::build` on port 0) and, for the shared-state twins,
//! a private `redis-server`, PostgreSQL or RabbitMQ node. `token` covers what
//! only the token twin does, `capacity` the modelled per-node capacity,
//! `bound` the RAM store's bound on sessions; `orders`, `live` and `shared`
//! the queued work and live rooms on the node and shared.

mod bound;
mod capacity;
mod cluster;
mod helpers;
mod live;
mod orders;
mod outage;
mod parity;
mod shared;
mod token;
