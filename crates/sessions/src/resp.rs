//! The Redis store's connection: one TCP connection that carries any number
//! of concurrent requests, written for the few commands the stores send.
//!
//! # Why not redis-rs's multiplexed connection
//!
//! It is what the store used first, and it is good: one round trip per
//! request, requests in flight pipelined. But on an HTTP node that does
//! nothing else, its general machinery was half of what a stateless `/me`
//! cost the node's CPU over a stateful one: each request built a `Pipeline` of `Cmd`s
//! (several allocations each), crossed a bounded channel to a driver task,
//! was parsed back into a tree of `Value`s (one allocation per field of the
//! session hash) and handed back through a second channel. `docs/benchmarks.md`
//! has the profile. This module keeps the design and drops the generality:
//!
//! - A request appends its already encoded commands to one shared buffer and
//!   queues a waiter, both under one lock, so bytes and waiters stay in the
//!   same order. Whoever makes the buffer non-empty wakes the writer task,
//!   which lets the other ready tasks run first and then sends everything
//!   queued by then in one `write`: requests that arrive together share a
//!   packet, as they did before. The request that makes a batch of
//!   [`SEND_AT`] sends it itself, at once, so that Redis works on one batch
//!   while the node gathers the next.
//! - The reader task reads whatever Redis sent, finds where each reply ends
//!   ([`reply_len`]) and hands each waiter its replies as one [`Bytes`]: a
//!   view of the read buffer, not a copy. The store reads the fields from
//!   those bytes in place ([`Replies`]).
//! - Any I/O or protocol error breaks the connection: every waiter gets the
//!   error. So does a reply that says this server must not be written to
//!   now ([`BREAKING_ERRORS`]: `-READONLY` from a primary demoted to a
//!   replica, `-LOADING`, `-MASTERDOWN`): the request that got it sees the
//!   error, and the store opens a fresh connection rather than keep writing
//!   to a server that refuses.
//! - What it holds is bounded: replies nest at most [`MAX_DEPTH`] arrays
//!   deep, and a request is refused while [`MAX_OUTGOING`] bytes wait to be
//!   sent (a Redis that stopped reading). A request on a broken connection is refused before anything is
//!   sent ([`WireError::Closed`]), so the store can safely try it once more
//!   on a fresh connection. Deadlines are the store's (one around each whole
//!   operation), not this module's.
//!
//! It speaks RESP2, the protocol every Redis has spoken since 2.0, which is
//! all a client that never sends `HELLO 3` gets back.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, oneshot};

/// How many requests a batch holds at most before the request that fills
/// it sends it at once, without waiting for the writer task.
///
/// The writer task sends everything queued when it runs, after the other
/// ready tasks have queued theirs: few, large batches, which is what Redis
/// likes. But while a batch is being gathered, Redis has nothing to do,
/// and while Redis answers it, the node does not have much either: with
/// 32 requests in flight the two took turns, and the node stood idle a
/// fifth of the time. Sending every 16 requests lets Redis start on the
/// first half while the node parses the second. Measured with `harness
/// bench` (`docs/benchmarks.md`): stateless `/me` went from 0.59-0.60× to
/// 0.74× of stateful at 32 connections and from 0.62× to 0.73× at 64, for
/// a little more of Redis's CPU per request (2.5 against 2.2 µs); at 128,
/// where batches were already large and the node busy, 0.77× became 0.74×;
/// at 8 it never applies. Batches of 6, 8 or 12 gave 0.69 to 0.71×; one
/// request per write, 0.51 to 0.54×.
const SEND_AT: usize = 16;

/// Error replies that break the connection: the server is a replica now
/// (`READONLY`), still loading its data (`LOADING`), or a replica that lost
/// its primary (`MASTERDOWN`). None of them is about the request.
pub(crate) const BREAKING_ERRORS: [&[u8]; 3] = [b"-READONLY", b"-LOADING", b"-MASTERDOWN"];

/// How many arrays deep a reply may nest. The stores' replies nest two
/// deep at most (`EXEC`'s array of replies); anything deeper is not Redis
/// answering them.
pub(crate) const MAX_DEPTH: usize = 8;

/// How many bytes may wait to be sent before requests are refused: far
/// more than a node sends while Redis answers, little enough that a Redis
/// that stopped reading cannot make the node hold an unbounded buffer.
pub(crate) const MAX_OUTGOING: usize = 64 * 1024 * 1024;

