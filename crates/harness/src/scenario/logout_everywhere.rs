//! `logout-everywhere`: every user has two devices; part-way through, one
//! of them ends every session of the user (`DELETE /sessions`), and the
//! scenario counts the other devices whose session still worked after.
//!
//! What the user relies on is "log out everywhere" ending the session on
//! the phone left in a taxi. Whether it does depends on where sessions
//! live: Redis keeps a per-user index every node reaches; a RAM node knows
//! only the sessions it holds, so a phone pinned to another node keeps its
//! session; a signed token cannot be ended at all without a deny list,
//! which is server-side state again. It runs the `token-revocation` side
//! too, as `logout-replay` does (and `database` when asked with `--sides`).
//!
//! The users' two devices are played by [`crate::user`] (`devices`):
//! separate cookie jars, separate logins, separate routes.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::Serialize;

use super::{Findings, Scenario, SideRun, Stage, findings_of};
use crate::metrics::{BUCKET, DeviceRecord, EventKind, EverywhereLogout, UserRecord};
use crate::report::Report;
use crate::services::Services;
use crate::side::Side;
use crate::user::{LOGOUT_EVERYWHERE_AT, Script};

/// Every user has two devices; one logs out everywhere mid-run.
#[derive(Debug)]
pub struct LogoutEverywhere;

/// What "log out everywhere" ended, and what it did not.
#[derive(Serialize)]
struct EverywhereFindings {
    /// `DELETE /sessions` answered 204.
    logouts_everywhere: u64,
    /// Answered 501: the side cannot end every session (the token twin
    /// without a deny list). Every other session of that user survives.
    logouts_refused: u64,
    /// The statuses `DELETE /sessions` got, with their counts (`204: 200`);
    /// anything but 204 and 501 means the side lacks the route.
    logout_statuses: String,
    /// `X-Sessions-Reach` of the 204s: `node`, `everywhere`, or both
    /// (`node, everywhere`) if nodes differ; `null` when none.
    logout_reach: Option<String>,
    /// The sum of `X-Sessions-Ended`: sessions the nodes say they ended.
    ended_reported: u64,
    /// Sessions `GET /sessions` listed, on average, just before.
    sessions_listed_mean: Option<f64>,
    /// Other devices that had a session when their user logged out
    /// everywhere (with a 204 or a 501).
    other_devices: u64,
    /// Of those, the ones whose session was created on another node than
    /// the one that answered the `DELETE /sessions`.
    other_devices_on_another_node: u64,
    /// Of those other devices, the ones whose session answered 200 at least
    /// once to a request sent after the logout had returned.
    sessions_outliving_logout: u64,
    /// Seconds from a logout to the last 200 one of its survivors got; a
    /// survivor still working at the end counts the run's remaining time.
    /// 0 when nothing survived.
    last_survivor_s: f64,
    /// What became of the survivors, in words: `none`, `still alive at
    /// the end` when one's last answer was a 200, or `all ended within N s`.
    survivor_outcome: String,
    /// Survivors whose last answer, when the run ended, was a 200.
    survivors_alive_at_end: u64,
    /// `[t_ms, n]` every 100 ms: how many of the other devices' sessions
    /// were working then (the chart's curve; the JSON only).
    other_devices_alive: Vec<[u64; 2]>,
}

/// An other device of a user whose logout everywhere was answered.
struct Other<'a> {
    logout: &'a EverywhereLogout,
    device: &'a DeviceRecord,
}

impl Other<'_> {
    fn survived(&self) -> bool {
        self.device.ok_after_logout > 0
    }

    /// From the logout to its last 200, or to the end of the run when it
    /// still worked then.
    fn survived_ms(&self, duration_ms: u64) -> u64 {
        let until = match self.device.alive_at_end {
            true => duration_ms,
            false => self.device.last_ok_ms.unwrap_or(0),
        };
        until.saturating_sub(self.logout.returned_ms)
    }

    /// Whether its session worked at `t_ms`: from its login until the
    /// logout (or the 401 that ended it before), and after the logout up
    /// to its last 200 if it survived.
    fn alive_at(&self, t_ms: u64) -> bool {
        let Some(login) = self.device.logged_in_ms else {
            return false;
        };
        let until = match (self.survived(), self.device.alive_at_end) {
            (true, true) => u64::MAX,
            (true, false) => self.device.last_ok_ms.unwrap_or(0) + 1,
            (false, _) => self.logout.returned_ms.min(self.device.ended_ms.unwrap_or(u64::MAX)),
        };
        (login..until).contains(&t_ms)
    }
}

