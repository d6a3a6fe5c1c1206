//! `key-mismatch`: token nodes that do not share a key, under round-robin,
//! beside the stateful twin in the same position. Stateless nodes still
//! need shared configuration.

use super::round_robin::unauthorized_share;
use super::{Findings, Scenario, SideRun};
use crate::router::Policy;
use crate::services::Services;
use crate::side::Side;

/// Token nodes each with their own key, round-robin.
#[derive(Debug)]
pub struct KeyMismatch;

impl Scenario for KeyMismatch {
    fn name(&self) -> &'static str {
        "key-mismatch"
    }

    fn summary(&self) -> &'static str {
        "token nodes without a shared key (round-robin), beside stateful round-robin"
    }

    fn routing(&self, _side: Side) -> Policy {
        Policy::RoundRobin
    }

    fn shares_token_key(&self) -> bool {
        false
    }

    fn findings(&self, run: &SideRun<'_>) -> Findings {
        unauthorized_share(run)
    }

    fn notes(&self, _services: &Services) -> Vec<String> {
        vec![
            "Each token node made up its own key, so no node accepts another's tokens: under round-robin users \
             are logged out as on the stateful twin without stickiness. Stateless nodes still need shared \
             configuration: the same key, delivered to every node."
                .to_string(),
        ]
    }
}