/// Why a request got no replies.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// The connection had already failed: nothing was sent.
    #[error("connection lost before the request: {0}")]
    Closed(String),
    /// The connection failed with the request in flight.
    #[error("connection lost: {0}")]
    Broken(String),
    /// Redis answered with an error reply, or with bytes that are not RESP.
    #[error("redis replied: {0}")]
    Reply(String),
    /// Too many bytes wait to be sent: Redis is not reading. Nothing was
    /// queued.
    #[error("{0} bytes wait to be sent to redis")]
    Backlog(usize),
}

/// A handle on one connection; clones share it, and the connection closes
/// when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
}

/// Held by the handles only (the two tasks hold [`Shared`]), so that it is
/// dropped with the last handle.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.break_with("closed by the store");
    }
}

struct Shared {
    state: Mutex<State>,
    /// The socket's sending side: the writer task writes to it, and so does
    /// a request that completes a batch of [`SEND_AT`] while the writer is
    /// not writing (see [`State::writing`]). The latter writes under the
    /// state's lock, so bytes leave in the order they were queued.
    socket: OwnedWriteHalf,
    /// Wakes the writer task: there are bytes to send, or the connection is
    /// closing.
    wake_writer: Notify,
}

struct State {
    /// Encoded commands not yet handed to the writer.
    outgoing: Vec<u8>,
    /// One waiter per request in flight, in the order its bytes were queued.
    waiting: VecDeque<Waiter>,
    /// Why the connection is unusable, once it is.
    broken: Option<String>,
    /// The writer task holds bytes it has taken from `outgoing` and not yet
    /// sent: nobody else may write until it is done, or bytes would cross.
    writing: bool,
    /// Requests queued in `outgoing` since it was last sent.
    queued: usize,
}

struct Waiter {
    replies: usize,
    answer: oneshot::Sender<Result<Bytes, WireError>>,
}

