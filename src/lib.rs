//! The root package of the workspace: it owns `examples/` and `benches/`.
//!
//! The code lives in `crates/`; see the README for the map.
