//! The whole per-request work of `GET /me` in the application, for the RAM
//! store, the Redis store, and the peer: actix-session's `SessionMiddleware`
//! with its Redis store, serving the same state the same way.
//!
//! ```text
//! cargo bench --bench me_request              # or `just bench`
//! ```
//!
//! Each app runs in-process through actix-web's test utilities, one request
//! in flight, on one actix runtime thread: the request goes through the
//! same routing, middleware, extractors and handlers as on a server, and
//! then the session layer does its work against a private Redis on loopback.
//! Leaving out the HTTP parser and the kernel's sockets on the client side
//! is deliberate: they cost both apps the same, and `harness bench` measures
//! them over real connections. What remains is the per-request cost of
//! *where the session lives* and *how the store is used*:
//! - `me_request/memory`: this project's app with the RAM store.
//! - `me_request/redis`: this project's app with the Redis store: one
//!   pipeline, one round trip.
//! - `me_request/postgres`: this project's app with the PostgreSQL store
//!   (`stateless-server --database-url`): one `UPDATE … RETURNING`, one
//!   round trip and a commit, on a private server with `fsync` off.
//! - `me_request/actix_session_redis`: actix-session 0.11 with
//!   `RedisSessionStore` (redis-rs `ConnectionManager`, one multiplexed
//!   connection), configured for the same semantics: the session holds the
//!   user, `created_at` and the request counter; each `/me` increments the
//!   counter and renews the idle TTL. Its design loads the whole session
//!   (`GET`), lets the handler change it, and writes it back (`SET ... XX
//!   EX`): two round trips, and concurrent requests of one user can lose an
//!   update, which this project's stores cannot.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use actix_session::config::{BrowserSession, TtlExtensionPolicy};
use actix_session::storage::RedisSessionStore;
use actix_session::{Session as PeerSession, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, Key};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpResponse, test, web};
use app::routes::{self, NodeId, SESSION_COOKIE};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sessions::{MemoryStore, PostgresSettings, PostgresStore, RedisSettings, RedisStore, SessionStore};

// The servers' allocator, so the app is measured as they run it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NODE: &str = "bench";
const TTL: Duration = Duration::from_secs(1800);

fn me_request(c: &mut Criterion) {
    let server = common::start_redis();
    // One actix runtime for all four apps: the same thread, the same
    // executor, so the only difference is the session layer.
    let system = actix_web::rt::System::new();
    let mut group = c.benchmark_group("me_request");

    let memory = system.block_on(test::init_service(ours(MemoryStore::new(TTL))));
    let memory_cookie = system.block_on(login(&memory, SESSION_COOKIE));
    group.bench_function("memory", |b| b.iter_custom(|iters| system.block_on(get_me(&memory, &memory_cookie, iters))));

    let store = RedisStore::new(&RedisSettings::new(server.url(), TTL)).unwrap();
    let redis = system.block_on(test::init_service(ours(store)));
    let redis_cookie = system.block_on(login(&redis, SESSION_COOKIE));
    group.bench_function("redis", |b| b.iter_custom(|iters| system.block_on(get_me(&redis, &redis_cookie, iters))));

    let database = common::start_postgres();
    let store = PostgresStore::new(&PostgresSettings::new(database.url(), TTL)).unwrap();
    let postgres = system.block_on(test::init_service(ours(store)));
    let postgres_cookie = system.block_on(login(&postgres, SESSION_COOKIE));
    group.bench_function("postgres", |b| {
        b.iter_custom(|iters| system.block_on(get_me(&postgres, &postgres_cookie, iters)))
    });

    let peer = system.block_on(async {
        let store = RedisSessionStore::new(server.url()).await.unwrap();
        test::init_service(peer(store)).await
    });
    let peer_cookie = system.block_on(login(&peer, PEER_COOKIE));
    group.bench_function("actix_session_redis", |b| {
        b.iter_custom(|iters| system.block_on(get_me(&peer, &peer_cookie, iters)))
    });
    group.finish();

    // The figures that matter, measured so that background load cancels.
    let batch = if common::measuring() { 300 } else { 2 };
    let on_memory = |n| system.block_on(get_me(&memory, &memory_cookie, n));
    let on_redis = |n| system.block_on(get_me(&redis, &redis_cookie, n));
    let on_peer = |n| system.block_on(get_me(&peer, &peer_cookie, n));
    common::paired_ratio("me_request: redis / memory", batch, on_memory, on_redis);
    common::paired_ratio("me_request: actix_session_redis / redis", batch, on_redis, on_peer);
    let on_postgres = |n| system.block_on(get_me(&postgres, &postgres_cookie, n));
    common::paired_ratio("me_request: postgres / redis", batch, on_redis, on_postgres);
    drop((server, database));
}

