//! `POST /files` and `GET /files/{id}` on the three twins: the stateful
//! twin keeps files in a folder of the node's disk, the stateless and token
//! twins in an S3-compatible object store (a private `s3s-fs`, `local-s3`).

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use app::Backends;
use files::{MAX_BYTES, S3Settings, S3Store, sha256_hex};
use jobs::MemoryQueue;
use live::MemoryRooms;
use local_redis::RedisServer;
use local_s3::S3Server;
use reqwest::StatusCode;
use serde_json::json;
use sessions::{MemoryStore, RedisSettings, RedisStore, TokenKey, TokenStore};

use crate::helpers::{TTL, TestApp, follow, json, spawn_app, spawn_with};

/// One private S3 server for the cases that run at the same time (each
/// user's files are apart, ids being random), stopped when the last of them
/// drops it. The outage case starts its own.
fn shared_s3() -> Arc<S3Server> {
    static SHARED: Mutex<Weak<S3Server>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = Arc::new(S3Server::start().expect("start the S3 server (local-s3)"));
    *shared = Arc::downgrade(&server);
    server
}

/// A node whose files are in `s3`'s bucket, with orders and rooms on the
/// node (this file is about files).
async fn s3_node<S: sessions::SessionStore>(sessions: S, s3: &S3Server, node_id: &str) -> TestApp {
    let backends = Backends {
        sessions,
        orders: Some(MemoryQueue::new(crate::helpers::worker(node_id))),
        rooms: Some(MemoryRooms::new()),
        files: Some(S3Store::new(&S3Settings::from_url(&s3.url()).unwrap()).unwrap()),
    };
    spawn_with(backends, node_id).await
}

/// Which twin a case runs on.
#[derive(Clone, Copy, Debug)]
enum Twin {
    Stateful,
    Stateless,
    Token,
}

/// Nodes of one twin and what they share.
struct Nodes {
    nodes: Vec<TestApp>,
    _s3: Option<Arc<S3Server>>,
    _redis: Option<RedisServer>,
}

async fn start(twin: Twin, count: usize) -> Nodes {
    let mut nodes = Vec::new();
    match twin {
        Twin::Stateful => {
            for i in 0..count {
                nodes.push(spawn_app(MemoryStore::new(TTL), &format!("stateful-{i}")).await);
            }
            Nodes { nodes, _s3: None, _redis: None }
        }
        Twin::Stateless => {
            let (s3, redis) = (shared_s3(), RedisServer::start().expect("start redis-server"));
            for i in 0..count {
                let store = RedisStore::new(&RedisSettings::new(redis.url(), TTL)).unwrap();
                nodes.push(s3_node(store, &s3, &format!("stateless-{i}")).await);
            }
            Nodes { nodes, _s3: Some(s3), _redis: Some(redis) }
        }
        Twin::Token => {
            let s3 = shared_s3();
            let key = TokenKey::new(b"files-suite-key-of-at-least-32-bytes").unwrap();
            for i in 0..count {
                nodes.push(s3_node(TokenStore::new(key.clone(), TTL), &s3, &format!("token-{i}")).await);
            }
            Nodes { nodes, _s3: Some(s3), _redis: None }
        }
    }
}

/// Uploads `bytes` as `content_type` and returns the id (201 and its
/// headers asserted).
async fn upload(node: &TestApp, sid: &mut String, content_type: &str, bytes: &[u8]) -> String {
    let response = node.upload(Some(sid), Some(content_type), bytes.to_vec()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "upload on {}", node.node_id);
    follow(sid, &response);
    let digest = sha256_hex(bytes);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(response.headers()["etag"], format!("\"{digest}\"").as_str());
    let body = json(response).await;
    let id = body["id"].as_str().expect("an id").to_string();
    assert_eq!(body, json!({ "id": id, "bytes": bytes.len(), "sha256": digest }));
    assert_eq!(location, format!("/files/{id}"));
    assert_eq!(id.len(), 22, "128 random bits in base64url");
    id
}

/// Reads the file back and asserts it is `bytes`, of `content_type`.
async fn assert_serves(node: &TestApp, sid: &mut String, id: &str, content_type: &str, bytes: &[u8]) {
    let response = node.file(Some(sid), id, None).await;
    assert_eq!(response.status(), StatusCode::OK, "file {id} on {}", node.node_id);
    follow(sid, &response);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], content_type);
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    assert_eq!(headers["etag"], format!("\"{}\"", sha256_hex(bytes)).as_str());
    assert_eq!(headers["cache-control"], "private");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes, "byte for byte");
}

async fn assert_not_found(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("x-node"));
    assert_eq!(json(response).await, json!({ "error": "file not found" }));
}

/// Bytes no two cases share, of every value.
fn some_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + len) as u8).collect()
}

