//! The broker goes away: every call answers `Unavailable` within its
//! deadline, members following a room are told, nothing hangs or panics,
//! and rooms work again by themselves once Redis is back.

use std::time::{Duration, Instant};

use live::{LiveError, RedisRooms, Rooms, Subscription, redis::DEFAULT_HISTORY};
use local_redis::RedisServer;

use crate::common::{PATIENCE, next, next_message, room, text, user};

/// A bound on "within about a second" that a loaded machine still meets:
/// what is asserted is that nothing waits for the broker indefinitely.
const DEADLINE: Duration = Duration::from_secs(5);

fn rooms(redis: &RedisServer) -> RedisRooms {
    RedisRooms::new(&redis.url(), DEFAULT_HISTORY).unwrap()
}

/// `call` fails with `Unavailable`, and does so before the deadline.
async fn unavailable<T>(what: &str, call: impl Future<Output = Result<T, LiveError>>) {
    let started = Instant::now();
    let result = call.await;
    assert!(matches!(result, Err(LiveError::Unavailable(_))), "{what} did not answer Unavailable");
    assert!(started.elapsed() < DEADLINE, "{what} took {:?} to give up", started.elapsed());
}

/// The member's stream ends with `Unavailable`, then nothing.
async fn told_and_ended(member: &mut Subscription) {
    let started = Instant::now();
    assert!(matches!(next(member).await, Some(Err(LiveError::Unavailable(_)))), "the member was not told");
    assert!(started.elapsed() < DEADLINE, "the member was told after {:?}", started.elapsed());
    assert!(next(member).await.is_none(), "the stream goes on after the error");
}

/// Publishes until Redis answers again (it was just started).
async fn publish_once_back(rooms: &RedisRooms, lobby: &live::Room, said: &str) -> live::Message {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match rooms.publish(lobby, &user("back"), text(said)).await {
            Ok(message) => return message,
            Err(error) => assert!(Instant::now() < deadline, "rooms did not recover: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_broker_is_reported_and_rooms_recover_once_it_is_back() {
    let mut redis = RedisServer::start().expect("start redis-server");
    let rooms = rooms(&redis);
    let lobby = room("crash");
    let mut member = rooms.subscribe(&lobby, None).await.unwrap();
    rooms.publish(&lobby, &user("alice"), text("m1")).await.unwrap();
    assert_eq!(next_message(&mut member).await.seq, 1);

    redis.kill();
    told_and_ended(&mut member).await;
    unavailable("publish", rooms.publish(&lobby, &user("alice"), text("lost"))).await;
    unavailable("subscribe", rooms.subscribe(&lobby, Some(1))).await;
    unavailable("health", rooms.health()).await;

    redis.start_again().unwrap();
    // A crash without a clean stop took the history with it (the snapshot
    // is only written on a clean stop): the room numbers from 1 again. A
    // member that asks for what came after 1 must still hear the new
    // messages, which is how it learns of the reset.
    let mut back = rooms.subscribe(&lobby, Some(1)).await.unwrap();
    let first = publish_once_back(&rooms, &lobby, "again").await;
    assert_eq!(first.seq, 1);
    assert_eq!(next_message(&mut back).await, first);
    rooms.health().await.unwrap();
}

/// A cleanly restarted Redis keeps its history: a member that was told
/// the broker left, and reconnects with its last `seq`, gets what was said
/// after it, from the other node, while it was away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clean_restart_a_member_catches_up_on_what_it_missed() {
    let mut redis = RedisServer::start().expect("start redis-server");
    let (node_a, node_b) = (rooms(&redis), rooms(&redis));
    let lobby = room("restart");
    let mut member = node_a.subscribe(&lobby, None).await.unwrap();
    node_b.publish(&lobby, &user("bob"), text("m1")).await.unwrap();
    let last_seen = next_message(&mut member).await.seq;

    redis.stop();
    told_and_ended(&mut member).await;
    redis.start_again().unwrap();
    let missed = [publish_once_back(&node_b, &lobby, "m2").await, publish_once_back(&node_b, &lobby, "m3").await];
    let mut member = node_a.subscribe(&lobby, Some(last_seen)).await.unwrap();
    for message in &missed {
        assert_eq!(&next_message(&mut member).await, message);
    }
    assert_eq!(missed.map(|m| m.seq), [2, 3]);
}

/// A hung broker (the process holds its socket and answers nothing) is
/// caught by the deadlines rather than waited on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_broker_is_reported_within_the_deadline_and_rooms_recover() {
    let redis = RedisServer::start().expect("start redis-server");
    let rooms = rooms(&redis);
    let lobby = room("hung");
    let mut member = rooms.subscribe(&lobby, None).await.unwrap();

    redis.freeze();
    unavailable("publish", rooms.publish(&lobby, &user("alice"), text("stuck"))).await;
    told_and_ended(&mut member).await;
    // A crowd of requests does not queue up behind one another's attempts
    // to dial the hung server: each gives up within the deadline.
    let bob = user("bob");
    let crowd = (0..20).map(|_| unavailable("publish in a crowd", rooms.publish(&lobby, &bob, text("stuck"))));
    futures::future::join_all(crowd).await;
    unavailable("subscribe", rooms.subscribe(&lobby, None)).await;

    redis.thaw();
    let mut member = rooms.subscribe(&lobby, None).await.unwrap();
    let sent = publish_once_back(&rooms, &lobby, "unstuck").await;
    assert_eq!(next_message(&mut member).await, sent);
}

/// A node can start while Redis is down: nothing is dialled until a room is
/// used, and rooms work as soon as Redis is up. Only a URL that is not one
/// is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_the_broker_is_down_serves_rooms_once_it_is_up() {
    assert!(RedisRooms::new("not a url", DEFAULT_HISTORY).is_err());
    let mut redis = RedisServer::start().expect("start redis-server");
    redis.stop();
    let rooms = rooms(&redis);
    let lobby = room("late");
    unavailable("publish", rooms.publish(&lobby, &user("alice"), text("too early"))).await;
    unavailable("subscribe", rooms.subscribe(&lobby, None)).await;
    redis.start_again().unwrap();
    let mut member = rooms.subscribe(&lobby, None).await.unwrap();
    let sent = publish_once_back(&rooms, &lobby, "now").await;
    assert_eq!(next_message(&mut member).await, sent);
}
