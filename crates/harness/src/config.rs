//! What a scenario run is asked to do: [`Config`], built by the command
//! line, the examples and the tests.

use std::path::PathBuf;
use std::time::Duration;

use local_redis::Persistence;
use serde::Serialize;

use crate::haproxy::Balance;
use crate::scenario::Scenario;
use crate::side::Side;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The scenario (one of [`crate::scenario::ALL`]).
    pub scenario: &'static dyn Scenario,
    /// Nodes per side at the start.
    pub nodes: usize,
    /// Virtual users per side.
    pub users: usize,
    /// How long users play, per side.
    pub duration: Duration,
    /// Seed of the users' random choices.
    pub seed: u64,
    /// Pause between two requests of one user (jittered ±50 %).
    pub think: Duration,
    /// Use this Redis instead of starting one.
    pub redis_url: Option<String>,
    /// The sides to run; `None` = every side whose binary is built.
    pub sides: Option<Vec<Side>>,
    /// Where the server binaries are; `None` = beside this executable.
    pub bin_dir: Option<PathBuf>,
    /// Where the JSON report, the SVG chart and node logs go; `None` writes nothing.
    pub out_dir: Option<PathBuf>,
    /// Also write the JSON report here.
    pub json: Option<PathBuf>,
    /// Draw a progress bar (only on a terminal).
    pub progress: bool,
    /// What balances the load: the harness's own router or a real HAProxy.
    pub lb: Lb,
    /// HAProxy's `balance` algorithm (`--lb haproxy` only); `None` = roundrobin.
    pub lb_balance: Option<Balance>,
    /// How the harness's own Redis persists its data; `None` = the
    /// scenario's default. Ignored with `redis_url`.
    pub redis_persistence: Option<Persistence>,
}

/// What sits between the users and the nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Lb {
    /// The harness's own router.
    #[default]
    Harness,
    /// A real HAProxy process per side.
    Haproxy,
}

impl std::fmt::Display for Lb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lb::Harness => "harness",
            Lb::Haproxy => "haproxy",
        })
    }
}

impl Config {
    /// The defaults of `harness run`, for `scenario`.
    pub fn new(scenario: &'static dyn Scenario) -> Config {
        Config {
            scenario,
            nodes: 3,
            users: 200,
            duration: Duration::from_secs(15),
            seed: 42,
            think: Duration::from_millis(50),
            redis_url: None,
            sides: None,
            bin_dir: None,
            out_dir: None,
            json: None,
            progress: false,
            lb: Lb::Harness,
            lb_balance: None,
            redis_persistence: None,
        }
    }

    /// Requests one user sends at most: twice what its think time allows
    /// in the duration, so the count bound never ends a normal run early.
    pub fn max_requests_per_user(&self) -> u64 {
        let per_second = 1000 / self.think.as_millis().max(1) as u64;
        2 * per_second.max(1) * self.duration.as_secs().max(1) + 100
    }

    /// How the harness's own Redis persists in this run.
    pub fn persistence(&self) -> Persistence {
        self.redis_persistence.unwrap_or(self.scenario.default_persistence())
    }
}
