//! The generator's HTTP/1.1, spoken by hand on keep-alive connections.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::Endpoint;
use crate::user::CookieJar;

/// The bodies `POST /cart` rotates through: three items, so the quantities
/// grow and the cart's size stays put.
const CART_BODIES: [&str; 3] = [r#"{"item":"book","qty":1}"#, r#"{"item":"pen","qty":1}"#, r#"{"item":"mug","qty":1}"#];
/// Longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// A keep-alive HTTP/1.1 connection logged in as its own user, spoken by
/// hand: the request is written as bytes, the answer's head is parsed with
/// `httparse` and its body skipped by `Content-Length`, all in the task
/// that drives the connection.
///
/// Why not a client library: the generator must cost less per request than
/// the node it loads, or it, not the node, sets the rate. With reqwest's
/// pool, wrk served `/healthz` 40 % faster; a bare hyper connection (a
/// driver task per connection, a channel each way, a `Request` and a
/// `HeaderMap` per request) still took 7 µs of CPU per request, a whole
/// core at the stateful node's rate, and served it about 8 % less than wrk
/// did. This does what wrk does: one `write` per request, one `read` per
/// answer.
pub(super) struct Connection {
    addr: SocketAddr,
    pub(super) stream: Option<TcpStream>,
    jar: CookieJar,
    /// The `Cookie` header's value (kept in step with `jar`).
    pub(super) cookie: Option<String>,
    /// `Host: …` and its CRLF, the same on every request.
    host_line: String,
    /// The request being sent, and the answer being read; reused.
    request: Vec<u8>,
    answer: Vec<u8>,
    sent: u64,
}

impl Connection {
    pub(super) async fn open(addr: SocketAddr) -> Result<Connection> {
        let mut connection = Connection {
            addr,
            stream: None,
            jar: CookieJar::default(),
            cookie: None,
            host_line: format!("Host: {addr}\r\n"),
            request: Vec::with_capacity(512),
            answer: Vec::with_capacity(4096),
            sent: 0,
        };
        connection.connect().await?;
        Ok(connection)
    }

    async fn connect(&mut self) -> Result<()> {
        self.stream = None;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .context("connect timed out")?
            .with_context(|| format!("cannot connect to {}", self.addr))?;
        stream.set_nodelay(true).ok();
        self.stream = Some(stream);
        Ok(())
    }

    pub(super) async fn log_in(&mut self, user: &str) -> Result<()> {
        let body = format!(r#"{{"user":"{user}"}}"#);
        let status = self.exchange("POST", "/login", body.as_bytes(), false).await?;
        if !(200..300).contains(&status) {
            bail!("POST /login answered {status}");
        }
        Ok(())
    }

    /// One request of `endpoint`; the status, or `None` when no answer came
    /// (the connection is opened again for the next request).
    pub(super) async fn send(&mut self, endpoint: Endpoint) -> Option<u16> {
        let (method, body) = match endpoint {
            Endpoint::Healthz | Endpoint::Me => ("GET", ""),
            Endpoint::Cart => ("POST", CART_BODIES[(self.sent % 3) as usize]),
        };
        self.sent += 1;
        match self.exchange(method, endpoint.path(), body.as_bytes(), endpoint != Endpoint::Healthz).await {
            Ok(status) => Some(status),
            Err(_) => {
                self.connect().await.ok();
                None
            }
        }
    }

    /// Sends one request and reads its whole answer; the status. On any
    /// error the connection is dropped (the next request opens a new one).
    pub(super) async fn exchange(&mut self, method: &str, path: &str, body: &[u8], with_cookie: bool) -> Result<u16> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let request = &mut self.request;
        request.clear();
        for part in [method, " ", path, " HTTP/1.1\r\n", &self.host_line] {
            request.extend_from_slice(part.as_bytes());
        }
        if !body.is_empty() {
            // Into the reused buffer: no `String` per request.
            let head = format_args!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len());
            std::io::Write::write_fmt(request, head).expect("writing to a Vec cannot fail");
        }
        if with_cookie && let Some(cookie) = &self.cookie {
            for part in ["Cookie: ", cookie, "\r\n"] {
                request.extend_from_slice(part.as_bytes());
            }
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        let stream = self.stream.as_mut().context("no connection")?;
        let exchange = round_trip(stream, &self.request, &mut self.answer, &mut self.jar);
        let answer = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        match answer {
            Ok(Answer { status, set_cookie }) => {
                // The token twin re-issues its cookie on every answer.
                if set_cookie {
                    self.cookie = self.jar.header();
                }
                Ok(status)
            }
            Err(error) => {
                self.stream = None;
                Err(error.context("HTTP exchange"))
            }
        }
    }
}

/// What [`round_trip`] read of an answer.
struct Answer {
    status: u16,
    /// Whether it set a cookie (now in the jar).
    set_cookie: bool,
}

/// Writes `request`, reads one whole answer into `answer` (cleared first),
/// and stores the cookies it sets in `jar`.
async fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    answer: &mut Vec<u8>,
    jar: &mut CookieJar,
) -> Result<Answer> {
    stream.write_all(request).await?;
    answer.clear();
    loop {
        if answer.capacity() - answer.len() < 1024 {
            answer.reserve(4096);
        }
        if stream.read_buf(answer).await? == 0 {
            bail!("the node closed the connection");
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head_len) = head.parse(answer)? else {
            continue;
        };
        let status = head.code.context("an answer without a status")?;
        let (mut body_len, mut set_cookie) = (None, false);
        for header in head.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let digits = std::str::from_utf8(header.value).ok();
                body_len = Some(digits.and_then(|d| d.trim().parse::<usize>().ok()).context("a bad Content-Length")?);
            } else if header.name.eq_ignore_ascii_case("set-cookie") {
                jar.store(std::str::from_utf8(header.value).context("a Set-Cookie that is not text")?);
                set_cookie = true;
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                // The servers send every body with its length; a chunked
                // one would be a change to notice, not to measure around.
                bail!("an answer with Transfer-Encoding");
            }
        }
        let body_len = match (status, body_len) {
            (_, Some(len)) => len,
            (204 | 304, None) => 0,
            (_, None) => bail!("an answer without Content-Length"),
        };
        let whole = head_len + body_len;
        while answer.len() < whole {
            answer.reserve(whole - answer.len());
            if stream.read_buf(answer).await? == 0 {
                bail!("the node closed the connection mid-answer");
            }
        }
        if answer.len() > whole {
            bail!("bytes after the answer, before the next request");
        }
        return Ok(Answer { status, set_cookie });
    }
}