async fn a_file_round_trips_with_its_type_and_tag(twin: Twin) {
    let cluster = start(twin, 1).await;
    let node = &cluster.nodes[0];
    let mut sid = node.login("alice").await;
    for (content_type, bytes) in [
        ("image/png", some_bytes(70_000)),
        ("image/jpeg", some_bytes(1)),
        ("text/plain", b"hello, files".to_vec()),
        ("application/octet-stream", Vec::new()),
    ] {
        let id = upload(node, &mut sid, content_type, &bytes).await;
        assert_serves(node, &mut sid, &id, content_type, &bytes).await;
    }
    // Parameters are allowed, and the type is served back as stored.
    let id = upload(node, &mut sid, "Text/Plain; charset=utf-8", b"caf\xc3\xa9").await;
    assert_serves(node, &mut sid, &id, "text/plain", "café".as_bytes()).await;
    // A client that has the bytes already gets 304 and no body.
    let tag = format!("\"{}\"", sha256_hex("café".as_bytes()));
    for if_none_match in [tag.as_str(), &format!("W/{tag}"), &format!("\"other\", {tag}"), "*"] {
        let response = node.file(Some(&sid), &id, Some(if_none_match)).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "If-None-Match: {if_none_match}");
        follow(&mut sid, &response);
        assert_eq!(response.headers()["etag"], tag.as_str());
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let response = node.file(Some(&sid), &id, Some("\"other\"")).await;
    assert_eq!(response.status(), StatusCode::OK);
    follow(&mut sid, &response);
    // Exactly 1 MiB is accepted: the JSON routes' 16 KiB does not apply.
    let largest = some_bytes(MAX_BYTES);
    let id = upload(node, &mut sid, "application/octet-stream", &largest).await;
    assert_serves(node, &mut sid, &id, "application/octet-stream", &largest).await;
}

#[tokio::test]
async fn a_file_round_trips_on_the_stateful_twin() {
    a_file_round_trips_with_its_type_and_tag(Twin::Stateful).await;
}

#[tokio::test]
async fn a_file_round_trips_on_the_stateless_twin() {
    a_file_round_trips_with_its_type_and_tag(Twin::Stateless).await;
}

#[tokio::test]
async fn a_file_round_trips_on_the_token_twin() {
    a_file_round_trips_with_its_type_and_tag(Twin::Token).await;
}