impl Connection {
    /// Opens a connection to `addr` and starts its reader and writer tasks
    /// on the current tokio runtime. `prelude` (already encoded: `AUTH`,
    /// `SELECT`) is sent first and must answer `prelude_replies` replies
    /// without an error.
    pub(crate) async fn open(
        addr: (&str, u16),
        prelude: &[u8],
        prelude_replies: usize,
    ) -> Result<Connection, WireError> {
        let stream = TcpStream::connect(addr).await.map_err(broken)?;
        // Requests are small and each waits for its answer: Nagle's delay
        // would only add latency.
        stream.set_nodelay(true).map_err(broken)?;
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                outgoing: Vec::with_capacity(4096),
                waiting: VecDeque::new(),
                broken: None,
                writing: false,
                queued: 0,
            }),
            socket: write,
            wake_writer: Notify::new(),
        });
        tokio::spawn(write_loop(Arc::clone(&shared)));
        tokio::spawn(read_loop(Arc::clone(&shared), read));
        let connection = Connection { _closer: Arc::new(Closer(Arc::clone(&shared))), shared };
        if prelude_replies > 0 {
            let replies = connection.request(prelude_replies, |out| out.extend_from_slice(prelude)).await?;
            Replies::new(&replies).skip(prelude_replies)?;
        }
        Ok(connection)
    }

    /// Sends the commands `write` appends (with [`encode`]) and waits for
    /// their `replies` replies, handed back together. The commands are
    /// encoded straight into the outgoing buffer, under its lock.
    pub(crate) async fn request(&self, replies: usize, write: impl FnOnce(&mut Vec<u8>)) -> Result<Bytes, WireError> {
        let (answer, answered) = oneshot::channel();
        let mut failed = None;
        let wake = {
            let mut state = self.shared.lock();
            if let Some(why) = &state.broken {
                return Err(WireError::Closed(why.clone()));
            }
            if state.outgoing.len() >= MAX_OUTGOING {
                return Err(WireError::Backlog(state.outgoing.len()));
            }
            let idle = state.outgoing.is_empty();
            write(&mut state.outgoing);
            state.waiting.push_back(Waiter { replies, answer });
            state.queued += 1;
            if !state.writing && state.queued >= SEND_AT {
                match self.shared.socket.try_write(&state.outgoing) {
                    Ok(n) => {
                        state.outgoing.drain(..n);
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => failed = Some(error.to_string()),
                }
                state.queued = 0;
                !state.outgoing.is_empty()
            } else {
                idle
            }
        };
        if let Some(why) = failed {
            self.shared.break_with(&why);
        } else if wake {
            self.shared.wake_writer.notify_one();
        }
        answered.await.map_err(|_| WireError::Broken("connection closed".into()))?
    }

    /// Whether the connection has failed or been closed.
    pub(crate) fn is_broken(&self) -> bool {
        self.shared.lock().broken.is_some()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks the connection unusable and fails every request in flight.
    fn break_with(&self, why: &str) {
        let waiting = {
            let mut state = self.lock();
            state.broken.get_or_insert_with(|| why.to_owned());
            std::mem::take(&mut state.waiting)
        };
        for waiter in waiting {
            let _ = waiter.answer.send(Err(WireError::Broken(why.to_owned())));
        }
        self.wake_writer.notify_one();
    }
}

fn broken(error: io::Error) -> WireError {
    WireError::Broken(error.to_string())
}

/// Breaks the connection when a task ends, however it ends: also when its
/// runtime shuts down and drops it, so that a pooled connection whose tasks
/// are gone is known to be dead rather than left to time out.
struct BreakOnDrop(Arc<Shared>);

impl Drop for BreakOnDrop {
    fn drop(&mut self) {
        self.0.break_with("connection task ended");
    }
}

async fn write_loop(shared: Arc<Shared>) {
    let _ends = BreakOnDrop(Arc::clone(&shared));
    let mut sending = Vec::with_capacity(4096);
    loop {
        {
            let mut state = shared.lock();
            if state.broken.is_some() {
                break;
            }
            std::mem::swap(&mut sending, &mut state.outgoing);
            state.queued = 0;
            state.writing = !sending.is_empty();
        }
        if sending.is_empty() {
            shared.wake_writer.notified().await;
            // The request that woke us is seldom the only one: the HTTP
            // connections already ready on this thread will queue theirs
            // if they run first (a batch that reaches `SEND_AT` goes out
            // without us). Measured under `harness bench` before `SEND_AT`:
            // one write per 19 requests instead of one per 8, and a quarter
            // less of Redis's CPU per request.
            tokio::task::yield_now().await;
            continue;
        }
        if let Err(error) = send_all(&shared.socket, &sending).await {
            shared.break_with(&error.to_string());
            break;
        }
        sending.clear();
    }
    // Shutting the write half down sends FIN: Redis closes its side, which
    // ends the reader.
    let _ = socket2::SockRef::from(shared.socket.as_ref()).shutdown(std::net::Shutdown::Write);
}

async fn send_all(socket: &OwnedWriteHalf, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        socket.writable().await?;
        match socket.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

async fn read_loop(shared: Arc<Shared>, mut stream: OwnedReadHalf) {
    let _ends = BreakOnDrop(Arc::clone(&shared));
    let mut buffer = BytesMut::with_capacity(16 * 1024);
    loop {
        if buffer.capacity() - buffer.len() < 4096 {
            buffer.reserve(16 * 1024);
        }
        match stream.read_buf(&mut buffer).await {
            Ok(0) => return shared.break_with("redis closed the connection"),
            Ok(_) => {}
            Err(error) => return shared.break_with(&error.to_string()),
        }
        if let Err(why) = hand_out(&shared, &mut buffer) {
            return shared.break_with(&why);
        }
    }
}

/// Gives every waiter whose replies have all arrived its bytes.
fn hand_out(shared: &Shared, buffer: &mut BytesMut) -> Result<(), String> {
    let mut state = shared.lock();
    loop {
        let Some(front) = state.waiting.front() else {
            return if buffer.is_empty() { Ok(()) } else { Err("a reply nobody asked for".into()) };
        };
        let (mut end, mut breaking) = (0, None);
        for _ in 0..front.replies {
            match reply_len(&buffer[end..]) {
                Ok(Some(len)) => {
                    let reply = &buffer[end..end + len];
                    if let Some(error) = BREAKING_ERRORS.iter().find(|error| reply.starts_with(error)) {
                        breaking.get_or_insert(String::from_utf8_lossy(&error[1..]).into_owned());
                    }
                    end += len;
                }
                Ok(None) => return Ok(()),
                Err(error) => return Err(error.to_string()),
            }
        }
        let waiter = state.waiting.pop_front().expect("front was just seen");
        let _ = waiter.answer.send(Ok(buffer.split_to(end).freeze()));
        if let Some(error) = breaking {
            return Err(format!("redis answered {error}: this server takes no writes now"));
        }
    }
}

/// Appends one command, as RESP's array of bulk strings, to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    header(out, b'*', args.len());
    for arg in args {
        header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(itoa(n as u64, &mut [0; 20]));
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, written into `buf`.
pub(crate) fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// The length of the first whole reply in `buf`, `None` if it has not all
/// arrived yet.
pub(crate) fn reply_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    nested_reply_len(buf, 0)
}

fn nested_reply_len(buf: &[u8], depth: usize) -> Result<Option<usize>, WireError> {
    if depth > MAX_DEPTH {
        return Err(bad("nesting (too deep)"));
    }
    let Some((line, mut end)) = line(buf)? else {
        return Ok(None);
    };
    match buf[0] {
        b'+' | b'-' | b':' => Ok(Some(end)),
        b'$' => match number(line)? {
            -1 => Ok(Some(end)),
            len => {
                end += usize::try_from(len).map_err(|_| bad("bulk length"))? + 2;
                Ok((buf.len() >= end).then_some(end))
            }
        },
        b'*' => {
            for _ in 0..number(line)?.max(0) {
                match nested_reply_len(&buf[end..], depth + 1)? {
                    Some(len) => end += len,
                    None => return Ok(None),
                }
            }
            Ok(Some(end))
        }
        _ => Err(bad("reply type")),
    }
}

/// The first line of `buf` without its type byte and CRLF, and where the
/// next line starts.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(lf) if lf >= 2 && buf[lf - 1] == b'\r' => Ok(Some((&buf[1..lf - 1], lf + 1))),
        Some(_) => Err(bad("line ending")),
        None => Ok(None),
    }
}

