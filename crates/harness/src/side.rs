//! The twins the harness can run, as one small table.
//!
//! Adding a side (the token twin of issue 5) is one variant, one row in
//! [`Side::ALL`] and one arm in [`Side::info`] and [`Side::extra_args`].

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::router::Policy;

/// One twin: a server binary and the way a load balancer would route it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Sessions in each node's RAM.
    Stateful,
    /// Sessions in Redis.
    Stateless,
}

/// What the harness needs to know about a side.
#[derive(Clone, Copy, Debug)]
pub struct SideInfo {
    /// The name in `--sides`, the table and the JSON report.
    pub name: &'static str,
    /// The binary that serves it.
    pub binary: &'static str,
    /// How it is routed unless a scenario says otherwise.
    pub routing: Policy,
    /// Whether its nodes need `--redis-url`.
    pub needs_redis: bool,
    /// One line for the terminal: where a session lives.
    pub state_lives: &'static str,
}

/// What a node needs from the run to start (Redis URL, later a token key).
#[derive(Clone, Debug, Default)]
pub struct Backing {
    /// The Redis every node of a Redis-backed side uses.
    pub redis_url: Option<String>,
}

impl Side {
    /// Every side, in the order of the table's columns.
    pub const ALL: &'static [Side] = &[Side::Stateful, Side::Stateless];

    /// The table row of this side.
    pub fn info(self) -> SideInfo {
        match self {
            Side::Stateful => SideInfo {
                name: "stateful",
                binary: "stateful-server",
                routing: Policy::Sticky,
                needs_redis: false,
                state_lives: "in the RAM of the node the user logged in on",
            },
            Side::Stateless => SideInfo {
                name: "stateless",
                binary: "stateless-server",
                routing: Policy::RoundRobin,
                needs_redis: true,
                state_lives: "in Redis, shared by every node",
            },
        }
    }

    /// Flags beyond the common ones that this side's nodes start with.
    pub fn extra_args(self, backing: &Backing) -> Vec<String> {
        match self {
            Side::Stateful => Vec::new(),
            Side::Stateless => match &backing.redis_url {
                Some(url) => vec!["--redis-url".into(), url.clone()],
                None => Vec::new(),
            },
        }
    }

    /// The side's name.
    pub fn name(self) -> &'static str {
        self.info().name
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Side {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Side::ALL.iter().copied().find(|side| side.name() == s).ok_or_else(|| {
            let names: Vec<_> = Side::ALL.iter().map(|s| s.name()).collect();
            format!("unknown side `{s}` (expected one of: {})", names.join(", "))
        })
    }
}
