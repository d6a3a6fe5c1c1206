//! The files crate's one test binary.

mod behaviour;
