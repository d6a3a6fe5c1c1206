//! The live rooms' tests, in one binary: the behaviour both kinds of room
//! share, what two nodes see of each other's rooms, and what a broker outage
//! does.

mod common;
mod nodes;
mod outage;
mod suite;
