//! `logout-replay`: users log out mid-run; an attacker replays the cookie
//! captured before. It also runs the `token-revocation` side, the token
//! twin with its deny list, so the report shows logout with and without it.

use serde::Serialize;

use super::{Findings, Scenario, SideRun, findings_of};
use crate::services::Services;
use crate::side::Side;
use crate::user::Script;

/// Users log out; an attacker replays the cookies captured before.
#[derive(Debug)]
pub struct LogoutReplay;

/// How many replays of a logged-out cookie were still accepted.
#[derive(Serialize)]
struct ReplayFindings {
    logouts: u64,
    replays_sent: u64,
    replays_accepted: u64,
    sessions_replayed_after_logout: usize,
}

impl Scenario for LogoutReplay {
    fn name(&self) -> &'static str {
        "logout-replay"
    }

    fn summary(&self) -> &'static str {
        "users log out mid-run; an attacker replays their old cookies: how many are still accepted"
    }

    fn default_sides(&self) -> &'static [Side] {
        Side::ALL
    }

    fn user_script(&self) -> Script {
        Script::LogoutThenReplay
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        findings_of(&ReplayFindings {
            logouts: run.sum(|u| u.logouts_done),
            replays_sent: run.sum(|u| u.replays_sent),
            replays_accepted: run.sum(|u| u.replays_accepted),
            sessions_replayed_after_logout: run.users.iter().filter(|u| u.replays_accepted > 0).count(),
        })
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![
            "A replay is the attacker's GET /me with a cookie copied before the user logged out. The token twin \
             cannot end a copy it handed out: it keeps working until it expires (--session-ttl after its last \
             use). token-revocation puts the session's id on a deny list in Redis at logout, and every node \
             refuses it: that is server-side state again."
                .to_string(),
        ]
    }
}
