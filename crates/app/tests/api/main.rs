//! The HTTP API of the twins, tested over real sockets against in-process
//! servers (`Application::build` on port 0) and, for the stateless twin, a
//! private `redis-server`. `token` covers what only the token twin does,
//! `bound` the RAM store's bound on sessions.

mod bound;
mod cluster;
mod helpers;
mod outage;
mod parity;
mod token;
