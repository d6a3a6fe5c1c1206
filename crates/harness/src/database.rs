//! The run's PostgreSQL: the store of the `database` side.
//!
//! When a side keeps its sessions in a database, the run starts a private
//! PostgreSQL before the first node (a fresh cluster made by `initdb` in a
//! temporary directory, on a free loopback port, from the `local-postgres`
//! crate) and every node of that side gets its URL in `--database-url`. A
//! scenario may stop it (`database-outage`) or kill it (`database-crash`);
//! dropping the run stops it and removes its directory.
//!
//! How it treats the disk is [`DatabaseDurability`] (`--database-durability`):
//! scenarios that do not take the database away run with `fsync` off,
//! which loses nothing when only the process dies and keeps the disk out of
//! the measurement; `database-crash` runs PostgreSQL's own defaults, and
//! `async-commit` shows what `synchronous_commit = off` gives up.

use std::fmt;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use local_postgres::{DATABASE, Durability, PostgresServer};
use serde::Serialize;

use crate::UsageError;

/// How the run's PostgreSQL treats the disk, and what a crash can lose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatabaseDurability {
    /// `fsync = off`, `synchronous_commit = on`: a commit has handed its WAL
    /// record to the kernel before it answers, so a killed server loses
    /// nothing; a machine that loses power could lose anything.
    #[default]
    NoFsync,
    /// PostgreSQL's defaults (`fsync = on`, `synchronous_commit = on`): a
    /// commit answers once its WAL record is on the disk.
    Fsync,
    /// `fsync = on`, `synchronous_commit = off`: a commit answers before its
    /// WAL record is written; the WAL writer writes it within about three
    /// `wal_writer_delay` (`200ms` by default), or sooner when a WAL page
    /// fills, so a crash can lose the commits of that last moment.
    AsyncCommit,
}

impl DatabaseDurability {
    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            DatabaseDurability::NoFsync => "no-fsync",
            DatabaseDurability::Fsync => "fsync",
            DatabaseDurability::AsyncCommit => "async-commit",
        }
    }

    /// What a SIGKILLed server loses in this mode, in a sentence.
    pub fn crash_loss(self) -> &'static str {
        match self {
            DatabaseDurability::NoFsync => {
                "Every commit had reached the kernel before its answer: a killed process loses nothing \
                 (a machine that loses power could lose anything, since nothing waited for the disk)."
            }
            DatabaseDurability::Fsync => {
                "Every commit was on the disk before its answer: nothing acknowledged is lost, \
                 whatever dies; each request that changes a session waits for the disk."
            }
            DatabaseDurability::AsyncCommit => {
                "With synchronous_commit off a commit answers before its WAL record is written: what the \
                 WAL writer had not yet written when the server died (at most the last few hundred \
                 milliseconds of logins and cart adds) is gone; the counts above say how much that was."
            }
        }
    }
}

impl fmt::Display for DatabaseDurability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The harness's own PostgreSQL, which a scenario may stop or kill.
#[derive(Clone, Debug)]
pub struct Database {
    server: Arc<Mutex<PostgresServer>>,
    durability: DatabaseDurability,
}

impl Database {
    /// Starts a private PostgreSQL: bad usage (exit 2, with how to install
    /// it) when PostgreSQL is not installed.
    pub async fn start(durability: DatabaseDurability) -> Result<Database> {
        if !local_postgres::is_installed() {
            bail!(UsageError(format!(
                "PostgreSQL is not installed (the database side needs it); install it with `{}`",
                local_postgres::INSTALL_HINT
            )));
        }
        let server = tokio::task::spawn_blocking(move || -> Result<PostgresServer> {
            let fsync = match durability {
                DatabaseDurability::NoFsync => Durability::NoFsync,
                DatabaseDurability::Fsync | DatabaseDurability::AsyncCommit => Durability::Fsync,
            };
            let server = PostgresServer::start_with(fsync).context("cannot start PostgreSQL")?;
            if durability == DatabaseDurability::AsyncCommit {
                // Every new connection to the nodes' database gets it, and it
                // is kept across restarts.
                server
                    .psql(DATABASE, &format!("ALTER DATABASE {DATABASE} SET synchronous_commit = off"))
                    .context("cannot turn synchronous_commit off")?;
            }
            Ok(server)
        })
        .await??;
        Ok(Database { server: Arc::new(Mutex::new(server)), durability })
    }

    /// The URL nodes connect to.
    pub fn url(&self) -> String {
        self.server.lock().unwrap().url()
    }

    /// The server's process id (`harness bench` reads its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self.server.lock().unwrap().pid()
    }

    /// The server, for a scenario to stop, kill or restart.
    pub fn server(&self) -> Arc<Mutex<PostgresServer>> {
        Arc::clone(&self.server)
    }

    /// How it treats the disk.
    pub fn durability(&self) -> DatabaseDurability {
        self.durability
    }
}
