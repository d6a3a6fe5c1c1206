//! The handlers. Each is generic over the store, so the same code serves
//! all three twins.
//!
//! Order of checks on a route that needs a session: the cookie first (no
//! cookie, or one no store could have issued: 401 without asking the store),
//! then the body (413, then 400), then the store (401 for an unknown or
//! expired session). A body that does not parse is reported as 400 only
//! after the store has confirmed the session, so a client that is not logged
//! in always learns that first.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sessions::{Change, Name, SessionStore, SessionView, Updated};

use crate::backends::Kinds;
use crate::capacity::Capacity;
use crate::errors::ApiError;

/// The cookie that carries the session credential (without
/// `--secure-cookies`: see [`SessionCookie`]).
pub const SESSION_COOKIE: &str = "sid";
/// The cookie's name with `--secure-cookies`. A browser accepts a
/// `__Host-` cookie only when it is `Secure`, has `Path=/` and no `Domain`,
/// and only from an https:// page, so neither a sibling subdomain nor a
/// plain-http page can plant or overwrite it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-sid";
/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 16 * 1024;
/// The largest quantity one `POST /cart` may add.
pub const MAX_QTY: i64 = 1000;
/// The health check's path.
pub const HEALTHZ: &str = "/healthz";

/// How this node names and flags the session cookie; registered as app
/// data by [`Application::build`](crate::Application::build). An app
/// without it (a bench wiring [`configure`] by hand) uses the default,
/// [`SessionCookie::Plain`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionCookie {
    /// [`SESSION_COOKIE`] with `HttpOnly; SameSite=Lax; Path=/`: what plain
    /// http:// needs (loopback, tests, the harness), since a browser never
    /// sends a `Secure` cookie over it.
    #[default]
    Plain,
    /// [`SECURE_SESSION_COOKIE`] with `Secure` as well; only that name is
    /// read. For a node behind a TLS-terminating load balancer.
    Secure,
}

impl SessionCookie {
    /// `Secure` when `secure`, else `Plain`.
    pub fn new(secure: bool) -> SessionCookie {
        if secure { SessionCookie::Secure } else { SessionCookie::Plain }
    }

    /// The cookie's name.
    pub fn name(self) -> &'static str {
        match self {
            SessionCookie::Plain => SESSION_COOKIE,
            SessionCookie::Secure => SECURE_SESSION_COOKIE,
        }
    }

    /// The cookie carrying `value` (empty for a removal).
    pub fn cookie(self, value: String) -> Cookie<'static> {
        Cookie::build(self.name(), value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self == SessionCookie::Secure)
            .finish()
    }

    /// The one the app serving `req` uses.
    fn of(req: &HttpRequest) -> SessionCookie {
        req.app_data::<SessionCookie>().copied().unwrap_or_default()
    }
}

/// This node's name, as `X-Node` and the `node` fields report it.
#[derive(Clone, Debug)]
pub struct NodeId(pub String);

/// Registers the routes on an actix-web service config.
pub fn configure<S: SessionStore>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/login").post(login::<S>).default_service(web::to(method_not_allowed)))
        .service(web::resource("/me").get(me::<S>).default_service(web::to(method_not_allowed)))
        .service(
            web::resource("/cart").get(cart::<S>).post(add_to_cart::<S>).default_service(web::to(method_not_allowed)),
        )
        .service(web::resource("/logout").post(logout::<S>).default_service(web::to(method_not_allowed)))
        .service(web::resource(HEALTHZ).get(healthz::<S>).default_service(web::to(method_not_allowed)))
        .configure(crate::user_sessions::configure::<S>);
}

/// `POST /login`'s answer.
#[derive(Serialize)]
struct LoggedIn<'a> {
    user: &'a str,
    node: &'a str,
}

/// `GET /me`'s answer.
#[derive(Serialize)]
struct Me<'a> {
    user: &'a str,
    node: &'a str,
    created_at: u64,
    requests: u64,
}

/// The cart, as `GET /cart` and `POST /cart` answer it.
#[derive(Serialize)]
struct Cart<'a> {
    items: Items<'a>,
}

