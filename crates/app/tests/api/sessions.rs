//! A user's own sessions (`GET /sessions`, `DELETE /sessions`,
//! `DELETE /sessions/{handle}`), the absolute lifetime
//! (`--session-max-age`) and the secure cookie (`--secure-cookies`), on
//! every twin.
//!
//! A user here has two *devices*: two logins, each a cookie jar of its own
//! (a `String` the client keeps up to date with `follow`, as a browser
//! would). Where a twin shares its sessions, the devices use different
//! nodes of one cluster: what one device does on one node must hold for the
//! other on every node. User names are this module's own: a Redis Cluster
//! is shared by the cases running at the same time, and logging out
//! everywhere must not reach another case's user.

use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use sessions::{
    MemoryStore, PostgresSettings, PostgresStore, RedisSettings, RedisStore, SessionStore, TokenKey, TokenStore,
};

use crate::helpers::{
    Cluster, DEADLINE, TTL, TestApp, Twin, follow, json, set_cookie, sid_of, spawn_app, spawn_app_in,
};

/// The contract's reason for the token twin's 501.
const NEEDS_DENY_LIST: &str = "ending every session needs a deny list: start token-server with --revocation-redis";

/// The shared key of the token nodes started here.
const KEY: &[u8] = b"sessions-suite-key-of-at-least-32-bytes";

/// The command line every server shares, parsed as a main parses it.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    server: app::cli::ServerArgs,
}

fn flags(args: &[&str]) -> app::cli::ServerArgs {
    Flags::try_parse_from(std::iter::once("server").chain(args.iter().copied())).expect("good flags").server
}

/// The node device `device` of a user logs in on: where the twin shares
/// sessions, each device on a node of its own; on the stateful twin all on
/// the first, since only that node knows them.
fn home(twin: Twin, device: usize, nodes: usize) -> usize {
    match twin {
        Twin::Stateful => 0,
        _ => device % nodes,
    }
}

