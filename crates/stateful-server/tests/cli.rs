//! The command line of the server binaries (SPEC §1), on the stateful one;
//! the flags and their handling are shared by all twins (`app::cli`).

mod common;

use common::{Node, assert_one_line_error, run_to_exit};
use nix::sys::signal::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_stateful-server");

#[tokio::test]
async fn port_0_binds_a_free_port_and_says_so_on_stdout() {
    let mut node = Node::start(BIN, &["--port", "0", "--node-id", "n1"], &[]);
    assert!(
        node.line.starts_with("listening on http://127.0.0.1:") && node.line.ends_with(" node=n1"),
        "{}",
        node.line
    );
    let response = node.get("/healthz").await;
    assert_eq!(response.headers()["x-node"], "n1");
    let body: serde_json::Value = response.json().await.unwrap();
    // The bound defaults to what a share of the machine's memory holds.
    let max = sessions::MemoryStore::default_max_sessions().unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "node": "n1", "store": "memory", "status": "ok", "orders": "memory", "rooms": "memory", "files": "dir",
            "sessions": 0, "max_sessions": max, "evicted": 0
        })
    );
    assert_eq!(node.stop_and_collect_stdout(), Vec::<String>::new(), "stdout carries only the start-up line");
}

#[tokio::test]
async fn the_default_node_id_is_host_and_port() {
    let node = Node::start(BIN, &["--port", "0"], &[]);
    let port = node.base_url.rsplit(':').next().unwrap();
    let id = node.line.rsplit("node=").next().unwrap();
    assert!(id.ends_with(&format!("-{port}")), "{id} does not end with the port");
}

#[tokio::test]
async fn environment_variables_set_flags_and_flags_win() {
    let node = Node::start(BIN, &[], &[("PORT", "0"), ("NODE_ID", "from-env"), ("HOST", "127.0.0.1")]);
    assert!(node.line.ends_with(" node=from-env"), "{}", node.line);
    let node = Node::start(BIN, &["--node-id", "from-flag", "--port", "0"], &[("NODE_ID", "from-env")]);
    assert!(node.line.ends_with(" node=from-flag"), "{}", node.line);
}

#[tokio::test]
async fn ipv6_addresses_are_printed_in_brackets() {
    // Skip quietly only where the machine has no IPv6 loopback at all.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return;
    }
    let node = Node::start(BIN, &["--host", "::1", "--port", "0", "--node-id", "v6"], &[]);
    assert!(node.line.starts_with("listening on http://[::1]:"), "{}", node.line);
    assert_eq!(node.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn max_sessions_bounds_the_store_from_the_flag_or_the_environment() {
    for (args, env) in
        [(&["--port", "0", "--max-sessions", "2"][..], &[][..]), (&["--port", "0"], &[("MAX_SESSIONS", "2")])]
    {
        let node = Node::start(BIN, args, env);
        let body: serde_json::Value = node.get("/healthz").await.json().await.unwrap();
        assert_eq!(body["max_sessions"], 2, "{args:?} {env:?}");
    }
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut node = Node::start(BIN, &["--port", "0"], &[]);
        node.signal(signal);
        assert_eq!(node.wait_exit(), Some(0), "{signal} did not exit cleanly");
    }
}

#[test]
fn bad_flags_are_one_line_errors_with_status_2() {
    for args in [
        &["--bogus"][..],
        &["--port", "http"],
        &["--session-ttl", "0"],
        &["--session-max-age", "0"],
        &["--session-max-age", "31536001"],
        &["--workers", "0"],
        &["--max-sessions", "0"],
    ] {
        let (code, stderr) = run_to_exit(BIN, args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_one_line_error(&stderr);
    }
}

#[tokio::test]
async fn secure_cookies_from_the_flag_or_the_environment_name_the_cookie_host_sid() {
    let login = |node: &Node| {
        reqwest::Client::new()
            .post(format!("{}/login", node.base_url))
            .header("content-type", "application/json")
            .body(r#"{"user":"alice"}"#)
            .send()
    };
    for (args, env) in [
        (&["--port", "0", "--secure-cookies"][..], &[][..]),
        (&["--port", "0"], &[("SECURE_COOKIES", "true")]),
        (&["--port", "0"], &[("SECURE_COOKIES", "1")]),
    ] {
        let node = Node::start(BIN, args, env);
        let response = login(&node).await.unwrap();
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("__Host-sid=") && cookie.contains("; Secure"), "{args:?} {env:?}: {cookie}");
    }
    let node = Node::start(BIN, &["--port", "0"], &[("SECURE_COOKIES", "false")]);
    let response = login(&node).await.unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("sid=") && !cookie.contains("Secure"), "{cookie}");
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, stderr) = run_to_exit(BIN, &["--port", &port], &[]);
    assert_ne!(code, Some(0));
    assert_one_line_error(&stderr);
    assert!(stderr.contains("cannot bind"), "{stderr}");
}

#[tokio::test]
async fn files_dir_keeps_uploads_in_that_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("uploads");
    let node = Node::start(BIN, &["--port", "0"], &[("FILES_DIR", root.to_str().unwrap())]);
    let sid = node.login("alice").await;
    let upload = reqwest::Client::new()
        .post(format!("{}/files", node.base_url))
        .header("cookie", format!("sid={sid}"))
        .header("content-type", "text/plain")
        .body("kept on this disk")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let id = upload.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // One folder per owner, one file per upload, named by its id.
    let stored: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flat_map(|owner| std::fs::read_dir(owner.unwrap().path()).unwrap())
        .map(|file| file.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(stored, [id]);
}

#[test]
fn a_files_dir_that_cannot_be_a_folder_is_a_one_line_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let (code, stderr) = run_to_exit(BIN, &["--port", "0", "--files-dir", file.path().to_str().unwrap()], &[]);
    assert_ne!(code, Some(0));
    assert_one_line_error(&stderr);
    assert!(stderr.contains("--files-dir"), "{stderr}");
}
