//! The HTTP API of the twins, tested over real sockets against in-process
//! servers (`Application::build` on port 0) and, for the stateless twin, a
//! private `redis-server` or a private PostgreSQL. `token` covers what only
//! the token twin does, `capacity` the modelled per-node capacity, `bound`
//! the RAM store's bound on sessions.

mod bound;
mod capacity;
mod cluster;
mod helpers;
mod outage;
mod parity;
mod token;