/// The other devices (all but the first) of every user whose logout
/// everywhere was answered 204 or 501, that had logged in.
fn others(users: &[UserRecord]) -> Vec<Other<'_>> {
    users
        .iter()
        .filter_map(|u| u.everywhere.as_ref().filter(|e| matches!(e.status, 204 | 501)).map(|e| (u, e)))
        .flat_map(|(u, logout)| {
            u.devices.iter().skip(1).filter(|d| d.logged_in_ms.is_some()).map(move |device| Other { logout, device })
        })
        .collect()
}

fn findings(users: &[UserRecord], duration_ms: u64) -> EverywhereFindings {
    let logouts: Vec<&EverywhereLogout> = users.iter().filter_map(|u| u.everywhere.as_ref()).collect();
    let mut statuses = BTreeMap::<u16, u64>::new();
    for logout in &logouts {
        *statuses.entry(logout.status).or_default() += 1;
    }
    let logout_statuses = match statuses.is_empty() {
        true => "none answered".to_string(),
        false => statuses.iter().map(|(status, n)| format!("{status}: {n}")).collect::<Vec<_>>().join(", "),
    };
    let count = |status: u16| logouts.iter().filter(|l| l.status == status).count() as u64;
    let reaches: std::collections::BTreeSet<&str> = logouts.iter().filter_map(|l| l.reach.as_deref()).collect();
    let listed: Vec<usize> = logouts.iter().filter_map(|l| l.listed).collect();
    let sessions_listed_mean = match listed.len() {
        0 => None,
        n => Some((listed.iter().sum::<usize>() as f64 / n as f64 * 100.0).round() / 100.0),
    };
    let others = others(users);
    let survivors: Vec<&Other<'_>> = others.iter().filter(|o| o.survived()).collect();
    let alive_at_end = survivors.iter().filter(|o| o.device.alive_at_end).count() as u64;
    let last_ms = survivors.iter().map(|o| o.survived_ms(duration_ms)).max().unwrap_or(0);
    let survivor_outcome = match (survivors.len(), alive_at_end) {
        (0, _) => "none".to_string(),
        (_, 0) => format!("all ended within {:.1} s", last_ms as f64 / 1000.0),
        _ => "still alive at the end".to_string(),
    };
    let step = BUCKET.as_millis() as u64;
    let other_devices_alive = (0..duration_ms.div_ceil(step))
        .map(|i| [i * step, others.iter().filter(|o| o.alive_at(i * step)).count() as u64])
        .collect();
    EverywhereFindings {
        logouts_everywhere: count(204),
        logouts_refused: count(501),
        logout_statuses,
        logout_reach: (!reaches.is_empty()).then(|| reaches.into_iter().collect::<Vec<_>>().join(", ")),
        ended_reported: logouts.iter().filter_map(|l| l.ended).sum(),
        sessions_listed_mean,
        other_devices: others.len() as u64,
        other_devices_on_another_node: others
            .iter()
            .filter(|o| o.logout.node.is_some() && o.device.session_node != o.logout.node)
            .count() as u64,
        sessions_outliving_logout: survivors.len() as u64,
        last_survivor_s: (last_ms as f64 / 100.0).round() / 10.0,
        survivor_outcome,
        survivors_alive_at_end: alive_at_end,
        other_devices_alive,
    }
}

