//! Log out everywhere, from one of two devices.
//!
//! Every twin, plus the token twin with its deny list (`token-revocation`):
//! 3 nodes each, 60 virtual users, each with two devices (two cookie jars,
//! two logins, two routes). At 40% of the run one device of every user
//! sends `DELETE /sessions`; the other device keeps reading `/me`. The
//! example prints, per side, how many of those other sessions outlived the
//! logout: none on the Redis twin, whose per-user index reaches every
//! session; those pinned to another node on the RAM twin, where each node
//! knows only its own sessions; all of them on the token twin, which
//! answers 501 (nothing on the server to end); none with the deny list,
//! whose per-user "not before" time refuses every older token.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example logout_everywhere
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::LogoutEverywhere);
    config.users = 60;
    config.duration = Duration::from_secs(6);
    config.sides = Some(vec![Side::Stateful, Side::Stateless, Side::Token, Side::TokenRevocation]);
    println!("3 nodes per side, 60 users on two devices each, 6 s each; at 40% one device logs out everywhere…\n");
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };

    for side in &report.sides {
        let number = |key: &str| side.findings.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
        let text = |key: &str| side.findings.get(key).and_then(|v| v.as_str()).unwrap_or("-").to_string();
        let (others, survivors) = (number("other_devices"), number("sessions_outliving_logout"));
        let how = match (number("logouts_everywhere"), number("logouts_refused")) {
            (_, refused) if refused > 0 => format!("{refused} logouts refused (501)"),
            (done, _) => format!("{done} logouts (reach: {})", text("logout_reach")),
        };
        println!(
            "{:>16} ({}): {how}; {survivors} of {others} other devices' sessions outlived it; survivors: {}",
            side.side.name(),
            side.routing,
            text("survivor_outcome"),
        );
    }
    println!();
    println!("{}", output::table(&report));
    ExitCode::SUCCESS
}