/// `GET /sessions` as `sid`, which must be live: the listing.
async fn list(node: &TestApp, sid: &mut String) -> Value {
    let response = node.send(Method::GET, "/sessions", Some(sid)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET /sessions on {}", node.node_id);
    follow(sid, &response);
    json(response).await
}

/// The listing's entries.
fn entries(listing: &Value) -> &Vec<Value> {
    listing["sessions"].as_array().expect("a sessions array")
}

/// The handle of the one entry marked `current`.
fn current(listing: &Value) -> String {
    let current: Vec<&Value> = entries(listing).iter().filter(|e| e["current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one current session: {listing}");
    current[0]["handle"].as_str().unwrap().to_string()
}

/// Whether the answer clears the session cookie.
fn clears_cookie(response: &Response) -> bool {
    sid_of(response.headers()).is_some_and(|value| value.is_empty())
}

/// The error an answer carries, after checking its status.
async fn error(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    json(response).await["error"].as_str().expect("an error field").to_string()
}

async fn me(node: &TestApp, sid: &str) -> StatusCode {
    node.me(Some(sid)).await.status()
}

/// Asserts `sid` gets `status` from `GET /me` on every node.
async fn me_everywhere(cluster: &Cluster, sid: &str, status: StatusCode, who: &str) {
    for node in &cluster.nodes {
        assert_eq!(me(node, sid).await, status, "{who} on {}", node.node_id);
    }
}

/// Two devices of one user and one of another user; the listing shows the
/// user's sessions only, oldest first, each once, the asking device's own
/// marked `current`, with no credential in sight.
async fn listing_shows_each_device_and_marks_the_current_one(twin: Twin) {
    let cluster = Cluster::start(twin, 2).await;
    let nodes = &cluster.nodes;
    let mut first = nodes[home(twin, 0, 2)].login("devices-dana").await;
    // The second login a millisecond later at least, so "oldest first" is
    // one order.
    let response = nodes[home(twin, 0, 2)].me(Some(&first)).await;
    follow(&mut first, &response);
    let created_at = json(response).await["created_at"].as_u64().unwrap();
    while sessions::now_ms() <= created_at {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut second = nodes[home(twin, 1, 2)].login("devices-dana").await;
    let _other = nodes[0].login("devices-erin").await;
    let asked = &nodes[home(twin, 1, 2)];

    let listing = list(asked, &mut first).await;
    let (reach, count) = match twin {
        Twin::Stateful => ("node", 2),
        // A token store keeps no list: the caller's own token only.
        Twin::Token => ("caller", 1),
        _ => ("everywhere", 2),
    };
    assert_eq!(listing["reach"], reach, "{listing}");
    assert_eq!(entries(&listing).len(), count, "{listing}");
    let first_handle = current(&listing);
    let text = listing.to_string();
    assert!(!text.contains(&first) && !text.contains(&second), "a credential in {text}");
    for entry in entries(&listing) {
        let handle = entry["handle"].as_str().unwrap();
        assert!(handle.len() == 16 && handle.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let created = entry["created_at"].as_u64().unwrap();
        assert!(entry["last_seen"].as_u64().unwrap() >= created, "{entry}");
        assert!(!entry["node"].as_str().unwrap().is_empty());
    }
    if count == 2 {
        // Oldest first: the first device logged in first, on its node.
        assert_eq!(entries(&listing)[0]["handle"], first_handle.as_str(), "{listing}");
        assert_eq!(entries(&listing)[0]["node"], nodes[home(twin, 0, 2)].node_id.as_str());
        assert_eq!(entries(&listing)[1]["node"], nodes[home(twin, 1, 2)].node_id.as_str());
    }

    // The other device sees the same sessions, itself as the current one.
    let seen_by_second = list(asked, &mut second).await;
    let second_handle = current(&seen_by_second);
    assert_ne!(second_handle, first_handle);
    if count == 2 {
        let handles = |l: &Value| entries(l).iter().map(|e| e["handle"].clone()).collect::<Vec<_>>();
        assert_eq!(handles(&seen_by_second), handles(&listing));
    }
    // A handle stays the same across requests (and the token's re-issues).
    assert_eq!(current(&list(asked, &mut first).await), first_handle);
}

/// Log out everywhere where every node sees every session: both devices
/// are logged out on every node at once; another user is not.
async fn ending_every_session_logs_every_device_out_on_every_node(twin: Twin) {
    let cluster = Cluster::start(twin, 2).await;
    let nodes = &cluster.nodes;
    let mut first = nodes[0].login("devices-frank").await;
    let second = nodes[1].login("devices-frank").await;
    let mut other = nodes[1].login("devices-grace").await;
    me_everywhere(&cluster, &second, StatusCode::OK, "the second device before").await;

    let response = nodes[1].send(Method::DELETE, "/sessions", Some(&first)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["x-sessions-reach"], "everywhere");
    let ended: u64 = response.headers()["x-sessions-ended"].to_str().unwrap().parse().expect("a count");
    if !matches!(twin, Twin::Token) {
        // A token store cannot count the tokens it refuses from now on.
        assert_eq!(ended, 2);
    }
    assert!(clears_cookie(&response), "the caller's cookie is cleared");

    me_everywhere(&cluster, &first, StatusCode::UNAUTHORIZED, "the device that asked").await;
    me_everywhere(&cluster, &second, StatusCode::UNAUTHORIZED, "the other device").await;
    for node in nodes {
        let response = node.me(Some(&other)).await;
        assert_eq!(response.status(), StatusCode::OK, "another user on {}", node.node_id);
        follow(&mut other, &response);
    }
    // And the user can log in again.
    first = nodes[0].login("devices-frank").await;
    me_everywhere(&cluster, &first, StatusCode::OK, "a new login").await;
}

/// On the stateful twin "everywhere" is this node: the sessions it holds
/// end, the user's session on another node lives on, and the answer says
/// so.
#[tokio::test]
async fn ending_every_session_on_the_stateful_twin_reaches_only_this_node() {
    let cluster = Cluster::start(Twin::Stateful, 2).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let first = a.login("devices-heidi").await;
    let second = a.login("devices-heidi").await;
    let mut elsewhere = b.login("devices-heidi").await;

    let response = a.send(Method::DELETE, "/sessions", Some(&first)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["x-sessions-reach"], "node");
    assert_eq!(response.headers()["x-sessions-ended"], "2");
    assert!(clears_cookie(&response));

    assert_eq!(me(a, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(a, &second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(b, &elsewhere).await, StatusCode::OK, "the session on the other node lives on");
    let listing = list(b, &mut elsewhere).await;
    assert_eq!(listing["reach"], "node");
    assert_eq!(entries(&listing).len(), 1, "{listing}");
    assert_eq!(entries(&listing)[0]["node"], b.node_id.as_str());
}

/// Ending one session by its handle: another user's handle is not found
/// (and that session lives on), as is a malformed or unknown one; one of
/// the user's own other devices ends; the caller's own ends with its
/// cookie cleared.
async fn ending_one_session_by_its_handle(twin: Twin) {
    let cluster = Cluster::start(twin, 2).await;
    let nodes = &cluster.nodes;
    let mut victim = nodes[home(twin, 0, 2)].login("devices-ivan").await;
    let victims = current(&list(&nodes[home(twin, 0, 2)], &mut victim).await);
    let mut first = nodes[home(twin, 1, 2)].login("devices-judy").await;
    let mut second = nodes[home(twin, 0, 2)].login("devices-judy").await;
    let at = &nodes[home(twin, 1, 2)];

    for handle in [victims.as_str(), "0000000000000000", "not-a-handle", "0123456789ABCDEF", "zzzzzzzzzzzzzzzz"] {
        let response = at.send(Method::DELETE, &format!("/sessions/{handle}"), Some(&first)).await;
        follow(&mut first, &response);
        assert_eq!(error(response, StatusCode::NOT_FOUND).await, "session not found", "{handle}");
    }
    assert_eq!(me(&nodes[home(twin, 0, 2)], &victim).await, StatusCode::OK, "another user's session lives on");
    assert_eq!(me(at, &first).await, StatusCode::OK);

    let mine = current(&list(at, &mut first).await);
    if matches!(twin, Twin::Token) {
        // A token store knows only the caller's own token: another
        // device's handle is as unknown as anyone's.
        let seconds = current(&list(&nodes[0], &mut second).await);
        let response = at.send(Method::DELETE, &format!("/sessions/{seconds}"), Some(&first)).await;
        assert_eq!(error(response, StatusCode::NOT_FOUND).await, "session not found");
        me_everywhere(&cluster, &second, StatusCode::OK, "the other device").await;
    } else {
        let listing = list(at, &mut first).await;
        let seconds = entries(&listing).iter().find(|e| e["current"] == false).expect("the other device")["handle"]
            .as_str()
            .unwrap()
            .to_string();
        let response = at.send(Method::DELETE, &format!("/sessions/{seconds}"), Some(&first)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(set_cookie(response.headers()).is_none(), "the caller keeps its cookie");
        me_everywhere(&cluster, &second, StatusCode::UNAUTHORIZED, "the device ended").await;
        assert_eq!(me(at, &first).await, StatusCode::OK, "the caller's session lives on");
        // Gone from the listing too.
        assert_eq!(entries(&list(at, &mut first).await).len(), 1);
    }

    let response = at.send(Method::DELETE, &format!("/sessions/{mine}"), Some(&first)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(clears_cookie(&response), "ending its own session clears the caller's cookie");
    me_everywhere(&cluster, &first, StatusCode::UNAUTHORIZED, "the caller's own, ended").await;
    assert_eq!(me(&nodes[home(twin, 0, 2)], &victim).await, StatusCode::OK);
}

/// Without a live session every route answers 401 and touches nothing;
/// other methods 405.
async fn the_routes_need_a_session(twin: Twin) {
    let cluster = Cluster::start(twin, 1).await;
    let node = &cluster.nodes[0];
    let sid = node.login("devices-kim").await;
    let handle = "0123456789abcdef";
    let logged_out = node.login("devices-kim").await;
    node.logout(Some(&logged_out)).await;
    for (method, path) in [
        (Method::GET, "/sessions".to_string()),
        (Method::DELETE, "/sessions".to_string()),
        (Method::DELETE, format!("/sessions/{handle}")),
    ] {
        let no_cookie = node.send(method.clone(), &path, None).await;
        assert_eq!(error(no_cookie, StatusCode::UNAUTHORIZED).await, "not logged in", "{method} {path}");
        for bad in ["", "forged", logged_out.as_str()] {
            let response = node.send(method.clone(), &path, Some(bad)).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path} with {bad:?}");
        }
    }
    assert_eq!(me(node, &sid).await, StatusCode::OK, "nothing was ended");
    for (method, path) in [(Method::PUT, "/sessions".to_string()), (Method::GET, format!("/sessions/{handle}"))] {
        let response = node.send(method.clone(), &path, Some(&sid)).await;
        assert_eq!(error(response, StatusCode::METHOD_NOT_ALLOWED).await, "method not allowed", "{method} {path}");
    }
}

/// One test per twin named, each running `case` on a cluster of that twin.
macro_rules! on {
    ($case:ident: $($name:ident => $twin:ident),+) => {
        mod $case {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$case(crate::helpers::Twin::$twin).await
                }
            )+
        }
    };
}

on!(listing_shows_each_device_and_marks_the_current_one:
    stateful => Stateful, stateless => Stateless, postgres => Postgres, token => Token,
    stateless_on_cluster => OnCluster);
on!(ending_every_session_logs_every_device_out_on_every_node:
    stateless => Stateless, postgres => Postgres, token => Token, stateless_on_cluster => OnCluster);
on!(ending_one_session_by_its_handle:
    stateful => Stateful, stateless => Stateless, postgres => Postgres, token => Token);
on!(the_routes_need_a_session: stateful => Stateful, stateless => Stateless, token => Token);

/// With Redis away the routes answer 503 with `Retry-After: 1` and end
/// nothing; once it is back they serve again, by themselves.
#[tokio::test]
async fn a_store_outage_is_503_and_ends_nothing() {
    let mut cluster = Cluster::start(Twin::Stateless, 1).await;
    let mut sid = cluster.nodes[0].login("devices-olga").await;
    let handle = current(&list(&cluster.nodes[0], &mut sid).await);
    cluster.redis().stop();
    let node = &cluster.nodes[0];
    for (method, path) in [
        (Method::GET, "/sessions".to_string()),
        (Method::DELETE, "/sessions".to_string()),
        (Method::DELETE, format!("/sessions/{handle}")),
    ] {
        let response = node.send(method.clone(), &path, Some(&sid)).await;
        assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"), "{method} {path}");
        assert_eq!(error(response, StatusCode::SERVICE_UNAVAILABLE).await, "session store unavailable");
    }
    cluster.redis().start_again().unwrap();
    let node = &cluster.nodes[0];
    let deadline = Instant::now() + DEADLINE;
    let listing = loop {
        let response = node.send(Method::GET, "/sessions", Some(&sid)).await;
        if response.status() == StatusCode::OK {
            break json(response).await;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "still unavailable {DEADLINE:?} after Redis came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(current(&listing), handle, "the session outlived the outage");
}

/// Two token nodes sharing a key, without a deny list.
async fn token_nodes_without_deny_list() -> (TestApp, TestApp) {
    let store = TokenStore::new(TokenKey::new(KEY).unwrap(), TTL);
    (spawn_app(store.clone(), "token-a").await, spawn_app(store, "token-b").await)
}

/// Without a deny list the token twin cannot end the copies it handed
/// out: 501 with the reason and the session untouched (its cookie
/// re-issued as on every authenticated answer); it still lists the
/// caller's own token.
#[tokio::test]
async fn the_token_twin_without_a_deny_list_says_it_cannot_end_sessions() {
    let (a, b) = token_nodes_without_deny_list().await;
    let mut sid = a.login("devices-lena").await;
    let copy = sid.clone();

    let response = b.send(Method::DELETE, "/sessions", Some(&sid)).await;
    let reissued = sid_of(response.headers()).filter(|v| !v.is_empty()).expect("the re-issued cookie is kept");
    assert_eq!(error(response, StatusCode::NOT_IMPLEMENTED).await, NEEDS_DENY_LIST);
    sid = reissued;
    assert_eq!(me(&a, &sid).await, StatusCode::OK);
    assert_eq!(me(&b, &copy).await, StatusCode::OK, "nothing was ended");

    let listing = list(&b, &mut sid).await;
    assert_eq!(listing["reach"], "caller");
    assert_eq!(entries(&listing).len(), 1);
    let mine = current(&listing);

    let response = a.send(Method::DELETE, &format!("/sessions/{mine}"), Some(&sid)).await;
    assert!(sid_of(response.headers()).is_some_and(|v| !v.is_empty()), "the re-issued cookie is kept");
    assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
    let response = a.send(Method::DELETE, "/sessions/0123456789abcdef", Some(&sid)).await;
    assert_eq!(error(response, StatusCode::NOT_FOUND).await, "session not found");
    assert_eq!(me(&b, &sid).await, StatusCode::OK);
}

/// The cookie `name=value` pair a `Set-Cookie` header sets, and its
/// attributes.
fn cookie_named<'a>(response: &'a Response, name: &str) -> Option<(&'a str, Vec<&'a str>)> {
    response.headers().get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let mut parts = c.split(';').map(str::trim);
        let value = parts.next()?.strip_prefix(name)?.strip_prefix('=')?;
        Some((value, parts.collect()))
    })
}

/// `--secure-cookies`: the cookie is `__Host-sid`, `Secure`, `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, without `Domain`; only that name is read, so
/// the same credential as a plain `sid` is not logged in. Re-issued and
/// cleared cookies use the name too.
async fn secure_cookies_are_host_only_and_the_only_ones_read<S: SessionStore>(store: S) {
    let args = flags(&["--secure-cookies"]);
    let settings = app::Settings { secure_cookies: args.settings().secure_cookies, ..app::Settings::for_tests() };
    assert!(settings.secure_cookies);
    let node = spawn_app_in(store, "secure", settings).await;

    let response = node.login_with("devices-mallory", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookie(response.headers()).is_none(), "no plain sid cookie");
    let (sid, attributes) = cookie_named(&response, "__Host-sid").expect("a __Host-sid cookie");
    let sid = sid.to_string();
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(&attribute), "{attributes:?} lacks {attribute}");
    }
    assert!(!attributes.iter().any(|a| a.to_ascii_lowercase().starts_with("domain")), "{attributes:?}");

    let host = |sid: &str| format!("__Host-sid={sid}");
    let response = node.send_cookies(Method::GET, "/me", &host(&sid)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let sid = match cookie_named(&response, "__Host-sid") {
        Some((reissued, _)) => reissued.to_string(),
        None => sid,
    };
    assert_eq!(node.me(Some(&sid)).await.status(), StatusCode::UNAUTHORIZED, "a plain sid is not read");
    let response = node.send_cookies(Method::GET, "/sessions", &format!("sid={sid}")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = node.send_cookies(Method::POST, "/logout", &host(&sid)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (cleared, attributes) = cookie_named(&response, "__Host-sid").expect("the cookie cleared");
    assert_eq!(cleared, "");
    assert!(attributes.contains(&"Secure"));
}

#[tokio::test]
async fn secure_cookies_on_the_stateful_twin() {
    secure_cookies_are_host_only_and_the_only_ones_read(MemoryStore::new(TTL)).await;
}

#[tokio::test]
async fn secure_cookies_on_the_token_twin() {
    secure_cookies_are_host_only_and_the_only_ones_read(TokenStore::new(TokenKey::new(KEY).unwrap(), TTL)).await;
}

/// `--session-max-age 1`: a session used all the time is refused once it
/// is a second old, and never before.
async fn a_session_ends_at_its_max_age_however_active<S: SessionStore>(store: S) {
    let node = spawn_app(store, "max-age").await;
    let mut sid = node.login("devices-nina").await;
    let response = node.me(Some(&sid)).await;
    assert_eq!(response.status(), StatusCode::OK);
    follow(&mut sid, &response);
    let created_at = json(response).await["created_at"].as_u64().unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let response = node.me(Some(&sid)).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            let now = sessions::now_ms();
            assert!(now >= created_at + 1000, "ended {} ms after its login, before its max age", now - created_at);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        follow(&mut sid, &response);
        assert!(Instant::now() < deadline, "still served {DEADLINE:?} after a max age of 1 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(node.send(Method::GET, "/sessions", Some(&sid)).await.status(), StatusCode::UNAUTHORIZED);
}

/// The absolute lifetime as the mains pass it from the flag.
fn max_age_of_one_second() -> Duration {
    let args = flags(&["--session-max-age", "1"]);
    assert_eq!(args.session_max_age(), Duration::from_secs(1));
    args.session_max_age()
}

#[tokio::test]
async fn max_age_on_the_stateful_twin() {
    a_session_ends_at_its_max_age_however_active(MemoryStore::new(TTL).with_max_age(max_age_of_one_second())).await;
}

#[tokio::test]
async fn max_age_on_the_stateless_twin() {
    let redis = local_redis::RedisServer::start().expect("start redis-server");
    let settings = RedisSettings { max_age: max_age_of_one_second(), ..RedisSettings::new(redis.url(), TTL) };
    a_session_ends_at_its_max_age_however_active(RedisStore::new(&settings).unwrap()).await;
}

#[tokio::test]
async fn max_age_on_the_stateless_twin_on_postgres() {
    let url = local_postgres::PostgresServer::shared().expect("start postgres").create_database().unwrap();
    let settings = PostgresSettings { max_age: max_age_of_one_second(), ..PostgresSettings::new(url, TTL) };
    a_session_ends_at_its_max_age_however_active(PostgresStore::new(&settings).unwrap()).await;
}

#[tokio::test]
async fn max_age_on_the_token_twin() {
    let store = TokenStore::new(TokenKey::new(KEY).unwrap(), TTL).with_max_age(max_age_of_one_second());
    a_session_ends_at_its_max_age_however_active(store).await;
}

#[test]
fn the_lifetime_flags_have_their_documented_defaults_and_ranges() {
    let args = flags(&[]);
    assert_eq!(args.session_max_age(), sessions::DEFAULT_MAX_AGE);
    assert_eq!(args.session_max_age(), Duration::from_secs(43_200));
    assert!(!args.secure_cookies && !args.settings().secure_cookies);
    assert_eq!(flags(&["--session-max-age", "31536000"]).session_max_age(), Duration::from_secs(31_536_000));
    for bad in ["0", "31536001", "-1", "12h"] {
        assert!(Flags::try_parse_from(["server", "--session-max-age", bad]).is_err(), "{bad}");
    }
}