async fn refusals_come_in_order_and_another_users_file_is_unknown(twin: Twin) {
    let cluster = start(twin, 1).await;
    let node = &cluster.nodes[0];
    let mut alice = node.login("alice").await;
    let id = upload(node, &mut alice, "text/plain", b"alice's").await;
    // 401 first: before the type, the size or the id is looked at.
    for sid in [None, Some("forged")] {
        assert_eq!(
            node.upload(sid, Some("text/html"), some_bytes(MAX_BYTES + 1)).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(node.file(sid, &id, None).await.status(), StatusCode::UNAUTHORIZED);
    }
    // 400 for a type not accepted, or none.
    for content_type in [Some("text/html"), Some("image/svg+xml"), Some("multipart/form-data; boundary=x"), None] {
        let response = node.upload(Some(&alice), content_type, b"<b>hi</b>".to_vec()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content_type:?}");
        follow(&mut alice, &response);
        assert!(json(response).await["error"].as_str().unwrap().starts_with("unsupported content type"));
    }
    // 413 one byte over 1 MiB.
    let response = node.upload(Some(&alice), Some("image/png"), some_bytes(MAX_BYTES + 1)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    follow(&mut alice, &response);
    assert!(json(response).await["error"].as_str().unwrap().starts_with("file too large"));
    // Another user's file answers exactly as an unknown or malformed id.
    let mut bob = node.login("bob").await;
    let theirs = node.file(Some(&bob), &id, None).await;
    follow(&mut bob, &theirs);
    assert_not_found(theirs).await;
    for unknown in ["AAAAAAAAAAAAAAAAAAAAAA", "not-an-id", "AAAAAAAAAAAAAAAAAAAAA.", "%2e%2e%2fetc%2fpasswd"] {
        assert_not_found(node.file(Some(&bob), unknown, None).await).await;
    }
    // Alice still has it, and only what was accepted was stored.
    assert_serves(node, &mut alice, &id, "text/plain", b"alice's").await;
    assert_eq!(
        node.send(reqwest::Method::DELETE, "/files", Some(&alice)).await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn refusals_on_the_stateful_twin() {
    refusals_come_in_order_and_another_users_file_is_unknown(Twin::Stateful).await;
}

#[tokio::test]
async fn refusals_on_the_stateless_twin() {
    refusals_come_in_order_and_another_users_file_is_unknown(Twin::Stateless).await;
}

#[tokio::test]
async fn refusals_on_the_token_twin() {
    refusals_come_in_order_and_another_users_file_is_unknown(Twin::Token).await;
}

async fn a_file_uploaded_through_one_node_is_read_through_another(twin: Twin) {
    let cluster = start(twin, 2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut sid = a.login("alice").await;
    let bytes = some_bytes(300_000);
    let id = upload(a, &mut sid, "image/png", &bytes).await;
    assert_serves(b, &mut sid, &id, "image/png", &bytes).await;
}

#[tokio::test]
async fn stateless_nodes_share_files() {
    a_file_uploaded_through_one_node_is_read_through_another(Twin::Stateless).await;
}

#[tokio::test]
async fn token_nodes_share_files() {
    a_file_uploaded_through_one_node_is_read_through_another(Twin::Token).await;
}

#[tokio::test]
async fn stateful_nodes_do_not_share_files() {
    let cluster = start(Twin::Stateful, 2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut on_a = a.login("alice").await;
    let id = upload(a, &mut on_a, "text/plain", b"only on a").await;
    // The same user, logged in on B: B's disk never had the file.
    let on_b = b.login("alice").await;
    assert_not_found(b.file(Some(&on_b), &id, None).await).await;
    assert_serves(a, &mut on_a, &id, "text/plain", b"only on a").await;
}

#[tokio::test]
async fn a_node_without_a_file_store_says_files_are_not_configured_after_the_session_check() {
    let backends: Backends<_, MemoryQueue, MemoryRooms, S3Store> =
        Backends { sessions: MemoryStore::new(TTL), orders: None, rooms: None, files: None };
    let app = spawn_with(backends, "no-files").await;
    assert_eq!(app.upload(None, Some("text/plain"), "x").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.file(None, "AAAAAAAAAAAAAAAAAAAAAA", None).await.status(), StatusCode::UNAUTHORIZED);
    let sid = app.login("alice").await;
    for response in [
        app.upload(Some(&sid), Some("text/plain"), "x").await,
        app.file(Some(&sid), "AAAAAAAAAAAAAAAAAAAAAA", None).await,
    ] {
        assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(json(response).await, json!({"error": "files not configured on this node"}));
    }
    let health = app.healthz().await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(json(health).await["files"], "not configured");
}

#[tokio::test]
async fn healthz_names_the_file_store() {
    let stateful = spawn_app(MemoryStore::new(TTL), "stateful-0").await;
    assert_eq!(json(stateful.healthz().await).await["files"], "dir");
    let s3 = shared_s3();
    let stateless = s3_node(MemoryStore::new(TTL), &s3, "s3-0").await;
    assert_eq!(json(stateless.healthz().await).await["files"], "s3");
}

async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(response.headers().contains_key("x-node"));
    // No internals: the body is the short reason and nothing else.
    assert_eq!(json(response).await, json!({ "error": "file store unavailable" }));
}

/// The object store crashes, then hangs: uploads and downloads answer 503
/// with `Retry-After` within about a second, never 500 and never a hung
/// request; the node serves files again as soon as the store is back,
/// without a restart; and what was not acknowledged never shows.
#[tokio::test]
async fn object_store_down_answers_503_then_the_node_recovers_by_itself() {
    let mut s3 = S3Server::start().expect("start the S3 server (local-s3)");
    let node = s3_node(MemoryStore::new(TTL), &s3, "stateless-0").await;
    let mut sid = node.login("alice").await;
    let kept = upload(&node, &mut sid, "text/plain", b"before the outage").await;
    let objects_before = objects(&s3);

    for outage in ["killed", "frozen"] {
        match outage {
            "killed" => s3.kill(),
            _ => s3.freeze(),
        }
        let started = Instant::now();
        assert_unavailable(node.upload(Some(&sid), Some("image/png"), some_bytes(200_000)).await).await;
        assert_unavailable(node.file(Some(&sid), &kept, None).await).await;
        assert!(started.elapsed() < Duration::from_secs(8), "{outage}: 503s took {:?}", started.elapsed());
        // Sessions are still served, and /healthz does not drop the node.
        assert_eq!(node.me(Some(&sid)).await.status(), StatusCode::OK);
        assert_eq!(node.healthz().await.status(), StatusCode::OK);
        match outage {
            "killed" => s3.start_again().expect("start the S3 server again"),
            _ => s3.thaw(),
        }
        wait_until_served(&node, &sid, &kept).await;
    }
    // Nothing the outage refused became readable: the refused uploads had
    // no id to read them by, and no object beyond those acknowledged came
    // from the crash (the hung store may still finish the upload it held,
    // an object no id ever named).
    let after = objects(&s3);
    assert!(after.len() <= objects_before.len() + 1, "{objects_before:?} became {after:?}");
    let id = upload(&node, &mut sid, "text/plain", b"after the outage").await;
    assert_serves(&node, &mut sid, &id, "text/plain", b"after the outage").await;
    assert_serves(&node, &mut sid, &kept, "text/plain", b"before the outage").await;
}

/// Polls `GET /files/{id}` until it answers 200, for at most 10 s.
async fn wait_until_served(node: &TestApp, sid: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = node.file(Some(sid), id, None).await;
        match response.status() {
            StatusCode::OK => return,
            StatusCode::SERVICE_UNAVAILABLE => {}
            other => panic!("unexpected {other} while the object store came back"),
        }
        assert!(Instant::now() < deadline, "still unavailable 10 s after the object store came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The objects in the bucket's folder: one file per object, skipping the
/// server's own bookkeeping (names starting with a dot).
fn objects(s3: &S3Server) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![s3.bucket_dir()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if entry.file_type().unwrap().is_dir() {
                folders.push(entry.path());
            } else if !name.starts_with('.') {
                found.push(name);
            }
        }
    }
    found.sort();
    found
}