/// This project's app, wired as `app::Application::build` wires it (minus
/// the per-request tracing span, which the peer has no equivalent of).
fn ours<S: SessionStore>(
    store: S,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(store))
        .app_data(web::Data::new(NodeId(NODE.into())))
        .wrap(DefaultHeaders::new().add(("X-Node", NODE)))
        .configure(routes::configure::<S>)
}

/// The cookie actix-session sets.
const PEER_COOKIE: &str = "id";

/// The peer: the same `/login` and `/me` on actix-session's Redis store.
fn peer(
    store: RedisSessionStore,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // A sliding idle timeout renewed by every request, as ours.
    let lifecycle = BrowserSession::default()
        .state_ttl(actix_web::cookie::time::Duration::seconds(TTL.as_secs() as i64))
        .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest);
    App::new()
        .app_data(web::Data::new(NodeId(NODE.into())))
        .wrap(
            SessionMiddleware::builder(store, Key::generate())
                .cookie_secure(false)
                .session_lifecycle(lifecycle)
                .build(),
        )
        .wrap(DefaultHeaders::new().add(("X-Node", NODE)))
        .route("/login", web::post().to(peer_login))
        .route("/me", web::get().to(peer_me))
}

#[derive(serde::Deserialize)]
struct LoginBody {
    user: String,
}

async fn peer_login(
    session: PeerSession,
    body: web::Json<LoginBody>,
    node: web::Data<NodeId>,
) -> actix_web::Result<HttpResponse> {
    session.renew();
    session.insert("user", &body.user)?;
    session.insert("created_at", sessions::now_ms())?;
    session.insert("requests", 0u64)?;
    Ok(HttpResponse::Ok().json(json!({ "user": body.user, "node": node.0 })))
}

async fn peer_me(session: PeerSession, node: web::Data<NodeId>) -> actix_web::Result<HttpResponse> {
    let Some(user) = session.get::<String>("user")? else {
        return Ok(HttpResponse::Unauthorized().json(json!({ "error": "not logged in" })));
    };
    let created_at = session.get::<u64>("created_at")?.unwrap_or(0);
    let requests = session.get::<u64>("requests")?.unwrap_or(0) + 1;
    session.insert("requests", requests)?;
    Ok(HttpResponse::Ok().json(json!({ "user": user, "node": node.0, "created_at": created_at, "requests": requests })))
}

/// Logs in and returns the session cookie the app set.
async fn login<S, B>(app: &S, cookie_name: &str) -> Cookie<'static>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let request = test::TestRequest::post().uri("/login").set_json(json!({ "user": "alice" })).to_request();
    let response = test::call_service(app, request).await;
    assert_eq!(response.status(), StatusCode::OK, "login failed");
    let cookie = response.response().cookies().find(|c| c.name() == cookie_name).expect("login sets the cookie");
    let cookie = cookie.into_owned();
    // Check once, outside the timing, that the cookie works.
    let request = test::TestRequest::get().uri("/me").cookie(cookie.clone()).to_request();
    let response = test::call_service(app, request).await;
    assert_eq!(response.status(), StatusCode::OK, "/me refused the login cookie");
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["user"], "alice");
    assert_eq!(body["requests"], 1);
    cookie
}

/// `iters` sequential `GET /me` requests; the wall time they took.
async fn get_me<S, B>(app: &S, cookie: &Cookie<'static>, iters: u64) -> Duration
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let start = Instant::now();
    for _ in 0..iters {
        let request = test::TestRequest::get().uri("/me").cookie(cookie.clone()).to_request();
        let response = test::call_service(app, request).await;
        debug_assert_eq!(response.status(), StatusCode::OK);
        // Produce the body, as a server would before writing it out.
        black_box(test::read_body(response).await);
    }
    start.elapsed()
}

criterion_group! {
    name = benches;
    config = common::quick();
    targets = me_request
}
criterion_main!(benches);
