//! Live rooms over a WebSocket: `GET /live?room=NAME[&after=SEQ]`.
//!
//! Everything that can be refused is refused before the upgrade, as a plain
//! HTTP answer a client can read: the session (401), the query (400 for a
//! bad room name or a bad `after`), then the room is joined (the node
//! subscribes: a broker that is down answers 503 with `Retry-After: 1`).
//! Only then does the socket open, with the subscription already in hand,
//! so a message said right after the upgrade is not missed.
//!
//! Each socket is then one task, which waits on three things at once:
//!
//! - the room: each message goes to the client as a text frame of JSON,
//!   `{"room","from","seq","text","at"}`;
//! - the client: each text frame is said in the room as this session's
//!   user;
//! - a keepalive timer: a ping every [`PING_EVERY`]; a client silent for
//!   [`SILENCE_LIMIT`] (no pong, no frame) is gone, and the socket closes.
//!
//! | what | close code |
//! |---|---|
//! | a text frame over 4 KiB (4096 bytes of UTF-8) | 1008 (policy violation) |
//! | a binary frame | 1003 (unsupported data) |
//! | the broker went away, or a message could not be said | 1013 (try again later), "live broker unavailable" |
//! | the client read too slowly and messages were dropped for it | 1013, "too slow: reconnect with after=SEQ" |
//! | a malformed frame | 1002 (protocol error) |
//!
//! After a 1013 the client reconnects with `after=` the last `seq` it saw;
//! where the rooms keep history (the Redis broker), it gets what it missed.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use futures::StreamExt as _;
use live::{LiveError, Room, Rooms, Subscription, Text};
use serde::Deserialize;
use sessions::{Name, SessionStore};

use crate::errors::ApiError;
use crate::routes::{authenticated_user, method_not_allowed, session_cookie};

/// What absent rooms are called in the 501 answer.
const KIND: &str = "live rooms";
/// How often the server pings an idle client.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// How long a client may stay silent (not even a pong) before its socket
/// is closed.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// The largest frame read whole. Larger than [`Text::MAX_BYTES`] on
/// purpose: a text between the two is read and refused with 1008, a frame
/// beyond this one is refused by the codec, with 1008 as well.
const FRAME_LIMIT: usize = 64 * 1024;

/// Registers `/live`.
pub fn configure<S: SessionStore, R: Rooms>(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/live").get(open::<S, R>).default_service(web::to(method_not_allowed)));
}

/// `?room=NAME&after=SEQ`, both read as text and checked here, so a bad one
/// gets this API's error rather than the framework's.
#[derive(Deserialize)]
struct Query {
    room: Option<String>,
    after: Option<String>,
}

async fn open<S: SessionStore, R: Rooms>(
    req: HttpRequest,
    body: web::Payload,
    store: web::Data<S>,
    rooms: web::Data<Option<R>>,
) -> Result<HttpResponse, ApiError> {
    let updated = authenticated_user(&req, store.get_ref()).await?;
    let user = updated.session;
    let query = web::Query::<Query>::from_query(req.query_string())
        .map_err(|_| ApiError::BadRequest("the query must be room=NAME and, optionally, after=SEQ"))?;
    let room = Room::parse(query.room.as_deref().unwrap_or_default())
        .map_err(|_| ApiError::BadRequest("room must be 1 to 64 characters of A-Z a-z 0-9 _ . -"))?;
    let after = match query.after.as_deref() {
        None => None,
        Some(after) => Some(
            after
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest("after must be the last seq seen, a whole number"))?,
        ),
    };
    let Some(rooms) = rooms.get_ref().clone() else {
        return Err(ApiError::NotConfigured(KIND));
    };
    let (mut response, socket, frames) =
        actix_ws::handle(&req, body).map_err(|_| ApiError::BadRequest("GET /live must be a WebSocket upgrade"))?;
    // Join before the upgrade: a broker that is down is a 503 the client can
    // read, and nothing said after the 101 is missed.
    let subscription = rooms.subscribe(&room, after).await?;
    if let Some(credential) = updated.reissued {
        let _ = response.add_cookie(&session_cookie(&req, credential));
    }
    tracing::debug!(%room, %user, ?after, "socket opened");
    let frames = frames.max_frame_size(FRAME_LIMIT).aggregate_continuations().max_continuation_size(FRAME_LIMIT);
    actix_web::rt::spawn(serve_socket(rooms, room, user, socket, frames, subscription));
    Ok(response)
}

/// One socket's life: see the module docs.
async fn serve_socket<R: Rooms>(
    rooms: R,
    room: Room,
    user: Name,
    mut socket: actix_ws::Session,
    mut frames: actix_ws::AggregatedMessageStream,
    mut subscription: Subscription,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    let close = loop {
        tokio::select! {
            message = subscription.next() => match message {
                Some(Ok(message)) => {
                    let Ok(json) = serde_json::to_string(&message) else { continue };
                    if socket.text(json).await.is_err() {
                        return;
                    }
                }
                Some(Err(LiveError::Lagged { missed })) => {
                    tracing::info!(%room, missed, "member too slow; closing its socket");
                    break reason(CloseCode::Again, "too slow: reconnect with after=SEQ");
                }
                Some(Err(LiveError::Unavailable(_))) | None => break reason(CloseCode::Again, "live broker unavailable"),
            },
            frame = frames.next() => {
                heard = Instant::now();
                match frame {
                    None => return,
                    Some(Ok(AggregatedMessage::Text(text))) => match Text::new(String::from(text)) {
                        Err(_) => break reason(CloseCode::Policy, "message over 4096 bytes"),
                        Ok(text) => {
                            if let Err(error) = rooms.publish(&room, &user, text).await {
                                tracing::warn!(%room, %error, "could not say a message");
                                break reason(CloseCode::Again, "live broker unavailable");
                            }
                        }
                    },
                    Some(Ok(AggregatedMessage::Binary(_))) => break reason(CloseCode::Unsupported, "text frames only"),
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if socket.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) => break None,
                    Some(Err(ProtocolError::Overflow)) => break reason(CloseCode::Policy, "message over 4096 bytes"),
                    Some(Err(_)) => break reason(CloseCode::Protocol, "malformed frame"),
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENCE_LIMIT {
                    break reason(CloseCode::Away, "no answer to pings");
                }
                if socket.ping(b"").await.is_err() {
                    return;
                }
            }
        }
    };
    let _ = socket.close(close).await;
}

fn reason(code: CloseCode, description: &str) -> Option<CloseReason> {
    Some(CloseReason { code, description: Some(description.to_string()) })
}
