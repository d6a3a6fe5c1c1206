//! `round-robin`: the stateful twin without sticky routing. Each request
//! lands on the next node, which mostly does not hold the user's session.

use serde::Serialize;

use super::{Findings, Scenario, SideRun, findings_of, ratio};
use crate::router::Policy;
use crate::side::Side;

/// The stateful twin without stickiness.
#[derive(Debug)]
pub struct RoundRobin;

/// How many requests after a login a node could not authenticate.
#[derive(Serialize)]
struct UnauthorizedShare {
    requests_after_login: u64,
    unauthorized_share: f64,
}

impl Scenario for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn summary(&self) -> &'static str {
        "the stateful twin without sticky routing: sessions one node cannot see"
    }

    fn routing(&self, _side: Side) -> Policy {
        Policy::RoundRobin
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        unauthorized_share(run)
    }
}

/// Requests after a login, and the share of them answered 401 (also the
/// findings of `key-mismatch`).
pub(super) fn unauthorized_share(run: &SideRun<'_>) -> Findings {
    let logins = run.users.iter().map(|u| u.logins.len() as u64).sum::<u64>();
    let after_login = run.sum(|u| u.requests).saturating_sub(logins);
    findings_of(&UnauthorizedShare {
        requests_after_login: after_login,
        unauthorized_share: ratio(run.sum(|u| u.unauthorized), after_login),
    })
}
