//! The view of a session a store lends for the length of one update.
//!
//! A store keeps a session in its own form (the RAM store packs it into
//! bytes, the Redis and token stores decode a [`Session`]); a
//! [`SessionView`] reads either without copying it. The session model
//! (`session.rs`) knows nothing of these forms.

use std::collections::BTreeMap;

use crate::memory::PackedItems;
use crate::session::{Name, Session};

impl Session {
    /// This session, lent as a [`SessionView`].
    pub fn view(&self) -> SessionView<'_> {
        SessionView {
            user: self.user.as_str(),
            created_at: self.created_at,
            requests: self.requests,
            cart: CartView::Map(&self.cart),
        }
    }
}

/// A session as a store holds it, lent for the length of one update
/// ([`SessionStore::update_with`](crate::SessionStore::update_with)): the
/// caller reads what it needs (a response body) and nothing is copied. It is
/// to a store what a reference from `HashMap::get` is to a map.
#[derive(Clone, Copy)]
pub struct SessionView<'a> {
    /// The name the user logged in with.
    pub user: &'a str,
    /// When the session was created, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Authenticated requests made with this session (login not included).
    pub requests: u64,
    pub(crate) cart: CartView<'a>,
}

/// Where a view's cart lies: a map, or the RAM store's packed bytes.
#[derive(Clone, Copy)]
pub(crate) enum CartView<'a> {
    Map(&'a BTreeMap<String, u64>),
    Packed(PackedItems<'a>),
}

impl<'a> SessionView<'a> {
    /// Item name and quantity, in name order.
    pub fn cart(&self) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let (map, packed) = match self.cart {
            CartView::Map(map) => (Some(map.iter().map(|(item, qty)| (item.as_str(), *qty))), None),
            CartView::Packed(items) => (None, Some(items.iter())),
        };
        map.into_iter().flatten().chain(packed.into_iter().flatten())
    }

    /// A copy of the session, to keep beyond the update.
    pub fn to_session(&self) -> Session {
        Session {
            user: Name::copy_of(self.user.as_bytes()),
            created_at: self.created_at,
            requests: self.requests,
            cart: self.cart().map(|(item, qty)| (item.to_string(), qty)).collect(),
        }
    }
}
