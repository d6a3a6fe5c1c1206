//! Two nodes behind a load balancer, as two handles built separately: what
//! a member on one hears of what is said on the other.

use std::time::Instant;

use live::{MemoryRooms, RedisRooms, Rooms, redis::DEFAULT_HISTORY};
use local_redis::RedisServer;

use crate::common::{PATIENCE, next_message, room, shared_redis, text, user};

/// Through one Redis, the two nodes are one room: members on either node
/// hear both nodes' members, and Redis numbers all their messages in one
/// sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_shared_broker_a_message_said_on_one_node_reaches_members_on_the_other() {
    let redis = shared_redis();
    let node_a = RedisRooms::new(&redis.url(), DEFAULT_HISTORY).unwrap();
    let node_b = RedisRooms::new(&redis.url(), DEFAULT_HISTORY).unwrap();
    let lobby = room("two-nodes-shared");
    let mut on_a = node_a.subscribe(&lobby, None).await.unwrap();
    let mut on_b = node_b.subscribe(&lobby, None).await.unwrap();
    let mut sent = Vec::new();
    for n in 0..6 {
        let (node, from) = if n % 2 == 0 { (&node_a, "alice") } else { (&node_b, "bob") };
        sent.push(node.publish(&lobby, &user(from), text(&format!("n{n}"))).await.unwrap());
    }
    assert_eq!(sent.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6], "one sequence for both nodes");
    for message in &sent {
        assert_eq!(&next_message(&mut on_a).await, message);
        assert_eq!(&next_message(&mut on_b).await, message);
    }
}

/// The lesson: on the nodes' own rooms, a room splits into one room per
/// node, silently. Each node numbers its own messages from 1, so no member
/// can see a gap: what bob said on node B simply never reaches node A.
#[tokio::test]
async fn on_node_local_rooms_two_nodes_split_a_room_in_two_without_a_gap() {
    let node_a = MemoryRooms::new();
    let node_b = MemoryRooms::new();
    let lobby = room("two-nodes-local");
    let mut on_a = node_a.subscribe(&lobby, None).await.unwrap();
    let mut on_b = node_b.subscribe(&lobby, None).await.unwrap();
    let from_a = node_a.publish(&lobby, &user("alice"), text("hello from A")).await.unwrap();
    let from_b = node_b.publish(&lobby, &user("bob"), text("hello from B")).await.unwrap();
    assert_eq!((from_a.seq, from_b.seq), (1, 1), "two rooms, two sequences, the same numbers");
    // Each node delivers in publish order, so had A's message crossed over
    // it would come before B's own; each member hears its own node only.
    assert_eq!(next_message(&mut on_b).await, from_b);
    assert_eq!(next_message(&mut on_a).await, from_a);
    let again = node_a.publish(&lobby, &user("alice"), text("anyone on B?")).await.unwrap();
    let from_b_again = node_b.publish(&lobby, &user("bob"), text("anyone on A?")).await.unwrap();
    assert_eq!(next_message(&mut on_b).await, from_b_again);
    assert_eq!(next_message(&mut on_a).await, again);
}

/// A node follows a room with one connection, however many of its sockets
/// are in the room, and lets it go when the last one leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_follows_a_room_with_one_connection_not_one_per_member() {
    let redis = RedisServer::start().expect("start redis-server");
    let node = RedisRooms::new(&redis.url(), DEFAULT_HISTORY).unwrap();
    node.health().await.unwrap();
    let before = clients(&redis);
    let lobby = room("crowded");
    let mut members = Vec::new();
    for _ in 0..50 {
        members.push(node.subscribe(&lobby, Some(0)).await.unwrap());
    }
    assert_eq!(clients(&redis), before + 1, "50 members of one room, one follower connection");
    let sent = node.publish(&lobby, &user("hank"), text("to all 50")).await.unwrap();
    for member in &mut members {
        assert_eq!(next_message(member).await, sent);
    }
    drop(members);
    let deadline = Instant::now() + PATIENCE;
    while clients(&redis) != before {
        assert!(Instant::now() < deadline, "the follower outlived its room's last member");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Clients connected to `redis`, not counting the one asking.
fn clients(redis: &RedisServer) -> usize {
    let info = redis.command(&["INFO", "clients"]).unwrap();
    let line = info.lines().find_map(|line| line.strip_prefix("connected_clients:")).expect("connected_clients");
    line.trim().parse::<usize>().unwrap() - 1
}