impl Scenario for LogoutEverywhere {
    fn name(&self) -> &'static str {
        "logout-everywhere"
    }

    fn summary(&self) -> &'static str {
        "users log in on two devices, then end every session from one: how many other sessions still work"
    }

    fn default_sides(&self) -> &'static [Side] {
        &[Side::Stateful, Side::Stateless, Side::Token, Side::TokenRevocation]
    }

    fn user_script(&self) -> Script {
        Script::LogoutEverywhere
    }

    /// Its users end every session of their name, and on `token-revocation`
    /// refuse every older token of it: in a Redis another run shares, that
    /// would end that run's sessions of the same user names too.
    fn own_redis(&self) -> bool {
        true
    }

    fn script<'a>(&'a self, stage: Stage<'a>) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            stage.at(LOGOUT_EVERYWHERE_AT).await;
            stage.events.record(EventKind::LogoutEverywhere, "users");
            Ok(())
        })
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let duration_ms = u64::try_from(run.config.duration.as_millis()).unwrap_or(u64::MAX);
        findings_of(&findings(run.users, duration_ms))
    }

    fn chart(&self, report: &Report) -> Option<String> {
        Some(crate::output::survivors::chart(report))
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![
            "Each user has two devices with their own cookies; both read /me, and at 40% of the run one of them \
             sends DELETE /sessions. A session outlived the logout when the other device got a 200 after it. \
             A 401 after login here is mostly the other device being logged out, as the user asked."
                .to_string(),
            "stateful: a node ends only the sessions in its own RAM, so a device pinned to another node keeps \
             its session. stateless: Redis keeps an index of each user's sessions that every node reaches. \
             token: nothing on the server to end (501); token-revocation: a per-user \"not before\" time in \
             Redis refuses every older token, which is server-side state again."
                .to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, logout: Option<(u16, u64, &str)>, other: DeviceRecord) -> UserRecord {
        let mut user = UserRecord::new(name.to_string());
        user.everywhere = logout.map(|(status, returned_ms, node)| EverywhereLogout {
            asked_ms: returned_ms - 1,
            returned_ms,
            status,
            ended: (status == 204).then_some(1),
            reach: (status == 204).then(|| "node".to_string()),
            node: Some(node.to_string()),
            listed: Some(1),
        });
        let laptop = DeviceRecord { session_node: Some("n1".into()), logged_in_ms: Some(10), ..Default::default() };
        user.devices = vec![laptop, other];
        user
    }

    fn phone(node: &str, last_ok_ms: u64, ok_after_logout: u64, alive_at_end: bool) -> DeviceRecord {
        DeviceRecord {
            session_node: Some(node.into()),
            logged_in_ms: Some(60),
            last_ok_ms: Some(last_ok_ms),
            answered_after_logout: ok_after_logout.max(1),
            ok_after_logout,
            ended_ms: (!alive_at_end && ok_after_logout == 0).then_some(last_ok_ms + 100),
            alive_at_end,
        }
    }

    #[test]
    fn survivors_are_other_devices_answered_200_after_the_logout_returned() {
        let users = [
            // Same node: ended with the laptop's session.
            user("a", Some((204, 4000, "n1")), phone("n1", 3950, 0, false)),
            // Another node: still working when the run ended.
            user("b", Some((204, 4100, "n1")), phone("n2", 9900, 40, true)),
            // Another node, ended later (its absolute lifetime): 3 s after.
            user("c", Some((204, 4000, "n1")), phone("n3", 7000, 20, false)),
            // The logout never got an answer: not counted at all.
            user("d", None, phone("n2", 9900, 0, true)),
        ];
        let found = findings(&users, 10_000);
        assert_eq!(found.logouts_everywhere, 3);
        assert_eq!(found.logout_statuses, "204: 3");
        assert_eq!(found.other_devices, 3);
        assert_eq!(found.other_devices_on_another_node, 2);
        assert_eq!(found.sessions_outliving_logout, 2);
        assert_eq!(found.survivors_alive_at_end, 1);
        assert_eq!(found.last_survivor_s, 5.9, "still alive: the run's remaining time after b's logout");
        assert_eq!(found.survivor_outcome, "still alive at the end");
        assert_eq!(found.logout_reach.as_deref(), Some("node"));
        assert_eq!(found.ended_reported, 3);
        // Before the logouts all three work; after, b and c; after c's end, b.
        let alive = |t_ms: u64| found.other_devices_alive[(t_ms / 100) as usize][1];
        assert_eq!((alive(0), alive(3000), alive(5000), alive(8000)), (0, 3, 2, 1));
    }

    #[test]
    fn a_refused_logout_leaves_every_other_session_and_nothing_surviving_reads_zero() {
        let refused = [user("a", Some((501, 4000, "n1")), phone("n2", 9900, 50, true))];
        let found = findings(&refused, 10_000);
        assert_eq!((found.logouts_refused, found.sessions_outliving_logout), (1, 1));
        assert_eq!(found.logout_reach, None);
        let ended = [user("a", Some((204, 4000, "n1")), phone("n1", 3900, 0, false))];
        let found = findings(&ended, 10_000);
        assert_eq!((found.sessions_outliving_logout, found.last_survivor_s), (0, 0.0));
        assert!(found.survivor_outcome.starts_with("none"), "{}", found.survivor_outcome);
        assert_eq!(found.other_devices_alive.last().unwrap()[1], 0);
    }
}
