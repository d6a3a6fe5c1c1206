//! One behaviour suite, run against both kinds of room: whatever a member
//! can rely on on one node must hold wherever the rooms live. Each case is
//! written once as a generic function over one handle (one node); the
//! `cases!` macro runs it against [`MemoryRooms`] and against [`RedisRooms`]
//! on a private `redis-server`. What differs between one node and several
//! is in `nodes.rs`.

use std::sync::Arc;

use futures::future::join_all;
use live::{LiveError, MemoryRooms, RedisRooms, Rooms, redis::DEFAULT_HISTORY};
use local_redis::RedisServer;

use crate::common::{next, next_message, room, shared_redis, text, user};

/// Rooms under test, and whatever must outlive them (the Redis process).
pub struct Subject<R> {
    pub rooms: R,
    _redis: Option<Arc<RedisServer>>,
}

fn memory() -> Subject<MemoryRooms> {
    Subject { rooms: MemoryRooms::new(), _redis: None }
}

fn redis() -> Subject<RedisRooms> {
    let server = shared_redis();
    Subject { rooms: RedisRooms::new(&server.url(), DEFAULT_HISTORY).unwrap(), _redis: Some(server) }
}

async fn every_member_receives_every_message_in_seq_order<R: Rooms>(s: Subject<R>, name: &str) {
    let lobby = room(name);
    let mut members =
        vec![s.rooms.subscribe(&lobby, None).await.unwrap(), s.rooms.subscribe(&lobby, None).await.unwrap()];
    let mut sent = Vec::new();
    for (n, from) in ["alice", "bob", "alice", "carol", "bob"].into_iter().enumerate() {
        let message = s.rooms.publish(&lobby, &user(from), text(&format!("hello {n}"))).await.unwrap();
        assert_eq!(
            (message.room, message.from, message.text.as_str()),
            (lobby, user(from), format!("hello {n}").as_str())
        );
        sent.push(message);
    }
    let seqs: Vec<u64> = sent.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "a fresh room numbers its messages from 1 without gaps");
    for member in &mut members {
        for message in &sent {
            assert_eq!(&next_message(member).await, message);
        }
    }
}

async fn rooms_are_separate_and_numbered_each_on_its_own<R: Rooms>(s: Subject<R>, name: &str) {
    let (a, b) = (room(&format!("{name}-a")), room(&format!("{name}-b")));
    let mut in_a = s.rooms.subscribe(&a, None).await.unwrap();
    let mut in_b = s.rooms.subscribe(&b, None).await.unwrap();
    s.rooms.publish(&a, &user("alice"), text("to a")).await.unwrap();
    s.rooms.publish(&a, &user("alice"), text("to a again")).await.unwrap();
    s.rooms.publish(&b, &user("bob"), text("to b")).await.unwrap();
    let first_in_b = next_message(&mut in_b).await;
    assert_eq!((first_in_b.room, first_in_b.seq, first_in_b.text.as_str()), (b, 1, "to b"));
    assert_eq!(next_message(&mut in_a).await.text, "to a");
    assert_eq!(next_message(&mut in_a).await.seq, 2);
}

async fn only_what_is_said_after_joining_arrives<R: Rooms>(s: Subject<R>, name: &str) {
    let lobby = room(name);
    s.rooms.publish(&lobby, &user("alice"), text("before")).await.unwrap();
    let mut member = s.rooms.subscribe(&lobby, None).await.unwrap();
    s.rooms.publish(&lobby, &user("alice"), text("after")).await.unwrap();
    let first = next_message(&mut member).await;
    assert_eq!((first.seq, first.text.as_str()), (2, "after"));
}

/// A member that was away says the last `seq` it saw. A backend with
/// history hands it exactly what it missed, in order, then goes on live
/// without a repeat; the node's rooms keep none, so it starts live and the
/// missed messages are gone (the jump in `seq` tells it so).
async fn catching_up_after_a_seq_returns_what_was_missed<R: Rooms>(s: Subject<R>, name: &str) {
    let lobby = room(name);
    let mut staying = s.rooms.subscribe(&lobby, None).await.unwrap();
    for n in 1..=5 {
        s.rooms.publish(&lobby, &user("alice"), text(&format!("m{n}"))).await.unwrap();
    }
    let mut back = s.rooms.subscribe(&lobby, Some(2)).await.unwrap();
    s.rooms.publish(&lobby, &user("bob"), text("m6")).await.unwrap();
    let expected: Vec<u64> = if s.rooms.kind() == "redis" { vec![3, 4, 5, 6] } else { vec![6] };
    let mut received = Vec::new();
    for _ in &expected {
        let message = next_message(&mut back).await;
        assert_eq!(message.text, format!("m{}", message.seq));
        received.push(message.seq);
    }
    assert_eq!(received, expected);
    for seq in 1..=6 {
        assert_eq!(next_message(&mut staying).await.seq, seq, "the member that stayed missed nothing");
    }
}

