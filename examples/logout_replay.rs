//! Replay a cookie after its user logged out.
//!
//! Every twin, plus the token twin with its deny list (`token-revocation`):
//! 3 nodes each, 30 virtual users. Midway each user copies its `sid` cookie,
//! logs out and logs in again; an attacker then replays the copy (`GET /me`)
//! three times at once and once more at the end of the run. The example
//! prints, per side, how many replays were accepted: none on the RAM and
//! Redis twins, whose logout deletes the session; all on the token twin,
//! which cannot end a copy it handed out; none with the deny list, which is
//! Redis again.
//!
//! Run it with:
//!
//! ```text
//! cargo build --release --workspace --bins
//! cargo run --release --example logout_replay
//! ```

use std::process::ExitCode;
use std::time::Duration;

use harness::{Config, Side, output, scenario};

fn main() -> ExitCode {
    let mut config = Config::new(&scenario::LogoutReplay);
    config.users = 30;
    config.duration = Duration::from_secs(5);
    config.sides = Some(Side::ALL.to_vec());
    println!("3 nodes per side, 30 users, 5 s each; every user logs out once, an attacker replays its old cookie…\n");
    let report = match harness::run_example(&config) {
        Ok(report) => report,
        Err(code) => return code,
    };

    for side in &report.sides {
        let number = |key: &str| side.findings.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
        let (sent, accepted) = (number("replays_sent"), number("replays_accepted"));
        let verdict = match accepted {
            0 => "the logout ended every copy".to_string(),
            n if n == sent => "every copy still worked after the logout".to_string(),
            n => format!("{n} copies still worked after the logout"),
        };
        println!(
            "{:>16}: {} logouts, {accepted} of {sent} replays accepted: {verdict}",
            side.side.name(),
            number("logouts")
        );
    }
    println!();
    println!("{}", output::table(&report));
    ExitCode::SUCCESS
}
