//! Queued work: now and then, after adding to its cart, the user checks the
//! cart out as an order (`POST /orders`, 202 and the cart emptied) and
//! polls it (`GET /orders/{id}`) until it is done.
//!
//! The ledger holds every order the server accepted. Once the run is over
//! the user keeps polling its pending orders for up to
//! [`ORDERS_DEADLINE`](crate::mix::ORDERS_DEADLINE), then reads every done
//! order once more for its final `confirmations`. An order is *lost* when it
//! was accepted and never seen done: not done by the deadline, or answered
//! 404 (on the stateful twin, an order whose node died, or that another
//! node never heard of). It is *done twice* when its `confirmations` is
//! above 1: the idempotency key failed to keep a redelivered job's effect
//! single.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::User;
use crate::mix::ORDERS_DEADLINE;

/// Pause between two rounds of polling after the run.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// An order the server accepted.
#[derive(Clone, Debug)]
pub struct Placed {
    /// Its id.
    pub id: String,
    /// Seen `done`.
    pub done: bool,
    /// Answered 404 before it was seen done.
    pub missing: bool,
    /// `confirmations` as last read.
    pub confirmations: u64,
    /// `deliveries` as last read.
    pub deliveries: u64,
    /// `done_at - placed_at` as the server recorded them, in ms.
    pub to_done_ms: Option<u64>,
}

/// One user's orders.
#[derive(Debug, Default)]
pub struct OrderLedger {
    /// Orders accepted (202), in order.
    pub placed: Vec<Placed>,
    /// `POST /orders` sent.
    pub attempts: u64,
}

impl OrderLedger {
    /// Orders neither seen done nor missing.
    pub fn pending(&self) -> impl Iterator<Item = &Placed> {
        self.placed.iter().filter(|o| !o.done && !o.missing)
    }
}

impl User {
    fn orders(&mut self) -> Option<&mut OrderLedger> {
        self.record.kinds.orders.as_mut()
    }

    /// Checks the cart out. The server empties the cart when it accepts the
    /// order; when the answer is lost the cart may or may not be empty, so
    /// its items become uncertain, as an unanswered add's are.
    pub(super) async fn place_order(&mut self) {
        let answer = self.send(Method::POST, "/orders", None).await;
        match answer.status {
            Some(StatusCode::ACCEPTED) => {
                self.ledger.clear();
                self.uncertain.clear();
            }
            Some(StatusCode::UNAUTHORIZED) => {}
            _ => {
                for (item, qty) in std::mem::take(&mut self.ledger) {
                    *self.uncertain.entry(item).or_default() += qty;
                }
            }
        }
        let id = answer.body.as_ref().and_then(|b| b.get("order")).and_then(Value::as_str).map(str::to_string);
        let Some(orders) = self.orders() else {
            return;
        };
        orders.attempts += 1;
        if answer.status == Some(StatusCode::ACCEPTED)
            && let Some(id) = id
        {
            orders.placed.push(Placed {
                id,
                done: false,
                missing: false,
                confirmations: 0,
                deliveries: 0,
                to_done_ms: None,
            });
        }
    }

    /// Polls the oldest pending order.
    pub(super) async fn poll_order(&mut self) {
        let Some(index) =
            self.record.kinds.orders.as_ref().and_then(|o| o.placed.iter().position(|o| !o.done && !o.missing))
        else {
            return;
        };
        self.read_order(index).await;
    }

    /// Reads order `index` of the ledger and notes what it says.
    async fn read_order(&mut self, index: usize) {
        let Some(id) = self.record.kinds.orders.as_ref().map(|o| o.placed[index].id.clone()) else {
            return;
        };
        let answer = self.send_with(Method::GET, &format!("/orders/{id}"), true, |request| request).await;
        let Some(orders) = self.orders() else {
            return;
        };
        let order = &mut orders.placed[index];
        match (answer.status, answer.body) {
            (Some(StatusCode::OK), Some(body)) => {
                let number = |name: &str| body.get(name).and_then(Value::as_u64);
                order.confirmations = number("confirmations").unwrap_or(order.confirmations);
                order.deliveries = number("deliveries").unwrap_or(order.deliveries);
                if body.get("status").and_then(Value::as_str) == Some("done") {
                    order.done = true;
                    if let (Some(placed), Some(done)) = (number("placed_at"), number("done_at")) {
                        order.to_done_ms = Some(done.saturating_sub(placed));
                    }
                }
            }
            (Some(StatusCode::NOT_FOUND), _) if !order.done => order.missing = true,
            _ => {}
        }
    }

    /// After the run: polls every pending order until it is done or the
    /// deadline passes (logging in again if the session was lost), then
    /// reads each done order once more for its final confirmations.
    pub(super) async fn drain_orders(&mut self) {
        let deadline = Instant::now() + ORDERS_DEADLINE;
        let pending = |user: &User| user.record.kinds.orders.as_ref().is_some_and(|o| o.pending().next().is_some());
        while pending(self) && Instant::now() < deadline {
            if !self.logged_in {
                self.login().await;
            } else {
                let indices: Vec<usize> = self.record.kinds.orders.as_ref().map_or_else(Vec::new, |o| {
                    o.placed.iter().enumerate().filter(|(_, o)| !o.done && !o.missing).map(|(i, _)| i).collect()
                });
                for index in indices {
                    self.read_order(index).await;
                }
            }
            tokio::time::sleep(DRAIN_POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
        let done: Vec<usize> =
            self.record.kinds.orders.as_ref().map_or_else(Vec::new, |o| {
                o.placed.iter().enumerate().filter(|(_, o)| o.done).map(|(i, _)| i).collect()
            });
        for index in done {
            if !self.logged_in {
                self.login().await;
            }
            self.read_order(index).await;
        }
    }
}