/// A session's cart as a JSON object, item name to quantity.
struct Items<'a>(SessionView<'a>);

impl Serialize for Items<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.cart())
    }
}

#[derive(Deserialize)]
struct LoginBody {
    user: String,
}

#[derive(Deserialize)]
struct CartBody {
    item: String,
    qty: i64,
}

async fn login<S: SessionStore>(
    req: HttpRequest,
    body: web::Payload,
    store: web::Data<S>,
    node: web::Data<NodeId>,
) -> Result<HttpResponse, ApiError> {
    let body: LoginBody = parse_json(&read_body(body).await?)?;
    let user = Name::parse(&body.user)
        .map_err(|_| ApiError::BadRequest("user must be 1 to 64 characters of A-Z a-z 0-9 _ . -"))?;
    // A login always starts a fresh session; the one the client came with
    // (if any) ends in the same step, so a planted cookie is worth nothing.
    let (credential, session) = store.create(&user, &node.0, credential(&req).as_deref()).await?;
    tracing::debug!(user = %session.user, "login");
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&req, credential))
        .json(LoggedIn { user: session.user.as_str(), node: &node.0 }))
}

async fn me<S: SessionStore>(
    req: HttpRequest,
    store: web::Data<S>,
    node: web::Data<NodeId>,
) -> Result<HttpResponse, ApiError> {
    let node = node.0.as_str();
    let updated = authenticated(&req, store.get_ref(), Change::Touch, |session| {
        serde_json::to_vec(&Me { user: session.user, node, created_at: session.created_at, requests: session.requests })
    })
    .await?;
    Ok(respond(&req, updated))
}

async fn cart<S: SessionStore>(req: HttpRequest, store: web::Data<S>) -> Result<HttpResponse, ApiError> {
    Ok(respond(&req, authenticated(&req, store.get_ref(), Change::Touch, cart_body).await?))
}

async fn add_to_cart<S: SessionStore>(
    req: HttpRequest,
    body: web::Payload,
    store: web::Data<S>,
) -> Result<HttpResponse, ApiError> {
    let credential = credential(&req).ok_or(ApiError::Unauthorized)?;
    let change = match cart_change(&read_body(body).await?) {
        Ok(change) => change,
        Err(bad_body) => {
            // Say 401 before 400: the session is checked even for a bad body.
            authenticated(&req, store.get_ref(), Change::Touch, |_| ()).await?;
            return Err(bad_body);
        }
    };
    let updated = store.update_with(&credential, change, cart_body).await?.ok_or(ApiError::Unauthorized)?;
    Ok(respond(&req, updated))
}

/// The body of `GET /cart` and `POST /cart`.
fn cart_body(session: SessionView<'_>) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Cart { items: Items(session) })
}

async fn logout<S: SessionStore>(req: HttpRequest, store: web::Data<S>) -> Result<HttpResponse, ApiError> {
    if let Some(credential) = credential(&req) {
        store.destroy(&credential).await?;
    }
    Ok(HttpResponse::NoContent().cookie(cookie_removal(&req)).finish())
}

/// The node, its store and whether the store answers; each other kind's
/// backend; with a modelled capacity also the node's load.
async fn healthz<S: SessionStore>(
    req: HttpRequest,
    store: web::Data<S>,
    node: web::Data<NodeId>,
    kinds: web::Data<Kinds>,
) -> HttpResponse {
    // Looked up rather than extracted: without a capacity there is none,
    // and that is not worth a log line.
    let capacity = req.app_data::<web::Data<Capacity>>();
    let body = |status| {
        let mut body = json!({ "node": node.0, "store": store.kind(), "status": status });
        // Each other kind's backend, by name only: a broker outage shows in
        // that kind's routes (503), never as a node a balancer should drop.
        kinds.report(&mut body);
        if let Some(capacity) = capacity {
            body["load"] = json!(capacity.load());
        }
        for (name, value) in store.counters() {
            body[name] = value.into();
        }
        body
    };
    match store.health().await {
        Ok(()) => HttpResponse::Ok().json(body("ok")),
        Err(_) => {
            HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "1")).json(body("store unavailable"))
        }
    }
}

