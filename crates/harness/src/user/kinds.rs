//! How the steps of the other kinds of state fit into a user's loop: which
//! one takes the loop's fourth turn, what a login starts, and what the user
//! finishes once the run is over.

use rand::Rng as _;

use super::User;
use super::live::Member;
use crate::mix::{Kind, KindRecords, Mix};

/// One order in this many kind turns, when the cart holds something.
const ORDER_ONE_IN: u32 = 3;
/// One file read in this many kind turns.
const READ_ONE_IN: u32 = 2;

impl Mix {
    /// An empty ledger for every kind this mix exercises.
    pub fn kinds_records(&self) -> KindRecords {
        KindRecords {
            files: self.has(Kind::Files).then(Default::default),
            orders: self.has(Kind::Jobs).then(Default::default),
            live: self.has(Kind::Live).then(Default::default),
        }
    }
}

impl User {
    /// Turns in one round of the loop: add, check, `/me`, and a turn for
    /// the other kinds of state when the run exercises any.
    pub(super) fn round(&self) -> u64 {
        if self.crowd.mix.is_mixed() { 4 } else { 3 }
    }

    /// The kinds' turn: poll a pending order, or now and then place an
    /// order (the cart was just added to) or read a file back.
    pub(super) async fn kind_step(&mut self) {
        if self.record.kinds.orders.as_ref().is_some_and(|o| o.pending().next().is_some()) {
            self.poll_order().await;
            return;
        }
        let can_order = self.record.kinds.orders.is_some() && !self.ledger.is_empty();
        if can_order && self.rng.random_ratio(1, ORDER_ONE_IN) {
            self.place_order().await;
        } else if self.record.kinds.files.as_ref().is_some_and(|f| !f.held.is_empty())
            && self.rng.random_ratio(1, READ_ONE_IN)
        {
            self.read_file().await;
        } else {
            self.read_me().await;
        }
    }

    /// What a successful login starts: a file to upload, and the user's
    /// socket (once: it then follows the user's cookies by itself).
    pub(super) fn after_login(&mut self) {
        if let Some(files) = &mut self.record.kinds.files {
            files.upload_due = true;
        }
        if self.record.kinds.live.is_some() && self.live.is_none() {
            self.live = Some(Member::join(&self.crowd, self.index, self.jar.header(), self.rng.random()));
        }
    }

    /// Hands the socket the user's current cookies (a new login, a
    /// re-issued token), so that it reconnects as the user is now.
    pub(super) fn share_cookies(&self) {
        if let Some(member) = &self.live {
            member.cookies(self.jar.header());
        }
    }

    /// Once the run is over: waits for the pending orders (up to
    /// [`crate::mix::ORDERS_DEADLINE`]) and leaves the room.
    pub(super) async fn finish_kinds(&mut self) {
        if self.record.kinds.orders.is_some() {
            self.drain_orders().await;
        }
        if let Some(member) = self.live.take() {
            self.record.kinds.live = Some(member.leave().await);
        }
    }
}
