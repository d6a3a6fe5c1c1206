//! An open-loop session ([`crate::arrivals`]): a user arrives, logs in,
//! sends its requests on a schedule of its own, and leaves.
//!
//! The steps are the usual loop's (add to the cart, read it back, read
//! `/me`), counted the same way. What differs is the clock: each request
//! has an intended start, the previous one's plus a jittered gap, whether or
//! not the previous answer has come; a late answer makes the next request
//! late, and that lateness is part of the next request's latency. A user
//! logged out (or whose login was refused) logs in again at its next turn.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;

use super::{Crowd, User};
use crate::arrivals::Arrival;
use crate::metrics::UserRecord;

/// Plays user `index` as one session planned by `arrival`, until it has
/// sent its requests, the crowd's duration ends, or it has sent the
/// crowd's `max_requests`; returns what it saw.
pub async fn session(crowd: Arc<Crowd>, index: usize, arrival: Arrival) -> UserRecord {
    let mut user = User::new(crowd, index);
    let end = user.crowd.clock.at(user.crowd.duration);
    let mut next = user.crowd.clock.at(arrival.at);
    let mut sent = 0_u32;
    let mut step = 0_u64;
    while next < end && sent < arrival.requests && user.record.requests < user.crowd.max_requests {
        tokio::time::sleep_until(next.into()).await;
        user.intended = Some(next);
        if user.logged_in {
            match step % 3 {
                0 => user.add_item().await,
                1 => user.check_cart().await,
                _ => user.read_me().await,
            }
            step += 1;
            sent += 1;
        } else {
            user.login().await;
            step = 0;
        }
        next += jittered(&mut user.rng, arrival.gap);
        // A late answer does not move the schedule; nor may it run past the end.
        if next >= end {
            break;
        }
    }
    user.record
}

/// `gap` ±50 %.
fn jittered(rng: &mut StdRng, gap: Duration) -> Duration {
    gap.mul_f64(rng.random_range(0.5..1.5))
}