fn number(digits: &[u8]) -> Result<i64, WireError> {
    std::str::from_utf8(digits).ok().and_then(|s| s.parse().ok()).ok_or_else(|| bad("number"))
}

fn bad(what: &str) -> WireError {
    WireError::Reply(format!("not RESP: bad {what}"))
}

/// Reads the replies a request got back, in order, borrowing from them.
pub(crate) struct Replies<'a> {
    rest: &'a [u8],
}

/// One reply, or the head of an array whose items follow it.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `+OK`, `+PONG`, `+QUEUED`.
    Status(&'a [u8]),
    /// `:n`.
    Integer(i64),
    /// A bulk string; `None` is RESP's null.
    Bulk(Option<&'a [u8]>),
    /// An array of this many replies (the next ones); `None` is null.
    Array(Option<usize>),
}

impl<'a> Replies<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Replies<'a> {
        Replies { rest: bytes }
    }

    /// The next reply; an error reply from Redis is an `Err`.
    pub(crate) fn next(&mut self) -> Result<Reply<'a>, WireError> {
        let (line, end) = line(self.rest)?.ok_or_else(|| bad("length"))?;
        let kind = self.rest[0];
        let reply = match kind {
            b'+' => Reply::Status(line),
            b'-' => return Err(WireError::Reply(String::from_utf8_lossy(line).into_owned())),
            b':' => Reply::Integer(number(line)?),
            b'$' => match number(line)? {
                -1 => Reply::Bulk(None),
                len => {
                    let len = usize::try_from(len).map_err(|_| bad("bulk length"))?;
                    let body = self.rest.get(end..end + len).ok_or_else(|| bad("length"))?;
                    self.rest = self.rest.get(end + len + 2..).ok_or_else(|| bad("length"))?;
                    return Ok(Reply::Bulk(Some(body)));
                }
            },
            b'*' => Reply::Array(usize::try_from(number(line)?).ok()),
            _ => return Err(bad("reply type")),
        };
        self.rest = &self.rest[end..];
        Ok(reply)
    }

    /// Skips the next `n` replies, items and all; fails on any error reply
    /// among them.
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), WireError> {
        for _ in 0..n {
            if let Reply::Array(Some(items)) = self.next()? {
                self.skip(items)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests sent by the writer task and requests that send their batch
    /// themselves share one socket: with the socket's buffer full (large
    /// requests, many in flight), their bytes must still go out whole and
    /// in order, or Redis would answer garbage to the wrong waiters.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn large_requests_from_many_tasks_get_their_own_answers() {
        let redis = local_redis::RedisServer::start().unwrap();
        let connection = Connection::open(("127.0.0.1", redis.port()), b"", 0).await.unwrap();
        let tasks: Vec<_> = (0..64u8)
            .map(|task| {
                let connection = connection.clone();
                tokio::spawn(async move {
                    for round in 0..4u8 {
                        let payload = vec![b'a' + (task + round) % 26; 256 * 1024 + usize::from(task)];
                        let answer = connection.request(1, |out| encode(out, &[b"ECHO", &payload])).await.unwrap();
                        let Reply::Bulk(Some(echoed)) = Replies::new(&answer).next().unwrap() else {
                            panic!("ECHO answered something else");
                        };
                        assert!(echoed == payload.as_slice(), "task {task}, round {round}: another request's bytes");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }

    #[test]
    fn a_reply_is_whole_only_when_every_byte_has_arrived() {
        let whole = b"*2\r\n$4\r\nuser\r\n$5\r\nalice\r\n";
        assert_eq!(reply_len(whole).unwrap(), Some(whole.len()));
        for cut in 0..whole.len() {
            assert_eq!(reply_len(&whole[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(reply_len(b":12\r\n+OK\r\n").unwrap(), Some(5));
        assert_eq!(reply_len(b"$-1\r\n").unwrap(), Some(5));
        assert_eq!(reply_len(b"*-1\r\n").unwrap(), Some(5));
        assert!(reply_len(b"?what\r\n").is_err());
    }

    #[test]
    fn replies_nested_deeper_than_the_bound_are_not_resp() {
        let nested = |depth: usize| [&b"*1\r\n".repeat(depth)[..], b":1\r\n"].concat();
        assert_eq!(reply_len(&nested(MAX_DEPTH)).unwrap(), Some(nested(MAX_DEPTH).len()));
        assert!(reply_len(&nested(MAX_DEPTH + 1)).is_err());
        assert!(reply_len(&nested(100_000)).is_err(), "a deep reply must fail, not overflow the stack");
    }

    /// A Redis that stops reading (frozen) must not make the node buffer
    /// without bound: past the limit, requests are refused at once.
    #[tokio::test]
    async fn requests_are_refused_once_the_outgoing_buffer_is_full() {
        let redis = local_redis::RedisServer::start().unwrap();
        let connection = Connection::open(("127.0.0.1", redis.port()), b"", 0).await.unwrap();
        redis.freeze();
        let payload = vec![b'x'; 1024 * 1024];
        let mut in_flight = Vec::new();
        let refused = loop {
            let connection = connection.clone();
            let payload = payload.clone();
            let request =
                tokio::spawn(async move { connection.request(1, |out| encode(out, &[b"ECHO", &payload])).await });
            tokio::task::yield_now().await;
            if request.is_finished() {
                break request.await.unwrap();
            }
            in_flight.push(request);
            assert!(in_flight.len() < 1000, "1 GiB queued and never refused");
        };
        assert!(matches!(refused, Err(WireError::Backlog(n)) if n >= MAX_OUTGOING), "{refused:?}");
        redis.thaw();
    }

    #[test]
    fn replies_read_in_place_and_error_replies_are_errors() {
        let mut out = Vec::new();
        encode(&mut out, &[b"HGETALL", b"session:x"]);
        assert_eq!(out, b"*2\r\n$7\r\nHGETALL\r\n$9\r\nsession:x\r\n");

        let bytes = b":3\r\n*2\r\n$4\r\nuser\r\n$5\r\nalice\r\n$-1\r\n-WRONGTYPE no\r\n";
        let mut replies = Replies::new(bytes);
        assert_eq!(replies.next().unwrap(), Reply::Integer(3));
        assert_eq!(replies.next().unwrap(), Reply::Array(Some(2)));
        assert_eq!(replies.next().unwrap(), Reply::Bulk(Some(&b"user"[..])));
        assert_eq!(replies.next().unwrap(), Reply::Bulk(Some(&b"alice"[..])));
        assert_eq!(replies.next().unwrap(), Reply::Bulk(None));
        assert!(matches!(replies.next(), Err(WireError::Reply(e)) if e == "WRONGTYPE no"));
    }
}
