//! One behaviour suite, run against every twin: the API must not depend on
//! where the session lives, nor on how Redis is deployed (one server, a
//! Sentinel set, a Cluster). A client keeps the cookie each answer re-issues
//! (`follow`), as a browser does; only the token twin re-issues it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Cluster, TestApp, Twin, follow, json, set_cookie, sid_of};

/// Every error answer: the expected status, a JSON `{"error": …}` body with
/// a short reason, and the `X-Node` header.
async fn assert_error(response: reqwest::Response, status: StatusCode, node: &TestApp) {
    let got = response.status();
    assert_eq!(got, status, "{}", response.text().await.unwrap_or_default());
    assert_eq!(response.headers()["x-node"], node.node_id.as_str());
    let body = json(response).await;
    let reason = body["error"].as_str().expect("an error field");
    assert!(!reason.is_empty() && reason.len() < 100, "{reason:?}");
    for leak in ["redis", "Redis", "postgres", "SQL", "sql", "Error {", "panicked", "src/", "0x"] {
        assert!(!reason.contains(leak), "error body leaks {leak:?}: {reason}");
    }
}

async fn login_sets_a_session_cookie_and_names_the_node(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let response = node.login_with("alice", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-node"], node.node_id.as_str());
    let cookie = set_cookie(response.headers()).unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let sid = sid_of(response.headers()).unwrap();
    // An id of 128 random bits in base64url; a token is three such parts.
    let cookie_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    match twin {
        Twin::Token => assert!(sid.split('.').count() == 3 && sid.split('.').all(|p| p.bytes().all(cookie_safe))),
        _ => assert!(sid.len() >= 22 && sid.bytes().all(cookie_safe)),
    }
    assert_eq!(json(response).await, json!({ "user": "alice", "node": node.node_id }));
}

async fn me_counts_authenticated_requests(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let before = sessions::now_ms();
    let mut sid = node.login("bob").await;
    let response = node.me(Some(&sid)).await;
    follow(&mut sid, &response);
    let first = json(response).await;
    assert_eq!(first["user"], "bob");
    assert_eq!(first["node"], node.node_id.as_str());
    assert_eq!(first["requests"], 1, "login does not count, the first /me does");
    let created_at = first["created_at"].as_u64().unwrap();
    assert!(created_at >= before && created_at <= sessions::now_ms());
    let response = node.cart(Some(&sid)).await;
    follow(&mut sid, &response);
    let response = node.add(Some(&sid), "book", 1).await;
    follow(&mut sid, &response);
    let later = json(node.me(Some(&sid)).await).await;
    assert_eq!(later["requests"], 4);
    assert_eq!(later["created_at"], created_at);
}

async fn cart_adds_accumulate(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let mut sid = node.login("carol").await;
    let response = node.cart(Some(&sid)).await;
    follow(&mut sid, &response);
    assert_eq!(json(response).await, json!({ "items": {} }));
    let response = node.add(Some(&sid), "book", 2).await;
    follow(&mut sid, &response);
    assert_eq!(json(response).await, json!({ "items": { "book": 2 } }));
    let response = node.add(Some(&sid), "pen", 1000).await;
    follow(&mut sid, &response);
    let response = node.add(Some(&sid), "book", 1).await;
    follow(&mut sid, &response);
    assert_eq!(json(node.cart(Some(&sid)).await).await, json!({ "items": { "book": 3, "pen": 1000 } }));
}

async fn logout_ends_the_session_at_once(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let sid = node.login("dave").await;
    let response = node.logout(Some(&sid)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(response.headers()).expect("logout clears the cookie");
    assert!(cleared.starts_with("sid=;") && cleared.contains("Max-Age=0"), "{cleared}");
    // A client that kept a copy of the old cookie gets nowhere with it.
    assert_error(node.me(Some(&sid)).await, StatusCode::UNAUTHORIZED, node).await;
    assert_error(node.add(Some(&sid), "book", 1).await, StatusCode::UNAUTHORIZED, node).await;
    // Logging out again, or without a session, is not an error.
    assert_eq!(node.logout(Some(&sid)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(node.logout(None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(node.logout(Some("garbage")).await.status(), StatusCode::NO_CONTENT);
}

async fn login_rotates_the_session(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let mut old = node.login("erin").await;
    let response = node.add(Some(&old), "book", 1).await;
    follow(&mut old, &response);
    let response = node.login_with("erin", Some(&old)).await;
    let new = sid_of(response.headers()).unwrap();
    assert_ne!(new, old);
    assert_error(node.me(Some(&old)).await, StatusCode::UNAUTHORIZED, node).await;
    assert_eq!(json(node.cart(Some(&new)).await).await, json!({ "items": {} }), "a login starts empty");
}

async fn requests_without_a_valid_session_get_401(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let unknown = sessions::SessionId::generate().to_string();
    let huge = "A".repeat(3000);
    for sid in [None, Some(""), Some("garbage"), Some(unknown.as_str()), Some(huge.as_str()), Some("../../x")] {
        assert_error(node.me(sid).await, StatusCode::UNAUTHORIZED, node).await;
        assert_error(node.cart(sid).await, StatusCode::UNAUTHORIZED, node).await;
        assert_error(node.add(sid, "book", 1).await, StatusCode::UNAUTHORIZED, node).await;
        // 401 comes before any complaint about the body.
        assert_error(node.add_raw(sid, "{not json").await, StatusCode::UNAUTHORIZED, node).await;
        assert_error(node.add(sid, "book", 0).await, StatusCode::UNAUTHORIZED, node).await;
    }
}

async fn bad_login_bodies_get_400(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let long = json!({ "user": "x".repeat(65) }).to_string();
    for body in [
        "",
        "{",
        "null",
        "[]",
        r#"{"name":"alice"}"#,
        r#"{"user":""}"#,
        r#"{"user":" alice"}"#,
        r#"{"user":"al/ice"}"#,
        r#"{"user":"ålice"}"#,
        r#"{"user":42}"#,
        r#"{"user":null}"#,
        &long,
    ] {
        assert_error(node.login_raw(body.to_string(), None).await, StatusCode::BAD_REQUEST, node).await;
    }
    assert_eq!(node.login_raw(json!({ "user": "x".repeat(64) }).to_string(), None).await.status(), StatusCode::OK);
}

async fn bad_cart_bodies_get_400_and_change_nothing(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let mut sid = node.login("frank").await;
    let response = node.add(Some(&sid), "book", 1).await;
    follow(&mut sid, &response);
    for body in [
        "",
        "{oops",
        r#"{"item":"book"}"#,
        r#"{"qty":1}"#,
        r#"{"item":"book","qty":0}"#,
        r#"{"item":"book","qty":1001}"#,
        r#"{"item":"book","qty":-1}"#,
        r#"{"item":"book","qty":1.5}"#,
        r#"{"item":"book","qty":"1"}"#,
        r#"{"item":"book","qty":99999999999999999999999}"#,
        r#"{"item":"","qty":1}"#,
        r#"{"item":"bo ok","qty":1}"#,
        r#"{"item":"cart:book","qty":1}"#,
    ] {
        let response = node.add_raw(Some(&sid), body.to_string()).await;
        follow(&mut sid, &response);
        assert_error(response, StatusCode::BAD_REQUEST, node).await;
    }
    assert_eq!(json(node.cart(Some(&sid)).await).await, json!({ "items": { "book": 1 } }));
}

async fn bodies_over_16_kib_get_413(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let sid = node.login("gina").await;
    let padding = " ".repeat(16 * 1024);
    let big_login = format!(r#"{{"user":"gina"}}{padding}"#);
    assert_error(node.login_raw(big_login, None).await, StatusCode::PAYLOAD_TOO_LARGE, node).await;
    let big_cart = format!(r#"{{"item":"book","qty":1}}{padding}"#);
    assert_error(node.add_raw(Some(&sid), big_cart).await, StatusCode::PAYLOAD_TOO_LARGE, node).await;
    // Exactly at the limit is fine.
    let body = r#"{"item":"book","qty":1}"#;
    let at_limit = format!("{body}{}", " ".repeat(16 * 1024 - body.len()));
    assert_eq!(node.add_raw(Some(&sid), at_limit).await.status(), StatusCode::OK);
}

async fn unknown_routes_and_methods_answer_in_json(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    assert_error(node.send(Method::GET, "/nope", None).await, StatusCode::NOT_FOUND, node).await;
    assert_error(node.send(Method::GET, "/login", None).await, StatusCode::METHOD_NOT_ALLOWED, node).await;
    assert_error(node.send(Method::DELETE, "/cart", None).await, StatusCode::METHOD_NOT_ALLOWED, node).await;
}

async fn healthz_names_the_node_and_store(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let response = node.healthz().await;
    assert_eq!(response.status(), StatusCode::OK);
    let store = match twin {
        Twin::Stateful => "memory",
        Twin::Stateless | Twin::OnSentinel | Twin::OnCluster => "redis",
        Twin::Postgres => "postgres",
        Twin::Token => "token",
    };
    let mut expected = json!({ "node": node.node_id, "store": store, "status": "ok" });
    if matches!(twin, Twin::Stateful) {
        // The RAM store's counters (an unbounded store names no bound).
        expected["sessions"] = 0.into();
        expected["evicted"] = 0.into();
    }
    assert_eq!(json(response).await, expected);
}

macro_rules! parity {
    ($($case:ident),* $(,)?) => {
        mod stateful {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::helpers::Twin::Stateful).await
                }
            )*
        }
        mod stateless {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::helpers::Twin::Stateless).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::helpers::Twin::Postgres).await
                }
            )*
        }
        mod token {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::helpers::Twin::Token).await
                }
            )*
        }
        mod stateless_on_sentinel {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::helpers::Twin::OnSentinel).await
                }
            )*
        }
        mod stateless_on_cluster {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::helpers::Twin::OnCluster).await
                }
            )*
        }
    };
}

parity!(
    login_sets_a_session_cookie_and_names_the_node,
    me_counts_authenticated_requests,
    cart_adds_accumulate,
    logout_ends_the_session_at_once,
    login_rotates_the_session,
    requests_without_a_valid_session_get_401,
    bad_login_bodies_get_400,
    bad_cart_bodies_get_400_and_change_nothing,
    bodies_over_16_kib_get_413,
    unknown_routes_and_methods_answer_in_json,
    healthz_names_the_node_and_store,
);