/// Against a peer on loopback that answers in pieces, as a real node may.
#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// A peer that answers each of `requests` requests on one connection
    /// with `answer`, written in `pieces` writes with a yield between them
    /// (so the client may read a piece at a time); returns what it read.
    async fn peer(
        answer: &'static [u8],
        pieces: usize,
        requests: usize,
    ) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.set_nodelay(true).unwrap();
            let mut read = Vec::new();
            for _ in 0..requests {
                let mut request = vec![0; 4096];
                let n = socket.read(&mut request).await.unwrap();
                read.extend_from_slice(&request[..n]);
                for piece in answer.chunks(answer.len().div_ceil(pieces)) {
                    socket.write_all(piece).await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
            String::from_utf8(read).unwrap()
        });
        (addr, serve)
    }

    #[tokio::test]
    async fn answers_split_across_reads_are_read_whole_and_their_cookie_kept() {
        let answer =
            b"HTTP/1.1 200 OK\r\nset-cookie: sid=abc; Path=/; HttpOnly\r\ncontent-length: 12\r\n\r\n{\"items\":{}}";
        let (addr, serve) = peer(answer, 7, 2).await;
        let mut connection = Connection::open(addr).await.unwrap();
        connection.cookie = Some("sid=old".into());
        // Two on one connection: a body left unread would be taken for the
        // start of the second answer.
        for _ in 0..2 {
            let status = connection.exchange("POST", "/cart", br#"{"item":"pen","qty":1}"#, true).await.unwrap();
            assert_eq!(status, 200);
        }
        assert_eq!(connection.cookie.as_deref(), Some("sid=abc"));
        let read = serve.await.unwrap();
        let first = "POST /cart HTTP/1.1\r\nHost: ADDR\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\
                     Cookie: sid=old\r\n\r\n{\"item\":\"pen\",\"qty\":1}"
            .replace("ADDR", &addr.to_string());
        assert_eq!(read, format!("{first}{}", first.replace("sid=old", "sid=abc")));
    }

    #[tokio::test]
    async fn an_answer_it_cannot_frame_fails_and_drops_the_connection() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}{}",
        ] {
            let (addr, serve) = peer(answer, 1, 1).await;
            let mut connection = Connection::open(addr).await.unwrap();
            let text = String::from_utf8_lossy(answer).into_owned();
            assert!(connection.exchange("GET", "/me", b"", false).await.is_err(), "{text}");
            assert!(connection.stream.is_none(), "{text}");
            serve.await.unwrap();
        }
    }
}
