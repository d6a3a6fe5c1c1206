//! The sides the harness can run (the twins, one of them twice), as one
//! small table.
//!
//! Adding a side is one variant, one row in [`Side::ALL`] and one arm in
//! [`Side::info`], [`Side::extra_args`] and [`Side::env`].
//!
//! The token twin runs as two sides from one binary: `token` (no deny list,
//! the default column) and `token-revocation` (`--revocation-redis`, the
//! deny list on), which `logout-replay` adds so the report shows logout with
//! and without it. Every token node of a run gets the same key, made once
//! per run from the OS RNG ([`random_key`]) and handed over in `TOKEN_KEY`
//! rather than on the command line, where `ps` would show it. The
//! `key-mismatch` scenario asks for [`TokenKeys::PerNode`] instead: a fresh
//! key for every node started.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::router::Policy;

/// One twin: a server binary and the way a load balancer would route it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Sessions in each node's RAM.
    Stateful,
    /// Sessions in Redis.
    Stateless,
    /// Sessions in a signed cookie; logout cannot end a copy.
    Token,
    /// Sessions in a signed cookie, with the logout deny list in Redis.
    TokenRevocation,
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

/// What a node needs from the run to start.
#[derive(Clone, Debug, Default)]
pub struct Backing {
    /// The Redis every node of a Redis-backed side uses.
    pub redis_url: Option<String>,
    /// The key token nodes sign with.
    pub token_keys: TokenKeys,
}

/// Which key each token node gets.
#[derive(Clone, Default)]
pub enum TokenKeys {
    /// No key (sides that do not sign anything).
    #[default]
    None,
    /// One key for every node: what a real deploy must do.
    Shared(String),
    /// A fresh random key for every node started (`key-mismatch`).
    PerNode,
}

// The key is a secret: keep it out of Debug output, as the server does.
impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenKeys::None => "None",
            TokenKeys::Shared(_) => "Shared(..)",
            TokenKeys::PerNode => "PerNode",
        })
    }
}

/// A token key: 48 bytes from the operating system's RNG, written as 96 hex
/// characters (the server uses the text's bytes, so 96 key bytes).
pub fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0_u8; 48];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Side {
    /// Every side, in the order of the table's columns.
    pub const ALL: &'static [Side] = &[Side::Stateful, Side::Stateless, Side::Token, Side::TokenRevocation];

    /// The sides a run picks when `--sides` is not given (and their binary
    /// is built): one per twin. Scenarios may add more.
    pub const DEFAULT: &'static [Side] = &[Side::Stateful, Side::Stateless, Side::Token];

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
            Side::Token => SideInfo {
                name: "token",
                binary: "token-server",
                routing: Policy::RoundRobin,
                needs_redis: false,
                state_lives: "in a signed cookie the client holds; nodes share the key",
            },
            Side::TokenRevocation => SideInfo {
                name: "token-revocation",
                binary: "token-server",
                routing: Policy::RoundRobin,
                needs_redis: true,
                state_lives: "in a signed cookie; logged-out token ids in a Redis deny list",
            },
        }
    }

    /// Flags beyond the common ones that this side's nodes start with.
    pub fn extra_args(self, backing: &Backing) -> Vec<String> {
        let flag = match self {
            Side::Stateful | Side::Token => return Vec::new(),
            Side::Stateless => "--redis-url",
            Side::TokenRevocation => "--revocation-redis",
        };
        match &backing.redis_url {
            Some(url) => vec![flag.into(), url.clone()],
            None => Vec::new(),
        }
    }

    /// Environment variables to set (`Some`) or clear (`None`) for one node
    /// of this side. The key goes here, not in argv, so `ps` does not show
    /// it; the deny list's variable is cleared on `token`, so a
    /// `REVOCATION_REDIS` in the harness's own environment cannot turn it on.
    pub fn env(self, backing: &Backing) -> anyhow::Result<Vec<(&'static str, Option<String>)>> {
        if !matches!(self, Side::Token | Side::TokenRevocation) {
            return Ok(Vec::new());
        }
        let key = match &backing.token_keys {
            TokenKeys::Shared(key) => Some(key.clone()),
            TokenKeys::PerNode => Some(random_key()?),
            TokenKeys::None => None,
        };
        let mut env = vec![("TOKEN_KEY", key)];
        if self == Side::Token {
            env.push(("REVOCATION_REDIS", None));
        }
        Ok(env)
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
