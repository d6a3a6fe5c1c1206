//! Live rooms: the user holds a WebSocket (`GET /live?room=NAME`) to the
//! room of about [`ROOM_SIZE`](crate::mix::ROOM_SIZE) users it belongs to,
//! says a unique text now and then, and records every message it hears.
//!
//! The socket is a task of its own beside the user's loop ([`Member`]),
//! opened through the same load balancer with the user's cookies (which the
//! loop hands over whenever they change: a new login, a re-issued token).
//! When it drops (its node died, the server closed it), the task opens a
//! new one through the load balancer with `?after=` the last `seq` it saw,
//! retrying until it gets in (a 401 waits for the loop to log in again).
//!
//! A user is *in the room* from its first successful upgrade until it
//! leaves, after the run, connected or reconnecting alike. What it missed is
//! computed afterwards over every user's record ([`crate::mix::report`]):
//! a message said by another member while the user was in the room (and
//! heard by anyone, so it was said at all) that the user never heard.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use reqwest::header::COOKIE;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Crowd, REQUEST_TIMEOUT, user_name};
use crate::mix::ROOM_SIZE;
use crate::router::Outcome;

/// How long a user stays in its room after users stop playing, so that
/// what was said last can still arrive.
pub const LINGER: Duration = Duration::from_millis(500);
/// Pause between two attempts to open a socket.
const RETRY: Duration = Duration::from_millis(100);
/// A user says something about every this many think times.
const SAY_EVERY_THINKS: u32 = 20;

/// Something the user said.
#[derive(Clone, Debug)]
pub struct Said {
    /// The unique text.
    pub text: String,
    /// When it was written to the socket, on the side's clock.
    pub t_ms: u64,
}

/// A socket that dropped without the user closing it.
#[derive(Clone, Debug)]
pub struct Dropped {
    /// When the drop was seen.
    pub t_ms: u64,
    /// When a new socket was open again (`None`: never, before the end).
    pub back_ms: Option<u64>,
    /// The close code the server sent, if it sent one.
    pub close_code: Option<u16>,
}

/// One user's room, as it lived it.
#[derive(Debug, Default)]
pub struct LiveRecord {
    /// The room's name.
    pub room: String,
    /// The first successful upgrade (`None`: never got in).
    pub joined_ms: Option<u64>,
    /// When the user left the room.
    pub left_ms: u64,
    /// What it said.
    pub said: Vec<Said>,
    /// The texts it heard (its own included).
    pub heard: HashSet<String>,
    /// Its socket's drops, in order.
    pub drops: Vec<Dropped>,
    /// Upgrades refused with an HTTP answer (401 before the loop logged in
    /// again, 503 while the broker was away).
    pub refused: u64,
}

/// A user's socket task and the channel that hands it the user's cookies.
pub struct Member {
    cookies: watch::Sender<Option<String>>,
    task: JoinHandle<LiveRecord>,
}

impl Member {
    /// Starts holding user `index`'s socket, with its `cookie` header.
    pub fn join(crowd: &Arc<Crowd>, index: usize, cookie: Option<String>, seed: u64) -> Member {
        let (cookies, watched) = watch::channel(cookie);
        let task = tokio::spawn(hold(Arc::clone(crowd), index, watched, seed));
        Member { cookies, task }
    }

    /// The user's cookies changed.
    pub fn cookies(&self, header: Option<String>) {
        self.cookies.send_if_modified(|current| {
            let changed = *current != header;
            *current = header;
            changed
        });
    }

    /// Waits until the user has left its room and returns the record.
    pub async fn leave(self) -> LiveRecord {
        self.task.await.unwrap_or_default()
    }
}

/// A message as the servers send it.
#[derive(Deserialize)]
struct Heard {
    seq: u64,
    text: String,
}

