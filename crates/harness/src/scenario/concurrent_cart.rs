//! `concurrent-cart`: each cart add is two requests sent at once with the
//! same cookie, as two tabs would. The token twin answers each with a
//! cookie holding only its own change; the server-side stores apply both.

use serde::Serialize;

use super::{Findings, Scenario, SideRun, findings_of, ratio};
use crate::services::Services;
use crate::user::Script;

/// Each cart add is two requests at once with the same cookie.
#[derive(Debug)]
pub struct ConcurrentCart;

/// How many acknowledged adds the next cart read did not show.
#[derive(Serialize)]
struct ConcurrentFindings {
    concurrent_adds_checked: u64,
    concurrent_adds_lost: u64,
    concurrent_adds_lost_share: f64,
}

impl Scenario for ConcurrentCart {
    fn name(&self) -> &'static str {
        "concurrent-cart"
    }

    fn summary(&self) -> &'static str {
        "two cart adds at once from one client: how many updates are lost"
    }

    fn user_script(&self) -> Script {
        Script::ConcurrentAdds
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        let checked = run.sum(|u| u.paired_adds);
        let lost = run.sum(|u| u.paired_adds_lost);
        findings_of(&ConcurrentFindings {
            concurrent_adds_checked: checked,
            concurrent_adds_lost: lost,
            concurrent_adds_lost_share: ratio(lost, checked),
        })
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![
            "Each add is two POST /cart sent at once with the same cookie. The token twin answers each with a new \
             cookie holding only its own change; the client keeps the later one and the other add is gone. The \
             server-side stores apply both."
                .to_string(),
        ]
    }
}
