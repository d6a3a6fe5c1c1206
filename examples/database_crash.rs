//! A crashed database keeps what it committed; `synchronous_commit = off`
//! trades the last moment of commits for speed.
//!
//! The harness's private PostgreSQL, which holds the database side's
//! sessions, is SIGKILLed (every process of it) a third of the way in and
//! restarted at once, twice: with PostgreSQL's defaults (`fsync`, each
//! commit waits for the disk) and with `synchronous_commit = off` (a commit
//! answers before its write-ahead log record is written). With the defaults
//! it replays its log and nobody is logged out, unlike a Redis without
//! persistence; with asynchronous commit the logins and cart adds of the
//! last moment before the kill may be gone.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example database_crash
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, DatabaseDurability, Side, scenario};

fn main() -> ExitCode {
    for durability in [DatabaseDurability::Fsync, DatabaseDurability::AsyncCommit] {
        let mut config = Config::new(&scenario::DatabaseCrash);
        config.users = 100;
        config.duration = Duration::from_secs(6);
        config.think = Duration::from_millis(10);
        config.sides = Some(vec![Side::Database]);
        config.database_durability = Some(durability);
        let report = match harness::run_example(&config) {
            Ok(report) => report,
            Err(code) => return code,
        };
        if let Some(database) = report.side(Side::Database) {
            let f = &database.findings;
            println!(
                "{durability}: back {} ms after the kill; {} of {} logged-in users logged out by the crash, \
                 {} carts lost, {} answers were 503",
                f["database_back_ms_after_kill"],
                f["users_logged_out_by_crash"],
                f["users_logged_in_at_crash"],
                f["carts_lost_by_crash"],
                f["answers_503"]
            );
        }
        if let Some(note) = report.notes.last() {
            println!("  {note}");
        }
    }
    ExitCode::SUCCESS
}