/// Why a socket could not be opened.
enum Refusal {
    /// An HTTP answer instead of the upgrade.
    Status,
    /// No live node, no connection, or no answer in time.
    Failed,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The socket task: join, hold, reconnect, until the run is over.
async fn hold(crowd: Arc<Crowd>, index: usize, mut cookies: watch::Receiver<Option<String>>, seed: u64) -> LiveRecord {
    let clock = crowd.clock;
    let end = clock.at(crowd.duration);
    let leave_at = end + LINGER;
    let mut rng = StdRng::seed_from_u64(seed);
    let name = user_name(index);
    let mut record = LiveRecord { room: format!("room-{}", index / ROOM_SIZE), ..LiveRecord::default() };
    let mut last_seq: Option<u64> = None;
    let say_every = crowd.think * SAY_EVERY_THINKS;
    while Instant::now() < end {
        let cookie = cookies.borrow_and_update().clone();
        let mut socket = match open(&crowd, index, &record.room, last_seq, cookie).await {
            Ok(socket) => socket,
            Err(refusal) => {
                if matches!(refusal, Refusal::Status) {
                    record.refused += 1;
                }
                // A new cookie is worth trying at once; otherwise pause.
                let pause = RETRY.min(end.saturating_duration_since(Instant::now()));
                let _ = tokio::time::timeout(pause, cookies.changed()).await;
                continue;
            }
        };
        let now = clock.t_ms();
        record.joined_ms.get_or_insert(now);
        if let Some(drop) = record.drops.last_mut().filter(|d| d.back_ms.is_none()) {
            drop.back_ms = Some(now);
        }
        let mut next_say = Instant::now() + say_every.mul_f64(rng.random_range(0.5..1.5));
        let close_code = loop {
            tokio::select! {
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(heard) = serde_json::from_str::<Heard>(text.as_str()) {
                            last_seq = Some(last_seq.map_or(heard.seq, |seq| seq.max(heard.seq)));
                            record.heard.insert(heard.text);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break None,
                },
                () = tokio::time::sleep_until(next_say.into()), if next_say < end => {
                    let text = format!("{name}#{}", record.said.len());
                    let t_ms = clock.t_ms();
                    if socket.send(Message::text(text.clone())).await.is_err() {
                        break None;
                    }
                    record.said.push(Said { text, t_ms });
                    next_say = Instant::now() + say_every.mul_f64(rng.random_range(0.5..1.5));
                }
                () = tokio::time::sleep_until(leave_at.into()) => {
                    let _ = tokio::time::timeout(RETRY, socket.close(None)).await;
                    record.left_ms = clock.t_ms();
                    return record;
                }
            }
        };
        record.drops.push(Dropped { t_ms: clock.t_ms(), back_ms: None, close_code });
    }
    record.left_ms = clock.t_ms();
    record
}

/// Opens user `index`'s socket to `room` through the load balancer.
async fn open(
    crowd: &Crowd,
    index: usize,
    room: &str,
    after: Option<u64>,
    cookie: Option<String>,
) -> Result<Socket, Refusal> {
    let route = crowd.balancer.route(index).ok_or(Refusal::Failed)?;
    let base = route.url.replacen("http://", "ws://", 1);
    let url = match after {
        Some(seq) => format!("{base}/live?room={room}&after={seq}"),
        None => format!("{base}/live?room={room}"),
    };
    let mut request = url.into_client_request().map_err(|_| Refusal::Failed)?;
    if let Some(cookie) = cookie.and_then(|c| c.parse().ok()) {
        request.headers_mut().insert(COOKIE, cookie);
    }
    let (outcome, result) = match tokio::time::timeout(REQUEST_TIMEOUT, tokio_tungstenite::connect_async(request)).await
    {
        Ok(Ok((socket, _))) => (Outcome::Answered, Ok(socket)),
        Ok(Err(tungstenite::Error::Http(_))) => (Outcome::Answered, Err(Refusal::Status)),
        Ok(Err(tungstenite::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            (Outcome::Unreachable, Err(Refusal::Failed))
        }
        _ => (Outcome::Broken, Err(Refusal::Failed)),
    };
    crowd.balancer.observe(index, &route, outcome);
    result
}