/// JSON 404 for any path the API does not have.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

pub(crate) async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// Applies `change` to the request's session and reads from it with
/// `read` (the store lends the session: see `SessionStore::update_with`), or
/// says 401.
pub(crate) async fn authenticated<S: SessionStore, R: Send>(
    req: &HttpRequest,
    store: &S,
    change: Change,
    read: impl FnOnce(SessionView<'_>) -> R + Send,
) -> Result<Updated<R>, ApiError> {
    let credential = credential(req).ok_or(ApiError::Unauthorized)?;
    store.update_with(&credential, change, read).await?.ok_or(ApiError::Unauthorized)
}

/// [`authenticated`] as `GET /me` is (the request counted, the TTL
/// renewed), reading the session's user; or 401.
pub(crate) async fn authenticated_user<S: SessionStore>(
    req: &HttpRequest,
    store: &S,
) -> Result<Updated<Name>, ApiError> {
    let Updated { session, reissued } = authenticated(req, store, Change::Touch, |s| Name::parse(s.user)).await?;
    Ok(Updated { session: session.map_err(|_| ApiError::Unauthorized)?, reissued })
}

/// The session cookie's value, if the request has a non-empty one under the
/// name this node uses ([`SessionCookie`]).
pub(crate) fn credential(req: &HttpRequest) -> Option<String> {
    req.cookie(SessionCookie::of(req).name()).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// The session cookie carrying `credential`, as the node serving `req`
/// names and flags it.
pub(crate) fn session_cookie(req: &HttpRequest, credential: String) -> Cookie<'static> {
    SessionCookie::of(req).cookie(credential)
}

/// The cookie that clears the session cookie in the browser.
pub(crate) fn cookie_removal(req: &HttpRequest) -> Cookie<'static> {
    let mut removal = session_cookie(req, String::new());
    removal.make_removal();
    removal
}

/// A 200 with the JSON body read from the session, re-issuing the cookie
/// when the store asks for it.
fn respond(req: &HttpRequest, updated: Updated<serde_json::Result<Vec<u8>>>) -> HttpResponse {
    let body = match updated.session {
        Ok(body) => body,
        // What `HttpResponse::json` answers; our bodies (names, numbers, a
        // map with string keys) always serialize.
        Err(error) => return HttpResponse::from_error(actix_web::error::JsonPayloadError::Serialize(error)),
    };
    let mut response = HttpResponse::Ok();
    if let Some(credential) = updated.reissued {
        response.cookie(session_cookie(req, credential));
    }
    response.insert_header(actix_web::http::header::ContentType::json()).body(body)
}

async fn read_body(body: web::Payload) -> Result<web::Bytes, ApiError> {
    read_body_within(body, BODY_LIMIT, ApiError::PayloadTooLarge).await
}

/// Reads a whole request body of at most `limit` bytes, or answers
/// `too_large` as soon as it is past the limit.
pub(crate) async fn read_body_within(
    body: web::Payload,
    limit: usize,
    too_large: ApiError,
) -> Result<web::Bytes, ApiError> {
    match body.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::BadRequest("could not read the request body")),
        Err(_) => Err(too_large),
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|_| ApiError::BadRequest("body must be JSON of the documented shape"))
}

fn cart_change(bytes: &[u8]) -> Result<Change, ApiError> {
    let body: CartBody = parse_json(bytes)?;
    let item = Name::parse(&body.item)
        .map_err(|_| ApiError::BadRequest("item must be 1 to 64 characters of A-Z a-z 0-9 _ . -"))?;
    let qty = u32::try_from(body.qty)
        .ok()
        .filter(|q| (1..=MAX_QTY).contains(&i64::from(*q)))
        .ok_or(ApiError::BadRequest("qty must be an integer from 1 to 1000"))?;
    Ok(Change::AddItem { item, qty })
}
