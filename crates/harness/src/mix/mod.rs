//! The kinds of state a run exercises (`--mix sessions,files,jobs,live`).
//!
//! Sessions are what every run exercises: a user logs in and fills a cart.
//! The other kinds of state the project keeps off the node each add a step
//! to the user's loop, with a ledger of its own (in [`crate::user`]):
//!
//! - **files**: after each login the user uploads a small file and now and
//!   then reads one of its files back, comparing its SHA-256 with what it
//!   sent ([`crate::user::files`]);
//! - **jobs**: now and then, after adding to its cart, the user checks the
//!   cart out as an order and polls it until it is done; after the run's
//!   end every order still pending gets [`ORDERS_DEADLINE`] to be done
//!   ([`crate::user::orders`]);
//! - **live**: the user holds a WebSocket to a room of about
//!   [`ROOM_SIZE`] users, says something now and then, records what it
//!   hears, and reconnects (with `?after=` the last `seq` it saw) when its
//!   socket drops ([`crate::user::live`]).
//!
//! Each side's nodes are told where that state lives ([`NodeKinds`]): the
//! stateful twin keeps it on the node (a files folder per node inside the
//! run's own temporary folder, an in-process queue, rooms in memory), the
//! shared twins in the run's services (an S3 server, RabbitMQ, Redis).
//! [`report`] turns the ledgers into the report's per-kind fields.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use local_rabbitmq::RabbitMq;
use local_s3::S3Server;
use serde::Serialize;

use crate::services::Services;
use crate::side::Side;
use crate::user::files::FileLedger;
use crate::user::live::LiveRecord;
use crate::user::orders::OrderLedger;

pub mod report;

pub use report::KindsReport;

/// How long pending orders get to be done once users stop playing; an
/// order not done by then is lost.
pub const ORDERS_DEADLINE: Duration = Duration::from_secs(10);

/// Users per live room: user `i` is in room `room-(i / ROOM_SIZE)`.
pub const ROOM_SIZE: usize = 10;

/// One kind of state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A login and a cart.
    Sessions,
    /// Uploaded files.
    Files,
    /// Queued work: orders.
    Jobs,
    /// Live connections: WebSocket rooms.
    Live,
}

impl Kind {
    /// Every kind, in the order `--mix` lists them.
    pub const ALL: &'static [Kind] = &[Kind::Sessions, Kind::Files, Kind::Jobs, Kind::Live];

    /// The name in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sessions => "sessions",
            Kind::Files => "files",
            Kind::Jobs => "jobs",
            Kind::Live => "live",
        }
    }
}

/// The kinds a run exercises; always includes sessions (every other kind
/// needs a logged-in user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mix(BTreeSet<Kind>);

impl Default for Mix {
    fn default() -> Mix {
        Mix(BTreeSet::from([Kind::Sessions]))
    }
}

impl Mix {
    /// A mix of `kinds` (sessions is added: every kind needs a login).
    pub fn of(kinds: &[Kind]) -> Mix {
        let mut mix = Mix::default();
        mix.0.extend(kinds.iter().copied());
        mix
    }

    /// Reads `sessions,files,jobs,live` (any order, at least `sessions`).
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut kinds = BTreeSet::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let kind = Kind::ALL.iter().copied().find(|k| k.name() == name).ok_or_else(|| {
                let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown kind of state `{name}` (expected some of: {})", names.join(","))
            })?;
            kinds.insert(kind);
        }
        if !kinds.contains(&Kind::Sessions) {
            return Err(format!(
                "`{text}`: the mix must include sessions (every kind needs a logged-in user), e.g. sessions,files"
            ));
        }
        Ok(Mix(kinds))
    }

    /// Whether the run exercises `kind`.
    pub fn has(&self, kind: Kind) -> bool {
        self.0.contains(&kind)
    }

    /// Whether the run exercises anything besides sessions.
    pub fn is_mixed(&self) -> bool {
        self.0.len() > 1
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join(","))
    }
}

/// The ledgers of the kinds one user exercised (`None` where the run did
/// not exercise the kind).
#[derive(Debug, Default)]
pub struct KindRecords {
    /// Uploaded files and what reading them back gave.
    pub files: Option<FileLedger>,
    /// Orders placed and what became of them.
    pub orders: Option<OrderLedger>,
    /// The user's room: what it said, heard, and its drops.
    pub live: Option<LiveRecord>,
}

/// Where one side's nodes keep the kinds of state of the mix: handed to
/// every node as flags and environment variables ([`NodeKinds::for_node`]).
#[derive(Clone, Default)]
pub struct NodeKinds {
    /// Stateful nodes: the folder under which each node gets a files
    /// folder of its own (`--files-dir FOLDER/NODE`).
    pub files_dir: Option<PathBuf>,
    /// Shared twins: the S3 server's URL (`OBJECT_STORE_URL`).
    pub object_store_url: Option<String>,
    /// Shared twins: RabbitMQ's URL (`AMQP_URL`).
    pub amqp_url: Option<String>,
    /// Shared twins: the Redis for order records and live rooms (`BROKER_URL`).
    pub broker_url: Option<String>,
}

