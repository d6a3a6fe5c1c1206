//! The sides the harness can run (the twins, one of them twice), as one
//! small table.
//!
//! Adding a side is one variant, one row in [`Side::ALL`] and one arm in
//! [`Side::info`], [`Side::extra_args`] and [`Side::env`].
//!
//! The token twin runs as two sides from one binary: `token` (no deny list,
//! the default column) and `token-revocation` (`--revocation-redis`, the
//! deny list on), which `logout-replay` and `logout-everywhere` add so the
//! report shows logout with and without it. Every token node of a run gets the same key, made once
//! per run from the OS RNG ([`random_key`]) and handed over in `TOKEN_KEY`
//! rather than on the command line, where `ps` would show it. The
//! `key-mismatch` scenario asks for [`TokenKeys::PerNode`] instead: a fresh
//! key for every node started.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::mix::NodeKinds;
use crate::router::Policy;

/// One twin: a server binary and the way a load balancer would route it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Sessions in each node's RAM.
    Stateful,
    /// Sessions in Redis.
    Stateless,
    /// The stateless twin with its sessions in PostgreSQL (`--database-url`).
    Database,
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
    /// Whether its nodes need `--database-url` (the run's PostgreSQL).
    pub needs_database: bool,
    /// One line for the terminal: where a session lives.
    pub state_lives: &'static str,
}

/// What a node needs from the run to start.
#[derive(Clone, Debug, Default)]
pub struct Backing {
    /// The Redis every node of a Redis-backed side uses.
    pub redis_url: Option<String>,
    /// The PostgreSQL every node of the database side uses.
    pub database_url: Option<String>,
    /// The stateless nodes' store flags when they use a replicated Redis
    /// (a Sentinel set or a Cluster) rather than `redis_url`.
    pub replicated_redis: Option<Vec<String>>,
    /// With `replicated_redis`: the stateless nodes send `WAIT 1 <this>`
    /// after every write.
    pub redis_wait: Option<std::time::Duration>,
    /// The key token nodes sign with.
    pub token_keys: TokenKeys,
    /// Flags the scenario adds for this side's nodes (`--session-ttl`,
    /// `--max-sessions`).
    pub node_args: Vec<String>,
    /// Where nodes keep the other kinds of state of the run's mix.
    pub kinds: NodeKinds,
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
    pub const ALL: &'static [Side] =
        &[Side::Stateful, Side::Stateless, Side::Database, Side::Token, Side::TokenRevocation];

    /// The sides a run picks when `--sides` is not given (and their binary
    /// is built): one per twin. Scenarios may add more. The database side
    /// is not among them: it needs PostgreSQL, and most scenarios teach
    /// the same on it as on the stateless side (ask with `--sides`).
    pub const DEFAULT: &'static [Side] = &[Side::Stateful, Side::Stateless, Side::Token];

    /// The table row of this side.
    pub fn info(self) -> SideInfo {
        match self {
            Side::Stateful => SideInfo {
                name: "stateful",
                binary: "stateful-server",
                routing: Policy::Sticky,
                needs_redis: false,
                needs_database: false,
                state_lives: "in the RAM of the node the user logged in on",
            },
            Side::Stateless => SideInfo {
                name: "stateless",
                binary: "stateless-server",
                routing: Policy::RoundRobin,
                needs_redis: true,
                needs_database: false,
                state_lives: "in Redis, shared by every node",
            },
            Side::Database => SideInfo {
                name: "database",
                binary: "stateless-server",
                routing: Policy::RoundRobin,
                needs_redis: false,
                needs_database: true,
                state_lives: "in PostgreSQL, shared by every node",
            },
            Side::Token => SideInfo {
                name: "token",
                binary: "token-server",
                routing: Policy::RoundRobin,
                needs_redis: false,
                needs_database: false,
                state_lives: "in a signed cookie the client holds; nodes share the key",
            },
            Side::TokenRevocation => SideInfo {
                name: "token-revocation",
                binary: "token-server",
                routing: Policy::RoundRobin,
                needs_redis: true,
                needs_database: false,
                state_lives: "in a signed cookie; logged-out token ids in a Redis deny list",
            },
        }
    }

    /// Flags beyond the common ones that this side's nodes start with.
    pub fn extra_args(self, backing: &Backing) -> Vec<String> {
        let (flag, url) = match self {
            Side::Stateful | Side::Token => (None, &None),
            Side::Stateless if backing.replicated_redis.is_some() => {
                let mut args = backing.replicated_redis.clone().unwrap_or_default();
                if let Some(wait) = backing.redis_wait {
                    let ms = wait.as_millis().to_string();
                    args.extend(["--redis-wait-replicas".into(), "1".into(), "--redis-wait-timeout-ms".into(), ms]);
                }
                args.extend(backing.node_args.iter().cloned());
                return args;
            }
            Side::Stateless => (Some("--redis-url"), &backing.redis_url),
            Side::Database => (Some("--database-url"), &backing.database_url),
            Side::TokenRevocation => (Some("--revocation-redis"), &backing.redis_url),
        };
        let mut args = match (flag, url) {
            (Some(flag), Some(url)) => vec![flag.into(), url.clone()],
            _ => Vec::new(),
        };
        args.extend(backing.node_args.iter().cloned());
        args
    }

    /// Environment variables to set (`Some`) or clear (`None`) for one node
    /// of this side. The key goes here, not in argv, so `ps` does not show
    /// it; the deny list's variable is cleared on `token`, so a
    /// `REVOCATION_REDIS` in the harness's own environment cannot turn it on.
    /// The stateless twin's store variables are cleared the same way: a
    /// `DATABASE_URL` or `REDIS_URL` in the harness's environment would
    /// otherwise pick the other store, or clash with the flag given.
    pub fn env(self, backing: &Backing) -> anyhow::Result<Vec<(&'static str, Option<String>)>> {
        match self {
            Side::Stateful => return Ok(Vec::new()),
            Side::Stateless => return Ok(vec![("DATABASE_URL", None)]),
            Side::Database => {
                return Ok(["REDIS_URL", "REDIS_SENTINEL", "REDIS_MASTER", "REDIS_CLUSTER"]
                    .into_iter()
                    .map(|name| (name, None))
                    .collect());
            }
            Side::Token | Side::TokenRevocation => {}
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
