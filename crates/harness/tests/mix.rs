//! The other kinds of state (`--mix`), one run per kind at small size:
//! where the stateful twin keeps uploaded files, queued orders and live
//! rooms on the node, a node the user is not on (round-robin) or a node
//! that died loses them; the shared twins lose none.
//!
//! The jobs run starts a private RabbitMQ node (slow to boot: tens of
//! seconds on a busy machine) and the files run a private S3 server; each
//! is started once for its run and stopped with it.

use crate::common;
use harness::{Kind, Mix, Side, scenario};

const ALL_TWINS: &[Side] = &[Side::Stateful, Side::Stateless, Side::Token];

// Under round-robin most of the stateful twin's requests meet a node that
// does not know the session, so its users seldom get as far as a read at
// this size; a dead node shows the loss every time: its users log in again
// elsewhere and read back files that were on its disk.
#[test]
fn files_on_a_dead_stateful_node_are_unreachable_and_shared_ones_are_not() {
    let mix = Mix::of(&[Kind::Files]);
    let report = common::run_mix(&scenario::NodeDeath, ALL_TWINS, 24, 4, mix);

    let stateful = common::side(&report, Side::Stateful);
    let (unreachable, uploaded) = (stateful.kinds.files_unreachable.unwrap(), stateful.kinds.files_uploaded.unwrap());
    assert!(uploaded > 0, "{:#?}", stateful.kinds);
    assert!(unreachable > 0, "files on the killed node's disk: {:#?}", stateful.kinds);
    for side in [Side::Stateless, Side::Token] {
        let row = common::side(&report, side);
        assert!(
            row.kinds.files_uploaded.unwrap() > 0 && row.kinds.files_reads.unwrap() > 0,
            "{side}: {:#?}",
            row.kinds
        );
        assert_eq!(row.kinds.files_unreachable, Some(0), "{side}: every node reads the object store");
    }
    for row in &report.sides {
        assert_eq!(row.kinds.files_digest_mismatches, Some(0), "{}: a file came back changed", row.side);
        assert_eq!(row.other_client_errors, 0, "{}", row.side);
        assert!(row.kinds.orders_lost.is_none() && row.kinds.live_messages_missed.is_none(), "kinds not exercised");
    }
}

#[test]
fn a_dead_stateful_node_loses_its_orders_and_the_broker_loses_none_and_confirms_none_twice() {
    let mix = Mix::of(&[Kind::Jobs]);
    let report = common::run_mix(&scenario::NodeDeath, ALL_TWINS, 30, 5, mix);

    let stateful = common::side(&report, Side::Stateful);
    assert!(stateful.kinds.orders_lost.unwrap() > 0, "the killed node's orders: {:#?}", stateful.kinds);
    for side in [Side::Stateless, Side::Token] {
        let row = common::side(&report, side);
        assert!(row.kinds.orders_placed.unwrap() > 0, "{side}: {:#?}", row.kinds);
        assert_eq!(row.kinds.orders_lost, Some(0), "{side}: RabbitMQ keeps every accepted order: {:#?}", row.kinds);
    }
    for row in &report.sides {
        assert_eq!(row.kinds.orders_done_twice, Some(0), "{}", row.side);
        assert!(row.kinds.order_to_done_ms.is_some_and(|t| t.p50 > 0.0), "{}", row.side);
        assert!(row.kinds.files_unreachable.is_none(), "files were not exercised");
    }
    let json = serde_json::to_value(&report).unwrap();
    let side = &json["sides"][0];
    assert!(side.get("orders_lost").is_some() && side.get("orders_done_twice").is_some(), "{side}");
    assert!(side.get("files_unreachable").is_none() && side.get("live_messages_missed").is_none(), "{side}");
}

#[test]
fn stateful_rooms_split_by_node_and_shared_rooms_deliver_everything() {
    let mix = Mix::of(&[Kind::Live]);
    let report = common::run_mix(&scenario::RoundRobin, ALL_TWINS, 30, 4, mix);

    let stateful = common::side(&report, Side::Stateful);
    let (missed, expected) =
        (stateful.kinds.live_messages_missed.unwrap(), stateful.kinds.live_messages_expected.unwrap());
    assert!(expected > 0, "{:#?}", stateful.kinds);
    // Three nodes: a member hears the third of its room on its own node.
    assert!(missed * 3 > expected, "{missed} of {expected} missed: {:#?}", stateful.kinds);
    for side in [Side::Stateless, Side::Token] {
        let row = common::side(&report, side);
        assert!(row.kinds.live_messages_expected.unwrap() > 0, "{side}: {:#?}", row.kinds);
        assert_eq!(row.kinds.live_messages_missed, Some(0), "{side}: one room across nodes: {:#?}", row.kinds);
        assert_eq!(row.kinds.live_members, Some(row.users), "{side}: every user got into its room");
    }
}

#[test]
fn a_dead_node_drops_its_sockets_and_shared_rooms_catch_their_members_up() {
    let mix = Mix::of(&[Kind::Live]);
    let report = common::run_mix(&scenario::NodeDeath, &[Side::Stateful, Side::Stateless], 30, 5, mix);

    for row in &report.sides {
        assert!(row.kinds.live_connections_dropped.unwrap() > 0, "{}: the killed node's sockets", row.side);
        assert!(row.kinds.live_reconnect_ms.is_some_and(|t| t.p50 > 0.0), "{}: {:#?}", row.side, row.kinds);
    }
    let stateless = common::side(&report, Side::Stateless);
    assert_eq!(stateless.kinds.live_missed_while_reconnecting, Some(0), "after=SEQ catches up: {:#?}", stateless.kinds);
    assert_eq!(stateless.kinds.live_reconnect_gaps, Some(0));
}
