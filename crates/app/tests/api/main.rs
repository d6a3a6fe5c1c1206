//! The HTTP API of the twins, tested over real sockets against in-process
//! servers (`Application::build` on port 0) and, for the shared-state twins,
//! a private `redis-server`, PostgreSQL, RabbitMQ node and S3 server.
//! `token` covers what only the token twin does, `capacity` the modelled
//! per-node capacity, `bound` the RAM store's bound on sessions; `orders`,
//! `live` and `shared` the queued work and live rooms on the node and
//! shared; `files` uploaded files on the node's disk and in an object store;
//! `sessions` a user's own sessions (listing them, logging out
//! everywhere), their absolute lifetime and the secure cookie.

mod bound;
mod capacity;
mod cluster;
mod files;
mod helpers;
mod live;
mod orders;
mod outage;
mod parity;
mod sessions;
mod shared;
mod token;