// The URLs carry credentials: keep them out of Debug output.
impl fmt::Debug for NodeKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "Some(..)" } else { "None" };
        f.debug_struct("NodeKinds")
            .field("files_dir", &self.files_dir)
            .field("object_store_url", &set(&self.object_store_url))
            .field("amqp_url", &set(&self.amqp_url))
            .field("broker_url", &set(&self.broker_url))
            .finish()
    }
}

impl NodeKinds {
    /// Where `side`'s nodes keep the kinds of `mix`: the stateful twin's
    /// files under `files_dir`, the shared twins' in the run's `services`.
    pub fn for_side(mix: &Mix, side: Side, services: &Services, files_dir: Option<&Path>) -> NodeKinds {
        if side == Side::Stateful {
            return NodeKinds {
                files_dir: files_dir.filter(|_| mix.has(Kind::Files)).map(Path::to_path_buf),
                ..NodeKinds::default()
            };
        }
        let redis = services.redis.url().filter(|_| mix.has(Kind::Jobs) || mix.has(Kind::Live));
        NodeKinds {
            files_dir: None,
            object_store_url: services.object_store.as_ref().filter(|_| mix.has(Kind::Files)).map(S3Server::url),
            amqp_url: services.rabbitmq.as_ref().filter(|_| mix.has(Kind::Jobs)).map(RabbitMq::url),
            broker_url: redis,
        }
    }
}

impl Mix {
    /// What a run of `mix` on `sides` needs besides its nodes: Redis for
    /// the shared twins' order records and rooms, an S3 server for their
    /// files, RabbitMQ for their orders.
    pub fn needs(&self, sides: &[Side]) -> (bool, bool, bool) {
        let shared = sides.iter().any(|&side| side != Side::Stateful);
        let redis = shared && (self.has(Kind::Jobs) || self.has(Kind::Live));
        (redis, shared && self.has(Kind::Files), shared && self.has(Kind::Jobs))
    }
}

/// The flags and environment of one node (`Some` sets, `None` clears).
pub type NodeSetup = (Vec<String>, Vec<(&'static str, Option<String>)>);

impl NodeKinds {
    /// What node `name` of `side` starts with. URLs (they hold passwords)
    /// go in the environment, where `ps` does not show them; variables of
    /// kinds this node is not given are cleared, so the harness's own
    /// environment cannot configure a kind behind the run's back.
    pub fn for_node(&self, side: Side, name: &str) -> NodeSetup {
        let mut args = Vec::new();
        if side == Side::Stateful
            && let Some(dir) = &self.files_dir
        {
            args.extend(["--files-dir".to_string(), dir.join(name).display().to_string()]);
        }
        let shared = side != Side::Stateful;
        let env = vec![
            ("OBJECT_STORE_URL", self.object_store_url.clone().filter(|_| shared)),
            ("AMQP_URL", self.amqp_url.clone().filter(|_| shared)),
            ("BROKER_URL", self.broker_url.clone().filter(|_| shared)),
        ];
        (args, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_reads_as_written_and_always_has_sessions() {
        let mix = Mix::parse("sessions,files,live").unwrap();
        assert!(mix.has(Kind::Files) && mix.has(Kind::Live) && !mix.has(Kind::Jobs));
        assert_eq!(mix.to_string(), "sessions,files,live");
        assert_eq!(Mix::parse("sessions").unwrap(), Mix::default());
        assert!(!Mix::default().is_mixed());
        assert!(Mix::parse("files").unwrap_err().contains("must include sessions"));
        assert!(Mix::parse("sessions,queues").unwrap_err().contains("unknown kind"));
    }

    #[test]
    fn stateful_nodes_get_a_files_folder_each_and_shared_twins_the_urls_in_their_environment() {
        let kinds = NodeKinds {
            files_dir: Some(PathBuf::from("run")),
            object_store_url: Some("http://k:s@127.0.0.1:9/files".into()),
            amqp_url: None,
            broker_url: Some("redis://127.0.0.1:7".into()),
        };
        let (args, env) = kinds.for_node(Side::Stateful, "stateful-2");
        assert_eq!(args, ["--files-dir", "run/stateful-2"]);
        assert!(env.iter().all(|(_, v)| v.is_none()), "a stateful node is given no shared service");
        let (args, env) = kinds.for_node(Side::Token, "token-1");
        assert!(args.is_empty(), "no URL on the command line: {args:?}");
        assert_eq!(env[0], ("OBJECT_STORE_URL", Some("http://k:s@127.0.0.1:9/files".into())));
        assert_eq!(env[1], ("AMQP_URL", None));
        assert!(!format!("{kinds:?}").contains("k:s@"), "Debug shows no password");
    }
}
