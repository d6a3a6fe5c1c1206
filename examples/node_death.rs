//! Watch logouts after a node dies.
//!
//! Three nodes of each twin, 30 virtual users each; a third of the way in,
//! one node is killed with SIGKILL, as a crashed machine dies. The example
//! narrates, user by user, who was forced to log in again and when, and what
//! their cart held: on the stateful twin that is every user whose session
//! lived on the dead node; on the stateless twin, nobody.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example node_death
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::metrics::EventKind;
use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::NodeDeath);
    config.users = 30;
    config.duration = Duration::from_secs(6);
    config.sides = Some(vec![Side::Stateful, Side::Stateless]);
    println!(
        "3 nodes per twin, 30 users, 6 s each; one node is killed at 2 s. Running the stateful twin, then the stateless one…\n"
    );
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };

    for side in &report.sides {
        let kill = side.events.iter().find(|e| e.kind == EventKind::Kill);
        println!("── {} twin ({} routing) ──", side.side, side.routing);
        if let Some(kill) = kill {
            println!("{:>7.2} s  {} is killed", kill.t_ms as f64 / 1000.0, kill.node);
        }
        if side.logouts.is_empty() {
            println!("           nobody was logged out: every node could read every session.");
        }
        for logout in &side.logouts {
            let cart = match logout.items_lost {
                0 => "an empty cart".to_string(),
                1 => "1 item in the cart, gone".to_string(),
                n => format!("{n} items in the cart, gone"),
            };
            println!(
                "{:>7.2} s  {} logged out: session lived on {}, {} answered 401; {cart}",
                logout.t_ms as f64 / 1000.0,
                logout.user,
                logout.session_node,
                logout.answered_by,
            );
        }
        println!(
            "           {} of {} users logged out, {} carts lost, {} of {} requests failed\n",
            side.users_logged_out, side.users, side.carts_lost, side.failed_requests, side.requests
        );
    }
    println!("{}", output::table(&report));
    ExitCode::SUCCESS
}