async fn clones_share_rooms<R: Rooms>(s: Subject<R>, name: &str) {
    let lobby = room(name);
    let other = s.rooms.clone();
    let mut member = other.subscribe(&lobby, None).await.unwrap();
    let sent = s.rooms.publish(&lobby, &user("dave"), text("via a clone")).await.unwrap();
    assert_eq!(next_message(&mut member).await, sent);
}

async fn members_leaving_do_not_disturb_the_others<R: Rooms>(s: Subject<R>, name: &str) {
    let lobby = room(name);
    let mut staying = s.rooms.subscribe(&lobby, None).await.unwrap();
    let leaving: Vec<_> = join_all((0..20).map(|_| s.rooms.subscribe(&lobby, None))).await;
    drop(leaving);
    s.rooms.publish(&lobby, &user("erin"), text("still here?")).await.unwrap();
    assert_eq!(next_message(&mut staying).await.text, "still here?");
    // Saying something to a room nobody follows is fine too.
    drop(staying);
    s.rooms.publish(&lobby, &user("erin"), text("anyone?")).await.unwrap();
}

async fn concurrent_publishers_get_distinct_consecutive_seqs<R: Rooms>(s: Subject<R>, name: &str) {
    let lobby = room(name);
    let mut member = s.rooms.subscribe(&lobby, None).await.unwrap();
    let sent = join_all((0..100).map(|n| {
        let rooms = s.rooms.clone();
        tokio::spawn(async move { rooms.publish(&lobby, &user("frank"), text(&n.to_string())).await.unwrap() })
    }))
    .await;
    let mut seqs: Vec<u64> = sent.into_iter().map(|m| m.unwrap().seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    for seq in 1..=100 {
        assert_eq!(next_message(&mut member).await.seq, seq, "members receive in seq order");
    }
}

async fn health_and_kind<R: Rooms>(s: Subject<R>, _name: &str) {
    s.rooms.health().await.unwrap();
    assert!(["memory", "redis"].contains(&s.rooms.kind()));
}

/// One test module: every listed case against the rooms `$subject` builds,
/// each in a room named after the case.
macro_rules! cases {
    ($module:ident, $subject:ident: $($case:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($subject(), stringify!($case)).await;
                }
            )*
        }
    };
}

macro_rules! parity {
    ($($case:ident),* $(,)?) => {
        cases!(memory, memory: $($case),*);
        cases!(redis, redis: $($case),*);
    };
}

parity!(
    every_member_receives_every_message_in_seq_order,
    rooms_are_separate_and_numbered_each_on_its_own,
    only_what_is_said_after_joining_arrives,
    catching_up_after_a_seq_returns_what_was_missed,
    clones_share_rooms,
    members_leaving_do_not_disturb_the_others,
    concurrent_publishers_get_distinct_consecutive_seqs,
    health_and_kind,
);

/// A member that does not read is dropped with `Lagged` once its buffer is
/// full, rather than slowing the room down or holding messages without
/// bound; the publisher never waits for it. (The Redis rooms fan out through
/// the same channel.)
#[tokio::test]
async fn a_member_that_stops_reading_is_dropped_not_waited_for() {
    let rooms = MemoryRooms::new();
    let lobby = room("slow");
    let mut slow = rooms.subscribe(&lobby, None).await.unwrap();
    for n in 0..live::memory::MEMBER_BUFFER + 10 {
        rooms.publish(&lobby, &user("gina"), text(&n.to_string())).await.unwrap();
    }
    assert!(matches!(next(&mut slow).await, Some(Err(LiveError::Lagged { missed: 10 }))));
    assert!(next(&mut slow).await.is_none(), "the stream ends after the error");
}

/// An entry in a room's stream that this crate did not write (another
/// program's, or an operator's) is skipped, and the room goes on after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_the_rooms_did_not_write_is_skipped_and_the_room_goes_on() {
    let s = redis();
    let server = shared_redis();
    let lobby = room("foreign-entry");
    let mut member = s.rooms.subscribe(&lobby, None).await.unwrap();
    server.command(&["XADD", "live:room:foreign-entry", "5-0", "not", "ours"]).unwrap();
    for seq in [6, 7] {
        let sent = s.rooms.publish(&lobby, &user("ivy"), text("after the stranger")).await.unwrap();
        assert_eq!(sent.seq, seq, "numbering goes on from the stream's last entry");
        assert_eq!(next_message(&mut member).await, sent);
    }
}
