//! The jobs crate's one test binary: a behaviour suite run against both
//! queues (`parity`), what only the in-process queue does (`memory`: a dead
//! node loses its orders) and what only RabbitMQ does (`rabbitmq`: another
//! node finishes a dead node's job, once; the broker goes away and comes
//! back). Every case starts its own real RabbitMQ node and Redis server, or
//! shares one with the other cases of its test where that is safe (each case
//! has a queue of its own).

mod memory;
mod parity;
mod rabbitmq;
mod support;
